"""The fused layer norm (LayerNorm / LayerNormGrad) and tf.contrib.layers.layer_norm: against the
tf.nn.moments composite, torch.nn.functional.layer_norm, and its compiled (C) path against its xp path.
(Gradients are also in the gradcheck table: grad_rows_nn.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nnctl as tf
from nnctl.ops.layer_norm_ops import layer_norm_op

_r = np.random.default_rng(11)


def _run(build, feeds=None):
    g = tf.Graph()
    with g.as_default():
        outs = build()
        sess = tf.Session(graph=g)
        sess.run(tf.global_variables_initializer())
        return sess.run(outs, feeds)


@pytest.mark.parametrize("shape,k,pshape", [((6, 16), 1, (16,)), ((3, 4, 8), 2, (8,)), ((3, 4, 8), 1, (8,)),
                                            ((3, 4, 8), 2, (4, 8)), ((2, 3, 4, 5), 1, (4, 5))])
def test_fused_matches_the_moments_composite(shape, k, pshape):
    x, gam, bet = _r.standard_normal(shape) * 3 + 1, _r.uniform(0.5, 1.5, pshape), _r.standard_normal(pshape)
    w = _r.standard_normal(shape)

    def build():
        xs, gs, bs = tf.constant(x), tf.constant(gam), tf.constant(bet)
        fused = layer_norm_op(xs, gs, bs, k, 1e-12)[0]
        mean, var = tf.nn.moments(xs, list(range(k, len(shape))), keep_dims=True)
        ref = tf.nn.batch_normalization(xs, mean, var, bs, gs, 1e-12)
        outs = []
        for y in (fused, ref):
            outs += [y] + tf.gradients(tf.reduce_sum(y * tf.constant(w)), [xs, gs, bs])
        return outs
    got = _run(build)
    for a, b in zip(got[:4], got[4:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_contrib_layer_norm_matches_torch(dtype, tol):
    x, w = _r.standard_normal((4, 6, 32)).astype(dtype), _r.standard_normal((4, 6, 32)).astype(dtype)

    def build():
        xs = tf.constant(x)
        y = tf.contrib.layers.layer_norm(xs, begin_norm_axis=-1, begin_params_axis=-1)
        return [y] + tf.gradients(tf.reduce_sum(y * tf.constant(w)), [xs])
    y, dx = _run(build)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.layer_norm(tx, (32,), torch.ones(32, dtype=tx.dtype), torch.zeros(32, dtype=tx.dtype),
                                        eps=1e-12)
    (ty * torch.tensor(w)).sum().backward()
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,k,pshape", [((512, 64), 1, (64,)), ((64, 16, 24), 2, (24,)),
                                            ((128, 8, 16), 1, (16,)), ((256, 100), 1, (100,))])
def test_compiled_path_gives_the_xp_paths_bits(monkeypatch, dtype, shape, k, pshape):
    from nnctl.ops import seq_jit
    if seq_jit.load() is None:
        pytest.skip("the compiled kernels are not built here")
    x = (_r.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gam, bet = _r.uniform(0.5, 1.5, pshape).astype(dtype), _r.standard_normal(pshape).astype(dtype)
    dy = _r.standard_normal(shape).astype(dtype)

    def build():
        xs, gs, bs = tf.constant(x), tf.constant(gam), tf.constant(bet)
        y, mean, rstd = layer_norm_op(xs, gs, bs, k, 1e-5)
        return [y, mean, rstd] + tf.gradients(y, [xs, gs, bs], grad_ys=tf.constant(dy))
    from nnctl.ops import seq_jit
    monkeypatch.setenv("NNCTL_JIT", "1")
    jit, calls = seq_jit.load(), []
    for fn in ("layer_norm", "layer_norm_grad"):
        monkeypatch.setattr(jit, fn, lambda *a, f=getattr(jit, fn), n=fn: (calls.append(n), f(*a))[1])
    jitted = _run(build)
    assert calls == ["layer_norm", "layer_norm_grad"]   # the compiled path ran
    monkeypatch.setenv("NNCTL_JIT", "0")
    plain = _run(build)
    for a, b in zip(jitted, plain):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_contrib_layer_norm_variables_scope_and_reuse():
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 5, 8])
        tf.contrib.layers.layer_norm(x)
        tf.contrib.layers.layer_norm(x, center=False, scope="enc")
        tf.contrib.layers.layer_norm(x, scope="enc", reuse=True, center=False)
        with tf.variable_scope("blk"):
            tf.contrib.layers.layer_norm(x, begin_norm_axis=-1, begin_params_axis=1)
        names = {v.name: v.get_shape().as_list() for v in tf.global_variables()}
        assert names == {"LayerNorm/beta:0": [8], "LayerNorm/gamma:0": [8], "enc/gamma:0": [8],
                         "blk/LayerNorm/beta:0": [5, 8], "blk/LayerNorm/gamma:0": [5, 8]}
        assert len(tf.get_collection(tf.GraphKeys.MODEL_VARIABLES)) == 5


def test_contrib_layer_norm_default_normalises_all_but_the_first_axis():
    x = _r.standard_normal((3, 4, 5))
    y = _run(lambda: tf.contrib.layers.layer_norm(tf.constant(x), activation_fn=tf.nn.relu))
    flat = x.reshape(3, -1)
    ref = (flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(y, np.maximum(ref.reshape(x.shape), 0), rtol=1e-12, atol=1e-12)


def test_contrib_layer_norm_bad_input():
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match=r"must be < rank\(inputs\) \(2\)"):
            tf.contrib.layers.layer_norm(tf.zeros([2, 3]), begin_norm_axis=2)
        with pytest.raises(ValueError, match=r"shape\(inputs\)\[-1:\] is not fully defined"):
            tf.contrib.layers.layer_norm(tf.placeholder(tf.float32, [2, None]))
        with pytest.raises(TypeError, match="must be a float tensor"):
            tf.contrib.layers.layer_norm(tf.zeros([2, 3], dtype=tf.int32))
        with pytest.raises(AttributeError, match="tf.contrib.layers.fully_connected is not supported"):
            tf.contrib.layers.fully_connected  # noqa: B018
        with pytest.raises(ValueError, match=r"gamma of shape \(4,\) must be the trailing part"):
            layer_norm_op(tf.zeros([2, 3]), tf.ones([4]), tf.zeros([4]), 1, 1e-5)


# --- a layer norm written with tf.nn.moments: its gradient as one LayerNormGrad (layer_norm_ops.py) ---

def _moments_ln(x, gamma, beta, form):
    if form in ("square", "square_twice", "sqdiff"):  # hand-written: no stop_gradient on the variance's mean
        mean = tf.reduce_mean(x, axis=[2], keepdims=True)
        xc = x - mean
        if form == "sqdiff":
            var = tf.reduce_mean(tf.squared_difference(x, mean), axis=[2], keepdims=True)
        else:
            var = tf.reduce_mean(tf.square(xc if form == "square" else x - mean), axis=[2], keepdims=True)
        return xc * tf.rsqrt(var + 1e-5) * gamma + beta
    mean, var = tf.nn.moments(x, axes=[2], keep_dims=True)
    if form == "bn":
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, 1e-5)
    if form == "rsqrt":
        return (x - mean) * tf.rsqrt(var + 1e-5) * gamma + beta
    if form == "rsqrt_first":
        return beta + gamma * (tf.rsqrt(1e-5 + var) * (x - mean))
    return (x - mean) / tf.sqrt(var + 1e-5) * gamma + beta


def _without_subgraph_rules(monkeypatch):
    from nnctl.graph import registry
    for t in ("AddV2", "Add"):
        monkeypatch.setattr(registry.op_def(t), "subgraph_grad", None)


def _ln_grads(form, extra=None):
    """First and second derivatives of a moments layer norm (float64), and the graph's op types."""
    r = np.random.default_rng(5)
    x0, g0, b0 = r.standard_normal((3, 5, 8)) * 2 + 1, r.uniform(0.5, 1.5, 8), r.standard_normal(8)
    w, v = r.standard_normal((3, 5, 8)), r.standard_normal((3, 5, 8))
    g = tf.Graph()
    with g.as_default():
        x, gamma, beta = tf.Variable(x0), tf.Variable(g0), tf.Variable(b0)
        y = _moments_ln(x, gamma, beta, form)
        loss = tf.reduce_sum(tf.sin(y) * w)  # dy depends on y: the second derivative sees all of it
        if extra is not None:
            loss = loss + extra(x, y)
        first = tf.gradients(loss, [x, gamma, beta])
        second = tf.gradients(tf.reduce_sum(first[0] * v) + tf.reduce_sum(first[1] * first[2]), [x, gamma, beta])
        grad_ops = [o for o in g.get_operations() if o.name.startswith("gradients/")]
        with tf.Session(graph=g) as s:
            s.run(tf.global_variables_initializer())
            return s.run(first + second), grad_ops


