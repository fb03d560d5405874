"""The compiled row loops of nnctl/ops/seq_jit.py give the xp path's bits (softmax, its gradient,
gather's scatter-add, the fused LSTM step and its gradient), on arrays big enough to take them."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.ops import seq_jit

pytestmark = pytest.mark.skipif(seq_jit.load() is None,
                                reason="the compiled kernels are not built here (or NNCTL_JIT=0)")


def _run(build, feeds, monkeypatch, jit: bool):
    monkeypatch.setenv("NNCTL_JIT", "1" if jit else "0")
    g = tf.Graph()
    with g.as_default():
        phs, fetches = build()
        with tf.Session(graph=g) as sess:
            sess.run(tf.global_variables_initializer())
            return [sess.run(fetches, dict(zip(phs, feeds))) for _ in range(2)]  # the bound path too


def _same(a, b):
    for x, y in zip(a, b):
        if isinstance(x, list):
            _same(x, y)
        else:
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_its_gradient_equal_the_xp_path(monkeypatch, dtype):
    r = np.random.default_rng(0)
    x = (r.standard_normal((64, 4, 64, 65)) * 4).astype(dtype)  # 65: a remainder after blocks of eight
    w = r.standard_normal(x.shape).astype(dtype)

    def build():
        p = tf.placeholder(dtype, x.shape)
        y = tf.nn.softmax(p)
        return [p], [y, tf.gradients(tf.reduce_sum(y * w), p)[0]]
    assert x.size >= seq_jit.MIN_ELEMENTS
    _same(_run(build, [x], monkeypatch, True), _run(build, [x], monkeypatch, False))
    monkeypatch.setenv("NNCTL_JIT", "1")
    assert seq_jit.load() is not None  # the compiled path was there to compare


def test_embedding_gradient_equals_the_xp_path(monkeypatch):
    r = np.random.default_rng(1)
    ids = r.integers(-50, 50, (32, 64))  # repeated and negative ids
    table = r.standard_normal((50, 128)).astype(np.float32)
    w = r.standard_normal((32, 64, 128)).astype(np.float32)

    def build():
        p = tf.placeholder(tf.int64, ids.shape)
        v = tf.Variable(table)
        e = tf.gather(v, p)
        return [p], tf.gradients(tf.reduce_sum(e * w), v)
    _same(_run(build, [ids], monkeypatch, True), _run(build, [ids], monkeypatch, False))


@pytest.mark.parametrize("cell", ["basic", "lstm"])
def test_lstm_steps_and_gradients_equal_the_xp_path(monkeypatch, cell):
    r = np.random.default_rng(2)
    x = r.standard_normal((64, 5, 16)).astype(np.float32)

    def build():
        tf.set_random_seed(3)
        p = tf.placeholder(tf.float32, x.shape)
        c = (tf.nn.rnn_cell.BasicLSTMCell(128, forget_bias=1.0) if cell == "basic"
             else tf.nn.rnn_cell.LSTMCell(128, forget_bias=0.0))
        out, st = tf.nn.dynamic_rnn(c, p, dtype=tf.float32)
        loss = tf.reduce_sum(out * out) + tf.reduce_sum(st.c)
        return [p], [out, st.c] + tf.gradients(loss, [p] + tf.trainable_variables())
    _same(_run(build, [x], monkeypatch, True), _run(build, [x], monkeypatch, False))
