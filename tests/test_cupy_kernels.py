"""The CuPy backend's fused kernels (nnctl/backends/cupy_kernels.py), proved without a GPU.

- they override exactly the optimizer update ops (the numpy kernels that mutate a variable
  elementwise), each with the op's input arity;
- their CUDA C compiles: CuPy's own ElementwiseKernel code generator, CuPy's headers and compiler
  options, then NVRTC (CuPy's run-time compiler; skipped where libnvrtc is missing) and ``nvcc``
  (skipped where nvcc is missing) to PTX for sm_90;
- their bodies, run on the host through the backend's own glue (tests/host_elementwise.py), equal the
  numpy kernels: bit for bit for the updates, to float32 rounding for the cross-entropy (exp, log);
- a model trained with them on the host matches numpy.
On a GPU, bench/gpu.py runs the same comparison with CuPy (``--parts kernels``).
"""

from __future__ import annotations

import inspect
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
from host_elementwise import compiler, host_xp

import nnctl as tf
from nnctl.backends import cupy_kernels as ck
from nnctl.graph import registry
from nnctl.train import optimizers as O

ROOT = Path(__file__).resolve().parents[1]

OPTIMIZERS = {
    "sgd": lambda: O.GradientDescentOptimizer(0.1),
    "momentum": lambda: O.MomentumOptimizer(0.1, 0.9),
    "nesterov": lambda: O.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "adam": lambda: O.AdamOptimizer(0.01),
    "adamw": lambda: O.AdamWOptimizer(0.01, learning_rate=0.01),
    "rmsprop": lambda: O.RMSPropOptimizer(0.01, momentum=0.5),
    "centered": lambda: O.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: O.AdagradOptimizer(0.1),
}


def _update_ops(dtype=tf.float32) -> dict[str, object]:
    """One Apply* op of every optimizer (and variant), from a real graph."""
    ops = {}
    for key, make in OPTIMIZERS.items():
        g = tf.Graph()
        with g.as_default():
            w = tf.Variable(tf.ones((3, 4), dtype=dtype))
            make().minimize(tf.reduce_sum(tf.square(w)))
            [op] = [o for o in g.get_operations() if o.type.startswith("Apply")]
            ops[key] = op
    return ops


def test_overrides_cover_exactly_the_elementwise_update_ops_with_their_arity():
    mutating = {name for name, d in registry._REGISTRY.items()
                if d.kernel is not None and d.mutates is not None and d.elementwise}
    table = ck.overrides()
    updates = {u.op_type for u in ck.UPDATES}
    assert updates == mutating, (updates ^ mutating)
    assert set(table) == updates | {"SparseSoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits",
                                    "LSTMGates"}
    ops = _update_ops()
    assert {op.type for op in ops.values()} == updates   # every update op is made by an optimizer here
    for key, op in ops.items():
        u = ck.update_for(op)
        run = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np))
        arity = [p for p in inspect.signature(run).parameters if p != "out"]
        assert len(arity) == len(op.inputs) == len(u.inputs), key
        assert u.inputs[op.inputs.index(op.inputs[0])] == "var" and u.inputs[-1] == "grad"
        assert sorted(u.order) == list(range(len(u.inputs)))
        assert u.variant == ("nesterov" if key == "nesterov" else "plain" if key == "momentum" else "")


def _cuda_sources(t: np.dtype, lab: np.dtype) -> str:
    """Every kernel's CUDA source as CuPy generates it for T=t, L=lab (1-d contiguous arrays)."""
    cupy = pytest.importorskip("cupy")
    try:
        import cupy._core._kernel as K
        from cupy._core import _carray, core
        ARRAY, INDEXER, SCALAR = 1, 2, 3   # noqa: N806  (CuPy's _ArgInfo kinds)
        tm = K._TypeMap((("T", t), ("L", lab)))
        parts = [f"#include <{h}>\n" for h in core._cupy_header_list]
        for k in ck.all_kernels():
            e = cupy.ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name)
            infos = []
            for p in e.params:
                if p.name == "_ind":
                    infos.append(K._ArgInfo(INDEXER, _carray.Indexer, None, 1, True, True))
                elif p.dtype is not None and not p.raw and p.is_const:
                    infos.append(K._ArgInfo(SCALAR, int, p.dtype, 0, True, True))
                else:
                    dt = p.dtype if p.dtype is not None else (lab if p.ctype == "L" else t)
                    infos.append(K._ArgInfo(ARRAY, cupy.ndarray, np.dtype(dt), 1, True, True))
            code = K._get_elementwise_kernel_code(tuple(infos), tm, tuple(e.params), k.operation, k.name, "")
            parts.append(code)   # the same typedefs repeated: legal C++
        return "".join(parts)
    except (AttributeError, ImportError, TypeError, AssertionError) as e:   # CuPy's private generator moved
        pytest.skip(f"CuPy's kernel code generator is not reachable in this CuPy version: {e!r}")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("t,lab", [(np.float32, np.int64), (np.float64, np.int32), (np.float16, np.int64)],
                         ids=["f32-i64", "f64-i32", "f16-i64"])
