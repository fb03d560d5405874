"""Shapes given as tensors (tf.shape(x), lists mixing ints and scalar tensors), with static shapes
inferred as TF's constant_value_as_shape does."""

import numpy as np
import pytest

import nnctl as tf


def test_random_normal_like_a_fed_batch(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 3])
    eps = tf.random_normal(tf.shape(x), 0.0, 1.0, dtype=tf.float32, seed=1)
    u = tf.random_uniform([tf.shape(x)[0], 2])
    assert eps.shape.as_list() == [None, 3] and u.shape.as_list() == [None, 2]
    with tf.Session() as s:
        for n in (2, 5):
            a, b = s.run([eps, u], {x: np.zeros((n, 3))})
            assert a.shape == (n, 3) and b.shape == (n, 2)


def test_reshape_zeros_ones_fill_tile(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 2, 3])
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    same = tf.reshape(flat, tf.shape(x))
    z = tf.zeros(tf.shape(x)[:2])
    o = tf.ones([tf.shape(x)[0], 1], dtype=tf.int32)
    f = tf.fill([tf.shape(x)[0]], 7.0)
    t = tf.tile(tf.ones([1, 2]), [tf.shape(x)[0], 1])
    assert flat.shape.as_list() == [None, None] and same.shape.as_list() == [None, 2, 3]
    assert z.shape.as_list() == [None, 2] and o.dtype == tf.int32 and t.shape.as_list() == [None, 2]
    v = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    with tf.Session() as s:
        a, b, c, d, e, g = s.run([flat, same, z, o, f, t], {x: v})
    np.testing.assert_array_equal(a, v.reshape(4, 6))
    np.testing.assert_array_equal(b, v)
    assert c.shape == (4, 2) and not c.any()
    assert d.tolist() == [[1]] * 4 and e.tolist() == [7.0] * 4 and g.shape == (4, 2)


def test_static_shape_from_constant_shape_tensors(fresh_graph):
    c = tf.constant([2, 3])
    x = tf.placeholder(tf.float32, [4, 5])
    assert tf.zeros(c).shape.as_list() == [2, 3]
    assert tf.random_normal(tf.shape(x)).shape.as_list() == [4, 5]
    assert tf.reshape(x, [tf.shape(x)[1], -1]).shape.as_list() == [5, 4]


def test_fed_shape_values(fresh_graph):
    n = tf.placeholder(tf.int32, [2])
    z = tf.zeros(n)
    with tf.Session() as s:
        assert s.run(z, {n: [2, 3]}).shape == (2, 3)
        with pytest.raises(tf.errors.InvalidArgumentError, match="shape tensor"):
            s.run(z, {n: [3, 2]})  # same feed shape, a different value: named, never wrong output


def test_bad_shape_tensors(fresh_graph):
    with pytest.raises(TypeError, match="int32 or int64"):
        tf.zeros(tf.constant([2.0, 3.0]))
    with pytest.raises(ValueError, match="1-D"):
        tf.reshape(tf.zeros([4]), tf.constant([[2, 2]]))


def test_range_and_sequence_mask(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 3])
    n = tf.shape(x)[0]
    idx = tf.range(0, n) * 3 + 2                  # the dynamic_rnn tutorial's last-output index
    picked = tf.gather(tf.reshape(x, [-1]), idx)
    assert tf.range(5).shape.as_list() == [5] and tf.range(1.0, 2.0, 0.5).dtype == tf.float32
    assert tf.range(2, 10, 3, dtype=tf.int64).dtype == tf.int64 and idx.shape.as_list() == [None]
    m = tf.sequence_mask(tf.constant([1, 3]), 4, dtype=tf.float32)
    with tf.Session() as s:
        v = np.arange(12, dtype=np.float32).reshape(4, 3)
        assert s.run(picked, {x: v}).tolist() == [2.0, 5.0, 8.0, 11.0]
        assert s.run(tf.range(2, 10, 3)).tolist() == [2, 5, 8]
        assert s.run(m).tolist() == [[1, 0, 0, 0], [1, 1, 1, 0]]
    with pytest.raises(ValueError, match="delta"):
        tf.range(0, 5, 0)
