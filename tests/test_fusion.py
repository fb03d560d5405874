"""Fused elementwise chains (runtime/fusion.py, csrc/fuse.c): a bound plan's chain of elementwise
ops runs as one step and gives the bits of the ops run one by one (fusion off), and of the
allocating first run, on ordinary and on special values."""

from __future__ import annotations

import numpy as np
import pytest
from plan_runs import bound_runs

import nnctl as tf
from nnctl.runtime import fusion, subgraphs

pytestmark = pytest.mark.skipif(fusion.load() is None,
                                reason="the compiled kernels are not built here (or NNCTL_JIT=0)")

RNG = np.random.default_rng(3)


def _runs(build, feeds, monkeypatch):
    """(fused bound values, their step op types, unfused step op types)."""
    return bound_runs(build, feeds, monkeypatch, off=[fusion])


def _special(shape, dtype):
    v = RNG.standard_normal(shape).astype(dtype)
    flat = v.reshape(-1)
    tiny = np.finfo(dtype).tiny
    flat[:10] = [0.0, -0.0, np.nan, np.inf, -np.inf, tiny / 4, -tiny / 4, 1e30, -1e-30, 3.0]
    return v


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the nan/inf inputs, on both paths
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_instruction_gives_numpys_bits_on_special_values(dtype, monkeypatch):
    shape = (64, 300)  # 300 columns: a block of 256 and a remainder
    a, b = _special(shape, dtype), _special(shape, dtype)[::-1].copy()

    def build():
        x = tf.placeholder(dtype, shape)
        y = tf.placeholder(dtype, shape)
        outs = [
            tf.nn.relu(x * y + x),
            tf.sqrt(tf.abs(x) + y) - x,          # Abs is not fused: an input of the chain
            tf.math.rsqrt(x * x + 1.0) / y,
            tf.math.squared_difference(x, y) * 0.5 - (-x),
            tf.square(x - y) + tf.negative(y),
            tf.add_n([x * y, x - y, y * 2.0, tf.sqrt(x)]),   # AddN: left to right, as its kernel
        ]
        g = tf.gradients(tf.reduce_sum(tf.nn.relu(x * 2.0 + y) * y), [x])[0]  # ReluGrad in a chain
        return [x, y], [*outs, g]
    _, ftypes, utypes = _runs(build, [a, b], monkeypatch)
    assert len(ftypes) < len(utypes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_from_moments_is_one_step_per_chain(dtype, monkeypatch):
    """(h - mean) * rsqrt(var + eps) * gamma + beta: mean and rsqrt one value per row, gamma and
    beta one per column. (With subgraph kernels on, the whole forward is one LayerNorm step instead:
    tests/test_subgraphs.py.)"""
    monkeypatch.setattr(subgraphs, "available", lambda backend: False)
    shape = (8, 64, 128)
    hv = RNG.standard_normal(shape).astype(dtype)
    gv = RNG.standard_normal(128).astype(dtype)

    def build():
        h = tf.placeholder(dtype, [None, 64, 128])
        gamma = tf.Variable(gv)
        beta = tf.Variable(np.zeros(128, dtype))
        mean, var = tf.nn.moments(h, axes=[2], keep_dims=True)
        y = (h - mean) * tf.math.rsqrt(var + 1e-5) * gamma + beta
        loss = tf.reduce_sum(y * y)
        return [h], [y, *tf.gradients(loss, [h, gamma, beta])]
    _, ftypes, utypes = _runs(build, [hv], monkeypatch)
    # the gradient is one LayerNormGrad (ops/layer_norm_ops.py), which reads h, the mean and rsqrt
    # only: the forward's subtract, two products and add are then one chain, one step
    assert ftypes.count("LayerNormGrad") == 1 and "Sub" in utypes and "Sub" not in ftypes
    assert len(ftypes) == len(utypes) - 3


def test_a_bias_add_and_its_relu_fuse_over_the_channel_axis_only(monkeypatch):
    xv = RNG.standard_normal((16, 8, 8, 32)).astype(np.float32)
    bv = RNG.standard_normal(32).astype(np.float32)
    cv = RNG.standard_normal(8).astype(np.float32)
    mv = RNG.standard_normal((1, 8, 1, 32)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [None, 8, 8, 32])
        nhwc = tf.nn.relu(tf.nn.bias_add(x, bv))
        nchw = tf.nn.relu(tf.nn.bias_add(x, cv, data_format="NCHW"))
        middle = tf.nn.relu(x + tf.constant(mv))
        return [x], [nhwc, nchw, middle]
    (nhwc, nchw, _), ftypes, _ = _runs(build, [xv], monkeypatch)
    np.testing.assert_array_equal(nhwc, np.maximum(xv + bv, 0))
    np.testing.assert_array_equal(nchw, np.maximum(xv + cv.reshape(8, 1, 1), 0))
    assert ftypes.count("BiasAdd") == 1  # the NCHW one; the NHWC one runs inside its relu's step
    assert ftypes.count("AddV2") == 1    # a broadcast along a middle axis is not one of the kinds


def test_what_others_read_is_computed_and_the_chain_stops_there(monkeypatch):
    xv = RNG.standard_normal((64, 512)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [None, 512])
        a = x * 3.0 + 1.0          # fetched: it must exist
        b = tf.nn.relu(a - 0.5)
        c = b * b                  # b has two readers (c, d): c's chain starts at b
        d = b + 2.0
        return [x], [a, c, d]
    (a, c, d), ftypes, utypes = _runs(build, [xv], monkeypatch)
    av = xv * np.float32(3) + np.float32(1)
    bv = np.maximum(av - np.float32(0.5), 0)
    np.testing.assert_array_equal(a, av)
    np.testing.assert_array_equal(c, bv * bv)
    np.testing.assert_array_equal(d, bv + np.float32(2))


def test_a_chain_never_reads_past_an_update_of_its_inputs(monkeypatch):
    vv = RNG.standard_normal((64, 512)).astype(np.float32)

    def build():
        v = tf.Variable(vv)
        x = tf.placeholder(tf.float32, [None, 512])
        before = (v * 2.0 + x) * 0.5
        with tf.control_dependencies([before]):
            upd = tf.assign_add(v, tf.ones_like(v))
        with tf.control_dependencies([upd]):
            after = v * 1.5 + x
        return [x], [before, after]
    xv = RNG.standard_normal((64, 512)).astype(np.float32)
    with tf.Graph().as_default():
        phs, fetches = build()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            v = vv.copy()
            for _ in range(3):
                before, after = sess.run(fetches, {phs[0]: xv})
                np.testing.assert_array_equal(before, ((v * np.float32(2)) + xv) * np.float32(0.5))
                v = v + np.float32(1)
                np.testing.assert_array_equal(after, v * np.float32(1.5) + xv)


def test_training_with_fused_chains_is_bit_identical_to_training_without(monkeypatch):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 256, 64)).astype(np.float32)
    ys = rng.integers(0, 10, (5, 256))
    w1 = (rng.standard_normal((64, 128)) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((128, 10)) * 0.1).astype(np.float32)

    def train(fused: bool):
        with monkeypatch.context() as m:
            if not fused:
                m.setattr(fusion, "available", lambda backend: False)
            with tf.Graph().as_default():
                x = tf.placeholder(tf.float32, [None, 64])
                y = tf.placeholder(tf.int64, [None])
                v1, v2 = tf.Variable(w1), tf.Variable(w2)
                b1 = tf.Variable(np.zeros(128, np.float32))
                h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, v1), b1) * 1.5 - 0.1)
                logits = tf.matmul(h, v2)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
                train_op = tf.train.AdamOptimizer(1e-2).minimize(loss)
                with tf.Session() as sess:
                    sess.run(tf.global_variables_initializer())
                    losses = [sess.run([train_op, loss], {x: xs[i], y: ys[i]})[1] for i in range(5)]
                    return losses, sess.run([v1, v2, b1])
    fl, fw = train(True)
    ul, uw = train(False)
    assert fl == ul
    for a, b in zip(fw, uw):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(171, 100), (17, 1000), (33, 512), (32, 513), (2, 64, 130)])
