"""The device path without a GPU: the strict stand-in device (tests/strict_device.py).

Every example config trains on it and computes exactly what numpy computes (the same kernels on the
same arithmetic); a resumed run on it is bit-identical; a kernel that returns a host array is
named; a training step costs no device-to-host sync between two log lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from strict_device import COUNTERS, StrictArray, StrictBackend, StrictXP

import nnctl as tf
from nnctl import backends
from nnctl.graph import registry

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml"))


@pytest.fixture
def strict(monkeypatch):
    """Every get_backend('numpy') of the library returns the strict device for this test."""
    b = StrictBackend()
    monkeypatch.setitem(backends._cache, "numpy", b)
    COUNTERS.reset()
    return b


def test_the_stand_in_refuses_what_cupy_refuses():
    xp = StrictXP()
    a = xp.ones(3, dtype=np.float32)
    assert type(a) is StrictArray and type(a.sum()) is StrictArray   # reductions stay 0-d device arrays
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Unsupported type"):
        xp.add(a, np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError):
        np.add(a, a)
    COUNTERS.reset()
    float(a.sum())
    a.get()
    assert COUNTERS.syncs == 2 and COUNTERS.downloads == 1


def test_a_kernel_that_leaks_a_host_array_is_named(fresh_graph):
    from nnctl.ops.core import make_op

    @registry.register_kernel("LeakyTestOp")
    def _leaky(op, ctx):
        return lambda x, out=None: np.zeros(3, dtype=np.float32)   # a host array: the bug to catch
    registry.not_differentiable("LeakyTestOp")
    try:
        x = tf.placeholder(tf.float32, (3,))
        y = make_op("LeakyTestOp", [x], shape=(3,), dtype=tf.float32, name="leak")
        s = tf.Session(backend=StrictBackend())
        with pytest.raises(tf.errors.InternalError, match="LeakyTestOp 'leak' returned a numpy.ndarray"):
            s.run(y, {x: np.ones(3, np.float32)})
        # the same kernel is fine where arrays live in host memory
        assert tf.Session().run(y, {x: np.ones(3, np.float32)}).shape == (3,)
    finally:
        registry._REGISTRY.pop("LeakyTestOp")


def test_device_arrays_can_be_fed(fresh_graph):
    b = StrictBackend()
    x = tf.placeholder(tf.float32, (None, 2))
    y = tf.reduce_sum(x * 3.0)
    s = tf.Session(backend=b)
    dev = b.asarray(np.ones((4, 2), np.float32))
    assert float(s.run(y, {x: dev})) == 24.0
    got = s.run(y, {x: dev}, download=False)
    assert type(got) is StrictArray


def test_seed_program_on_the_device_equals_numpy(fresh_graph):
    def run(backend):
        g = tf.Graph()
        with g.as_default():
            tf.set_random_seed(1)
            x = tf.placeholder(tf.float32, (4, 2))
            y = tf.placeholder(tf.float32, (4, 1))
            w1 = tf.Variable(tf.random_normal((2, 3), seed=1))
            w2 = tf.Variable(tf.random_normal((3, 1), seed=2))
            out = tf.sigmoid(tf.matmul(tf.sigmoid(tf.matmul(x, w1)), w2))
            loss = tf.reduce_sum(tf.square(out - y))
            train = tf.train.GradientDescentOptimizer(1.0).minimize(loss)
            s = tf.Session(backend=backend)
            s.run(tf.global_variables_initializer())
            xs = np.float32([[0, 0], [0, 1], [1, 0], [1, 1]])
            ys = np.float32([[0], [1], [1], [0]])
            for _ in range(200):
                s.run(train, {x: xs, y: ys})
            return s.run(loss, {x: xs, y: ys}), s.variable_values()
    l1, v1 = run("numpy")
    l2, v2 = run(StrictBackend())
    assert l1 == l2 and all(np.array_equal(v1[k], v2[k]) for k in v1)


@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_example_config_trains_on_the_device_exactly_as_on_numpy(config, tmp_path, monkeypatch):
    from test_examples import _overrides

    from nnctl.ops import conv_kernels, matmul_jit
    from nnctl.train.trainer import train
    short = ["train.steps=12", "train.eval_every=6", "train.checkpoint_every=6", "train.log_every=3",
             *_overrides(config.stem, tmp_path)]
    # the host's direct convolution (dconv.c) sums in its own FMA order, not BLAS's, which the
    # device's xp code keeps (tests/test_dconv.py bounds the difference): the host reference here
    # takes im2col + GEMM, so that every other kernel is compared to the last bit; likewise the
    # batched small products (bgemm.c, tests/test_bgemm.py bounds them) take numpy's matmul there
    monkeypatch.setattr(conv_kernels, "_direct", lambda *args, **kwargs: None)
    monkeypatch.setattr(matmul_jit, "load", lambda: None)
    ref = train(config, run_dir=tmp_path / "numpy", overrides=short, quiet=True)
    monkeypatch.undo()
    monkeypatch.setitem(backends._cache, "numpy", StrictBackend())
    dev = train(config, run_dir=tmp_path / "strict", overrides=short, quiet=True)
    # and with the training split resident on the device (data.device), batches gathered there
    res = train(config, run_dir=tmp_path / "resident", overrides=[*short, "data.device=true"], quiet=True)
    assert dev.status == ref.status == res.status == "completed"
    a, b, c = ([{k: v for k, v in json.loads(line).items() if k != "time"}
                for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
               for d in ("numpy", "strict", "resident"))
    assert a == b == c   # losses, metrics and learning rates equal to the last bit


def test_resume_on_the_device_is_bit_identical(strict, tmp_path):
    from nnctl.train import checkpoint as ckpt
    from nnctl.train.trainer import train
    cfg = ROOT / "configs" / "digits-mlp.yaml"
    ov = ["train.steps=40", "train.checkpoint_every=10", "train.eval_every=20"]
    train(cfg, run_dir=tmp_path / "full", overrides=ov, quiet=True)
    # stop after step 20 (pruned at its evaluation), then resume to 40
    stop = train(cfg, run_dir=tmp_path / "cut", overrides=ov, quiet=True,
                 on_eval=lambda step, split, scores: step == 20)
    assert stop.status == "pruned" and stop.steps == 20
    res = train(cfg, run_dir=tmp_path / "cut", overrides=ov, resume=True, quiet=True)
    assert res.steps == 40
    a = ckpt.latest_intact(tmp_path / "full" / "checkpoints", lambda m: None).arrays
    b = ckpt.latest_intact(tmp_path / "cut" / "checkpoints", lambda m: None).arrays
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_training_step_does_not_wait_for_the_device(strict, tmp_path):
    """Between two log lines a step uploads its batch and dropout masks and reads nothing back."""
    from nnctl.train import trainer as T
    cfg = ROOT / "configs" / "digits-mlp.yaml"
    syncs: list[int] = []
    uploads: list[int] = []
    real_run = tf.Session.run

    def counting_run(self, fetches, feed_dict=None, *a, **k):
        before = (COUNTERS.syncs, COUNTERS.uploads)
        out = real_run(self, fetches, feed_dict, *a, **k)
        if isinstance(fetches, list) and len(fetches) == 3 and k.get("download") is False:
            syncs.append(COUNTERS.syncs - before[0])
            uploads.append(COUNTERS.uploads - before[1])
        return out
    tf.Session.run = counting_run
    try:
        T.train(cfg, run_dir=tmp_path / "r", quiet=True,
                overrides=["train.steps=30", "train.log_every=10", "train.eval_every=30",
                           "train.checkpoint_every=30"])
    finally:
        tf.Session.run = real_run
    assert len(syncs) == 30
    # after the first (compiling) step: no sync at all inside a step; x, y and one dropout mask go up
    assert syncs[2:] == [0] * 28, syncs
    assert max(uploads[2:]) <= 3, uploads


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_scatter_add_accumulates_repeated_indices_on_every_backend(axis):
    """numpy's add.at, and the CuPy backend's sort-and-segment-sum run here with numpy as its xp."""
    from nnctl.backends.base import Backend
    from nnctl.backends.cupy_backend import CupyBackend
    from nnctl.backends.numpy_backend import NumpyBackend
    rng = np.random.default_rng(axis)
    shape = (5, 4, 3)
    idx = rng.integers(0, shape[axis], size=(2, 6))
    vals = rng.standard_normal(shape[:axis] + idx.shape + shape[axis + 1:]).astype(np.float32)
    ref = np.zeros(shape, np.float32)
    np.add.at(ref, (slice(None),) * axis + (idx,), vals)
    sorted_backend = CupyBackend.__new__(CupyBackend)
    Backend.__init__(sorted_backend, np)
    for be in (NumpyBackend(), sorted_backend, StrictBackend()):
        out = be.xp.zeros(shape, dtype=np.float32)
        be.scatter_add(out, be.asarray(idx), be.asarray(vals), axis)
        got = out.get() if type(out) is StrictArray else out
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6, err_msg=type(be).__name__)


def test_cupy_names_the_kernels_use_exist_in_cupy():
    """Every xp.<name> a kernel calls must exist in CuPy, and take the keywords it is called with
    (checked against the installed package: CuPy installs and imports without a GPU)."""
    import ast
    import inspect
    cupy = pytest.importorskip("cupy")
    calls: dict[str, set[str]] = {}
    for path in (ROOT / "nnctl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "xp":
                calls.setdefault(node.attr, set())
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "xp":
                calls.setdefault(node.func.attr, set()).update(k.arg for k in node.keywords if k.arg)
    assert len(calls) > 30
    missing = sorted(n for n in calls if not hasattr(cupy, n))
    assert not missing, f"kernels call xp.{', xp.'.join(missing)}, which CuPy does not have"
    bad = []
    for name, kws in calls.items():
        try:
            params = inspect.signature(getattr(cupy, name)).parameters
        except (TypeError, ValueError):
            continue   # a ufunc or Cython function without a signature: its keywords are numpy's
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            continue
        bad += [f"xp.{name}({k}=)" for k in kws if k not in params]
    assert not bad, f"CuPy does not take these keywords: {', '.join(sorted(bad))}"


def test_eval_freeze_predict_and_validate_honour_the_backend(tmp_path, monkeypatch):
    """--backend reaches every session a command opens (the stand-in poses as cupy here)."""
    from conftest import run_cli
    cfg = ROOT / "configs" / "iris.yaml"
    run = tmp_path / "run"
    code, _, err = run_cli("train", cfg, "--run-dir", run, "--quiet", "--set", "train.epochs=5")
    assert code == 0, err
    code, ref, err = run_cli("eval", run, "--json")
    assert code == 0, err
    code, _, err = run_cli("eval", run, "--backend", "cupy")
    assert code == 2 and "--backend cupy: backend 'cupy' is not available" in err
    dev = StrictBackend()
    monkeypatch.setitem(backends._cache, "cupy", dev)
    COUNTERS.reset()
    code, out, err = run_cli("eval", run, "--json", "--backend", "cupy")
    assert code == 0, err
    assert out == ref and COUNTERS.uploads > 0   # the same numbers, computed on the device
    frozen = tmp_path / "m.nnctl"
    COUNTERS.reset()
    code, _, err = run_cli("freeze", run, "-o", frozen, "--backend", "cupy")
    assert code == 0 and COUNTERS.uploads > 0, err
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    code, p_ref, err = run_cli("predict", frozen, "--input", rows)
    assert code == 0, err
    COUNTERS.reset()
    code, p_dev, err = run_cli("predict", frozen, "--input", rows, "--backend", "cupy")
    assert code == 0 and p_dev == p_ref and COUNTERS.uploads > 0, err
    COUNTERS.reset()
    code, _, err = run_cli("validate", cfg, "--backend", "cupy")
    assert code == 0 and COUNTERS.uploads > 0, err
    # the choice lasts one command: a library call after it runs on the config's backend again
    assert backends.choose_backend(None) is backends.get_backend("numpy")


def _step_transfers(cfg: Path, run_dir: Path, overrides: list[str]) -> tuple[list[tuple[int, int]], list[tuple]]:
    """(uploads, bytes) inside each training step's Session.run, and between the start of one step's
    run and the next (the batch feeding of the trainer)."""
    from nnctl.train import trainer as T
    inside: list[tuple[int, int]] = []
    between: list[tuple[int, int]] = []
    last: list[tuple[int, int]] = []
    real_run = tf.Session.run

    def counting_run(self, fetches, feed_dict=None, *a, **k):
        step = isinstance(fetches, list) and len(fetches) == 3 and k.get("download") is False
        before = (COUNTERS.uploads, COUNTERS.uploaded)
        out = real_run(self, fetches, feed_dict, *a, **k)
        if step:
            if last:
                between.append((before[0] - last[0][0], before[1] - last[0][1]))
            inside.append((COUNTERS.uploads - before[0], COUNTERS.uploaded - before[1]))
            last[:] = [(COUNTERS.uploads, COUNTERS.uploaded)]
        return out
    tf.Session.run = counting_run
    try:
        T.train(cfg, run_dir=run_dir, quiet=True, overrides=overrides)
    finally:
        tf.Session.run = real_run
    return inside, between


def test_data_device_keeps_the_training_split_on_the_device(strict, tmp_path):
    """data.device: true computes bit-identically to false, and after the one upload of the split a
    step uploads no features or labels: only the epoch's permutation, once per epoch."""
    cfg = ROOT / "configs" / "digits-mlp.yaml"
    ov = ["train.steps=60", "train.log_every=10", "train.eval_every=60", "train.checkpoint_every=60"]
    host_in, host_between = _step_transfers(cfg, tmp_path / "host", ov)
    dev_in, dev_between = _step_transfers(cfg, tmp_path / "dev", [*ov, "data.device=true"])
    a = [{k: v for k, v in json.loads(r).items() if k != "time"}
         for r in (tmp_path / "host" / "metrics.jsonl").read_text().splitlines()]
    b = [{k: v for k, v in json.loads(r).items() if k != "time"}
         for r in (tmp_path / "dev" / "metrics.jsonl").read_text().splitlines()]
    assert a == b   # bit-identical losses and metrics
    # host feeding: x and y go up inside every step; resident: two uploads fewer (the dropout mask remains)
    # (a step that compiles a new batch shape, the epoch's short last batch, uploads its trace's copies too)
    steady = host_in[2][0]
    assert all(d == h - 2 if h == steady else d <= h - 2 for (d, _), (h, _) in zip(dev_in[2:], host_in[2:])), \
        (host_in, dev_in)
    # between two step runs (log lines, the meter's flush) the same as with host feeding, but for the permutation
    n_train = int(np.ceil(1797 * 0.8))   # digits, val_split 0.2
    perm_uploads = [(d - h, db - hb) for (d, db), (h, hb) in zip(dev_between, host_between) if (d, db) != (h, hb)]
    # 60 steps of 32 over ~1438 examples cross one epoch boundary: one permutation of int64 indices
    assert len(perm_uploads) == 1 and perm_uploads[0][0] == 1, dev_between
    assert abs(perm_uploads[0][1] - 8 * n_train) <= 8 * 2, perm_uploads


