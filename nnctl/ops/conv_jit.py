"""Compiled loops (nnctl/csrc/conv.c) for the copy- and scatter-heavy parts of convolution and pooling.

conv_kernels.py writes every kernel once against ``xp``; on host memory its slowest pieces are not
the GEMMs but the passes around them: im2col (pad copy + window copy), col2im (KH*KW strided
read-modify-write passes over dx), and max pooling's KH*KW mask passes. Here each is one loop
nest that reads and writes every element once. Every output element is written by exactly one
iteration, with a fixed summation order, and images are independent, so results do not depend on
how the batch is split over threads (bit-exact resume holds).

The direct convolution (dconv.c, ``direct``: Conv2D and its gradients without a column matrix,
where the CPU has FMA) replaces the GEMMs, so it takes the threads BLAS would (gemm_threads):
pixel ranges or filter-gradient tasks split over them, which never changes a value's chain.

The other loops' threads are opt-in, with the elementwise threads (NNCTL_NUM_THREADS > 1, runtime/parallel.py):
the batch is then split into blocks that run in Python threads at once (the C calls release the
GIL). By default the loops run serially: on the 2-core benchmark machine a second busy thread
next to OpenBLAS's made the cnn step slower, and on a busy machine several times slower.

The numpy path stays the reference and the fallback: ``load()`` returns None when the compiled
library is unavailable or ``NNCTL_JIT=0`` is set (runtime/native.py), and the kernels then use
their xp code. Other dtypes than float32 and float64 take the numpy path.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

from nnctl.backends.blas_threads import workers_spinning
from nnctl.runtime.native import JIT_DTYPES, Kernel, compiled, enabled, host_arrays  # the one NNCTL_JIT switch
from nnctl.runtime.parallel import gemm_threads, num_threads, split_step

__all__ = ["JIT_DTYPES", "enabled", "for_ctx", "load", "usable"]


def load() -> Any:
    """The compiled kernels (a namespace), or None: NNCTL_JIT=0, or the library unavailable."""
    threads, gemm = num_threads(), gemm_threads()
    return compiled(("conv", threads, gemm), partial(_build, threads=threads, gemm=gemm))


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


# Output channels per block of the direct convolution (dconv.c's OB: 64 bytes of them)
DIRECT_BLOCK_BYTES = 64
DIRECT_PIXELS = 12  # the threads' pixel ranges start at multiples of this (dconv.c's PB: 12 or 6)


def _build(lib: Any, threads: int, gemm: int) -> SimpleNamespace:
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

    direct = None
    if lib.nnctl_direct_conv_ok():
        k_direct = Kernel(lib, "conv_direct", "aaa" + "i" * 17, checked=True)
        k_direct_input = Kernel(lib, "conv_direct_input", "aaa" + "i" * 17, checked=True)
        k_direct_filter = Kernel(lib, "conv_direct_filter", "aaa" + "i" * 18)
        lib.nnctl_direct_conv_channels.restype = ctypes.c_long

        def _threads() -> int:
            # BLAS's threads, unless its workers are still busy-waiting after a GEMM (then one)
            return 1 if gemm > 1 and workers_spinning() else gemm
        channels = int(lib.nnctl_direct_conv_channels())  # per filter-gradient task

        def over_pixels(kernel: Kernel, args: tuple, pix: int) -> None:
            # kernel(*args, lo, hi) for ranges of the pix output pixels at once
            blocks = -(-pix // DIRECT_PIXELS)
            split_step(lambda lo, hi: partial(kernel, *args, lo * DIRECT_PIXELS, min(hi * DIRECT_PIXELS, pix)),
                       blocks, _threads())()

        def conv(x: Any, wpk: Any, y: Any, kh: int, kw: int, pt: int, pl: int, sh: int, sw: int, dh: int,
                 dw: int) -> None:
            # y [n, oh, ow, o] from x [n, h, w, c] and the packed filter wpk [blocks, kh*kw*c, OB]
            n, h, w, c = x.shape
            _, oh, ow, o = y.shape
            over_pixels(k_direct, (x, wpk, y, n, h, w, c, oh, ow, o, kh, kw, pt, pl, sh, sw, dh, dw), n * oh * ow)

        def conv_input(dy: Any, wtpk: Any, dx: Any, kh: int, kw: int, pt: int, pl: int, sh: int, sw: int,
                       dh: int, dw: int) -> None:
            # dx [n, h, w, c] from dy [n, oh, ow, o] and the packed transposed filter [blocks, kh*kw*o, OB]
            n, h, w, c = dx.shape
            _, oh, ow, o = dy.shape
            over_pixels(k_direct_input, (dy, wtpk, dx, n, h, w, c, oh, ow, o, kh, kw, pt, pl, sh, sw, dh, dw),
                        n * h * w)

        def conv_filter(x: Any, dy: Any, dwpk: Any, kh: int, kw: int, pt: int, pl: int, sh: int, sw: int,
                        dh: int, dw: int, o: int) -> None:
            # dwpk [blocks, kh*kw, c, OB] (zeroed) += the filter gradient; dy [n, oh, ow, blocks*OB]
            n, h, w, c = x.shape
            _, oh, ow, ldo = dy.shape
            ob = DIRECT_BLOCK_BYTES // x.dtype.itemsize
            tasks = kh * kw * -(-c // channels) * -(-o // ob)
            args = (x, dy, dwpk, n, h, w, c, oh, ow, o, ldo, kh, kw, pt, pl, sh, sw, dh, dw)
            split_step(lambda lo, hi: partial(k_direct_filter, *args, lo, hi), tasks, _threads())()

        direct = SimpleNamespace(conv=conv, conv_input=conv_input, conv_filter=conv_filter)
    return SimpleNamespace(im2col=im2col, col2im=col2im, max_pool=max_pool, max_pool_grad=max_pool_grad,
                           max_pool_grad_tiles=max_pool_grad_tiles, direct=direct)
