"""Forward values of the nn ops against straightforward numpy references, shape errors at graph
construction, run-time errors, and dropout's determinism and gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnctl as tf
from nnctl import nn
from nnctl.errors import InvalidArgumentError

_r = np.random.default_rng(7)


def _run(build, *inputs, dtype=np.float64):
    """Build from placeholders in a fresh graph; return the values of run 1 and run 2 (the bound plan)."""
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape) for v in inputs]
        out = build(*phs)
        sess = tf.Session(graph=g)
        feed = dict(zip(phs, inputs))
        first = sess.run(out, feed)
        second = sess.run(out, feed)
    return first, second


def _check(build, ref, *inputs, rtol=1e-10, atol=1e-12):
    first, second = _run(build, *inputs)
    firsts = first if isinstance(first, (list, tuple)) else [first]
    seconds = second if isinstance(second, (list, tuple)) else [second]
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    for a, b, r in zip(firsts, seconds, refs):
        assert a.shape == np.shape(r), (a.shape, np.shape(r))
        np.testing.assert_allclose(a, r, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, r, rtol=rtol, atol=atol)


# --- references --------------------------------------------------------------------------------

def _same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _geometry(h, w, kh, kw, sh, sw, padding, dh=1, dw=1):
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "VALID":
        return (h - ekh) // sh + 1, (w - ekw) // sw + 1, 0, 0, 0, 0
    oh, pt, pb = _same_pads(h, ekh, sh)
    ow, pl, pr = _same_pads(w, ekw, sw)
    return oh, ow, pt, pb, pl, pr


def ref_conv2d(x, w, strides, padding, dilations=(1, 1)):
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    sh, sw = strides
    dh, dw = dilations
    oh, ow, pt, pb, pl, pr = _geometry(h, wd, kh, kw, sh, sw, padding, dh, dw)
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + wd] = x
    out = np.zeros((n, oh, ow, o))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for p in range(kh):
                    for q in range(kw):
                        out[b, i, j] += xp[b, i * sh + p * dh, j * sw + q * dw] @ w[p, q]
    return out


def ref_pool(x, k, s, padding, kind):
    n, h, w, c = x.shape
    oh, ow, pt, pb, pl, pr = _geometry(h, w, k[0], k[1], s[0], s[1], padding)
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * s[0] - pt, j * s[1] - pl
            win = x[:, max(r0, 0):min(r0 + k[0], h), max(c0, 0):min(c0 + k[1], w)]
            # TF's SAME average divides by the number of real (non-padding) elements in the window
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


# --- conv2d ------------------------------------------------------------------------------------

CONV_CASES = [
    # x shape, w shape, strides, padding, dilations
    ((2, 5, 6, 3), (3, 2, 3, 4), 1, "VALID", 1),
    ((2, 5, 5, 2), (3, 3, 2, 3), [1, 1], "SAME", 1),
    ((1, 5, 5, 2), (2, 2, 2, 3), 2, "SAME", 1),          # pad_total 1: the extra pixel goes after
    ((1, 5, 5, 1), (4, 4, 1, 2), [1, 2, 2, 1], "SAME", 1),  # pad_total 3: 1 before, 2 after
    ((2, 7, 6, 2), (3, 2, 2, 2), [2, 2], "VALID", 1),
    ((1, 6, 7, 2), (2, 3, 2, 2), [1, 2, 1, 1], "SAME", 1),  # different strides per dimension
    ((1, 8, 8, 2), (3, 3, 2, 2), 1, "SAME", 2),           # dilated
    ((2, 4, 4, 3), (1, 1, 3, 5), 1, "VALID", 1),          # 1x1: a plain matmul
    ((1, 6, 6, 2), (2, 2, 2, 2), 2, "VALID", 1),          # disjoint windows
    ((2, 6, 7, 1), (3, 3, 1, 3), 1, "SAME", 1),           # one channel: the patch matrix is stored transposed
    ((2, 7, 8, 2), (2, 3, 2, 3), 1, "VALID", 1),
]


@pytest.mark.parametrize("xs,ws,strides,padding,dil", CONV_CASES)
def test_conv2d_matches_reference(xs, ws, strides, padding, dil):
    x, w = _r.standard_normal(xs), _r.standard_normal(ws)
    s = (strides, strides) if isinstance(strides, int) else (tuple(strides[1:3]) if len(strides) == 4
                                                              else tuple(strides))
    ref = ref_conv2d(x, w, s, padding, (dil, dil))
    _check(lambda a, b: nn.conv2d(a, b, strides=strides, padding=padding, dilations=dil), ref, x, w)


@pytest.mark.parametrize("size,k,s", [(5, 2, 2), (5, 4, 2), (7, 3, 2), (6, 3, 3), (28, 3, 1), (1, 3, 2)])
def test_conv2d_same_output_is_ceil_in_over_stride(size, k, s):
    x = tf.placeholder(tf.float32, [None, size, size + 1, 1])
    y = nn.conv2d(x, np.zeros((k, k, 1, 2), np.float32), strides=s, padding="SAME")
    assert y.shape.as_list() == [None, math.ceil(size / s), math.ceil((size + 1) / s), 2]


def test_conv2d_explicit_padding():
    x, w = _r.standard_normal((1, 4, 5, 2)), _r.standard_normal((3, 3, 2, 2))
    xp = np.pad(x, [(0, 0), (2, 0), (1, 1), (0, 0)])
    ref = ref_conv2d(xp, w, (1, 1), "VALID")
    _check(lambda a, b: nn.conv2d(a, b, strides=1, padding=[[0, 0], [2, 0], [1, 1], [0, 0]]), ref, x, w)


def test_conv2d_float32_none_batch_and_filters_keyword():
    x = _r.standard_normal((3, 6, 6, 2)).astype(np.float32)
    w = _r.standard_normal((3, 3, 2, 4)).astype(np.float32)
    ph = tf.placeholder(tf.float32, [None, 6, 6, 2])
    y = nn.conv2d(ph, filters=tf.constant(w), strides=[1, 1, 1, 1], padding="SAME")
    assert y.shape.as_list() == [None, 6, 6, 4]
    with tf.Session() as sess:
        got = sess.run(y, {ph: x})
        got2 = sess.run(y, {ph: x})
    np.testing.assert_allclose(got, ref_conv2d(x, w, (1, 1), "SAME"), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got, got2)


def test_conv2d_shape_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"Conv2D 'myconv'.*4-D.*\(3, 4\)"):
        nn.conv2d(tf.placeholder(tf.float32, [3, 4]), np.zeros((3, 3, 1, 1), np.float32), strides=1,
                  padding="SAME", name="myconv")
    with pytest.raises(ValueError, match=r"Conv2D.*depth 3.*\(\?, 8, 8, 3\).*in_channels 2.*\(3, 3, 2, 4\)"):
        nn.conv2d(tf.placeholder(tf.float32, [None, 8, 8, 3]), np.zeros((3, 3, 2, 4), np.float32), strides=1,
                  padding="SAME")
    with pytest.raises(ValueError, match=r"Conv2D.*negative output size.*\(\?, 2, 2, 1\).*\(3, 3, 1, 1\)"):
        nn.conv2d(tf.placeholder(tf.float32, [None, 2, 2, 1]), np.zeros((3, 3, 1, 1), np.float32), strides=1,
                  padding="VALID")
    with pytest.raises(ValueError, match=r"Conv2D.*strides.*batch and depth"):
        nn.conv2d(tf.placeholder(tf.float32, [None, 8, 8, 1]), np.zeros((3, 3, 1, 1), np.float32),
                  strides=[2, 1, 1, 1], padding="SAME")
    with pytest.raises(ValueError, match=r"Conv2D.*padding"):
        nn.conv2d(tf.placeholder(tf.float32, [None, 8, 8, 1]), np.zeros((3, 3, 1, 1), np.float32), strides=1,
                  padding="FULL")


# --- pooling -----------------------------------------------------------------------------------

POOL_CASES = [
    ((2, 4, 4, 3), 2, 2, "VALID"),
    ((2, 5, 5, 2), 2, 2, "VALID"),        # odd size: the last row/column is dropped
    ((2, 5, 5, 2), 2, 2, "SAME"),         # odd size: a padded last row/column
    ((1, 5, 6, 2), 3, 2, "SAME"),         # overlapping windows with padding
    ((1, 5, 4, 2), 3, 1, "VALID"),
    ((1, 4, 4, 1), [2, 2], [1, 1], "SAME"),
    ((1, 6, 7, 2), [1, 3, 2, 1], [1, 2, 3, 1], "SAME"),
]


def _pair(v):
    if isinstance(v, int):
        return (v, v)
    return tuple(v[1:3]) if len(v) == 4 else tuple(v)


@pytest.mark.parametrize("xs,k,s,padding", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_match_reference(xs, k, s, padding, kind):
    x = _r.standard_normal(xs)
    ref = ref_pool(x, _pair(k), _pair(s), padding, kind)
    fn = nn.max_pool2d if kind == "max" else nn.avg_pool2d
    _check(lambda a: fn(a, ksize=k, strides=s, padding=padding), ref, x)


def test_avg_pool_same_divides_by_valid_count():
    x = np.ones((1, 3, 3, 1))
    first, _ = _run(lambda a: nn.avg_pool(a, ksize=2, strides=2, padding="SAME") * 4.0, x)
    # windows at the border hold 2 or 1 real elements: their mean is still 1, not 1/2 or 1/4
    np.testing.assert_allclose(first, np.full((1, 2, 2, 1), 4.0))


def test_pool_aliases_and_int_forms():
    x = _r.standard_normal((2, 6, 6, 3))
    a, _ = _run(lambda t: nn.max_pool(t, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"), x)
    b, _ = _run(lambda t: nn.max_pool2d(t, ksize=2, strides=2, padding="VALID"), x)
    c, _ = _run(lambda t: nn.max_pool(t, [2, 2], [2, 2], "VALID"), x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    d, _ = _run(lambda t: nn.avg_pool(value=t, ksize=3, strides=1, padding="SAME"), x)
    np.testing.assert_allclose(d, ref_pool(x, (3, 3), (1, 1), "SAME", "avg"))


def test_max_pool_grad_routes_to_first_maximum_on_ties():
    x = np.zeros((1, 2, 4, 1))
    x[0, :, 2:, 0] = [[3.0, 3.0], [3.0, 1.0]]
    g = tf.Graph()
    with g.as_default():
        ph = tf.placeholder(tf.float64, x.shape)
        y = nn.max_pool2d(ph, 2, 2, "VALID")
        (dx,) = tf.gradients(tf.reduce_sum(y * np.array([[[[2.0], [5.0]]]])), [ph])
        got = tf.Session(graph=g).run(dx, {ph: x})
    expect = np.zeros_like(x)
    expect[0, 0, 0, 0] = 2.0  # all-zero window: the first element takes it
    expect[0, 0, 2, 0] = 5.0
    np.testing.assert_array_equal(got, expect)


def test_pool_shape_errors():
    with pytest.raises(ValueError, match=r"MaxPool 'mp'.*4-D.*\(\?, 7\)"):
        nn.max_pool2d(tf.placeholder(tf.float32, [None, 7]), 2, 2, "VALID", name="mp")
    with pytest.raises(ValueError, match=r"AvgPool.*ksize.*batch and depth"):
        nn.avg_pool(tf.placeholder(tf.float32, [None, 4, 4, 2]), [2, 2, 2, 1], 2, "VALID")


# --- activations, softmax, losses --------------------------------------------------------------

def _erfc(v):
    return np.vectorize(math.erfc)(v)


def test_activations_match_reference():
    x = np.concatenate([_r.standard_normal(50) * 4, [-40.0, -7.0, 0.0, 7.0, 40.0, 800.0, -800.0]])
    with np.errstate(over="ignore"):
        cases = [
            (nn.relu, np.maximum(x, 0)),
            (nn.relu6, np.clip(x, 0, 6)),
            # alpha is a float32 attribute, as in TF
            (lambda t: nn.leaky_relu(t, alpha=0.1), np.where(x > 0, x, float(np.float32(0.1)) * x)),
            (nn.elu, np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
            (nn.softplus, np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))),
            (nn.gelu, 0.5 * x * _erfc(-x / math.sqrt(2))),
            (lambda t: nn.gelu(t, approximate=True),
             0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
            (nn.softsign, x / (1 + np.abs(x))),
        ]
    for fn, ref in cases:
        _check(fn, ref, x, rtol=1e-12, atol=1e-300)
    with np.errstate(over="ignore"):
        sig = 1 / (1 + np.exp(-x))
    _check(nn.sigmoid, sig, x, rtol=1e-12, atol=1e-15)
    _check(nn.tanh, np.tanh(x), x)


def test_gelu_far_tail_keeps_relative_accuracy():
    x = np.array([-10.0, -20.0, -30.0])
    first, _ = _run(nn.gelu, x)
    ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(first, ref, rtol=1e-12)  # erfc(y) amplifies the argument's rounding by 2y^2


def test_softmax_and_log_softmax_stable_for_large_logits():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])
    s = x - x.max(axis=1, keepdims=True)
    lsm = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    sm = np.exp(lsm)
    _check(nn.softmax, sm, x)
    _check(nn.log_softmax, lsm, x)
    xt = x.T.copy()
    _check(lambda t: nn.softmax(t, axis=0), sm.T, xt)
    _check(lambda t: nn.log_softmax(t, dim=0), lsm.T, xt)
    first, _ = _run(nn.softmax, np.array([[1000.0, 1000.0]], np.float32))
    np.testing.assert_allclose(first, [[0.5, 0.5]])


def test_softmax_cross_entropy_matches_reference_and_is_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.5, 3.0], [2.0, -1.0, 0.0]])
    z = np.array([[0.0, 0.0, 1.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    m = x.max(axis=1, keepdims=True)
    lsm = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    ref = -(z * lsm).sum(axis=1)
    _check(lambda a, b: nn.softmax_cross_entropy_with_logits_v2(labels=b, logits=a), ref, x, z)
    _check(lambda a, b: nn.softmax_cross_entropy_with_logits(labels=b, logits=a), ref, x, z)
    _check(lambda a, b: nn.softmax_cross_entropy_with_logits_v2(labels=b, logits=a, axis=0), ref,
           x.T.copy(), z.T.copy())


def test_softmax_cross_entropy_v1_stops_gradient_to_labels():
    g = tf.Graph()
    with g.as_default():
        x, z = tf.placeholder(tf.float64, [2, 3]), tf.placeholder(tf.float64, [2, 3])
        v1 = nn.softmax_cross_entropy_with_logits(labels=z, logits=x)
        v2 = nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x)
        assert tf.gradients(v1, [z]) == [None]
        assert tf.gradients(v2, [z])[0] is not None
    with pytest.raises(ValueError, match="named arguments"):
        nn.softmax_cross_entropy_with_logits(np.zeros((1, 2)), np.zeros((1, 2)))


def test_sparse_softmax_cross_entropy_int64_and_int32():
    x = np.array([[1000.0, 1001.0, 1002.0], [-5.0, 0.5, 3.0], [2.0, -1.0, 0.0]])
    lab = np.array([2, 0, 1])
    m = x.max(axis=1, keepdims=True)
    lsm = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    ref = -lsm[np.arange(3), lab]
    for dt in (np.int64, np.int32):
        _check(lambda a, b: nn.sparse_softmax_cross_entropy_with_logits(labels=b, logits=a), ref, x,
               lab.astype(dt))


def test_sparse_softmax_cross_entropy_rank3():
    x = _r.standard_normal((2, 3, 4))
    lab = _r.integers(0, 4, size=(2, 3))
    lsm = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    ref = -np.take_along_axis(lsm, lab[..., None], axis=-1)[..., 0]
    _check(lambda a, b: nn.sparse_softmax_cross_entropy_with_logits(labels=b, logits=a), ref, x, lab)


def test_sparse_softmax_cross_entropy_out_of_range_label():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 10])
        y = tf.placeholder(tf.int64, [None])
        loss = nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x, name="xent")
        sess = tf.Session(graph=g)
        xs = np.zeros((3, 10), np.float32)
        sess.run(loss, {x: xs, y: np.array([1, 2, 9])})
        with pytest.raises(InvalidArgumentError, match=r"xent.*label value of 12.*\[0, 10\)"):
            sess.run(loss, {x: xs, y: np.array([1, 12, 3])})
        with pytest.raises(InvalidArgumentError, match=r"label value of -1"):
            sess.run(loss, {x: xs, y: np.array([-1, 2, 3])})


def test_sparse_softmax_cross_entropy_shape_errors():
    with pytest.raises(ValueError, match=r"Rank mismatch.*\(\?, 3\).*\(\?, 3\)"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=tf.placeholder(tf.int64, [None, 3]),
                                                    logits=tf.placeholder(tf.float32, [None, 3]))
    with pytest.raises(TypeError, match="int32 or int64"):
        nn.sparse_softmax_cross_entropy_with_logits(labels=tf.placeholder(tf.float32, [None]),
                                                    logits=tf.placeholder(tf.float32, [None, 3]))


def test_sigmoid_cross_entropy_stable_for_large_logits():
    x = np.array([-100.0, -30.0, -1.0, 0.0, 2.0, 30.0, 100.0])
    z = np.array([0.0, 1.0, 0.3, 0.5, 1.0, 0.0, 1.0])
    ref = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
    _check(lambda a, b: nn.sigmoid_cross_entropy_with_logits(labels=b, logits=a), ref, x, z)
    first, _ = _run(lambda a, b: nn.sigmoid_cross_entropy_with_logits(labels=b, logits=a),
                    x.astype(np.float32), z.astype(np.float32))
    assert np.all(np.isfinite(first))
    np.testing.assert_allclose(first, ref, rtol=1e-5, atol=1e-38)
    with pytest.raises(ValueError, match="same shape"):
        nn.sigmoid_cross_entropy_with_logits(labels=tf.placeholder(tf.float32, [2, 3]),
                                             logits=tf.placeholder(tf.float32, [3, 2]))


def test_weighted_cross_entropy_matches_reference():
    x, z = _r.standard_normal(6) * 3, _r.uniform(0, 1, 6)
    sig = 1 / (1 + np.exp(-x))
    ref = -(2.5 * z * np.log(sig) + (1 - z) * np.log(1 - sig))
    _check(lambda a, b: nn.weighted_cross_entropy_with_logits(labels=b, logits=a, pos_weight=2.5), ref, x, z)


def test_bias_add_l2_loss_moments_batch_norm():
    x = _r.standard_normal((2, 3, 4, 5))
    b = _r.standard_normal(5)
    _check(nn.bias_add, x + b, x, b)
    bc = _r.standard_normal(3)
    _check(lambda a, c: nn.bias_add(a, c, data_format="NCHW"), x + bc[:, None, None], x, bc)
    _check(nn.l2_loss, np.sum(x ** 2) / 2, x)
    _check(lambda a: list(nn.moments(a, axes=[0, 1, 2])), [x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))], x)
    _check(lambda a: list(nn.moments(a, axes=[1], keep_dims=True)),
           [x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)], x)
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    off, sc = _r.standard_normal(5), _r.standard_normal(5)
    ref = (x - mean) / np.sqrt(var + 1e-3) * sc + off
    _check(lambda a, m_, v, o, s: nn.batch_normalization(a, m_, v, o, s, 1e-3), ref, x, mean, var, off, sc)
    _check(lambda a, m_, v: nn.batch_normalization(a, m_, v, None, None, 1e-3),
           (x - mean) / np.sqrt(var + 1e-3), x, mean, var)
    with pytest.raises(ValueError, match=r"BiasAdd.*\(3,\).*\(\?, 5\)"):
        nn.bias_add(tf.placeholder(tf.float32, [None, 5]), np.zeros(3, np.float32))


def test_l2_normalize_and_xw_plus_b():
    x = _r.standard_normal((3, 4))
    _check(lambda a: nn.l2_normalize(a, axis=1), x / np.sqrt((x ** 2).sum(axis=1, keepdims=True)), x)
    w, b = _r.standard_normal((4, 2)), _r.standard_normal(2)
    _check(nn.xw_plus_b, x @ w + b, x, w, b)
    _check(nn.relu_layer, np.maximum(x @ w + b, 0), x, w, b)


# --- dropout -----------------------------------------------------------------------------------

def _dropout_values(seed_graph, seed_op=None, **kw):
    g = tf.Graph()
    with g.as_default():
        if seed_graph is not None:
            tf.set_random_seed(seed_graph)
        x = tf.placeholder(tf.float32, [None, 50])
        y = nn.dropout(x, seed=seed_op, **kw)
        sess = tf.Session(graph=g)
        xs = np.ones((4, 50), np.float32)
        return sess.run(y, {x: xs}), sess.run(y, {x: xs})


def test_dropout_deterministic_with_seed_and_scaled():
    a1, a2 = _dropout_values(3, keep_prob=0.5)
    b1, b2 = _dropout_values(3, keep_prob=0.5)
    np.testing.assert_array_equal(a1, b1)   # same seed: same masks in a new session
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)       # the stream advances between runs
    assert set(np.unique(a1)) <= {0.0, 2.0}
    assert 0.3 < (a1 != 0).mean() < 0.7
    c1, _ = _dropout_values(None, seed_op=11, rate=0.5)
    d1, _ = _dropout_values(None, seed_op=11, rate=0.5)
    np.testing.assert_array_equal(c1, d1)
    e1, _ = _dropout_values(3, keep_prob=1.0)
    np.testing.assert_array_equal(e1, np.ones((4, 50)))


def test_dropout_gradient_uses_the_same_mask():
    g = tf.Graph()
    with g.as_default():
        tf.set_random_seed(5)
        x = tf.placeholder(tf.float64, [None, 7, 3])
        keep = tf.placeholder(tf.float64, [])
        y = nn.dropout(x, keep_prob=keep)
        (dx,) = tf.gradients(tf.reduce_sum(y), [x])
        sess = tf.Session(graph=g)
        xs = _r.uniform(1, 2, (5, 7, 3))
        for _ in range(3):
            yv, dv = sess.run([y, dx], {x: xs, keep: 0.4})
            np.testing.assert_allclose(dv, yv / xs)   # d(x * mask)/dx = mask
            assert set(np.round(np.unique(dv), 12)) <= {0.0, 2.5}


def test_dropout_noise_shape_and_errors():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4, 6])
        y = nn.dropout(x, rate=0.5, noise_shape=[None, 1, 6], seed=1)
        v = tf.Session(graph=g).run(y, {x: np.ones((3, 4, 6), np.float32)})
        assert np.all(v == v[:, :1, :])      # the mask is shared along the noise_shape-1 axis
    with pytest.raises(ValueError, match="both"):
        nn.dropout(tf.placeholder(tf.float32, [2]), keep_prob=0.5, rate=0.5)
    with pytest.raises(ValueError, match="rate must be"):
        nn.dropout(tf.placeholder(tf.float32, [2]), rate=1.0)
    with pytest.raises(ValueError, match="keep_prob must be"):
        nn.dropout(tf.placeholder(tf.float32, [2]), keep_prob=0.0)


# --- the plan's buffer reuse must not change any kernel's result -------------------------------

def test_cnn_step_consistent_between_first_and_bound_runs():
    rng = np.random.default_rng(0)
    xv = rng.standard_normal((4, 12, 12, 1)).astype(np.float32)
    yv = rng.integers(0, 5, size=4)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 12, 12, 1])
        y = tf.placeholder(tf.int64, [None])
        c1 = tf.constant(rng.standard_normal((3, 3, 1, 4)).astype(np.float32) * 0.5)
        c2 = tf.constant(rng.standard_normal((3, 3, 4, 6)).astype(np.float32) * 0.3)
        w = tf.constant(rng.standard_normal((2 * 2 * 6, 5)).astype(np.float32) * 0.3)
        h = nn.relu(nn.bias_add(nn.conv2d(x, c1, strides=1, padding="VALID"), np.zeros(4, np.float32)))
        h = nn.max_pool2d(h, 2, 2, "VALID")
        h = nn.relu(nn.conv2d(h, c2, strides=1, padding="SAME"))
        h = nn.avg_pool2d(h, 3, 2, "VALID")
        logits = tf.matmul(tf.reshape(h, [-1, 24]), w)
        loss = tf.reduce_mean(nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        grads = tf.gradients(loss, [x, c1, c2, w])
        sess = tf.Session(graph=g)
        a = sess.run([loss] + grads, {x: xv, y: yv})
        b = sess.run([loss] + grads, {x: xv, y: yv})
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-7)


# --- second order: the gradient of the gradient reaches every input where the Hessian is non-zero ---
# (check_row skips a None Hessian-vector product, so a rule that drops a path would go unnoticed)

_SECOND_ORDER_CONNECTED = [
    "softmax", "log_softmax", "softplus", "elu", "gelu", "gelu_approximate", "gelu_grad", "l2_loss",
    "l2_normalize", "moments", "batch_normalization", "softmax_ce_v2", "softmax_ce_v2_unnormalised_labels",
    "sparse_softmax_ce", "sigmoid_ce", "conv2d_valid_s1", "conv2d_same_s2_k2_asymmetric",
    "conv2d_same_s2_k4_asymmetric", "conv2d_same_dilated", "conv2d_backprop_input", "conv2d_backprop_filter",
]


def _grad_rows():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    import grad_rows_nn
    return {r.name: r for r in grad_rows_nn.ROWS}


@pytest.mark.parametrize("row_name", _SECOND_ORDER_CONNECTED)
def test_second_order_reaches_every_input(row_name):
    row = _grad_rows()[row_name]
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape) for v in row.inputs]
        out = row.build(*phs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        f = tf.add_n([tf.reduce_sum(o * rng.uniform(0.5, 1.5, o.shape.as_list())) for o in outs])
        wrt = row.wrt if row.wrt is not None else [i for i, v in enumerate(row.inputs) if v.dtype.kind == "f"]
        xs = [phs[i] for i in wrt]
        grads = tf.gradients(f, xs)
        gdotu = tf.add_n([tf.reduce_sum(gr * rng.standard_normal(x.shape.as_list()))
                          for gr, x in zip(grads, xs)])
        hvp = tf.gradients(gdotu, xs)
    # f is linear in batch_normalization's offset alone, and in the labels of softmax cross-entropy
    linear = {"batch_normalization": {3}, "softmax_ce_v2_unnormalised_labels": {1}}.get(row_name, set())
    missing = [phs[i].name for i, h in zip(wrt, hvp) if h is None and i not in linear]
    assert not missing, f"{row_name}: no second-order gradient reaches {missing}"


def test_unknown_spatial_dims_resolve_at_run_time():
    x = _r.standard_normal((2, 7, 5, 3))
    w = _r.standard_normal((3, 2, 3, 4))
    g = tf.Graph()
    with g.as_default():
        ph = tf.placeholder(tf.float64, [None, None, None, 3])
        y = nn.conv2d(ph, w, strides=2, padding="SAME")
        p = nn.avg_pool(y, 3, 2, "SAME")
        assert y.shape.as_list() == [None, None, None, 4]
        (dx,) = tf.gradients(tf.reduce_sum(p), [ph])
        sess = tf.Session(graph=g)
        yv, pv, dxv = sess.run([y, p, dx], {ph: x})
    ref = ref_conv2d(x, w, (2, 2), "SAME")
    np.testing.assert_allclose(yv, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pv, ref_pool(ref, (3, 3), (2, 2), "SAME", "avg"), rtol=1e-10, atol=1e-12)
    assert dxv.shape == x.shape


# --- fused (compiled) activation-gradient loops: bit-identical to the numpy path -------------------

def _act_grad_values(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((160, 128)).astype(dtype)
    b = rng.standard_normal((160, 128)).astype(dtype)
    a.flat[:6] = [0.0, -0.0, np.nan, np.inf, -np.inf, 1.0]
    b.flat[:6] = [np.nan, -1.0, 0.0, -0.0, 2.0, np.inf]
    return a, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op_name", ["relu_grad", "sigmoid_grad", "tanh_grad"])
@pytest.mark.parametrize("layout", ["apart", "over_first", "over_second"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the nan/inf inputs, on both paths
def test_fused_activation_grads_equal_numpy_path(op_name, layout, dtype, monkeypatch):
    from nnctl.ops import math_ops
    from nnctl.ops import nn_ops as nn_impl
    from nnctl.runtime import jit
    if jit.load() is None:
        pytest.skip("the compiled kernels are not built here")
    fn = {"relu_grad": nn_impl.relu_grad, "sigmoid_grad": math_ops.sigmoid_grad,
          "tanh_grad": math_ops.tanh_grad}[op_name]
    av, bv = _act_grad_values(dtype)
    taken = []
    real = jit.binary_step

    def spy(*args):
        step = real(*args)
        taken.append(step.func.__name__.split("_")[-2] if step is not None else None)  # nnctl_<op>_<layout>_<dtype>
        return step
    monkeypatch.setattr(jit, "binary_step", spy)
    # the layouts of the op's own loop: x + x - x and the grad op would be one fused chain
    from nnctl.runtime import fusion
    monkeypatch.setattr(fusion, "available", lambda backend: False)

    def run() -> np.ndarray:
        g = tf.Graph()
        with g.as_default():
            a = tf.placeholder(dtype, [None, 128])
            b = tf.placeholder(dtype, [None, 128])
            # an input computed here (x * 1.0 would be aliased away, so x + x - x: the same values)
            # dies at the grad op, which then writes over it
            a_in = a + a - a if layout == "over_first" else a
            b_in = b + b - b if layout == "over_second" else b
            out = fn(a_in, b_in)
            with tf.Session() as sess:
                res = [sess.run(out, {a: av, b: bv}) for _ in range(2)]
        np.testing.assert_array_equal(res[0], res[1])
        return res[1]

    fused = run()
    expect = {"apart": "apart", "over_first": "a", "over_second": "b"}[layout]  # the loop name ends so
    if op_name == "relu_grad" and layout == "over_second":
        expect = "apart"  # ReluGrad may only write over its first input (its inplace flag)
    assert expect in taken
    monkeypatch.setenv("NNCTL_JIT", "0")
    reference = run()
    np.testing.assert_array_equal(fused, reference)  # bit-identical, -0 and nan included
    assert np.signbit(fused).tolist() == np.signbit(reference).tolist()
