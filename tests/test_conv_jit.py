"""The compiled conv/pool loops (nnctl/ops/conv_jit.py) against the numpy reference kernels.

Every case runs the same ``make_*`` kernel twice, with ``jit=None`` (the xp code) and with the
compiled C loops of nnctl/csrc/conv.c (im2col, col2im, pooling: ``IM2COL``, the compiled
kernels without the direct convolution), and compares them bit for bit: the loops add their
terms in the xp code's order, so a run on host memory and one on a device (which keeps the xp
code) agree exactly. The direct convolution (dconv.c), which sums in its own order, has its own
tests in tests/test_dconv.py. The float64 gradient checks of both paths run through sessions: the gradcheck table
(tests/test_gradcheck.py) with the default (compiled) path, and its conv/pool rows again here
with NNCTL_JIT=0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from nnctl.ops import conv_jit  # noqa: E402
from nnctl.ops import conv_kernels as ck  # noqa: E402

JIT = conv_jit.load() if conv_jit.enabled() else None
IM2COL = SimpleNamespace(**{**vars(JIT), "direct": None}) if JIT is not None else None
needs_jit = pytest.mark.skipif(JIT is None, reason="the compiled kernels are not built here (or NNCTL_JIT=0)")
_r = np.random.default_rng(18)

# (x shape, w shape, strides, dilations, padding): SAME/VALID/explicit, strides, dilations, odd
# sizes, batch 1, one channel, 1x1 with stride 2 (a strided copy, not a view)
CONV_CASES = [
    ((2, 7, 6, 3), (3, 3, 3, 4), (1, 1), (1, 1), "SAME"),
    ((2, 9, 7, 2), (3, 3, 2, 5), (1, 1), (1, 1), "VALID"),
    ((1, 8, 8, 3), (3, 3, 3, 2), (2, 2), (1, 1), "SAME"),
    ((3, 9, 7, 2), (2, 2, 2, 5), (2, 2), (1, 1), "VALID"),
    ((2, 10, 9, 3), (3, 3, 3, 2), (1, 1), (2, 2), "SAME"),
    ((1, 6, 7, 4), (2, 3, 4, 2), (1, 2), (1, 1), "SAME"),
    ((2, 5, 5, 4), (1, 1, 4, 3), (2, 2), (1, 1), "VALID"),
    ((2, 6, 6, 3), (3, 3, 3, 3), (1, 1), (1, 1), ((1, 2), (0, 1))),
    ((1, 5, 5, 1), (3, 3, 1, 1), (1, 1), (1, 1), "SAME"),   # one channel in and out, batch 1
    ((2, 4, 4, 2), (4, 4, 2, 3), (1, 1), (1, 1), "VALID"),  # one output pixel
    ((3, 8, 8, 2), (3, 3, 2, 4), (1, 1), (1, 1), "SAME"),   # 64 rows an image: chunks of whole images
    ((5, 4, 4, 3), (3, 3, 3, 2), (1, 1), (1, 1), "SAME"),   # 16 rows an image, a ragged last chunk
    ((3, 8, 8, 2), (3, 3, 2, 4), (2, 2), (1, 1), "SAME"),   # 16 rows an image
    ((3, 8, 8, 1), (3, 3, 1, 2), (1, 1), (1, 1), "SAME"),   # few channels (transposed columns), chunks
    ((20, 5, 5, 1), (3, 3, 1, 2), (1, 1), (1, 1), "SAME"),  # few channels, 16-image chunks, ragged
]

# (x shape, ksize, strides, padding): tiles, tiles with a ragged edge, overlapping, SAME
POOL_CASES = [
    ((2, 6, 8, 3), (2, 2), (2, 2), "VALID"),
    ((2, 7, 5, 3), (2, 2), (2, 2), "VALID"),
    ((2, 7, 6, 2), (3, 3), (2, 2), "SAME"),
    ((1, 5, 5, 1), (3, 3), (1, 1), "SAME"),
    ((2, 6, 6, 2), (2, 2), (2, 2), "SAME"),
    ((2, 9, 8, 3), (3, 2), (2, 1), "VALID"),
    ((1, 1, 1, 1), (1, 1), (1, 1), "VALID"),
]


@needs_jit
@pytest.mark.parametrize("chunk", [None, 1], ids=["whole_batch", "image_by_image"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,strides,dil,padding", CONV_CASES)
def test_conv_kernels_match_numpy(dtype, xs, ws, strides, dil, padding, chunk, monkeypatch):
    if chunk is not None:  # im2col/col2im + GEMM in the smallest chunks: still the same bits
        monkeypatch.setattr(ck, "JIT_CHUNK_BYTES", chunk)
    x = _r.standard_normal(xs).astype(dtype)
    w = _r.standard_normal(ws).astype(dtype)
    y_ref = ck.make_conv2d(np, strides, dil, padding)(x, w)
    y = ck.make_conv2d(np, strides, dil, padding, jit=IM2COL)(x, w)
    np.testing.assert_array_equal(y, y_ref)
    dy = _r.standard_normal(y.shape).astype(dtype)
    args = (strides, dil, padding)
    np.testing.assert_array_equal(ck.make_conv2d_backprop_filter(np, *args, jit=IM2COL)(x, w, dy),
                               ck.make_conv2d_backprop_filter(np, *args)(x, w, dy))
    dx_ref = ck.make_conv2d_backprop_input(np, *args)(x, w, dy)
    bi = ck.make_conv2d_backprop_input(np, *args, jit=IM2COL)
    np.testing.assert_array_equal(bi(x, w, dy), dx_ref)
    # into a bound buffer, twice (scratch reuse must not leak the first call's values), and into a
    # non-contiguous one (the loops write a C-ordered scratch that is then copied)
    out = np.full(xs, 7.0, dtype)
    bi(x, w, dy, out=out)
    bi(x, w, dy, out=out)
    np.testing.assert_array_equal(out, dx_ref)
    out_f = np.empty(xs[::-1], dtype).T
    bi(x, w, dy, out=out_f)
    np.testing.assert_array_equal(out_f, dx_ref)
    # a strided (non-contiguous) input gives the same columns
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2)).swapaxes(1, 2)
    np.testing.assert_array_equal(ck.make_conv2d(np, *args, jit=IM2COL)(xt, w), y_ref)


# Batches the default chunk size splits (digits-cnn's held-out batch; few channels, transposed
# columns). The chunks come from the geometry alone, so both paths make the same GEMM calls: on a
# BLAS whose rows depend on the call's row count (OpenBLAS 0.3.31 on an AMD EPYC: every chunk size
# tried), a whole-batch GEMM on one path and chunked ones on the other disagreed in the last bits.
@needs_jit
@pytest.mark.parametrize("xs,ws", [((360, 4, 4, 16), (3, 3, 16, 32)), ((1437, 8, 8, 1), (3, 3, 1, 16)),
                                   ((130, 8, 8, 16), (3, 3, 16, 8))])
def test_default_chunks_are_the_same_calls_on_both_paths(xs, ws):
    args = ((1, 1), (1, 1), "SAME")
    g = ck.Geom(xs, ws[0], ws[1], *args)
    assert ck._chunk_images(g, 4, transposed=True) > 0   # the case is chunked
    x = _r.standard_normal(xs).astype(np.float32)
    w = _r.standard_normal(ws).astype(np.float32)
    y_ref = ck.make_conv2d(np, *args)(x, w)
    np.testing.assert_array_equal(ck.make_conv2d(np, *args, jit=IM2COL)(x, w), y_ref)
    dy = _r.standard_normal(y_ref.shape).astype(np.float32)
    np.testing.assert_array_equal(ck.make_conv2d_backprop_input(np, *args, jit=IM2COL)(x, w, dy),
                                  ck.make_conv2d_backprop_input(np, *args)(x, w, dy))
    np.testing.assert_array_equal(ck.make_conv2d_backprop_filter(np, *args, jit=IM2COL)(x, w, dy),
                                  ck.make_conv2d_backprop_filter(np, *args)(x, w, dy))


def _input_gradient_by_definition(xs, w, dy, strides, dil, padding):
    """dL/dx scattered window by window in float64: x[n, oh*sh + i*dh - pt, ...] += dy w^T."""
    g = ck.Geom(xs, w.shape[0], w.shape[1], strides, dil, padding)
    acc = np.zeros((g.n, g.hp, g.wp, g.c))
    for i in range(g.kh):
        for j in range(g.kw):
            acc[g.offset(i, j)] += np.einsum("nabo,co->nabc", dy, w[i, j])
    return acc[g.interior()]


@pytest.mark.parametrize("xs,ws,strides,dil,padding,gathers", [(*c, None) for c in CONV_CASES if c[2] == (1, 1)] + [
    ((2, 7, 6, 4), (3, 3, 4, 4), (1, 1), (1, 1), "SAME", True),              # a resnet block's shape
    ((2, 7, 6, 3), (3, 2, 3, 3), (1, 1), (1, 1), ((2, 0), (1, 0)), True),     # explicit, within the kernel
    ((2, 9, 9, 4), (3, 3, 4, 4), (1, 1), (2, 2), "SAME", True),              # dilated
    ((2, 7, 6, 3), (3, 3, 3, 3), (1, 1), (1, 1), ((3, 0), (0, 2)), False),    # pads wider than the kernel
    ((2, 9, 9, 2), (3, 3, 2, 4), (1, 1), (1, 1), "VALID", False)])            # dy's columns would be bigger
@pytest.mark.parametrize("jit", [None, "compiled"])
def test_unit_stride_input_gradient_as_a_flipped_convolution(xs, ws, strides, dil, padding, gathers, jit):
    """With unit strides Conv2DBackpropInput runs as a convolution of dy with the flipped,
    transposed kernel where that copies no more than the scatter: the gradient by definition on
    both paths, whichever it takes."""
    if jit and JIT is None:
        pytest.skip("the compiled kernels are not built here")
    x = _r.standard_normal(xs)
    w = _r.standard_normal(ws)
    y = ck.make_conv2d(np, strides, dil, padding)(x, w)
    dy = _r.standard_normal(y.shape)
    k = ck.make_conv2d_backprop_input(np, strides, dil, padding, jit=JIT if jit else None)
    dx = k(x, w, dy)
    np.testing.assert_allclose(dx, _input_gradient_by_definition(xs, w, dy, strides, dil, padding), rtol=1e-12,
                               atol=1e-12)
    if gathers is not None:
        assert [c is not None for c in k.as_conv.values()] == [gathers]


@needs_jit
@pytest.mark.parametrize("chunk", [1, 2], ids=["image_by_image", "ragged"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,strides,dil,padding", CONV_CASES)
def test_filter_gradient_in_image_chunks(dtype, xs, ws, strides, dil, padding, chunk, monkeypatch):
    """The filter gradient summed chunk by chunk: the compiled and the xp path split it alike (same
    bits), and the sum agrees with one whole-batch GEMM to rounding."""
    x = _r.standard_normal(xs).astype(dtype)
    w = _r.standard_normal(ws).astype(dtype)
    args = (strides, dil, padding)
    dy = _r.standard_normal(ck.make_conv2d(np, *args)(x, w).shape).astype(dtype)
    whole = ck.make_conv2d_backprop_filter(np, *args)(x, w, dy)
    g = ck.Geom(xs, ws[0], ws[1], strides, dil, padding)
    per_image = g.oh * g.ow * g.kh * g.kw * g.c * x.itemsize
    monkeypatch.setattr(ck, "FILTER_CHUNK_BYTES", chunk * per_image)  # `chunk` images a GEMM
    ref = ck.make_conv2d_backprop_filter(np, *args)(x, w, dy)
    bf = ck.make_conv2d_backprop_filter(np, *args, jit=IM2COL)
    np.testing.assert_array_equal(bf(x, w, dy), ref)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ref, whole, rtol=tol, atol=tol * float(np.abs(whole).max()))
    out = np.full(ws, 7.0, dtype)  # into a bound buffer twice (the sum must restart), and a strided one
    bf(x, w, dy, out=out)
    bf(x, w, dy, out=out)
    np.testing.assert_array_equal(out, ref)
    out_f = np.empty(ws[::-1], dtype).T
    bf(x, w, dy, out=out_f)
    np.testing.assert_array_equal(out_f, ref)


@needs_jit
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,k,s,padding", POOL_CASES)
def test_max_pool_kernels_match_numpy(dtype, xs, k, s, padding):
    x = _r.permutation(np.arange(np.prod(xs))).reshape(xs).astype(dtype)  # distinct values
    x.flat[:: 5] = x.flat[1:: 5][: x.flat[:: 5].size]  # and some ties: the first maximum wins
    y_ref = ck.make_max_pool(np, k, s, padding)(x)
    pool = ck.make_max_pool(np, k, s, padding, jit=JIT)
    np.testing.assert_array_equal(pool(x), y_ref)
    dy = _r.standard_normal(y_ref.shape).astype(dtype)
    dx_ref = ck.make_max_pool_grad(np, k, s, padding)(x, y_ref, dy)
    grad = ck.make_max_pool_grad(np, k, s, padding, jit=JIT)
    np.testing.assert_array_equal(grad(x, y_ref, dy), dx_ref)
    out = np.full(xs, 3.0, dtype)
    grad(x, y_ref, dy, out=out)
    grad(x, y_ref, dy, out=out)
    np.testing.assert_array_equal(out, dx_ref)
    y_out = np.empty(y_ref.shape[::-1], dtype).T
    pool(x, out=y_out)
    np.testing.assert_array_equal(y_out, y_ref)


@needs_jit
def test_max_pool_nan_and_infinities_as_numpy():
    x = _r.standard_normal((2, 4, 4, 2))
    x[0, 0, 0, 0] = np.nan      # NaN wins its window; the window routes its gradient nowhere
    x[0, 3, 3, 1] = np.nan
    x[1, 0, 1, 0] = np.inf
    x[1, 2:, 2:, 1] = -np.inf   # a window of -inf: its max is -inf, the first pixel takes dy
    for k, s, pad in [((2, 2), (2, 2), "VALID"), ((3, 3), (1, 1), "SAME")]:
        y_ref = ck.make_max_pool(np, k, s, pad)(x)
        y = ck.make_max_pool(np, k, s, pad, jit=JIT)(x)
        np.testing.assert_array_equal(y, y_ref)
        dy = np.ones_like(y)
        np.testing.assert_array_equal(ck.make_max_pool_grad(np, k, s, pad, jit=JIT)(x, y, dy),
                                      ck.make_max_pool_grad(np, k, s, pad)(x, y_ref, dy))


def test_other_dtypes_take_the_numpy_path():
    """int32 pooling and float16 convolution are not compiled: the kernels still answer (xp code)."""
    x = _r.integers(-50, 50, (2, 6, 6, 3)).astype(np.int32)
    y = ck.make_max_pool(np, (2, 2), (2, 2), "VALID", jit=JIT)(x)
    np.testing.assert_array_equal(y, ck.make_max_pool(np, (2, 2), (2, 2), "VALID")(x))
    assert not conv_jit.usable(JIT, x)
    xh = _r.standard_normal((1, 5, 5, 2)).astype(np.float16)
    wh = _r.standard_normal((3, 3, 2, 2)).astype(np.float16)
    np.testing.assert_array_equal(ck.make_conv2d(np, (1, 1), (1, 1), "SAME", jit=IM2COL)(xh, wh),
                                  ck.make_conv2d(np, (1, 1), (1, 1), "SAME")(xh, wh))


def test_nnctl_jit_0_turns_the_compiled_path_off(monkeypatch):
    monkeypatch.setenv("NNCTL_JIT", "0")
    assert conv_jit.load() is None
    monkeypatch.setenv("NNCTL_JIT", "1")
    assert (conv_jit.load() is None) == (JIT is None)


def test_programs_never_import_a_jit_and_load_the_kernels_only_for_big_ops():
    """A small program does not load the compiled library; a conv program does (when it is built),
    and neither imports numba or llvmlite (their ~120 MB and ~1 s are what the C library avoids)."""
    code = """
