"""tf.train optimizers: TF1's update formulas step by step against numpy, slots, global step,
var_list, the compute/apply split, errors, and XOR training with every optimizer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import nnctl as tf

# loss = sum(c * w + 0.5 * a * w^2)  =>  g = c + a * w (changes every step, so slots matter)
W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
C = np.array([[1.0, -2.0, 0.5], [0.3, 3.0, -1.0]])
A = np.array([[0.5, 1.0, 2.0], [0.1, 0.7, 1.3]])
LRS = [0.1, 0.05, 0.2]


def _grad(w: np.ndarray) -> np.ndarray:
    return C + A * w


# --- numpy references: each takes (w, slots, g, lr, step t starting at 1) and updates in place ----

def _ref_gd(w, s, g, lr, t):
    w -= lr * g


def _ref_momentum(mu: float, nesterov: bool):
    mu = _f32(mu)

    def f(w, s, g, lr, t):
        s["momentum"] = mu * s["momentum"] + g
        if nesterov:
            w -= lr * (g + mu * s["momentum"])
        else:
            w -= lr * s["momentum"]
    return f


def _f32(v: float) -> float:
    """TF converts a Python float hyperparameter to a float32 tensor before casting it to the variable's
    dtype, so a float64 variable sees float32(0.9)."""
    return float(np.float32(v))


def _f32_power(b: float, t: int) -> float:
    """Adam's beta power after t - 1 updates: a float32 variable, as in TF, multiplied by float32(b)."""
    p = np.float32(b)
    for _ in range(t - 1):
        p = np.float32(p * np.float32(b))
    return float(p)


def _ref_adam(b1: float, b2: float, eps: float, wd: float = 0.0):
    b1, b2, eps, wd = _f32(b1), _f32(b2), _f32(eps), _f32(wd)

    def f(w, s, g, lr, t):
        b1p, b2p = _f32_power(b1, t), _f32_power(b2, t)  # the powers' values during step t
        lr_t = lr * np.sqrt(1 - b2p) / (1 - b1p)
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        w -= wd * w
        w -= lr_t * s["m"] / (np.sqrt(s["v"]) + eps)
    return f


def _ref_rmsprop(rho: float, mu: float, eps: float, centered: bool):
    rho, mu, eps = _f32(rho), _f32(mu), _f32(eps)

    def f(w, s, g, lr, t):
        s["rms"] = rho * s["rms"] + (1 - rho) * g * g
        if centered:
            s["mg"] = rho * s["mg"] + (1 - rho) * g
            denom = np.sqrt(s["rms"] - s["mg"] ** 2 + eps)
        else:
            denom = np.sqrt(s["rms"] + eps)
        s["momentum"] = mu * s["momentum"] + lr * g / denom
        w -= s["momentum"]
    return f


def _ref_adagrad(w, s, g, lr, t):
    s["accumulator"] = s["accumulator"] + g * g
    w -= lr * g / np.sqrt(s["accumulator"])


Z, O = np.zeros_like(W0), np.ones_like(W0)

