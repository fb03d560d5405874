"""tf.losses.*, embedding_lookup, in_top_k, nce_loss / sampled_softmax_loss, ExponentialMovingAverage,
batch_norm_with_global_normalization, tf.device, ConfigProto().gpu_options, arg_max / arg_min."""

import numpy as np
import pytest

import nnctl as tf


def _run(*ts, feed=None):
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        return s.run(list(ts), feed)


def test_losses_values_and_reductions(fresh_graph):
    labels = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    logits = np.array([[1.0, 2.0], [0.5, -0.5]], np.float32)
    pred = np.array([[0.5, 2.0], [1.0, -1.0]], np.float32)
    w = np.array([[1.0], [0.0]], np.float32)
    ls = logits - logits.max(1, keepdims=True)
    ce = -(labels * (ls - np.log(np.exp(ls).sum(1, keepdims=True)))).sum(1)
    sig = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    err = np.abs(pred - labels)
    hub = np.where(err <= 1.0, 0.5 * err ** 2, err - 0.5)
    got = _run(tf.losses.softmax_cross_entropy(labels, logits),
               tf.losses.sparse_softmax_cross_entropy([1, 0], logits),
               tf.losses.sigmoid_cross_entropy(labels, logits),
               tf.losses.mean_squared_error(labels, pred),
               tf.losses.absolute_difference(labels, pred),
               tf.losses.huber_loss(labels, pred),
               tf.losses.mean_squared_error(labels, pred, weights=w),
               tf.losses.mean_squared_error(labels, pred, reduction=tf.losses.Reduction.SUM),
               tf.losses.mean_squared_error(labels, pred, reduction=tf.losses.Reduction.NONE),
               tf.losses.softmax_cross_entropy(labels, logits, label_smoothing=0.2))
    sm = labels * 0.8 + 0.1
    ce_s = -(sm * (ls - np.log(np.exp(ls).sum(1, keepdims=True)))).sum(1)
    want = [ce.mean(), ce.mean(), sig.mean(), ((pred - labels) ** 2).mean(), err.mean(), hub.mean(),
            ((pred - labels) ** 2)[0].mean(), ((pred - labels) ** 2).sum(), (pred - labels) ** 2, ce_s.mean()]
    for g, wv in zip(got, want):
        np.testing.assert_allclose(g, wv, rtol=1e-5)


def test_total_loss_collects_losses_and_regularization(fresh_graph):
    a = tf.losses.mean_squared_error([1.0], [3.0])
    tf.add_to_collection(tf.GraphKeys.REGULARIZATION_LOSSES, tf.constant(0.5))
    assert tf.losses.get_losses() == [a]
    total, reg = _run(tf.losses.get_total_loss(), tf.losses.get_regularization_loss())
    assert total == pytest.approx(4.5) and reg == pytest.approx(0.5)
    with pytest.raises(AttributeError, match="not supported by nnctl"):
        _ = tf.losses.cosine_proximity_v9


def test_embedding_lookup_and_sharding(fresh_graph):
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.array([[0, 5], [3, 3]])
    one = tf.nn.embedding_lookup(tf.constant(table), ids)
    mod = tf.nn.embedding_lookup([tf.constant(table[0::2]), tf.constant(table[1::2])], ids)
    div = tf.nn.embedding_lookup([tf.constant(table[:3]), tf.constant(table[3:])], ids, partition_strategy="div")
    clipped = tf.nn.embedding_lookup(tf.constant(table), [5], max_norm=1.0)
    a, b, c, d = _run(one, mod, div, clipped)
    for x in (a, b, c):
        np.testing.assert_array_equal(x, table[ids])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), [1.0], rtol=1e-6)


def test_in_top_k_follows_tf_ties_and_nonfinite(fresh_graph):
    p = tf.constant([[0.1, 0.3, 0.3], [0.5, 0.2, 0.1], [np.nan, 1.0, 0.0], [1.0, 2.0, 3.0]], tf.float32)
    r1, r2 = _run(tf.nn.in_top_k(p, [1, 1, 1, 7], 1), tf.nn.in_top_k(p, [2, 1, 1, 1], 2))
    assert r1.tolist() == [True, False, False, False]  # a tie counts; NaN row and out-of-range target are False
    assert r2.tolist() == [True, True, False, True]


