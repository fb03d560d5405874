"""tf.train learning-rate schedules and gradient clipping against numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnctl as tf

STEPS = [0, 1, 5, 10, 24, 25, 26, 100, 250]


@pytest.fixture(autouse=True)
def _fresh_graph():
    tf.reset_default_graph()
    yield


def _values(make, steps=STEPS, dtype=tf.int64):
    """Evaluate the schedule built by ``make(global_step)`` at every step (the step fed)."""
    gs = tf.placeholder(dtype, shape=[], name="step")
    out = make(gs)
    with tf.Session() as sess:
        return [sess.run(out, feed_dict={gs: s}) for s in steps], out


def test_exponential_decay():
    got, out = _values(lambda gs: tf.train.exponential_decay(0.1, gs, 25, 0.5))
    assert out.dtype == tf.float32
    np.testing.assert_allclose(got, [0.1 * 0.5 ** (s / 25) for s in STEPS], rtol=1e-6)
    got, _ = _values(lambda gs: tf.train.exponential_decay(0.1, gs, 25, 0.5, staircase=True))
    np.testing.assert_allclose(got, [0.1 * 0.5 ** (s // 25) for s in STEPS], rtol=1e-6)


def test_exponential_decay_float64_and_variable_step():
    gs = tf.train.get_or_create_global_step()
    lr = tf.train.exponential_decay(tf.constant(0.2, tf.float64), gs, 10, 0.9, staircase=True)
    assert lr.dtype == tf.float64
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for s in (0, 9, 10, 35):
            gs.load(s, sess)
            np.testing.assert_allclose(sess.run(lr), 0.2 * 0.9 ** (s // 10), rtol=1e-14)


def test_inverse_time_and_natural_exp_decay():
    got, _ = _values(lambda gs: tf.train.inverse_time_decay(0.5, gs, 10, 0.3))
    np.testing.assert_allclose(got, [0.5 / (1 + 0.3 * s / 10) for s in STEPS], rtol=1e-6)
    got, _ = _values(lambda gs: tf.train.inverse_time_decay(0.5, gs, 10, 0.3, staircase=True))
    np.testing.assert_allclose(got, [0.5 / (1 + 0.3 * (s // 10)) for s in STEPS], rtol=1e-6)
    got, _ = _values(lambda gs: tf.train.natural_exp_decay(0.5, gs, 10, 0.3))
    np.testing.assert_allclose(got, [0.5 * math.exp(-0.3 * s / 10) for s in STEPS], rtol=1e-6)


def test_polynomial_decay():
    def ref(s, cycle, lr=0.1, end=0.01, steps=25, power=2.0):
        if cycle:
            steps = steps * (1.0 if s == 0 else math.ceil(s / steps))
        else:
            s = min(s, steps)
        return (lr - end) * (1 - s / steps) ** power + end
    got, _ = _values(lambda gs: tf.train.polynomial_decay(0.1, gs, 25, 0.01, power=2.0))
    np.testing.assert_allclose(got, [ref(s, False) for s in STEPS], rtol=1e-6)
    got, _ = _values(lambda gs: tf.train.polynomial_decay(0.1, gs, 25, 0.01, power=2.0, cycle=True))
    np.testing.assert_allclose(got, [ref(s, True) for s in STEPS], rtol=1e-6)


def test_piecewise_constant():
    got, out = _values(lambda gs: tf.train.piecewise_constant(gs, [10, 25], [1.0, 0.5, 0.1]))
    assert out.dtype == tf.float32

    def ref(s):
        return 1.0 if s <= 10 else 0.5 if s <= 25 else 0.1
    np.testing.assert_allclose(got, [ref(s) for s in STEPS], rtol=1e-7)
    got, _ = _values(lambda x: tf.train.piecewise_constant(x, [0.5, 1.5, 2.5], [4, 3, 2, 1]),
                     steps=[0.0, 0.5, 0.6, 1.5, 2.0, 2.5, 3.0], dtype=tf.float32)
    assert got == [4, 4, 3, 3, 2, 2, 1]


def test_piecewise_constant_errors():
    gs = tf.placeholder(tf.int64, [])
    with pytest.raises(ValueError, match="1 less"):
        tf.train.piecewise_constant(gs, [10, 20], [1.0, 0.5])
    with pytest.raises(ValueError, match="same dtype as x"):
        tf.train.piecewise_constant(gs, [10.5], [1.0, 0.5])
    with pytest.raises(ValueError, match="same dtype"):
        tf.train.piecewise_constant(gs, [10], [1.0, tf.constant(0.5, tf.float64)])


def test_cosine_decay():
    for alpha in (0.0, 0.1):
        got, _ = _values(lambda gs, a=alpha: tf.train.cosine_decay(0.1, gs, 25, alpha=a))
        exp = []
        for s in STEPS:
            frac = min(s, 25) / 25
            exp.append(0.1 * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * frac)) + alpha))
        np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-8)


def test_linear_warmup():
    got, _ = _values(lambda gs: tf.train.linear_warmup(0.1, gs, 10))
    np.testing.assert_allclose(got, [0.1 * min(1.0, s / 10) for s in STEPS], rtol=1e-6)
    # composes with a decay schedule
    got, _ = _values(lambda gs: tf.train.linear_warmup(tf.train.cosine_decay(0.1, gs, 100), gs, 10))
    exp = [0.1 * 0.5 * (1 + math.cos(math.pi * min(s, 100) / 100)) * min(1.0, s / 10) for s in STEPS]
    np.testing.assert_allclose(got, exp, rtol=1e-5, atol=1e-8)
    lr = tf.train.linear_warmup(0.1, tf.placeholder(tf.int64, []), 0)
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(lr), 0.1, rtol=1e-7)
    with pytest.raises(ValueError, match="warmup_steps"):
        tf.train.linear_warmup(0.1, tf.placeholder(tf.int64, []), -1)


def test_schedules_need_global_step():
    for f in (lambda: tf.train.exponential_decay(0.1, None, 10, 0.5),
              lambda: tf.train.cosine_decay(0.1, None, 10),
              lambda: tf.train.linear_warmup(0.1, None, 10)):
        with pytest.raises(ValueError, match="global_step is required"):
            f()


def test_schedule_follows_training_global_step():
    w = tf.Variable(np.array([1.0]), name="w")
    gs = tf.train.get_or_create_global_step()
    lr = tf.train.piecewise_constant(gs, [2], [0.1, 0.01])
    train = tf.train.GradientDescentOptimizer(lr).minimize(tf.reduce_sum(w), global_step=gs)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        seen = []
        for _ in range(4):
            seen.append(sess.run(lr))
            sess.run(train)
        np.testing.assert_allclose(seen, [0.1, 0.1, 0.1, 0.01], rtol=1e-6)
        np.testing.assert_allclose(sess.run(w), [1.0 - 0.1 * 3 - 0.01], rtol=1e-6)


# --- clipping -------------------------------------------------------------------------------------

A = np.array([[3.0, -4.0], [1.0, 2.0]])
B = np.array([0.5, -1.5, 2.0])
C = np.array(7.0)


def _np_global_norm(*arrs):
    return math.sqrt(sum(float(np.sum(a * a)) for a in arrs))


@pytest.mark.parametrize("clip", [1.0, 5.0, 100.0])
def test_clip_by_global_norm(clip):
    ts = [tf.constant(A), None, tf.constant(B), tf.constant(C)]
    clipped, norm = tf.train.clip_by_global_norm(ts, clip)
    assert clipped[1] is None and len(clipped) == 4
    with tf.Session() as sess:
        got_norm = sess.run(norm)
        vals = sess.run([clipped[0], clipped[2], clipped[3]])
    n = _np_global_norm(A, B, C)
    np.testing.assert_allclose(got_norm, n, rtol=1e-14)
    scale = clip * min(1.0 / n, 1.0 / clip)
    for v, ref in zip(vals, (A, B, C)):
        np.testing.assert_allclose(v, ref * scale, rtol=1e-14)
    if clip < n:
        np.testing.assert_allclose(_np_global_norm(*vals), clip, rtol=1e-13)


def test_clip_by_global_norm_use_norm_float32_and_nonfinite():
    a = tf.constant(A.astype(np.float32))
    clipped, norm = tf.train.clip_by_global_norm((a,), 1.0, use_norm=tf.constant(10.0))
    with tf.Session() as sess:
        v = sess.run(clipped[0])
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, A / 10.0, rtol=1e-6)
        assert sess.run(norm) == np.float32(10.0)
    x = tf.placeholder(tf.float64, [2])
    clipped, norm = tf.train.clip_by_global_norm([x], 1.0)
    with tf.Session() as sess, np.errstate(invalid="ignore"):
        out = sess.run(clipped[0], feed_dict={x: [np.inf, 1.0]})
    assert np.isnan(out).all()
    with pytest.raises(TypeError, match="sequence"):
        tf.train.clip_by_global_norm(tf.constant(A), 1.0)


def test_global_norm():
    n = tf.train.global_norm([tf.constant(A), None, tf.constant(B)])
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(n), _np_global_norm(A, B), rtol=1e-14)


def test_clip_by_norm():
    with tf.Session() as sess:
        np.testing.assert_allclose(sess.run(tf.train.clip_by_norm(tf.constant(A), 2.0)),
                                   A * 2.0 / np.linalg.norm(A), rtol=1e-14)
        np.testing.assert_allclose(sess.run(tf.train.clip_by_norm(tf.constant(A), 100.0)), A, rtol=1e-14)
        row = np.linalg.norm(A, axis=1, keepdims=True)
        np.testing.assert_allclose(sess.run(tf.train.clip_by_norm(tf.constant(A), 3.0, axes=[1])),
                                   A * 3.0 / np.maximum(row, 3.0), rtol=1e-14)
        z = sess.run(tf.train.clip_by_norm(tf.zeros([3], tf.float64), 1.0))
        np.testing.assert_array_equal(z, np.zeros(3))
