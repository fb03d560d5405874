"""The convolution variants and resize ops against PyTorch in float64: forward values, first-order
gradients (vector-Jacobian products) and second-order gradients (Hessian-vector products of
<grad f, u>), at 1e-9 relative.

TF's SAME padding is asymmetric (the odd pixel goes after), so the PyTorch side pads explicitly with
the amounts nnctl.ops.conv_kernels.out_size gives and then runs a VALID convolution; a transposed
convolution is PyTorch's full-size conv_transpose2d cropped (or zero-extended) to TF's output_shape.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.ops.conv_kernels import out_size

torch = pytest.importorskip("torch")
F = torch.nn.functional

_r = np.random.default_rng(11)


def _nchw(t):
    return t.permute(0, 3, 1, 2)


def _nhwc(t):
    return t.permute(0, 2, 3, 1)


def _same_pad(t, h, w, k, s, d, padding):
    """Pad an NCHW torch tensor as TF's SAME would for a (kh, kw) window."""
    if padding != "SAME":
        return t
    _, pt, pb = out_size(h, k[0], s[0], d[0], "SAME")
    _, pl, pr = out_size(w, k[1], s[1], d[1], "SAME")
    return F.pad(t, (pl, pr, pt, pb))


def _compare(build_nn, build_torch, inputs, second_order=True):
    """f = sum(W * op(inputs)): compare op, df/dinputs and d<df/dinputs, u>/dinputs with PyTorch."""
    wts = None
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.float64, v.shape) for v in inputs]
        y = build_nn(*phs)
        wts = _r.uniform(0.5, 1.5, size=y.get_shape().as_list())
        f = tf.reduce_sum(y * tf.constant(wts))
        grads = tf.gradients(f, phs)
        us = [_r.standard_normal(v.shape) for v in inputs]
        gu = tf.add_n([tf.reduce_sum(gr * tf.constant(u)) for gr, u in zip(grads, us)])
        hv = tf.gradients(gu, phs) if second_order else []
        feed = dict(zip(phs, inputs))
        sess = tf.Session(graph=g)
        y_nn, g_nn, h_nn = sess.run([y, grads, [h for h in hv if h is not None]], feed)

    ts = [torch.tensor(v, requires_grad=True) for v in inputs]
    yt = build_torch(*ts)
    np.testing.assert_allclose(y_nn, yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    ft = (yt * torch.tensor(wts)).sum()
    gt = torch.autograd.grad(ft, ts, create_graph=True)
    for a, b in zip(g_nn, gt):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-9, atol=1e-12)
    if second_order:
        gut = sum((gr * torch.tensor(u)).sum() for gr, u in zip(gt, us))
        # a linear op's gradient does not depend on its input: nothing to differentiate again
        ht = torch.autograd.grad(gut, ts, allow_unused=True) if gut.requires_grad else [None] * len(ts)
        ht = [h for h, n in zip(ht, hv) if n is not None]
        for a, b in zip(h_nn, ht):
            np.testing.assert_allclose(a, np.zeros_like(a) if b is None else b.numpy(), rtol=1e-9, atol=1e-12)


def _u(*shape):
    return _r.uniform(-1, 1, size=shape)


@pytest.mark.parametrize("padding,stride,dilation", [("VALID", 1, 2), ("SAME", 1, 2), ("SAME", 2, 1),
                                                     ("VALID", 2, 1)])
def test_conv2d_strided_and_dilated(padding, stride, dilation):
    x, w = _u(2, 7, 6, 3), _u(3, 2, 3, 4)
    _compare(lambda a, b: tf.nn.conv2d(a, b, stride, padding, dilations=dilation),
             lambda a, b: _nhwc(F.conv2d(_same_pad(_nchw(a), 7, 6, (3, 2), (stride,) * 2, (dilation,) * 2, padding),
                                         b.permute(3, 2, 0, 1), stride=stride, dilation=dilation)),
             [x, w])


@pytest.mark.parametrize("padding,stride,dilation", [("VALID", 1, 1), ("SAME", 2, 1), ("SAME", 1, 2)])
def test_conv1d(padding, stride, dilation):
    x, w = _u(2, 9, 3), _u(3, 3, 4)

    def ref(a, b):
        t = a.permute(0, 2, 1)
        if padding == "SAME":
            _, lo, hi = out_size(9, 3, stride, dilation, "SAME")
            t = F.pad(t, (lo, hi))
        return F.conv1d(t, b.permute(2, 1, 0), stride=stride, dilation=dilation).permute(0, 2, 1)
    _compare(lambda a, b: tf.nn.conv1d(a, b, stride, padding, dilations=dilation), ref, [x, w])