# name -> (optimizer factory taking the lr tensor, reference, initial slot values)
CASES: dict[str, tuple[Callable, Callable, dict]] = {
    "gd": (lambda lr: tf.train.GradientDescentOptimizer(lr), _ref_gd, {}),
    "momentum": (lambda lr: tf.train.MomentumOptimizer(lr, 0.9), _ref_momentum(0.9, False), {"momentum": Z}),
    "nesterov": (lambda lr: tf.train.MomentumOptimizer(lr, 0.8, use_nesterov=True), _ref_momentum(0.8, True),
                 {"momentum": Z}),
    "adam": (lambda lr: tf.train.AdamOptimizer(lr), _ref_adam(0.9, 0.999, 1e-8), {"m": Z, "v": Z}),
    "adam_hp": (lambda lr: tf.train.AdamOptimizer(lr, beta1=0.5, beta2=0.75, epsilon=0.1),
                _ref_adam(0.5, 0.75, 0.1), {"m": Z, "v": Z}),
    "adamw": (lambda lr: tf.train.AdamWOptimizer(0.01, lr, beta1=0.8, beta2=0.9, epsilon=1e-3),
              _ref_adam(0.8, 0.9, 1e-3, wd=0.01), {"m": Z, "v": Z}),
    "rmsprop": (lambda lr: tf.train.RMSPropOptimizer(lr), _ref_rmsprop(0.9, 0.0, 1e-10, False),
                {"rms": O, "momentum": Z}),
    "rmsprop_mom": (lambda lr: tf.train.RMSPropOptimizer(lr, decay=0.8, momentum=0.5, epsilon=1e-3),
                    _ref_rmsprop(0.8, 0.5, 1e-3, False), {"rms": O, "momentum": Z}),
    "rmsprop_centered": (lambda lr: tf.train.RMSPropOptimizer(lr, decay=0.7, momentum=0.3, epsilon=1e-2,
                                                              centered=True),
                         _ref_rmsprop(0.7, 0.3, 1e-2, True), {"rms": O, "mg": Z, "momentum": Z}),
    "adagrad": (lambda lr: tf.train.AdagradOptimizer(lr, initial_accumulator_value=0.2), _ref_adagrad,
                {"accumulator": np.full_like(W0, 0.2)}),
}


@pytest.fixture(autouse=True)
def _fresh_graph():
    tf.reset_default_graph()
    yield


def _quadratic(dtype=tf.float64):
    w = tf.Variable(W0.astype(dtype.np), name="w")
    loss = tf.reduce_sum(tf.constant(C, dtype=dtype) * w + 0.5 * tf.constant(A, dtype=dtype) * w * w)
    return w, loss


@pytest.mark.parametrize("case", sorted(CASES))
def test_update_formulas_match_numpy(case):
    make, ref, slots0 = CASES[case]
    w, loss = _quadratic()
    lr = tf.placeholder(tf.float64, shape=[], name="lr")
    opt = make(lr)
    train = opt.minimize(loss)
    assert sorted(opt.get_slot_names()) == sorted(slots0)
    w_np = W0.copy()
    slots = {k: v.copy() for k, v in slots0.items()}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for k, v in slots0.items():
            np.testing.assert_array_equal(sess.run(opt.get_slot(w, k)), v)
        for t, lr_val in enumerate(LRS, start=1):
            ref(w_np, slots, _grad(w_np), lr_val, t)
            sess.run(train, feed_dict={lr: lr_val})
            got = sess.run(w)
            assert got.dtype == np.float64
            np.testing.assert_allclose(got, w_np, rtol=1e-12, atol=1e-13, err_msg=f"{case} step {t}")
            for k in slots:
                np.testing.assert_allclose(sess.run(opt.get_slot(w, k)), slots[k], rtol=1e-12, atol=1e-13,
                                           err_msg=f"{case} slot {k} step {t}")
            if case.startswith("adam"):
                b1p, b2p = opt._get_beta_accumulators()
                b1, b2 = {"adam": (0.9, 0.999), "adam_hp": (0.5, 0.75), "adamw": (0.8, 0.9)}[case]
                np.testing.assert_allclose(sess.run([b1p, b2p]), [_f32_power(b1, t + 1), _f32_power(b2, t + 1)],
                                           rtol=1e-7)


def test_one_fused_update_op_per_variable():
    w, loss = _quadratic()
    b = tf.Variable(np.array([1.0, 2.0]), name="b")
    loss = loss + tf.reduce_sum(b * b)
    tf.train.AdamOptimizer(0.1).minimize(loss)
    ops = tf.get_default_graph().get_operations()
    assert sum(op.type == "ApplyAdam" for op in ops) == 2
    adam = [op for op in ops if op.type == "ApplyAdam"]
    for op in adam:
        # var ref, m ref, v ref first: pruning keeps the slots, the kernel updates them in place
        assert [t.op.type for t in op.inputs[:3]] == ["VariableV2"] * 3


