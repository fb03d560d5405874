"""Where does per-step overhead stop mattering? Workloads across batch sizes and widths.

For each workload, width W and batch size B, one subprocess runs the training step and reports
its median ms/step (bench/<impl>_bench.py --workload X --batch-size B --hidden ...). The width
is the workload's size knob:

  mlp          layers 784-W-W/2-10 (W=256 is the benchmark's mlp), Adam
  cnn          the dense layer after the convs
  resnet       stage widths W, 2W, 4W (W=16 is the benchmark's resnet)
  lstm         hidden size (the kernel is [32 + W, 4W])
  transformer  model width (FFN 4W, 4 heads)

The table gives ms/step and us/example; per width, a fit ``t(B) = a + b*B`` (least squares on
relative error) splits the step into a fixed per-step cost a (the framework's overhead, plus
whatever does not grow with the batch) and a per-example cost b. Below B* = a/b the step is
overhead-bound, above it compute-bound. With several implementations a last table gives each
one's ms/step over the fastest at every (width, batch).

    python bench/scaling.py                                  # nnctl, mlp and transformer
    python bench/scaling.py --workloads mlp --impls nnctl,torch
    python bench/scaling.py --workloads lstm --widths 64,128,256 --batches 1,8,64
    python bench/scaling.py --quick --write-results
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import (  # noqa: E402
    IMPLS,
    add_interpreter_args,
    append_results,
    machine_info,
    run_child,
    set_interpreters,
    utc_now,
)
from workloads import DEFAULT_HIDDEN, WORKLOADS, model_of  # noqa: E402

# Per model: default batch sizes and widths of the sweep (the benchmark's own size included).
SWEEP = {
    "mlp": ([2**k for k in range(11)], [64, 256, 1024]),
    "cnn": ([1, 4, 16, 64, 256], [32, 128, 512]),
    "resnet": ([1, 8, 32, 128], [8, 16, 32]),
    "lstm": ([1, 4, 16, 64, 256], [64, 128, 256]),
    "transformer": ([1, 4, 16, 32, 128], [64, 128, 256]),
}


def hidden_arg(workload: str, width: int) -> str:
    """--hidden for a workload at width W (see the module doc)."""
    model = model_of(workload)
    if model == "mlp":
        return f"{width},{max(1, width // 2)}"
    if model == "resnet":
        return f"{width},{2 * width},{4 * width}"
    if len(DEFAULT_HIDDEN[model]) != 1:
        raise ValueError(f"no width knob for {workload}")
    return str(width)


def run_config(impl: str, workload: str, batch: int, width: int, warmup: int, steps: int, budget: float,
               timeout: float) -> dict:
    extra = ["--batch-size", str(batch), "--hidden", hidden_arg(workload, width), "--time-budget", str(budget)]
    return run_child(impl, workload, warmup, steps, timeout, extra)


def fit_overhead(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Weighted least squares of t = a + b*B with weights 1/t (i.e. on relative error)."""
    import numpy as np

    if len(points) < 2:
        return None
    b_arr = np.array([p[0] for p in points], float)
    t_arr = np.array([p[1] for p in points], float)
    w = 1.0 / t_arr
    a_mat = np.stack([np.ones_like(b_arr), b_arr], axis=1) * w[:, None]
    (a, b), *_ = np.linalg.lstsq(a_mat, t_arr * w, rcond=None)
    return float(a), float(b)


