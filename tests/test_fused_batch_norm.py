"""FusedBatchNormV3 / FusedBatchNormGradV3 (nnctl/ops/bn_ops.py) against the composite moments path,
against torch's BatchNorm2d, and the compiled loops against the xp reference, bit for bit."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import nnctl as tf
from nnctl.ops import bn_ops
from nnctl.runtime.jit import MIN_ELEMENTS


def _data(shape, dt, seed=0):
    r = np.random.default_rng(seed)
    c = shape[-1]
    x = (r.standard_normal(shape) * r.uniform(0.5, 3.0, c) + r.uniform(-2, 2, c)).astype(dt)
    return x, r.uniform(0.5, 1.5, c).astype(dt), r.uniform(-1, 1, c).astype(dt), r.standard_normal(shape).astype(dt)


def _fused(xv, g, b, w, **kw):
    """(y, batch_mean, batch_variance, dx, dscale, doffset) of sum(w * y) through tf.nn.fused_batch_norm."""
    with tf.Graph().as_default() as graph:
        x, sc, of = tf.constant(xv), tf.constant(g), tf.constant(b)
        y, bm, bv = tf.nn.fused_batch_norm(x, sc, of, epsilon=1e-3, **kw)
        grads = tf.gradients(tf.reduce_sum(y * w), [x, sc, of])
        types = {op.type for op in graph.get_operations()}
        with tf.Session() as s:
            return s.run([y, bm, bv, *grads]), types


@pytest.mark.parametrize("shape", [(4, 5, 3, 6), (1, 2, 2, 1)])
def test_training_matches_the_composite_moments_path(shape):
    xv, g, b, w = _data(shape, np.float64)
    (y, bm, bv, dx, dg, db), types = _fused(xv, g, b, w)
    assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= types
    with tf.Graph().as_default():
        x, sc, of = tf.constant(xv), tf.constant(g), tf.constant(b)
        mu, var = tf.nn.moments(x, [0, 1, 2])
        yc = tf.nn.batch_normalization(x, mu, var, of, sc, 1e-3)
        gc = tf.gradients(tf.reduce_sum(yc * w), [x, sc, of])
        with tf.Session() as s:
            ref = s.run([yc, mu, var, *gc])
    n = xv.size // shape[-1]
    ref[2] = ref[2] * (n / (n - 1) if n > 1 else 1.0)     # TF's batch_variance is Bessel-corrected
    for a, r in zip((y, bm, bv, dx, dg, db), ref):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)


def test_inference_normalizes_by_the_given_statistics():
    xv, g, b, w = _data((3, 4, 4, 5), np.float64)
    mu, var = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    (y, bm, bv, dx, dg, db), _ = _fused(xv, g, b, w, mean=mu, variance=var, is_training=False)
    r = 1 / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(y, (xv - mu) * r * g + b, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(bm, mu)
    np.testing.assert_array_equal(bv, var)
    np.testing.assert_allclose(dx, w * g * r, rtol=1e-13)
    np.testing.assert_allclose(dg, (w * (xv - mu) * r).sum((0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(db, w.sum((0, 1, 2)), rtol=1e-12)


def test_inference_without_statistics_is_refused():
    with tf.Graph().as_default(), pytest.raises(ValueError, match="needs mean and variance"):
        tf.nn.fused_batch_norm(tf.zeros([2, 2, 2, 3]), tf.ones([3]), tf.zeros([3]), is_training=False)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_training_matches_torch_batchnorm2d(dt):
    torch = pytest.importorskip("torch")
    xv, g, b, w = _data((8, 6, 5, 4), dt, seed=1)
    (y, bm, bv, dx, dg, db), _ = _fused(xv, g, b, w)
    bn = torch.nn.BatchNorm2d(4, eps=1e-3, momentum=1.0).to(torch.float64)   # momentum 1: running = batch
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(g, dtype=torch.float64))
        bn.bias.copy_(torch.tensor(b, dtype=torch.float64))
    xt = torch.tensor(xv.transpose(0, 3, 1, 2), dtype=torch.float64, requires_grad=True)
    yt = bn.train()(xt)
    (yt * torch.tensor(w.transpose(0, 3, 1, 2), dtype=torch.float64)).sum().backward()
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)
    np.testing.assert_allclose(dg, bn.weight.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(db, bn.bias.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bm, bn.running_mean.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(bv, bn.running_var.numpy(), rtol=tol, atol=tol)   # both unbiased
    # inference with those statistics, as torch's eval mode
    (yi, *_), _ = _fused(xv, g, b, w, mean=bm, variance=bv, is_training=False)
    np.testing.assert_allclose(yi, bn.eval()(xt).detach().numpy().transpose(0, 2, 3, 1), rtol=tol, atol=tol)


def test_layer_uses_the_fused_op_and_updates_the_moving_averages():
    xv, _, _, w = _data((6, 4, 4, 3), np.float32, seed=2)
    with tf.Graph().as_default() as graph:
        x = tf.constant(xv)
        y = tf.layers.batch_normalization(x, momentum=0.9, epsilon=1e-3, training=True, name="bn")
        loss = tf.reduce_sum(y * w)
        grads = tf.gradients(loss, [x])
        types = [op.type for op in graph.get_operations()]
        updates = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
        mm, mv = (v for v in tf.global_variables() if "moving" in v.name)
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            yv, _ = s.run([y, grads[0]])
            s.run(updates)
            mmv, mvv = s.run([mm, mv])
    assert "FusedBatchNormV3" in types and "FusedBatchNormGradV3" in types
    x64 = xv.astype(np.float64)
    mu, var = x64.mean((0, 1, 2)), x64.var((0, 1, 2))          # the biased variance, as the composite path
    np.testing.assert_allclose(yv, (x64 - mu) / np.sqrt(var + 1e-3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mmv, 0.1 * mu, rtol=1e-6, atol=1e-7)
    # the moving variance follows TF's fused path: the Bessel-corrected batch variance (n / (n - 1))
    n = xv.shape[0] * xv.shape[1] * xv.shape[2]
    np.testing.assert_allclose(mvv, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-6)


def test_rank_2_inference_and_unfused_layers_keep_the_composite_path():
    with tf.Graph().as_default() as graph:
        tf.layers.batch_normalization(tf.zeros([4, 3]), training=True)
        tf.layers.batch_normalization(tf.zeros([4, 2, 2, 3]), training=False)
        tf.layers.batch_normalization(tf.zeros([4, 2, 2, 3]), training=True, fused=False)
        assert not any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations())
        with pytest.raises(ValueError, match="fused=True needs a rank-4"):
            tf.layers.batch_normalization(tf.zeros([4, 3]), training=True, fused=True)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 16, 16, 8), (8, 32, 32, 3)])
def test_compiled_loops_equal_the_xp_path_bit_for_bit(dt, shape, monkeypatch):
    xv, g, b, w = _data(shape, dt, seed=3)
    assert xv.size >= MIN_ELEMENTS         # big enough for the compiled loops
    if bn_ops.compiled(("bn", 1), partial(bn_ops._build, threads=1)) is None:
        pytest.skip("the compiled kernels are not built here")
    used = []
    real = bn_ops._host_kernels
    monkeypatch.setattr(bn_ops, "_host_kernels", lambda *a: used.append(real(*a)) or used[-1])
    monkeypatch.setenv("NNCTL_JIT", "1")
    on, _ = _fused(xv, g, b, w)
    assert used and all(k is not None for k in used), "the compiled loops were not used"
    monkeypatch.setenv("NNCTL_JIT", "0")
    off, _ = _fused(xv, g, b, w)
    for a, r in zip(on, off):
        np.testing.assert_array_equal(a, r)


def test_nchw_equals_nhwc_transposed():
    # NCHW runs the NHWC op between transposes (as TF's CPU kernel): the same values and gradients
    xv, g, b, w = _data((4, 5, 3, 6), np.float64)
    nhwc = _fused(xv, g, b, w)[0]
    to_nchw = (0, 3, 1, 2)
    nchw = _fused(np.ascontiguousarray(xv.transpose(to_nchw)), g, b, np.ascontiguousarray(w.transpose(to_nchw)),
                  data_format="NCHW")[0]
    np.testing.assert_allclose(nchw[0], nhwc[0].transpose(to_nchw), rtol=1e-12, atol=1e-12)
    for got, want in zip(nchw[1:3], nhwc[1:3]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nchw[3], nhwc[3].transpose(to_nchw), rtol=1e-10, atol=1e-12)
    for got, want in zip(nchw[4:], nhwc[4:]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_unknown_data_format_is_refused_by_name():
    with tf.Graph().as_default(), pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW', got 'NCDHW'"):
        tf.nn.fused_batch_norm(tf.zeros([2, 2, 2, 2]), tf.ones([2]), tf.zeros([2]), data_format="NCDHW")
