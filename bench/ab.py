"""What one of the plan compiler's optimizations is worth: the same workload bound twice in one
process, once as usual (A) and once with the optimization off (B), timed in alternating rounds.

    python bench/ab.py --workload lstm --without joins
    python bench/ab.py --workload transformer --without bgemm --rounds 20

``--without`` names what B's plan is bound without: ``joins`` (concat pieces computed in place),
``fusion`` (fused elementwise chains), ``subgraphs`` (subgraph kernels: a tf.nn.moments layer
norm as one step), ``bgemm`` (the compiled batched small products), ``direct`` (the direct
convolution). Each switch holds only while B's plan binds, so both plans run
side by side under the same machine conditions; the ratio of each round's B time to its A time is
reported (its median), which is steadier than comparing separate processes on a noisy machine.
Run it with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, as the benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import nnctl_bench  # noqa: E402
import workloads  # noqa: E402

import nnctl as tf  # noqa: E402


@contextlib.contextmanager
def _patched(obj: object, name: str, value: object) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _without(what: str):
    from nnctl.ops import conv_kernels, matmul_jit
    from nnctl.runtime import fusion, plan, subgraphs
    return {
        "joins": lambda: _patched(plan, "_join_slots", lambda *a: {}),
        "fusion": lambda: _patched(fusion, "available", lambda backend: False),
        "subgraphs": lambda: _patched(subgraphs, "available", lambda backend: False),
        "bgemm": lambda: _patched(matmul_jit, "load", lambda: None),
        "direct": lambda: _patched(conv_kernels, "_direct", lambda *a, **k: None),
    }[what]()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=workloads.WORKLOADS, default="lstm")
    p.add_argument("--without", choices=("joins", "fusion", "subgraphs", "bgemm", "direct"), required=True)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=5, help="steps per round")
    args = p.parse_args(argv)
    wl = workloads.make_workload(args.workload, seed=0)
    with tf.Graph().as_default():
        step_a = nnctl_bench.build(wl)[0]
        step_a(0)                      # binds A's plan as usual
    with tf.Graph().as_default(), _without(args.without):
        step_b = nnctl_bench.build(wl)[0]
        step_b(0)                      # binds B's plan without the optimization
    for i in range(3):
        step_a(i)
        step_b(i)
    times: dict[str, list[float]] = {"A": [], "B": []}
    for r in range(args.rounds):
        order = [("A", step_a), ("B", step_b)]
        if r % 2:
            order.reverse()
        for name, step in order:
            t0 = time.perf_counter()
            for i in range(args.steps):
                step(i)
            times[name].append((time.perf_counter() - t0) / args.steps * 1e3)
    a, b = times["A"], times["B"]
    print(f"{args.workload}: A (as usual) {statistics.median(a):.2f} ms/step (min {min(a):.2f}), "
          f"B (without {args.without}) {statistics.median(b):.2f} ms/step (min {min(b):.2f}); "
          f"B/A per round, median {statistics.median(y / x for x, y in zip(a, b)):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
