"""Convolution and pooling kernels on NHWC arrays, written once against the array module ``xp``.

Convolution is im2col + one GEMM: the (padded) input is viewed as its windows
[N, OH, OW, KH, KW, C] with ``as_strided`` (no copy), copied once into a [N*OH*OW, KH*KW*C]
matrix (stored transposed when there are few channels) and multiplied by the HWIO filter seen as
[KH*KW*C, O]. The input gradient is the
transposed GEMM followed by col2im, which accumulates over the KH*KW kernel offsets (never over
pixels); the filter gradient is cols^T @ dy. Pooling loops over the kernel offsets too: each step is
one whole-tensor ufunc over a strided view.

On host memory the copy- and scatter-heavy passes (im2col with its padding, col2im, max pooling
and its gradient) run as compiled loops from conv_jit.py when ``jit`` (``conv_jit.load()``) is
given and the dtype is float32/float64, and on a CPU with fused multiply-add the convolutions
themselves skip the columns: ``jit.direct`` (dconv.c) computes Conv2D, the strided input gradient
and the filter gradient in registers from x, dy and a packed copy of the filter, each value one
FMA chain in a fixed order (not BLAS's bits; see docs/architecture.md). The xp code below remains
the reference and the fallback (devices, ``NNCTL_JIT=0``, other dtypes).

Every ``make_*`` returns ``run(*inputs, out=None)`` (the registry's kernel convention). Padded
inputs, column matrices and masks live in per-kernel scratch buffers keyed by shape, so a bound
plan allocates nothing; allocating calls (``out=None``) always return fresh arrays.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from nnctl.backends import blas_threads
from nnctl.ops import conv_jit
from nnctl.ops.conv_jit import usable

Padding = Any  # "SAME", "VALID", or ((top, bottom), (left, right))


# --- geometry ----------------------------------------------------------------------------------

def out_size(size: int | None, k: int, stride: int, dilation: int,
             padding: Any) -> tuple[int | None, int, int]:
    """(output size, pad before, pad after) along one spatial dimension, by TF's rules.

    SAME: out = ceil(in / stride), pad_total = max((out - 1) * stride + k_eff - in, 0), and the odd
    pixel goes after. VALID: out = ceil((in - k_eff + 1) / stride). Explicit: (before, after).
    ``k_eff = (k - 1) * dilation + 1``.
    """
    k_eff = (k - 1) * dilation + 1
    if size is None:
        if isinstance(padding, tuple):
            return None, padding[0], padding[1]
        return None, 0, 0
    if isinstance(padding, tuple):
        before, after = padding
        return (size + before + after - k_eff) // stride + 1, before, after
    if padding == "VALID":
        return (size - k_eff) // stride + 1, 0, 0
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + k_eff - size, 0)
    return out, total // 2, total - total // 2


class Geom:
    """Static geometry of one window op for one input shape."""

    __slots__ = ("n", "h", "w", "c", "kh", "kw", "sh", "sw", "dh", "dw", "oh", "ow", "pt", "pb", "pl", "pr",
                 "padded", "hp", "wp")

    def __init__(self, xshape: tuple, kh: int, kw: int, strides: tuple[int, int], dilations: tuple[int, int],
                 padding: Padding) -> None:
        self.n, self.h, self.w, self.c = xshape
        self.kh, self.kw = kh, kw
        self.sh, self.sw = strides
        self.dh, self.dw = dilations
        ph, pw = (padding, padding) if isinstance(padding, str) else padding
        self.oh, self.pt, self.pb = out_size(self.h, kh, self.sh, self.dh, ph)
        self.ow, self.pl, self.pr = out_size(self.w, kw, self.sw, self.dw, pw)
        if self.oh < 1 or self.ow < 1:
            raise ValueError(f"the {kh}x{kw} window (dilations {self.dh}x{self.dw}) does not fit the "
                             f"{self.h}x{self.w} input with padding {padding!r}")
        self.padded = bool(self.pt or self.pb or self.pl or self.pr)
        self.hp, self.wp = self.h + self.pt + self.pb, self.w + self.pl + self.pr

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return self.n, self.oh, self.ow, self.c

    def offset(self, i: int, j: int) -> tuple:
        """Index of the elements under kernel offset (i, j) for every output pixel, in padded coordinates."""
        h0, w0 = i * self.dh, j * self.dw
        return (slice(None), slice(h0, h0 + self.sh * (self.oh - 1) + 1, self.sh),
                slice(w0, w0 + self.sw * (self.ow - 1) + 1, self.sw), slice(None))

    def offsets(self) -> list[tuple]:
        return [self.offset(i, j) for i in range(self.kh) for j in range(self.kw)]

    def interior(self) -> tuple:
        return (slice(None), slice(self.pt, self.pt + self.h), slice(self.pl, self.pl + self.w), slice(None))

    def tiles(self) -> bool:
        """Windows are disjoint and unpadded (e.g. 2x2 stride 2 VALID): each input pixel is in <= 1 window."""
        return (not self.padded and self.kh == self.sh and self.kw == self.sw and self.dh == 1
                and self.dw == 1)


class Scratch:
    """Per-kernel temporaries, one per (tag, shape, dtype), optionally filled once on creation."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self._cache: dict[tuple, Any] = {}

    def __call__(self, tag: str, shape: tuple, dtype: Any, fill: Any = None) -> Any:
        key = (tag, shape, dtype)
        a = self._cache.get(key)
        if a is None:
            a = self.xp.empty(shape, dtype=dtype)
            if fill is not None:
                a.fill(fill)
            self._cache[key] = a
        return a