def test_every_fused_kernel_compiles_to_ptx(t, lab):
    pytest.importorskip("cupy")
    from cupy._core import core
    from cupy.cuda import compiler as cc
    src = _cuda_sources(np.dtype(t), np.dtype(lab))
    ptx = cc.compile_using_nvcc(src, options=core.assemble_cupy_compiler_options(ck.OPTIONS), arch="90",
                                code_type="ptx").decode()
    bodies = {chunk.split("(", 1)[0].strip(): chunk for chunk in ptx.split(".entry ")[1:]}
    assert set(bodies) == {k.name for k in ck.all_kernels()}
    for u in ck.UPDATES:   # --fmad=false: no contracted multiply-add, each op rounds as numpy's ufuncs do
        assert "fma." not in bodies[u.kernel.name], u.kernel.name


@pytest.mark.parametrize("t,lab", [(np.float32, np.int64), (np.float64, np.int32), (np.float16, np.int64)],
                         ids=["f32-i64", "f64-i32", "f16-i64"])
def test_every_fused_kernel_compiles_with_cupys_nvrtc(t, lab):
    """The path CuPy takes at run time: NVRTC (the nvidia-cuda-nvrtc-cu12 wheel of the gpu extra), no device."""
    pytest.importorskip("cupy")
    from cupy._core import core
    from cupy.cuda import compiler as cc
    try:
        cc._get_nvrtc_version()
    except Exception as e:   # noqa: BLE001  (no libnvrtc here: whatever CuPy raises for it)
        pytest.skip(f"NVRTC is not loadable: {e}")
    src = _cuda_sources(np.dtype(t), np.dtype(lab))
    prog = cc._NVRTCProgram(src, "nnctl_fused.cu")
    ptx = prog.compile(core.assemble_cupy_compiler_options(ck.OPTIONS) + ("-arch=compute_90",))[0]
    ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    assert {chunk.split("(", 1)[0].strip() for chunk in ptx.split(".entry ")[1:]} == \
        {k.name for k in ck.all_kernels()}


needs_cc = pytest.mark.skipif(compiler() is None, reason="no C++ compiler")


def _state(names: tuple[str, ...], dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (5, 7)
    hyper = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "b1p": 0.9 ** 3, "b2p": 0.999 ** 3,
             "momentum": 0.9, "rho": 0.9, "wd": 0.01}
    vals = {}
    for n in names:
        if n in hyper:
            vals[n] = np.array(hyper[n], dtype=dtype)
        elif n in ("v", "ms", "accum"):
            vals[n] = (rng.random(shape) + 0.5).astype(dtype)   # second moments are positive
        else:
            vals[n] = rng.standard_normal(shape).astype(dtype)
    if "mg" in vals:
        vals["mg"] *= 0.1   # centered RMSProp: ms - mg^2 > 0
    return vals


@needs_cc
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_fused_update_equals_the_numpy_kernel_bit_for_bit(key, dtype):
    op = _update_ops(tf.as_dtype(dtype))[key]
    u = ck.update_for(op)
    rng = np.random.default_rng(0)
    ref = _state(u.inputs, np.dtype(dtype), rng)
    got = {k: v.copy() for k, v in ref.items()}
    np_run = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np))
    fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=host_xp()))
    for step in range(3):
        grad = rng.standard_normal((5, 7)).astype(dtype)
        ref["grad"] = got["grad"] = grad
        np_run(*[ref[n] for n in u.inputs])
        out = fused(*[got[n] for n in u.inputs])
        assert out is got["var"]
        for n in u.mutated:
            assert np.array_equal(ref[n], got[n]), (key, step, n, np.abs(ref[n] - got[n]).max())


