"""``nnctl tune``: search spaces, studies on Optuna, pruning, parallel workers, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from nnctl.config import load_config
from nnctl.errors import ConfigError, InputError
from nnctl.tune import metric_direction, parse_space_text, study_trials, tune

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "configs" / "xor.yaml"
DIGITS = ROOT / "configs" / "digits-mlp.yaml"

optuna = pytest.importorskip("optuna")


def _space(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


# --- spaces ------------------------------------------------------------------------------------
def test_space_parses_every_distribution():
    s = parse_space_text("optimizer.lr: {loguniform: [1.0e-4, 0.1]}\n"
                         "model.layers.0.units: {int: [16, 256], step: 16}\n"
                         "model.layers[1].rate: {uniform: [0.0, 0.5]}\n"
                         "optimizer.name: {choice: [adam, sgd]}\n"
                         "train.batch_size: [16, 32]\n", "s.yaml")
    kinds = {p.key: (p.kind, p.log, p.step) for p in s.params}
    assert kinds == {"optimizer.lr": ("float", True, None), "model.layers[0].units": ("int", False, 16),
                     "model.layers[1].rate": ("float", False, None), "optimizer.name": ("choice", False, None),
                     "train.batch_size": ("choice", False, None)}
    d = s.params[1].distribution()
    assert (d.low, d.high, d.step) == (16, 256, 16)
    assert s.overrides({"optimizer.lr": 0.01, "model.layers[0].units": 32, "model.layers[1].rate": 0.25,
                        "optimizer.name": "adam", "train.batch_size": 16})[0] == "optimizer.lr=0.01"


@pytest.mark.parametrize("text, line, words", [
    ("optimizer.lr: {gaussian: [0, 1]}\n", 1, "unknown entry 'gaussian'"),
    ("a: {uniform: [0, 1]}\noptimizer.lr: {uniform: [0.5, 0.1]}\n", 2, "low (0.5) must be below high (0.1)"),
    ("optimizer.lr: {loguniform: [0.0, 0.1]}\n", 1, "log scale needs low > 0"),
    ("model.layers[0].units: {int: [1.5, 8]}\n", 1, "whole numbers"),
    ("optimizer.lr: 0.1\n", 1, "expected a distribution"),
    ("optimizer.lr: {uniform: [0, 1], int: [0, 1]}\n", 1, "two distributions"),
    ("model.input_shape: {choice: [[2], [3]]}\n", 1, "list-valued settings cannot be searched"),
    ("optimizer..lr: {uniform: [0, 1]}\n", 1, "malformed key"),
    ("optimizer.lr: {uniform: [0, 1]}\noptimizer.lr: {uniform: [0, 2]}\n", 2, "duplicate"),
])
def test_space_errors_name_file_line_and_key(text, line, words):
    with pytest.raises(ConfigError) as e:
        parse_space_text(text, "space.yaml")
    assert f"space.yaml:{line}:" in str(e.value)
    assert words in str(e.value)


def test_space_checked_against_the_config(tmp_path):
    sp = _space(tmp_path, "optimizer.lr: {uniform: [0.1, 1.0]}\nmodel.layers[7].units: {int: [2, 4]}\n")
    with pytest.raises(ConfigError) as e:
        tune(XOR, sp, 2, study_dir=tmp_path / "s")
    msg = str(e.value)
    assert f"{sp}:2: model.layers[7].units:" in msg and "out of range" in msg
    sp = _space(tmp_path, "model.layers[0].units: {int: [-3, 4]}\n")
    code, _, err = run_cli("tune", XOR, "--space", sp, "--study-dir", tmp_path / "s2")
    assert code == 2 and "units = -3" in err and "Traceback" not in err
    assert not (tmp_path / "s2" / "trial-0000").exists()


def test_metric_and_direction_checks(tmp_path):
    sp = _space(tmp_path, "optimizer.lr: {uniform: [0.5, 2.0]}\n")
    with pytest.raises(InputError, match="no validation data"):
        tune(XOR, sp, 1, study_dir=tmp_path / "a")
    with pytest.raises(InputError, match="the runs report train_loss, train_accuracy"):
        tune(XOR, sp, 1, study_dir=tmp_path / "b", metric="train_f7")
    assert metric_direction("val_accuracy") == "maximize" and metric_direction("val_loss") == "minimize"
    assert metric_direction("train_mse") == "minimize"


# --- studies -----------------------------------------------------------------------------------
def test_study_on_xor_writes_runs_best_config_and_starts_from_the_config(tmp_path):
    sp = _space(tmp_path, "optimizer.lr: {loguniform: [0.1, 3.0]}\nmodel.layers[0].units: {int: [2, 8]}\n")
    seen = []
    res = tune(XOR, sp, 4, study_dir=tmp_path / "study", metric="train_loss", pruner="none", report=seen.append)
    assert [r.state for r in res.trials] == ["complete"] * 4 and len(seen) == 4
    # trial 0 is the config as shipped, so the search can never report something worse than it
    assert res.trials[0].params == {"optimizer.lr": 1.0, "model.layers[0].units": 3}
    assert res.best.value == min(r.value for r in res.trials)
    for r in res.trials:
        summary = json.loads(Path(r.run_dir, "summary.json").read_text())
        assert summary["status"] == "completed"
        stored = yaml.safe_load(Path(r.run_dir, "config.yaml").read_text())
        assert stored["optimizer"]["lr"] == pytest.approx(r.params["optimizer.lr"])
        assert stored["model"]["layers"][0]["units"] == r.params["model.layers[0].units"]
    best = load_config(res.best_config)
    assert best.optimizer.lr == pytest.approx(res.best.params["optimizer.lr"])
    table = json.loads((tmp_path / "study" / "trials.json").read_text())
    assert [t["number"] for t in table["trials"]] == [0, 1, 2, 3]
    # more trials later: the same command with a larger budget continues the study
    res2 = tune(XOR, sp, 6, study_dir=tmp_path / "study", metric="train_loss", pruner="none")
    assert len(res2.trials) == 6 and res2.counts == {"complete": 6}
    # a different space on the same folder is refused
    sp2 = _space(tmp_path, "optimizer.lr: {loguniform: [0.1, 2.0]}\n")
    with pytest.raises(InputError, match="different search"):
        tune(XOR, sp2, 6, study_dir=tmp_path / "study", metric="train_loss")


def test_pruner_stops_bad_trials_through_the_trainer(tmp_path):
    # lr far too small cannot catch up with trial 0; with eval_every small, the median rule prunes
    sp = _space(tmp_path, "optimizer.lr: {loguniform: [1.0e-4, 1.0e-3]}\n")
    res = tune(XOR, sp, 6, study_dir=tmp_path / "s", metric="train_loss", sampler="random",
               overrides=["optimizer.lr=2.0", "train.eval_every=50"], direction="min")
    pruned = [r for r in res.trials if r.state == "pruned"]
    assert pruned, [r.state for r in res.trials]
    for r in pruned:
        s = json.loads(Path(r.run_dir, "summary.json").read_text())
        assert s["status"] == "pruned" and s["steps"] < s["total_steps"]
    trials = study_trials(tmp_path / "s")
    assert [t.number for t in trials] == list(range(6))


def test_parallel_jobs_keep_the_budget(tmp_path):
    sp = _space(tmp_path, "optimizer.lr: {loguniform: [0.1, 3.0]}\n")
    code, out, err = run_cli("tune", XOR, "--space", sp, "--trials", "5", "--jobs", "2", "--study-dir",
                             tmp_path / "s", "--metric", "train_loss", "--pruner", "none")
    assert code == 0, err
    trials = study_trials(tmp_path / "s")
    assert len(trials) == 5 and all(t.state == "complete" for t in trials)
    assert sorted(out.count(f"trial {i}:") for i in range(5)) == [1] * 5
    assert "best config:" in out


def test_second_search_on_a_live_study_is_refused(tmp_path):
    import fcntl
    sp = _space(tmp_path, "optimizer.lr: {uniform: [0.5, 2.0]}\n")
    study = tmp_path / "s"
    study.mkdir()
    with open(study / ".lock", "w") as f:
        f.write("pid 4242 on elsewhere")
        f.flush()
        fcntl.flock(f, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="already running on this study folder .pid 4242"):
            tune(XOR, sp, 1, study_dir=study, metric="train_loss")


SHORT = ["train.epochs=6", "train.checkpoint_every=30", "train.eval_every=90", "model.layers[0].units=64"]


def test_kill_9_mid_trial_then_resume_continues_that_trial(tmp_path):
    sp = _space(tmp_path, "optimizer.lr: {loguniform: [3.0e-4, 3.0e-3]}\n")
    study = tmp_path / "s"
    cmd = [sys.executable, "-m", "nnctl", "tune", str(DIGITS), "--space", str(sp), "--trials", "2",
           "--study-dir", str(study), "--pruner", "none", *sum((["--set", o] for o in SHORT), [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck = study / "trial-0000" / "checkpoints"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (ck.exists() and any(ck.glob("ckpt-*"))):
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # the kill landed mid-run: trial 0 has a checkpoint but no summary
    assert any(ck.glob("ckpt-*")) and not (study / "trial-0000" / "summary.json").exists()
    assert [t.state for t in study_trials(study)] == ["running"]
    warnings = []
    res = tune(DIGITS, sp, 2, study_dir=study, pruner="none", warn=warnings.append,
               overrides=SHORT)
    assert res.resumed == 1 and any("resuming 1 interrupted trial" in w for w in warnings)
    states = [(t.number, t.state, Path(t.run_dir).name) for t in res.trials]
    # the dead trial is failed; its retry (same parameters) continued in the same run dir
    assert states[0] == (0, "fail", "trial-0000") and (1, "complete", "trial-0000") in states
    assert res.trials[1].params == res.trials[0].params
    assert res.counts["complete"] == 2
    recs = [json.loads(line) for line in (study / "trial-0000" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in recs if r["split"] == "train" and r["kind"] == "batch"]
    assert steps == sorted(set(steps))  # continued, not restarted: no step logged twice
    assert json.loads((study / "trial-0000" / "summary.json").read_text())["status"] == "completed"
