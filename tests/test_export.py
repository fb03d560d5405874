"""Freezing, the frozen file format, graph serialisation, eval/predict logic and the graph view."""

from __future__ import annotations

import importlib
import io
import json
import math
import pickle
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnctl as tf
from nnctl.errors import DataError, FileFormatError, InputError, RuntimeFailure
from nnctl.export import freeze, load_frozen, load_run
from nnctl.export.frozen import (
    CHECKSUM_KEY,
    GRAPH_KEY,
    META_KEY,
    VERSION,
    content_checksum,
    frozen_bytes,
    read_frozen_file,
)
from nnctl.export.serialize import GraphFormatError, graph_from_json, graph_to_json
from nnctl.fileio import npz_bytes
from nnctl.graph.graph import FORWARD
from nnctl.train.evaluation import run_outputs, score
from nnctl.train.trainer import evaluate_model, read_metrics
from nnctl.train.trainer import train as run_train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def _train(config: Path, run_dir: Path, *sets: str) -> Path:
    run_train(config, run_dir=run_dir, overrides=list(sets), quiet=True)
    return run_dir


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(ROOT / "configs" / "xor.yaml", tmp_path_factory.mktemp("xor") / "run")


@pytest.fixture(scope="module")
def xor_frozen(xor_run: Path) -> Path:
    out = xor_run.parent / "xor.frozen"
    freeze(xor_run, out)
    return out


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


# --- freeze on every example config ---------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_freeze_matches_checkpoint_on_every_config(config: Path, tmp_path: Path) -> None:
    run_dir = _train(config, tmp_path / "run", "train.steps=20", "train.eval_every=10", "train.checkpoint_every=10")
    out = tmp_path / "m.frozen"
    report = freeze(run_dir, out)
    assert out.is_file() and report.step == 20 and report.max_abs_diff <= 1e-6
    run = load_run(run_dir)
    fm = load_frozen(out)
    try:
        for split in (run.splits.train, run.splits.val):
            if split is None:
                continue
            # the same batches on both sides: float32 GEMM rounding may depend on the row count
            ref = run_outputs(lambda xb: run.sess.run([run.model.logits, run.model.outputs],
                                                      {run.model.x: xb}), split.x)
            got = fm.run(split.x, preprocessed=True)
            for a, b in zip(ref, got):
                assert a.shape == b.shape
                assert np.max(np.abs(a.astype(np.float64) - b)) <= 1e-6
            want = evaluate_model(run.model, run.sess, split, run.cfg)
            have = score(fm.head, *got, split.y, fm.metrics, fm.l2_penalty)
            assert abs(want["loss"] - have["loss"]) <= 1e-6
        ops = fm.graph.get_operations()
        assert {op.role for op in ops} == {FORWARD}
        assert not [op for op in ops if op.type in ("VariableV2", "Assign", "AssignAdd") or "Apply" in op.type]
        assert not [op for op in ops if op.name.startswith(("gradients", "loss/", "learning_rate"))]
        assert not [op for op in ops if "Dropout" in op.type or op.type.startswith("Random")]
        assert [op.name for op in ops if op.type == "Placeholder"] == ["x"]
        assert report.removed.get("gradient", 0) > 0 and report.removed.get("init", 0) > 0
        assert sum(report.kept.values()) == len(ops)
        assert fm.checkpoint_step == 20 and fm.meta["source"]["config_name"] == run.cfg.name
    finally:
        fm.close()
        run.close()


# --- the FrozenModel API ----------------------------------------------------------------------

