"""Resume that respects the user: run dirs that do not collide, resume from the run dir alone, safe
changes applied and recorded, unsafe ones refused, a finished run extended."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli

from nnctl.config import load_config
from nnctl.errors import InputError
from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"
SHORT = ["train.steps=40", "train.eval_every=20", "train.checkpoint_every=20", "train.log_every=20"]


def _arrays(run_dir: Path, step: int) -> dict:
    with np.load(run_dir / "checkpoints" / f"ckpt-{step:08d}" / "arrays.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_default_run_dir_does_not_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []
    a = train(IRIS, overrides=SHORT, quiet=True, info=notes.append)
    b = train(IRIS, overrides=SHORT, quiet=True, info=notes.append)
    c = train(IRIS, overrides=SHORT, quiet=True, info=notes.append)
    assert [r.run_dir for r in (a, b, c)] == [Path("runs/iris"), Path("runs/iris-2"), Path("runs/iris-3")]
    assert notes == ["runs/iris already exists: this run goes to runs/iris-2 (use --run-dir to choose)",
                     "runs/iris already exists: this run goes to runs/iris-3 (use --run-dir to choose)"]
    code, out, err = run_cli("train", IRIS, "--quiet", *[x for s in SHORT for x in ("--set", s)])
    assert code == 0 and "runs/iris-4" in out


def test_run_dir_parents_are_created(tmp_path):
    res = train(IRIS, tmp_path / "a" / "b" / "c", SHORT, quiet=True)
    assert (res.run_dir / "summary.json").is_file()


def test_resume_from_the_run_dir_alone_extends_and_records(tmp_path):
    d = tmp_path / "run"
    train(IRIS, d, SHORT, quiet=True)
    ref = tmp_path / "ref"
    train(IRIS, ref, [*SHORT, "train.steps=80"], quiet=True)
    code, out, err = run_cli("train", "--resume", d, "--set", "train.steps=80")
    assert code == 0, err
    assert "train.steps: 40 -> 80" in out and "re-planned: 40 -> 80 steps" in out
    s = json.loads((d / "summary.json").read_text())
    assert s["steps"] == 80 and s["total_steps"] == 80
    assert s["changes"] == [{"step": 40, "changes": ["train.steps: 40 -> 80"]}]
    text = (d / "config.yaml").read_text()
    assert text.startswith("# changed on resume at step 40: train.steps: 40 -> 80\n")
    assert load_config(d / "config.yaml").train.steps == 80
    # extending a finished run is exactly the longer run (constant lr): same weights at step 80
    a, b = _arrays(d, 80), _arrays(ref, 80)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # no change now: nothing to do, said so
    code, out, err = run_cli("train", "--resume", d)
    assert code == 0 and "already complete at step 80" in out


def test_resume_lr_change_is_applied_and_shown(tmp_path):
    d = tmp_path / "run"
    train(IRIS, d, SHORT, quiet=True)
    code, out, err = run_cli("train", "--resume", d, "--set", "optimizer.lr=0.001", "--set", "train.steps=60")
    assert code == 0, err
    assert "optimizer.lr: 0.01 -> 0.001" in out and "lr 0.001 at step 40" in out
    assert yaml.safe_load((d / "config.yaml").read_text())["optimizer"]["lr"] == 0.001
    recs = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["lr"] for r in recs if r["kind"] == "batch"}
    assert lrs[40] == pytest.approx(0.01) and lrs[60] == pytest.approx(0.001)


@pytest.mark.parametrize("key", ["model.layers[0].units=8", "data.val_split=0.3", "optimizer.name=adamw",
                                 "train.batch_size=8"])
def test_resume_refuses_unsafe_changes_naming_the_key(tmp_path, key):
    d = tmp_path / "run"
    train(IRIS, d, SHORT, quiet=True)
    before = (d / "config.yaml").read_text()
    code, out, err = run_cli("train", "--resume", d, "--set", key)
    assert code == 2, err
    key_name = key.split("=")[0].split("[")[0].rsplit(".", 1)[-1]
    assert "error: " in err and key_name in err and "Traceback" not in err
    assert (d / "config.yaml").read_text() == before


def test_resume_usage_errors(tmp_path):
    with pytest.raises(InputError, match="nnctl train --resume RUN_DIR"):
        train(None, None, resume=True)
    with pytest.raises(InputError, match="not a run directory"):
        train(tmp_path, resume=True)
    with pytest.raises(InputError, match="is a directory"):
        train(tmp_path)