class _Transients(threading.local):
    """Host buffers that a kernel call writes whole before reading them and no longer needs when it
    returns (the column chunks): one block of bytes per tag, as large as the largest request so
    far, shared by every kernel of a thread (which runs one kernel call at a time) and viewed as
    each call's shape and dtype. Per-kernel Scratch would keep one per conv (resnet: ~80 chunk
    buffers), and one per shape one per geometry (resnet: ~8 of up to 8 MiB)."""

    def __init__(self) -> None:
        self.bufs: dict[str, Any] = {}

    def __call__(self, tag: str, shape: tuple, dtype: Any) -> Any:
        dt = np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        a = self.bufs.get(tag)
        if a is None or a.size < nbytes:
            a = self.bufs[tag] = np.empty(max(nbytes, 1), dtype=np.uint8)
        return a[:nbytes].view(dt).reshape(shape)


_transient = _Transients()


def _lowest(dtype: Any) -> Any:
    dt = np.dtype(dtype)
    return -np.inf if dt.kind == "f" else np.iinfo(dt).min


def _geom_cache(make: Callable[[tuple], Geom]) -> Callable[[tuple], Geom]:
    cache: dict[tuple, Geom] = {}

    def get(shape: tuple) -> Geom:
        g = cache.get(shape)
        if g is None:
            g = cache[shape] = make(shape)
        return g
    return get


def _padded(xp: Any, scratch: Scratch, g: Geom, x: Any, fill: Any, tag: str = "pad") -> Any:
    """``x`` inside a buffer whose border holds ``fill`` (written once; only the interior is rewritten)."""
    if not g.padded:
        return x
    buf = scratch(tag, (g.n, g.hp, g.wp, g.c), x.dtype, fill=fill)
    buf[g.interior()] = x
    return buf


def _into(xp: Any, out: Any, shape: tuple, dtype: Any) -> Any:
    return xp.empty(shape, dtype=dtype) if out is None else out


# im2col and the GEMM run a few images at a time, so that each chunk's columns (about this many
# bytes) are still in the core's L2 cache when the GEMM reads them, instead of a whole-batch column
# matrix going out to memory and back (1.6x faster for 32x32x16 inputs). The split depends on the
# geometry alone, never on which path (compiled loops or xp code) or backend runs it: a BLAS may
# compute a row differently depending on how many rows its call has (OpenBLAS 0.3.31 on an AMD
# EPYC does, for every chunk size tried), so only the same calls give the same bits. Chunks hold a
# multiple of ALIGN_ROWS rows, which keeps the split cheap where a BLAS's row blocks divide 16.
JIT_CHUNK_BYTES = 1 << 20
ALIGN_ROWS = 16


def _few_channels(g: Geom) -> bool:
    """A column row's contiguous runs (KW*C values) are shorter than a column's (OW pixels): the
    columns are then stored transposed (cols_of), which copies faster."""
    return g.c * (g.kw if g.dw == 1 else 1) < (g.ow if g.sw == 1 else 1)


def _chunk_images(g: Geom, itemsize: int, transposed: bool = False) -> int:
    """Images per chunk of im2col/col2im and their GEMM (from the geometry only), 0 for one GEMM
    over the batch: the columns are x itself, or few channels where the caller does not handle
    the ``transposed`` layout."""
    if g.kh == g.kw == 1 and g.sh == g.sw == 1 and not g.padded:
        return 0  # the columns are x itself
    if _few_channels(g) and not transposed:
        return 0
    rows = g.oh * g.ow
    step = ALIGN_ROWS // math.gcd(rows, ALIGN_ROWS)  # images per chunk: a multiple of this
    per = JIT_CHUNK_BYTES // (rows * g.kh * g.kw * g.c * itemsize) // step * step
    per = min(g.n, max(step, per))
    return 0 if per >= g.n else per


def _gemm_into(xp: Any, a: Any, b: Any, out: Any, shape: tuple) -> Any:
    """a @ b stored as ``shape``: into ``out`` when given (through a 2-D view; a copy if out is strided)."""
    if a.shape[0] * a.shape[1] * b.shape[1] >= blas_threads.SMALL_GEMM:
        blas_threads.note_threaded_call()
    if out is None:
        return xp.matmul(a, b).reshape(shape)
    if out.flags.c_contiguous:
        xp.matmul(a, b, out=out.reshape(a.shape[0], b.shape[1]))
    else:
        xp.copyto(out, xp.matmul(a, b).reshape(shape))
    return out


# --- convolution -------------------------------------------------------------------------------

# Below this many terms a window's chain (kh*kw*c) is too short to pay for its row-pointer table:
# a one-channel 3x3 convolution ran 1.4-1.5x faster as im2col + GEMM (cnn's 28x28x1 -> 32)
DIRECT_MIN_TERMS = 16


