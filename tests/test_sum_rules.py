"""Gradient aggregation through registry sum rules (graph/gradients.py ``_combined_sum``).

A variable read by many products (an unrolled RNN's kernel and bias) gets one gradient term per
use; where the terms' op type has a sum rule, their sum is built as one op over the stacked
operands (sum_t a_t^T b_t = [a_1; ...]^T [b_1; ...], sum_t BiasAddGrad(dy_t) = BiasAddGrad([dy_1;
...])) instead of an AddN over T products. These tests check the graph it builds, that the values
equal the per-term sum, that first and second derivatives through it are right, and the cases
where AddN stays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnctl as tf
from nnctl.graph import gradients as gradients_mod

_r = np.random.default_rng(11)


def _grad_op_types(t):
    return t.op.type, [i.op.type for i in t.op.inputs]


def _unrolled(t_steps, b, k, n, transpose_b=False):
    """y = sum_t sum((x_t @ W + bias)^2 * c_t) with one W and bias read by every step."""
    xs = [_r.standard_normal((b, k)) for _ in range(t_steps)]
    cs = [_r.standard_normal((b, n)) for _ in range(t_steps)]
    w0 = _r.standard_normal((n, k) if transpose_b else (k, n))
    b0 = _r.standard_normal(n)
    w = tf.Variable(w0)
    bias = tf.Variable(b0)
    x_ph = [tf.placeholder(tf.float64, [None, k]) for _ in range(t_steps)]
    terms = []
    for x, c in zip(x_ph, cs):
        z = tf.nn.bias_add(tf.matmul(x, w, transpose_b=transpose_b), bias)
        terms.append(tf.reduce_sum(tf.square(z) * tf.constant(c)))
    y = tf.add_n(terms)
    return xs, cs, w0, b0, w, bias, x_ph, y


def _reference(xs, cs, w0, b0, transpose_b=False):
    wm = w0.T if transpose_b else w0
    dw = np.zeros_like(wm)
    db = np.zeros_like(b0)
    for x, c in zip(xs, cs):
        dz = 2.0 * (x @ wm + b0) * c
        dw += x.T @ dz
        db += dz.sum(0)
    return (dw.T if transpose_b else dw), db


def _check_values(gw, gb, xs, cs, w0, b0, x_ph, tol=1e-12):
    """The gradients' values against the per-term numpy sum."""
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        vw, vb = s.run([gw, gb], feed_dict=dict(zip(x_ph, xs)))
    rw, rb = _reference(xs, cs, w0, b0)
    np.testing.assert_allclose(vw, rw, rtol=tol, atol=tol)
    np.testing.assert_allclose(vb, rb, rtol=tol, atol=tol)


def test_many_products_become_one_matmul_over_stacked_operands(fresh_graph):
    xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(6, 3, 4, 5)
    gw, gb = tf.gradients(y, [w, bias])
    assert _grad_op_types(gw) == ("MatMul", ["ConcatV2", "ConcatV2"])
    assert gw.op.attrs["transpose_a"] and not gw.op.attrs["transpose_b"]
    assert _grad_op_types(gb) == ("BiasAddGrad", ["ConcatV2"])
    # the bias gradient joins the very dy tensors the weight gradient joins: one ConcatV2, shared
    assert gb.op.inputs[0] is gw.op.inputs[1]
    _check_values(gw, gb, xs, cs, w0, b0, x_ph)


def test_a_recurrent_chain_stacks_every_weight_in_forward_order(fresh_graph):
    # h_t = tanh(bias_add(x_t W, b) + h_{t-1} U): the backprop walks the recurrent chain first and
    # reaches the BiasAdds (off the chain) last, first step first; every stack is still in forward
    # order, so the bias's gradient joins the very tensors W's joins (one ConcatV2, shared)
    t_steps, b, k, n = 6, 3, 4, 5
    xs = [_r.standard_normal((b, k)) for _ in range(t_steps)]
    w0, u0, b0 = _r.standard_normal((k, n)), _r.standard_normal((n, n)) * 0.3, _r.standard_normal(n)
    w, u, bias = tf.Variable(w0), tf.Variable(u0), tf.Variable(b0)
    x_ph = [tf.placeholder(tf.float64, [None, k]) for _ in range(t_steps)]
    h = tf.zeros([b, n], tf.float64)
    zs = []
    for x in x_ph:
        z = tf.nn.bias_add(tf.matmul(x, w), bias)
        zs.append(z)
        h = tf.tanh(z + tf.matmul(h, u))
    gw, gu, gb = tf.gradients(tf.reduce_sum(h * h), [w, u, bias])
    assert _grad_op_types(gw) == ("MatMul", ["ConcatV2", "ConcatV2"])
    assert _grad_op_types(gu) == ("MatMul", ["ConcatV2", "ConcatV2"])
    assert _grad_op_types(gb) == ("BiasAddGrad", ["ConcatV2"])
    assert gb.op.inputs[0] is gw.op.inputs[1]
    stacked_x = gw.op.inputs[0].op.inputs
    assert [t.name for t in stacked_x] == [x.name for x in x_ph]  # forward order
    # the values: the per-step chain rule in numpy
    hs, hv = [np.zeros((b, n))], np.zeros((b, n))
    for x in xs:
        hv = np.tanh(x @ w0 + b0 + hv @ u0)
        hs.append(hv)
    dw, du, db = np.zeros_like(w0), np.zeros_like(u0), np.zeros_like(b0)
    dh = 2.0 * hs[-1]
    for t in range(t_steps - 1, -1, -1):
        da = dh * (1.0 - hs[t + 1] ** 2)
        dw += xs[t].T @ da
        du += hs[t].T @ da
        db += da.sum(0)
        dh = da @ u0.T
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        vw, vu, vb = s.run([gw, gu, gb], feed_dict=dict(zip(x_ph, xs)))
    for got, ref in ((vw, dw), (vu, du), (vb, db)):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_few_terms_keep_add_n(fresh_graph):
    n_terms = gradients_mod.MIN_COMBINED_TERMS - 1
    xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(n_terms, 2, 3, 4)
    gw, gb = tf.gradients(y, [w, bias])
    assert gw.op.type == "AddN" and gb.op.type == "AddN"
    _check_values(gw, gb, xs, cs, w0, b0, x_ph)


