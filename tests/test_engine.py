"""The graph engine: the seed program, Session semantics, plans, errors for people."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import nnctl as tf
from nnctl.errors import FailedPreconditionError, InvalidArgumentError

pytestmark = pytest.mark.usefixtures("fresh_graph")


def seed_program(steps: int = 500):
    """The seed's XOR program, unchanged but for the import (and Python 3's print)."""
    x = [[0., 0.], [1., 1.], [1., 0.], [0., 1.]]
    y_ = [[0.], [0.], [1.], [1.]]
    x0 = tf.constant(x, dtype=tf.float32)
    y0 = tf.constant(y_, dtype=tf.float32)
    m1 = tf.Variable(tf.random_uniform([2, 3], minval=0.1, maxval=0.9, dtype=tf.float32))
    b1 = tf.Variable(tf.random_uniform([3], minval=0.1, maxval=0.9, dtype=tf.float32))
    h1 = tf.sigmoid(tf.matmul(x0, m1) + b1)
    m2 = tf.Variable(tf.random_uniform([3, 1], minval=0.1, maxval=0.9, dtype=tf.float32))
    b2 = tf.Variable(tf.random_uniform([1], minval=0.1, maxval=0.9, dtype=tf.float32))
    y_out = tf.sigmoid(tf.matmul(h1, m2) + b2)
    loss = tf.reduce_sum(tf.square(y0 - y_out))
    train = tf.train.GradientDescentOptimizer(1.0).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(steps):
            sess.run(train)
        return sess.run([m1, b1, m2, b2, y_out, loss])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_seed_program_learns_xor(seed):
    tf.set_random_seed(seed)
    *_, y_out, loss = seed_program()
    assert loss < 0.05
    assert list(np.round(y_out[:, 0]).astype(int)) == [0, 0, 1, 1]


def test_fetch_structures_round_trip():
    a = tf.constant(1.0)
    b = tf.constant([1, 2])
    nt = collections.namedtuple("nt", "x y")
    with tf.Session() as sess:
        out = sess.run({"a": a, "pair": (a, [b, a]), "nt": nt(a, b)})
    assert out["a"] == 1.0 and isinstance(out["pair"], tuple) and isinstance(out["pair"][1], list)
    assert out["nt"].y.tolist() == [1, 2]


def test_operation_fetch_returns_none_and_runs_it():
    v = tf.Variable(0.0)
    inc = tf.assign_add(v, 1.0)
    g = tf.group(inc)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(g) is None
        sess.run(g)
        assert sess.run(v) == 2.0


def test_unfed_placeholder_is_named():
    x = tf.placeholder(tf.float32, [None, 2], name="inputs")
    y = x * 2
    with tf.Session() as sess, pytest.raises(InvalidArgumentError, match="inputs"):
        sess.run(y)


def test_wrong_feed_shape_names_placeholder():
    x = tf.placeholder(tf.float32, [None, 2], name="inputs")
    with tf.Session() as sess, pytest.raises(InvalidArgumentError, match=r"inputs.*\(\?, 2\)"):
        sess.run(x * 2, {x: np.zeros((3, 3))})


def test_wrong_feed_dtype_is_refused():
    x = tf.placeholder(tf.int64, [None], name="labels")
    with tf.Session() as sess, pytest.raises(InvalidArgumentError, match="labels"):
        sess.run(x + 1, {x: np.array([0.5, 1.5])})


def test_uninitialized_variable_is_named():
    v = tf.Variable(tf.zeros([2]), name="weights")
    with tf.Session() as sess, pytest.raises(FailedPreconditionError, match="weights"):
        sess.run(v * 2)


def test_shape_mismatch_at_construction_names_op_and_shapes():
    a = tf.placeholder(tf.float32, [2, 3])
    b = tf.placeholder(tf.float32, [4, 5])
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3\).*\(4, 5\)"):
        tf.matmul(a, b)
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4, 5\)"):
        tf.add(a, b)


def test_missing_gradient_rule_is_lookup_error():
    from nnctl.ops.core import make_op
    x = tf.placeholder(tf.float32, [2])
    y = make_op("MyOpWithoutGrad", [x], shape=(2,), dtype=tf.float32)
    with pytest.raises(LookupError, match="MyOpWithoutGrad"):
        tf.gradients(tf.reduce_sum(y), [x])


def test_gradients_none_for_unconnected():
    x = tf.placeholder(tf.float32, [2])
    z = tf.placeholder(tf.float32, [2])
    g = tf.gradients(tf.reduce_sum(x * x), [x, z])
    assert g[1] is None and g[0] is not None


def test_stop_gradient_and_stop_gradients_argument():
    x = tf.constant([1.0, 2.0])
    y = tf.stop_gradient(x * 3) + x
    (g,) = tf.gradients(tf.reduce_sum(y), [x])
    a = x * 2
    b = a * 3
    (g2,) = tf.gradients(b, [x], stop_gradients=[a])
    with tf.Session() as sess:
        assert sess.run(g).tolist() == [1.0, 1.0]
    assert g2 is None


def test_second_order_hessian_vector_product():
    x = tf.placeholder(tf.float64, [3])
    f = tf.reduce_sum(x * x * x)  # Hessian diag 6x
    (g,) = tf.gradients(f, [x])
    v = tf.constant(np.array([1.0, 0.5, -1.0]))
    (hv,) = tf.gradients(tf.reduce_sum(g * v), [x])
    with tf.Session() as sess:
        out = sess.run(hv, {x: np.array([1.0, 2.0, 3.0])})
    np.testing.assert_allclose(out, 6 * np.array([1.0, 2.0, 3.0]) * [1.0, 0.5, -1.0])


def test_reads_happen_before_updates_in_one_run():
    w = tf.Variable(np.array([2.0], np.float32))
    x = tf.constant([3.0])
    y = w * x
    loss = tf.reduce_sum(y * y)
    train = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        _, l = sess.run([train, loss])
        assert l == pytest.approx(36.0)  # computed from w before its update
        assert sess.run(w)[0] == pytest.approx(2.0 - 0.01 * 2 * 6 * 3)


def test_plan_reuses_buffers_and_results_stay_independent():
    x = tf.placeholder(tf.float32, [None, 3])
    y = tf.nn.relu(x) * 2 if hasattr(tf, "nn") else tf.maximum(x, 0.0) * 2
    with tf.Session() as sess:
        a = sess.run(y, {x: np.ones((2, 3))})
        b = sess.run(y, {x: -np.ones((2, 3))})
        c = sess.run(y, {x: np.ones((5, 3))})
    assert a.tolist() == [[2.0] * 3] * 2 and b.tolist() == [[0.0] * 3] * 2 and c.shape == (5, 3)


def test_bound_plan_matches_first_run_bit_for_bit():
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 8])
    w = tf.Variable(rng.standard_normal((8, 4)).astype(np.float32))
    loss = tf.reduce_mean(tf.square(tf.sigmoid(tf.matmul(x, w)) - 0.5))
    (g,) = tf.gradients(loss, [w])
    xb = rng.standard_normal((16, 8)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.allocating = True  # the first-run path: every kernel allocates its output
        first = sess.run([loss, g], {x: xb})
        sess.allocating = False  # the bound path: preallocated buffers, views, folded constants
        second = sess.run([loss, g], {x: xb})
        plan = list(sess._plans.values())[-1]
        assert plan.bound_version == sess.context.variables.version and plan.steps  # really bound
    assert first[0] == second[0] and np.array_equal(first[1], second[1])


def test_name_scopes_and_unique_names():
    with tf.name_scope("layer"):
        a = tf.constant(1.0, name="c")
        b = tf.constant(2.0, name="c")
    with tf.name_scope("layer"):
        c = tf.constant(3.0, name="c")
    assert a.op.name == "layer/c" and b.op.name == "layer/c_1" and c.op.name == "layer_1/c"
    v = tf.Variable(1.0, name="w")
    assert v.name == "w:0"


def test_control_dependencies():
    v = tf.Variable(1.0)
    with tf.control_dependencies([tf.assign(v, 5.0)]):
        y = tf.identity(tf.constant(0.0))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(y)
        assert sess.run(v) == 5.0


def test_operator_overloads_and_indexing():
    t = tf.constant(np.arange(12, dtype=np.float32).reshape(3, 4))
    exprs = [t + 1, 1 - t, t * t, t / 2, t ** 2, -t, t @ tf.transpose(t) if hasattr(tf, "transpose") else t,
             t[0], t[:, 1:3], t[..., None], t < 5, t >= 5]
    with tf.Session() as sess:
        out = sess.run(exprs)
    n = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_allclose(out[0], n + 1)
    np.testing.assert_allclose(out[1], 1 - n)
    np.testing.assert_allclose(out[4], n ** 2)
    np.testing.assert_allclose(out[7], n[0])
    np.testing.assert_allclose(out[8], n[:, 1:3])
    assert out[9].shape == (3, 4, 1)
    assert out[10].dtype == bool and out[10].sum() == 5
    assert t[:, 1:3].get_shape().as_list() == [3, 2]


def test_default_dtypes_and_no_float64_upcast():
    x = tf.placeholder(tf.float32, [None])
    y = x * 2.5 + 1 - np.float64(0.5)
    assert y.dtype == tf.float32
    with tf.Session() as sess:
        assert sess.run(y, {x: [1.0]}).dtype == np.float32


def test_random_ops_deterministic_with_graph_seed():
    def draw():
        with tf.Graph().as_default():
            tf.set_random_seed(42)
            r = tf.random_normal([3])
            with tf.Session() as sess:
                return sess.run(r), sess.run(r)
    a1, a2 = draw()
    b1, b2 = draw()
    assert np.array_equal(a1, b1) and np.array_equal(a2, b2) and not np.array_equal(a1, a2)


def test_truncated_normal_within_two_sigma():
    r = tf.truncated_normal([1000], stddev=2.0, seed=1)
    with tf.Session() as sess:
        v = sess.run(r)
    assert np.abs(v).max() <= 4.0


def test_session_closed_and_graph_mismatch():
    a = tf.constant(1.0)
    sess = tf.Session()
    sess.close()
    with pytest.raises(RuntimeError):
        sess.run(a)
    with tf.Graph().as_default():
        b = tf.constant(2.0)
    with tf.Session() as s2, pytest.raises(ValueError):
        s2.run(b)


def test_parallel_elementwise_steps_are_bit_identical(monkeypatch):
    """Big elementwise steps split across threads give exactly the single-thread result."""
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((300, 200)).astype(np.float32)
    w0 = rng.standard_normal((200, 200)).astype(np.float32)

    def run(threads: str):
        monkeypatch.setenv("NNCTL_NUM_THREADS", threads)
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, 200])
            w = tf.Variable(w0)
            b = tf.Variable(np.zeros(200, np.float32))
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, w), b))
            loss = tf.reduce_mean(tf.square(tf.sigmoid(h) - 0.3))
            train = tf.train.AdamOptimizer(0.01).minimize(loss)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                for _ in range(3):
                    sess.run(train, {x: xb})
                return sess.run([w, loss], {x: xb})
    one, two = run("1"), run("2")
    assert np.array_equal(one[0], two[0]) and one[1] == two[1]


def test_binding_a_shape_dependent_view_never_computes_over_unwritten_buffers(monkeypatch):
    """SumToShape is a view only when nothing is summed: binding asks its ``alias`` instead of
    running it over the fresh (uninitialized) buffers, which computed a throwaway sum of garbage
    (and numpy's overflow warnings) at every bind."""
    from nnctl.graph import registry
    d = registry.op_def("SumToShape")
    factory = d.kernel
    summed = []

    def counting(op, ctx):
        run = factory(op, ctx)

        def wrapped(x, like, out=None):
            if out is None and x.shape != like.shape:
                summed.append(x.shape)
            return run(x, like, out)
        wrapped.bind = run.bind
        if hasattr(run, "alias"):
            wrapped.alias = run.alias
        return wrapped
    monkeypatch.setattr(d, "kernel", counting)
    x = tf.placeholder(tf.float32, [None, 3])
    b = tf.Variable(np.zeros(3, np.float32))
    g, = tf.gradients(tf.reduce_sum(x * (x + b)), [b])
    assert any(op.type == "SumToShape" for op in tf.get_default_graph().get_operations())
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        xv = np.arange(12, dtype=np.float32).reshape(4, 3)
        for _ in range(2):
            np.testing.assert_array_equal(sess.run(g, {x: xv}), xv.sum(0))
    assert summed == [(4, 3)]  # the dry-run trace's one allocating call; binding computed nothing