def test_grouped_conv2d():
    x, w = _u(2, 5, 5, 4), _u(3, 3, 2, 6)
    _compare(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"),
             lambda a, b: _nhwc(F.conv2d(_same_pad(_nchw(a), 5, 5, (3, 3), (1, 1), (1, 1), "SAME"),
                                         b.permute(3, 2, 0, 1), groups=2)), [x, w])


@pytest.mark.parametrize("padding,stride,rate,mult", [("VALID", 1, 1, 2), ("SAME", 2, 1, 1), ("SAME", 1, 2, 2),
                                                      ("VALID", 2, 1, 3)])
def test_depthwise_conv2d(padding, stride, rate, mult):
    x, w = _u(2, 7, 6, 3), _u(3, 2, 3, mult)

    def ref(a, b):
        t = _same_pad(_nchw(a), 7, 6, (3, 2), (stride,) * 2, (rate,) * 2, padding)
        k = b.permute(2, 3, 0, 1).reshape(3 * mult, 1, 3, 2)  # channel c*M + m, as TF
        return _nhwc(F.conv2d(t, k, stride=stride, dilation=rate, groups=3))
    _compare(lambda a, b: tf.nn.depthwise_conv2d(a, b, [1, stride, stride, 1], padding,
                                                 rate=None if rate == 1 else [rate, rate]), ref, [x, w])


def test_separable_conv2d():
    x, dw, pw = _u(2, 5, 6, 3), _u(3, 3, 3, 2), _u(1, 1, 6, 4)

    def ref(a, d, p):
        t = _same_pad(_nchw(a), 5, 6, (3, 3), (2, 2), (1, 1), "SAME")
        h = F.conv2d(t, d.permute(2, 3, 0, 1).reshape(6, 1, 3, 3), stride=2, groups=3)
        return _nhwc(F.conv2d(h, p.permute(3, 2, 0, 1)))
    _compare(lambda a, d, p: tf.nn.separable_conv2d(a, d, p, [1, 2, 2, 1], "SAME"), ref, [x, dw, pw])


@pytest.mark.parametrize("xs,ws,out,stride,padding", [
    ((2, 3, 3, 3), (3, 3, 2, 3), (6, 6), 2, "SAME"),
    ((1, 3, 4, 2), (3, 3, 3, 2), (5, 7), 2, "SAME"),
    ((2, 3, 3, 2), (3, 2, 2, 2), (7, 6), 2, "VALID"),
    ((1, 4, 4, 2), (2, 2, 3, 2), (5, 5), 1, "VALID"),
    ((1, 4, 3, 2), (4, 4, 1, 2), (8, 6), 2, "SAME"),
])
def test_conv2d_transpose(xs, ws, out, stride, padding):
    x, w = _u(*xs), _u(*ws)
    n, oc = xs[0], ws[2]

    def ref(a, b):
        full = F.conv_transpose2d(_nchw(a), b.permute(3, 2, 0, 1), stride=stride)
        _, pt, _ = out_size(out[0], ws[0], stride, 1, padding)
        _, pl, _ = out_size(out[1], ws[1], stride, 1, padding)
        full = F.pad(full, (0, max(0, pl + out[1] - full.shape[3]), 0, max(0, pt + out[0] - full.shape[2])))
        return _nhwc(full[:, :, pt:pt + out[0], pl:pl + out[1]])
    _compare(lambda a, b: tf.nn.conv2d_transpose(a, b, [n, out[0], out[1], oc], [1, stride, stride, 1], padding),
             ref, [x, w])


def test_conv2d_transpose_rejects_inconsistent_output_shape():
    x = tf.placeholder(tf.float32, [1, 4, 4, 3])
    w = tf.zeros([3, 3, 2, 3])
    with pytest.raises(ValueError, match=r"output_shape \[1, 10, 10, 2\] does not match value's shape"):
        tf.nn.conv2d_transpose(x, w, [1, 10, 10, 2], [1, 2, 2, 1], "SAME")
    with pytest.raises(ValueError, match="filter's in_channels"):
        tf.nn.conv2d_transpose(x, tf.zeros([3, 3, 2, 5]), [1, 8, 8, 2], [1, 2, 2, 1], "SAME")


