"""The compiled row loops of nnctl/ops/seq_jit.py give the xp path's bits (softmax, its gradient,
gather's scatter-add, the fused LSTM step and its gradient), on arrays big enough to take them."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.ops import seq_jit

pytestmark = pytest.mark.skipif(seq_jit.load() is None,
                                reason="the compiled kernels are not built here (or NNCTL_JIT=0)")


def _run(build, feeds, monkeypatch, jit: bool):
    monkeypatch.setenv("NNCTL_JIT", "1" if jit else "0")
    g = tf.Graph()
    with g.as_default():
        phs, fetches = build()
        with tf.Session(graph=g) as sess:
            sess.run(tf.global_variables_initializer())
            return [sess.run(fetches, dict(zip(phs, feeds))) for _ in range(2)]  # the bound path too


def _same(a, b):
    for x, y in zip(a, b):
        if isinstance(x, list):
            _same(x, y)
        else:
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_its_gradient_equal_the_xp_path(monkeypatch, dtype):
    r = np.random.default_rng(0)
    x = (r.standard_normal((64, 4, 64, 65)) * 4).astype(dtype)  # 65: a remainder after blocks of eight
    w = r.standard_normal(x.shape).astype(dtype)

    def build():
        p = tf.placeholder(dtype, x.shape)
        y = tf.nn.softmax(p)
        return [p], [y, tf.gradients(tf.reduce_sum(y * w), p)[0]]
    assert x.size >= seq_jit.MIN_ELEMENTS
    _same(_run(build, [x], monkeypatch, True), _run(build, [x], monkeypatch, False))
    monkeypatch.setenv("NNCTL_JIT", "1")
    assert seq_jit.load() is not None  # the compiled path was there to compare


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 4, 7, 8, 9, 16, 17, 64, 100])
def test_the_row_max_takes_nan_and_inf_wherever_they_are(dtype, n):
    """sub_row_max's vector lanes: a NaN anywhere in a row makes its max NaN, +inf wins, and every
    remainder length after the lanes gives np.max's result."""
    jit = seq_jit.load()
    for pos in range(n):
        y = np.random.default_rng(n).standard_normal((4, n)).astype(dtype)
        y[1, pos] = np.nan
        y[2, pos] = np.inf
        y[3, pos] = -np.inf
        out = np.empty_like(y)
        jit.sub_row_max(y, out)
        with np.errstate(invalid="ignore"):
            ref = y - y.max(1, keepdims=True)
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seq_c_exp_gives_np_exp_bits_where_the_probe_says_so(dtype):
    """seq.c replays numpy's float32 exp loop (its float64 exp is the C library's); where the probe
    finds this numpy's exp to be another (AVX-512 loops, another build) the softmax keeps np.exp."""
    jit = seq_jit.load()
    cpu = getattr(np._core._multiarray_umath, "__cpu_features__", {})
    if not (cpu.get("AVX2") and cpu.get("FMA3")) or cpu.get("AVX512F"):
        # numpy dispatches another exp loop here (its AVX-512 one, or its scalar one)
        assert seq_jit.exp_is_numpys(jit, np.float32) in (True, False)
        pytest.skip("numpy runs another exp loop on this CPU: the probe decides, the softmax may use np.exp")
    assert seq_jit.exp_is_numpys(jit, dtype)  # numpy's AVX2 loop and the C library's exp: replayed
    rng = np.random.default_rng(5)
    if dtype == np.float32:  # every kind of float32: random bit patterns (NaNs, denormals, infinities)
        x = rng.integers(0, 2**32, 1 << 22, dtype=np.uint64).astype(np.uint32).view(np.float32)
    else:
        x = np.concatenate([rng.standard_normal(1 << 20) * 300, [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324]])
    for n in (x.size, 7, 13):  # the vector loop and the scalar remainder
        out = np.empty(n, dtype)
        jit.np_exp(x[:n], out)
        with np.errstate(all="ignore"):
            ref = np.exp(x[:n])
        np.testing.assert_array_equal(out.view(f"u{out.itemsize}"), ref.view(f"u{out.itemsize}"))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 16, 17, 64, 65, 128])
