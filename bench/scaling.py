"""Where does per-step overhead stop mattering? The mlp workload across batch sizes and widths.

For each hidden width H (layers 784-H-H/2-10, so H=256 is the benchmark's 784-256-128-10 mlp)
and each batch size 1, 2, 4, ..., 1024, one subprocess runs the Adam training step and reports
its median ms/step (bench/<impl>_bench.py --workload mlp --batch-size B --hidden H,H/2). The
table gives ms/step and us/example; per width, a fit ``t(B) = a + b*B`` (least squares on
relative error) splits the step into a fixed per-step cost a (the framework's overhead, plus
whatever does not grow with the batch) and a per-example cost b. Below B* = a/b the step is
overhead-bound, above it compute-bound.

    python bench/scaling.py                       # nnctl
    python bench/scaling.py --impls nnctl,torch   # side by side
    python bench/scaling.py --quick --write-results
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import IMPLS, SCRIPTS, append_results, child_env, machine_info, utc_now  # noqa: E402


def run_config(impl: str, batch: int, width: int, warmup: int, steps: int, budget: float, timeout: float):
    import json
    import subprocess

    cmd = [
        sys.executable, str(BENCH / SCRIPTS[impl]), "--workload", "mlp", "--json",
        "--batch-size", str(batch), "--hidden", f"{width},{max(1, width // 2)}",
        "--warmup", str(warmup), "--steps", str(steps), "--time-budget", str(budget),
    ]  # fmt: skip
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=child_env(impl), cwd=BENCH.parent
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": "timeout"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    res = json.loads(lines[-1]) if lines else {}
    if res.get("unavailable"):
        return {"status": "unavailable", "reason": res["unavailable"]}
    if p.returncode != 0 or "median_ms" not in res:
        tail = [ln for ln in p.stderr.splitlines() if ln.strip()]
        reason = res.get("error") or (tail[-1] if tail else f"exit code {p.returncode}")
        return {"status": "failed", "reason": reason}
    return {"status": "ok", **res}


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impls", default="nnctl", help="comma separated, from: " + ",".join(IMPLS))
    p.add_argument("--batches", default=",".join(str(2**k) for k in range(11)), help="batch sizes")
    p.add_argument("--widths", default="64,256,1024", help="first hidden width H (second is H/2)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=200, help="timed steps at most (see --budget)")
    p.add_argument("--budget", type=float, default=1.0, help="seconds of timed steps per config at most")
    p.add_argument("--quick", action="store_true", help="fewer steps: --steps 20 --budget 0.3")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--write-results", action="store_true", help="append the table to bench/results.md")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.budget, args.warmup = min(args.steps, 20), min(args.budget, 0.3), min(args.warmup, 2)
    impls = [i for i in args.impls.split(",") if i]
    batches = [int(b) for b in args.batches.split(",") if b]
    widths = [int(w) for w in args.widths.split(",") if w]
    for i in impls:
        if i not in IMPLS:
            sys.exit(f"unknown impl {i!r}; choose from {', '.join(IMPLS)}")

    info = machine_info()
    for k, v in info.items():
        print(f"  {k:>12}: {v}")
    res: dict[tuple[str, int, int], dict] = {}
    dead: dict[str, str] = {}
    for impl in impls:
        for width in widths:
            for batch in batches:
                if impl in dead:
                    res[(impl, width, batch)] = {"status": "unavailable", "reason": dead[impl]}
                    continue
                r = run_config(impl, batch, width, args.warmup, args.steps, args.budget, args.timeout)
                res[(impl, width, batch)] = r
                if r["status"] == "ok":
                    print(f"  {impl} H={width} B={batch}: {r['median_ms']:.3f} ms/step", file=sys.stderr)
                else:
                    print(f"  {impl} H={width} B={batch}: {r['status']}: {r['reason']}", file=sys.stderr)
                    if r["status"] == "unavailable":
                        dead[impl] = r["reason"]

    lines: list[str] = []
    for impl in impls:
        if impl in dead:
            lines += [f"### {impl}: unavailable: {dead[impl]}", ""]
            continue
        lines += [f"### {impl}: mlp 784-H-H/2-10, Adam, ms/step (us/example)", ""]
        lines.append("| batch | " + " | ".join(f"H={w}" for w in widths) + " |")
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
        lines += ["", "| H | fixed cost a (ms/step) | per-example b (us) | overhead-bound below B* = a/b |"]
        lines.append("|---:|---:|---:|---:|")
        for width in widths:
            pts = [
                (b, res[(impl, width, b)]["median_ms"])
                for b in batches
                if res[(impl, width, b)]["status"] == "ok"
            ]
            fit = fit_overhead(pts)
            if fit is None:
                lines.append(f"| {width} | n/a | n/a | n/a |")
                continue
            a, b = fit
            knee = f"{a / b:.0f}" if a > 0 and b > 0 else "n/a"
            lines.append(f"| {width} | {a:.3f} | {b * 1000:.2f} | {knee} |")
        lines.append("")
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
