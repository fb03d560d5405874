"""TF1 recurrent cells and RNN drivers: TF's variable names and gate layouts (one step against a
hand computation), sequence_length masking, the bidirectional RNN, reverse_sequence, and an LSTM
that learns a task needing memory."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf

rnn_cell = tf.nn.rnn_cell
_r = np.random.default_rng(5)


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


def _values(sess, cell):
    return {v.name.split(":")[0]: sess.run(v) for v in cell.trainable_variables}


def test_basic_lstm_step_matches_hand_computation(fresh_graph):
    b, d, n = 3, 4, 5
    x, c0, h0 = _r.standard_normal((b, d)), _r.standard_normal((b, n)), _r.standard_normal((b, n))
    cell = rnn_cell.BasicLSTMCell(n)
    with tf.variable_scope("rnn"):
        out, st = cell(tf.constant(x), rnn_cell.LSTMStateTuple(tf.constant(c0), tf.constant(h0)))
    assert isinstance(st, rnn_cell.LSTMStateTuple)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        o, c, h = s.run([out, st.c, st.h])
        w = _values(s, cell)
    assert sorted(w) == ["rnn/basic_lstm_cell/bias", "rnn/basic_lstm_cell/kernel"]
    k, bias = w["rnn/basic_lstm_cell/kernel"], w["rnn/basic_lstm_cell/bias"]
    assert k.shape == (d + n, 4 * n) and not bias.any()
    # TF's layout: [i, j, f, o] = split([x, h] @ W + b), forget_bias 1 added to f
    i, j, f, og = np.split(np.concatenate([x, h0], 1) @ k + bias, 4, axis=1)
    c_ref = c0 * _sig(f + 1.0) + _sig(i) * np.tanh(j)
    h_ref = np.tanh(c_ref) * _sig(og)
    np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, h_ref, rtol=1e-5, atol=1e-6)


def test_gru_step_matches_hand_computation(fresh_graph):
    b, d, n = 2, 3, 4
    x, h0 = _r.standard_normal((b, d)), _r.standard_normal((b, n))
    cell = rnn_cell.GRUCell(n)
    out, st = cell(tf.constant(x), tf.constant(h0))
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        o, h = s.run([out, st])
        w = _values(s, cell)
    names = ["gru_cell/candidate/bias", "gru_cell/candidate/kernel", "gru_cell/gates/bias", "gru_cell/gates/kernel"]
    assert sorted(w) == names
    gk, gb = w["gru_cell/gates/kernel"], w["gru_cell/gates/bias"]
    ck, cb = w["gru_cell/candidate/kernel"], w["gru_cell/candidate/bias"]
    np.testing.assert_array_equal(gb, np.ones(2 * n))  # TF initialises the gate bias to 1
    r, u = np.split(_sig(np.concatenate([x, h0], 1) @ gk + gb), 2, axis=1)
    cand = np.tanh(np.concatenate([x, r * h0], 1) @ ck + cb)
    ref = u * h0 + (1 - u) * cand
    np.testing.assert_allclose(h, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, ref, rtol=1e-5, atol=1e-6)


def test_variable_names_of_the_drivers(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 4, 3])
    tf.nn.dynamic_rnn(rnn_cell.BasicRNNCell(5), x, dtype=tf.float32)
    stacked = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(4), rnn_cell.GRUCell(3)])
    tf.nn.static_rnn(stacked, tf.unstack(x, axis=1), dtype=tf.float32, scope="stack")
    tf.nn.bidirectional_dynamic_rnn(rnn_cell.LSTMCell(2, num_proj=1), rnn_cell.GRUCell(2), x, dtype=tf.float32)
    names = sorted(v.op.name for v in tf.global_variables())
    assert names == sorted([
        "rnn/basic_rnn_cell/kernel", "rnn/basic_rnn_cell/bias",
        "stack/multi_rnn_cell/cell_0/basic_lstm_cell/kernel", "stack/multi_rnn_cell/cell_0/basic_lstm_cell/bias",
        "stack/multi_rnn_cell/cell_1/gru_cell/gates/kernel", "stack/multi_rnn_cell/cell_1/gru_cell/gates/bias",
        "stack/multi_rnn_cell/cell_1/gru_cell/candidate/kernel",
        "stack/multi_rnn_cell/cell_1/gru_cell/candidate/bias",
        "bidirectional_rnn/fw/lstm_cell/kernel", "bidirectional_rnn/fw/lstm_cell/bias",
        "bidirectional_rnn/fw/lstm_cell/projection/kernel",
        "bidirectional_rnn/bw/gru_cell/gates/kernel", "bidirectional_rnn/bw/gru_cell/gates/bias",
        "bidirectional_rnn/bw/gru_cell/candidate/kernel", "bidirectional_rnn/bw/gru_cell/candidate/bias",
    ])


def test_sequence_length_masks_outputs_and_copies_state(fresh_graph):
    b, t, d, n = 3, 5, 2, 4
    x = _r.standard_normal((b, t, d))
    lengths = np.array([5, 2, 0])
    xs = tf.placeholder(tf.float64, [None, t, d])
    out, st = tf.nn.dynamic_rnn(rnn_cell.BasicLSTMCell(n), xs, sequence_length=lengths, dtype=tf.float64)
    full, full_st = tf.nn.dynamic_rnn(rnn_cell.BasicLSTMCell(n), xs, dtype=tf.float64, scope="unmasked")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        o, c, h = s.run([out, st.c, st.h], {xs: x})
    assert o.shape == (b, t, n)
    assert not o[1, 2:].any() and not o[2].any()          # zero past each length
    np.testing.assert_array_equal(h[1], o[1, 1])           # state frozen after the last real step
    assert not c[2].any() and not h[2].any()               # length 0: the initial (zero) state
    assert np.abs(o[0, 4]).sum() > 0


def test_bidirectional_backward_reads_each_sequence_reversed(fresh_graph):
    b, t, d, n = 2, 4, 3, 3
    x = _r.standard_normal((b, t, d))
    lengths = np.array([4, 2])
    xs = tf.constant(x)
    bw = rnn_cell.GRUCell(n)
    (of, ob), (sf, sb) = tf.nn.bidirectional_dynamic_rnn(rnn_cell.GRUCell(n), bw, xs, sequence_length=lengths,
                                                         dtype=tf.float64)
    # the same backward cell run by hand on the reversed prefix of example 1
    with tf.variable_scope("bidirectional_rnn/bw", reuse=True):
        ref, _ = tf.nn.static_rnn(bw, [tf.constant(x[1:2, 1]), tf.constant(x[1:2, 0])], dtype=tf.float64,
                                  scope="manual")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        ob_v, sb_v, ref_v = s.run([ob, sb, ref])
    np.testing.assert_allclose(ob_v[1, 1], ref_v[0][0], rtol=1e-12)   # reversed back into place
    np.testing.assert_allclose(ob_v[1, 0], ref_v[1][0], rtol=1e-12)
    np.testing.assert_allclose(sb_v[1], ref_v[1][0], rtol=1e-12)
    assert not ob_v[1, 2:].any()


def test_reverse_sequence(fresh_graph):
    x = np.arange(24.0).reshape(2, 4, 3)
    with tf.Session() as s:
        y = s.run(tf.reverse_sequence(x, [3, 1], seq_axis=1, batch_axis=0))
    np.testing.assert_array_equal(y[0], x[0][[2, 1, 0, 3]])
    np.testing.assert_array_equal(y[1], x[1])


def test_errors_name_the_problem(fresh_graph):
    with pytest.raises(ValueError, match="you must give a dtype"):
        tf.nn.dynamic_rnn(rnn_cell.GRUCell(2), tf.zeros([1, 3, 2]))
    with pytest.raises(ValueError, match="number of time steps must be known"):
        tf.nn.dynamic_rnn(rnn_cell.GRUCell(2), tf.placeholder(tf.float32, [1, None, 2]), dtype=tf.float32)
    with pytest.raises(TypeError, match="list of"):
        tf.nn.static_rnn(rnn_cell.GRUCell(2), tf.zeros([1, 3, 2]), dtype=tf.float32)
    cell = rnn_cell.BasicLSTMCell(2)
    with pytest.raises(ValueError, match="more than once"):
        rnn_cell.MultiRNNCell([cell, cell])


def test_dropout_wrapper_keeps_names_and_is_identity_at_keep_1(fresh_graph):
    keep = tf.placeholder_with_default(tf.constant(1.0, tf.float64), [])
    cell = rnn_cell.DropoutWrapper(rnn_cell.BasicLSTMCell(3), output_keep_prob=keep, state_keep_prob=0.5, seed=1)
    x = tf.constant(_r.standard_normal((2, 3, 2)))
    out, st = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64)
    plain, _ = tf.nn.dynamic_rnn(cell.wrapped_cell, x, dtype=tf.float64)  # same variables
    assert sorted(v.op.name for v in tf.global_variables()) == ["rnn/basic_lstm_cell/bias",
                                                                "rnn/basic_lstm_cell/kernel"]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        o1 = s.run(out, {keep: 1.0})
        o_half = s.run(out, {keep: 0.5})
    assert (o_half == 0).sum() > 0 and (o1 == 0).sum() == 0


def test_lstm_learns_to_remember_the_first_element(fresh_graph):
    """Label = sign of the first of 8 noisy steps: only memory solves it (a last-state readout)."""
    tf.set_random_seed(0)
    rng = np.random.default_rng(0)
    t, n = 8, 16

    def batch(size):
        x = rng.uniform(-1, 1, size=(size, t, 1))
        return x.astype(np.float32), (x[:, 0, 0] > 0).astype(np.int64)

    xs = tf.placeholder(tf.float32, [None, t, 1])
    ys = tf.placeholder(tf.int64, [None])
    _, state = tf.nn.dynamic_rnn(rnn_cell.BasicLSTMCell(n), xs, dtype=tf.float32)
    w = tf.Variable(rng.normal(0, 0.3, size=(n, 2)).astype(np.float32))
    logits = tf.matmul(state.h, w)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ys, logits=logits))
    train = tf.train.AdamOptimizer(0.02).minimize(loss)
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), ys), tf.float32))
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        for _ in range(300):
            bx, by = batch(64)
            s.run(train, {xs: bx, ys: by})
        tx, ty = batch(500)
        assert s.run(acc, {xs: tx, ys: ty}) >= 0.95


def test_static_bidirectional_rnn_concatenates_fw_and_bw(fresh_graph):
    x = _r.standard_normal((2, 4, 3))
    lengths = np.array([4, 3])
    fw, bw = rnn_cell.GRUCell(2), rnn_cell.BasicLSTMCell(3)
    (of, ob), _ = tf.nn.bidirectional_dynamic_rnn(fw, bw, tf.constant(x), sequence_length=lengths, dtype=tf.float64)
    outs, sf, sb = tf.nn.static_bidirectional_rnn(fw, bw, tf.unstack(tf.constant(x), axis=1), dtype=tf.float64,
                                                  sequence_length=lengths, scope="again")  # the same cells' variables
    assert len(tf.global_variables()) == 6
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        a, b, o = s.run([of, ob, tf.stack(outs, 1)])
    np.testing.assert_allclose(o, np.concatenate([a, b], -1), rtol=1e-12)


def test_contrib_rnn_offers_the_cells():
    assert tf.contrib.rnn.BasicLSTMCell is rnn_cell.BasicLSTMCell
    assert tf.contrib.rnn.static_rnn is tf.nn.static_rnn
    with pytest.raises(AttributeError, match=r"tf.contrib.slim is not supported.*tf.contrib.rnn"):
        tf.contrib.slim  # noqa: B018



def test_zero_state_takes_an_int(fresh_graph):
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(4), rnn_cell.GRUCell(2)])
    fixed = cell.zero_state(5, tf.float32)
    assert isinstance(fixed[0], rnn_cell.LSTMStateTuple)
    assert fixed[0].c.get_shape().as_list() == [5, 4] and fixed[1].get_shape().as_list() == [5, 2]
    out, _ = cell(tf.ones([5, 3]), fixed)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        c, o = s.run([fixed[0].c, out])
    assert c.shape == (5, 4) and not c.any() and o.shape == (5, 2)


def test_zero_state_takes_a_batch_tensor(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 3])
    cell = rnn_cell.MultiRNNCell([rnn_cell.BasicLSTMCell(4), rnn_cell.GRUCell(2)])
    state = cell.zero_state(tf.shape(x)[0], tf.float32)
    out, _ = cell(x, state)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        c, h2, o = s.run([state[0].c, state[1], out], {x: np.ones((7, 3), np.float32)})
    assert c.shape == (7, 4) and h2.shape == (7, 2) and not c.any() and o.shape == (7, 2)


@pytest.mark.parametrize("make", [lambda: rnn_cell.BasicRNNCell(4), lambda: rnn_cell.BasicLSTMCell(4),
                                  lambda: rnn_cell.LSTMCell(4, num_proj=3),
                                  lambda: rnn_cell.LSTMCell(4, use_peepholes=True, cell_clip=2.0),
                                  lambda: rnn_cell.BasicLSTMCell(4, state_is_tuple=False), lambda: rnn_cell.GRUCell(4)],
                         ids=["basic_rnn", "basic_lstm", "lstm_proj", "lstm_peepholes", "lstm_concat_state", "gru"])
def test_hoisted_input_projection_equals_per_step_product(fresh_graph, make):
    # dynamic_rnn computes x_t @ kernel[:depth] for all steps as one GEMM (RNNCell.project_inputs);
    # the per-step [x_t, h] @ kernel of cell() must give the same outputs and gradients
    steps, b, d = 5, 3, 2
    xv = _r.standard_normal((b, steps, d))
    x = tf.placeholder(tf.float64, [None, steps, d])
    cell = make()
    outs, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64)
    assert any(op.name.endswith("input_projection/MatMul") for op in tf.get_default_graph().get_operations())
    state = cell.zero_state(b, tf.float64)
    manual = []
    with tf.variable_scope("rnn", reuse=True):
        for xt in tf.unstack(x, axis=1):
            o, state = cell(xt, state)
            manual.append(o)
    manual = tf.stack(manual, axis=1)
    weights = list(cell.trainable_variables)  # every kernel and bias (a GRU hoists two products)
    g1, g2 = (tf.gradients(tf.reduce_sum(tf.square(o)), weights + [x]) for o in (outs, manual))
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        a, m_, ga, gm = s.run([outs, manual, g1, g2], {x: xv})
    np.testing.assert_allclose(a, m_, rtol=1e-12, atol=1e-12)
    for u, v in zip(ga, gm):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-12)


# --- outputs[:, -1]: the stacked outputs' last step (ops/array_ops.py stacked_piece) -------------

def _last_output_grads(index, time_major=False, per_op=False, monkeypatch=None):
    """Loss on one time step of dynamic_rnn's stacked outputs: (gradient values, gradient op types,
    bound plan's step types)."""
    from nnctl.graph import registry
    from nnctl.runtime import subgraphs
    if per_op:
        monkeypatch.setattr(registry.op_def("StridedSlice"), "subgraph_grad", None)
        monkeypatch.setattr(subgraphs, "available", lambda backend: False)
    r = np.random.default_rng(3)
    xv = r.standard_normal((4, 6, 3) if not time_major else (6, 4, 3))
    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float64, xv.shape)
        cell = tf.nn.rnn_cell.LSTMCell(5, initializer=tf.constant_initializer(r.standard_normal((8, 20)) * 0.5))
        out, _ = tf.nn.dynamic_rnn(cell, x, dtype=tf.float64, time_major=time_major)
        picked = index(out)
        loss = tf.reduce_sum(tf.sin(picked))
        grads = tf.gradients(loss, [x, *tf.trainable_variables()])
        types = {o.type for o in g.get_operations() if o.name.startswith("gradients")}
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            for _ in range(3):
                vals = s.run([picked, *grads], {x: xv})
            plan = max(s._plans.values(), key=lambda p: len(p.steps or ()))
            steps = [op.type for op in plan._step_ops]
    return vals, types, steps