def test_the_one_pass_softmax_gives_the_three_passes_bits(dtype, n):
    """softmax_rows (one pass) against max-subtract, np.exp and the row sums: rows with a NaN, +inf,
    -inf, all -inf, constant rows and gaps that make exp underflow to denormals and zero."""
    jit = seq_jit.load()
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((12, n)) * 5).astype(dtype)
    x[1, n // 2] = np.nan
    x[2, n // 3] = np.inf
    x[3, n - 1] = -np.inf
    x[4] = -np.inf
    x[5] = 2.5
    x[6, ::2] = -95.0       # exp(-95): a float32 denormal
    x[7, ::3] = -110.0      # zero in float32
    x[8, 1::2] = -745.0     # a float64 denormal
    x[9] *= 40
    three, one = np.empty_like(x), np.empty_like(x)
    jit.sub_row_max(x, three)
    np.exp(three, out=three)
    jit.div_row_sum(three)
    jit.softmax_rows(x, one)
    if seq_jit.exp_is_numpys(jit, dtype):
        np.testing.assert_array_equal(one.view(f"u{one.itemsize}"), three.view(f"u{one.itemsize}"))
    y = x.copy()
    seq_jit.softmax_rows(jit, np, y, y)  # in place, whichever path this numpy takes
    np.testing.assert_array_equal(y, three)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [1, 10, 17, 128])
def test_sparse_softmax_cross_entropy_equals_the_xp_path(monkeypatch, dtype, classes):
    """seq.c's row pass for the loss and its backprop (labels at both ends, a NaN row, huge gaps)
    against the xp code, on small batches too: it applies from the first row on."""
    r = np.random.default_rng(classes)
    x = (r.standard_normal((64, classes)) * 6).astype(dtype)
    x[3, 0] = np.nan
    x[4, -1] = 300.0
    labels = r.integers(0, classes, 64)
    labels[:2] = [0, classes - 1]

    def build():
        p = tf.placeholder(dtype, [None, classes])
        lab = tf.placeholder(tf.int64, [None])
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=p)
        return [p, lab], [loss, tf.gradients(tf.reduce_mean(loss), p)[0]]
    _same(_run(build, [x, labels], monkeypatch, True), _run(build, [x, labels], monkeypatch, False))


def test_embedding_gradient_equals_the_xp_path(monkeypatch):
    r = np.random.default_rng(1)
    ids = r.integers(-50, 50, (32, 64))  # repeated and negative ids
    table = r.standard_normal((50, 128)).astype(np.float32)
    w = r.standard_normal((32, 64, 128)).astype(np.float32)

    def build():
        p = tf.placeholder(tf.int64, ids.shape)
        v = tf.Variable(table)
        e = tf.gather(v, p)
        return [p], tf.gradients(tf.reduce_sum(e * w), v)
    _same(_run(build, [ids], monkeypatch, True), _run(build, [ids], monkeypatch, False))


@pytest.mark.parametrize("cell", ["basic", "lstm"])
def test_lstm_steps_and_gradients_equal_the_xp_path(monkeypatch, cell):
    r = np.random.default_rng(2)
    x = r.standard_normal((64, 5, 16)).astype(np.float32)

    def build():
        tf.set_random_seed(3)
        p = tf.placeholder(tf.float32, x.shape)
        c = (tf.nn.rnn_cell.BasicLSTMCell(128, forget_bias=1.0) if cell == "basic"
             else tf.nn.rnn_cell.LSTMCell(128, forget_bias=0.0))
        out, st = tf.nn.dynamic_rnn(c, p, dtype=tf.float32)
        loss = tf.reduce_sum(out * out) + tf.reduce_sum(st.c)
        return [p], [out, st.c] + tf.gradients(loss, [p] + tf.trainable_variables())
    _same(_run(build, [x], monkeypatch, True), _run(build, [x], monkeypatch, False))


def test_the_float32_lstm_step_tanh_is_within_its_bound_of_tanh():
    """TANH_F32 (the float32 LSTM step's tanh, xp code here): within 3.5e-7 of tanh over its range
    and beyond, never above 1 in magnitude (a sigmoid built from it stays in [0, 1]), odd, and NaN,
    the infinities and -0 as tanh has them."""
    from nnctl.ops import lstm_ops
    x = np.concatenate([np.linspace(-12, 12, 400001, dtype=np.float32),
                        np.float32(10) ** np.arange(-38, 2, dtype=np.float32)])
    x = np.concatenate([x, -x])
    scratch = {}
    y = lstm_ops.tanh_f32(np, x, np.empty_like(x), lambda tag: scratch.setdefault(tag, np.empty_like(x)))
    assert y.dtype == np.float32
    assert np.abs(y.astype(np.float64) - np.tanh(x.astype(np.float64))).max() < 3.5e-7
    assert np.abs(y).max() <= 1
    np.testing.assert_array_equal(y[: x.size // 2], -y[x.size // 2:])
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], np.float32)
    out = lstm_ops.tanh_f32(np, special, np.empty_like(special), lambda tag: np.empty_like(special))
    np.testing.assert_array_equal(out, [np.nan, 1, -1, -0.0, 0.0])
    assert np.signbit(out[3]) and not np.signbit(out[4])


def test_the_fused_float32_lstm_step_gives_the_xp_paths_bits_on_special_values(monkeypatch):
    """One LSTMGates op on gates with NaN, infinities and huge values: the compiled one-pass step
    and the xp code agree bit for bit (NaN where they have NaN)."""
    r = np.random.default_rng(5)
    g = (r.standard_normal((64, 512)) * 6).astype(np.float32)
    g[0, :8] = [np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0, 20.0]
    cp = r.standard_normal((64, 128)).astype(np.float32)
    cp[1, :3] = [np.nan, np.inf, -np.inf]

    def build():
        from nnctl.ops import lstm_ops
        pg, pc = tf.placeholder(tf.float32, g.shape), tf.placeholder(tf.float32, cp.shape)
        return [pg, pc], list(lstm_ops.lstm_gates(pg, pc, 1.0))
    with np.errstate(invalid="ignore"):
        _same(_run(build, [g, cp], monkeypatch, True), _run(build, [g, cp], monkeypatch, False))
