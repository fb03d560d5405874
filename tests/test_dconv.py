"""The direct convolution (nnctl/csrc/dconv.c, through conv_jit's ``direct`` kernels).

It sums every output value as one chain of fused multiply-adds in its own order, so it is held
to the float64 result by definition within the rounding bound of such a chain (K terms: at most
about K * eps * sum |terms|), not to im2col + BLAS bit for bit. Its bits must not depend on how
the work is split over threads, and each shape class must take the path it claims. The float64
gradient checks (tests/test_gradcheck.py) run the same kernels through sessions.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from test_conv_jit import CONV_CASES

from nnctl.ops import conv_jit
from nnctl.ops import conv_kernels as ck
from nnctl.runtime.native import library

JIT = conv_jit.load() if conv_jit.enabled() else None
DIRECT = getattr(JIT, "direct", None)
needs_direct = pytest.mark.skipif(DIRECT is None, reason="no compiled kernels, or a CPU without FMA")
_r = np.random.default_rng(21)

# test_conv_jit's geometries (SAME/VALID/explicit, strides, dilations, one channel, one output
# pixel), and: output channels at and past one block (16 float32 / 8 float64), input channels past
# a filter-gradient block (6 or 12), strided and asymmetric, a 5x5 window at stride 2
CASES = CONV_CASES + [
    ((2, 6, 5, 14), (3, 3, 14, 16), (1, 1), (1, 1), "SAME"),
    ((2, 7, 7, 13), (3, 3, 13, 33), (2, 2), (1, 1), "SAME"),
    ((3, 8, 8, 16), (3, 3, 16, 32), (2, 2), (1, 1), "SAME"),
    ((2, 9, 11, 5), (3, 3, 5, 20), (3, 2), (1, 1), ((2, 1), (0, 2))),
    ((1, 5, 5, 2), (5, 5, 2, 3), (2, 2), (1, 1), "SAME"),
]


def _by_definition(x, w, dy, strides, dil, padding):
    """Conv2D (y [n, oh, ow, o]), its input and filter gradients for ``dy`` in float64 by definition,
    window offset by window offset."""
    g = ck.Geom(x.shape, w.shape[0], w.shape[1], strides, dil, padding)
    xp = np.zeros((g.n, g.hp, g.wp, g.c))
    xp[g.interior()] = x
    y = np.zeros((g.n, g.oh, g.ow, w.shape[3]))
    dx = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    for i in range(g.kh):
        for j in range(g.kw):
            y += np.einsum("nabc,co->nabo", xp[g.offset(i, j)], w[i, j])
            if dy is not None:
                dx[g.offset(i, j)] += np.einsum("nabo,co->nabc", dy, w[i, j])
                dw[i, j] = np.einsum("nabc,nabo->co", xp[g.offset(i, j)], dy)
    return y, dx[g.interior()], dw


def _bound(dtype, terms, scale):
    """The rounding bound of a chain of ``terms`` fused multiply-adds over terms whose absolute
    values sum to ``scale``: terms * eps * scale (unit roundoff eps/2, with room)."""
    return terms * np.finfo(dtype).eps * scale + np.finfo(dtype).tiny


@needs_direct
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,strides,dil,padding", CASES)
def test_direct_conv_within_the_rounding_of_one_fma_chain(dtype, xs, ws, strides, dil, padding):
    x = _r.standard_normal(xs).astype(dtype)
    w = _r.standard_normal(ws).astype(dtype)
    args = (strides, dil, padding)
    got_y = ck.make_conv2d(np, *args, jit=JIT)(x, w)
    dy = _r.standard_normal(got_y.shape).astype(dtype)
    got_dx = ck.make_conv2d_backprop_input(np, *args, jit=JIT)(x, w, dy)
    got_dw = ck.make_conv2d_backprop_filter(np, *args, jit=JIT)(x, w, dy)
    assert got_y.dtype == got_dx.dtype == got_dw.dtype == dtype
    x64, w64, dy64 = (a.astype(np.float64) for a in (x, w, dy))   # exact: the references see the same inputs
    refs = _by_definition(x64, w64, dy64, *args)
    scales = _by_definition(np.abs(x64), np.abs(w64), np.abs(dy64), *args)
    kh, kw, c, o = ws
    n_pix = dy.shape[0] * dy.shape[1] * dy.shape[2]
    for got, ref, scale, terms in zip((got_y, got_dx, got_dw), refs, scales, (kh * kw * c, kh * kw * o, n_pix)):
        err = np.abs(got.astype(np.float64) - ref)
        bound = _bound(dtype, terms, scale)
        assert np.all(err <= bound), f"max error {err.max():.3g}, bound there {bound.flat[err.argmax()]:.3g}"
    # and an error the bound would catch: one value off by 1% of its terms' scale (a dropped or
    # doubled term is of that order)
    bad = got_dw.astype(np.float64).copy()
    bad.flat[0] += 1e-2 * scales[2].flat[0]
    assert not np.all(np.abs(bad - refs[2]) <= _bound(dtype, n_pix, scales[2]))


@needs_direct
@pytest.mark.parametrize("xs,ws,strides,dil,padding", CASES)
def test_direct_conv_bits_do_not_depend_on_the_threads(xs, ws, strides, dil, padding, monkeypatch):
    """The pixel ranges and filter tasks split over threads never change a value's chain."""
    monkeypatch.setattr(conv_jit, "workers_spinning", lambda: False)   # (else one thread after a GEMM)
    lib = library()
    one, three = (SimpleNamespace(**{**vars(JIT), "direct": conv_jit._build(lib, threads=1, gemm=t).direct})
                  for t in (1, 3))
    x = _r.standard_normal(xs).astype(np.float32)
    w = _r.standard_normal(ws).astype(np.float32)
    args = (strides, dil, padding)
    res = []
    for j in (one, three):
        y = ck.make_conv2d(np, *args, jit=j)(x, w)
        dy = np.cos(y)
        res.append((y, ck.make_conv2d_backprop_input(np, *args, jit=j)(x, w, dy),
                    ck.make_conv2d_backprop_filter(np, *args, jit=j)(x, w, dy)))
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)


