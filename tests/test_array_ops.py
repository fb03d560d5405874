"""Array ops: forward values against numpy (TF semantics), static shapes, construction errors and
gradient values of the ops whose gradients are kernels of their own (scatter-add, tile, pad folds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnctl as tf
from nnctl.ops import array_ops as A

_r = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("fresh_graph")


def run(fetches, feed=None, times=3):
    """Run once on the allocating path (every kernel allocates), then on the bound path (buffers,
    views, folded constants) several times: every run must give the same values."""
    sess = tf.Session()
    sess.allocating = True
    first = sess.run(fetches, feed)
    sess.allocating = False
    for _ in range(times - 1):
        again = sess.run(fetches, feed)
        for a, b in zip(first if isinstance(first, list) else [first],
                        again if isinstance(again, list) else [again]):
            np.testing.assert_array_equal(a, b)
    return first


def run_fed(fetch, ph, values):
    """Run one plan with several different feeds (same shape): catches stale views and buffers."""
    sess = tf.Session()
    return [sess.run(fetch, {ph: v}) for v in values]


def shape_of(t):
    return t.static_shape


X = _r.standard_normal((3, 4, 5))


# --- reshape, transpose, identity ---------------------------------------------------------------

def test_reshape_minus_one():
    t = tf.reshape(tf.constant(X), [-1, 10])
    assert shape_of(t) == (6, 10)
    np.testing.assert_array_equal(run(t * 1.0), X.reshape(-1, 10))
    assert shape_of(tf.reshape(tf.placeholder(tf.float32, [None, 4, 5]), [-1, 20])) == (None, 20)


def test_reshape_incompatible_sizes_names_both():
    with pytest.raises(ValueError) as e:
        tf.reshape(tf.zeros([2, 3]), [4, 5])
    msg = str(e.value)
    assert "Reshape" in msg and "(2, 3)" in msg and "4, 5" in msg


def test_reshape_minus_one_not_divisible():
    with pytest.raises(ValueError, match="Reshape"):
        tf.reshape(tf.zeros([2, 3]), [-1, 4])


def test_transpose_default_reverses():
    t = A.transpose(tf.constant(X))
    assert shape_of(t) == (5, 4, 3)
    np.testing.assert_array_equal(run(t), X.T)


def test_transpose_perm_and_none_dims():
    ph = tf.placeholder(tf.float64, [None, 4, 5])
    t = A.transpose(ph, [1, 2, 0])
    assert shape_of(t) == (4, 5, None)
    outs = run_fed(t * 2.0, ph, [X, X + 1])
    np.testing.assert_allclose(outs[0], X.transpose(1, 2, 0) * 2)
    np.testing.assert_allclose(outs[1], (X + 1).transpose(1, 2, 0) * 2)


def test_transpose_unknown_rank():
    ph = tf.placeholder(tf.float64)
    t = A.transpose(ph)
    assert shape_of(t) is None
    np.testing.assert_array_equal(tf.Session().run(t, {ph: X}), X.T)


def test_transpose_bad_perm():
    with pytest.raises(ValueError, match=r"Transpose.*permutation"):
        A.transpose(tf.zeros([2, 3]), [0, 0])
    with pytest.raises(ValueError, match=r"Transpose.*\(2, 3\)"):
        A.transpose(tf.zeros([2, 3]), [0, 1, 2])


def test_transpose_is_a_view_in_a_plan():
    # the transposed tensor feeds an op, and the feed changes between runs
    ph = tf.placeholder(tf.float64, [3, 4, 5])
    t = tf.reduce_sum(A.transpose(ph), axis=0)
    a, b = run_fed(t, ph, [X, 2 * X])
    np.testing.assert_allclose(a, X.T.sum(0))
    np.testing.assert_allclose(b, 2 * X.T.sum(0))


def test_identity_and_stop_gradient():
    c = tf.constant(X)
    np.testing.assert_array_equal(run(tf.identity(c)), X)
    (g,) = tf.gradients(tf.reduce_sum(tf.stop_gradient(c) * c), [c])
    np.testing.assert_array_equal(run(g), X)


# --- reverse, expand_dims, squeeze, stack -----------------------------------------------------------

def test_reverse():
    t = A.reverse(tf.constant(X), [0, -1])
    np.testing.assert_array_equal(run(t + 0.0), X[::-1, :, ::-1])
    assert shape_of(A.reverse(tf.placeholder(tf.float32, [None, 3]), [1])) == (None, 3)


def test_expand_dims_squeeze():
    c = tf.constant(X)
    assert shape_of(tf.expand_dims(c, -1)) == (3, 4, 5, 1)
    assert shape_of(tf.expand_dims(c, 0)) == (1, 3, 4, 5)
    np.testing.assert_array_equal(run(tf.expand_dims(c, 1)), X[:, None])
    s = tf.squeeze(tf.constant(np.ones((1, 3, 1))))
    assert shape_of(s) == (3,)
    assert shape_of(tf.squeeze(tf.placeholder(tf.float32, [None, 1, 3]), axis=[1])) == (None, 3)
    with pytest.raises(ValueError, match="Squeeze"):
        tf.squeeze(tf.zeros([2, 3]), axis=[0])


def test_stack_unstack():
    a, b = tf.constant(X[0]), tf.constant(X[1])
    np.testing.assert_array_equal(run(tf.stack([a, b], axis=1)), np.stack([X[0], X[1]], axis=1))
    parts = tf.unstack(tf.constant(X), axis=1)
    assert len(parts) == 4 and shape_of(parts[0]) == (3, 5)
    for p, ref in zip(run(parts), np.moveaxis(X, 1, 0)):
        np.testing.assert_array_equal(p, ref)


# --- indexing ----------------------------------------------------------------------------------------

def test_indexing():
    c = tf.constant(X)
    np.testing.assert_array_equal(run(c[0]), X[0])
    np.testing.assert_array_equal(run(c[:, 1:3]), X[:, 1:3])
    np.testing.assert_array_equal(run(c[..., None]), X[..., None])
    np.testing.assert_array_equal(run(c[-1, ::-2, 1]), X[-1, ::-2, 1])
    np.testing.assert_array_equal(run(c[None, ..., 2]), X[None, ..., 2])
    assert shape_of(c[:, 1:3]) == (3, 2, 5)
    assert shape_of(c[..., None]) == (3, 4, 5, 1)
    assert shape_of(tf.placeholder(tf.float32, [None, 4])[:, 1:3]) == (None, 2)
    with pytest.raises(IndexError):
        c[3]
    with pytest.raises(TypeError):
        c[tf.constant(0)]


# --- slice ---------------------------------------------------------------------------------------------

def test_slice_size_minus_one():
    c = tf.constant(X)
    t = A.slice(c, [1, 0, 2], [-1, 2, -1])
    assert shape_of(t) == (2, 2, 3)
    np.testing.assert_array_equal(run(t), X[1:, 0:2, 2:])
    ph = tf.placeholder(tf.float64, [None, 4, 5])
    t2 = A.slice(ph, [1, 1, 0], [-1, 2, 3])
    assert shape_of(t2) == (None, 2, 3)
    a, b = run_fed(t2 * 1.0, ph, [X, -X])
    np.testing.assert_array_equal(a, X[1:, 1:3, :3])
    np.testing.assert_array_equal(b, -X[1:, 1:3, :3])


def test_slice_errors():
    with pytest.raises(ValueError, match=r"Slice.*\(3, 4\)"):
        A.slice(tf.zeros([3, 4]), [2, 0], [2, 4])
    with pytest.raises(ValueError, match="Slice"):
        A.slice(tf.zeros([3, 4]), [0], [1])


# --- concat, split ---------------------------------------------------------------------------------------

def test_concat_negative_axis():
    a, b = X, _r.standard_normal((3, 4, 2))
    t = A.concat([tf.constant(a), tf.constant(b)], -1)
    assert shape_of(t) == (3, 4, 7)
    np.testing.assert_array_equal(run(t), np.concatenate([a, b], -1))


def test_concat_static_shapes_with_none():
    p = tf.placeholder(tf.float32, [None, 3])
    q = tf.placeholder(tf.float32, [2, None])
    assert shape_of(A.concat([p, q], 0)) == (None, 3)
    assert shape_of(A.concat([p, q], 1)) == (2, None)
    assert shape_of(A.concat([p, tf.placeholder(tf.float32, [5, 3])], 1)) == (5, 6)
    assert shape_of(A.concat([p, tf.placeholder(tf.float32, [5, 3])], 0)) == (None, 3)


def test_concat_runtime_shapes():
    p = tf.placeholder(tf.float64, [None, 3])
    t = A.concat([p, p * 2.0], 0)
    out = tf.Session().run(t, {p: np.ones((2, 3))})
    np.testing.assert_array_equal(out, np.concatenate([np.ones((2, 3)), 2 * np.ones((2, 3))]))


def test_concat_errors():
    with pytest.raises(ValueError) as e:
        A.concat([tf.zeros([2, 3]), tf.zeros([3, 4])], 0)
    assert "ConcatV2" in str(e.value) and "(2, 3)" in str(e.value) and "(3, 4)" in str(e.value)
    with pytest.raises(ValueError, match="ConcatV2.*rank"):
        A.concat([tf.zeros([2, 3]), tf.zeros([2, 3, 1])], 0)
    with pytest.raises(ValueError, match="ConcatV2.*axis 2"):
        A.concat([tf.zeros([2, 3]), tf.zeros([2, 3])], 2)
    with pytest.raises(TypeError, match="ConcatV2"):
        A.concat([tf.zeros([2, 3]), tf.zeros([2, 3], dtype=tf.int32)], 0)


def test_concat_single_value_is_identity():
    c = tf.constant(X)
    np.testing.assert_array_equal(run(A.concat([c], 1)), X)


def test_split_int():
    parts = A.split(tf.constant(X), 2, axis=1)
    assert isinstance(parts, list) and len(parts) == 2
    assert [shape_of(p) for p in parts] == [(3, 2, 5), (3, 2, 5)]
    for p, ref in zip(run(parts), np.split(X, 2, axis=1)):
        np.testing.assert_array_equal(p, ref)


def test_split_sizes_with_minus_one():
    parts = A.split(tf.constant(X), [1, -1, 2], axis=-1)
    assert [shape_of(p) for p in parts] == [(3, 4, 1), (3, 4, 2), (3, 4, 2)]
    for p, ref in zip(run(parts), np.split(X, [1, 3], axis=-1)):
        np.testing.assert_array_equal(p, ref)


def test_split_one_piece_is_a_list():
    parts = A.split(tf.constant(X), 1, axis=0)
    assert isinstance(parts, list) and len(parts) == 1
    np.testing.assert_array_equal(run(parts[0] * 1.0), X)


def test_split_bound_buffers_follow_feeds():
    ph = tf.placeholder(tf.float64, [None, 4, 5])
    parts = A.split(ph, [3, 2], axis=2)
    assert shape_of(parts[0]) == (None, 4, 3)
    sess = tf.Session()
    for v in (X, X * 3, X - 1):
        a, b = sess.run([parts[0] + 0.0, parts[1]], {ph: v})
        np.testing.assert_array_equal(a, v[..., :3])
        np.testing.assert_array_equal(b, v[..., 3:])


def test_split_errors():
    with pytest.raises(ValueError) as e:
        A.split(tf.zeros([3, 4]), 3, axis=1)
    assert "Split" in str(e.value) and "(3, 4)" in str(e.value)
    with pytest.raises(ValueError, match=r"SplitV.*\(3, 4\)"):
        A.split(tf.zeros([3, 4]), [1, 2], axis=1)
    with pytest.raises(ValueError, match="SplitV"):
        A.split(tf.zeros([3, 4]), [-1, -1], axis=1)


def test_split_gradient_of_unused_piece_is_zero():
    c = tf.constant(X)
    parts = A.split(c, 2, axis=1)
    (g,) = tf.gradients(tf.reduce_sum(parts[1] * 3.0), [c])
    ref = np.zeros_like(X)
    ref[:, 2:] = 3.0
    np.testing.assert_array_equal(run(g), ref)


# --- gather, one_hot ------------------------------------------------------------------------------------

def test_gather_axis0_and_axis1():
    params = _r.standard_normal((5, 3))
    idx = np.array([4, 0, 4])
    np.testing.assert_array_equal(run(A.gather(tf.constant(params), idx)), params[idx])
    idx2 = np.array([[2, 0], [1, 1]])
    t = A.gather(tf.constant(X), idx2, axis=1)
    assert shape_of(t) == (3, 2, 2, 5)
    np.testing.assert_array_equal(run(t), np.take(X, idx2, axis=1))
    t = A.gather(tf.constant(X), tf.constant([3, 1], dtype=tf.int64), axis=-1)
    np.testing.assert_array_equal(run(t), X[..., [3, 1]])


def test_gather_static_shapes():
    p = tf.placeholder(tf.float32, [None, 8])
    i = tf.placeholder(tf.int32, [None])
    assert shape_of(A.gather(p, i)) == (None, 8)
    assert shape_of(A.gather(p, i, axis=1)) == (None, None)
    assert shape_of(A.gather(tf.zeros([10, 4]), tf.placeholder(tf.int32, [2, None]))) == (2, None, 4)


def test_gather_errors():
    with pytest.raises(TypeError, match="GatherV2"):
        A.gather(tf.zeros([3, 4]), tf.constant([0.5]))
    with pytest.raises(ValueError, match="GatherV2"):
        A.gather(tf.zeros([3, 4]), [0], axis=2)


def test_gather_gradient_scatter_adds_repeated_indices():
    params = tf.constant(_r.standard_normal((4, 2)))
    idx = tf.placeholder(tf.int32, [None])
    w = tf.placeholder(tf.float64, [None, 2])
    (g,) = tf.gradients(tf.reduce_sum(A.gather(params, idx) * w), [params])
    sess = tf.Session()
    for iv in ([1, 1, 3, 1], [0, 2, 2, 0]):
        wv = _r.standard_normal((4, 2))
        ref = np.zeros((4, 2))
        np.add.at(ref, np.array(iv), wv)
        np.testing.assert_allclose(sess.run(g, {idx: iv, w: wv}), ref)


def test_one_hot_defaults():
    t = A.one_hot([0, 2, 3, -1], 3)
    assert t.dtype == tf.float32 and shape_of(t) == (4, 3)
    np.testing.assert_array_equal(run(t), [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]])


def test_one_hot_on_off_axis():
    idx = np.array([[0, 2], [1, 1]])
    t = A.one_hot(idx, 3, on_value=5.0, off_value=-1.0, axis=-1)
    ref = np.where(idx[..., None] == np.arange(3), 5.0, -1.0)
    np.testing.assert_array_equal(run(t), ref)
    t0 = A.one_hot(idx, 3, axis=0, dtype=tf.float64)
    assert shape_of(t0) == (3, 2, 2) and t0.dtype == tf.float64
    np.testing.assert_array_equal(run(t0), np.moveaxis(np.eye(3)[idx], -1, 0))
    t1 = A.one_hot(idx, 4, axis=1)
    assert shape_of(t1) == (2, 4, 2)
    np.testing.assert_array_equal(run(t1), np.moveaxis(np.eye(4)[idx], -1, 1))
    ti = A.one_hot([1], 2, on_value=7, off_value=0)
    assert ti.dtype == tf.int32
    np.testing.assert_array_equal(run(ti), [[0, 7]])


def test_one_hot_none_batch_and_errors():
    ph = tf.placeholder(tf.int64, [None])
    t = A.one_hot(ph, 4)
    assert shape_of(t) == (None, 4)
    sess = tf.Session()
    for v in ([1, 3], [0, 0, 2]):
        np.testing.assert_array_equal(sess.run(t, {ph: v}), np.eye(4, dtype=np.float32)[v])
    with pytest.raises(TypeError, match="OneHot"):
        A.one_hot(tf.constant([0.0]), 3)
    (g,) = tf.gradients(tf.reduce_sum(A.one_hot(ph, 4) * tf.constant(1.0)), [tf.constant(1.0)])
    assert g is None


# --- tile, broadcast_to ---------------------------------------------------------------------------------

def test_tile():
    t = A.tile(tf.constant(X), [2, 1, 3])
    assert shape_of(t) == (6, 4, 15)
    np.testing.assert_array_equal(run(t), np.tile(X, [2, 1, 3]))
    ph = tf.placeholder(tf.float64, [None, 2])
    t2 = A.tile(ph, [2, 2])
    assert shape_of(t2) == (None, 4)
    a, b = run_fed(t2, ph, [np.ones((3, 2)), np.arange(6.0).reshape(3, 2)])
    np.testing.assert_array_equal(b, np.tile(np.arange(6.0).reshape(3, 2), [2, 2]))
    with pytest.raises(ValueError, match=r"Tile.*\(3, 4, 5\)"):
        A.tile(tf.constant(X), [2, 2])


def test_tile_gradient_sums_copies():
    c = tf.constant(X)
    w = _r.standard_normal((6, 4, 15))
    (g,) = tf.gradients(tf.reduce_sum(A.tile(c, [2, 1, 3]) * w), [c])
    ref = w.reshape(2, 3, 1, 4, 3, 5).sum(axis=(0, 2, 4))
    np.testing.assert_allclose(run(g), ref)


def test_broadcast_to():
    v = np.arange(4.0)
    t = A.broadcast_to(tf.constant(v), [3, 4])
    assert shape_of(t) == (3, 4)
    np.testing.assert_array_equal(run(t), np.broadcast_to(v, (3, 4)))
    np.testing.assert_array_equal(run(A.broadcast_to(tf.constant(v), [1, 4]) * 2.0), 2 * v[None])
    with pytest.raises(ValueError) as e:
        A.broadcast_to(tf.zeros([3, 2]), [3, 4])
    assert "BroadcastTo" in str(e.value) and "(3, 2)" in str(e.value) and "(3, 4)" in str(e.value)


def test_broadcast_to_feeds_an_inplace_op():
    # a same-size broadcast_to is a reshape view; the op after it may write in place over it
    ph = tf.placeholder(tf.float64, [4])
    t = tf.exp(A.broadcast_to(ph * 2.0, [1, 4])) + A.broadcast_to(ph, [3, 4])
    sess = tf.Session()
    for v in (np.arange(4.0), np.ones(4)):
        np.testing.assert_allclose(sess.run(t, {ph: v}), np.exp(2 * v)[None] + np.broadcast_to(v, (3, 4)))


# --- pad ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT", "SYMMETRIC", "reflect"])
def test_pad_modes(mode):
    p = [[1, 2], [3, 0], [2, 4]]
    t = A.pad(tf.constant(X), p, mode, constant_values=1.5)
    kw = {"constant_values": 1.5} if mode == "CONSTANT" else {}
    ref = np.pad(X, p, mode.lower(), **kw)
    assert shape_of(t) == ref.shape
    np.testing.assert_array_equal(run(t), ref)


def test_pad_none_dims_and_errors():
    ph = tf.placeholder(tf.float64, [None, 5])
    t = A.pad(ph, [[1, 1], [2, 2]], "REFLECT")
    assert shape_of(t) == (None, 9)
    v = X[0]
    np.testing.assert_array_equal(tf.Session().run(t, {ph: v}), np.pad(v, [[1, 1], [2, 2]], "reflect"))
    with pytest.raises(ValueError) as e:
        A.pad(tf.zeros([3, 4]), [[0, 0], [4, 0]], "REFLECT")
    assert "Pad" in str(e.value) and "(3, 4)" in str(e.value)
    A.pad(tf.zeros([3, 4]), [[0, 0], [4, 0]], "SYMMETRIC")
    with pytest.raises(ValueError, match="Pad"):
        A.pad(tf.zeros([3, 4]), [[0, 0]])
    with pytest.raises(ValueError, match="Pad"):
        A.pad(tf.zeros([3, 4]), [[0, 0], [1, 1]], "WRAP")
    # a dimension unknown when the graph was built is checked when it runs
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Pad.*REFLECT paddings \[2, 2\]"):
        tf.Session().run(A.pad(ph, [[2, 2], [0, 0]], "REFLECT"), {ph: np.zeros((2, 5))})


def _pad_jacobian(shape, pads, mode):
    """The matrix of x -> np.pad(x, pads, mode) (zero fill), built column by column."""
    n = int(np.prod(shape))
    cols = [np.pad(np.eye(n)[k].reshape(shape), pads, mode.lower()).ravel() for k in range(n)]
    return np.stack(cols, axis=1)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_pad_gradient_is_the_adjoint_of_pad(data):
    rank = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    mode = data.draw(st.sampled_from(["CONSTANT", "REFLECT", "SYMMETRIC"]))
    lim = {"CONSTANT": 3, "REFLECT": None, "SYMMETRIC": None}[mode]
    pads = []
    for d in shape:
        m = lim if lim is not None else (d - 1 if mode == "REFLECT" else d)
        pads.append([data.draw(st.integers(0, m)), data.draw(st.integers(0, m))])
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float64, shape)
        y = A.pad(x, pads, mode)
        out_shape = tuple(d + a + b for d, (a, b) in zip(shape, pads))
        dy = np.random.default_rng(len(shape)).standard_normal(out_shape)
        (gx,) = tf.gradients(y, [x], grad_ys=[tf.constant(dy)])
        sess = tf.Session()
        got = [sess.run(gx, {x: np.zeros(shape)}) for _ in range(2)]
    ref = (_pad_jacobian(shape, pads, mode).T @ dy.ravel()).reshape(shape)
    for v in got:
        np.testing.assert_allclose(v, ref, atol=1e-12)


# --- filled tensors and shape queries ----------------------------------------------------------------------

def test_fill_zeros_ones_like():
    np.testing.assert_array_equal(run(tf.fill([2, 3], 7.0)), np.full((2, 3), 7.0))
    assert tf.fill([2], 1.0).dtype == tf.float32
    np.testing.assert_array_equal(run(tf.zeros([2, 2])), np.zeros((2, 2)))
    np.testing.assert_array_equal(run(tf.ones_like(tf.constant(X))), np.ones_like(X))
    np.testing.assert_array_equal(run(tf.zeros_like(tf.constant(X), dtype=tf.int32)),
                                  np.zeros(X.shape, np.int32))


def test_shape_size_rank():
    ph = tf.placeholder(tf.float32, [None, 4])
    assert shape_of(tf.shape(ph)) == (2,)
    sess = tf.Session()
    feed = {ph: np.zeros((3, 4), np.float32)}
    np.testing.assert_array_equal(sess.run(tf.shape(ph), feed), [3, 4])
    assert sess.run(tf.size(ph), feed) == 12
    assert sess.run(tf.rank(ph), feed) == 2