@needs_cc
@pytest.mark.parametrize("lab_dtype", [np.int64, np.int32])
def test_fused_sparse_cross_entropy_equals_the_numpy_kernel(lab_dtype):
    from nnctl.ops import nn_ops
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, (None, 5))
        y = tf.placeholder(tf.as_dtype(lab_dtype), (None,))
        loss = nn_ops.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)
    op = loss.op
    rng = np.random.default_rng(1)
    logits = (rng.standard_normal((6, 5)) * 4).astype(np.float32)
    labels = np.array([0, 4, 2, -1, 3, 5], dtype=lab_dtype)   # two labels out of range: NaN rows (device rule)
    device = types.SimpleNamespace(host_memory=False)
    ref_loss, ref_b = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np, backend=device))(
        logits, labels)
    fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=host_xp(), backend=device))
    out = (np.empty(6, np.float32), np.empty((6, 5), np.float32))
    got_loss, got_b = fused(logits, labels, out=out)
    assert got_loss is out[0] and got_b is out[1]
    np.testing.assert_allclose(got_loss, ref_loss, rtol=2e-6, atol=1e-7, equal_nan=True)
    np.testing.assert_allclose(got_b, ref_b, rtol=2e-6, atol=1e-7, equal_nan=True)
    assert np.isnan(got_loss[[3, 5]]).all() and np.isnan(got_b[[3, 5]]).all()
    assert np.isfinite(got_loss[[0, 1, 2, 4]]).all()
    a_loss, a_b = fused(logits[:4], labels[:4])   # allocating mode (the plan's trace)
    np.testing.assert_allclose(a_b, ref_b[:4], rtol=2e-6, atol=1e-7, equal_nan=True)


@needs_cc
@pytest.mark.parametrize("shape,axis", [((6, 5), -1), ((2, 3, 4), -1), ((4, 3), 0)], ids=["2d", "3d", "axis0"])
def test_fused_dense_cross_entropy_equals_the_numpy_kernel(shape, axis):
    from nnctl.ops import nn_ops
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, shape)
        z = tf.placeholder(tf.float32, shape)
        loss = nn_ops.softmax_cross_entropy_with_logits_v2(labels=z, logits=x, axis=axis)
    op = loss.op
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal(shape) * 4).astype(np.float32)
    labels = rng.random(shape).astype(np.float32)
    labels /= labels.sum(axis=axis, keepdims=True)
    ref_loss, ref_b = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np))(logits, labels)
    fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=host_xp()))
    got_loss, got_b = fused(logits, labels)
    np.testing.assert_allclose(got_loss, ref_loss, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(got_b, ref_b, rtol=2e-6, atol=1e-7)
    out = (np.empty_like(ref_loss), np.empty_like(ref_b))
    assert fused(logits, labels, out=out)[1] is out[1]
    np.testing.assert_allclose(out[1], ref_b, rtol=2e-6, atol=1e-7)


@needs_cc
@pytest.mark.parametrize("optimizer", ["adam", "momentum", "rmsprop"])
def test_training_with_the_fused_kernels_matches_numpy(optimizer, tmp_path, monkeypatch):
    """digits-mlp through the plan with every override (a host backend carrying CuPy's table)."""
    from nnctl import backends
    from nnctl.backends.numpy_backend import NumpyBackend
    from nnctl.train.trainer import train
    cfg = ROOT / "configs" / "digits-mlp.yaml"
    ov = ["train.steps=30", "train.log_every=10", "train.eval_every=30", "train.checkpoint_every=30",
          f"optimizer.name={optimizer}"]
    ref = train(cfg, run_dir=tmp_path / "numpy", overrides=ov, quiet=True)
    fused = NumpyBackend()
    fused.xp = host_xp()
    fused.kernel_overrides.update(ck.overrides())
    monkeypatch.setitem(backends._cache, "numpy", fused)
    got = train(cfg, run_dir=tmp_path / "fused", overrides=ov, quiet=True)
    assert ref.status == got.status == "completed"
    built = ck.built(fused.xp)
    assert {"nnctl_softmax_exp", "nnctl_sparse_xent"} < built and any(n.startswith("nnctl_apply") for n in built)
    import json
    a = [json.loads(r) for r in (tmp_path / "numpy" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(r) for r in (tmp_path / "fused" / "metrics.jsonl").read_text().splitlines()]
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert abs(ra["loss"] - rb["loss"]) <= 1e-4 * max(1.0, abs(ra["loss"])), (ra, rb)


@needs_cc
def test_the_gpu_script_compares_every_override(tmp_path):
    """bench/gpu.py --parts kernels, dry run: the same comparison the GPU check makes, on the host."""
    import json
    import subprocess
    import sys
    out = tmp_path / "gpu.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--dry-run", "--parts", "kernels",
                        "--out", str(out)], capture_output=True, text=True, cwd=tmp_path,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["kernels"]
    assert {k["kernel"] for k in rows} == {u.kernel.name for u in ck.UPDATES} | {"sparse_softmax_cross_entropy",
                                                                               "softmax_cross_entropy", "lstm_gates"}
    assert all(k["float32_ok"] for k in rows), rows
    exact = [k for k in rows if k["kernel"].startswith("nnctl_apply") or k["kernel"] == "lstm_gates"]
    assert all(k["bit_exact"] for k in exact), rows


@needs_cc
def test_a_graph_with_the_dense_cross_entropy_trains_the_same_through_the_plan():
    """Dense labels (the op no example config uses), momentum and Adam, bound in a plan with out= buffers."""
    from nnctl.backends.numpy_backend import NumpyBackend

    def run(backend):
        g = tf.Graph()
        with g.as_default():
            tf.set_random_seed(3)
            x = tf.placeholder(tf.float32, (None, 6))
            z = tf.placeholder(tf.float32, (None, 4))
            w = tf.Variable(tf.random_normal((6, 4), seed=1))
            loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=tf.matmul(x, w)))
            train = tf.group(O.AdamOptimizer(0.05).minimize(loss), O.MomentumOptimizer(0.01, 0.9).minimize(loss))
            s = tf.Session(backend=backend)
            s.run(tf.global_variables_initializer())
            rng = np.random.default_rng(0)
            xs = rng.standard_normal((16, 6)).astype(np.float32)
            zs = rng.random((16, 4)).astype(np.float32)
            zs /= zs.sum(1, keepdims=True)
            losses = [float(s.run([train, loss], {x: xs, z: zs})[1]) for _ in range(20)]
            return losses, s.variable_values()
    fused = NumpyBackend()
    fused.xp = host_xp()
    fused.kernel_overrides.update(ck.overrides())
    (la, va), (lb, vb) = run("numpy"), run(fused)
    np.testing.assert_allclose(lb, la, rtol=1e-5)
    assert la[-1] < la[0]
    for k in va:
        np.testing.assert_allclose(vb[k], va[k], rtol=1e-4, atol=1e-6)
    assert ck.built(fused.xp) >= {"nnctl_softmax_exp_zs", "nnctl_dense_xent", "nnctl_applyadam",
                                  "nnctl_applymomentum_plain"}