def test_data_device_resumes_bit_identically(strict, tmp_path):
    from nnctl.train import checkpoint as ckpt
    from nnctl.train.trainer import train
    cfg = ROOT / "configs" / "digits-mlp.yaml"
    ov = ["train.steps=60", "train.checkpoint_every=10", "train.eval_every=20", "data.device=true"]
    train(cfg, run_dir=tmp_path / "full", overrides=ov, quiet=True)
    stop = train(cfg, run_dir=tmp_path / "cut", overrides=ov, quiet=True,
                 on_eval=lambda step, split, scores: step == 20)
    assert stop.status == "pruned"
    # the resumed run uploads the split and the replayed permutation again
    res = train(cfg, run_dir=tmp_path / "cut", overrides=ov, resume=True, quiet=True)
    assert res.steps == 60
    # data.device may change on resume: it changes no number
    train(cfg, run_dir=tmp_path / "cut2", overrides=ov, quiet=True, on_eval=lambda step, split, scores: step == 20)
    res2 = train(cfg, run_dir=tmp_path / "cut2", overrides=[*ov[:-1], "data.device=false"], resume=True, quiet=True)
    assert res2.steps == 60
    assert "data.device" in (tmp_path / "cut2" / "config.yaml").read_text().splitlines()[0]
    ref = train(cfg, run_dir=tmp_path / "host", overrides=ov[:-1], quiet=True)
    assert ref.steps == 60
    a, b, c, e = (ckpt.latest_intact(tmp_path / d / "checkpoints", lambda m: None).arrays
                  for d in ("full", "cut", "host", "cut2"))
    assert all(np.array_equal(a[k], b[k]) and np.array_equal(a[k], c[k]) and np.array_equal(a[k], e[k]) for k in a)


