"""The workloads' GEMMs on numpy's BLAS (what nnctl's MatMul steps call) and on PyTorch's, side by
side: how much of a workload's gap to PyTorch is the BLAS library itself rather than nnctl.

    python bench/gemm.py
    python bench/gemm.py --shapes 2048x128x128,2048x128x512 --reps 100

Each shape is M x K x N (C[M, N] = A[M, K] @ B[K, N], float32, C-contiguous, written into a
preallocated output), timed as the best of 7 rounds of ``--reps`` calls, both libraries on their
default thread counts (torch: ``torch.get_num_threads()``). The default shapes are the transformer
and lstm workloads' forward and weight-gradient products at their default batch sizes. Run it with
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, as the benchmarks.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np

# transformer (batch 32 x 64 positions, width 128, FFN 512) and lstm (batch 64, hidden 128, 64 steps)
DEFAULT_SHAPES = ("2048x128x128", "2048x128x512", "2048x512x128", "128x2048x512", "512x2048x128",
                  "64x128x512", "64x512x128", "128x4096x512")


def _best_ms(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best * 1e3


def _shape(text: str) -> tuple[int, int, int]:
    try:
        m, k, n = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a shape is MxKxN (three positive integers), got {text!r}") from None
    if min(m, k, n) < 1:
        raise argparse.ArgumentTypeError(f"a shape is MxKxN (three positive integers), got {text!r}")
    return m, k, n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=",".join(DEFAULT_SHAPES), help="comma-separated MxKxN")
    p.add_argument("--reps", type=int, default=50, help="calls per timing round")
    args = p.parse_args(argv)
    try:
        shapes = [_shape(s) for s in args.shapes.split(",") if s]
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print("| M x K x N | numpy ms | numpy GFLOP/s | torch ms | torch / numpy |\n|---|---:|---:|---:|---:|")
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out = np.empty((m, n), np.float32)
        t_np = _best_ms(partial(np.dot, a, b, out), args.reps)
        row = f"| {m} x {k} x {n} | {t_np:.3f} | {2 * m * k * n / t_np / 1e6:.0f} |"
        if torch is None:
            row += " unavailable | |"
        else:
            ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.empty(m, n)
            t_t = _best_ms(partial(torch.mm, ta, tb, out=to), args.reps)
            row += f" {t_t:.3f} | {t_t / t_np:.2f}x |"
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
