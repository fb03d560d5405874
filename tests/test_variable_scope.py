"""tf.variable_scope / tf.get_variable / the initializer classes / tf.layers, checked against
TensorFlow 1's documented behaviour (variable names, reuse rules, initializer statistics)."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf


def _init_value(v):
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        return s.run(v)


def test_nested_scopes_name_variables(fresh_graph):
    with tf.variable_scope("foo"):
        with tf.variable_scope("bar"):
            v = tf.get_variable("v", [1])
    assert v.name == "foo/bar/v:0"


def test_reuse_true_returns_the_same_variable(fresh_graph):
    with tf.variable_scope("foo"):
        v = tf.get_variable("v", [1])
    with tf.variable_scope("foo", reuse=True):
        v1 = tf.get_variable("v", [1])
    assert v1 is v
    with tf.variable_scope("foo") as scope:
        scope.reuse_variables()
        assert tf.get_variable("v", [1]) is v


def test_reuse_errors(fresh_graph):
    with tf.variable_scope("foo"):
        tf.get_variable("v", [1])
        with pytest.raises(ValueError, match="Variable foo/v already exists, disallowed"):
            tf.get_variable("v", [1])
    with tf.variable_scope("foo", reuse=True):
        with pytest.raises(ValueError, match="Variable foo/w does not exist"):
            tf.get_variable("w", [1])
        with pytest.raises(ValueError, match="specified shape \\[2\\] and found shape \\[1\\]"):
            tf.get_variable("v", [2])


def test_auto_reuse_creates_then_reuses(fresh_graph):
    def f():
        with tf.variable_scope("s", reuse=tf.AUTO_REUSE):
            return tf.get_variable("w", [2], initializer=tf.ones_initializer())
    a, b = f(), f()
    assert a is b and a.name == "s/w:0"
    assert len(tf.global_variables()) == 1


def test_reuse_is_inherited(fresh_graph):
    with tf.variable_scope("root"):
        with tf.variable_scope("child"):
            v = tf.get_variable("v", [1])
    with tf.variable_scope("root", reuse=True):
        with tf.variable_scope("child"):
            assert tf.get_variable("v", [1]) is v
            assert tf.get_variable_scope().reuse is True


def test_name_scope_names_ops_not_variables(fresh_graph):
    with tf.name_scope("ns"):
        with tf.variable_scope("vs"):
            v = tf.get_variable("v", [1])
            x = tf.identity(v, name="x")
    assert v.name == "vs/v:0"
    assert x.op.name == "ns/vs/x"


def test_reentered_scope_keeps_variable_names_and_uniquifies_op_names(fresh_graph):
    with tf.variable_scope("s"):
        a = tf.identity(tf.get_variable("w", [1]), name="y")
    with tf.variable_scope("s", reuse=True):
        b = tf.identity(tf.get_variable("w", [1]), name="y")
    assert a.op.name == "s/y" and b.op.name == "s_1/y"


def test_scope_initializer_and_default_name(fresh_graph):
    with tf.variable_scope("s", initializer=tf.constant_initializer(0.4)):
        v = tf.get_variable("v", [3])
    with tf.variable_scope(None, default_name="block"):
        a = tf.get_variable("w", [1])
    with tf.variable_scope(None, default_name="block"):
        b = tf.get_variable("w", [1])
    assert (a.name, b.name) == ("block/w:0", "block_1/w:0")
    np.testing.assert_allclose(_init_value(v), [0.4, 0.4, 0.4], rtol=1e-6)


def test_get_variable_from_a_value_and_default_initializer(fresh_graph):
    v = tf.get_variable("c", initializer=np.arange(3, dtype=np.float32))
    w = tf.get_variable("w", [200, 300])
    i = tf.get_variable("i", [4], dtype=tf.int32)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        np.testing.assert_array_equal(s.run(v), [0, 1, 2])
        wv = s.run(w)
        assert s.run(i).tolist() == [0, 0, 0, 0]
    lim = np.sqrt(6.0 / 500)   # the default: glorot_uniform
    assert np.abs(wv).max() <= lim and np.abs(wv).max() > 0.95 * lim


# --- initializers: the statistics TF documents -----------------------------------------------------

@pytest.mark.parametrize("make, shape, check", [
    (lambda: tf.zeros_initializer(), (3, 4), lambda a: (a == 0).all()),
    (lambda: tf.ones_initializer(), (3, 4), lambda a: (a == 1).all()),
    (lambda: tf.constant_initializer([1, 2, 3, 4]), (2, 2), lambda a: a.tolist() == [[1, 2], [3, 4]]),
    (lambda: tf.random_uniform_initializer(-0.2, 0.3, seed=1), (400, 500),
     lambda a: a.min() >= -0.2 and a.max() < 0.3 and abs(a.mean() - 0.05) < 0.005),
    (lambda: tf.random_normal_initializer(1.0, 0.5, seed=1), (400, 500),
     lambda a: abs(a.mean() - 1.0) < 0.01 and abs(a.std() - 0.5) < 0.01),
    (lambda: tf.truncated_normal_initializer(0.0, 0.5, seed=1), (400, 500),
     lambda a: np.abs(a).max() <= 1.0 and abs(a.std() - 0.5 * 0.8796) < 0.01),
    # glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))
    (lambda: tf.glorot_uniform_initializer(seed=1), (300, 500),
     lambda a: np.abs(a).max() <= np.sqrt(6 / 800) and abs(a.std() - np.sqrt(2 / 800)) < 0.001),
    # glorot_normal: truncated normal with stddev sqrt(2 / (fan_in + fan_out))
    (lambda: tf.glorot_normal_initializer(seed=1), (300, 500),
     lambda a: abs(a.std() - np.sqrt(2 / 800)) < 0.001),
    # variance_scaling, fan_in, a 3x3x16x32 kernel: fan_in = 3 * 3 * 16
    (lambda: tf.variance_scaling_initializer(2.0, "fan_in", "truncated_normal", seed=1), (3, 3, 16, 32),
     lambda a: abs(a.std() - np.sqrt(2 / 144)) < 0.01),
    (lambda: tf.variance_scaling_initializer(1.0, "fan_out", "uniform", seed=1), (200, 300),
     lambda a: np.abs(a).max() <= np.sqrt(3 / 300)),
])
def test_initializer_statistics(fresh_graph, make, shape, check):
    v = tf.get_variable("v", shape, initializer=make())
    a = _init_value(v)
    assert a.shape == shape and a.dtype == np.float32
    assert check(a)


@pytest.mark.parametrize("shape", [(6, 6), (4, 10), (10, 4), (3, 3, 2, 5)])
def test_orthogonal_initializer(fresh_graph, shape):
    v = tf.get_variable("v", shape, initializer=tf.orthogonal_initializer(gain=2.0, seed=3))
    a = _init_value(v).reshape(-1, shape[-1]).astype(np.float64)
    small = min(a.shape)
    gram = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)


def test_seeded_initializers_are_reproducible():
    def draw():
        g = tf.Graph()
        with g.as_default():
            tf.set_random_seed(7)
            v = tf.get_variable("v", [5, 5])
            return _init_value(v)
    np.testing.assert_array_equal(draw(), draw())


# --- tf.layers -----------------------------------------------------------------------------------

def test_dense_names_values_and_reuse(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.layers.dense(x, 3, activation=tf.nn.relu)
    z = tf.layers.dense(y, 2, use_bias=False)
    assert [v.name for v in tf.trainable_variables()] == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0"]
    assert y.op.name.startswith("dense/")
    y2 = tf.layers.dense(x, 3, activation=tf.nn.relu, name="dense", reuse=True)
    assert len(tf.trainable_variables()) == 3
    xv = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        k, b = s.run(["dense/kernel:0", "dense/bias:0"])
        yv, y2v, zv = s.run([y, y2, z], {x: xv})
        k1 = s.run("dense_1/kernel:0")
    np.testing.assert_allclose(yv, np.maximum(xv @ k + b, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(yv, y2v)
    np.testing.assert_allclose(zv, yv @ k1, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="dense/kernel already exists"):
        tf.layers.dense(x, 3, name="dense")


def test_layer_objects_share_variables_across_calls(fresh_graph):
    layer = tf.layers.Dense(3, kernel_initializer=tf.ones_initializer())
    a = layer(tf.placeholder(tf.float32, [None, 2]))
    b = layer(tf.constant(np.ones((1, 2), np.float32)))
    assert len(tf.trainable_variables()) == 2 and layer.kernel.name == "dense/kernel:0"
    assert a.get_shape().as_list() == [None, 3]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert s.run(b).tolist() == [[2.0, 2.0, 2.0]]


def test_kernel_regularizer_adds_a_loss(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 2])
    tf.layers.dense(x, 3, kernel_regularizer=lambda w: 0.1 * tf.reduce_sum(tf.square(w)),
                    kernel_initializer=tf.ones_initializer())
    (loss,) = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert s.run(loss) == pytest.approx(0.6)


def test_conv2d_and_pooling(fresh_graph):
    img = tf.placeholder(tf.float32, [None, 7, 7, 2])
    c = tf.layers.conv2d(img, 4, 3)                      # TF's default padding: valid
    s = tf.layers.conv2d(img, 4, [3, 3], strides=2, padding="same", name="same")
    m = tf.layers.max_pooling2d(c, 2, 2)
    a = tf.layers.average_pooling2d(c, pool_size=[2, 2], strides=1, padding="same")
    f = tf.layers.flatten(m)
    assert c.get_shape().as_list() == [None, 5, 5, 4]
    assert s.get_shape().as_list() == [None, 4, 4, 4]
    assert m.get_shape().as_list() == [None, 2, 2, 4]
    assert a.get_shape().as_list() == [None, 5, 5, 4]
    assert f.get_shape().as_list() == [None, 16]
    assert [v.name for v in tf.trainable_variables()] == ["conv2d/kernel:0", "conv2d/bias:0", "same/kernel:0",
                                                          "same/bias:0"]
    xv = np.random.default_rng(0).standard_normal((2, 7, 7, 2)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k, b = sess.run(["conv2d/kernel:0", "conv2d/bias:0"])
        cv, mv = sess.run([c, m], {img: xv})
    ref = np.zeros((2, 5, 5, 4), np.float32)
    for i in range(5):
        for j in range(5):
            ref[:, i, j] = np.tensordot(xv[:, i:i + 3, j:j + 3, :], k, axes=3) + b
    np.testing.assert_allclose(cv, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mv, cv[:, :4, :4].reshape(2, 2, 2, 2, 2, 4).max(axis=(2, 4)), rtol=1e-6)


def test_dropout_training_placeholder(fresh_graph):
    x = tf.ones([200, 50])
    training = tf.placeholder(tf.bool, [])
    y = tf.layers.dropout(x, rate=0.25, training=training, seed=1)
    assert tf.layers.dropout(x, 0.5) is x   # training=False (the default) is the identity
    with tf.Session() as s:
        off = s.run(y, {training: False})
        on = s.run(y, {training: True})
    assert (off == 1).all()
    kept = on != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(on[kept], 1 / 0.75, rtol=1e-6)


def test_batch_normalization_update_ops_and_training_switch(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 3])
    training = tf.placeholder(tf.bool, [])
    y = tf.layers.batch_normalization(x, momentum=0.9, training=training)
    updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    assert [v.name for v in tf.global_variables()] == [
        "batch_normalization/gamma:0", "batch_normalization/beta:0", "batch_normalization/moving_mean:0",
        "batch_normalization/moving_variance:0"]
    assert [v.name for v in tf.trainable_variables()] == ["batch_normalization/gamma:0",
                                                          "batch_normalization/beta:0"]
    xv = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype(np.float32)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        yt = s.run(y, {x: xv, training: True})
        np.testing.assert_allclose(yt.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(yt.std(0), 1, atol=1e-2)
        yi = s.run(y, {x: xv, training: False})        # moving averages: mean 0, variance 1
        np.testing.assert_allclose(yi, xv / np.sqrt(1 + 1e-3), rtol=1e-5)
        s.run(updates, {x: xv, training: True})
        mm = s.run("batch_normalization/moving_mean:0")
        np.testing.assert_allclose(mm, 0.1 * xv.mean(0), rtol=1e-4)
        s.run(updates, {x: xv, training: False})       # not training: the averages stay
        np.testing.assert_allclose(s.run("batch_normalization/moving_mean:0"), mm)
