"""Running a large elementwise step block by block.

An elementwise kernel applied to disjoint row blocks of its operands gives the same rows of its
result, so a big step can be split. Two uses:

* *cache blocking*: a kernel that makes several passes over its operands (an optimizer update
  reads and writes the variable, its slots, the gradient and a scratch buffer a dozen times)
  runs block after block, each block small enough to stay in the CPU cache, so the whole update
  costs about one pass over memory instead of twelve;
* *threads* (opt-in, NNCTL_NUM_THREADS): blocks run concurrently; numpy releases the GIL inside
  ufunc loops.

Each block gets its own kernel instance (its own scratch buffers), and blocks never overlap, so
the result is bit-identical to one call over the whole arrays.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MIN_ELEMENTS = 1 << 15    # below this, splitting costs more than it saves
BLOCK_BYTES = 1 << 13     # bytes of each full-size operand per cache block (x ~5 operands fits L2)

_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    """Threads for elementwise steps: NNCTL_NUM_THREADS (default 1, i.e. off).

    Off by default: on the 2-core benchmark machine OpenBLAS's threads keep spinning after each
    GEMM, and a second elementwise thread competes with them (mlp 2.0 -> 3.2 ms/step, cnn 30 -> 33
    ms/step measured with bench/nnctl_bench.py). Machines with cores to spare can opt in."""
    env = os.environ.get("NNCTL_NUM_THREADS")
    if env:
        try:
            return max(1, min(int(env), 64))
        except ValueError:
            pass
    return 1


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool._max_workers < n - 1:
        _pool = ThreadPoolExecutor(max_workers=max(n - 1, 1), thread_name_prefix="nnctl")
    return _pool


def row_blocks(rows: int, n: int) -> list[tuple[int, int]]:
    n = max(1, min(n, rows))
    edges = [rows * i // n for i in range(n + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n) if edges[i + 1] > edges[i]]


def cache_blocks(shape: tuple, itemsize: int) -> int:
    """How many row blocks keep each block of one operand within BLOCK_BYTES."""
    total = itemsize
    for d in shape:
        total *= d
    return max(1, min(shape[0], -(-total // BLOCK_BYTES)))


def split_step(make_step: Callable[[int, int], Callable[[], Any]], rows: int, n: int,
               threads: bool) -> Callable[[], None]:
    """A step running ``make_step(lo, hi)()`` for ``n`` row blocks [lo, hi): in turn, or concurrently."""
    blocks = row_blocks(rows, n)
    steps = [make_step(lo, hi) for lo, hi in blocks]
    if len(steps) == 1:
        return steps[0]
    if not threads:
        def run_in_turn() -> None:
            for s in steps:
                s()
        return run_in_turn
    pool = _executor(len(steps))
    first, rest = steps[0], steps[1:]
    submit = pool.submit

    def run() -> None:
        futures = [submit(s) for s in rest]
        first()
        for f in futures:
            f.result()
    return run
