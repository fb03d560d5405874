"""Running a large elementwise step on several threads (opt-in: NNCTL_NUM_THREADS).

numpy releases the GIL inside ufunc loops, so an elementwise kernel applied to disjoint row blocks
of its operands in several threads runs in parallel. Each block gets its own kernel instance (its
own scratch buffers), and the blocks never overlap, so the result is bit-identical to one call.
BLAS calls are left alone: they already use every core.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MIN_ELEMENTS = 1 << 15  # below this, thread hand-off costs more than it saves

_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    """Threads for elementwise steps: NNCTL_NUM_THREADS (default 1, i.e. off).

    Off by default: on the 2-core benchmark machine OpenBLAS's threads keep spinning after each
    GEMM, and a second elementwise thread competes with them (mlp 2.0 -> 3.2 ms/step, cnn 30 -> 33
    ms/step measured with bench/nnctl_bench.py). Machines with cores to spare can opt in."""
    env = os.environ.get("NNCTL_NUM_THREADS", "").strip()
    return max(1, min(int(env), 64)) if env.isdigit() else 1


def gemm_threads() -> int:
    """Threads for the compiled kernels that take the place of a BLAS call (direct convolution):
    NNCTL_NUM_THREADS when set, else as many as BLAS itself would use, the CPUs this process may
    run on. Their work splits into blocks of output values, so the bits never depend on it."""
    env = os.environ.get("NNCTL_NUM_THREADS", "").strip()
    if env.isdigit():
        return max(1, min(int(env), 64))
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 64))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, 64))


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool._max_workers < n - 1:
        _pool = ThreadPoolExecutor(max_workers=max(n - 1, 1), thread_name_prefix="nnctl")
    return _pool


def row_blocks(rows: int, n: int) -> list[tuple[int, int]]:
    n = max(1, min(n, rows))
    edges = [rows * i // n for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def split_step(make_step: Callable[[int, int], Callable[[], Any]], rows: int, n: int) -> Callable[[], None]:
    """A step running ``make_step(lo, hi)()`` for row blocks [lo, hi) concurrently."""
    blocks = row_blocks(rows, n)
    steps = [make_step(lo, hi) for lo, hi in blocks]
    if len(steps) == 1:
        return steps[0]
    pool = _executor(len(steps))
    first, rest = steps[0], steps[1:]
    submit = pool.submit

    def run() -> None:
        futures = [submit(s) for s in rest]
        first()
        for f in futures:
            f.result()
    return run
