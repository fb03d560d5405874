"""backends/blas_threads.py: the thread policy around numpy's BLAS changes time only, never bits.

The tests force the policy's decisions (a fake control with two threads, an oversubscribed or idle
machine) and compare every product with numpy's own."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.backends import blas_threads
from nnctl.runtime import parallel


class _FakeControl:
    """openblas_set_num_threads stand-in: records the counts set."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, n: int) -> None:
        self.calls.append(n)


@pytest.fixture
def two_threads(monkeypatch):
    setter = _FakeControl()
    monkeypatch.setattr(blas_threads, "_api", (setter, 2))
    return setter


def _blocks_seen(monkeypatch) -> list:
    seen: list = []
    real = parallel.split_step

    def spy(make_step, rows, n):
        seen.append((rows, n))
        return real(make_step, rows, n)
    monkeypatch.setattr(parallel, "split_step", spy)
    return seen


@pytest.mark.parametrize("loaded", [False, True])
def test_batched_small_products_split_over_threads_same_bits(monkeypatch, two_threads, fresh_graph, loaded):
    seen = _blocks_seen(monkeypatch)
    monkeypatch.setattr(blas_threads, "oversubscribed", lambda: loaded)
    # the BLAS path (CPUs without FMA): where the CPU fuses, ops/matmul_jit.py takes these products
    from nnctl.ops import matmul_jit
    monkeypatch.setattr(matmul_jit, "load", lambda: None)
    r = np.random.default_rng(0)
    a = r.standard_normal((8, 4, 64, 32)).astype(np.float32)
    b = r.standard_normal((8, 4, 64, 32)).astype(np.float32)
    x, y = tf.placeholder(tf.float32, a.shape), tf.placeholder(tf.float32, b.shape)
    z = tf.matmul(x, y, transpose_b=True)
    with tf.Session() as s:
        for _ in range(3):  # trace, then the bound (split) step twice
            v = s.run(z, {x: a, y: b})
    assert seen == [(8, 2)]
    assert np.array_equal(v, np.matmul(a, np.swapaxes(b, -1, -2)))


def test_small_batches_and_big_matrices_are_not_split(monkeypatch, two_threads, fresh_graph):
    seen = _blocks_seen(monkeypatch)
    r = np.random.default_rng(1)
    small = r.standard_normal((2, 8, 8)).astype(np.float32)      # whole product under SPLIT_BATCH_MACS
    big = r.standard_normal((2, 128, 128)).astype(np.float32)    # each matrix above TINY_GEMM
    for arr in (small, big):
        x = tf.placeholder(tf.float32, arr.shape)
        z = tf.matmul(x, x)
        with tf.Session() as s:
            for _ in range(2):
                v = s.run(z, {x: arr})
        assert np.array_equal(v, np.matmul(arr, arr))
    assert seen == []


def test_broadcast_batch_is_not_split(monkeypatch, two_threads, fresh_graph):
    seen = _blocks_seen(monkeypatch)
    from nnctl.ops import matmul_jit
    monkeypatch.setattr(matmul_jit, "load", lambda: None)  # the BLAS path, as above
    r = np.random.default_rng(2)
    a = r.standard_normal((16, 64, 32)).astype(np.float32)
    w = r.standard_normal((32, 64)).astype(np.float32)
    x = tf.placeholder(tf.float32, a.shape)
    z = tf.matmul(x, tf.constant(np.broadcast_to(w, (16, 32, 64)).copy()))
    z2 = tf.matmul(x, tf.constant(w[None]))   # [1, 32, 64] broadcasts over the batch: one call
    with tf.Session() as s:
        for _ in range(2):
            v, v2 = s.run([z, z2], {x: a})
    assert np.array_equal(v, np.matmul(a, w)) and np.array_equal(v2, np.matmul(a, w[None]))
    assert seen == [(16, 2)]


def test_small_gemm_runs_on_one_thread_and_restores(two_threads, fresh_graph):
    r = np.random.default_rng(3)
    a = r.standard_normal((64, 160)).astype(np.float32)
    w = r.standard_normal((160, 256)).astype(np.float32)
    x = tf.placeholder(tf.float32, a.shape)
    z = tf.matmul(x, tf.constant(w))   # 2.6M multiply-adds: between TINY_GEMM and SMALL_GEMM
    with tf.Session() as s:
        for _ in range(3):
            v = s.run(z, {x: a})
    assert np.array_equal(v, a @ w)
    assert two_threads.calls and two_threads.calls[::2] == [1] * (len(two_threads.calls) // 2)
    assert two_threads.calls[1::2] == [2] * (len(two_threads.calls) // 2)


def test_traced_and_bound_runs_give_the_same_bits(fresh_graph):
    # --debug-nans (check_numerics) and allocating runs take the traced path (each kernel's run);
    # bound runs take the bound steps: products and bias sums must use the same thread count and
    # arithmetic in both, whatever the BLAS's bits depend on
    r = np.random.default_rng(4)
    xv = r.standard_normal((256, 160)).astype(np.float32)
    x = tf.placeholder(tf.float32, xv.shape)
    w = tf.Variable(r.standard_normal((160, 96)).astype(np.float32))
    b = tf.Variable(r.standard_normal(96).astype(np.float32))
    h = tf.matmul(x, w) + b                     # 3.9M multiply-adds: the one-thread band
    y = tf.reduce_sum(tf.square(h))
    gw, gb = tf.gradients(y, [w, b])            # gb: SumToShape over the batch
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        bound = [s.run([h, gw, gb], {x: xv}) for _ in range(2)][-1]
        s.check_numerics = True
        traced = s.run([h, gw, gb], {x: xv})
    for a, b_ in zip(bound, traced):
        assert np.array_equal(a, b_)