@pytest.mark.parametrize("case", ["momentum", "adam", "adamw", "rmsprop_centered", "adagrad"])
def test_float32_stays_float32(case):
    make, ref, slots0 = CASES[case]
    w, loss = _quadratic(tf.float32)
    opt = make(0.1)
    train = opt.minimize(loss)
    w_np = W0.copy()
    slots = {k: v.copy() for k, v in slots0.items()}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for t in (1, 2, 3):
            ref(w_np, slots, _grad(w_np), 0.1, t)
            sess.run(train)
        got = sess.run(w)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, w_np, rtol=1e-5, atol=1e-6)
        for k in slots:
            assert sess.run(opt.get_slot(w, k)).dtype == np.float32


def test_nesterov_differs_from_plain_momentum():
    w, loss = _quadratic()
    plain = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss, var_list=[w])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(plain)
        w_plain = sess.run(w)
    tf.reset_default_graph()
    w, loss = _quadratic()
    nest = tf.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(nest)
        w_nest = sess.run(w)
    g = _grad(W0)
    # first step, accum = g: plain moves lr*g, nesterov lr*(g + 0.9 g)
    np.testing.assert_allclose(w_plain, W0 - _f32(0.1) * g, rtol=1e-13)
    np.testing.assert_allclose(w_nest, W0 - _f32(0.1) * (g + _f32(0.9) * g), rtol=1e-13)


def test_minimize_increments_int64_global_step():
    w, loss = _quadratic()
    gs = tf.train.get_or_create_global_step()
    assert gs.dtype == tf.int64 and not gs.trainable and gs.op.name == "global_step"
    assert tf.train.get_global_step() is gs
    assert tf.train.get_or_create_global_step() is gs
    assert tf.get_collection(tf.GraphKeys.GLOBAL_STEP) == [gs]
    assert gs not in tf.trainable_variables()
    with pytest.raises(ValueError, match="already exists"):
        tf.train.create_global_step()
    train = tf.train.AdamOptimizer(0.1).minimize(loss, global_step=gs)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(gs) == 0
        for i in range(1, 4):
            sess.run(train)
            v = sess.run(gs)
            assert v == i and v.dtype == np.int64
            assert tf.train.global_step(sess, gs) == i


def test_global_step_in_other_graph():
    g = tf.Graph()
    gs = tf.train.create_global_step(g)
    assert gs.graph is g and tf.train.get_global_step(g) is gs
    assert tf.train.get_global_step() is None


def test_var_list_restricts_updates():
    w, loss = _quadratic()
    b = tf.Variable(np.array([1.0, -1.0]), name="b")
    loss = loss + tf.reduce_sum(b * b)
    opt = tf.train.MomentumOptimizer(0.1, 0.9)
    train = opt.minimize(loss, var_list=[b])
    assert opt.get_slot(w, "momentum") is None and opt.get_slot(b, "momentum") is not None
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        np.testing.assert_array_equal(sess.run(w), W0)
        assert not np.allclose(sess.run(b), [1.0, -1.0])


def test_compute_then_apply_with_modified_gradient():
    w, loss = _quadratic()
    opt = tf.train.GradientDescentOptimizer(0.1)
    gv = opt.compute_gradients(loss)
    assert len(gv) == 1 and gv[0][1] is w
    train = opt.apply_gradients([(g * 2.0, v) for g, v in gv])
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run(gv[0][0]), _grad(W0), rtol=1e-14)
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), W0 - _f32(0.1) * 2.0 * _grad(W0), rtol=1e-13)


def test_apply_gradients_with_clipped_gradients():
    w, loss = _quadratic()
    opt = tf.train.MomentumOptimizer(0.1, 0.5)
    grads, variables = zip(*opt.compute_gradients(loss))
    clipped, norm = tf.train.clip_by_global_norm(list(grads), 1.0)
    train = opt.apply_gradients(zip(clipped, variables))
    g = _grad(W0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), W0 - _f32(0.1) * g / np.linalg.norm(g), rtol=1e-12)