def test_conv2d_transpose_dynamic_batch():
    x = tf.placeholder(tf.float32, [None, 2, 2, 1])
    w = tf.ones([2, 2, 1, 1])
    y = tf.nn.conv2d_transpose(x, w, tf.stack([tf.shape(x)[0], 4, 4, 1]), [1, 2, 2, 1], "VALID")
    assert y.get_shape().as_list() == [None, 4, 4, 1]
    with tf.Session() as s:
        v = s.run(y, {x: np.arange(12, dtype=np.float32).reshape(3, 2, 2, 1)})
    assert v.shape == (3, 4, 4, 1)
    assert v[1, 2, 3, 0] == 7.0  # each input pixel fills its own 2x2 block


def test_grouped_conv2d_rejects_indivisible_depth():
    with pytest.raises(ValueError, match=r"depth 5 .* nor is it a multiple"):
        tf.nn.conv2d(tf.zeros([1, 4, 4, 5]), tf.zeros([3, 3, 2, 4]), 1, "SAME")


# --- resize ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(7, 9), (10, 12), (3, 4), (11, 5)])
@pytest.mark.parametrize("align_corners,half_pixel", [(True, False), (False, True)])
def test_resize_bilinear(size, align_corners, half_pixel):
    # PyTorch's align_corners=False is TF's half_pixel_centers=True
    _compare(lambda a: tf.image.resize_bilinear(a, size, align_corners=align_corners,
                                                half_pixel_centers=half_pixel),
             lambda a: _nhwc(F.interpolate(_nchw(a), size=size, mode="bilinear", align_corners=align_corners)),
             [_u(2, 5, 6, 3)])


@pytest.mark.parametrize("size", [(10, 12), (7, 9), (3, 4)])
@pytest.mark.parametrize("half_pixel", [False, True])
def test_resize_nearest(size, half_pixel):
    # TF1's legacy rule floor(i * in / out) is PyTorch's "nearest", half_pixel_centers its "nearest-exact"
    mode = "nearest-exact" if half_pixel else "nearest"
    _compare(lambda a: tf.image.resize_nearest_neighbor(a, size, half_pixel_centers=half_pixel),
             lambda a: _nhwc(F.interpolate(_nchw(a), size=size, mode=mode)), [_u(2, 5, 6, 3)])


def test_resize_legacy_bilinear_and_align_corners_nearest_by_hand(fresh_graph):
    # TF1 defaults: src = i * in / out; rows 0, 0.5, 1, 1.5 -> clamped at the last row
    x = np.array([0.0, 10.0]).reshape(1, 2, 1, 1)
    with tf.Session() as s:
        b = s.run(tf.image.resize_bilinear(x, [4, 1]))
        n = s.run(tf.image.resize_nearest_neighbor(np.arange(3.0).reshape(1, 3, 1, 1), [5, 1], align_corners=True))
    np.testing.assert_allclose(b.reshape(-1), [0.0, 5.0, 10.0, 10.0])
    # align_corners: src = i * 2 / 4 = 0, .5, 1, 1.5, 2 rounded half away from zero -> 0, 1, 1, 2, 2
    np.testing.assert_allclose(n.reshape(-1), [0.0, 1.0, 1.0, 2.0, 2.0])


def test_resize_rejects_both_corner_rules():
    with pytest.raises(ValueError, match="align_corners must be False"):
        tf.image.resize_bilinear(tf.zeros([1, 2, 2, 1]), [4, 4], align_corners=True, half_pixel_centers=True)


@pytest.mark.parametrize("padding,out", [("SAME", (4, 3)), ("VALID", (8, 7))])
def test_conv2d_transpose_dilated(padding, out):
    x, w = _u(1, 4, 3, 2), _u(3, 3, 3, 2)

    def ref(a, b):
        full = F.conv_transpose2d(_nchw(a), b.permute(3, 2, 0, 1), stride=1, dilation=2)
        _, pt, _ = out_size(out[0], 3, 1, 2, padding)
        _, pl, _ = out_size(out[1], 3, 1, 2, padding)
        return _nhwc(full[:, :, pt:pt + out[0], pl:pl + out[1]])
    _compare(lambda a, b: tf.nn.conv2d_transpose(a, b, [1, out[0], out[1], 3], 1, padding, dilations=2), ref, [x, w])
