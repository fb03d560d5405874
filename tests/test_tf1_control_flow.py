"""tf.cond / tf.case / tf.while_loop / tf.map_fn: only the taken branch runs; gradients through them."""

import numpy as np
import pytest

import nnctl as tf


def test_only_the_taken_branch_runs(fresh_graph):
    p = tf.placeholder(tf.bool, [])
    hits_t = tf.Variable(0, name="hits_t")
    hits_f = tf.Variable(0, name="hits_f")

    def t():
        with tf.control_dependencies([tf.assign_add(hits_t, 1)]):
            return tf.constant(1.0)

    def f():
        with tf.control_dependencies([tf.assign_add(hits_f, 1)]):
            return tf.constant(-1.0)
    y = tf.cond(p, t, f)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert [s.run(y, {p: v}) for v in (True, True, False)] == [1.0, 1.0, -1.0]
        assert s.run([hits_t, hits_f]) == [2, 1]


def test_untaken_branch_errors_never_fire(fresh_graph):
    x = tf.placeholder(tf.float32, [None])
    ok = tf.placeholder(tf.bool, [])
    y = tf.cond(ok, lambda: tf.reduce_sum(x), lambda: tf.reduce_sum(tf.reshape(x, [7, -1])))
    with tf.Session() as s:
        assert s.run(y, {x: [1.0, 2.0], ok: True}) == 3.0
        with pytest.raises(tf.errors.InvalidArgumentError):
            s.run(y, {x: [1.0, 2.0], ok: False})


def test_cond_structures_and_python_pred(fresh_graph):
    a = tf.constant(2.0)
    out = tf.cond(tf.constant(True), lambda: (a, {"k": a * 3}), lambda: (a * 0, {"k": a}))
    assert isinstance(out, tuple) and isinstance(out[1], dict)
    with tf.Session() as s:
        assert s.run(out) == (2.0, {"k": 6.0})
    assert tf.cond(True, lambda: 1, lambda: 2) == 1
    with pytest.raises(TypeError, match="scalar bool"):
        tf.cond(tf.constant(1.0), lambda: a, lambda: a)
    with pytest.raises(TypeError, match="float32.*int32"):
        tf.cond(tf.constant(True), lambda: a, lambda: tf.constant(1))


def test_dropout_on_an_is_training_placeholder_trains(fresh_graph):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    Y = (X @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.float32, [None, 1])
    training = tf.placeholder(tf.bool, [])
    w1 = tf.Variable(tf.random_normal([4, 32], stddev=0.3, seed=1))
    w2 = tf.Variable(tf.random_normal([32, 1], stddev=0.3, seed=2))
    h = tf.nn.relu(tf.matmul(x, w1))
    h = tf.cond(training, lambda: tf.nn.dropout(h, keep_prob=0.9, seed=3), lambda: h)
    loss = tf.reduce_mean(tf.square(tf.matmul(h, w2) - y))
    train = tf.train.AdamOptimizer(0.01).minimize(loss)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        first = s.run(loss, {x: X, y: Y, training: False})
        for _ in range(300):
            s.run(train, {x: X, y: Y, training: True})
        last = s.run(loss, {x: X, y: Y, training: False})
        again = s.run(loss, {x: X, y: Y, training: False})
    assert last < 0.1 * first and last == again  # evaluation takes the deterministic branch


def test_case(fresh_graph):
    k = tf.placeholder(tf.int32, [])
    y = tf.case([(tf.equal(k, 0), lambda: tf.constant(10)), (tf.equal(k, 1), lambda: tf.constant(11))],
                default=lambda: tf.constant(-1))
    z = tf.case({tf.less(k, 5): lambda: tf.constant(1), tf.greater(k, 3): lambda: tf.constant(2)},
                default=lambda: tf.constant(0), exclusive=True)
    with tf.Session() as s:
        assert [s.run(y, {k: v}) for v in (0, 1, 2)] == [10, 11, -1]
        assert s.run(z, {k: 1}) == 1
        with pytest.raises(tf.errors.InvalidArgumentError, match="exclusive"):
            s.run(z, {k: 4})


def test_while_loop_data_dependent_count_and_gradient(fresh_graph):
    n = tf.placeholder(tf.int32, [])
    v = tf.placeholder(tf.float64, [])
    one = tf.constant(1.0, tf.float64)
    i, p = tf.while_loop(lambda i, p: i < n, lambda i, p: [i + 1, p * v], [tf.constant(0), one])
    (g,) = tf.gradients(p, v)
    with tf.Session() as s:
        for count in (0, 1, 4):
            iv, pv, gv = s.run([i, p, g], {n: count, v: 1.5})
            assert iv == count and pv == pytest.approx(1.5 ** count)
            assert gv == pytest.approx(count * 1.5 ** max(count - 1, 0) if count else 0.0)


def test_while_loop_maximum_iterations_and_shape_invariants(fresh_graph):
    x0 = tf.zeros([0, 2])
    _, x = tf.while_loop(lambda k, x: k < 100, lambda k, x: [k + 1, tf.concat([x, tf.ones([1, 2])], 0)],
                         [tf.constant(0), x0], shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, 2])],
                         maximum_iterations=3)
    assert x.shape.as_list() == [None, 2]
    with tf.Session() as s:
        assert s.run(x).shape == (3, 2)
    with pytest.raises(ValueError, match="shape_invariants"):
        tf.while_loop(lambda k, x: k < 2, lambda k, x: [k + 1, tf.concat([x, tf.ones([1, 2])], 0)],
                      [tf.constant(0), x0])


def test_map_fn(fresh_graph):
    x = tf.constant(np.arange(6.0).reshape(3, 2))
    y = tf.map_fn(lambda r: r * 2.0 + 1.0, x)
    p = tf.placeholder(tf.float32, [None, 2])
    q = tf.map_fn(lambda r: tf.reduce_sum(r) * tf.ones([2]), p)
    (g,) = tf.gradients(tf.reduce_sum(q * q), p)
    with tf.Session() as s:
        np.testing.assert_allclose(s.run(y), np.arange(6.0).reshape(3, 2) * 2 + 1)
        pv = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
        qv, gv = s.run([q, g], {p: pv})
    np.testing.assert_allclose(qv, [[3, 3], [7, 7]])
    np.testing.assert_allclose(gv, [[12, 12], [28, 28]])  # d/dr sum((2 s)^2)... = 4 s per element
