"""Cases where nnctl once disagreed with real TensorFlow 2.21 (``tf.compat.v1``), each with TF's answer.

The expected values were read off TensorFlow itself (tests/tf_reference/record.py records many more
into a fixture that test_tf_reference.py compares with). Every value is computed twice, on a plan's
first (allocating, traced) run and on a later (bound) run, and both must agree with TF.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf

pytestmark = pytest.mark.usefixtures("fresh_graph")


def both_paths(fetches, feed=None):
    """The values of the first run of a plan and of a later run over bound buffers; they must agree."""
    sess = tf.Session()
    sess.allocating = True  # every kernel allocates its output, as on a plan's dry run
    first = sess.run(fetches, feed)
    sess.allocating = False  # bound buffers, views and folded constants
    second = sess.run(fetches, feed)
    third = sess.run(fetches, feed)
    for a, b in ((first, second), (first, third)):
        for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            np.testing.assert_array_equal(u, v)
    return first


def grads(f, x, feed, order=1, weights=None):
    """First (and second: d/dx sum(w * df/dx)) gradients of sum(f) with respect to x."""
    (g,) = tf.gradients(f, [x])
    if order == 1:
        return both_paths(g, feed)
    w = tf.constant(np.asarray(weights, dtype=x.dtype.as_numpy_dtype))
    (h,) = tf.gradients(tf.reduce_sum(g * w), [x])
    assert h is not None
    return both_paths([g, h], feed)


# --- values and gradients ------------------------------------------------------------------------

def test_sigmoid_cross_entropy_gradient_at_zero_logits():
    x = tf.placeholder(tf.float64, [3])
    z = tf.constant([0.3, 1.0, 0.0], tf.float64)
    loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    g = grads(loss, x, {x: [0.0, 0.0, 2.0]})
    np.testing.assert_allclose(g, [0.5 - 0.3, 0.5 - 1.0, 1 / (1 + np.exp(-2.0))], rtol=1e-12)
    np.testing.assert_allclose(both_paths(loss, {x: [0.0, 0.0, 2.0]}),
                               [np.log(2), np.log(2), np.log1p(np.exp(-2.0)) + 2.0], rtol=1e-12)


def test_reduce_prod_gradient_with_zeros_uses_exclusive_products():
    x = tf.placeholder(tf.float64, [3])
    y = tf.reduce_prod(x)
    g, h = grads(y, x, {x: [0.0, 2.0, 3.0]}, order=2, weights=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(h, [0.0, 3.0, 2.0])  # TF 2.21's value (its Cumprod rule uses div_no_nan)
    x2 = tf.placeholder(tf.float64, [2, 3])
    g2 = grads(tf.reduce_prod(x2, axis=1), x2, {x2: [[0.0, 2.0, 3.0], [0.0, 0.0, 5.0]]})
    np.testing.assert_array_equal(g2, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("values,dtype,expected", [
    ([-1, -2], tf.int32, -1),                       # truncation toward zero, not floor
    ([200, 200, 255], tf.uint8, 218),               # accumulated wide, not wrapped in uint8
    ([2**31 - 1, 2**31 - 1], tf.int32, 2**31 - 1),
    ([100, 100, -7], tf.int8, 64),
    ([-7, 2], tf.int64, -2),
])
def test_integer_reduce_mean(values, dtype, expected):
    c = tf.constant(values, dtype)
    p = tf.placeholder(dtype, [None])
    fed, folded = both_paths([tf.reduce_mean(p), tf.reduce_mean(c)], {p: values})
    assert fed == expected and folded == expected
    assert fed.dtype == dtype.as_numpy_dtype


def test_reduce_mean_of_an_empty_axis_is_nan_fed_and_folded():
    p = tf.placeholder(tf.float32, [None, 3])
    fed, folded = both_paths([tf.reduce_mean(p, 0), tf.reduce_mean(tf.zeros([0, 3]), 0)],
                             {p: np.zeros((0, 3), np.float32)})
    assert np.isnan(fed).all() and np.isnan(folded).all()
    pi = tf.placeholder(tf.int32, [None, 3])
    np.testing.assert_array_equal(both_paths(tf.reduce_mean(pi, 0), {pi: np.zeros((0, 3), np.int32)}), [0, 0, 0])


@pytest.mark.parametrize("v1", [False, True])
def test_softmax_cross_entropy_gradient_is_softmax_minus_labels(v1):
    labels = tf.constant([[0.5, 0.2, 0.1]], tf.float64)  # sums to 0.8
    x = tf.placeholder(tf.float64, [1, 3])
    fn = tf.nn.softmax_cross_entropy_with_logits if v1 else tf.nn.softmax_cross_entropy_with_logits_v2
    loss = fn(labels=labels, logits=x)
    g = grads(loss, x, {x: [[1.0, 2.0, 3.0]]})
    np.testing.assert_allclose(g, [[-0.40996943, 0.04472847, 0.56524096]], rtol=1e-7)


def test_softmax_cross_entropy_mixed_second_derivative_follows_tf():
    # TF's rule does not follow the labels through the backprop output: d/dz (dloss/dx . u) = 0
    x = tf.placeholder(tf.float64, [2, 3])
    z = tf.placeholder(tf.float64, [2, 3])
    loss = tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x)
    gx, _ = tf.gradients(loss, [x, z])
    u = tf.constant(np.ones((2, 3)) * [1.0, 2.0, 3.0])
    hx, hz = tf.gradients(tf.reduce_sum(gx * u), [x, z])
    feed = {x: [[1.0, 2, 3], [0, 1, -1]], z: [[0.2, 0.3, 0.6], [0.1, 0.1, 0.1]]}
    vx, vz = both_paths([hx, hz], feed)
    np.testing.assert_allclose(vx, [[-0.14181709, -0.14077036, 0.28258745],
                                    [-0.20686949, 0.10291138, 0.10395811]], rtol=1e-7)
    np.testing.assert_array_equal(vz, np.zeros((2, 3)))


def test_clip_by_value_with_min_above_max_gives_min():
    t = tf.constant([1.0, 5.0, 9.0])
    np.testing.assert_array_equal(both_paths(tf.clip_by_value(t, 6.0, 2.0)), [6.0, 6.0, 6.0])


def test_argmax_and_argmin_skip_nan():
    nan = np.nan
    p = tf.placeholder(tf.float32, [3])
    out = both_paths([tf.argmax(p), tf.argmin(p)], {p: [1.0, nan, 3.0]})
    assert [int(v) for v in out] == [2, 0]
    assert int(both_paths(tf.argmax(tf.constant([nan, 1.0, 3.0])))) == 2
    assert int(both_paths(tf.argmin(tf.constant([5.0, nan, nan])))) == 0
    assert int(both_paths(tf.argmin(tf.constant([1.0, nan, -3.0])))) == 2


@pytest.mark.parametrize("fn,g_expected,h_expected", [
    (tf.nn.selu, [1.05070099, 1.05070099, 0.6467686], [0.0, 0.0, 0.6467686]),
    (tf.nn.elu, [1.0, 1.0, 0.36787944], [0.0, 0.0, 0.36787944]),
    (tf.nn.relu, [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]),
    (tf.nn.relu6, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    (tf.nn.leaky_relu, [0.2, 1.0, 0.2], [0.0, 0.0, 0.0]),
    (tf.abs, [0.0, 1.0, -1.0], [0.0, 0.0, 0.0]),
])
def test_activation_derivatives_at_the_kinks(fn, g_expected, h_expected):
    """At 0 TF takes the positive branch of selu and elu; second derivatives are tensors, not None."""
    x = tf.placeholder(tf.float64, [3])
    (g,) = tf.gradients(fn(x), [x])
    (h,) = tf.gradients(g, [x])
    assert h is not None
    gv, hv = both_paths([g, h], {x: [0.0, 6.0, -1.0]})
    np.testing.assert_allclose(gv, g_expected, rtol=1e-7)
    np.testing.assert_allclose(hv, h_expected, rtol=1e-7)


def test_sign_gradient_is_zeros_and_max_pool_second_order_is_zeros():
    x = tf.placeholder(tf.float64, [3])
    (g,) = tf.gradients(tf.sign(x), [x])
    assert g is not None
    np.testing.assert_array_equal(both_paths(g, {x: [1.0, -2.0, 0.0]}), [0.0, 0.0, 0.0])
    img = tf.placeholder(tf.float64, [1, 4, 4, 1])
    (gp,) = tf.gradients(tf.nn.max_pool(img, 2, 2, "VALID"), [img])
    (hp,) = tf.gradients(gp, [img])
    assert hp is not None
    np.testing.assert_array_equal(both_paths(hp, {img: np.arange(16.0).reshape(1, 4, 4, 1)}), np.zeros((1, 4, 4, 1)))


def test_random_uniform_float16_stays_below_maxval():
    v = tf.Session().run(tf.random_uniform([200000], dtype=tf.float16, seed=1))  # a new draw each run
    assert v.dtype == np.float16 and v.min() >= 0 and v.max() < 1
    assert len(np.unique(v)) == 1024  # TF draws 10 mantissa bits: k / 1024
    w = tf.Session().run(tf.random_uniform([100000], minval=-1.0, maxval=-1.0 + 2**-20, seed=2))
    assert w.max() < np.float32(-1.0 + 2**-20)


# --- shapes, dtypes, names -----------------------------------------------------------------------

def test_fill_dtypes_and_tensor_values():
    assert tf.fill([2], 3).dtype == tf.int32 and tf.fill([2], 3.0).dtype == tf.float32
    assert tf.fill([2], True).dtype == tf.bool
    v = tf.placeholder(tf.float64, [])
    f = tf.fill([2, 3], v)
    assert f.op.type == "Fill" and f.shape.as_list() == [2, 3] and f.dtype == tf.float64
    (g,) = tf.gradients(tf.reduce_sum(f * 2.0), [v])
    np.testing.assert_array_equal(both_paths([f, g], {v: 1.5})[1], 12.0)


def test_python_operators_are_named_as_in_tf():
    a = tf.placeholder(tf.float32, [2], name="a")
    b = tf.placeholder(tf.float32, [2], name="b")
    got = [(t.op.name, t.op.type) for t in (a + b, a - b, a * b, a / b, a // b, a % b, a ** b, tf.add(a, b))]
    assert got == [("add", "AddV2"), ("sub", "Sub"), ("mul", "Mul"), ("truediv", "RealDiv"),
                   ("floordiv", "FloorDiv"), ("mod", "FloorMod"), ("pow", "Pow"), ("Add_1", "AddV2")]
    # (names are unique without regard to case, as in TF: "add" is taken, so tf.add's op is "Add_1")
    c = tf.placeholder(tf.bool, [2])
    i = tf.placeholder(tf.int32, [2])
    assert (c & c).op.name == "and" and (c | c).op.name == "or" and (c ^ c).op.name == "xor"
    assert (~c).op.type == "LogicalNot" and (~i).op.type == "Invert" and (i & i).op.type == "BitwiseAnd"
    out = both_paths([c ^ tf.constant([True, True]), ~i, i ^ tf.constant([3, 3])],
                     {c: [True, False], i: [1, 6]})
    assert out[0].tolist() == [False, True] and out[1].tolist() == [-2, -7] and out[2].tolist() == [2, 5]


@pytest.mark.parametrize("dtype,expected", [(tf.uint8, tf.float32), (tf.int8, tf.float32), (tf.int16, tf.float32),
                                            (tf.int32, tf.float64), (tf.int64, tf.float64)])
def test_true_division_of_integers_gives_tfs_float_type(dtype, expected):
    img = tf.placeholder(dtype, [None, 3])
    scaled = img / 255
    assert scaled.dtype == expected and scaled.op.name == "truediv"
    if dtype in (tf.uint8, tf.int16):  # meets a float32 variable directly, as in TF (255 wraps in int8, as TF)
        w = tf.Variable(np.ones((3, 1), np.float32))
        y = tf.matmul(scaled, w)
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            np.testing.assert_allclose(s.run(y, {img: [[100, 0, 20]]}), [[120 / 255]], rtol=1e-6)


def test_static_shapes_are_as_specific_as_tfs():
    a = tf.placeholder(tf.float32, [None, 3])
    b = tf.placeholder(tf.float32, [2, None])
    assert tf.stack([a, b]).shape.as_list() == [2, 2, 3]
    x = tf.placeholder(tf.float32, [None, None])
    assert tf.nn.bias_add(x, tf.zeros([4])).shape.as_list() == [None, 4]
    assert tf.reduce_sum(tf.placeholder(tf.float32, None)).shape.as_list() == []
    assert tf.squeeze(tf.placeholder(tf.float32, [None, 1, 3])).shape.ndims is None


def test_integer_division_by_zero_is_an_error():
    a = tf.placeholder(tf.int32, [2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="division by zero"):
        tf.Session().run(a // tf.constant([1, 0]), {a: [3, 4]})
    with pytest.raises(tf.errors.InvalidArgumentError, match="division by zero"):
        tf.Session().run(tf.mod(a, tf.constant([0, 1])), {a: [3, 4]})


def test_random_ops_take_tensor_arguments():
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.random_normal(tf.shape(x), mean=tf.constant(10.0), stddev=0.01, seed=1)
    u = tf.random_uniform(tf.shape(x), minval=tf.constant(2.0), maxval=3.0, seed=2)
    assert n.shape.as_list() == [None, 3] and tf.random_uniform(tf.constant([2, 2])).shape.as_list() == [2, 2]
    s = tf.Session()
    nv, uv = s.run([n, u], {x: np.zeros((4, 3), np.float32)})
    assert nv.shape == (4, 3) and abs(nv.mean() - 10.0) < 0.1 and 2.0 <= uv.min() and uv.max() < 3.0
    assert s.run(n, {x: np.zeros((2, 3), np.float32)}).shape == (2, 3)
    with pytest.raises(ValueError, match="floating-point"):
        tf.random_normal([2], dtype=tf.int32)


# --- refusals, as TF ---------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: tf.squeeze(tf.zeros([1, 3, 1]), axis=5),
    lambda: tf.pad(tf.constant([1, 2]), [[1, 1]], constant_values=1.5),
    lambda: tf.constant([True]) + tf.constant([True]),
    lambda: tf.reduce_sum(tf.constant([True, False])),
    lambda: tf.reduce_sum(tf.zeros([2, 3]), axis=[1, -1]),
    lambda: tf.reduce_sum(tf.zeros([2, 3]), axis=0, reduction_indices=0),
    lambda: tf.reduce_mean(tf.zeros([2, 3]), keepdims=True, keep_dims=True),
    lambda: tf.argmax(tf.zeros([2, 3]), axis=0, dimension=0),
    lambda: tf.nn.conv2d(tf.zeros([1, 3, 3, 1]), tf.zeros([2, 2, 1, 1]), [1, 1, 1, 1], "same"),
    lambda: tf.add_n(tf.zeros([2, 3])),
    lambda: tf.clip_by_global_norm([tf.zeros([2], tf.float32), tf.zeros([2], tf.float64)], 1.0),
    lambda: tf.logical_not(tf.constant([1, 0])),
    lambda: tf.negative(tf.constant([1], tf.uint8)),
    lambda: tf.constant([1.0, 2.0], dtype=tf.int32),
    lambda: tf.clip_by_value(tf.zeros([3]), tf.zeros([2, 3]), 1.0),
])
def test_what_tf_refuses_is_refused_when_the_graph_is_built(build):
    with pytest.raises((TypeError, ValueError)):
        build()


def test_what_tf_accepts_is_accepted():
    x = tf.placeholder(tf.float32, [2, 3])
    outs = [tf.nn.batch_normalization(x, 0.5, 2.0, 0.1, 1.5, 1e-3), tf.round(tf.constant([1, 2])),
            tf.expand_dims(x, dim=0), tf.transpose(x, [-1, 0]), tf.squeeze(tf.placeholder(tf.float32, [None, 1, 3])),
            tf.concat([x, np.ones((1, 3))], 0), tf.constant(np.array([1.9, -1.9]), dtype=tf.int32),
            tf.constant([1.0, 2.0], shape=[2, 2]), tf.reduce_max(tf.zeros([0, 3]), 0), tf.global_norm([]),
            x[[0, 1]], tf.one_hot([0, 2], 3, on_value=tf.constant(2.0), off_value=tf.constant(0.5)),
            tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.constant([[0, 1, 0]]), logits=x),
            tf.nn.conv2d(tf.ones([1, 3, 3, 1], tf.int32), tf.ones([2, 2, 1, 1], tf.int32), [1, 1, 1, 1], "VALID")]
    sq = outs[4]
    feed = {x: np.arange(6, dtype=np.float32).reshape(2, 3), sq.op.inputs[0]: np.ones((2, 1, 3), np.float32)}
    vals = both_paths(outs, feed)
    assert vals[6].tolist() == [1, -1] and vals[7].tolist() == [[1.0, 2.0], [2.0, 2.0]]
    assert vals[8].tolist() == [-np.inf] * 3 and vals[9] == 0.0 and vals[10] == 1.0
    assert vals[13].tolist() == [[[[4]], [[4]]], [[[4]], [[4]]]] or vals[13].shape == (1, 2, 2, 1)


def test_gradients_of_reductions_on_inputs_of_unknown_rank():
    x = tf.placeholder(tf.float64, None)
    loss = tf.reduce_sum(tf.reduce_max(x, 1)) + tf.reduce_mean(x) + tf.reduce_prod(x, 0)[0] + tf.reduce_min(x)
    (g,) = tf.gradients(loss, [x])
    v = both_paths(g, {x: [[1.0, 3.0], [2.0, 0.5]]})
    expected = np.array([[0.0, 1.0], [1.0, 0.0]]) + 0.25 + np.array([[2.0, 0.0], [1.0, 0.0]]) + \
        np.array([[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(v, expected)
