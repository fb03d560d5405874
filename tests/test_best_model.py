"""train.best_metric, restore_best, class weights in training, and eval/freeze choosing the best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from nnctl.config import load_config
from nnctl.errors import ConfigError
from nnctl.train.rundir import read_metrics, reopen
from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"
FAST = ["train.epochs=null", "train.steps=60", "train.eval_every=10", "train.checkpoint_every=1000",
        "train.keep_last=1"]


def _iris(tmp_path: Path, *sets: str, name: str = "run") -> Path:
    res = train(IRIS, tmp_path / name, [*FAST, *sets], quiet=True)
    return res.run_dir


def test_best_metric_any_metric_min_or_max_and_ties_prefer_later(tmp_path):
    d = _iris(tmp_path, "metrics=[accuracy, f1_macro, log_loss]", "train.best_metric=val_log_loss")
    evals = [r for r in read_metrics(d / "metrics.jsonl") if r["kind"] == "eval" and r["split"] == "val"]
    want = min(evals, key=lambda r: (r["log_loss"], -r["step"]))  # min; among equal values the later step
    best = json.loads((d / "checkpoints" / "best.json").read_text())
    assert best == {"step": want["step"], "metric": "val_log_loss", "value": want["log_loss"]}
    assert (d / "checkpoints" / f"ckpt-{want['step']:08d}").is_dir()  # kept although keep_last is 1
    d2 = _iris(tmp_path, "train.best_metric=val_accuracy", name="acc")
    evals = [r for r in read_metrics(d2 / "metrics.jsonl") if r["kind"] == "eval" and r["split"] == "val"]
    top = max(r["accuracy"] for r in evals)
    latest_top = max(r["step"] for r in evals if r["accuracy"] == top)
    assert json.loads((d2 / "checkpoints" / "best.json").read_text())["step"] == latest_top


def test_best_metric_unknown_is_a_config_error():
    with pytest.raises(ConfigError, match="train.best_metric.*did you mean 'val_accuracy'"):
        load_config(IRIS, ["train.best_metric=val_acuracy"])
    with pytest.raises(ConfigError, match="'r2' is a regression metric"):
        load_config(IRIS, ["metrics=[r2]"])


def test_resolved_best_defaults():
    t = load_config(IRIS).train
    assert (t.best_metric, t.best_mode, t.restore_best) == ("val_accuracy", "max", False)
    t = load_config(IRIS, ["train.early_stopping={metric: val_loss, patience: 3}"]).train
    assert (t.best_metric, t.best_mode, t.restore_best) == ("val_loss", "min", True)


def test_eval_and_freeze_default_to_best_and_say_so(tmp_path):
    d = _iris(tmp_path, "train.best_metric=val_loss", "optimizer.lr=0.2")
    best = json.loads((d / "checkpoints" / "best.json").read_text())["step"]
    code, out, err = run_cli("eval", d, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["checkpoint"] == best and res["checkpoint_choice"] == "best"
    assert f"checkpoint step {best} (best)" in err
    code, out, err = run_cli("eval", d, "--checkpoint", "latest", "--json")
    assert json.loads(out)["checkpoint"] == 60 and "(latest)" in err
    code, out, err = run_cli("freeze", d, "-o", tmp_path / "m.frozen")
    assert code == 0, err
    assert f"froze checkpoint step {best} (best)" in out


def test_restore_best_ends_on_the_best_weights(tmp_path):
    d = _iris(tmp_path, "train.best_metric=val_loss", "train.restore_best=true", "optimizer.lr=0.2")
    s = json.loads((d / "summary.json").read_text())
    best = json.loads((d / "checkpoints" / "best.json").read_text())["step"]
    assert s["result_checkpoint"] == best


def test_class_weights_train_the_weighted_loss(tmp_path):
    d = _iris(tmp_path, "loss.class_weights=[1.0, 3.0, 0.5]")
    run = reopen(d, "latest")
    try:
        assert np.allclose(run.model.class_weights, [1.0, 3.0, 0.5])
        tr = run.splits.train
        # the training-graph loss (no dropout here) on a batch equals the evaluation's weighted loss
        graph_loss = float(run.sess.run(run.model.loss, {run.model.x: tr.x, run.model.y: tr.y}))
        from nnctl.train.evaluation import evaluate_model
        assert evaluate_model(run.model, run.sess, tr, run.cfg)["loss"] == pytest.approx(graph_loss, rel=1e-5)
    finally:
        run.close()
    d2 = _iris(tmp_path, "loss.class_weights=balanced", name="bal")
    run = reopen(d2)
    try:
        y = run.splits.train.y
        counts = np.bincount(y, minlength=3)
        assert np.allclose(run.model.class_weights, len(y) / (3 * counts))
    finally:
        run.close()
