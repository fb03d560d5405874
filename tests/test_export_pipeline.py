"""Export and serving of models trained through the per-column feature pipeline: numeric columns
(with gaps, clipping, log scaling, missing indicators) go into the ONNX graph so raw values go in;
a model with categories takes the encoded features; the server takes raw rows with strings and gaps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort

from nnctl.export import export, load_frozen
from nnctl.serve.app import create_app
from nnctl.train.trainer import train as run_train

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = ROOT / "datasets" / "penguins.csv"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def _train(tmp: Path, name: str, features: str, label: str = "species", label_type: str = "class",
           loss: str = "cross_entropy", units: int = 3, input_shape: int = 4) -> Path:
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(f"""name: {name}
seed: 0
data:
  train: {{csv: {PENGUINS}, labels: [{label}]}}
  val_split: 0.2
  label_type: {label_type}
  features:
{features}
model:
  input_shape: [{input_shape}]
  layers:
    - {{type: dense, units: 8, activation: relu}}
    - {{type: dense, units: {units}}}
loss: {{type: {loss}}}
optimizer: {{name: adam, lr: 0.01}}
train: {{steps: 20, batch_size: 16, eval_every: 20}}
""")
    run_train(cfg, run_dir=tmp / name, quiet=True)
    return tmp / name


def _rows() -> list[dict]:
    import csv
    with open(PENGUINS) as f:
        rows = list(csv.DictReader(f))
    # every 17th bird plus the ones with gaps ("NA")
    return [r for i, r in enumerate(rows) if i % 17 == 0 or "NA" in r.values()]


def test_numeric_pipeline_runs_inside_onnx(tmp_path: Path) -> None:
    feats = "\n".join([
        "    bill_length_mm: {type: numeric, missing: median, missing_indicator: true}",
        "    bill_depth_mm: {type: numeric, clip: [14, 20]}",
        "    flipper_length_mm: {type: numeric, scaling: minmax}",
        "    body_mass_g: {type: numeric, scaling: log1p}",
        "    island: ignore", "    sex: ignore", "    year: ignore"])
    run_dir = _train(tmp_path, "num", feats, input_shape=5)
    rep = export(run_dir, "onnx", tmp_path / "n.onnx")
    assert rep.report["verified"]
    export(run_dir, "frozen", tmp_path / "n.frozen")
    fm = load_frozen(tmp_path / "n.frozen")
    s = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
    meta = s.get_modelmeta().custom_metadata_map
    assert json.loads(meta["feature_names"]) == NUMERIC and "raw values" in meta["input"]
    rows = _rows()
    x = np.array([[float("nan") if r[c] in ("", "NA") else float(r[c]) for c in NUMERIC] for r in rows],
                 np.float32)
    assert np.isnan(x).any()  # the CSV's gaps go in as NaN
    probs = s.run(["probabilities"], {"x": x})[0]
    np.testing.assert_allclose(probs, fm.predict([{c: r[c] for c in NUMERIC} for r in rows]), rtol=1e-4, atol=1e-5)


def test_regression_with_target_scaling_predicts_in_label_units(tmp_path: Path) -> None:
    iris = ROOT / "datasets" / "iris.csv"
    cfg = tmp_path / "reg.yaml"
    cfg.write_text(f"""name: reg
seed: 0
data:
  train: {{csv: {iris}, features: [sepal_length, sepal_width, petal_length], labels: [petal_width]}}
  val_split: 0.2
  label_type: real
  target_scaling: standardize
model:
  input_shape: [3]
  layers:
    - {{type: dense, units: 8, activation: tanh}}
    - {{type: dense, units: 1}}
loss: {{type: mse}}
optimizer: {{name: adam, lr: 0.01}}
train: {{steps: 30, batch_size: 16, eval_every: 30}}
""")
    run_train(cfg, run_dir=tmp_path / "reg", quiet=True)
    assert export(tmp_path / "reg", "onnx", tmp_path / "r.onnx").report["verified"]
    export(tmp_path / "reg", "frozen", tmp_path / "r.frozen")
    fm = load_frozen(tmp_path / "r.frozen")
    s = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"])
    x = np.loadtxt(iris, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)[::9]
    pred, out = s.run(["predictions", "outputs"], {"x": x})
    rows = [dict(zip(["sepal_length", "sepal_width", "petal_length"], map(float, r))) for r in x]
    np.testing.assert_allclose(pred, fm.predict(rows), rtol=1e-4, atol=1e-4)
    assert not np.allclose(pred, out)  # the targets were standardized for training


def test_category_model_exports_encoded_input_and_serves_raw_rows(tmp_path: Path) -> None:
    run_dir = _train(tmp_path, "cat", "    island: category\n    sex: {type: category, missing: unknown}\n"
                                       "    year: ignore", input_shape=11)
    rep = export(run_dir, "onnx", tmp_path / "c.onnx")
    assert rep.report["verified"]
    s = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert "encodes" in s.get_modelmeta().custom_metadata_map["input"]
    assert json.loads(s.get_modelmeta().custom_metadata_map["pipeline"])["features"]
    assert export(run_dir, "safetensors", tmp_path / "c.safetensors").report["verified"]
    export(run_dir, "frozen", tmp_path / "c.frozen")
    fm = load_frozen(tmp_path / "c.frozen")
    app = create_app(fm)
    rows = _rows()

    async def main() -> None:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                r = await c.post("/v1/predict", json={"rows": rows})
                assert r.status_code == 200, r.text
                got = np.array([[p[k] for k in r.json()["columns"]] for p in r.json()["predictions"]])
                np.testing.assert_allclose(got, fm.predict(rows), rtol=1e-6, atol=1e-7)
                sig = (await c.get("/v1/model")).json()
                assert "island" in sig["inputs"]["columns"]
                for bad, msg in (({"island": "Mars"}, "missing columns"),
                                 ({**rows[0], "wings": 2}, "unknown column 'wings'"),
                                 ({**rows[0], "bill_depth_mm": "abc"}, "expected a number"),
                                 ({**rows[0], "sex": [1]}, "rows[0].sex")):
                    r = await c.post("/v1/predict", json={"rows": [bad]})
                    assert r.status_code == 422 and msg in r.json()["error"], r.text
                assert (await c.get("/healthz")).status_code == 200
    asyncio.run(main())