def test_row_column_and_scalar_operands_over_any_row_length(shape, monkeypatch):
    """fuse.c packs several short rows into one block (their per-column operand repeated) and walks
    long rows in blocks: every split of rows and columns gives the unfused steps' bits."""
    xv = RNG.standard_normal(shape).astype(np.float32)
    rowv = RNG.standard_normal(shape[-1]).astype(np.float32)
    colv = RNG.standard_normal((*shape[:-1], 1)).astype(np.float32)

    def build():
        x = tf.placeholder(tf.float32, [None, *shape[1:]])
        y = tf.nn.relu((x - tf.constant(colv)) * tf.constant(rowv) + 0.25) / (tf.abs(x) + 1.0)
        return [x], [y]
    (y,), ftypes, utypes = _runs(build, [xv], monkeypatch)
    assert len(ftypes) < len(utypes)
    ref = np.maximum((xv - colv) * rowv + np.float32(0.25), 0) / (np.abs(xv) + np.float32(1))
    np.testing.assert_array_equal(y, ref)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_chain_whose_intermediates_a_gradient_reads_for_shape_is_fused(dtype, monkeypatch):
    """keep * new + (1 - keep) * old (a masked RNN step's blend) under a gradient: the AddV2's
    gradient reads the Muls' outputs for their shape only (SumToShape), so they still fuse, and
    those readers get a placeholder of that shape. [64, 64]: fewer elements than a single
    compiled loop needs, enough for a chain."""
    new, old = _special((64, 64), dtype), RNG.standard_normal((64, 64)).astype(dtype)
    keep = (RNG.uniform(size=(64, 1)) < 0.5).astype(dtype)

    def build():
        n, o = tf.placeholder(dtype, [None, 64]), tf.placeholder(dtype, [None, 64])
        k = tf.placeholder(dtype, [None, 1])
        y = k * n + (1.0 - k) * o
        gn, go = tf.gradients(tf.reduce_sum(y * o), [n, o])
        return [n, o, k], [y, gn, go, tf.zeros_like(k * n) + 2.0]
    (y, gn, go, z), ftypes, utypes = _runs(build, [new, old, keep], monkeypatch)
    assert ftypes.count("Mul") < utypes.count("Mul"), (ftypes, utypes)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(y, keep * new + (1 - keep) * old)
        np.testing.assert_array_equal(gn, keep * old)
    np.testing.assert_array_equal(z, np.full((64, 64), 2.0, dtype))
