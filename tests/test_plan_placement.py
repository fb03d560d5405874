"""Buffers a bound plan places: split pieces as views of their input, concat pieces computed
straight into the concat's buffer (runtime/plan.py: _join_slots, _BufferPool.placed, _join_step).
Each case checks the bound path against the allocating first-run path bit for bit, against numpy,
and what the plan really runs (its steps)."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf

RNG = np.random.default_rng(7)


def _bound_and_first(fetches, feed):
    """(allocating-path values, bound-path values, the bound plan's op types per step)."""
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.allocating = True
        first = sess.run(fetches, feed)
        sess.allocating = False
        sess.run(fetches, feed)            # binds
        bound = sess.run(fetches, feed)    # runs the bound steps
        plan = list(sess._plans.values())[-1]
        assert plan.bound_version == sess.context.variables.version and plan.steps
        types = [op.type for op in plan._step_ops]
    return first, bound, types


def _assert_same(first, bound):
    for a, b in zip(first, bound):
        assert np.array_equal(a, b)


def test_a_split_of_the_leading_axis_costs_no_step():
    x = tf.placeholder(tf.float32, [6, 4])
    wv = RNG.standard_normal((4, 4)).astype(np.float32)
    y = tf.matmul(x, tf.constant(wv))
    a, b, c = tf.split(y, 3, axis=0)
    out = a * 2.0 + c - b
    xv = RNG.standard_normal((6, 4)).astype(np.float32)
    first, bound, types = _bound_and_first([out], {x: xv})
    _assert_same(first, bound)
    yv = xv @ wv
    np.testing.assert_allclose(bound[0], yv[:2] * 2 + yv[4:] - yv[2:4], rtol=1e-5, atol=1e-6)
    assert "Split" not in types


def test_a_split_of_an_inner_axis_copies_into_contiguous_pieces():
    x = tf.placeholder(tf.float32, [3, 6])
    y = tf.tanh(x)
    a, b = tf.split(y, [2, 4], axis=1)
    out = tf.reduce_sum(a, 1) + tf.reduce_sum(b * b, 1)
    xv = RNG.standard_normal((3, 6)).astype(np.float32)
    first, bound, types = _bound_and_first([out, a], {x: xv})
    _assert_same(first, bound)
    t = np.tanh(xv)
    np.testing.assert_allclose(bound[0], t[:, :2].sum(1) + (t[:, 2:] ** 2).sum(1), rtol=1e-5)
    assert "SplitV" in types


def test_concat_pieces_are_computed_in_its_buffer():
    x = tf.placeholder(tf.float32, [None, 5])
    pieces = [tf.tanh(x * float(k + 1)) for k in range(4)]
    joined = tf.concat(pieces, 0)
    out = joined * 2.0
    xv = RNG.standard_normal((3, 5)).astype(np.float32)
    first, bound, types = _bound_and_first([out, pieces[1]], {x: xv})
    _assert_same(first, bound)
    ref = np.concatenate([np.tanh(xv * (k + 1)) for k in range(4)]) * 2
    np.testing.assert_allclose(bound[0], ref, rtol=1e-6)
    assert "ConcatV2" not in types


def test_pieces_that_cannot_be_placed_are_copied():
    """A feed, a variable, a constant, a reordering view of a placed piece (its transpose: the same
    memory as the slot it is copied into) and a piece used twice."""
    x = tf.placeholder(tf.float32, [4, 4])
    v = tf.Variable(RNG.standard_normal((4, 4)).astype(np.float32))
    k = tf.constant(RNG.standard_normal((4, 4)).astype(np.float32))
    s = tf.sigmoid(x)
    joined = tf.concat([s, x, v, k, tf.transpose(s), s], 0)
    out = joined + 1.0
    xv = RNG.standard_normal((4, 4)).astype(np.float32)
    first, bound, types = _bound_and_first([out], {x: xv})
    _assert_same(first, bound)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        vv, kv = sess.run([v, k])
    sv = 1 / (1 + np.exp(-xv))
    ref = np.concatenate([sv, xv, vv, kv, sv.T, sv]) + 1
    np.testing.assert_allclose(bound[0], ref, rtol=1e-6)
    assert types.count("ConcatV2") == 1


def test_a_second_concat_of_the_same_placed_pieces_is_the_first_ones_buffer():
    x = tf.placeholder(tf.float32, [None, 3])
    pieces = [tf.exp(x - float(k)) for k in range(5)]
    c1 = tf.concat(pieces, 0)
    c2 = tf.concat([tf.identity(p) for p in pieces], 0)
    out = tf.reduce_sum(c1 * c2, 0)
    xv = RNG.standard_normal((2, 3)).astype(np.float32)
    first, bound, types = _bound_and_first([out, c2], {x: xv})
    _assert_same(first, bound)
    ref = np.concatenate([np.exp(xv - k) for k in range(5)])
    np.testing.assert_allclose(bound[1], ref, rtol=1e-6)
    assert "ConcatV2" not in types


def test_nested_concats_and_an_inner_axis():
    x = tf.placeholder(tf.float32, [2, 3])
    a, b, c = tf.tanh(x), tf.sin(x), tf.cos(x)
    inner = tf.concat([a, b], 0)
    outer = tf.concat([inner, c], 0)            # inner placed in outer, a and b in inner
    side = tf.concat([a, c], 1)                 # an inner axis: its slots are not contiguous
    xv = RNG.standard_normal((2, 3)).astype(np.float32)
    first, bound, types = _bound_and_first([outer, side, inner], {x: xv})
    _assert_same(first, bound)
    np.testing.assert_allclose(bound[0], np.concatenate([np.tanh(xv), np.sin(xv), np.cos(xv)]), rtol=1e-6)
    np.testing.assert_allclose(bound[1], np.concatenate([np.tanh(xv), np.cos(xv)], 1), rtol=1e-6)
    assert types.count("ConcatV2") == 1        # the inner-axis one


def test_placed_pieces_stay_intact_while_the_pool_reuses_buffers():
    """Many temporaries bound after the concat (the pool reuses the freed ones) must not land in
    the concat's buffer while its consumers are still to run."""
    x = tf.placeholder(tf.float32, [8, 8])
    pieces = [tf.tanh(x + float(k)) for k in range(3)]
    joined = tf.concat(pieces, 0)
    h = x
    for k in range(6):
        h = tf.sin(h * 1.5 + float(k))
    out = tf.reduce_sum(joined, 0) + tf.reduce_sum(h, 0)
    xv = RNG.standard_normal((8, 8)).astype(np.float32)
    first, bound, _ = _bound_and_first([out], {x: xv})
    _assert_same(first, bound)
    hv = xv
    for k in range(6):
        hv = np.sin(hv * 1.5 + k)
    ref = sum(np.tanh(xv + k).sum(0) for k in range(3)) + hv.sum(0)
    np.testing.assert_allclose(bound[0], ref, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unrolled_rnn_gradients_are_the_same_bits_bound_as_first_run(cell):
    """The unrolled RNN's stacked per-step gradients (the recurrent weight's and the hoisted input
    projection's) are the same concatenation, computed once in place: bound == first run."""
    x = tf.placeholder(tf.float32, [None, 7, 3])
    y = tf.placeholder(tf.float32, [None, 5])
    c = tf.nn.rnn_cell.LSTMCell(5) if cell == "lstm" else tf.nn.rnn_cell.GRUCell(5)
    out, state = tf.nn.dynamic_rnn(c, x, dtype=tf.float32)
    h = state.h if cell == "lstm" else state
    loss = tf.reduce_mean(tf.square(h - y)) + 0.1 * tf.reduce_mean(out)
    grads = tf.gradients(loss, c.trainable_variables)
    assert len(grads) >= 2 and all(g is not None for g in grads)
    xv = RNG.standard_normal((4, 7, 3)).astype(np.float32)
    yv = RNG.standard_normal((4, 5)).astype(np.float32)
    first, bound, types = _bound_and_first([loss, *grads], {x: xv, y: yv})
    _assert_same(first, bound)
    concats = sum(op.type == "ConcatV2" for op in tf.get_default_graph().get_operations())
    assert types.count("ConcatV2") < concats
