"""Compiled (numba) loops for the copy- and scatter-heavy parts of convolution and pooling.

conv_kernels.py writes every kernel once against ``xp``; on host memory its slowest pieces are not
the GEMMs but the passes around them: im2col (pad copy + window copy), col2im (KH*KW strided
read-modify-write passes over dx), and max pooling's KH*KW mask passes. Here each is one loop
nest that reads and writes every element once, split over the batch (and output rows) with
``prange``. Every output element is written by exactly one iteration, with a fixed summation
order, so results do not depend on the number of threads (bit-exact resume holds).

Threads are opt-in, with the elementwise threads (NNCTL_NUM_THREADS > 1, runtime/parallel.py):
the loops then run on numba's thread pool (NUMBA_NUM_THREADS, default every core). By default
they are compiled serial: on the 2-core benchmark machine a second pool of spinning threads
next to OpenBLAS's made the cnn step slower, and on a busy machine several times slower.

The numpy path stays the reference and the fallback: ``load()`` returns None when numba cannot
be imported or ``NNCTL_JIT=0`` is set, and the kernels then use their xp code. numba is imported
only when a conv/pool kernel is built, so programs without such ops never pay for it. Functions
compile lazily on first use, once per dtype (float32, float64; other dtypes take the numpy path),
and ``cache=True`` keeps the machine code on disk across processes (the serial build only).
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl.runtime.jit import JIT_DTYPES, compiled, enabled  # the one NNCTL_JIT switch, shared with the plan's loops
from nnctl.runtime.parallel import num_threads

__all__ = ["JIT_DTYPES", "enabled", "for_ctx", "load", "usable"]


def load() -> Any:
    """The compiled kernels (a namespace), or None: NNCTL_JIT=0, or numba not importable."""
    threads = num_threads() > 1
    return compiled(("conv", threads), partial(_build, threads=threads))


def for_ctx(ctx: Any) -> Any:
    """The compiled kernels for a kernel context: only where the backend's arrays are host memory."""
    return load() if ctx.backend.host_memory else None


def usable(jit: Any, *arrays: Any) -> bool:
    """The compiled path applies: kernels loaded, every array a float32/float64 numpy array of one dtype."""
    if jit is None:
        return False
    dt = arrays[0].dtype
    return dt in JIT_DTYPES and all(isinstance(a, np.ndarray) and a.dtype == dt for a in arrays)


