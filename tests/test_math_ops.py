"""Math ops: forward values against numpy (with broadcasting), static shapes incl. None dims,
construction-time errors, and a property test that broadcasting gradients are numpy's sums over
the broadcast axes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import nnctl as tf

_r = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("fresh_graph")


def run(fetches, feed=None, times=3):
    """Run once on the allocating path (every kernel allocates), then on the bound path (buffers,
    views, folded constants) several times: every run must give the same values."""
    sess = tf.Session()
    sess.allocating = True
    first = sess.run(fetches, feed)
    sess.allocating = False
    for _ in range(times - 1):
        again = sess.run(fetches, feed)
        for a, b in zip(first if isinstance(first, list) else [first],
                        again if isinstance(again, list) else [again]):
            np.testing.assert_array_equal(a, b)
    return first


def _u(*shape, lo=-1.0, hi=1.0):
    return _r.uniform(lo, hi, size=shape)


_PAIRS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((3, 4), ()), ((), (2, 3)), ((2, 3), (2, 3)), ((4,), (2, 3, 4))]

_BINARY = {
    "add": (tf.add, np.add), "subtract": (tf.subtract, np.subtract), "multiply": (tf.multiply, np.multiply),
    "realdiv": (tf.realdiv, np.divide), "maximum": (tf.maximum, np.maximum),
    "minimum": (tf.minimum, np.minimum), "squared_difference": (tf.squared_difference, lambda a, b: (a - b) ** 2),
    "pow": (tf.pow, np.power),
}


@pytest.mark.parametrize("name", sorted(_BINARY))
@pytest.mark.parametrize("shapes", _PAIRS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_binary_broadcasting_forward(name, shapes):
    fn, ref = _BINARY[name]
    a = _u(*shapes[0], lo=0.5, hi=2.0)
    b = _u(*shapes[1], lo=0.5, hi=2.0)
    pa = tf.placeholder(tf.float64, shapes[0])
    pb = tf.placeholder(tf.float64, shapes[1])
    t = fn(pa, pb)
    expected = ref(a, b)
    assert t.static_shape == expected.shape
    np.testing.assert_allclose(run(t, {pa: a, pb: b}), expected, rtol=1e-12)


def test_operators_and_python_scalars():
    a = _u(3, 4)
    c = tf.constant(a)
    np.testing.assert_allclose(run(2.0 * c - 1.0), 2 * a - 1)
    np.testing.assert_allclose(run(1.0 / (c + 3.0)), 1 / (a + 3))
    np.testing.assert_allclose(run((c + 2.0) ** 2), (a + 2) ** 2)
    np.testing.assert_allclose(run(-c), -a)
    np.testing.assert_allclose(run(abs(c)), np.abs(a))
    assert (c * 2.0).dtype == tf.float64


def test_integer_ops():
    a = np.array([7, -7, 5, 0], dtype=np.int32)
    b = np.array([2, 2, -3, 4], dtype=np.int32)
    ca, cb = tf.constant(a), tf.constant(b)
    np.testing.assert_array_equal(run(ca // cb), a // b)
    np.testing.assert_array_equal(run(ca % cb), np.mod(a, b))
    np.testing.assert_array_equal(run(ca + cb), a + b)
    t = ca / cb  # true division of integers is float64, as in TF
    assert t.dtype == tf.float64
    np.testing.assert_allclose(run(t), a / b)


def test_comparisons_and_logical():
    a, b = _u(3, 4), _u(4)
    ca, cb = tf.constant(a), tf.constant(b)
    for fn, ref in ((tf.less, np.less), (tf.greater_equal, np.greater_equal), (tf.equal, np.equal),
                    (tf.not_equal, np.not_equal), (tf.less_equal, np.less_equal), (tf.greater, np.greater)):
        t = fn(ca, cb)
        assert t.dtype == tf.bool and t.static_shape == (3, 4)
        np.testing.assert_array_equal(run(t), ref(a, b))
    x, y = a > 0, b > 0
    np.testing.assert_array_equal(run(tf.logical_and(ca > 0.0, cb > 0.0)), x & y)
    np.testing.assert_array_equal(run(tf.logical_or(ca > 0.0, cb > 0.0)), x | y)
    np.testing.assert_array_equal(run(tf.logical_not(ca > 0.0)), ~x)
    with pytest.raises(TypeError):
        tf.logical_and(ca, cb)


_UNARY = {
    "negative": (tf.negative, np.negative, (-2, 2)), "square": (tf.square, np.square, (-2, 2)),
    "sqrt": (tf.sqrt, np.sqrt, (0.1, 3)), "rsqrt": (tf.rsqrt, lambda x: 1 / np.sqrt(x), (0.1, 3)),
    "exp": (tf.exp, np.exp, (-3, 3)), "expm1": (tf.expm1, np.expm1, (-1, 1)), "log": (tf.log, np.log, (0.1, 3)),
    "log1p": (tf.log1p, np.log1p, (-0.5, 3)), "abs": (tf.abs, np.abs, (-2, 2)),
    "sign": (tf.sign, np.sign, (-2, 2)), "tanh": (tf.tanh, np.tanh, (-3, 3)),
    "reciprocal": (tf.reciprocal, np.reciprocal, (0.5, 2)), "sin": (tf.sin, np.sin, (-3, 3)),
    "cos": (tf.cos, np.cos, (-3, 3)), "floor": (tf.floor, np.floor, (-3, 3)), "ceil": (tf.ceil, np.ceil, (-3, 3)),
    "round": (tf.round, np.rint, (-3, 3)), "sigmoid": (tf.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-5, 5)),
}


@pytest.mark.parametrize("name", sorted(_UNARY))
def test_unary_forward(name):
    fn, ref, (lo, hi) = _UNARY[name]
    x = _u(3, 4, lo=lo, hi=hi)
    ph = tf.placeholder(tf.float64, [None, 4])
    t = fn(ph)
    assert t.static_shape == (None, 4)
    np.testing.assert_allclose(run(t, {ph: x}), ref(x), rtol=1e-12)


def test_round_half_to_even_and_sigmoid_large_inputs():
    np.testing.assert_array_equal(run(tf.round(tf.constant([0.5, 1.5, 2.5, -0.5]))), [0, 2, 2, -0.0])
    s = run(tf.sigmoid(tf.constant([-1000.0, 0.0, 1000.0], dtype=tf.float64)))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    assert np.all(np.isfinite(s))


def test_float_only_unary_rejects_integers():
    with pytest.raises(TypeError, match="Sqrt"):
        tf.sqrt(tf.constant([1, 2]))


# --- matmul -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_transposes(ta, tb):
    a = _u(4, 3) if ta else _u(3, 4)
    b = _u(2, 4) if tb else _u(4, 2)
    t = tf.matmul(tf.constant(a), tf.constant(b), transpose_a=ta, transpose_b=tb)
    assert t.static_shape == (3, 2) and t.op.type == "MatMul"
    np.testing.assert_allclose(run(t), (a.T if ta else a) @ (b.T if tb else b))


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_batch_matmul_broadcast(ta, tb):
    a = _u(2, 1, 4, 3) if ta else _u(2, 1, 3, 4)
    b = _u(5, 2, 4) if tb else _u(5, 4, 2)
    t = tf.matmul(tf.constant(a), tf.constant(b), transpose_a=ta, transpose_b=tb)
    assert t.static_shape == (2, 5, 3, 2) and t.op.type == "BatchMatMul"
    ref = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b)
    np.testing.assert_allclose(run(t), ref)


def test_matmul_static_shapes_with_none():
    x = tf.placeholder(tf.float32, [None, 3])
    w = tf.zeros([3, 5])
    assert tf.matmul(x, w).static_shape == (None, 5)
    xb = tf.placeholder(tf.float32, [None, 7, 3])
    assert tf.matmul(xb, w).static_shape == (None, 7, 5)
    assert (x @ w).static_shape == (None, 5)


def test_matmul_shape_mismatch_names_op_and_shapes():
    a, b = tf.zeros([2, 3]), tf.zeros([4, 5])
    with pytest.raises(ValueError) as e:
        tf.matmul(a, b)
    msg = str(e.value)
    assert "MatMul" in msg and "(2, 3)" in msg and "(4, 5)" in msg
    with pytest.raises(ValueError, match="MatMul"):
        tf.matmul(tf.zeros([3]), tf.zeros([3, 2]))
    with pytest.raises(ValueError, match="MatMul.*not broadcastable"):
        tf.matmul(tf.zeros([2, 3, 4]), tf.zeros([5, 4, 2]))


# --- reductions ----------------------------------------------------------------------------------------

_REDUCE = {"sum": (tf.reduce_sum, np.sum), "mean": (tf.reduce_mean, np.mean), "max": (tf.reduce_max, np.max),
           "min": (tf.reduce_min, np.min), "prod": (tf.reduce_prod, np.prod)}
_AXES = [dict(axis=None), dict(axis=1), dict(axis=[0, 2]), dict(axis=-1), dict(axis=[-1, 0]),
         dict(axis=1, keepdims=True), dict(axis=None, keepdims=True)]


@pytest.mark.parametrize("name", sorted(_REDUCE))
@pytest.mark.parametrize("kw", _AXES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_reductions(name, kw):
    fn, ref = _REDUCE[name]
    x = _u(2, 3, 4)
    t = fn(tf.constant(x), **kw)
    axis = kw["axis"]
    expected = ref(x, axis=tuple(axis) if isinstance(axis, list) else axis, keepdims=kw.get("keepdims", False))
    assert t.static_shape == np.shape(expected)
    np.testing.assert_allclose(run(t), expected, rtol=1e-12)


def test_reduction_static_shapes_with_none_and_tf1_spellings():
    ph = tf.placeholder(tf.float32, [None, 3, 4])
    assert tf.reduce_sum(ph, axis=1).static_shape == (None, 4)
    assert tf.reduce_mean(ph, axis=0).static_shape == (3, 4)
    assert tf.reduce_max(ph, axis=[1, 2], keepdims=True).static_shape == (None, 1, 1)
    assert tf.reduce_sum(ph, reduction_indices=[2], keep_dims=True).static_shape == (None, 3, 1)
    assert tf.reduce_sum(ph).static_shape == ()
    with pytest.raises(ValueError, match="Sum.*axis 3"):
        tf.reduce_sum(ph, axis=3)


def test_mean_with_none_batch_divides_by_runtime_count():
    ph = tf.placeholder(tf.float64, [None, 2])
    t = tf.reduce_mean(ph, axis=0)
    (g,) = tf.gradients(t, [ph])
    sess = tf.Session()
    for n in (2, 5):
        x = _u(n, 2)
        np.testing.assert_allclose(sess.run(t, {ph: x}), x.mean(0))
        np.testing.assert_allclose(sess.run(g, {ph: x}), np.full((n, 2), 1.0 / n))


def test_reduce_max_gradient_splits_ties_evenly():
    x = tf.constant([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]], dtype=tf.float64)
    (g,) = tf.gradients(tf.reduce_max(x, axis=1), [x])
    np.testing.assert_allclose(run(g), [[0, 0.5, 0.5], [1, 0, 0]])
    (g2,) = tf.gradients(tf.reduce_min(x), [x])
    np.testing.assert_allclose(run(g2), [[0, 0, 0], [0, 0, 1]])


def test_argmax_argmin():
    x = _u(3, 4)
    np.testing.assert_array_equal(run(tf.argmax(tf.constant(x), axis=1)), x.argmax(1))
    np.testing.assert_array_equal(run(tf.argmin(tf.constant(x), axis=0)), x.argmin(0))
    t = tf.argmax(tf.placeholder(tf.float32, [None, 4]), axis=-1, output_type=tf.int32)
    assert t.static_shape == (None,) and t.dtype == tf.int32


# --- cast, add_n, where, clip ---------------------------------------------------------------------------

def test_cast():
    x = np.array([1.7, -2.2, 0.0])
    t = tf.cast(tf.constant(x), tf.int32)
    assert t.dtype == tf.int32
    np.testing.assert_array_equal(run(t), x.astype(np.int32))
    assert tf.cast(tf.constant(x), tf.float64).op.type == "Const"  # same dtype: no op
    np.testing.assert_array_equal(run(tf.cast(tf.constant(x) > 0.0, tf.float32)), [1, 0, 0])


def test_add_n():
    xs = [_u(3, 4) for _ in range(4)]
    np.testing.assert_allclose(run(tf.add_n([tf.constant(v) for v in xs])), sum(xs))
    with pytest.raises(ValueError, match="add_n"):
        tf.add_n([tf.zeros([3, 4]), tf.zeros([4, 3])])


def test_where_and_clip():
    c = _r.uniform(size=(3, 4)) > 0.5
    a, b = _u(3, 4), _u(4)
    t = tf.where(tf.constant(c), tf.constant(a), tf.constant(b))
    assert t.static_shape == (3, 4)
    np.testing.assert_array_equal(run(t), np.where(c, a, b))
    np.testing.assert_array_equal(run(tf.clip_by_value(tf.constant(a), -0.5, 0.5)), np.clip(a, -0.5, 0.5))
    with pytest.raises(TypeError, match="bool"):
        tf.where(tf.constant(a), tf.constant(a), tf.constant(a))


def test_where_over_a_dying_input_in_bound_plans():
    # The Select kernel may be handed x's own buffer as its output (x dies here).
    c = tf.placeholder(tf.bool, [4])
    a = tf.placeholder(tf.float64, [4])
    b = tf.placeholder(tf.float64, [4])
    t = tf.where(c, a * 2.0, b)
    feed = {c: np.array([True, False, True, False]), a: np.arange(4.0), b: -np.ones(4)}
    np.testing.assert_array_equal(run(t, feed), [0, -1, 4, -1])


def test_add_n_of_scalars():
    # np.add of two 0-d arrays returns a numpy scalar, which cannot be the out= of the next add
    s = [tf.reduce_sum(tf.constant(_u(3))) for _ in range(3)]
    np.testing.assert_allclose(run(tf.add_n(s)), sum(run(s)))


# --- construction errors -------------------------------------------------------------------------------

def test_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError) as e:
        tf.add(tf.zeros([3, 4]), tf.zeros([3, 5]))
    msg = str(e.value)
    assert "add" in msg.lower() and "(3, 4)" in msg and "(3, 5)" in msg
    with pytest.raises(ValueError, match=r"Mul.*\(2, 3\).*\(4,\)"):
        tf.zeros([2, 3]) * tf.zeros([4])


def test_binary_static_shapes_with_none():
    p = tf.placeholder(tf.float32, [None, 4])
    assert (p + tf.zeros([4])).static_shape == (None, 4)
    assert (p * tf.zeros([3, 1, 1])).static_shape == (3, None, 4)
    assert (tf.placeholder(tf.float32, [None, 1]) - tf.placeholder(tf.float32, [1, None])).static_shape == \
        (None, None)
    assert (tf.placeholder(tf.float32) + p).static_shape is None


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError):
        tf.add(tf.zeros([2]), tf.zeros([2], dtype=tf.float64))
    with pytest.raises(TypeError):
        tf.constant([1, 2]) + 0.5


# --- property: broadcasting gradients are sums over the broadcast axes -----------------------------------

def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


@settings(max_examples=60, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4),
       seed=st.integers(0, 2**16))
def test_broadcasting_gradients_match_numpy(shapes, seed):
    (sa, sb), out = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 1.5, sa)
    b = rng.uniform(0.5, 1.5, sb)
    w = rng.standard_normal(out)
    g = tf.Graph()
    with g.as_default():
        pa, pb = tf.placeholder(tf.float64, sa), tf.placeholder(tf.float64, sb)
        wt = tf.constant(w)
        prod = tf.reduce_sum(pa * pb * wt)
        quot = tf.reduce_sum((pa + pb) / pb * wt)
        grads = tf.gradients(prod, [pa, pb]) + tf.gradients(quot, [pa, pb])
        for t, s in zip(grads, [sa, sb, sa, sb]):
            assert t.static_shape == tuple(s)
        sess = tf.Session()
        got = [sess.run(grads, {pa: a, pb: b}) for _ in range(2)]
    bw = np.broadcast_to(b * w, out)
    aw = np.broadcast_to(a * w, out)
    ref = [_sum_to(bw, sa), _sum_to(aw, sb),
           _sum_to(np.broadcast_to(w / b, out), sa), _sum_to(np.broadcast_to(-a * w / b**2, out), sb)]
    for run_vals in got:
        for v, r in zip(run_vals, ref):
            np.testing.assert_allclose(v, r, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 9), cols=st.integers(1, 40), axis=st.sampled_from([None, 0, 1]),
       seed=st.integers(0, 2**16), dtype=st.sampled_from([np.float32, np.float64, np.float16]))
def test_bound_mean_is_numpys_mean_bit_for_bit(rows, cols, axis, seed, dtype):
    """The bound plan's Mean divides the sum by the count as np.mean does (and TF): it multiplied by
    1/n, which rounds differently, so a bound run and the allocating first run disagreed by an ulp
    (and a float16 mean summed in float16, where np.mean sums in float32)."""
    xv = np.random.default_rng(seed).standard_normal((rows, cols)).astype(dtype)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.as_dtype(dtype), [None, cols])
        t = tf.tanh(x)
        m = tf.reduce_mean(t, axis=axis)
        with tf.Session() as sess:
            sess.allocating = True
            first = sess.run(m, {x: xv})
            sess.allocating = False
            sess.run([m, t], {x: xv})
            bound, tv = sess.run([m, t], {x: xv})
    ref = np.mean(tv, axis=axis if axis is not None else (0, 1))
    assert np.array_equal(first, bound) and np.array_equal(bound, ref)
