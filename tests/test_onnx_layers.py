"""ONNX and safetensors export of the layer families beyond the first eight (sequence, attention,
merges, normalization, shape layers, several inputs): each trained briefly, exported (which
verifies), then run in onnxruntime on digit rows and compared with the frozen model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nnctl.export import export, load_frozen
from nnctl.train.trainer import train as run_train

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "datasets" / "digits.csv.gz"
IRIS = ROOT / "datasets" / "iris.csv"

# Model sections. Sequence models read iris (4 measurements, 0.1 .. 7.9: as token ids 0 .. 7, or as
# 2 steps of 2 features), so the unrolled recurrences stay short; the others read the 8x8 digits.
FAMILIES = {
    "embedding_lstm": ("input_shape: [4]", [
        "type: embedding, input_dim: 8, output_dim: 4, padding_id: 0",
        "type: lstm, units: 5, bidirectional: true", "type: dense, units: 3"]),
    "gru": ("input_shape: [4]", [
        "type: embedding, input_dim: 8, output_dim: 4", "type: gru, units: 4, return_sequences: true",
        "type: gru, units: 3, reset_after: false", "type: dense, units: 3"]),
    "simple_rnn_masking": ("input_shape: [2, 2]", [
        "type: masking", "type: simple_rnn, units: 4, bidirectional: true, merge: sum", "type: dense, units: 3"]),
    "attention": ("input_shape: [4]", [
        "type: embedding, input_dim: 8, output_dim: 8", "type: positional_embedding",
        "type: multi_head_attention, heads: 2, causal: true", "type: layer_norm", "type: global_avg_pool",
        "type: dense, units: 3"]),
    "transformer": ("input_shape: [4]", [
        "type: embedding, input_dim: 8, output_dim: 8, padding_id: 0",
        "type: positional_embedding, kind: sinusoidal",
        "type: transformer_block, heads: 2, mlp_units: 8, dropout: 0.1", "type: global_max_pool",
        "type: dense, units: 3"]),
    "merges_group_norm": ("input_shape: [8, 8, 1]", [
        "type: conv2d, name: stem, filters: 4, activation: relu", "type: conv2d, name: c1, filters: 4",
        "type: add, name: sum, inputs: [stem, c1]", "type: multiply, name: mul, inputs: [sum, c1]",
        "type: concat, name: cat, inputs: [mul, stem]", "type: group_norm, groups: 2",
        "type: global_avg_pool", "type: dense, units: 10"]),
    "reshape_permute_repeat": ("input_shape: [64]", [
        "type: reshape, shape: [8, 8]", "type: permute, dims: [2, 1]", "type: flatten", "type: repeat, times: 2",
        "type: flatten", "type: dense, units: 10"]),
    "several_inputs": ("inputs:\n    - {name: top, shape: [4, 8], columns: '0:32'}\n"
                       "    - {name: bottom, shape: [32], columns: '32:64'}", [
        "type: flatten, name: f, inputs: top", "type: dense, name: a, units: 8, activation: relu",
        "type: dense, name: b, units: 8, activation: relu, inputs: bottom",
        "type: concat, name: cat, inputs: [a, b]", "type: dense, name: out, units: 10"]),
}


def _sequence(name: str) -> bool:
    return FAMILIES[name][1][-1].endswith("units: 3")


def _run(tmp: Path, name: str) -> Path:
    shape, layers = FAMILIES[name]
    data = f"{{csv: {IRIS}, labels: [species]}}" if _sequence(name) else f"{{csv: {DIGITS}, labels: [label]}}"
    body = "\n".join(f"    - {{{spec}}}" for spec in layers)
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"""name: {name}
seed: 1
data:
  train: {data}
  val_split: 0.2
  label_type: class
model:
  {shape}
  layers:
{body}
loss: {{type: cross_entropy}}
optimizer: {{name: adam, lr: 0.01}}
train: {{steps: 6, batch_size: 16, eval_every: 6}}
""")
    run_train(cfg, run_dir=tmp / name, quiet=True)
    return tmp / name


def _encoded(fm: object, x: np.ndarray) -> np.ndarray:
    """Raw columns as nnctl's own feature pipeline encodes them (the frozen graph's input)."""
    pipe = getattr(fm, "pipeline", None)
    if pipe is None:
        return x
    from nnctl.data.tabular import encode_rows
    cols = pipe.input_columns
    cols = cols() if callable(cols) else cols
    return encode_rows({c: [float(v) for v in x[:, i]] for i, c in enumerate(cols)}, pipe)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_layer_family_exports_to_onnx_and_safetensors(family: str, tmp_path: Path) -> None:
    run_dir = _run(tmp_path, family)
    rep = export(run_dir, "onnx", tmp_path / "m.onnx")
    assert rep.report["verified"]
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)
    export(run_dir, "frozen", tmp_path / "m.frozen")
    fm = load_frozen(tmp_path / "m.frozen")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    if _sequence(family):
        x = np.loadtxt(IRIS, delimiter=",", skiprows=1, usecols=(0, 1, 2, 3), dtype=np.float32)[::7]
    else:
        x = np.loadtxt(DIGITS, delimiter=",", skiprows=1, max_rows=23, dtype=np.float32)[:, :64]
    logits, probs = sess.run(["logits", "probabilities"], {"x": x})  # raw column values
    enc = _encoded(fm, x)
    np.testing.assert_allclose(logits, fm.run(enc)[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs, fm.predict(enc), rtol=1e-4, atol=1e-5)
    rep = export(run_dir, "safetensors", tmp_path / "m.safetensors")
    assert rep.report["verified"] and rep.report["tensors"]