@pytest.mark.parametrize("form", ["[:, -1]", "[:, -1, :]", "[..., 2, :]", "time_major[-1]"])
def test_one_step_of_the_outputs_gets_its_gradient_alone(form, monkeypatch):
    index = {"[:, -1]": lambda o: o[:, -1], "[:, -1, :]": lambda o: o[:, -1, :], "[..., 2, :]": lambda o: o[..., 2, :],
             "time_major[-1]": lambda o: o[-1]}[form]
    time_major = form.startswith("time_major")
    vals, types, steps = _last_output_grads(index, time_major)
    # no zero tensor of the outputs' shape cut back into steps, no AddN a step, no stack; the inputs'
    # gradient one concat of the steps' (the unstack's sum rule)
    assert not {"StridedSliceGrad", "Pack"} & set(steps), steps
    if form != "[..., 2, :]":  # (there, the weights' gradients sum three steps: too few to stack)
        assert "AddN" not in steps, steps
    ref, ref_types, ref_steps = _last_output_grads(index, time_major, per_op=True, monkeypatch=monkeypatch)
    assert "Pack" in ref_steps and "AddN" in ref_steps
    for a, b in zip(vals, ref):  # to rounding: the weights' gradients sum the steps in other groupings
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("index", [lambda o: o[:, -2:], lambda o: o[:, ::2][:, 1], lambda o: o[1, -1]])
def test_other_slices_of_the_outputs_keep_the_per_op_gradient(index, fresh_graph):
    _, _, steps = _last_output_grads(index)
    assert "StridedSliceGrad" in steps


