"""The composite layers (recurrent, attention, normalization, embedding) against PyTorch in float64:
forward values, gradients of a random projection <y, R> with respect to the inputs and every
weight, and (for the smooth ones) second-order Hessian-vector products, at 1e-7 relative.

nnctl builds these layers from graph ops; their gradients come from the ops' symbolic rules, while
PyTorch's come from its autograd over its own modules (nn.LSTM, nn.GRU, nn.RNN, F.layer_norm,
F.group_norm, F.embedding) or over the textbook formula (attention). The weights are mapped between
the layouts: nnctl/Keras kernels are (in, gates * units) with gates i, f, g, o (LSTM) and z, r, h
(GRU); PyTorch's are (gates * units, in) with i, f, g, o and r, z, n.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.layers import Context, layer_class

torch = pytest.importorskip("torch")
F = torch.nn.functional
RTOL, ATOL = 1e-7, 1e-10
_rng = np.random.default_rng(5)


def _layer(type_name: str, **params):
    def make(layer, what, shape, init, trainable):
        value = _rng.uniform(-0.6, 0.6, shape) if trainable else np.ones(shape)
        return tf.Variable(value.astype(np.float64), name=f"{layer.name}/{what}", trainable=trainable)
    return layer_class(type_name).from_params("L", Context(make, seed=0), **params)


def _check(layer, inputs: list[np.ndarray], torch_fn, training=False, masks=None, second_order=False):
    """torch_fn(input tensors, {variable name: tensor}) -> output; compares values and gradients."""
    xs = [tf.placeholder(tf.float64, (None, *a.shape[1:])) for a in inputs]
    mk = [None if m is None else tf.constant(m) for m in (masks or [None] * len(inputs))]
    _, y, _ = layer.apply(xs, training, mk)
    weights = [v for v in layer.variables if v.trainable]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        wv = {v.op.name.split("/", 1)[1]: s.run(v) for v in weights}
        feed = dict(zip(xs, inputs))
        yv = s.run(y, feed)
        R = _rng.standard_normal(yv.shape)
        obj = tf.reduce_sum(y * R)
        grads = tf.gradients(obj, xs + weights)
        gv = s.run(grads, feed)
        if second_order:
            us = [_rng.standard_normal(a.shape) for a in inputs] + [_rng.standard_normal(w.shape) for w in wv.values()]
            inner = tf.add_n([tf.reduce_sum(g * u) for g, u in zip(grads, us)])
            # None: no path back (a bias's gradient does not depend on the bias): a zero block
            hv = [np.zeros(u.shape) if h is None else s.run(h, feed)
                  for h, u in zip(tf.gradients(inner, xs + weights), us)]
    tx = [torch.tensor(a, requires_grad=True) for a in inputs]
    tw = {k: torch.tensor(v, requires_grad=True) for k, v in wv.items()}
    ty = torch_fn(tx, tw)
    np.testing.assert_allclose(yv, ty.detach().numpy(), rtol=RTOL, atol=ATOL)
    tobj = (ty * torch.tensor(R)).sum()
    leaves = tx + list(tw.values())
    tg = torch.autograd.grad(tobj, leaves, create_graph=second_order, allow_unused=True)
    for name, a, b in zip(["input"] * len(tx) + list(tw), gv, tg):
        np.testing.assert_allclose(a, np.zeros_like(a) if b is None else b.detach().numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"d/d {name}")
    if second_order:
        tinner = sum((g * torch.tensor(u)).sum() for g, u in zip(tg, us) if g is not None)
        th = torch.autograd.grad(tinner, leaves, allow_unused=True)
        for name, a, b in zip(["input"] * len(tx) + list(tw), hv, th):
            np.testing.assert_allclose(a, np.zeros_like(a) if b is None else b.detach().numpy(), rtol=RTOL,
                                       atol=ATOL, err_msg=f"Hessian-vector product, {name}")


def _seq(b=3, t=5, f=4):
    return _rng.standard_normal((b, t, f))


# --- recurrent -------------------------------------------------------------------------------------

def _torch_rnn(module, kind, w, prefix, u, forget_bias=0.0):
    K, U = w[prefix + "kernel"].T, w[prefix + "recurrent_kernel"].T
    b = w[prefix + "bias"]
    if kind == "lstm":
        b_ih = b + torch.cat([torch.zeros(u), torch.full((u,), forget_bias), torch.zeros(2 * u)]).double()
        return K, U, b_ih, torch.zeros(4 * u, dtype=torch.float64)
    if kind == "gru":   # ours z, r, h -> torch r, z, n; reset_after: bias rows (input, recurrent)
        def order(m):
            return torch.cat([m[u:2 * u], m[:u], m[2 * u:]])
        return order(K), order(U), order(b[0]), order(b[1])
    return K, U, b, torch.zeros(u, dtype=torch.float64)


def _run_torch_rnn(kind, x, w, u, bidirectional, forget_bias=0.0):
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[kind]
    mod = cls(x.shape[2], u, batch_first=True, bidirectional=bidirectional).double()
    params = {}
    dirs = ["forward/", "backward/"] if bidirectional else [""]
    for i, d in enumerate(dirs):
        sfx = "_reverse" if i else ""
        params.update(dict(zip([f"weight_ih_l0{sfx}", f"weight_hh_l0{sfx}", f"bias_ih_l0{sfx}", f"bias_hh_l0{sfx}"],
                               _torch_rnn(mod, kind, w, d, u, forget_bias))))
    out, h = torch.func.functional_call(mod, params, (x,))
    return out, (h[0] if kind == "lstm" else h)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_matches_torch(fresh_graph, kind, bidirectional):
    u = 3
    extra = {"forget_bias": 0.0} if kind == "lstm" else {}
    layer = _layer(kind, units=u, return_sequences=True, bidirectional=bidirectional, **extra)

    def ref(tx, tw):
        return _run_torch_rnn(kind, tx[0], tw, u, bidirectional)[0]
    _check(layer, [_seq()], ref, second_order=(kind != "lstm" or not bidirectional))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_last_state_and_forget_bias(fresh_graph, kind):
    u = 4
    extra = {"forget_bias": 1.0} if kind == "lstm" else {}
    layer = _layer(kind, units=u, bidirectional=True, **extra)

    def ref(tx, tw):
        _, h = _run_torch_rnn(kind, tx[0], tw, u, True, forget_bias=1.0)
        return torch.cat([h[0], h[1]], dim=1)       # final forward state, final backward state
    _check(layer, [_seq()], ref)


def test_gru_reset_before_matches_the_formula(fresh_graph):
    u = 3
    layer = _layer("gru", units=u, reset_after=False)

    def ref(tx, tw):
        x, K, U, b = tx[0], tw["kernel"], tw["recurrent_kernel"], tw["bias"]
        h = torch.zeros(x.shape[0], u, dtype=torch.float64)
        for t in range(x.shape[1]):
            xw = x[:, t] @ K + b
            z = torch.sigmoid(xw[:, :u] + h @ U[:, :u])
            r = torch.sigmoid(xw[:, u:2 * u] + h @ U[:, u:2 * u])
            hh = torch.tanh(xw[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
            h = z * h + (1 - z) * hh
        return h
    _check(layer, [_seq()], ref, second_order=True)


def test_masked_steps_keep_the_state(fresh_graph):
    """Post-padded sequences: the masked run equals the unmasked run over the real steps only."""
    u = 3
    x = _seq(b=2, t=5)
    lengths = [5, 3]
    mask = np.array([[1.0] * n + [0.0] * (5 - n) for n in lengths])
    layer = _layer("gru", units=u, bidirectional=True)

    def ref(tx, tw):
        outs = []
        for i, n in enumerate(lengths):
            _, h = _run_torch_rnn("gru", tx[0][i:i + 1, :n], tw, u, True)
            outs.append(torch.cat([h[0], h[1]], dim=1))
        return torch.cat(outs)
    _check(layer, [x], ref, masks=[mask])


# --- attention -------------------------------------------------------------------------------------

def _torch_mha(q_in, kv_in, w, heads, dk, causal=False, key_mask=None, prefix=""):
    def proj(t, name):
        return t @ w[f"{prefix}{name}/kernel"] + w[f"{prefix}{name}/bias"]
    b, tq, tk = q_in.shape[0], q_in.shape[1], kv_in.shape[1]

    def split(t, n):
        return t.reshape(b, n, heads, dk).permute(0, 2, 1, 3)
    q, k, v = split(proj(q_in, "query"), tq), split(proj(kv_in, "key"), tk), split(proj(kv_in, "value"), tk)
    scores = q @ k.transpose(-1, -2) / np.sqrt(dk)
    if causal:
        scores = scores + torch.tensor(np.triu(np.full((tq, tk), -1e9), 1))
    if key_mask is not None:
        scores = scores + ((1 - torch.tensor(key_mask)) * -1e9).reshape(b, 1, 1, tk)
    ctx = (torch.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(b, tq, heads * dk)
    return proj(ctx, "output")


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_torch(fresh_graph, causal):
    layer = _layer("multi_head_attention", heads=2, causal=causal)
    _check(layer, [_seq(t=4, f=6)], lambda tx, tw: _torch_mha(tx[0], tx[0], tw, 2, 3, causal), second_order=True)


def test_cross_attention_with_padding_mask(fresh_graph):
    layer = _layer("multi_head_attention", heads=2, key_dim=2, output_dim=5)
    q, kv = _seq(t=3, f=4), _seq(t=5, f=6)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], np.float64)
    _check(layer, [q, kv], lambda tx, tw: _torch_mha(tx[0], tx[1], tw, 2, 2, key_mask=mask),
           masks=[None, mask])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_transformer_block_matches_torch(fresh_graph, norm):
    layer = _layer("transformer_block", heads=2, mlp_units=8, norm=norm, causal=True)

    def ref(tx, tw):
        x = tx[0]

        def ln(t, which):
            return F.layer_norm(t, (t.shape[-1],), tw[f"{which}/gamma"], tw[f"{which}/beta"], eps=1e-5)

        def attend(t):
            return _torch_mha(t, t, tw, 2, 2, causal=True, prefix="attention/")

        def mlp(t):
            h = F.gelu(t @ tw["mlp1/kernel"] + tw["mlp1/bias"])
            return h @ tw["mlp2/kernel"] + tw["mlp2/bias"]
        if norm == "pre":
            x = x + attend(ln(x, "norm1"))
            return x + mlp(ln(x, "norm2"))
        x = ln(x + attend(x), "norm1")
        return ln(x + mlp(x), "norm2")
    _check(layer, [_seq(t=4, f=4)], ref)


# --- normalization and embedding ---------------------------------------------------------------------

def test_layer_norm_matches_torch(fresh_graph):
    layer = _layer("layer_norm", epsilon=1e-3)
    _check(layer, [_seq(f=6)], lambda tx, tw: F.layer_norm(tx[0], (6,), tw["gamma"], tw["beta"], eps=1e-3),
           second_order=True)


def test_group_norm_matches_torch(fresh_graph):
    layer = _layer("group_norm", groups=3, epsilon=1e-3)

    def ref(tx, tw):   # NHWC -> NCHW for torch and back
        y = F.group_norm(tx[0].permute(0, 3, 1, 2), 3, tw["gamma"], tw["beta"], eps=1e-3)
        return y.permute(0, 2, 3, 1)
    _check(layer, [_rng.standard_normal((2, 3, 4, 6))], ref, second_order=True)


def test_batch_norm_training_matches_torch(fresh_graph):
    layer = _layer("batch_norm", epsilon=1e-3)

    def ref(tx, tw):
        return F.batch_norm(tx[0].reshape(-1, 5), None, None, tw["gamma"], tw["beta"], training=True,
                            eps=1e-3).reshape(tx[0].shape)
    _check(layer, [_seq(f=5)], ref, training=True, second_order=True)


def test_embedding_matches_torch(fresh_graph):
    layer = _layer("embedding", input_dim=7, output_dim=3)
    ids = _rng.integers(0, 7, (4, 5)).astype(np.float64)
    xs = [tf.placeholder(tf.float64, (None, 5))]
    _, y, _ = layer.apply(xs, False)
    (g,) = tf.gradients(tf.reduce_sum(y * np.arange(15.0).reshape(1, 5, 3)), [layer.table])
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        table = s.run(layer.table)
        yv, gv = s.run([y, g], {xs[0]: ids})
    tt = torch.tensor(table, requires_grad=True)
    ty = F.embedding(torch.tensor(ids.astype(np.int64)), tt)
    (tg,) = torch.autograd.grad((ty * torch.arange(15.0, dtype=torch.float64).reshape(1, 5, 3)).sum(), [tt])
    np.testing.assert_allclose(yv, ty.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(gv, tg.numpy(), rtol=RTOL)