@needs_cc
def test_fused_float32_lstm_step_equals_the_xp_kernel_bit_for_bit():
    """One kernel for the float32 LSTMGates step gives the xp code's bits (the rational tanh
    included), special values too; float64 keeps the generic kernel."""
    from nnctl.ops import lstm_ops
    rng = np.random.default_rng(4)
    device = types.SimpleNamespace(host_memory=False)
    for fb in (1.0, 0.0):
        g = tf.Graph()
        with g.as_default():
            outs = lstm_ops.lstm_gates(tf.placeholder(tf.float32, (None, 48)), tf.placeholder(tf.float32, (None, 12)),
                                       fb)
        op = outs[0].op
        gates = (rng.standard_normal((5, 48)) * 6).astype(np.float32)
        gates[0, :6] = [np.nan, np.inf, -np.inf, 1e30, -0.0, 20.0]
        c_prev = rng.standard_normal((5, 12)).astype(np.float32)
        c_prev[1, :2] = [np.inf, -np.inf]
        with np.errstate(invalid="ignore"):
            ref = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np, backend=device))(gates, c_prev)
            fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=host_xp(), backend=device))
            got = fused(gates, c_prev)
            out = tuple(np.empty_like(a) for a in ref)
            assert fused(gates, c_prev, out=out)[2] is out[2]
        for a, b, o in zip(ref, got, out):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, o)
    g = tf.Graph()
    with g.as_default():
        op = lstm_ops.lstm_gates(tf.placeholder(tf.float64, (None, 8)), tf.placeholder(tf.float64, (None, 2)),
                                 1.0)[0].op
    ctx = types.SimpleNamespace(xp=host_xp(), backend=device)
    x64 = rng.standard_normal((3, 8)), rng.standard_normal((3, 2))
    np.testing.assert_array_equal(ck.overrides()[op.type](op, ctx)(*x64)[0],
                                  registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np, backend=device))(
                                      *x64)[0])