def test_the_gradient_of_unstack_is_one_concat(fresh_graph):
    r = np.random.default_rng(4)
    xv, wv = r.standard_normal((3, 5, 2)), r.standard_normal((5, 3, 2))
    x = tf.placeholder(tf.float64, xv.shape)
    pieces = tf.unstack(x, axis=1)
    loss = tf.add_n([tf.reduce_sum(tf.sin(p) * w) for p, w in zip(pieces, wv)])
    (dx,) = tf.gradients(loss, [x])
    assert dx.op.type == "ConcatV2"
    with tf.Session() as s:
        got = s.run(dx, {x: xv})
    np.testing.assert_allclose(got, np.cos(xv) * wv.transpose(1, 0, 2), rtol=1e-14, atol=0)


@pytest.mark.parametrize("which", ["some_pieces", "two_tensors", "wider_slices"])
def test_sums_of_other_slices_keep_add_n(which, fresh_graph):
    r = np.random.default_rng(4)
    xv = r.standard_normal((3, 6, 2))
    x = tf.placeholder(tf.float64, xv.shape)
    if which == "some_pieces":      # pieces 0..4 of 6: the sum is not a concat of x's whole shape
        parts = tf.unstack(x, axis=1)[:5]
    elif which == "two_tensors":    # slices of two different tensors
        parts = tf.unstack(x, axis=1)[:3] + tf.unstack(x * 2.0, axis=1)[3:]
    else:
        parts = [x[:, 0:2], x[:, 2:4], x[:, 4:6], x[:, 1:3]]
    loss = tf.add_n([tf.reduce_sum(tf.sin(p)) for p in parts])
    (dx,) = tf.gradients(loss, [x])
    assert dx.op.type != "ConcatV2"
    with tf.Session() as s:
        got = s.run(dx, {x: xv})
    ref = np.zeros_like(xv)
    if which == "some_pieces":
        ref[:, :5] = np.cos(xv[:, :5])
    elif which == "two_tensors":
        ref[:, :3] = np.cos(xv[:, :3])
        ref[:, 3:] = 2 * np.cos(2 * xv[:, 3:])
    else:
        ref = np.cos(xv)
        ref[:, 1:3] += np.cos(xv[:, 1:3])
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-15)
