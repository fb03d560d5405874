"""Where a workload's training step spends its time in nnctl: milliseconds per op type, and the most
expensive single steps with their input shapes.

    python bench/op_profile.py --workload cnn
    python bench/op_profile.py --workload transformer --steps 20 --top 15

It builds the workload as bench/nnctl_bench.py does, runs a few steps so that the plan is bound,
then wraps every bound step of the training plan with a timer (nnctl's internals: the plan's
``steps`` and ``_step_ops``; a profiling tool, not an API) and times ``--steps`` more. The per-step
timer adds about a microsecond a step; the total printed first is the wall time with the timers in.
Run it with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, as the benchmarks.
"""

from __future__ import annotations

import argparse
import collections
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import nnctl_bench  # noqa: E402
import workloads  # noqa: E402

from nnctl.runtime.plan import Plan  # noqa: E402


def _label(op) -> str:
    shapes = ", ".join("?" if t.static_shape is None else str(tuple(t.static_shape)) for t in op.inputs[:3])
    return f"{op.type} {op.name} [{shapes}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=workloads.WORKLOADS, default="cnn")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--top", type=int, default=12, help="single steps to list (0: none)")
    args = p.parse_args(argv)

    wl = workloads.make_workload(args.workload, seed=0)
    step, _info, close = nnctl_bench.build(wl)
    for i in range(args.warmup):
        step(i)
    plans = [o for o in gc.get_objects() if isinstance(o, Plan) and getattr(o, "steps", None)]
    plan = max(plans, key=lambda pl: len(pl.steps))   # the training step's plan
    by_type: collections.Counter = collections.Counter()
    by_step: collections.Counter = collections.Counter()

    def timed(s, op):
        key, ty = _label(op), op.type

        def run() -> None:
            t = time.perf_counter()
            s()
            d = time.perf_counter() - t
            by_type[ty] += d
            by_step[key] += d
        return run
    plan.steps = [timed(s, op) for s, op in zip(plan.steps, plan._step_ops)]
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    total = (time.perf_counter() - t0) / args.steps * 1e3
    n = args.steps
    print(f"{args.workload}: {total:.2f} ms/step, {sum(by_type.values()) / n * 1e3:.2f} ms in "
          f"{len(plan.steps)} bound steps")
    for ty, v in by_type.most_common():
        print(f"  {v / n * 1e3:8.3f} ms  {ty}")
    if args.top:
        print(f"the {args.top} most expensive steps:")
        for key, v in by_step.most_common(args.top):
            print(f"  {v / n * 1e3:8.3f} ms  {key}")
    if close is not None:
        close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
