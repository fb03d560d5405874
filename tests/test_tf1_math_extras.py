"""reduce_any/all, count_nonzero, is_nan/is_inf/is_finite, log_sigmoid, reduce_logsumexp, norm, eye,
linspace, random_shuffle, nn.top_k, nn.lrn (values checked against TensorFlow's definitions)."""

import numpy as np
import pytest

import nnctl as tf


def _run(*ts):
    with tf.Session() as s:
        return s.run(list(ts))


def test_logical_reductions_and_counts(fresh_graph):
    a = tf.constant([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    anyv, allv, cnt, cnt1 = _run(tf.reduce_any(a > 1.5, axis=1), tf.reduce_all(a >= 0.0),
                                 tf.count_nonzero(a), tf.count_nonzero(a, axis=0, keepdims=True))
    assert anyv.tolist() == [True, True] and allv and cnt == 3 and cnt1.tolist() == [[1, 0, 2]]
    assert tf.count_nonzero(a).dtype == tf.int64
    with pytest.raises(TypeError, match="bool"):
        tf.reduce_any(a)


def test_finiteness_tests(fresh_graph):
    x = tf.constant([1.0, np.inf, -np.inf, np.nan])
    n, i, f = _run(tf.is_nan(x), tf.is_inf(x), tf.is_finite(x))
    assert n.tolist() == [False, False, False, True] and i.tolist() == [False, True, True, False]
    assert f.tolist() == [True, False, False, False]


def test_stable_log_functions_and_norms(fresh_graph):
    v = np.array([[1.0, 3.0, 2.0], [500.0, 500.0, -500.0]], np.float32)
    a = tf.constant(v)
    ls, lse, lse_kd, n2, n1, ninf = _run(tf.log_sigmoid(a), tf.reduce_logsumexp(a, 1),
                                         tf.reduce_logsumexp(a, 1, keepdims=True), tf.norm(a[0]),
                                         tf.norm(a, ord=1, axis=1), tf.norm(a, ord=np.inf))
    np.testing.assert_allclose(ls[0], -np.log1p(np.exp(-v[0])), rtol=1e-6)
    assert ls[1, 2] == pytest.approx(-500.0)
    np.testing.assert_allclose(lse, [np.log(np.exp(v[0]).sum()), 500.0 + np.log(2.0)], rtol=1e-6)
    assert lse_kd.shape == (2, 1)
    assert n2 == pytest.approx(np.sqrt(14.0)) and n1.tolist() == [6.0, 1500.0] and ninf == 500.0


def test_eye_linspace_shuffle(fresh_graph):
    e, ls, sh = _run(tf.eye(2, 3, dtype=tf.int32), tf.linspace(0.0, 1.0, 5), tf.random_shuffle(tf.range(10), seed=1))
    assert e.tolist() == [[1, 0, 0], [0, 1, 0]] and ls.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sorted(sh.tolist()) == list(range(10))


def test_top_k_values_indices_ties_and_gradient(fresh_graph):
    a = tf.constant([[1.0, 3.0, 3.0, 0.5], [4.0, -1.0, 2.0, 2.5]])
    r = tf.nn.top_k(a, k=2)
    (g,) = tf.gradients(tf.reduce_sum(r.values * tf.constant([[1.0, 10.0], [100.0, 1000.0]])), a)
    v, i, gv = _run(r.values, r.indices, g)
    assert v.tolist() == [[3.0, 3.0], [4.0, 2.5]] and i.tolist() == [[1, 2], [0, 3]]  # ties: lower index first
    assert gv.tolist() == [[0, 1, 10, 0], [100, 0, 0, 1000]]


def test_lrn_matches_the_definition(fresh_graph):
    x = np.random.RandomState(0).rand(1, 2, 2, 6).astype(np.float32)
    out = _run(tf.nn.lrn(tf.constant(x), depth_radius=2, bias=1.0, alpha=0.1, beta=0.75))[0]
    sq = np.pad(x ** 2, [(0, 0), (0, 0), (0, 0), (2, 2)])
    window = sum(sq[..., i:i + 6] for i in range(5))
    np.testing.assert_allclose(out, x / (1.0 + 0.1 * window) ** 0.75, rtol=1e-5)
    # one value recorded from TensorFlow 2.21 (tf.compat.v1.nn.lrn with these arguments)
    assert out[0, 0, 0, 0] == pytest.approx(0.5049048662185669, rel=1e-6)
