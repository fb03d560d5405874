"""Data-parallel throughput (N = 1, 2, ... ranks) and a cost model of the gradient Allreduce.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/distributed.py [--ranks 1 2] [--steps 300]

Part 1 trains configs/digits-mlp.yaml for --steps steps under ``mpiexec -n N`` (the same global batch
for every N) and prints steps/s and the ratio to N=1. Part 2 times MPI Allreduce (sum, float32) of
1e3..4e6 elements under ``mpiexec -n N`` and fits t(bytes) = a + b·bytes per N: ``a`` is the latency
term, ``b`` the inverse bandwidth. MPICH's ring/recursive-doubling algorithms predict
a ≈ 2·log2(N)·α and b ≈ 2·(N-1)/N / B, so the per-step cost of a model with P float32 parameters is
about a + 4·P·b, paid once per bucket (docs/distributed.md). On one machine N ranks also share its
cores, so throughput gains need as many free cores as ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = [1_000, 10_000, 100_000, 1_000_000, 4_000_000]


def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else (shutil.which("mpiexec") or "mpiexec")


def allreduce_worker(repeats: int) -> None:
    import numpy as np
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    out = {}
    for n in SIZES:
        a = np.ones(n, dtype=np.float32)
        b = np.empty_like(a)
        comm.Allreduce(a, b, op=MPI.SUM)  # warm-up
        comm.Barrier()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            comm.Allreduce(a, b, op=MPI.SUM)
            ts.append(time.perf_counter() - t0)
        out[n] = sorted(ts)[len(ts) // 2]
    worst = comm.reduce(out, op=lambda x, y: {k: max(x[k], y[k]) for k in x}, root=0)
    if comm.Get_rank() == 0:
        print(json.dumps(worst))


def train_rate(n: int, steps: int, tmp: Path) -> float:
    run = tmp / f"n{n}"
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "nnctl", "train", str(ROOT / "configs" / "digits-mlp.yaml"),
           "--run-dir", str(run), "--quiet", "--set", f"train.steps={steps}", "--set", f"train.eval_every={steps}",
           "--set", f"train.checkpoint_every={steps}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    wall = json.loads((run / "summary.json").read_text())["wall_time"]
    return steps / wall


def fit(points: dict[int, float]) -> tuple[float, float]:
    import numpy as np
    x = np.array([4.0 * k for k in points])          # bytes of float32
    y = np.array(list(points.values()))
    A = np.stack([np.ones_like(x), x], 1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--allreduce-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.allreduce_worker:
        allreduce_worker(args.repeats)
        return
    with tempfile.TemporaryDirectory() as d:
        rates = {n: train_rate(n, args.steps, Path(d)) for n in args.ranks}
    print(f"digits-mlp, global batch 32, {args.steps} steps (steps/s; ratio to N={args.ranks[0]}):")
    for n, r in rates.items():
        print(f"  N={n}: {r:8.1f} steps/s   x{r / rates[args.ranks[0]]:.2f}")
    print("\nAllreduce (sum, float32), median of the slowest rank; fit t = a + b*bytes:")
    print("  N    " + "".join(f"{n:>12,d}" for n in SIZES) + "        a (us)   1/b (GB/s)")
    for n in [r for r in args.ranks if r > 1]:
        out = subprocess.run([_mpiexec(), "-n", str(n), sys.executable, __file__, "--allreduce-worker",
                              "--repeats", str(args.repeats)], check=True, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        pts = {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}
        a, b = fit(pts)
        cells = "".join(f"{pts[s] * 1e6:10.0f}us" for s in SIZES)
        print(f"  {n:<4} {cells}   {a * 1e6:8.1f}   {1 / b / 1e9 if b > 0 else float('inf'):8.2f}")
    print("\nper-step Allreduce cost of a model with P float32 parameters in one bucket: a + 4*P*b")


if __name__ == "__main__":
    main()