def test_slots_are_non_trainable_global_variables():
    w, loss = _quadratic()
    opt = tf.train.RMSPropOptimizer(0.1, centered=True)
    opt.minimize(loss)
    slots = [opt.get_slot(w, n) for n in ("rms", "mg", "momentum")]
    for s in slots:
        assert isinstance(s, tf.Variable)
        assert s in tf.global_variables()
        assert s not in tf.trainable_variables()
        assert s.static_shape == w.static_shape and s.dtype == w.dtype
    assert tf.trainable_variables() == [w]
    assert set(opt.variables()) == set(slots)


def test_adam_non_slot_variables():
    w, loss = _quadratic()
    opt = tf.train.AdamOptimizer(0.1, beta1=0.8, beta2=0.95)
    train = opt.minimize(loss)
    b1p, b2p = opt._get_beta_accumulators()
    assert {b1p, b2p} <= set(tf.global_variables())
    assert not ({b1p, b2p} & set(tf.trainable_variables()))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        np.testing.assert_allclose(sess.run([b1p, b2p]), [0.8, 0.95])
        sess.run(train)
        np.testing.assert_allclose(sess.run([b1p, b2p]), [0.64, 0.95 ** 2])


def test_adam_beta_powers_updated_once_per_step_with_many_variables():
    ws = [tf.Variable(np.full((2,), float(i + 1)), name=f"w{i}") for i in range(3)]
    loss = tf.reduce_sum(ws[0] * ws[0]) + tf.reduce_sum(ws[1] * ws[1]) + tf.reduce_sum(ws[2] * ws[2])
    opt = tf.train.AdamOptimizer(0.1)
    train = opt.minimize(loss)
    b1p, _ = opt._get_beta_accumulators()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        np.testing.assert_allclose(sess.run(b1p), _f32_power(0.9, 4), rtol=1e-7)


def test_adam_mixed_dtypes():
    w32 = tf.Variable(np.array([1.0, 2.0], np.float32), name="a32")
    w64 = tf.Variable(np.array([3.0, -1.0]), name="b64")
    loss = tf.reduce_sum(w32 * w32) + tf.cast(tf.reduce_sum(w64 * w64), tf.float32)
    opt = tf.train.AdamOptimizer(0.1)
    train = opt.minimize(loss)
    b1p, _ = opt._get_beta_accumulators()
    assert b1p.dtype == tf.float32  # the dtype of the first variable by name, as in TF1
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        # Adam's first step moves every coordinate by about lr * sign(g)
        np.testing.assert_allclose(sess.run(w32), [0.9, 1.9], rtol=1e-5)
        np.testing.assert_allclose(sess.run(w64), [2.9, -0.9], rtol=1e-6)
        assert sess.run(w64).dtype == np.float64


def test_adamw_decay_var_list():
    w, loss = _quadratic()
    b = tf.Variable(np.array([1.0, -1.0]), name="b")
    loss = loss + tf.reduce_sum(b)  # g_b = 1
    opt = tf.train.AdamW(0.1, learning_rate=0.01)
    assert isinstance(opt, tf.train.AdamWOptimizer)
    train = opt.minimize(loss, decay_var_list=[b])
    ops = tf.get_default_graph().get_operations()
    assert sum(op.type == "ApplyAdamW" for op in ops) == 1 and sum(op.type == "ApplyAdam" for op in ops) == 1
    # m = (1 - beta1) g, v = (1 - beta2) g^2 with g = 1; hyperparameters as float32, as in TF
    b1, b2, eps = _f32(0.9), _f32(0.999), _f32(1e-8)
    adam_step = _f32(0.01) * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) / (np.sqrt(1 - b2) + eps)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train)
        np.testing.assert_allclose(sess.run(b), np.array([1.0, -1.0]) * (1 - _f32(0.1)) - adam_step, rtol=1e-12)
        w_np, s = W0.copy(), {"m": Z.copy(), "v": Z.copy()}
        _ref_adam(0.9, 0.999, 1e-8)(w_np, s, _grad(W0), _f32(0.01), 1)
        np.testing.assert_allclose(sess.run(w), w_np, rtol=1e-12)


