"""Compiled loops (nnctl/csrc/conv.c) for the copy- and scatter-heavy parts of convolution and pooling.

conv_kernels.py writes every kernel once against ``xp``; on host memory its slowest pieces are not
the GEMMs but the passes around them: im2col (pad copy + window copy), col2im (KH*KW strided
read-modify-write passes over dx), and max pooling's KH*KW mask passes. Here each is one loop
nest that reads and writes every element once. Every output element is written by exactly one
iteration, with a fixed summation order, and images are independent, so results do not depend on
how the batch is split over threads (bit-exact resume holds).

Threads are opt-in, with the elementwise threads (NNCTL_NUM_THREADS > 1, runtime/parallel.py):
the batch is then split into blocks that run in Python threads at once (the C calls release the
GIL). By default the loops run serially: on the 2-core benchmark machine a second busy thread
next to OpenBLAS's made the cnn step slower, and on a busy machine several times slower.

The numpy path stays the reference and the fallback: ``load()`` returns None when the compiled
library is unavailable or ``NNCTL_JIT=0`` is set (runtime/native.py), and the kernels then use
their xp code. Other dtypes than float32 and float64 take the numpy path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

from nnctl.runtime.native import JIT_DTYPES, Kernel, compiled, enabled, host_arrays  # the one NNCTL_JIT switch
from nnctl.runtime.parallel import num_threads, split_step

__all__ = ["JIT_DTYPES", "enabled", "for_ctx", "load", "usable"]


def load() -> Any:
    """The compiled kernels (a namespace), or None: NNCTL_JIT=0, or the library unavailable."""
    threads = num_threads()
    return compiled(("conv", threads), partial(_build, threads=threads))


def for_ctx(ctx: Any) -> Any:
    """The compiled kernels for a kernel context: only where the backend's arrays are host memory."""
    return load() if ctx.backend.host_memory else None


def usable(jit: Any, *arrays: Any) -> bool:
    """The compiled path applies: kernels loaded, every array an aligned float32/float64 numpy array
    of one dtype (the callers make them C-contiguous)."""
    return jit is not None and host_arrays(arrays[0].dtype, arrays, contiguous=False)


def _over_batch(kernel: Kernel, arrays: tuple, params: Callable[[tuple], tuple], threads: int) -> None:
    """kernel(*arrays, *params(arrays)), params giving the arrays' extents and the window's sizes; with
    threads > 1, over blocks of the batch (axis 0 of every array) at once, each block its own call."""
    n = arrays[0].shape[0]
    if threads <= 1 or n < 2:
        kernel(*arrays, *params(arrays))
        return

    def block(lo: int, hi: int) -> Any:
        part = tuple(a[lo:hi] for a in arrays)
        return partial(kernel, *part, *params(part))
    split_step(block, n, threads)()


def _build(lib: Any, threads: int) -> SimpleNamespace:
    # conv.c's kernels; each wrapper passes the NHWC extents read from its arrays: x [n, h, w, c],
    # the output [n, oh, ow, ...], then the window's sizes, strides and padding
    k_im2col = Kernel(lib, "im2col", "aa" + "i" * 14)
    k_col2im = Kernel(lib, "col2im", "aa" + "i" * 15)
    k_pool = Kernel(lib, "max_pool", "aa" + "i" * 12)
    k_pool_grad = Kernel(lib, "max_pool_grad", "aaaaj" + "i" * 12)
    k_pool_tiles = Kernel(lib, "max_pool_grad_tiles", "aaaa" + "i" * 8, checked=True)

    def im2col(x: Any, cols: Any, pt: int, pl: int, sh: int, sw: int, dh: int, dw: int) -> None:
        # cols[n, oh, ow, i, j, c] = x[n, oh*sh + i*dh - pt, ow*sw + j*dw - pl, c], 0 outside x
        _over_batch(k_im2col, (x, cols), lambda a: (*a[0].shape, *a[1].shape[1:5], pt, pl, sh, sw, dh, dw), threads)

    def col2im(dcols: Any, dx: Any, pt: int, pl: int, sh: int, sw: int, dh: int, dw: int, tiles: bool) -> None:
        # dx[n, h, w, c] = the sum of the dcols entries that read (h, w), in kernel-offset order
        _over_batch(k_col2im, (dcols, dx), lambda a: (*a[1].shape, *a[0].shape[1:5], pt, pl, sh, sw, dh, dw,
                                                       int(bool(tiles))), threads)

    def max_pool(x: Any, y: Any, kh: int, kw: int, sh: int, sw: int, pt: int, pl: int) -> None:
        _over_batch(k_pool, (x, y), lambda a: (*a[0].shape, *a[1].shape[1:3], kh, kw, sh, sw, pt, pl), threads)

    def max_pool_grad(x: Any, y: Any, dy: Any, dx: Any, sel: Any, kh: int, kw: int, sh: int, sw: int, pt: int,
                      pl: int) -> None:
        _over_batch(k_pool_grad, (x, y, dy, dx, sel),
                    lambda a: (*a[0].shape, *a[1].shape[1:3], kh, kw, sh, sw, pt, pl), threads)

    def max_pool_grad_tiles(x: Any, y: Any, dy: Any, dx: Any, kh: int, kw: int) -> None:
        _over_batch(k_pool_tiles, (x, y, dy, dx), lambda a: (*a[0].shape, *a[1].shape[1:3], kh, kw), threads)

    return SimpleNamespace(im2col=im2col, col2im=col2im, max_pool=max_pool, max_pool_grad=max_pool_grad,
                           max_pool_grad_tiles=max_pool_grad_tiles)