def test_data_device_with_augmentation_gathers_labels_on_the_device(strict, tmp_path):
    """Augmented images are drawn on the host from (seed, step); the labels still come from the device."""
    from test_examples import _overrides

    from nnctl.train.trainer import train
    cfg = ROOT / "configs" / "digits-images.yaml"
    ov = ["train.steps=6", "train.eval_every=6", "train.checkpoint_every=6", "train.log_every=3",
          *_overrides(cfg.stem, tmp_path)]
    train(cfg, run_dir=tmp_path / "a", overrides=ov, quiet=True)
    train(cfg, run_dir=tmp_path / "b", overrides=[*ov, "data.device=true"], quiet=True)
    strip = [[{k: v for k, v in json.loads(r).items() if k != "time"} for r in (tmp_path / d / "metrics.jsonl")
              .read_text().splitlines()] for d in ("a", "b")]
    assert strip[0] == strip[1]


def test_data_device_is_nothing_to_do_in_host_memory(tmp_path):
    """On numpy the key is accepted and harmless: the backend's arrays are host arrays already."""
    from nnctl.backends.numpy_backend import NumpyBackend
    from nnctl.data.device_data import DeviceResident, device_resident
    x, y = np.ones((4, 2), np.float32), np.arange(4)
    assert device_resident(NumpyBackend(), True, x, y, np.float32, np.int64) is None
    assert isinstance(device_resident(StrictBackend(), True, x, y, np.float32, np.int64), DeviceResident)
    assert device_resident(StrictBackend(), False, x, y, np.float32, np.int64) is None
    from nnctl.train.trainer import train
    cfg = ROOT / "configs" / "iris.yaml"
    train(cfg, run_dir=tmp_path / "a", overrides=["train.epochs=3"], quiet=True)
    train(cfg, run_dir=tmp_path / "b", overrides=["train.epochs=3", "data.device=true"], quiet=True)
    assert [json.loads(r)["loss"] for r in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()] == \
        [json.loads(r)["loss"] for r in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