@pytest.mark.parametrize("form", ["rsqrt", "rsqrt_first", "sqrt", "bn", "square", "square_twice", "sqdiff"])
def test_moments_layer_norm_gradient_is_one_op_with_the_per_op_graphs_derivatives(monkeypatch, form):
    fused, ops = _ln_grads(form)
    lng = [o for o in ops if o.type == "LayerNormGrad"]
    # the second-order rule follows tf.nn.moments' stop_gradient where the program has one
    assert len(lng) == 1 and lng[0].attrs["moments"] == (form in ("rsqrt", "rsqrt_first", "sqrt", "bn"))
    assert not [o for o in ops if "SquaredDifference_grad" in o.name]
    _without_subgraph_rules(monkeypatch)
    ref, ref_ops = _ln_grads(form)
    assert not [o for o in ref_ops if o.type == "LayerNormGrad"]
    # first derivatives and the second (TF's, through the moments' stop_gradient) agree to rounding;
    # without the stop_gradient (square) the variance's path through the mean is zero for every x,
    # so its derivatives are too
    for a, b in zip(fused, ref):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("extra", [
    lambda x, y: tf.reduce_sum(tf.nn.moments(x, axes=[2], keep_dims=True)[1]),  # another moments: a new subgraph
    None,
])
def test_moments_layer_norm_gradient_values_unchanged(monkeypatch, extra):
    fused, _ = _ln_grads("rsqrt", extra)
    _without_subgraph_rules(monkeypatch)
    ref, _ = _ln_grads("rsqrt", extra)
    for a, b in zip(fused, ref):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