def _direct(jit: Any, g: Geom, *arrays: Any, input_grad: bool = False) -> Any:
    """The direct-convolution kernels (conv_jit / dconv.c) where they apply and pay: compiled, a
    CPU with fused multiply-add, host float arrays, windows of DIRECT_MIN_TERMS terms or more, and
    columns that would be a copy (a 1x1 stride-1 unpadded convolution is a GEMM over x itself,
    which BLAS does well). The input gradient takes them for strided convolutions only: unit
    strides run it as a convolution (make_conv2d_backprop_input), and with fewer input channels
    than a block of 16 the loops would compute mostly empty lanes. None: im2col + GEMM."""
    d = getattr(jit, "direct", None)
    if d is None or (g.kh == g.kw == 1 and g.sh == g.sw == 1 and not g.padded):
        return None
    if g.kh * g.kw * g.c < DIRECT_MIN_TERMS or (input_grad and g.sh == g.sw == 1):
        return None
    return d if usable(jit, *arrays) else None


def _direct_block(dtype: Any) -> int:
    return conv_jit.DIRECT_BLOCK_BYTES // np.dtype(dtype).itemsize


def _pack_filter(xp: Any, scratch: Scratch, w: Any) -> Any:
    """w [kh, kw, c, o] as dconv.c reads it: [ceil(o/OB), kh*kw*c, OB], zero beyond o."""
    ob = _direct_block(w.dtype)
    o = w.shape[3]
    w2 = w.reshape(-1, o)
    nob = -(-o // ob)
    wpk = scratch("w_packed", (nob, w2.shape[0], ob), w.dtype)
    if o % ob == 0:
        xp.copyto(wpk, w2.reshape(-1, nob, ob).transpose(1, 0, 2))
        return wpk
    wpk.fill(0)
    for b in range(nob):
        wpk[b, :, :min(ob, o - b * ob)] = w2[:, b * ob:(b + 1) * ob]
    return wpk


def make_conv2d(xp: Any, strides: tuple[int, int], dilations: tuple[int, int], padding: Padding,
                jit: Any = None) -> Any:
    """Conv2D(x [N,H,W,C], w [KH,KW,C,O]) -> [N,OH,OW,O] as im2col + one GEMM."""
    scratch = Scratch(xp)
    as_strided = xp.lib.stride_tricks.as_strided

    def geom_for(xshape: tuple, wshape: tuple) -> Geom:
        return Geom(xshape, wshape[0], wshape[1], strides, dilations, padding)

    geoms: dict[tuple, Geom] = {}

    def cols_of(x: Any, g: Geom, tag: str = "cols", transient: bool = False) -> Any:
        """The [N*OH*OW, KH*KW*C] patch matrix of x (a view of x itself for 1x1 stride-1 unpadded).

        ``transient``: the caller is done with the columns before its next cols_of or return (the
        compiled copy then goes to the thread's shared buffer, _Transients).

        It is stored row-major ([pixel, (kh, kw, c)]) or, when few channels make those rows short,
        as the transpose of a row-major [(kh, kw, c), pixel] matrix: the copy then runs along
        contiguous output rows instead of KW*C-element pieces (7x faster for one channel), and
        BLAS takes either layout without a copy.
        """
        m, k = g.n * g.oh * g.ow, g.kh * g.kw * g.c
        if g.kh == g.kw == 1 and g.sh == g.sw == 1 and not g.padded and x.flags.c_contiguous:
            return x.reshape(m, k)
        few = _few_channels(g)
        if not few and usable(jit, x):
            # one pass, zeros written for the padding (no padded copy of x)
            cols = (_transient if transient else scratch)(tag, (g.n, g.oh, g.ow, g.kh, g.kw, g.c), x.dtype)
            jit.im2col(np.ascontiguousarray(x), cols, g.pt, g.pl, g.sh, g.sw, g.dh, g.dw)
            return cols.reshape(m, k)
        src = _padded(xp, scratch, g, x, 0, tag + "_pad")
        s_n, s_h, s_w, s_c = src.strides
        if few:
            win = as_strided(src, (g.kh, g.kw, g.c, g.n, g.oh, g.ow),
                             (s_h * g.dh, s_w * g.dw, s_c, s_n, s_h * g.sh, s_w * g.sw))
            cols_t = scratch(tag + "_t", (g.kh, g.kw, g.c, g.n, g.oh, g.ow), x.dtype)
            xp.copyto(cols_t, win)
            return cols_t.reshape(k, m).T
        win = as_strided(src, (g.n, g.oh, g.ow, g.kh, g.kw, g.c),
                         (s_n, s_h * g.sh, s_w * g.sw, s_h * g.dh, s_w * g.dw, s_c))
        cols = scratch(tag, (g.n, g.oh, g.ow, g.kh, g.kw, g.c), x.dtype)
        xp.copyto(cols, win)
        return cols.reshape(m, k)

    def run(x: Any, w: Any, out: Any = None) -> Any:
        key = (x.shape, w.shape)
        g = geoms.get(key)
        if g is None:
            g = geoms[key] = geom_for(x.shape, w.shape)
        o = w.shape[3]
        direct = _direct(jit, g, x, w)
        if direct is not None:
            out = _into(xp, out, (g.n, g.oh, g.ow, o), x.dtype)
            dst = out if usable(jit, out) and out.flags.c_contiguous else scratch("y", out.shape, out.dtype)
            direct.conv(np.ascontiguousarray(x), _pack_filter(xp, scratch, w), dst, g.kh, g.kw, g.pt, g.pl,
                        g.sh, g.sw, g.dh, g.dw)
            if dst is not out:
                xp.copyto(out, dst)
            return out
        per = _chunk_images(g, x.dtype.itemsize, transposed=True)
        if not per:
            return _gemm_into(xp, cols_of(x, g), w.reshape(-1, o), out, (g.n, g.oh, g.ow, o))
        out = _into(xp, out, (g.n, g.oh, g.ow, o), x.dtype)
        dst = out if out.flags.c_contiguous else scratch("y", out.shape, out.dtype)
        w2 = w.reshape(-1, o)
        for n0 in range(0, g.n, per):
            xk = x[n0:n0 + per]
            gk = geoms.get((xk.shape, w.shape))
            if gk is None:
                gk = geoms[(xk.shape, w.shape)] = geom_for(xk.shape, w.shape)
            rows = xk.shape[0] * g.oh * g.ow
            xp.matmul(cols_of(xk, gk, "cols_chunk", transient=True), w2, out=dst[n0:n0 + per].reshape(rows, o))
        if dst is not out:
            xp.copyto(out, dst)
        return out

    run.cols_of = cols_of  # type: ignore[attr-defined]
    run.geoms = geoms  # type: ignore[attr-defined]
    run.geom_for = geom_for  # type: ignore[attr-defined]
    return run


def make_conv2d_backprop_filter(xp: Any, strides: tuple[int, int], dilations: tuple[int, int],
                                padding: Padding, jit: Any = None) -> Any:
    """Conv2DBackpropFilter(x, w_like, dy) -> dL/dw = cols(x)^T @ dy, shaped like w (HWIO)."""
    conv = make_conv2d(xp, strides, dilations, padding, jit)
    cols_of, geoms, geom_for = conv.cols_of, conv.geoms, conv.geom_for  # type: ignore[attr-defined]

    scratch = Scratch(xp)

    def geom(xshape: tuple, wshape: tuple) -> Geom:
        key = (xshape, wshape)
        g = geoms.get(key)
        if g is None:
            g = geoms[key] = geom_for(xshape, wshape)
        return g

    def run(x: Any, w: Any, dy: Any, out: Any = None) -> Any:
        g = geom(x.shape, w.shape)
        o = w.shape[3]
        direct = _direct(jit, g, x, dy)
        if direct is not None:
            return direct_filter(direct, g, np.ascontiguousarray(x), np.ascontiguousarray(dy), w.shape, out)
        per = _filter_chunk_images(g, x.dtype.itemsize)
        if per >= g.n:
            return _gemm_into(xp, cols_of(x, g).T, dy.reshape(-1, o), out, w.shape)
        # dL/dw = sum over image chunks of cols(x_chunk)^T @ dy_chunk, the chunks added in order:
        # only one chunk's columns exist at a time (a whole-batch column matrix of a 32x32x16
        # batch of 128 is 75 MB per conv). The split depends on the geometry alone, so every path
        # (compiled im2col or xp copy, host or device) sums the same partial products.
        out = _into(xp, out, w.shape, dy.dtype)
        acc = out if out.flags.c_contiguous else scratch("dw", w.shape, dy.dtype)
        acc2 = acc.reshape(-1, o)
        part = scratch("dw_part", acc2.shape, dy.dtype)
        dy2 = dy.reshape(g.n, -1, o)
        for n0 in range(0, g.n, per):
            k = min(per, g.n - n0)
            xk = x[n0:n0 + k]
            cols = cols_of(xk, geom(xk.shape, w.shape), "cols_chunk", transient=True)
            dst = acc2 if n0 == 0 else part
            xp.matmul(cols.T, dy2[n0:n0 + k].reshape(-1, o), out=dst)
            if n0:
                xp.add(acc2, part, out=acc2)
        if acc is not out:
            xp.copyto(out, acc)
        return out

    def direct_filter(direct: Any, g: Geom, x: Any, dy: Any, wshape: tuple, out: Any) -> Any:
        """dL/dw by dconv.c: accumulated in its packed layout [blocks, kh*kw, c, OB], then unpacked."""
        o = wshape[3]
        ob = _direct_block(dy.dtype)
        nob = -(-o // ob)
        if o % ob:  # dconv.c reads whole blocks of dy's channels: a copy padded with zeros
            dyp = scratch("dy_padded", (*dy.shape[:3], nob * ob), dy.dtype)
            dyp[..., o:] = 0
            dyp[..., :o] = dy
            dy = dyp
        dwpk = scratch("dw_packed", (nob, g.kh * g.kw, g.c, ob), dy.dtype)
        dwpk.fill(0)
        direct.conv_filter(x, dy, dwpk, g.kh, g.kw, g.pt, g.pl, g.sh, g.sw, g.dh, g.dw, o)
        out = _into(xp, out, wshape, dy.dtype)
        unpacked = dwpk.transpose(1, 2, 0, 3).reshape(*wshape[:3], nob * ob)
        xp.copyto(out, unpacked[..., :o])
        return out
    return run


# The filter gradient's column matrix is built this many bytes (or one image) at a time. Unlike
# the forward chunks (sized for the L2 cache), these feed a GEMM whose reduction runs over the
# chunk's rows: short chunks make many inefficient calls plus an add each (8 MiB against 1 MiB:
# 35-40 ms against 52-57 for the resnet benchmark's 32x32x16 convolution, batch 128).
FILTER_CHUNK_BYTES = 8 << 20


def _filter_chunk_images(g: Geom, itemsize: int) -> int:
    """Images per chunk of the filter gradient's sum (g.n or more: one GEMM over the batch). From
    the geometry only, so that every path splits the sum alike and gives the same bits."""
    if g.kh == g.kw == 1 and g.sh == g.sw == 1 and not g.padded:
        return g.n  # the columns are x itself: nothing to materialise
    per_image = g.oh * g.ow * g.kh * g.kw * g.c * itemsize
    return max(1, FILTER_CHUNK_BYTES // per_image)


def make_conv2d_backprop_input(xp: Any, strides: tuple[int, int], dilations: tuple[int, int],
                               padding: Padding, jit: Any = None) -> Any:
    """Conv2DBackpropInput(x_like, w, dy) -> dL/dx.

    With unit strides, dx is itself a convolution: dx[n, h, w, c] = sum over (i, j, o) of
    dy[n, h + pt - i*dh, w + pl - j*dw, o] w[i, j, c, o], i.e. dy convolved (stride 1, the same
    dilations) with the kernel flipped in both spatial axes and its channel axes swapped, padded
    by K - pt before and K - pb after (K = (kh - 1) dh, likewise along the width). That runs as
    Conv2D's im2col + GEMM, a gather, where the general path's col2im (dcols = dy @ w^T, then a
    scatter-add over the kernel offsets) makes kh*kw read-modify-write passes over dx: about 3x
    slower on the resnet benchmark's 32x32x16 convolutions. The gather's columns hold H*W*O values
    an image to the scatter's OH*OW*C, so it is taken only where that is no more (SAME with O <= C:
    every resnet block; a VALID 13x13x32 -> 11x11x64 layer would copy 2.8x as much, and ran 3x
    slower); strided convolutions and explicit paddings wider than the kernel keep the scatter."""
    scratch = Scratch(xp)
    geoms: dict[tuple, Geom] = {}
    as_conv: dict[tuple, Any] = {}   # geometry -> the Conv2D kernel computing dx, or None

    def conv_for(g: Geom, o: int) -> Any:
        key = (g.h, g.w, g.c, o, g.pt, g.pb, g.pl, g.pr, g.kh, g.kw)
        if key not in as_conv:
            kh_, kw_ = (g.kh - 1) * g.dh, (g.kw - 1) * g.dw
            pads = ((kh_ - g.pt, kh_ - g.pb), (kw_ - g.pl, kw_ - g.pr))
            fits = (g.sh == g.sw == 1 and min(pads[0] + pads[1]) >= 0
                    and g.h * g.w * o <= g.oh * g.ow * g.c)
            as_conv[key] = make_conv2d(xp, (1, 1), (g.dh, g.dw), pads, jit=jit) if fits else None
        return as_conv[key]

    def run(x: Any, w: Any, dy: Any, out: Any = None) -> Any:
        key = (x.shape, w.shape)
        g = geoms.get(key)
        if g is None:
            g = geoms[key] = Geom(x.shape, w.shape[0], w.shape[1], strides, dilations, padding)
        o = w.shape[3]
        w2 = w.reshape(-1, o)
        dy2 = dy.reshape(-1, o)
        if g.kh == g.kw == 1 and g.sh == g.sw == 1 and not g.padded:
            return _gemm_into(xp, dy2, w2.T, out, x.shape)
        conv = conv_for(g, o)
        direct = _direct(jit, g, dy, w, input_grad=True) if conv is None else None
        if direct is not None:
            # strided: dconv.c walks dx's pixels, reading the dy pixels whose windows cover each
            out = _into(xp, out, x.shape, dy.dtype)
            dst = out if usable(jit, out) and out.flags.c_contiguous else scratch("dx", x.shape, dy.dtype)
            direct.conv_input(np.ascontiguousarray(dy), _pack_filter(xp, scratch, w.transpose(0, 1, 3, 2)), dst,
                              g.kh, g.kw, g.pt, g.pl, g.sh, g.sw, g.dh, g.dw)
            if dst is not out:
                xp.copyto(out, dst)
            return out
        if conv is not None:
            flipped = scratch("w_flipped", (g.kh, g.kw, o, g.c), w.dtype)
            xp.copyto(flipped, w[::-1, ::-1].transpose(0, 1, 3, 2))
            return conv(dy, flipped, out)
        out = _into(xp, out, x.shape, dy.dtype)
        dst = out if out.flags.c_contiguous else scratch("dx", x.shape, dy.dtype)
        per = _chunk_images(g, dy.dtype.itemsize)
        if not per:
            dcols = scratch("dcols", (g.n * g.oh * g.ow, g.kh * g.kw * g.c), dy.dtype)
            xp.matmul(dy2, w2.T, out=dcols)
            col2im(dcols.reshape(g.n, g.oh, g.ow, g.kh, g.kw, g.c), dst, g)
        else:
            # a few images at a time (JIT_CHUNK_BYTES): dcols = dy @ w^T, then col2im from cache
            dy3 = dy.reshape(g.n, -1, o)
            for n0 in range(0, g.n, per):
                k = min(per, g.n - n0)
                gk = geoms.get((k, x.shape, w.shape))
                if gk is None:
                    gk = geoms[(k, x.shape, w.shape)] = Geom((k, *x.shape[1:]), w.shape[0], w.shape[1], strides,
                                                            dilations, padding)
                dcols = _transient("dcols_chunk", (per, g.oh, g.ow, g.kh, g.kw, g.c), dy.dtype)[:k] \
                    if usable(jit, dy) else scratch("dcols_chunk", (k, g.oh, g.ow, g.kh, g.kw, g.c), dy.dtype)
                xp.matmul(dy3[n0:n0 + k].reshape(-1, o), w2.T, out=dcols.reshape(k * g.oh * g.ow, -1))
                col2im(dcols, dst[n0:n0 + k], gk)
        if dst is not out:
            xp.copyto(out, dst)
        return out

    def col2im(d6: Any, dst: Any, g: Geom) -> None:
        """dst [n, H, W, C] = the sum of the column gradients d6 [n, OH, OW, KH, KW, C] over the
        windows each pixel belongs to (dst C-contiguous)."""
        if usable(jit, d6, dst):
            # one pass over dx per image, padding skipped (no padded accumulator)
            jit.col2im(d6, dst, g.pt, g.pl, g.sh, g.sw, g.dh, g.dw, g.tiles())
            return
        acc = scratch("dxpad", (g.n, g.hp, g.wp, g.c), d6.dtype) if g.padded else dst
        if g.tiles():
            # disjoint windows: every covered pixel receives exactly one term
            if g.oh * g.sh != g.hp or g.ow * g.sw != g.wp:
                acc.fill(0)
            for i in range(g.kh):
                for j in range(g.kw):
                    acc[g.offset(i, j)] = d6[:, :, :, i, j, :]
        else:
            acc.fill(0)
            for i in range(g.kh):
                for j in range(g.kw):
                    t = acc[g.offset(i, j)]
                    xp.add(t, d6[:, :, :, i, j, :], out=t)
        if g.padded:
            xp.copyto(dst, acc[g.interior()])
    run.as_conv = as_conv  # type: ignore[attr-defined]  # (for the tests: which geometries gather)
    return run


# --- max pooling ---------------------------------------------------------------------------------

def _pool_geom(ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> Callable[[tuple], Geom]:
    return _geom_cache(lambda shape: Geom(shape, ksize[0], ksize[1], strides, (1, 1), padding))


def _c_order(xp: Any, scratch: Scratch, out: Any) -> Any:
    """``out`` when C-contiguous (what the compiled loops write), else a scratch buffer of its shape."""
    return out if out.flags.c_contiguous else scratch("out_c", out.shape, out.dtype)


def make_max_pool(xp: Any, ksize: tuple[int, int], strides: tuple[int, int], padding: str,
                  jit: Any = None) -> Any:
    """MaxPool(x) -> the maximum of each window (padding never wins: it holds the lowest value)."""
    scratch = Scratch(xp)
    geom = _pool_geom(ksize, strides, padding)

    def run(x: Any, out: Any = None) -> Any:
        g = geom(x.shape)
        out = _into(xp, out, g.out_shape, x.dtype)
        if usable(jit, x, out):
            dst = _c_order(xp, scratch, out)
            jit.max_pool(np.ascontiguousarray(x), dst, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl)
            if dst is not out:
                xp.copyto(out, dst)
            return out
        src = _padded(xp, scratch, g, x, _lowest(x.dtype))
        offs = g.offsets()
        xp.copyto(out, src[offs[0]])
        for s in offs[1:]:
            xp.maximum(out, src[s], out=out)
        return out
    return run


def _first_max_masks(xp: Any, scratch: Scratch, g: Geom, src: Any, y: Any):
    """Yield (index of the offset's elements, bool mask) per kernel offset: True where that offset
    holds the window's first maximum (row-major window order, as TF), so each window routes to
    exactly one pixel. The mask buffer is reused: consume it before the next step."""
    shape = g.out_shape
    free = scratch("free", shape, bool)
    eq = scratch("eq", shape, bool)
    offs = g.offsets()
    last = len(offs) - 1
    for k, s in enumerate(offs):
        xp.equal(src[s], y, out=eq)
        if k == 0:
            if last:
                xp.logical_not(eq, out=free)
        else:
            xp.logical_and(eq, free, out=eq)
            if k < last:
                xp.greater(free, eq, out=free)  # free and not eq
        yield s, eq


def make_max_pool_grad(xp: Any, ksize: tuple[int, int], strides: tuple[int, int], padding: str,
                       jit: Any = None) -> Any:
    """MaxPoolGrad(x, y, dy) -> dx: each window's dy goes to its first maximum."""
    scratch = Scratch(xp)
    geom = _pool_geom(ksize, strides, padding)

    def run(x: Any, y: Any, dy: Any, out: Any = None) -> Any:
        g = geom(x.shape)
        out = _into(xp, out, x.shape, dy.dtype)
        if usable(jit, x, y, dy, out):
            dst = _c_order(xp, scratch, out)
            if g.tiles():
                jit.max_pool_grad_tiles(np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(dy),
                                        dst, g.kh, g.kw)
            else:
                sel = scratch("sel", g.out_shape, np.int32)
                jit.max_pool_grad(np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(dy), dst, sel,
                                  g.kh, g.kw, g.sh, g.sw, g.pt, g.pl)
            if dst is not out:
                xp.copyto(out, dst)
            return out
        if g.tiles():
            if g.oh * g.kh != g.h or g.ow * g.kw != g.w:
                out.fill(0)  # rows/columns no window covers
            for s, m in _first_max_masks(xp, scratch, g, x, y):
                xp.multiply(dy, m, out=out[s])
            return out
        src = _padded(xp, scratch, g, x, _lowest(x.dtype))
        acc = scratch("dxpad", (g.n, g.hp, g.wp, g.c), dy.dtype) if g.padded else out
        acc.fill(0)
        tmp = scratch("tmp", g.out_shape, dy.dtype)
        for s, m in _first_max_masks(xp, scratch, g, src, y):
            xp.multiply(dy, m, out=tmp)
            t = acc[s]
            xp.add(t, tmp, out=t)
        if g.padded:
            xp.copyto(out, acc[g.interior()])
        return out
    return run


def make_max_pool_grad_grad(xp: Any, ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> Any:
    """MaxPoolGradGrad(x, y, ddx) -> [N,OH,OW,C]: ddx gathered at each window's first maximum."""
    scratch = Scratch(xp)
    geom = _pool_geom(ksize, strides, padding)

    def run(x: Any, y: Any, ddx: Any, out: Any = None) -> Any:
        g = geom(x.shape)
        out = _into(xp, out, g.out_shape, ddx.dtype)
        out.fill(0)
        src = _padded(xp, scratch, g, x, _lowest(x.dtype))
        dsrc = _padded(xp, scratch, g, ddx, 0, "ddxpad")
        tmp = scratch("tmp", g.out_shape, ddx.dtype)
        for s, m in _first_max_masks(xp, scratch, g, src, y):
            xp.multiply(dsrc[s], m, out=tmp)
            xp.add(out, tmp, out=out)
        return out
    return run


# --- average pooling -----------------------------------------------------------------------------

def _avg_divisor(xp: Any, g: Geom, dtype: Any) -> Any:
    """1 / (number of non-padding elements) per window, shaped [OH, OW, 1] (TF's SAME avg pool)."""
    def counts(n_out: int, size: int, k: int, s: int, before: int) -> np.ndarray:
        start = np.arange(n_out) * s - before
        return np.minimum(start + k, size) - np.maximum(start, 0)
    if not g.padded:
        return np.dtype(dtype).type(1.0 / (g.kh * g.kw))
    c = np.outer(counts(g.oh, g.h, g.kh, g.sh, g.pt), counts(g.ow, g.w, g.kw, g.sw, g.pl))
    return xp.asarray((1.0 / c)[:, :, None].astype(dtype))


def make_avg_pool(xp: Any, ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> Any:
    """AvgPool(x) -> window sums divided by each window's count of non-padding elements."""
    scratch = Scratch(xp)
    geom = _pool_geom(ksize, strides, padding)
    divisors: dict[tuple, Any] = {}

    def run(x: Any, out: Any = None) -> Any:
        g = geom(x.shape)
        key = (x.shape, x.dtype)
        inv = divisors.get(key)
        if inv is None:
            inv = divisors[key] = _avg_divisor(xp, g, x.dtype)
        out = _into(xp, out, g.out_shape, x.dtype)
        src = _padded(xp, scratch, g, x, 0)
        offs = g.offsets()
        xp.copyto(out, src[offs[0]])
        for s in offs[1:]:
            xp.add(out, src[s], out=out)
        xp.multiply(out, inv, out=out)
        return out
    return run


def make_avg_pool_grad(xp: Any, ksize: tuple[int, int], strides: tuple[int, int], padding: str) -> Any:
    """AvgPoolGrad(x_like, dy) -> dx: dy / count spread evenly over each window's pixels."""
    scratch = Scratch(xp)
    geom = _pool_geom(ksize, strides, padding)
    divisors: dict[tuple, Any] = {}

    def run(x: Any, dy: Any, out: Any = None) -> Any:
        g = geom(x.shape)
        key = (x.shape, dy.dtype)
        inv = divisors.get(key)
        if inv is None:
            inv = divisors[key] = _avg_divisor(xp, g, dy.dtype)
        out = _into(xp, out, x.shape, dy.dtype)
        share = scratch("share", g.out_shape, dy.dtype)
        xp.multiply(dy, inv, out=share)
        acc = scratch("dxpad", (g.n, g.hp, g.wp, g.c), dy.dtype) if g.padded else out
        if g.tiles():
            if g.oh * g.kh != g.h or g.ow * g.kw != g.w:
                acc.fill(0)
            for s in g.offsets():
                acc[s] = share
        else:
            acc.fill(0)
            for s in g.offsets():
                t = acc[s]
                xp.add(t, share, out=t)
        if g.padded:
            xp.copyto(out, acc[g.interior()])
        return out
    return run


# --- depthwise convolution -----------------------------------------------------------------------

class ShapeOnly:
    """Stands in for an input that a kernel reads only for its shape (conv2d_transpose's output)."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)


def _depthwise_geom(strides: tuple[int, int], dilations: tuple[int, int], padding: Padding):
    cache: dict[tuple, Geom] = {}

    def get(xshape: tuple, wshape: tuple) -> Geom:
        key = (xshape, wshape)
        g = cache.get(key)
        if g is None:
            g = cache[key] = Geom(xshape, wshape[0], wshape[1], strides, dilations, padding)
        return g
    return get


def make_depthwise_conv2d(xp: Any, strides: tuple[int, int], dilations: tuple[int, int],
                          padding: Padding) -> Any:
    """DepthwiseConv2dNative(x [N,H,W,C], w [KH,KW,C,M]) -> [N,OH,OW,C*M]:
    out[..., c*M + m] = sum_{i,j} x_pad[window(i, j), c] * w[i, j, c, m], one pass per kernel offset."""
    scratch = Scratch(xp)
    geom = _depthwise_geom(strides, dilations, padding)

    def run(x: Any, w: Any, out: Any = None) -> Any:
        g = geom(x.shape, w.shape)
        c, mult = w.shape[2], w.shape[3]
        shape5 = (g.n, g.oh, g.ow, c, mult)
        res = out if out is not None and out.flags.c_contiguous else xp.empty(shape5, dtype=x.dtype)
        o5 = res.reshape(shape5)
        src = _padded(xp, scratch, g, x, 0)
        tmp = scratch("tmp", shape5, x.dtype)
        for k, s in enumerate(g.offsets()):
            i, j = divmod(k, g.kw)
            win = src[s][..., None]
            if k == 0:
                xp.multiply(win, w[i, j], out=o5)
            else:
                xp.multiply(win, w[i, j], out=tmp)
                xp.add(o5, tmp, out=o5)
        if out is None:
            return res.reshape(g.n, g.oh, g.ow, c * mult)
        if res is not out:
            xp.copyto(out, res.reshape(out.shape))
        return out
    return run


def make_depthwise_conv2d_backprop_input(xp: Any, strides: tuple[int, int], dilations: tuple[int, int],
                                         padding: Padding) -> Any:
    """DepthwiseConv2dNativeBackpropInput(x_like, w, dy) -> dx:
    dx_pad[window(i, j), c] += sum_m dy[..., c, m] w[i, j, c, m] for every kernel offset."""
    scratch = Scratch(xp)
    geom = _depthwise_geom(strides, dilations, padding)

    def run(x: Any, w: Any, dy: Any, out: Any = None) -> Any:
        g = geom(tuple(x.shape), w.shape)
        c, mult = w.shape[2], w.shape[3]
        dy5 = dy.reshape(g.n, g.oh, g.ow, c, mult)
        out = _into(xp, out, tuple(x.shape), dy.dtype)
        acc = scratch("dxpad", (g.n, g.hp, g.wp, g.c), dy.dtype) if g.padded else out
        acc.fill(0)
        tmp = scratch("tmp", (g.n, g.oh, g.ow, c), dy.dtype)
        prod = scratch("prod", dy5.shape, dy.dtype) if mult > 1 else None
        for k, s in enumerate(g.offsets()):
            i, j = divmod(k, g.kw)
            if mult == 1:
                xp.multiply(dy5[..., 0], w[i, j, :, 0], out=tmp)
            else:
                xp.multiply(dy5, w[i, j], out=prod)
                xp.sum(prod, axis=-1, out=tmp)
            t = acc[s]
            xp.add(t, tmp, out=t)
        if g.padded:
            xp.copyto(out, acc[g.interior()])
        return out
    return run


def make_depthwise_conv2d_backprop_filter(xp: Any, strides: tuple[int, int], dilations: tuple[int, int],
                                          padding: Padding) -> Any:
    """DepthwiseConv2dNativeBackpropFilter(x, w_like, dy) -> dw:
    dw[i, j, c, m] = sum_{n, oh, ow} x_pad[window(i, j), c] dy[..., c, m]."""
    scratch = Scratch(xp)
    geom = _depthwise_geom(strides, dilations, padding)

    def run(x: Any, w: Any, dy: Any, out: Any = None) -> Any:
        g = geom(x.shape, tuple(w.shape))
        c, mult = w.shape[2], w.shape[3]
        p = g.n * g.oh * g.ow
        dy3 = dy.reshape(p, c, mult)
        out = _into(xp, out, tuple(w.shape), dy.dtype)
        src = _padded(xp, scratch, g, x, 0)
        win = scratch("win", (g.n, g.oh, g.ow, c), x.dtype)
        for k, s in enumerate(g.offsets()):
            i, j = divmod(k, g.kw)
            xp.copyto(win, src[s])
            out[i, j] = xp.einsum("pc,pcm->cm", win.reshape(p, c), dy3)
        return out
    return run