def sweep_lines(workload: str, impls: list[str], widths: list[int], batches: list[int], res: dict,
                dead: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for impl in impls:
        if impl in dead:
            lines += [f"### {workload}, {impl}: unavailable: {dead[impl]}", ""]
            continue
        lines += [f"### {workload}, {impl}: ms/step (us/example) by batch and width W", ""]
        lines.append("| batch | " + " | ".join(f"W={w}" for w in widths) + " |")
        lines.append("|---:|" + "---:|" * len(widths))
        for batch in batches:
            cells = []
            for width in widths:
                r = res[(impl, width, batch)]
                if r["status"] == "ok":
                    cells.append(f"{r['median_ms']:.3f} ({r['median_ms'] * 1000 / batch:.1f})")
                else:
                    cells.append(r["status"])
            lines.append(f"| {batch} | " + " | ".join(cells) + " |")
        lines += ["", "| W | fixed cost a (ms/step) | per-example b (us) | overhead-bound below B* = a/b |"]
        lines.append("|---:|---:|---:|---:|")
        for width in widths:
            pts = [(b, res[(impl, width, b)]["median_ms"]) for b in batches if res[(impl, width, b)]["status"] == "ok"]
            fit = fit_overhead(pts)
            if fit is None:
                lines.append(f"| {width} | n/a | n/a | n/a |")
                continue
            a, b = fit
            knee = f"{a / b:.0f}" if a > 0 and b > 0 else "n/a"
            lines.append(f"| {width} | {a:.3f} | {b * 1000:.2f} | {knee} |")
        lines.append("")
    live = [i for i in impls if i not in dead]
    if len(live) > 1:
        lines += [f"### {workload}: ms/step over the fastest implementation at each (batch, W)", ""]
        lines.append("| batch | W | " + " | ".join(live) + " |")
        lines.append("|---:|---:|" + "---:|" * len(live))
        for width in widths:
            for batch in batches:
                ms = {i: res[(i, width, batch)].get("median_ms") for i in live}
                best = min((v for v in ms.values() if v), default=None)
                cells = [f"{v / best:.2f}x" if v and best else "n/a" for v in ms.values()]
                lines.append(f"| {batch} | {width} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="mlp,transformer", help="comma separated, from: " + ",".join(SWEEP))
    p.add_argument("--impls", default="nnctl", help="comma separated, from: " + ",".join(IMPLS))
    p.add_argument("--batches", default=None, help="batch sizes (default: per workload, see SWEEP)")
    p.add_argument("--widths", default=None, help="widths W (default: per workload, see SWEEP)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=200, help="timed steps at most (see --budget)")
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timed steps per config at most")
    p.add_argument("--quick", action="store_true", help="fewer steps: --steps 20 --budget 0.3 --warmup 2")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--write-results", action="store_true", help="append the tables to bench/results.md")
    add_interpreter_args(p)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.budget, args.warmup = min(args.steps, 20), min(args.budget, 0.3), min(args.warmup, 2)
    impls = [i for i in args.impls.split(",") if i]
    workloads = [w for w in args.workloads.split(",") if w]
    for i in impls:
        if i not in IMPLS:
            p.error(f"unknown impl {i!r}; choose from {', '.join(IMPLS)}")
    for w in workloads:
        if w not in WORKLOADS or model_of(w) not in SWEEP:
            p.error(f"unknown workload {w!r}; choose from {', '.join(SWEEP)}")
    set_interpreters(args)

    info = machine_info()
    for k, v in info.items():
        print(f"  {k:>12}: {v}")
    lines: list[str] = []
    for workload in workloads:
        def_batches, def_widths = SWEEP[model_of(workload)]
        batches = [int(b) for b in args.batches.split(",") if b] if args.batches else def_batches
        widths = [int(w) for w in args.widths.split(",") if w] if args.widths else def_widths
        res: dict[tuple[str, int, int], dict] = {}
        dead: dict[str, str] = {}
        # Interleaved: every implementation at one (width, batch) before the next configuration.
        for width in widths:
            for batch in batches:
                for impl in impls:
                    if impl in dead:
                        res[(impl, width, batch)] = {"status": "unavailable", "reason": dead[impl]}
                        continue
                    r = run_config(impl, workload, batch, width, args.warmup, args.steps, args.budget, args.timeout)
                    res[(impl, width, batch)] = r
                    tag = f"  {workload} {impl} W={width} B={batch}:"
                    if r["status"] == "ok":
                        print(f"{tag} {r['median_ms']:.3f} ms/step", file=sys.stderr)
                    else:
                        print(f"{tag} {r['status']}: {r['reason']}", file=sys.stderr)
                        if r["status"] == "unavailable":
                            dead[impl] = r["reason"]
        lines += sweep_lines(workload, impls, widths, batches, res, dead)
    print()
    print("\n".join(lines))
    if args.write_results:
        cmd = " ".join(sys.argv[1:] if argv is None else argv)
        out = [f"\n## {utc_now()}: scaling, `python bench/scaling.py {cmd}`\n"]
        out += [f"- {k}: {v}" for k, v in info.items()]
        append_results("\n".join([*out, "", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
