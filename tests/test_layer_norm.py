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
