"""Batched products of small matrices on host memory (nnctl/csrc/bgemm.c).

numpy's matmul over a batch makes one BLAS call per matrix; for attention's [64, 32] x [32, 64]
per head and example each call's checks, buffers and packing cost as much as its 131 thousand
multiply-adds (2.2x PyTorch's time on the transformer workload's 128 of them). bgemm.c packs each
B once and runs a register-blocked FMA loop over it; the batch splits over the threads BLAS would
use (one while OpenBLAS's workers still spin after a GEMM, as the direct convolution does), which
never changes a value's chain of multiply-adds.

It applies where the CPU fuses multiply-adds (the direct convolution's capability), to float32 and
float64 host arrays with one or two batch axes of equal shapes, from MIN_MACS multiply-adds in all
and up to blas_threads.TINY_GEMM per matrix (larger ones BLAS runs well). The output may be a
transposed view whose rows are contiguous (the choice depends on shapes only): a subgraph kernel
writes attention's heads straight into their joined [batch, time, heads * depth] layout
(ops/math_ops.py). The MatMul kernel asks it in every mode (traced and bound), so both give the same
bits; numpy stays the fallback (NNCTL_JIT=0, no compiled library).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl.backends.blas_threads import TINY_GEMM, oversubscribed, workers_spinning
from nnctl.runtime.native import Kernel, compiled, host_arrays
from nnctl.runtime.parallel import gemm_threads, row_blocks, split_step

BLOCK_COLUMNS_BYTES = 64  # bgemm.c's BG_NB columns: two 32-byte vectors
MIN_MACS = 1 << 16        # below this many multiply-adds in all, numpy's loop is as quick as the call


def load() -> Any:
    """The kernel (a namespace), or None: NNCTL_JIT=0, no library, or a CPU without FMA."""
    return compiled(("bgemm", gemm_threads()), _build)


def _build(lib: Any) -> Any:
    if not lib.nnctl_direct_conv_ok():
        return False
    return SimpleNamespace(kernel=Kernel(lib, "bgemm", "iiia" + "i" * 17), threads=gemm_threads())


def _batch_strides(x: Any) -> tuple[int, int, int]:
    """(inner batch size, outer stride, inner stride) in elements of x's one or two batch axes."""
    shape, strides = x.shape[:-2], [s // x.itemsize for s in x.strides[:-2]]
    if len(shape) == 1:
        return 1, strides[0], 0
    return shape[1], strides[0], strides[1]


def _rows_contiguous(out: Any) -> bool:
    """out's last axis is contiguous and no two of its elements share memory: its axes, ordered by
    stride, each step over the whole extent of the smaller ones (a C-contiguous array, or an axis
    permutation of one that keeps the last axis: attention's heads in a [batch, time, heads * depth]
    buffer)."""
    if out.strides[-1] != out.itemsize:
        return False
    extent = out.itemsize
    for s, d in sorted((s, d) for s, d in zip(out.strides, out.shape) if d > 1):
        if s < extent:
            return False
        extent = s * d
    return True


def step(a: Any, b: Any, out: Any) -> Callable[[], None] | None:
    """A step writing ``out`` [..., M, N] = a [..., M, K] @ b [..., K, N] (a and b views of any
    strides, transposes as swapped axes; out with contiguous rows that do not overlap), or None where
    the loop does not apply (the caller uses BLAS)."""
    # at most two batch axes: their strides always pass as two levels, so the choice depends on
    # shapes alone and the traced and the bound run (whose views differ) take the same loop
    if (not 3 <= a.ndim <= 4 or a.ndim != b.ndim or a.shape[:-2] != b.shape[:-2]
            or out.shape != a.shape[:-1] + b.shape[-1:] or not _rows_contiguous(out)
            or not host_arrays(out.dtype, (a, b, out), contiguous=False)):
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if not (0 < m * k * n <= TINY_GEMM) or out.size // (m * n) * m * k * n < MIN_MACS:
        return None
    sa, sb, sc = _batch_strides(a), _batch_strides(b), _batch_strides(out)
    jit = load()  # only now: a program without such products never loads the library
    if jit is None:
        return None
    batch = out.size // (m * n)
    item = a.itemsize
    cols = -(-n // (BLOCK_COLUMNS_BYTES // item)) * (BLOCK_COLUMNS_BYTES // item)
    args = tuple(v.__array_interface__["data"][0] for v in (a, b, out))
    extents = (m, n, k, sa[0], sa[1], sa[2], a.strides[-2] // item, a.strides[-1] // item, sb[1], sb[2],
               b.strides[-2] // item, b.strides[-1] // item, sc[1], sc[2], out.strides[-2] // item)

    def block(lo: int, hi: int) -> Any:
        call = jit.kernel.bind(*args, np.empty(k * cols, dtype=out.dtype), *extents, lo, hi)
        call.operands = (a, b, out)  # type: ignore[attr-defined]  # the addresses' arrays outlive the step
        return call

    whole = block(0, batch)
    n_threads = jit.threads
    if n_threads < 2 or len(row_blocks(batch, n_threads)) < 2:
        return whole
    split = split_step(block, batch, n_threads)

    def run() -> None:
        # one thread while OpenBLAS's workers spin after a GEMM, or the machine is oversubscribed
        (whole if workers_spinning() or oversubscribed() else split)()
    return run