def test_moments_layer_norm_interior_read_elsewhere_takes_the_per_op_rules(monkeypatch):
    """The normalized x also enters the loss: its other gradient must reach x, so no fused rule."""
    r = np.random.default_rng(2)
    x0, w, g0 = r.standard_normal((4, 6)), r.standard_normal((4, 6)), r.uniform(0.5, 1.5, 6)

    def grads():
        g = tf.Graph()
        with g.as_default():
            x = tf.constant(x0)
            gamma, beta = tf.constant(g0), tf.constant(np.zeros(6))
            eps = tf.Variable(1e-3, dtype=tf.float64)
            mean, var = tf.nn.moments(x, axes=[1], keep_dims=True)
            rstd = tf.rsqrt(var + eps)          # eps is trained: its gradient needs the per-op rules
            xhat = (x - mean) * rstd
            y = xhat * gamma + beta
            loss = tf.reduce_sum(y * w) + tf.reduce_sum(tf.square(xhat))
            out = tf.gradients(loss, [x, gamma, eps])
            types = {o.type for o in g.get_operations()}
            with tf.Session(graph=g) as s:
                s.run(tf.global_variables_initializer())
                return s.run(out), types

    got, types = grads()
    assert "LayerNormGrad" not in types
    _without_subgraph_rules(monkeypatch)
    ref, _ = grads()
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


def test_moments_layer_norm_differentiated_in_eps_keeps_eps_gradient():
    g = tf.Graph()
    with g.as_default():
        x = tf.constant(np.random.default_rng(1).standard_normal((2, 4)))
        eps = tf.constant(1e-3, dtype=tf.float64)
        mean, var = tf.nn.moments(x, axes=[1], keep_dims=True)
        y = (x - mean) * tf.rsqrt(var + eps) * tf.constant(np.ones(4)) + tf.constant(np.zeros(4))
        d_eps, d_x = tf.gradients(tf.reduce_sum(y * y), [eps, x])
        assert "LayerNormGrad" not in {o.type for o in g.get_operations()}
        with tf.Session(graph=g) as s:
            de, _ = s.run([d_eps, d_x])
    # sum(y^2) = D * rows * var / (var + eps): d/d eps = -sum(var / (var + eps)^2) * D
    assert de < 0


def test_moments_layer_norm_float32_bound_matches_first_run():
    """The fused gradient in a float32 training step: the bound plan's steps (LayerNormGrad's
    compiled loop, the forward chain fused) give the allocating first run's bits."""
    r = np.random.default_rng(3)
    xs = r.standard_normal((16, 10, 32)).astype(np.float32)
    w0 = r.standard_normal((32, 3)).astype(np.float32) * 0.1

    def losses(allocating):
        g = tf.Graph()
        with g.as_default():
            x = tf.placeholder(tf.float32, [None, 10, 32])
            gamma, beta = tf.Variable(np.ones(32, np.float32)), tf.Variable(np.zeros(32, np.float32))
            w, scale = tf.Variable(w0), tf.Variable(np.ones(32, np.float32))
            y = tf.reshape(_moments_ln(x * scale, gamma, beta, "rsqrt"), [-1, 32])  # a trained input
            loss = tf.reduce_mean(tf.square(tf.matmul(y, w)))
            train = tf.train.AdamOptimizer(0.01).minimize(loss)
            assert "LayerNormGrad" in {o.type for o in g.get_operations()}
            with tf.Session(graph=g) as s:
                s.run(tf.global_variables_initializer())
                s.allocating = allocating
                return [s.run([loss, train], {x: xs})[0] for _ in range(4)], s.run(gamma)

    bound, g_bound = losses(False)
    assert bound[-1] < bound[0]
    traced, g_traced = losses(True)
    assert bound == traced and np.array_equal(g_bound, g_traced)
