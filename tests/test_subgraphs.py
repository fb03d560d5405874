"""Subgraph kernels (runtime/subgraphs.py): a layer norm written with tf.nn.moments runs as one
LayerNorm row loop in a bound plan, with the bits of its ops run one by one and of the allocating
first run; where the region is not safe (an interior tensor read elsewhere, another form of the
maths, buffers the loop cannot take) the ops run one by one and still give those bits."""

from __future__ import annotations

import numpy as np
import pytest
from plan_runs import bound_runs

import nnctl as tf
from nnctl.ops import seq_jit
from nnctl.runtime import fusion, subgraphs

pytestmark = pytest.mark.skipif(seq_jit.load() is None,
                                reason="the compiled kernels are not built here (or NNCTL_JIT=0)")

RNG = np.random.default_rng(11)
STATS = {"Mean", "SquaredDifference", "Rsqrt", "Sub"}


def _runs(build, feeds, monkeypatch, trains=False):
    """(values with regions, their step op types, step op types op by op: no regions, no chains)."""
    return bound_runs(build, feeds, monkeypatch, off=[subgraphs, fusion], trains=trains)


def _rows_with_special_values(shape, dtype):
    v = RNG.standard_normal(shape).astype(dtype)
    rows = v.reshape(-1, shape[-1])
    rows[0] = 3.0                 # a constant row: variance 0, rstd = 1 / sqrt(eps)
    rows[1, 5] = np.nan
    rows[2, 7] = np.inf
    rows[3] *= 1e20               # large values: the squares near float32's range
    rows[4] *= 1e-20
    return v


def _layer_norm(h, gamma, beta, eps=1e-5, axes=(2,)):
    mean, var = tf.nn.moments(h, axes=list(axes), keep_dims=True)
    return (h - mean) * tf.math.rsqrt(var + eps) * gamma + beta, mean, var


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the nan/inf rows, on every path
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_moments_layer_norm_is_one_step_with_the_ops_bits(dtype, monkeypatch):
    hv = _rows_with_special_values((8, 64, 128), dtype)
    gv = RNG.standard_normal(128).astype(dtype)
    bv = RNG.standard_normal(128).astype(dtype)

    def build():
        h = tf.placeholder(dtype, [None, 64, 128])
        gamma, beta = tf.Variable(gv), tf.Variable(bv)
        y, _, _ = _layer_norm(h, gamma, beta)
        loss = tf.reduce_sum(y * y)
        return [h], [y, *tf.gradients(loss, [h, gamma, beta])]
    (y, *_), rtypes, utypes = _runs(build, [hv], monkeypatch)
    assert STATS <= set(utypes) and not STATS & set(rtypes)
    # the forward's ten ops are one step; the gradient is one LayerNormGrad reading its mean and rsqrt
    assert rtypes.count("LayerNormGrad") == 1 and rtypes.count("AddV2") == 1 and len(rtypes) <= len(utypes) - 8
    x = hv.astype(np.float64)
    mu = x.mean(axis=2, keepdims=True)
    ref = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=2, keepdims=True) + 1e-5) * gv + bv
    fin = np.isfinite(ref) & (np.abs(hv) < 1e10).all(axis=2, keepdims=True)
    np.testing.assert_allclose(y[fin], ref[fin], rtol=2e-4 if dtype == np.float32 else 1e-10, atol=1e-4)


def test_two_layer_norms_in_a_training_step_keep_the_ops_bits(monkeypatch):
    hv = RNG.standard_normal((8, 64, 32)).astype(np.float32)  # from MIN_ELEMENTS on
    w = RNG.standard_normal((32, 32)).astype(np.float32) * 0.2

    def build():
        h = tf.placeholder(tf.float32, [None, 64, 32])

        def dense(t):
            return tf.reshape(tf.matmul(tf.reshape(t, [-1, 32]), tf.Variable(w)), [-1, 64, 32])
        # (a layer norm of the placeholder itself keeps its per-op gradient, which reads the interior)
        a, _, _ = _layer_norm(dense(h), tf.Variable(np.ones(32, np.float32)), tf.Variable(np.zeros(32, np.float32)))
        a = dense(a)
        b, _, _ = _layer_norm(a, tf.Variable(np.ones(32, np.float32)), tf.Variable(np.zeros(32, np.float32)))
        loss = tf.reduce_mean(tf.square(b - 0.5))
        train = tf.train.AdamOptimizer(0.01).minimize(loss)
        return [h], [loss, train]
    _, rtypes, utypes = _runs(build, [hv], monkeypatch, trains=True)
    assert "Mean" in utypes and "SquaredDifference" not in rtypes and rtypes.count("LayerNormGrad") == 2, rtypes