import sys
import numpy as np
import nnctl as tf
from nnctl.runtime import native
x = tf.placeholder(tf.float32, [None, 3])
tf.Session().run(tf.nn.relu(x), {x: np.ones((2, 3), np.float32)})
print(native._lib is None, end=" ")
c = tf.nn.conv2d(tf.placeholder(tf.float32, [1, 4, 4, 1]), np.ones((3, 3, 1, 1), np.float32), 1, "SAME")
tf.Session().run(c, {c.op.inputs[0]: np.ones((1, 4, 4, 1), np.float32)})
print(bool(native._lib), "numba" in sys.modules or "llvmlite" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "NNCTL_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", str(JIT is not None), "False"]


def _window_rows():
    from grad_rows_nn import ROWS
    window_ops = {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "MaxPool", "MaxPoolGrad",
                  "Conv2DTranspose"}
    return [r for r in ROWS if window_ops & set(r.ops)]


WINDOW_ROWS = _window_rows()


@pytest.mark.parametrize("row", WINDOW_ROWS, ids=[r.name for r in WINDOW_ROWS])
def test_window_gradient_rows_on_the_numpy_path(row, monkeypatch):
    """The conv/pool float64 gradient checks again with the compiled loops off (NNCTL_JIT=0)."""
    from gradcheck_util import check_row
    monkeypatch.setenv("NNCTL_JIT", "0")
    check_row(row)


