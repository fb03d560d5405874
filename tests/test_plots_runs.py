"""nnctl plot (PNG and terminal), nnctl eval --confusion-matrix, nnctl runs (table, --sort, --json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from nnctl.runs_table import list_runs
from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for lr in ("0.01", "0.05", "0.2"):
        train(IRIS, root / f"iris-lr{lr}", ["train.steps=60", "train.eval_every=20", f"optimizer.lr={lr}",
                                            "metrics=[accuracy, f1_macro]"], quiet=True)
    return root


def test_plot_png_overlays_runs(three_runs, tmp_path):
    out = tmp_path / "curves.png"
    code, _, err = run_cli("plot", *sorted(three_runs.iterdir()), "-o", out, "--metric", "f1_macro", "--log")
    assert code == 0, err
    assert out.read_bytes().startswith(PNG) and "loss, f1_macro of 3 run(s)" in err
    from PIL import Image
    w, h = Image.open(out).size
    assert w > 2 * h > 300   # two panels side by side


def test_plot_terminal_and_errors(three_runs, tmp_path):
    code, out, err = run_cli("plot", three_runs / "iris-lr0.05")
    assert code == 0, err
    assert "loss" in out and "iris-lr0.05 val" in out
    code, _, err = run_cli("plot", three_runs / "iris-lr0.05", "--metric", "r2")
    assert code == 2 and err.startswith("error: --metric r2: not logged") and "f1_macro" in err
    code, _, err = run_cli("plot", three_runs / "iris-lr0.05", "-o", tmp_path)
    assert code == 2 and "is a directory" in err
    code, _, err = run_cli("plot", three_runs / "iris-lr0.05", "-o", tmp_path / "nope" / "x.png")
    assert code == 2 and "does not exist" in err


def test_eval_confusion_matrix_png(three_runs, tmp_path):
    out = tmp_path / "cm.png"
    code, stdout, err = run_cli("eval", three_runs / "iris-lr0.05", "--confusion-matrix", out)
    assert code == 0, err
    assert out.read_bytes().startswith(PNG)
    assert "confusion matrix" in stdout and "setosa" in stdout


def test_runs_table_sort_and_json(three_runs):
    runs = list_runs(three_runs, sort="val_loss")
    losses = [r.value("val_loss") for r in runs]
    assert losses == sorted(losses) and len(runs) == 3
    assert all(set(r.differences) == {"optimizer.lr"} for r in runs)
    code, out, err = run_cli("runs", three_runs, "--json", "--sort", "val_accuracy")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == [r.name for r in list_runs(three_runs, sort="val_accuracy")]
    assert rows[0]["status"] == "completed" and rows[0]["steps"] == 60 and "val" in rows[0]["final"]
    code, out, err = run_cli("runs", three_runs)
    assert code == 0 and "iris-lr0.2" in out and "lr" in out
    code, _, err = run_cli("runs", three_runs, "--sort", "val_nothing")
    assert code == 2 and "--sort val_nothing" in err