def _hand_written_layer_norm(h, gamma, beta, form, eps=1e-6):
    """A layer norm without tf.nn.moments: the variance as the mean of Square(x - mean), with x - mean
    written once (``shared``) or twice (``twice``: the plan's CSE makes the two Subs one); or
    (``bn``) tf.nn.moments and tf.nn.batch_normalization, or (``div``) a division by the sqrt."""
    if form == "bn":
        mean, var = tf.nn.moments(h, axes=[-1], keep_dims=True)
        return tf.nn.batch_normalization(h, mean, var, beta, gamma, eps), None
    if form == "div":  # x / sqrt(v) rounds otherwise than x * rsqrt(v): a loop of its own
        mean, var = tf.nn.moments(h, axes=[-1], keep_dims=True)
        return (h - mean) / tf.sqrt(var + eps) * gamma + beta, None
    mean = tf.reduce_mean(h, axis=[-1], keepdims=True)
    xc = h - mean
    var = tf.reduce_mean(tf.square(xc if form == "shared" else h - mean), axis=[-1], keepdims=True)
    return (xc if form == "shared" else h - mean) * tf.rsqrt(var + eps) * gamma + beta, xc


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the nan/inf rows, on every path
@pytest.mark.parametrize("form,dtype", [("shared", np.float32), ("twice", np.float32), ("bn", np.float32),
                                        ("bn", np.float64), ("div", np.float32), ("div", np.float64)])
def test_a_hand_written_layer_norm_is_one_step_with_the_ops_bits(form, dtype, monkeypatch):
    hv = _rows_with_special_values((8, 64, 128), dtype)
    gv = RNG.standard_normal(128).astype(dtype)
    bv = RNG.standard_normal(128).astype(dtype)

    def build():
        h = tf.placeholder(dtype, [None, 64, 128])
        gamma, beta = tf.Variable(gv), tf.Variable(bv)
        y, _ = _hand_written_layer_norm(h, gamma, beta, form)
        return [h], [y, *tf.gradients(tf.reduce_sum(y * y), [h, gamma, beta])]
    (y, *_), rtypes, utypes = _runs(build, [hv], monkeypatch)
    assert {"Mean", "Sqrt" if form == "div" else "Rsqrt"} <= set(utypes)
    assert not {"Square", "SquaredDifference", "Mean", "Rsqrt", "Sqrt", "RealDiv", "Sub"} & set(rtypes)
    assert rtypes.count("LayerNormGrad") == 1, rtypes
    x = hv.astype(np.float64)
    mu = x.mean(axis=2, keepdims=True)
    ref = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=2, keepdims=True) + 1e-6) * gv + bv
    fin = np.isfinite(ref) & (np.abs(hv) < 1e10).all(axis=2, keepdims=True)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    # batch_normalization's x * inv + (beta - mean * inv) cancels |x| inv: on the constant row
    # (inv = 1 / sqrt(eps) = 1000 there) that is 3000 times float32's rounding
    atol = 2e-3 if form == "bn" and dtype == np.float32 else tol
    np.testing.assert_allclose(y[fin], ref[fin], rtol=tol, atol=atol)


def test_a_merged_centre_read_elsewhere_keeps_the_ops(monkeypatch):
    # x - mean, written twice and merged by CSE, is also fetched: an interior value read outside
    hv = RNG.standard_normal((8, 64, 128)).astype(np.float32)

    def build():
        h = tf.placeholder(tf.float32, [None, 64, 128])
        y, _ = _hand_written_layer_norm(h, tf.Variable(np.ones(128, np.float32)),
                                        tf.Variable(np.zeros(128, np.float32)), "twice")
        return [h], [y, h - tf.reduce_mean(h, axis=[-1], keepdims=True)]
    (y, xc), rtypes, _ = _runs(build, [hv], monkeypatch)
    assert "Square" in rtypes and "Rsqrt" in rtypes
    np.testing.assert_allclose(xc, hv - hv.mean(axis=2, keepdims=True), rtol=1e-5, atol=1e-6)