def test_transposed_weight_products_combine_too(fresh_graph):
    # x @ W^T: W's terms are dy_t^T x_t (transpose_a on dy), so they stack as well
    xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(5, 2, 3, 4, transpose_b=True)
    (gw,) = tf.gradients(y, [w])
    assert _grad_op_types(gw) == ("MatMul", ["ConcatV2", "ConcatV2"])
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        vw = s.run(gw, feed_dict=dict(zip(x_ph, xs)))
    np.testing.assert_allclose(vw, _reference(xs, cs, w0, b0, transpose_b=True)[0], rtol=1e-12, atol=1e-12)


def test_mixed_trailing_shapes_keep_add_n(fresh_graph):
    # W read by products whose other operand's trailing size differs cannot be stacked
    w = tf.Variable(_r.standard_normal((3, 4)))
    ys = [tf.reduce_sum(tf.matmul(tf.constant(_r.standard_normal((2, 3))), w)) for _ in range(4)]
    ys.append(tf.reduce_sum(tf.matmul(tf.transpose(w), tf.constant(_r.standard_normal((3, 2))))))
    (gw,) = tf.gradients(tf.add_n(ys), [w])
    assert gw.op.type == "AddN"


def test_second_derivative_through_the_combined_sum(fresh_graph):
    # d/dx_0 of sum(dW * dW): differentiates the ConcatV2 + MatMul form; checked against central
    # differences of the first derivative computed in numpy
    xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(4, 2, 3, 3)
    (gw,) = tf.gradients(y, [w])
    assert gw.op.type == "MatMul"
    (gx0,) = tf.gradients(tf.reduce_sum(gw * gw), [x_ph[0]])

    def f(x0):
        rw, _ = _reference([x0] + xs[1:], cs, w0, b0)
        return float((rw * rw).sum())

    num = np.zeros_like(xs[0])
    eps = 1e-6
    for idx in np.ndindex(*xs[0].shape):
        e = np.zeros_like(xs[0])
        e[idx] = eps
        num[idx] = (f(xs[0] + e) - f(xs[0] - e)) / (2 * eps)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        v = s.run(gx0, feed_dict=dict(zip(x_ph, xs)))
    np.testing.assert_allclose(v, num, rtol=1e-6, atol=1e-6)


def test_dynamic_rnn_kernel_gradient_is_one_product(fresh_graph):
    steps, b, d, n = 6, 3, 2, 4
    x = tf.placeholder(tf.float32, [None, steps, d])
    cell = tf.nn.rnn_cell.LSTMCell(n)
    _, state = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    loss = tf.reduce_sum(state.h)
    kernel, bias = cell.trainable_variables
    gk, gb = tf.gradients(loss, [kernel, bias])
    # the kernel is split into its input and recurrent halves (rnn_cell.LSTMCell.project_inputs):
    # the input half's gradient is one product already, the recurrent half's T products become one
    assert gk.op.type == "ConcatV2" and [t.op.type for t in gk.op.inputs[:2]] == ["MatMul", "MatMul"]
    assert gb.op.type == "BiasAddGrad"
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        xv = _r.standard_normal((b, steps, d)).astype(np.float32)
        k1, b1 = s.run([gk, gb], feed_dict={x: xv})
        # against the per-step AddN form of the same graph
        saved = gradients_mod.MIN_COMBINED_TERMS
        gradients_mod.MIN_COMBINED_TERMS = 10 ** 9
        try:
            gk2, gb2 = tf.gradients(loss, [kernel, bias])
        finally:
            gradients_mod.MIN_COMBINED_TERMS = saved
        assert gk2.op.inputs[1].op.type == "AddN"
        k2, b2 = s.run([gk2, gb2], feed_dict={x: xv})
    np.testing.assert_allclose(k1, k2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(t_steps=st.integers(1, 9), b=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4))
def test_property_combined_sum_equals_term_sum(t_steps, b, k, n):
    with tf.Graph().as_default():
        xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(t_steps, b, k, n)
        gw, gb = tf.gradients(y, [w, bias])
        _check_values(gw, gb, xs, cs, w0, b0, x_ph, tol=1e-10)


@pytest.mark.parametrize("t_steps", [4, 7])
def test_training_with_combined_sum_resumes_bit_exact(fresh_graph, t_steps):
    # deterministic: two sessions over the same graph give the same bits step after step
    xs, cs, w0, b0, w, bias, x_ph, y = _unrolled(t_steps, 3, 4, 5)
    train = tf.train.GradientDescentOptimizer(1e-3).minimize(y)
    feed = dict(zip(x_ph, xs))
    runs = []
    for _ in range(2):
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            for _ in range(3):
                s.run(train, feed_dict=feed)
            runs.append(s.run([w, bias]))
    for a, b_ in zip(*runs):
        assert np.array_equal(a, b_)