@needs_direct
def test_direct_conv_into_bound_and_strided_buffers():
    """out= buffers: written twice (the packed scratch must not leak a call's values into the
    next), and non-contiguous ones (a C-ordered scratch, then copied)."""
    xs, ws, args = (3, 8, 7, 5), (3, 3, 5, 20), ((2, 2), (1, 1), "SAME")
    x = _r.standard_normal(xs).astype(np.float32)
    w = _r.standard_normal(ws).astype(np.float32)
    conv = ck.make_conv2d(np, *args, jit=JIT)
    y = conv(x, w)
    dy = np.sin(y)
    bi = ck.make_conv2d_backprop_input(np, *args, jit=JIT)
    bf = ck.make_conv2d_backprop_filter(np, *args, jit=JIT)
    dx, dw = bi(x, w, dy), bf(x, w, dy)
    for k, a, ref in ((conv, (x, w), y), (bi, (x, w, dy), dx), (bf, (x, w, dy), dw)):
        out = np.full(ref.shape, 7.0, np.float32)
        k(*a, out=out)
        k(*a, out=out)
        np.testing.assert_array_equal(out, ref)
        out_f = np.empty(ref.shape[::-1], np.float32).T
        k(*a, out=out_f)
        np.testing.assert_array_equal(out_f, ref)
    # a strided input and dy read like contiguous ones
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2)).swapaxes(1, 2)
    np.testing.assert_array_equal(conv(xt, w), y)
    dyt = np.ascontiguousarray(np.swapaxes(dy, 1, 2)).swapaxes(1, 2)
    np.testing.assert_array_equal(bf(xt, w, dyt), dw)
    np.testing.assert_array_equal(bi(x, w, dyt), dx)


@needs_direct
def test_direct_conv_takes_the_shapes_it_claims(monkeypatch):
    """Direct for windows of 16 terms or more but a 1x1 stride-1 unpadded one (a GEMM over x
    itself), the input gradient for strided convolutions (unit strides: a flipped convolution, or
    col2im); none without FMA (jit.direct None): im2col + GEMM, unchanged."""
    calls = []

    def spied(name):
        f = getattr(DIRECT, name)

        def call(*a):
            calls.append(name)
            return f(*a)
        return call
    spy = SimpleNamespace(**{name: spied(name) for name in ("conv", "conv_input", "conv_filter")})
    jit = SimpleNamespace(**{**vars(JIT), "direct": spy})
    for ws, strides, want in (((3, 3, 8, 4), (1, 1), ["conv", "conv", "conv_filter"]),   # dx: a flipped conv
                              ((3, 3, 4, 8), (1, 1), ["conv", "conv_filter"]),           # O > C: dx by col2im
                              ((3, 3, 4, 8), (2, 2), ["conv", "conv_input", "conv_filter"]),
                              ((1, 1, 16, 8), (2, 2), ["conv", "conv_input", "conv_filter"]),
                              ((3, 3, 1, 8), (1, 1), []),                                 # 9 terms a window
                              ((1, 1, 4, 8), (1, 1), [])):
        calls.clear()
        x = _r.standard_normal((2, 6, 6, ws[2])).astype(np.float32)
        w = _r.standard_normal(ws).astype(np.float32)
        y = ck.make_conv2d(np, strides, (1, 1), "SAME", jit=jit)(x, w)
        ck.make_conv2d_backprop_input(np, strides, (1, 1), "SAME", jit=jit)(x, w, y)
        ck.make_conv2d_backprop_filter(np, strides, (1, 1), "SAME", jit=jit)(x, w, y)
        assert calls == want, (ws, strides)
    no_fma = SimpleNamespace(**{**vars(JIT), "direct": None})
    g = ck.Geom(x.shape, 3, 3, (1, 1), (1, 1), "SAME")
    assert ck._direct(no_fma, g, x) is None and ck._direct(JIT, g, x) is DIRECT
    assert ck._direct(JIT, g, x.astype(np.float16)) is None   # other dtypes: numpy