def _op_by_op(build, feeds, monkeypatch):
    _, rtypes, _ = _runs(build, feeds, monkeypatch)
    assert "SquaredDifference" in rtypes  # no region: the ops ran one by one
    return rtypes


@pytest.mark.parametrize("form", ["fetched_variance", "two_axes", "fed_eps", "strided_input"])
def test_where_the_region_is_not_safe_the_ops_run_one_by_one(form, monkeypatch):
    hv = RNG.standard_normal((8, 64, 128)).astype(np.float32)
    gv = RNG.standard_normal(128).astype(np.float32)
    feeds = [hv] + ([np.float32(1e-3)] if form == "fed_eps" else [])

    def build():
        h = tf.placeholder(tf.float32, [None, 64, 128])
        phs = [h]
        gamma, beta = tf.Variable(gv), tf.Variable(np.zeros(128, np.float32))
        if form == "fetched_variance":    # an interior tensor read outside
            y, _, var = _layer_norm(h, gamma, beta)
            return phs, [y, var]
        if form == "two_axes":
            g2 = tf.Variable(np.tile(gv, (64, 1)))
            y, _, _ = _layer_norm(h, g2, tf.zeros([64, 128]), axes=(1, 2))
            return phs, [y]
        if form == "fed_eps":             # eps not a constant of the plan
            eps = tf.placeholder(tf.float32, [])
            phs.append(eps)
            y, _, _ = _layer_norm(h, gamma, beta, eps=eps)
            return phs, [y]
        # a strided view as x: the row loop needs C-contiguous rows, so the plan binds the ops
        y, _, _ = _layer_norm(h[:, ::2, :], gamma, beta)
        return phs, [y]
    _op_by_op(build, feeds, monkeypatch)  # strided_input: matched, then bound op by op


