"""`nnctl export`: ONNX run in onnxruntime and safetensors loaded in numpy and PyTorch, per layer family,
each checked against nnctl's own outputs; refusals leave nothing on disk."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import nnctl as tf
from nnctl.errors import InputError, RuntimeFailure
from nnctl.export import export, load_frozen, to_onnx
from nnctl.train.trainer import train as run_train
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "datasets" / "iris.csv"
DIGITS = ROOT / "datasets" / "digits.csv.gz"


def _config(tmp: Path, name: str, layers: str, *, data: str, input_shape: str, loss: str = "cross_entropy",
            label_type: str = "class", preprocess: str = "standardize", steps: int = 12) -> Path:
    cfg = tmp / f"{name}.yaml"
    scale = "\n  scale_factor: 0.0625" if preprocess == "scale" else ""
    cfg.write_text(f"""name: {name}
seed: 1
data:
  train: {data}
  val_split: 0.2
  preprocess: {preprocess}{scale}
  label_type: {label_type}
model:
  input_shape: {input_shape}
  layers:
{layers}
loss: {{type: {loss}}}
optimizer: {{name: adam, lr: 0.01}}
train: {{steps: {steps}, batch_size: 16, eval_every: {steps}}}
""")
    return cfg


def _run(tmp: Path, name: str, layers: list[str], **kw: object) -> Path:
    cfg = _config(tmp, name, "\n".join(f"    - {{{spec}}}" for spec in layers), **kw)  # type: ignore[arg-type]
    run_dir = tmp / name
    run_train(cfg, run_dir=run_dir, quiet=True)
    return run_dir


TABULAR = dict(data=f"{{csv: {IRIS}, labels: [species]}}", input_shape="[4]")
IMAGES = dict(data=f"{{csv: {DIGITS}, labels: [label]}}", input_shape="[8, 8, 1]", preprocess="scale")

# one config per layer family; each is trained for a few steps, exported and compared
FAMILIES = {
    "dense_activations": ([
        "type: dense, units: 8, activation: relu", "type: dense, units: 8, activation: relu6",
        "type: dense, units: 8, activation: leaky_relu", "type: dense, units: 8, activation: elu",
        "type: dense, units: 8, activation: gelu", "type: dense, units: 8, activation: tanh",
        "type: dense, units: 8, activation: softplus", "type: dense, units: 8, activation: sigmoid",
        "type: dense, units: 8, activation: linear", "type: dense, units: 3"], TABULAR),
    "batch_norm_dropout_activation": ([
        "type: dense, units: 8", "type: batch_norm", "type: activation, activation: relu",
        "type: dropout, rate: 0.5", "type: dense, units: 3, activation: softmax"],
        {**TABULAR, "preprocess": "minmax"}),
    "binary_sigmoid": (["type: dense, units: 6, activation: tanh", "type: dense, units: 1, activation: sigmoid"],
                       {"data": "{generator: moons, n: 200, noise: 0.1}", "input_shape": "[2]",
                        "loss": "binary_cross_entropy"}),
    "regression": (["type: dense, units: 6, activation: relu", "type: dense, units: 1"],
                   {"data": f"{{csv: {IRIS}, features: [sepal_length, sepal_width, petal_length], "
                            "labels: [petal_width]}", "input_shape": "[3]", "loss": "mse", "label_type": "real"}),
    "conv_pool": ([
        "type: conv2d, filters: 4, kernel: 3, padding: same, activation: relu",
        "type: max_pool, size: 2",
        "type: conv2d, filters: 5, kernel: [3, 2], stride: 2, padding: valid, activation: elu",
        "type: flatten", "type: dense, units: 10"], IMAGES),
    "conv_avgpool_bn": ([
        "type: conv2d, filters: 3, kernel: 2, stride: [1, 2], padding: same",
        "type: batch_norm", "type: activation, activation: relu",
        "type: avg_pool, size: 3, stride: 2, padding: same", "type: max_pool, size: 2, padding: valid",
        "type: avg_pool, size: 1, padding: valid",
        "type: flatten", "type: dropout, rate: 0.3", "type: dense, units: 10"], IMAGES),
}


def _rows(model: object, n: int = 40) -> np.ndarray:
    from nnctl.export.exporter import synthetic_sample
    return synthetic_sample(model, n, seed=7)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("families")
    return {name: _run(d, name, layers, **kw) for name, (layers, kw) in FAMILIES.items()}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_onnx_matches_nnctl_per_layer_family(family: str, runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = runs[family]
    out = tmp_path / "m.onnx"
    rep = export(run_dir, "onnx", out)
    assert rep.path == out and out.is_file() and rep.max_abs_diff <= 1e-4
    report = json.loads((tmp_path / "m.onnx.report.json").read_text())
    assert report["verified"] and report["format"] == "onnx" and report["max_abs_diff"] == rep.max_abs_diff
    assert {c["batch"] for c in report["comparisons"]} == {1, report["source"]["sample_size"]}

    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    props = {p.key: p.value for p in model.metadata_props}
    assert props["format"] == "nnctl-onnx" and "preprocessing" in props and "class_names" in props
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"]
    first = "probabilities" if "probabilities" in props["outputs"] else "predictions"
    assert props["prediction_output"] == first
    assert [o.name for o in sess.get_outputs()] == [first, "outputs", "logits"]
    assert sess.get_inputs()[0].shape[0] == "batch"

    frozen = tmp_path / "m.frozen"
    export(run_dir, "frozen", frozen)
    fm = load_frozen(frozen)
    from nnctl.export.exporter import onnx_sample
    for n in (1, 5, 40):  # the batch dimension is dynamic
        # the same rows as ONNX takes them (raw column values) and as nnctl's pipeline encodes them
        x_onnx, x = onnx_sample(fm, None, n)
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x_onnx})))
        logits, outputs = fm.run(x)
        np.testing.assert_allclose(got["logits"], logits, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["outputs"], outputs, rtol=1e-4, atol=1e-5)
        if fm.classification:
            np.testing.assert_allclose(got["probabilities"], fm.predict(x), rtol=1e-4, atol=1e-5)
        else:
            assert "probabilities" not in got
            np.testing.assert_allclose(got["predictions"], fm.predict(x), rtol=1e-4, atol=1e-5)


def test_onnx_graph_has_layer_ops(runs: dict[str, Path], tmp_path: Path) -> None:
    export(runs["conv_avgpool_bn"], "onnx", tmp_path / "c.onnx")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "c.onnx")).graph.node}
    assert {"Conv", "AveragePool", "MaxPool", "Transpose", "MatMul", "Mul", "Add", "Relu"} <= ops
    assert not any("Dropout" in o or "Random" in o for o in ops)


@pytest.mark.parametrize("family", ["dense_activations", "conv_avgpool_bn", "binary_sigmoid"])
def test_safetensors_loads_in_numpy_and_torch(family: str, runs: dict[str, Path], tmp_path: Path) -> None:
    import safetensors.numpy
    import torch
    from safetensors.torch import load_file

    run_dir = runs[family]
    out = tmp_path / "w.safetensors"
    rep = export(run_dir, "safetensors", out)
    assert rep.report["verified"] and (tmp_path / "w.safetensors.report.json").is_file()
    arrays = safetensors.numpy.load_file(str(out))
    ckpt = load_frozen(_frozen(run_dir, tmp_path))
    from nnctl.export.safetensors_export import weights
    expect = weights(ckpt)
    assert sorted(arrays) == sorted(expect) and all("/" in k for k in arrays)
    for k, v in expect.items():
        np.testing.assert_array_equal(arrays[k], v)
        assert arrays[k].flags.c_contiguous
    with open(out, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    meta = header["__metadata__"]
    assert meta["format"] == "nnctl-safetensors" and meta["created_by"].startswith("nnctl ")
    assert json.loads(meta["layers"])[0]["variables"]
    tw = load_file(str(out))
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in tw.values())
    if family == "conv_avgpool_bn":
        return _torch_conv_check(tw, ckpt, meta)
    # the MLP rebuilt in PyTorch from the file: x @ kernel + bias, then the activation
    x = _rows(ckpt, 16)
    h = torch.from_numpy(ckpt.preprocessor.transform(x))  # the graph's input
    acts = {"relu": torch.relu, "relu6": lambda t: torch.clamp(t, 0, 6),
            "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2), "elu": torch.nn.functional.elu,
            "gelu": torch.nn.functional.gelu, "tanh": torch.tanh, "softplus": torch.nn.functional.softplus,
            "sigmoid": torch.sigmoid, "linear": lambda t: t, "none": lambda t: t}
    layers = json.loads(meta["layers"])
    cfg = FAMILIES[family][0]
    with torch.no_grad():
        for li, spec in zip(layers, cfg):
            act = spec.split("activation: ")[1] if "activation: " in spec else "none"
            lin = torch.nn.Linear(*tw[f"{li['name']}/kernel"].shape)
            lin.weight.copy_(tw[f"{li['name']}/kernel"].T)
            lin.bias.copy_(tw[f"{li['name']}/bias"])
            h = lin(h)
            if li is not layers[-1]:
                h = acts[act](h)
    _, outputs = ckpt.run(x)
    logits = ckpt.run(x)[0]
    np.testing.assert_allclose(h.numpy(), logits, rtol=1e-4, atol=1e-5)
    assert outputs.shape == logits.shape


def _frozen(run_dir: Path, tmp: Path) -> Path:
    p = tmp / "ref.frozen"
    if not p.exists():
        export(run_dir, "frozen", p)
    return p


def _torch_conv_check(tw: dict, fm: object, meta: dict) -> None:
    """conv2d -> batch norm -> relu -> pools -> dense in PyTorch (NCHW) from the HWIO/[in, out] weights."""
    import torch
    import torch.nn.functional as F
    x = _rows(fm, 8)
    graph_in = fm.preprocessor.transform(x)  # what the graph's x receives (after any preprocessing)
    layers = {li["type"] + str(i): li for i, li in enumerate(json.loads(meta["layers"]))}
    names = [li["name"] for li in layers.values()]
    conv, bn, dense = names[0], names[1], names[-1]
    h = torch.from_numpy(graph_in).reshape(-1, 8, 8, 1).permute(0, 3, 1, 2)
    with torch.no_grad():
        w = tw[f"{conv}/kernel"].permute(3, 2, 0, 1)
        # TF SAME with a 2x2 kernel and stride [1, 2] on 8x8: pad bottom 1 (h), none on w
        h = F.conv2d(F.pad(h, (0, 0, 0, 1)), w, tw[f"{conv}/bias"], stride=(1, 2))
        h = F.batch_norm(h, tw[f"{bn}/moving_mean"], tw[f"{bn}/moving_variance"], tw[f"{bn}/gamma"],
                         tw[f"{bn}/beta"], training=False, eps=1e-3)
        h = torch.relu(h)
        # avg_pool 3, stride 2, SAME on 8x4: out 4x2, pads (0, 1) both ways; TF counts valid pixels only
        h = F.avg_pool2d(F.pad(h, (0, 1, 0, 1)), 3, 2) * 9 / F.avg_pool2d(
            F.pad(torch.ones_like(h), (0, 1, 0, 1)), 3, 2) / 9
        h = F.max_pool2d(h, 2)
        h = h.permute(0, 2, 3, 1).reshape(len(x), -1)
        h = h @ tw[f"{dense}/kernel"] + tw[f"{dense}/bias"]
    np.testing.assert_allclose(h.numpy(), fm.run(x)[0], rtol=1e-4, atol=1e-4)  # type: ignore[attr-defined]


def _sigmoid_instead(e: object, op: object, ins: list[str]) -> list[str]:
    """A wrong converter for Tanh: the export must notice."""
    return [e.one("Sigmoid", ins)]  # type: ignore[attr-defined]


def test_cli_export_and_refusals(runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = runs["dense_activations"]
    out = tmp_path / "cli.onnx"
    code, stdout, err = run_cli("export", run_dir, "--format", "onnx", "-o", out)
    assert code == 0, err
    assert out.is_file() and "max |diff|" in stdout and "report" in stdout
    code, _, err = run_cli("export", run_dir, "--format", "tflite", "-o", tmp_path / "x")
    assert code == 2 and "onnx, safetensors or frozen" in err or "must be one of" in err
    code, _, err = run_cli("export", tmp_path / "missing", "--format", "onnx")
    assert code == 2 and "no such file" in err
    code, _, err = run_cli("export", run_dir, "--format", "onnx", "-o", tmp_path / "nodir" / "m.onnx")
    assert code == 2 and "does not exist" in err

    # an exported file that disagrees with the checkpoint is refused: exit 1, nothing on disk
    ops = importlib.import_module("nnctl.export.onnx_ops")
    real = ops.CONVERTERS["Tanh"]
    monkeypatch.setitem(ops.CONVERTERS, "Tanh", _sigmoid_instead)
    bad = tmp_path / "bad" / "m.onnx"
    bad.parent.mkdir()
    code, _, err = run_cli("export", run_dir, "--format", "onnx", "-o", bad)
    assert code == 1, err
    assert "differs from the checkpoint" in err and "nothing was written" in err and "'" in err
    assert not list(bad.parent.iterdir())
    monkeypatch.setitem(ops.CONVERTERS, "Tanh", real)

    # an op without an ONNX mapping: exit 2 naming the op and the layer, nothing written
    monkeypatch.delitem(ops.CONVERTERS, "Elu")
    code, _, err = run_cli("export", run_dir, "--format", "onnx", "-o", bad)
    assert code == 2 and "Elu" in err and "layer 'dense_3'" in err and "nothing was written" in err
    assert not list(bad.parent.iterdir())


def test_frozen_file_target_and_freeze_spelling(runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = runs["binary_sigmoid"]
    fz = tmp_path / "b.frozen"
    code, _, err = run_cli("freeze", run_dir, "-o", fz)
    assert code == 0, err
    rep = export(fz, "onnx")  # beside the frozen file by default
    assert rep.path == tmp_path / "b.onnx" and rep.path.is_file()
    rep = export(fz, "safetensors")
    assert rep.path == tmp_path / "b.safetensors"
    with pytest.raises(InputError, match="already a frozen file"):
        export(fz, "frozen")
    rep = export(run_dir, "onnx")
    assert rep.path == run_dir / "model.onnx"


def test_tf1_graph_to_onnx(fresh_graph: object, tmp_path: Path) -> None:
    x = tf.placeholder(tf.float32, [None, 6], name="features")
    ids = tf.placeholder(tf.int32, [None], name="ids")
    w = tf.Variable(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32), name="w")
    emb = tf.Variable(np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32), name="emb")
    h = tf.nn.bias_add(tf.matmul(x, w), tf.constant(np.arange(4, dtype=np.float32)))
    h = tf.nn.leaky_relu(h, 0.1) + tf.gather(emb, ids)
    a = tf.concat([h, tf.square(h)], axis=1)
    b = tf.reduce_mean(a, axis=1, keepdims=True) - tf.reduce_max(a, axis=[1], keepdims=True)
    c = tf.transpose(tf.reshape(a, [-1, 2, 4]), [0, 2, 1])[:, 1:, ::2]
    d = tf.where(h > 0, h, tf.zeros_like(h) - 1.0)
    e = tf.pad(tf.expand_dims(tf.nn.softmax(h), 1), [[0, 0], [1, 0], [0, 2]])
    f = tf.stack([tf.reduce_sum(h, axis=1), tf.sqrt(tf.abs(tf.reduce_min(h, axis=1)) + 1.0)], axis=1)
    g = tf.tile(tf.nn.log_softmax(h)[:, :2], [1, 3]) * tf.exp(tf.tanh(h[:, 0:1]))
    outs = {"b": b, "c": c, "d": d, "e": e, "f": f, "g": tf.cast(g, tf.float64)}
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        path = tmp_path / "tf1.onnx"
        to_onnx(sess, {"features": x, "ids": ids}, outs, path, sample={"ids": np.array([0, 4, 2])})
        assert path.is_file() and json.loads((tmp_path / "tf1.onnx.report.json").read_text())["verified"]
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        xv = np.random.default_rng(5).standard_normal((7, 6)).astype(np.float32)
        iv = np.array([3, 0, 1, 2, 4, 4, 0], np.int32)
        got = dict(zip(outs, s.run(list(outs), {"features": xv, "ids": iv})))
        ref = sess.run(outs, {x: xv, ids: iv})
        for k in outs:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)

        drop = tf.nn.dropout(h, rate=0.5, seed=1)
        with pytest.raises(InputError, match=r"DropoutMask.*random"):
            to_onnx(sess, [x, ids], [drop], tmp_path / "no.onnx")
        with pytest.raises(InputError, match="placeholder 'ids'"):
            to_onnx(sess, [x], [h], tmp_path / "no.onnx")
        assert not (tmp_path / "no.onnx").exists()


def test_tf1_refuses_disagreeing_export(fresh_graph: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    ops = importlib.import_module("nnctl.export.onnx_ops")
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    y = tf.tanh(x * 4.0)
    monkeypatch.setitem(ops.CONVERTERS, "Tanh", _sigmoid_instead)
    with tf.Session() as sess, pytest.raises(RuntimeFailure, match="output 'y' differs"):
        to_onnx(sess, [x], {"y": y}, tmp_path / "y.onnx")
    assert not list(tmp_path.iterdir())