def test_hyperparameters_as_tensors_and_callables():
    w, loss = _quadratic()
    mom = tf.placeholder(tf.float64, shape=[])
    opt = tf.train.MomentumOptimizer(lambda: tf.constant(0.1, tf.float64), mom)
    train = opt.minimize(loss)
    g = _grad(W0)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        sess.run(train, feed_dict={mom: 0.5})
        g2 = _grad(W0 - 0.1 * g)
        sess.run(train, feed_dict={mom: 0.25})
        np.testing.assert_allclose(sess.run(w), W0 - 0.1 * g - 0.1 * (0.25 * g + g2), rtol=1e-13)


def test_learning_rate_schedule_drives_optimizer():
    w, loss = _quadratic()
    gs = tf.train.get_or_create_global_step()
    lr = tf.train.exponential_decay(0.1, gs, 1, 0.5)  # float32 schedule, cast to the float64 variable
    train = tf.train.GradientDescentOptimizer(lr).minimize(loss, global_step=gs)
    w_np = W0.copy()
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for step in range(3):
            w_np -= np.float32(0.1 * 0.5 ** step) * _grad(w_np)
            sess.run(train)
        np.testing.assert_allclose(sess.run(w), w_np, rtol=1e-7)


def test_no_gradients_raises_naming_the_variable():
    w, _ = _quadratic()
    v = tf.Variable(np.array([1.0]), name="unused_var")
    loss = tf.reduce_sum(tf.constant([1.0, 2.0], tf.float64))
    for opt in (tf.train.GradientDescentOptimizer(0.1), tf.train.AdamOptimizer(0.1)):
        with pytest.raises(ValueError, match="unused_var") as info:
            opt.minimize(loss, var_list=[v])
        assert "No gradients" in str(info.value)
    with pytest.raises(ValueError, match="w"):
        tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)


def test_constructor_errors():
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0)
    with pytest.raises(ValueError):
        tf.train.MomentumOptimizer(0.1, 0.9, name="")


def test_uninitialized_slot_raises():
    w, loss = _quadratic()
    train = tf.train.AdamOptimizer(0.1).minimize(loss)
    with tf.Session() as sess:
        sess.run(w.initializer)
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized"):
            sess.run(train)


# --- XOR -----------------------------------------------------------------------------------------

XOR_X = [[0., 0.], [1., 1.], [1., 0.], [0., 1.]]
XOR_Y = [[0.], [0.], [1.], [1.]]


XOR_OPTIMIZERS = {
    "gd": lambda: tf.train.GradientDescentOptimizer(1.0),
    "momentum": lambda: tf.train.MomentumOptimizer(0.3, 0.9),
    "nesterov": lambda: tf.train.MomentumOptimizer(0.3, 0.9, use_nesterov=True),
    "adam": lambda: tf.train.AdamOptimizer(0.05),
    "adamw": lambda: tf.train.AdamWOptimizer(1e-4, 0.05),
    "rmsprop": lambda: tf.train.RMSPropOptimizer(0.02),
    "rmsprop_centered": lambda: tf.train.RMSPropOptimizer(0.02, momentum=0.5, centered=True),
    "adagrad": lambda: tf.train.AdagradOptimizer(0.5),
}