def test_a_reader_of_the_mean_before_the_layer_norm_keeps_its_value(monkeypatch):
    hv = RNG.standard_normal((8, 64, 128)).astype(np.float32)

    def build():
        h = tf.placeholder(tf.float32, [None, 64, 128])
        y, mean, _ = _layer_norm(h, tf.Variable(np.ones(128, np.float32)), tf.Variable(np.zeros(128, np.float32)))
        return [h], [mean * 2.0, y, mean]
    (m2, y, mean), _, _ = _runs(build, [hv], monkeypatch)
    np.testing.assert_array_equal(m2, mean * np.float32(2.0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["mul", "rmul", "div"])
def test_attention_scaled_softmax_and_its_gradient_are_one_step_each(dtype, form, monkeypatch):
    sv = (RNG.standard_normal((8, 4, 64, 64)) * 8).astype(dtype)
    sv[0, 0, 0, 3] = np.nan
    sv[0, 0, 1, :5] = -np.inf
    wv = RNG.standard_normal(sv.shape).astype(dtype)

    def build():
        s = tf.placeholder(dtype, [None, 4, 64, 64])
        scaled = {"mul": lambda: s * 0.17677669, "rmul": lambda: 0.17677669 * s, "div": lambda: s / 5.656854}[form]()
        att = tf.nn.softmax(scaled)
        return [s], [att, tf.gradients(tf.reduce_sum(att * wv), s)[0]]
    _, rtypes, utypes = _runs(build, [sv], monkeypatch)
    assert "SoftmaxGrad" in utypes and "SoftmaxGrad" not in rtypes, rtypes
    assert len(rtypes) == len(utypes) - 2, (rtypes, utypes)  # two regions of two ops


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("form", ["causal_mul", "causal_div", "padding", "full"])
def test_attention_masked_softmax_and_its_gradient_are_one_step_each(dtype, form, monkeypatch):
    """softmax(scores * c + mask) (a causal [t, t] mask; a padding mask [batch, 1, 1, t] on unscaled
    scores; a mask of the scores' own shape) and the gradient's Mul(SumToShape(SoftmaxGrad), c)."""
    sv = (RNG.standard_normal((8, 4, 64, 64)) * 8).astype(dtype)
    sv[0, 0, 0, 3] = np.nan
    sv[0, 0, 1, :5] = -np.inf
    wv = RNG.standard_normal(sv.shape).astype(dtype)
    causal = (np.triu(np.ones((64, 64)), 1) * -1e9).astype(dtype)
    padding = np.zeros((8, 1, 1, 64), dtype)
    padding[:, :, :, 50:] = -1e9
    padding[3, :, :, 10:] = -np.inf   # a row masked from the 10th key on
    mask = {"causal_mul": causal, "causal_div": causal, "padding": padding,
            "full": RNG.standard_normal(sv.shape).astype(dtype)}[form]

    def build():
        s = tf.placeholder(dtype, [None, 4, 64, 64])
        m = tf.placeholder(dtype, mask.shape)
        scaled = {"causal_mul": lambda: s * 0.17677669, "causal_div": lambda: s / 5.656854,
                  "padding": lambda: s, "full": lambda: 0.125 * s}[form]()
        att = tf.nn.softmax(m + scaled if form == "full" else scaled + m)
        return [s, m], [att, tf.gradients(tf.reduce_sum(att * wv), s)[0]]
    (att, _), rtypes, utypes = _runs(build, [sv, mask], monkeypatch)
    assert "AddV2" in utypes and "AddV2" not in rtypes, rtypes
    if form != "padding":  # the scale's Mul and the SoftmaxGrad are one step
        assert "SoftmaxGrad" in utypes and "SoftmaxGrad" not in rtypes, rtypes
    if form.startswith("causal"):
        np.testing.assert_array_equal(np.triu(att[1, 2], 1), 0)  # nothing after the query position


def test_scaled_scores_read_elsewhere_keep_their_ops(monkeypatch):
    sv = RNG.standard_normal((8, 4, 64, 64)).astype(np.float32)

    def build():
        s = tf.placeholder(tf.float32, [None, 4, 64, 64])
        scaled = s * 0.125
        per_row = s * tf.constant(np.full((64,), 0.125, np.float32))  # not one value: its ops run
        return [s], [tf.nn.softmax(scaled), scaled, tf.nn.softmax(per_row)]
    _, rtypes, utypes = _runs(build, [sv], monkeypatch)
    assert rtypes == utypes, rtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_attention_heads_are_written_straight_into_their_joined_layout(dtype, monkeypatch):
    """reshape(transpose(att @ v)) and the gradient of the heads' split (ReshapeLike of a transposed
    product): the product's compiled loop writes through the transpose, with the ops' bits."""
    b, t, h, d = 8, 64, 4, 32
    xv = RNG.standard_normal((b * t, h * d)).astype(dtype)
    av = RNG.standard_normal((b, h, t, t)).astype(dtype)
    wv = RNG.standard_normal((b * t, h * d)).astype(dtype)

    def build():
        x = tf.placeholder(dtype, [None, h * d])
        att = tf.placeholder(dtype, [None, h, t, t])
        v = tf.transpose(tf.reshape(x, [-1, t, h, d]), [0, 2, 1, 3])     # the heads' split
        o = tf.reshape(tf.transpose(tf.matmul(att, v), [0, 2, 1, 3]), [-1, h * d])   # ... joined
        return [x, att], [o, *tf.gradients(tf.reduce_sum(o * wv), [x, att])]
    _, rtypes, utypes = _runs(build, [xv, av], monkeypatch)
    assert rtypes.count("BatchMatMul") < utypes.count("BatchMatMul") == 3, rtypes
    assert len(rtypes) <= len(utypes) - 2, (rtypes, utypes)


def test_a_product_read_elsewhere_keeps_its_copy(monkeypatch):
    av = RNG.standard_normal((8, 4, 64, 64)).astype(np.float32)
    vv = RNG.standard_normal((8, 4, 64, 32)).astype(np.float32)

    def build():
        att = tf.placeholder(tf.float32, [None, 4, 64, 64])
        v = tf.placeholder(tf.float32, [None, 4, 64, 32])
        p = tf.matmul(att, v)
        return [att, v], [tf.reshape(tf.transpose(p, [0, 2, 1, 3]), [-1, 128]), p]
    _, rtypes, utypes = _runs(build, [av, vv], monkeypatch)
    assert rtypes == utypes