@needs_jit
def test_threaded_loops_give_the_same_bits(monkeypatch):
    """NNCTL_NUM_THREADS > 1 splits the batch over threads: the same results as one serial call."""
    monkeypatch.setenv("NNCTL_NUM_THREADS", "2")
    threaded = conv_jit.load()
    assert threaded is not None
    x = _r.standard_normal((4, 9, 8, 3)).astype(np.float32)
    w = _r.standard_normal((3, 3, 3, 5)).astype(np.float32)
    for j in (JIT, threaded):
        y = ck.make_conv2d(np, (1, 1), (1, 1), "SAME", jit=j)(x, w)
        dx = ck.make_conv2d_backprop_input(np, (2, 2), (1, 1), "SAME", jit=j)(x, w, y[:, ::2, ::2])
        p = ck.make_max_pool(np, (3, 3), (2, 2), "SAME", jit=j)(x)
        dp = ck.make_max_pool_grad(np, (3, 3), (2, 2), "SAME", jit=j)(x, p, p)
        if j is JIT:
            ref = (y, dx, p, dp)
    for a, b in zip(ref, (y, dx, p, dp)):
        np.testing.assert_array_equal(a, b)


@needs_jit
def test_kernels_sharing_the_threads_chunk_buffers_stay_exact(monkeypatch):
    """Conv kernels of one thread share their column-chunk buffers (_Transients): interleaved calls
    of different convs of the same chunk shape still give each its own reference bits."""
    monkeypatch.setattr(ck, "JIT_CHUNK_BYTES", 1)
    monkeypatch.setattr(ck, "FILTER_CHUNK_BYTES", 1)
    xs, ws = (3, 8, 8, 2), (3, 3, 2, 4)
    xa, xb = (_r.standard_normal(xs).astype(np.float32) for _ in range(2))
    w = _r.standard_normal(ws).astype(np.float32)
    ka, kb = (ck.make_conv2d(np, (1, 1), (1, 1), "SAME", jit=IM2COL) for _ in range(2))
    fa, fb = (ck.make_conv2d_backprop_filter(np, (1, 1), (1, 1), "SAME", jit=IM2COL) for _ in range(2))
    ref = ck.make_conv2d(np, (1, 1), (1, 1), "SAME")
    ref_f = ck.make_conv2d_backprop_filter(np, (1, 1), (1, 1), "SAME")
    dy = _r.standard_normal((3, 8, 8, 4)).astype(np.float32)
    for _ in range(2):
        ya, yb = ka(xa, w), kb(xb, w)
        np.testing.assert_array_equal(ya, ref(xa, w))
        np.testing.assert_array_equal(yb, ref(xb, w))
        np.testing.assert_array_equal(fa(xa, w, dy), ref_f(xa, w, dy))
        np.testing.assert_array_equal(fb(xb, w, dy), ref_f(xb, w, dy))