def _build(numba: Any, threads: bool) -> SimpleNamespace:
    # Only the serial build is cached: numba names a cache entry by the function's qualified name
    # and line and keys it by signature, not by the parallel flag, so a cached threaded build would
    # be loaded by later serial ones (and its thread pool spin next to OpenBLAS's: 3x slower).
    # The opt-in threaded build compiles in each process instead.
    njit = numba.njit(parallel=threads, cache=not threads, nogil=True)
    prange = numba.prange

    @njit
    def im2col(x, cols, pt, pl, sh, sw, dh, dw):
        # cols[n, oh, ow, i, j, c] = x[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c], 0 outside x
        n_, h_, w_, c_ = x.shape
        oh_, ow_, kh_, kw_ = cols.shape[1], cols.shape[2], cols.shape[3], cols.shape[4]
        for r in prange(n_ * oh_):
            n = r // oh_
            oh = r - n * oh_
            for ow in range(ow_):
                for i in range(kh_):
                    h = oh * sh + i * dh - pt
                    for j in range(kw_):
                        w = ow * sw + j * dw - pl
                        if 0 <= h < h_ and 0 <= w < w_:
                            for c in range(c_):
                                cols[n, oh, ow, i, j, c] = x[n, h, w, c]
                        else:
                            for c in range(c_):
                                cols[n, oh, ow, i, j, c] = 0

    @njit
    def col2im(dcols, dx, pt, pl, sh, sw, dh, dw, tiles):
        # dx[n, h, w, c] = sum of dcols[n, oh, ow, i, j, c] over the (oh, ow, i, j) that read (h, w),
        # one image per iteration. The terms are added to 0 in kernel-offset order, as the xp code
        # does, so both paths give the same bits; disjoint windows (tiles) assign
        n_, h_, w_, c_ = dx.shape
        oh_, ow_, kh_, kw_ = dcols.shape[1], dcols.shape[2], dcols.shape[3], dcols.shape[4]
        for n in prange(n_):
            dx[n] = 0
            for i in range(kh_):
                for j in range(kw_):
                    for oh in range(oh_):
                        h = oh * sh + i * dh - pt
                        if h < 0 or h >= h_:
                            continue
                        for ow in range(ow_):
                            w = ow * sw + j * dw - pl
                            if w < 0 or w >= w_:
                                continue
                            if tiles:
                                for c in range(c_):
                                    dx[n, h, w, c] = dcols[n, oh, ow, i, j, c]
                            else:
                                for c in range(c_):
                                    dx[n, h, w, c] += dcols[n, oh, ow, i, j, c]

    @njit
    def max_pool(x, y, kh_, kw_, sh, sw, pt, pl):
        # y = max over the window's in-bounds pixels (padding never wins); NaN propagates like
        # np.maximum: once y holds NaN no comparison replaces it, and a NaN input always replaces
        n_, h_, w_, c_ = x.shape
        oh_, ow_ = y.shape[1], y.shape[2]
        for r in prange(n_ * oh_):
            n = r // oh_
            oh = r - n * oh_
            h0 = max(oh * sh - pt, 0)
            h1 = min(oh * sh - pt + kh_, h_)
            for ow in range(ow_):
                w0 = max(ow * sw - pl, 0)
                w1 = min(ow * sw - pl + kw_, w_)
                for c in range(c_):
                    y[n, oh, ow, c] = x[n, h0, w0, c]
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        for c in range(c_):
                            v = x[n, h, w, c]
                            if v > y[n, oh, ow, c] or v != v:
                                y[n, oh, ow, c] = v

    @njit
    def max_pool_grad(x, y, dy, dx, sel, kh_, kw_, sh, sw, pt, pl):
        # Each window's dy goes to its first offset (row-major) whose value equals the window's max
        # y (TF's rule), padding counting as -inf as in the xp code; a NaN max equals nothing, so
        # that window routes nowhere. sel[n, oh, ow, c] = that offset, found scanning the offsets
        # backwards so the earliest match is the last written (branch-free, c innermost). Then,
        # offset by offset as the xp code, every window adds dy * (sel == offset) at that offset's
        # pixel, so both paths give the same bits.
        n_, h_, w_, c_ = x.shape
        oh_, ow_ = y.shape[1], y.shape[2]
        for n in prange(n_):
            for oh in range(oh_):
                for ow in range(ow_):
                    for c in range(c_):
                        sel[n, oh, ow, c] = -1
                    for k in range(kh_ * kw_ - 1, -1, -1):
                        h = oh * sh - pt + k // kw_
                        w = ow * sw - pl + k % kw_
                        if 0 <= h < h_ and 0 <= w < w_:
                            for c in range(c_):
                                if x[n, h, w, c] == y[n, oh, ow, c]:
                                    sel[n, oh, ow, c] = k
                        else:
                            for c in range(c_):
                                if y[n, oh, ow, c] == -np.inf:
                                    sel[n, oh, ow, c] = k
            dx[n] = 0
            for k in range(kh_ * kw_):
                for oh in range(oh_):
                    h = oh * sh - pt + k // kw_
                    if h < 0 or h >= h_:
                        continue
                    for ow in range(ow_):
                        w = ow * sw - pl + k % kw_
                        if w < 0 or w >= w_:
                            continue
                        for c in range(c_):
                            dx[n, h, w, c] += dy[n, oh, ow, c] * (1.0 if sel[n, oh, ow, c] == k else 0.0)

    @njit
    def max_pool_grad_tiles(x, y, dy, dx, kh_, kw_):
        # Disjoint unpadded windows (stride = size): every pixel is in at most one window, so one
        # pass per window writes its pixels dy * (sel == offset) directly (the same values as the
        # offset-by-offset loop above, with no zero fill and no second pass); pixels of a ragged
        # edge that no window covers are zeroed
        n_, h_, w_, c_ = x.shape
        oh_, ow_ = y.shape[1], y.shape[2]
        for r in prange(n_ * oh_):
            n = r // oh_
            oh = r - n * oh_
            sel = np.empty(c_, np.int64)
            for ow in range(ow_):
                for c in range(c_):
                    sel[c] = -1
                for k in range(kh_ * kw_ - 1, -1, -1):
                    h = oh * kh_ + k // kw_
                    w = ow * kw_ + k % kw_
                    for c in range(c_):
                        if x[n, h, w, c] == y[n, oh, ow, c]:
                            sel[c] = k
                for k in range(kh_ * kw_):
                    h = oh * kh_ + k // kw_
                    w = ow * kw_ + k % kw_
                    for c in range(c_):
                        dx[n, h, w, c] = dy[n, oh, ow, c] * (1.0 if sel[c] == k else 0.0)
            for i in range(kh_):
                for w in range(ow_ * kw_, w_):
                    for c in range(c_):
                        dx[n, oh * kh_ + i, w, c] = 0
            if oh == oh_ - 1:
                for h in range(oh_ * kh_, h_):
                    for w in range(w_):
                        for c in range(c_):
                            dx[n, h, w, c] = 0

    return SimpleNamespace(im2col=im2col, col2im=col2im, max_pool=max_pool, max_pool_grad=max_pool_grad,
                           max_pool_grad_tiles=max_pool_grad_tiles)