def test_frozen_api_on_xor(xor_run: Path, xor_frozen: Path) -> None:
    m = load_frozen(xor_frozen)
    p = m.predict(XOR_X)
    assert p.shape == (4, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert m.predict_classes(XOR_X).tolist() == [0, 1, 1, 0]
    logits, outputs = m.run(XOR_X)
    assert logits.shape == (4, 1) and outputs.shape == (4, 1)
    ev = m.evaluate(XOR_X, np.array([0, 1, 1, 0]))
    assert ev["accuracy"] == 1.0 and set(ev) >= {"loss", "accuracy", "mse"}
    sig = m.signature.to_dict()
    assert sig["inputs"] == [{"name": "x", "tensor": "x:0", "shape": [None, 2], "dtype": "float32"}]
    assert [o["name"] for o in sig["outputs"]] == ["logits", "outputs"]
    meta = m.meta
    assert meta["features"]["names"] == ["x1", "x2"] and meta["labels"]["names"] == ["y"]
    assert meta["head"]["loss"] == "sum_squares" and meta["metrics"] == ["accuracy", "mse"]
    assert meta["preprocessor"]["mode"] == "none" and meta["l2_penalty"] == 0.0
    assert meta["source"]["checkpoint_step"] == 500 and meta["version"] == VERSION
    with pytest.raises(DataError, match=r"found 3 feature\(s\).*expects 2"):
        m.predict(np.zeros((2, 3), np.float32))
    m.close()


def test_frozen_eval_equals_run_eval(xor_run: Path, xor_frozen: Path) -> None:
    from nnctl.evaluate import evaluate
    a = evaluate(xor_run, str(ROOT / "datasets" / "xor.csv"))
    b = evaluate(xor_frozen, str(ROOT / "datasets" / "xor.csv"))
    assert abs(a.scores["loss"] - b.scores["loss"]) <= 1e-6
    assert a.scores["accuracy"] == b.scores["accuracy"] == 1.0
    c = evaluate(xor_run)
    assert c.split == "train" and c.checkpoint == 500 and abs(c.scores["loss"] - a.scores["loss"]) <= 1e-12


def test_regression_and_l2_roundtrip(tmp_path: Path) -> None:
    """A regression head with an L2 penalty: the frozen file reproduces the run's loss, L2 included."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1).astype(np.float32)
    data = tmp_path / "reg.csv"
    data.write_text("a,b,c,t\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t[0]}\n" for r, t in zip(x, y)))
    cfg = tmp_path / "reg.yaml"
    cfg.write_text(f"""name: reg
seed: 0
data:
  train: {{csv: {data}, labels: [t]}}
  val_split: 0.25
  preprocess: standardize
  label_type: real
model:
  input_shape: [3]
  layers:
    - {{type: dense, units: 8, activation: tanh}}
    - {{type: dense, units: 1}}
loss: {{type: mse, l2: 0.01}}
optimizer: {{name: sgd, lr: 0.05}}
train: {{steps: 30, batch_size: 16, eval_every: 30}}
metrics: [mse, mae]
""")
    run_dir = _train(cfg, tmp_path / "run")
    out = tmp_path / "reg.frozen"
    freeze(run_dir, out)
    from nnctl.evaluate import evaluate
    a, b = evaluate(run_dir, str(data)), evaluate(out, str(data))
    assert b.scores["loss"] == pytest.approx(a.scores["loss"], abs=1e-6)
    assert b.scores["mae"] == pytest.approx(a.scores["mae"], abs=1e-6)
    m = load_frozen(out)
    assert m.l2_penalty > 0 and m.predict(x).shape == (64, 1) and m.output_names() == ["t"]
    with pytest.raises(DataError):
        m.predict_classes(x)
    val = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["split"] == "val" and r.get("kind") == "eval"]
    assert evaluate(run_dir).scores["loss"] == pytest.approx(val[-1]["loss"], abs=1e-9)


def test_freeze_with_batch_norm_dropout_and_clipping(tmp_path: Path) -> None:
    """Dropout is absent and batch norm reads its moving averages in the frozen graph."""
    cfg = tmp_path / "bn.yaml"
    cfg.write_text(f"""name: bn
seed: 3
data:
  train: {{csv: {ROOT / "datasets" / "iris.csv"}, labels: [species]}}
  val_split: 0.2
  preprocess: minmax
  label_type: class
model:
  input_shape: [4]
  layers:
    - {{type: dense, units: 8, activation: relu}}
    - {{type: batch_norm}}
    - {{type: dropout, rate: 0.5}}
    - {{type: dense, units: 3}}
loss: {{type: cross_entropy}}
optimizer: {{name: adam, lr: 0.01, clip_norm: 1.0}}
train: {{steps: 25, batch_size: 16, eval_every: 25}}
metrics: [accuracy]
""")
    run_dir = _train(cfg, tmp_path / "run")
    out = tmp_path / "bn.frozen"
    rep = freeze(run_dir, out)
    assert rep.max_abs_diff <= 1e-6
    m = load_frozen(out)
    types = {op.type for op in m.graph.get_operations()}
    assert not {t for t in types if "Dropout" in t or "Random" in t or t == "Moments"}
    names = [op.name for op in m.graph.get_operations()]
    assert any(n.startswith("batch_norm") and n.endswith("moving_mean/read") for n in names)
    x = np.loadtxt(ROOT / "datasets" / "iris.csv", delimiter=",", skiprows=1, usecols=(0, 1, 2, 3))
    np.testing.assert_array_equal(m.predict(x), m.predict(x))
    from nnctl.evaluate import evaluate
    a = evaluate(run_dir, str(ROOT / "datasets" / "iris.csv"))
    b = evaluate(out, str(ROOT / "datasets" / "iris.csv"))
    assert abs(a.scores["loss"] - b.scores["loss"]) <= 1e-6
    from nnctl.inspect_graph import graph_view
    view = graph_view(cfg)
    assert all(v.grad is not None and v.updates for v in view.variables)
    assert all(v.updates[0].type == "ApplyAdam" for v in view.variables)


def test_freeze_refuses_when_outputs_differ(xor_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fz = importlib.import_module("nnctl.export.freezing")
    monkeypatch.setattr(fz, "TOLERANCE", -1.0)
    out = tmp_path / "never.frozen"
    with pytest.raises(RuntimeFailure, match="differ"):
        fz.freeze(xor_run, out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_freeze_checkpoint_folder_and_step(xor_run: Path, tmp_path: Path) -> None:
    ck = sorted((xor_run / "checkpoints").glob("ckpt-*"))[0]
    step = int(ck.name.split("-")[1])
    rep = freeze(ck, tmp_path / "a.frozen")
    assert rep.step == step
    rep2 = freeze(xor_run, tmp_path / "b.frozen", checkpoint=str(step))
    assert rep2.step == step
    assert load_frozen(tmp_path / "a.frozen").predict(XOR_X).tolist() == \
        load_frozen(tmp_path / "b.frozen").predict(XOR_X).tolist()
    with pytest.raises(InputError):
        freeze(ck, tmp_path / "c.frozen", checkpoint="latest")


def test_damaged_newest_checkpoint_falls_back(xor_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(xor_run, run)
    ckpts = sorted((run / "checkpoints").glob("ckpt-*"))
    newest = ckpts[-1]
    data = bytearray((newest / "arrays.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (newest / "arrays.npz").write_bytes(bytes(data))
    warnings: list[str] = []
    from nnctl.evaluate import evaluate
    res = evaluate(run, warn=warnings.append)
    assert res.checkpoint == int(ckpts[-2].name.split("-")[1])
    assert any(newest.name in w for w in warnings)
    for c in ckpts[:-1]:
        (c / "manifest.json").write_text("{")
    with pytest.raises(FileFormatError, match="no intact checkpoint"):
        evaluate(run, warn=warnings.append)


def test_checkpoint_of_another_model_is_refused(xor_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(xor_run, run)
    cfg = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(cfg.replace("units: 3", "units: 5", 1))
    with pytest.raises(FileFormatError, match=r"does not match the model.*dense_0/kernel"):
        freeze(run, tmp_path / "x.frozen")


# --- serialisation -----------------------------------------------------------------------------

def _types(v: object) -> object:
    """The structure of a value with its Python types, for an exact comparison."""
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [_types(x) for x in v])
    if isinstance(v, dict):
        return ("dict", sorted((repr(k), _types(x)) for k, x in v.items()))
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, float) and math.isnan(v):
        return ("float", "nan")
    return (type(v).__name__, v)


def test_every_attribute_type_roundtrips() -> None:
    g = tf.Graph()
    attrs = {"i": 3, "f": 0.1, "neg_inf": float("-inf"), "nan": float("nan"), "b": True, "none": None, "s": "SAME",
             "tup": (1, (2, None), ((1,), 2)), "lst": [1, [2.5, "x"], (3,)], "dtype": tf.float64,
             "nested": {"k": {"j": (1, 2)}, 3: [None]}, "arr": np.arange(6, dtype=np.int32).reshape(2, 3),
             "f32": np.float32(1.25), "i64": np.int64(-7), "empty": (), "bool_arr": np.array([True, False]),
             "scalar_arr": np.array(2.5, np.float32)}
    with g.as_default():
        x = tf.placeholder(tf.float32, (None, 2), name="x")
        g.create_op("Identity", [x], attrs, [((None, 2), tf.float32)], name="weird")
    spec, arrays = graph_to_json(g.get_operations())
    json.dumps(spec, allow_nan=False)  # strict JSON
    g2 = graph_from_json(json.loads(json.dumps(spec)), {k: v.copy() for k, v in arrays.items()})
    got = g2.get_operation_by_name("weird").attrs
    assert _types(got) == _types(attrs)
    assert isinstance(got["dtype"], tf.DType) and got["dtype"] == tf.float64


def test_rebuilt_graph_computes_the_same() -> None:
    g = tf.Graph()
    rng = np.random.default_rng(1)
    with g.as_default():
        x = tf.placeholder(tf.float32, (None, 6, 6, 2), name="x")
        w = tf.constant(rng.normal(size=(3, 3, 2, 4)).astype(np.float32))
        h = tf.nn.relu(tf.nn.conv2d(x, w, strides=[1, 1], padding="SAME"))
        h = tf.nn.max_pool2d(h, ksize=[2, 2], strides=[2, 2], padding="VALID")
        h = h[:, 1:, ::-1, :]
        h = tf.transpose(h, [0, 3, 1, 2])
        h = tf.pad(h, [[0, 0], [1, 0], [0, 1], [0, 0]])
        h = tf.reshape(h, [-1, int(np.prod(h.get_shape().as_list()[1:]))])
        oh = tf.one_hot(tf.argmax(h, axis=1), 5, dtype=tf.float32)
        out = tf.concat([tf.nn.softmax(h), tf.cast(oh, tf.float32)], axis=1)
    xv = rng.normal(size=(3, 6, 6, 2)).astype(np.float32)
    with tf.Session(graph=g) as s:
        want = s.run(out, {x: xv})
    spec, arrays = graph_to_json(g.get_operations())
    g2 = graph_from_json(json.loads(json.dumps(spec)), arrays)
    with tf.Session(graph=g2) as s:
        got = s.run(g2.get_tensor_by_name(out.name), {g2.get_tensor_by_name("x:0"): xv})
    np.testing.assert_array_equal(got, want)
    ss = [op for op in g2.get_operations() if op.type == "StridedSlice"][0]
    assert isinstance(ss.attrs["spec"], tuple)
    assert ss.attrs["spec"] == [op for op in g.get_operations() if op.type == "StridedSlice"][0].attrs["spec"]


@pytest.mark.parametrize("mutate, message", [
    (lambda n: n[1].update(op="EvilOp"), "unknown op type 'EvilOp'"),
    (lambda n: n[1].update(inputs=["nowhere:0"]), "not defined before"),
    (lambda n: n.reverse(), "not defined before"),
    (lambda n: n[1]["attrs"].update(bad={"$pickle": "x"}), "unknown attribute tag"),
    (lambda n: n[1].update(name=n[0]["name"]), "defined twice"),
    (lambda n: n[1]["outputs"][0].__setitem__(1, "object"), "unsupported dtype"),
    (lambda n: n[1]["attrs"].update(deep=_deep(100)), "nested"),
])
def test_malformed_graph_json_is_refused(mutate: object, message: str) -> None:
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, (None, 2), name="x")
        tf.nn.relu(x, name="r")
    spec, arrays = graph_to_json(g.get_operations())
    mutate(spec["nodes"])  # type: ignore[operator]
    with pytest.raises(GraphFormatError, match=message):
        graph_from_json(spec, arrays)


def _deep(n: int) -> object:
    v: object = 1
    for _ in range(n):
        v = [v]
    return v


# --- hostile and damaged frozen files ------------------------------------------------------------

class _Payload:
    """Unpickling this creates a marker file: proof that a pickle ran."""

    marker = ""

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.marker),))


def _members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path: Path, out: Path, graph: dict | None = None, meta: dict | None = None,
             keep_checksum: bool = False) -> None:
    m = _members(path)
    if graph is not None:
        m[GRAPH_KEY] = np.frombuffer(json.dumps(graph).encode(), np.uint8)
    if meta is not None:
        m[META_KEY] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    if not keep_checksum:
        arrays = {k: v for k, v in m.items() if k not in (GRAPH_KEY, META_KEY, CHECKSUM_KEY)}
        digest = content_checksum(m[GRAPH_KEY].tobytes(), m[META_KEY].tobytes(), arrays)
        m[CHECKSUM_KEY] = np.frombuffer(digest.encode(), np.uint8)
    out.write_bytes(npz_bytes(m))


def _hostile_files(src: Path, d: Path) -> dict[str, Path]:
    data = src.read_bytes()
    graph, meta, _ = read_frozen_file(src)
    files = {}

    def put(name: str, blob: bytes) -> None:
        files[name] = d / f"{name}.frozen"
        files[name].write_bytes(blob)

    put("empty", b"")
    put("truncated", data[: len(data) // 2])
    put("truncated_tail", data[:-10])
    gpos = data.index(b'"nodes"')
    flipped = bytearray(data)
    flipped[gpos + 3] ^= 0x01
    put("bitflip_graph", bytes(flipped))
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("a0.npy")
    start = info.header_offset + 30 + int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little") \
        + int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    flipped = bytearray(data)
    flipped[start + info.file_size - 3] ^= 0x10  # inside the last weight's bytes
    put("bitflip_array", bytes(flipped))
    put("random", np.random.default_rng(0).bytes(4096))
    put("pickle", pickle.dumps(_Payload()))
    buf = io.BytesIO()
    np.savez(buf, **{GRAPH_KEY: np.array([_Payload()], dtype=object)})
    put("object_array", buf.getvalue())
    put("text", b"this is not a model\n")
    put("plain_npz", npz_bytes({"x": np.zeros(3)}))
    _rewrite(src, d / "version.frozen", meta={**meta, "version": VERSION + 1})
    files["version"] = d / "version.frozen"
    _rewrite(src, d / "checksum.frozen", meta={**meta, "l2_penalty": 123.0}, keep_checksum=True)
    files["checksum"] = d / "checksum.frozen"
    evil = json.loads(json.dumps(graph))
    evil["nodes"][-1]["op"] = "PyFunc"
    _rewrite(src, d / "unknown_op.frozen", graph=evil)
    files["unknown_op"] = d / "unknown_op.frozen"
    return files


def test_hostile_frozen_files_are_refused(xor_frozen: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PICKLE_RAN"
    _Payload.marker = str(marker)
    files = _hostile_files(xor_frozen, tmp_path)
    expect = {"version": "version", "checksum": "checksum mismatch", "unknown_op": "unknown op type 'PyFunc'",
              "empty": "empty"}
    for name, path in files.items():
        with pytest.raises(FileFormatError) as ei:
            load_frozen(path)
        msg = str(ei.value)
        assert str(path) in msg and "\n" not in msg, (name, msg)
        if name in expect:
            assert expect[name] in msg, (name, msg)
    assert not marker.exists()
    with pytest.raises(FileFormatError, match="not found"):
        load_frozen(tmp_path / "missing.frozen")


def test_frozen_bytes_are_deterministic(xor_frozen: Path) -> None:
    graph, meta, arrays = read_frozen_file(xor_frozen)
    a = frozen_bytes(graph, arrays, meta)
    assert zipfile.is_zipfile(io.BytesIO(a))
    graph2, meta2, arrays2 = read_frozen_file(xor_frozen)
    assert content_checksum(json.dumps(graph2, sort_keys=True, separators=(",", ":")).encode(),
                            json.dumps(meta2, sort_keys=True, separators=(",", ":")).encode(), arrays2) == \
        _members(xor_frozen)[CHECKSUM_KEY].tobytes().decode()


# --- predict and eval logic ------------------------------------------------------------------------

def test_predict_file_inputs(xor_frozen: Path, tmp_path: Path) -> None:
    from nnctl.predict import predict, predict_file
    rows = "0,0\n0,1\n1,0\n1,1\n"
    (tmp_path / "plain.csv").write_text(rows)
    (tmp_path / "header.csv").write_text("x1,x2\n" + rows)
    (tmp_path / "swapped.csv").write_text("x2,x1\n" + rows)
    np.savez(tmp_path / "in.npz", x=XOR_X)
    for name in ("plain.csv", "header.csv", "in.npz"):
        p = predict_file(xor_frozen, tmp_path / name)
        assert p.classes == [0, 1, 1, 0], name
        assert p.columns == ["p0", "p1"]
    p = predict_file(xor_frozen, ROOT / "datasets" / "xor.csv")
    y = np.loadtxt(ROOT / "datasets" / "xor.csv", delimiter=",", skiprows=1)[:, 2].astype(int)
    assert p.classes == y.tolist()
    # columns picked by name: a swapped header swaps the features (XOR is symmetric; use the probabilities)
    a = predict_file(xor_frozen, tmp_path / "header.csv").values
    b = predict_file(xor_frozen, tmp_path / "swapped.csv").values
    np.testing.assert_allclose(a[[0, 2, 1, 3]], b)
    preds, text = predict(xor_frozen, tmp_path / "plain.csv", tmp_path / "out.json")
    lines = (tmp_path / "out.json").read_text().splitlines()
    assert len(lines) == 4 and [json.loads(line)["predicted"] for line in lines] == [0, 1, 1, 0]
    (tmp_path / "wide.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"wide.csv.*expected 2 feature columns, got 3"):
        predict_file(xor_frozen, tmp_path / "wide.csv")
    np.savez(tmp_path / "wide.npz", x=np.zeros((2, 5), np.float32))
    with pytest.raises(DataError, match=r"wide.npz.*found 5 feature\(s\).*expects 2"):
        predict_file(xor_frozen, tmp_path / "wide.npz")


# --- the graph view ------------------------------------------------------------------------------

def check_dot(text: str) -> None:
    """Structural checks of Graphviz output: a digraph, balanced braces, every edge endpoint declared."""
    assert text.startswith("digraph ")
    depth = 0
    in_str = False
    prev = ""
    for ch in text:
        if ch == '"' and prev != "\\":
            in_str = not in_str
        elif not in_str and ch == "{":
            depth += 1
        elif not in_str and ch == "}":
            depth -= 1
            assert depth >= 0
        prev = ch if not (prev == "\\" and ch == "\\") else ""
    assert depth == 0 and not in_str
    q = r'"((?:[^"\\]|\\.)*)"'
    declared = set(re.findall(r"^\s*" + q + r" \[", text, re.M))
    edges = re.findall(r"^\s*" + q + r" -> " + q, text, re.M)
    assert declared and edges
    for a, b in edges:
        assert a in declared and b in declared, (a, b)
    if shutil.which("dot"):
        r = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr


def test_backward_view_flags_cuts_and_unconnected_variables() -> None:
    from nnctl.inspect_graph import analyse, render_dot, render_text
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, (None, 2), name="x")
        w1 = tf.Variable(np.ones((2, 3), np.float32), name="w1")
        w2 = tf.Variable(np.ones((3, 1), np.float32), name="w2")
        frozen = tf.Variable(np.ones((2, 1), np.float32), name="cut")
        tf.Variable(np.ones((4,), np.float32), name="unused")  # on no path to the loss
        h = tf.sigmoid(tf.matmul(x, w1))
        z = tf.matmul(h, w2) + tf.matmul(x, tf.stop_gradient(frozen.value(), name="sg"))
        loss = tf.reduce_sum(tf.square(z), name="loss")
        tf.train.GradientDescentOptimizer(0.1).minimize(loss, var_list=[w1, w2])
    view = analyse(g, loss, "hand-built")
    by = {v.name: v for v in view.variables}
    assert set(by) == {"w1", "w2", "cut", "unused"}
    assert by["w1"].connected and by["w1"].grad is not None and by["w1"].updates
    assert by["w1"].path_to_loss[0] == "w1" and by["w1"].path_to_loss[-1] == "loss"
    assert any("Sigmoid" in label for label, _ in by["w1"].chain)
    assert not by["cut"].connected and by["cut"].stop_gradients == ["sg"]
    assert not by["unused"].connected and not by["unused"].stop_gradients
    assert view.cuts == ["sg"] and set(view.unconnected) == {"cut", "unused"}
    text = render_text(view, backward=True)
    assert "NO PATH TO THE LOSS" in text and "stop_gradient cut at sg" in text
    assert "ApplyGradientDescent" in text and "dloss/dw = gradients/" in text
    dot = render_dot(view, backward=True)
    check_dot(dot)
    assert "cluster_forward" in dot and "cluster_backward" in dot and "cluster_update" in dot
    assert "no path to the loss" in dot and "stop_gradient cut" in dot
    assert "cluster_backward" not in render_dot(view, backward=False)


def test_graph_view_of_config_and_frozen(xor_frozen: Path, tmp_path: Path) -> None:
    from nnctl.inspect_graph import graph_view, render_dot, render_text
    view = graph_view(ROOT / "configs" / "xor.yaml")
    text = render_text(view, backward=True)
    assert "Model summary" in text and "dense_0" in text and "MatMul" in text and "(?, 3)" in text
    assert "gradient of dense_0/MatMul" in text and "update: GradientDescent/update_dense_0/kernel" in text
    check_dot(render_dot(view, backward=True))
    fv = graph_view(xor_frozen)
    assert not fv.variables and all(op.role == FORWARD for op in fv.forward)
    check_dot(render_dot(fv))
    assert "kernel/read  Const (2, 3)" in render_text(fv)
    broken = tmp_path / "broken.csv"
    broken.write_text("x1,x2,y\n0,0,0\n1,oops,1\n")
    bad = tmp_path / "nodata.yaml"
    bad.write_text((ROOT / "configs" / "xor.yaml").read_text().replace("../datasets/xor.csv", str(broken)))
    warned: list[str] = []
    v2 = graph_view(bad, warn=warned.append)
    assert warned and "input_shape" in warned[0] and v2.model.input_shape == (2,)


def test_no_lazy_export_name_is_also_a_submodule() -> None:
    """Importing a submodule sets it as the package's attribute of that name, which would shadow a
    lazily loaded function of the same name (``nnctl.export.freeze`` was once both)."""
    import importlib.util

    import nnctl.export as pkg
    clash = [n for n in pkg.__all__ if importlib.util.find_spec(f"nnctl.export.{n}") is not None]
    assert clash == []
    importlib.import_module("nnctl.export.freezing")
    assert callable(pkg.freeze) and pkg.freeze.__module__ == "nnctl.export.freezing"
