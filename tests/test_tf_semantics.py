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
    first = sess.run(fetches, feed)
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