def test_word2vec_with_nce_and_sampled_softmax_learns(fresh_graph):
    tf.set_random_seed(1)
    vocab, dim = 40, 8
    rng = np.random.default_rng(0)
    centers = rng.integers(0, vocab, size=256)
    contexts = (centers + 1) % vocab            # a fixed successor relation to learn
    x = tf.placeholder(tf.int32, [None])
    y = tf.placeholder(tf.int64, [None, 1])
    emb = tf.Variable(tf.random_uniform([vocab, dim], -1.0, 1.0))
    w = tf.Variable(tf.truncated_normal([vocab, dim], stddev=1.0 / np.sqrt(dim)))
    b = tf.Variable(tf.zeros([vocab]))
    e = tf.nn.embedding_lookup(emb, x)
    nce = tf.reduce_mean(tf.nn.nce_loss(w, b, y, e, num_sampled=8, num_classes=vocab))
    ssm = tf.reduce_mean(tf.nn.sampled_softmax_loss(w, b, y, e, num_sampled=8, num_classes=vocab))
    train = tf.train.AdamOptimizer(0.05).minimize(nce + ssm)
    full = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(y, [-1]), logits=tf.matmul(e, w, transpose_b=True) + b))
    feed = {x: centers, y: contexts[:, None]}
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        before = s.run(full, feed)
        for _ in range(150):
            s.run(train, feed)
        after = s.run(full, feed)
    assert after < 0.35 * before


def test_candidate_sampler_expected_counts(fresh_graph):
    true = tf.constant([[0], [5]], tf.int64)
    sampled, te, se = tf.nn.log_uniform_candidate_sampler(true, 1, 10, True, 100, seed=3)
    s_v, te_v, se_v = _run(sampled, te, se)
    assert len(set(s_v.tolist())) == 10 and s_v.min() >= 0 and s_v.max() < 100
    p = np.log((np.arange(100) + 2) / (np.arange(100) + 1)) / np.log(101)
    # with unique sampling, expected count = 1 - (1 - p)^tries for one common number of tries
    tries = np.log1p(-se_v) / np.log1p(-p[s_v])
    np.testing.assert_allclose(tries, tries[0], rtol=1e-3)
    np.testing.assert_allclose(te_v[:, 0], -np.expm1(tries[0] * np.log1p(-p[[0, 5]])), rtol=1e-3)


def test_exponential_moving_average(fresh_graph):
    v = tf.Variable(1.0)
    ema = tf.train.ExponentialMovingAverage(0.9)
    upd = ema.apply([v])
    avg = ema.average(v)
    assert avg.op.name == "Variable/ExponentialMovingAverage" and not avg.trainable
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        s.run(v.assign(3.0))
        s.run(upd)
        assert s.run(avg) == pytest.approx(1.0 + 0.1 * 2.0)
        s.run(upd)
        assert s.run(avg) == pytest.approx(1.2 + 0.1 * 1.8)
    assert ema.variables_to_restore() == {"Variable/ExponentialMovingAverage": v}
    step = tf.Variable(0)
    ema2 = tf.train.ExponentialMovingAverage(0.999, num_updates=step)
    w = tf.Variable(0.0)
    u2 = ema2.apply([w])
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        s.run(w.assign(10.0))
        s.run(u2)
        assert s.run(ema2.average(w)) == pytest.approx(0.9 * 10.0)  # decay min(0.999, 1/10)


def test_batch_norm_with_global_normalization(fresh_graph):
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    m, var = np.array([2.0, 4.0], np.float32), np.array([1.0, 4.0], np.float32)
    beta, gamma = np.array([0.5, 0.0], np.float32), np.array([2.0, 3.0], np.float32)
    a, b = _run(tf.nn.batch_norm_with_global_normalization(x, m, var, beta, gamma, 1e-3, True),
                tf.nn.batch_norm_with_global_normalization(x, m, var, beta, gamma, 1e-3, False))
    np.testing.assert_allclose(a, (x - m) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-5)
    np.testing.assert_allclose(b, (x - m) / np.sqrt(var + 1e-3) + beta, rtol=1e-5)


def test_device_config_and_arg_max(fresh_graph):
    cfg = tf.ConfigProto(allow_soft_placement=True, log_device_placement=False)
    cfg.gpu_options.allow_growth = True
    cfg.gpu_options.per_process_gpu_memory_fraction = 0.5
    with tf.device("/gpu:0"), tf.get_default_graph().device("/cpu:0"):
        x = tf.constant([[1.0, 5.0, 2.0], [7.0, 0.0, 1.0]])
    with tf.Session(config=cfg) as s:
        mx, mn = s.run([tf.arg_max(x, 1), tf.arg_min(x, dimension=1)])
    assert mx.tolist() == [1, 0] and mn.tolist() == [0, 1] and mx.dtype == np.int64


def test_interactive_session_eval_and_run(fresh_graph):
    v = tf.Variable(2.0)
    sess = tf.InteractiveSession()
    try:
        tf.global_variables_initializer().run()
        assert (v * 3.0).eval() == 6.0
    finally:
        sess.close()
