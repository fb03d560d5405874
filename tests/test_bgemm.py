"""Batched small products (ops/matmul_jit.py, csrc/bgemm.c): within a float32 rounding bound of the
float64 product, the same bits however the batch is split over threads, and the same bits on the
allocating first run and on the bound plan."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.ops import matmul_jit
from nnctl.runtime import parallel

pytestmark = pytest.mark.skipif(matmul_jit.load() is None,
                                reason="no compiled kernels here, or a CPU without fused multiply-adds")

RNG = np.random.default_rng(11)


def _operands(batch, m, k, n, ta, tb, dtype):
    a = RNG.standard_normal((*batch, k, m) if ta else (*batch, m, k)).astype(dtype)
    b = RNG.standard_normal((*batch, n, k) if tb else (*batch, k, n)).astype(dtype)
    return (np.swapaxes(a, -1, -2) if ta else a), (np.swapaxes(b, -1, -2) if tb else b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [((8, 4), 64, 32, 64), ((16,), 64, 64, 32), ((3, 5), 7, 5, 19), ((40,), 1, 9, 1),
                                   ((6, 2), 13, 33, 40)])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
def test_products_are_within_rounding_of_float64(dtype, shape, ta, tb):
    batch, m, k, n = shape
    a, b = _operands(batch, m, k, n, ta, tb, dtype)
    out = np.empty((*batch, m, n), dtype)
    step = matmul_jit.step(a, b, out)
    if np.prod(batch) * m * k * n < matmul_jit.MIN_MACS:
        assert step is None  # too small to bother: numpy's loop
        return
    assert step is not None
    step()
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    # one FMA chain of k terms per value: |error| <= k * eps * sum |a_ik b_kj| (plus one rounding)
    bound = (k + 1) * np.finfo(dtype).eps * np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    assert np.all(np.abs(out - ref) <= bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(64, 32, 64), (13, 33, 40), (7, 5, 19), (64, 64, 8)])
def test_a_transposed_b_gives_the_bits_of_its_contiguous_copy(dtype, m, k, n):
    # the transposed operand is packed into the same panel: only its layout differs
    a, b = _operands((24, 8), m, k, n, False, True, dtype)
    outs = []
    for bb in (b, np.ascontiguousarray(b)):
        out = np.empty((24, 8, m, n), dtype)
        matmul_jit.step(a, bb, out)()
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_transposed_output_view_gets_the_bits_of_a_contiguous_one(dtype):
    # attention's heads written into [batch, time, heads, depth]: rows through their strides
    a, b = _operands((8, 4), 64, 64, 32, False, False, dtype)
    out = np.empty((8, 4, 64, 32), dtype)
    matmul_jit.step(a, b, out)()
    joined = np.full((8, 64, 4, 32), np.nan, dtype)
    view = joined.transpose(0, 2, 1, 3)
    matmul_jit.step(a, b, view)()
    np.testing.assert_array_equal(view, out)
    np.testing.assert_array_equal(joined.reshape(-1), out.transpose(0, 2, 1, 3).reshape(-1))
    # outputs whose elements would share memory, or whose rows are strided, take numpy's path
    assert matmul_jit.step(a, b, np.broadcast_to(out[:1], out.shape)) is None
    assert matmul_jit.step(a, b, np.empty((8, 4, 64, 64), dtype)[..., ::2]) is None


def test_three_batch_axes_keep_numpys_matmul():
    a, b = _operands((2, 3, 4), 6, 8, 17, False, False, np.float32)
    assert matmul_jit.step(a, b, np.empty((2, 3, 4, 6, 17), np.float32)) is None


def test_a_heads_view_and_any_thread_split_give_the_same_bits(monkeypatch):
    """[batch, time, heads, dh] transposed to [batch, heads, time, dh]: two batch axes that do not
    fold into one stride; splitting the batch over threads changes no value."""
    x = RNG.standard_normal((12, 64, 4, 32)).astype(np.float32)
    y = RNG.standard_normal((12, 64, 4, 32)).astype(np.float32)
    q, kt = np.transpose(x, (0, 2, 1, 3)), np.swapaxes(np.transpose(y, (0, 2, 1, 3)), -1, -2)
    monkeypatch.setattr(matmul_jit, "workers_spinning", lambda: False)  # really split
    monkeypatch.setattr(matmul_jit, "oversubscribed", lambda: False)
    results = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("NNCTL_NUM_THREADS", str(threads))
        out = np.empty((12, 4, 64, 64), np.float32)
        step = matmul_jit.step(q, kt, out)
        assert step is not None
        step()
        results.append(out)
    assert parallel.gemm_threads() == 3
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_allclose(results[0], np.matmul(q, kt), rtol=1e-4, atol=1e-5)


def test_attention_products_are_the_same_bits_traced_and_bound():
    xv = RNG.standard_normal((8, 64, 128)).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 64, 128])
        h = tf.transpose(tf.reshape(x, [-1, 64, 4, 32]), [0, 2, 1, 3])
        att = tf.nn.softmax(tf.matmul(h, h, transpose_b=True))
        o = tf.matmul(att, h)
        g = tf.gradients(tf.reduce_sum(o * o), [x])[0]
        with tf.Session() as sess:
            sess.allocating = True
            first = sess.run([o, g], {x: xv})
            sess.allocating = False
            sess.run([o, g], {x: xv})
            bound = sess.run([o, g], {x: xv})
    for a, b in zip(first, bound):
        np.testing.assert_array_equal(a, b)
    hv = np.transpose(xv.reshape(-1, 64, 4, 32), (0, 2, 1, 3)).astype(np.float64)
    s = hv @ np.swapaxes(hv, -1, -2)
    e = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(bound[0], (e / e.sum(-1, keepdims=True)) @ hv, rtol=1e-4, atol=1e-4)