@pytest.mark.parametrize("name", sorted(XOR_OPTIMIZERS))
def test_xor_mlp_trains_with_each_optimizer(name):
    tf.set_random_seed(0)
    x = tf.constant(XOR_X, dtype=tf.float32)
    y = tf.constant(XOR_Y, dtype=tf.float32)
    w1 = tf.Variable(tf.random_uniform([2, 8], -1.0, 1.0))
    b1 = tf.Variable(tf.zeros([8]))
    w2 = tf.Variable(tf.random_uniform([8, 1], -1.0, 1.0))
    b2 = tf.Variable(tf.zeros([1]))
    out = tf.sigmoid(tf.matmul(tf.tanh(tf.matmul(x, w1) + b1), w2) + b2)
    loss = tf.reduce_sum(tf.square(y - out))
    gs = tf.train.get_or_create_global_step()
    train = XOR_OPTIMIZERS[name]().minimize(loss, global_step=gs)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(300):
            sess.run(train)
        pred, final, steps = sess.run([out, loss, gs])
    assert steps == 300
    assert final < 0.05, f"{name}: loss {final}"
    np.testing.assert_array_equal(np.round(pred).ravel(), [0, 0, 1, 1])


# --- fused (compiled) update loops: the same float operations as the numpy path, in one pass ----

def _train_big(opt_fn: Callable, dtype: np.dtype, steps: int = 4, shape: tuple = (160, 128)) -> list[np.ndarray]:
    """A variable (by default big enough for every fused update path), trained a few steps; returns its
    values."""
    rng = np.random.default_rng(0)
    g = tf.Graph()
    with g.as_default():
        w = tf.Variable(rng.standard_normal(shape).astype(dtype), name="w")
        c = tf.constant(rng.standard_normal(shape).astype(dtype))
        loss = tf.reduce_sum(c * w + 0.5 * w * w * w)
        train = opt_fn().minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = []
            for _ in range(steps):
                sess.run(train)
                out.append(sess.run(w))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda: tf.train.AdamOptimizer(0.01),
    lambda: tf.train.MomentumOptimizer(0.01, 0.9),
    lambda: tf.train.MomentumOptimizer(0.01, 0.9, use_nesterov=True),
    lambda: tf.train.GradientDescentOptimizer(0.01),
], ids=["adam", "momentum", "nesterov", "gd"])
def test_fused_updates_equal_numpy_path(make, dtype, monkeypatch):
    from nnctl.runtime import jit
    if jit.load() is None:
        pytest.skip("the compiled kernels are not built here")
    taken = []
    real = jit.for_arrays

    def spy(*a, **kw):
        k = real(*a, **kw)
        taken.append(k is not None)
        return k
    monkeypatch.setattr(jit, "for_arrays", spy)
    fused = _train_big(make, np.dtype(dtype))
    assert any(taken)  # the update did take the fused path
    monkeypatch.setenv("NNCTL_JIT", "0")
    reference = _train_big(make, np.dtype(dtype))
    for a, b in zip(fused, reference):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)  # bit-identical, not merely close
    assert not np.array_equal(fused[0], fused[-1])  # the updates did move the variable


@pytest.mark.parametrize("shape", [(), (7,), (33, 5)])
@pytest.mark.parametrize("make", [
    lambda: tf.train.AdamOptimizer(0.01),
    lambda: tf.train.MomentumOptimizer(0.01, 0.9, use_nesterov=True),
], ids=["adam", "nesterov"])
def test_small_variables_take_the_compiled_update_with_numpys_bits(make, shape, monkeypatch):
    """Biases and scalars: the multi-pass updates take their one compiled call at any size
    (jit.UPDATE_MIN_ELEMENTS), still bit-identical to the numpy path."""
    from nnctl.runtime import jit
    if jit.load() is None:
        pytest.skip("the compiled kernels are not built here")
    taken = []
    real = jit.for_arrays

    def spy(*a, **k):
        f = real(*a, **k)
        taken.append(f is not None)
        return f
    monkeypatch.setattr(jit, "for_arrays", spy)
    fused = _train_big(make, np.dtype(np.float32), shape=shape)
    assert taken and all(taken)
    monkeypatch.setenv("NNCTL_JIT", "0")
    reference = _train_big(make, np.dtype(np.float32), shape=shape)
    for a, b in zip(fused, reference):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fused[0], fused[-1])
