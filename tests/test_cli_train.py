"""``nnctl train`` and ``nnctl validate`` end to end, through a real subprocess.

Exit codes, stdout and stderr are the ones a user sees. Every error case also checks that no
Python traceback leaks out: the CLI must turn every problem into one message.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nnctl.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
XOR = CONFIGS / "xor.yaml"
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))
ANSI = re.compile(r"\x1b\[")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("FORCE_COLOR", "NNCTL_DEBUG"):
        env.pop(k, None)
    env["COLUMNS"] = "120"
    return env


def nnctl(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m nnctl.cli ARGS`` with stdout/stderr captured (so neither is a TTY)."""
    return subprocess.run([sys.executable, "-m", "nnctl.cli", *map(str, args)], capture_output=True, text=True,
                          env=_env(), cwd=cwd or ROOT, timeout=300)


def assert_input_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit code 2, one message on stderr containing every needle, no traceback."""
    assert r.returncode == 2, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    assert "Traceback" not in r.stdout, r.stdout
    for n in needles:
        assert n in r.stderr, f"{n!r} not in stderr:\n{r.stderr}"


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def _ckpt_steps(run_dir: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (run_dir / "checkpoints").glob("ckpt-*") if p.is_dir())


# --- train ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xor_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    d = tmp_path_factory.mktemp("xor") / "run"
    r = nnctl("train", XOR, "--run-dir", d)
    assert r.returncode == 0, r.stderr
    return d, r


def test_train_writes_the_run_dir(xor_run):
    d, _ = xor_run
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "summary.json", "checkpoints"):
        assert (d / name).exists(), name
    for c in (d / "checkpoints").glob("ckpt-*"):
        assert {"arrays.npz", "state.json", "manifest.json"} <= {p.name for p in c.iterdir()}


def test_config_yaml_is_resolved_and_reloadable(xor_run):
    d, _ = xor_run
    raw = yaml.safe_load((d / "config.yaml").read_text())
    # resolved: defaults filled in, data path absolute, layer names assigned
    assert raw["train"]["log_every"] == 50 and raw["backend"] == "numpy"
    assert Path(raw["data"]["train"]["csv"]).is_absolute()
    assert [layer["name"] for layer in raw["model"]["layers"]] == ["dense_0", "dense_1"]
    cfg = load_config(d / "config.yaml")
    orig = load_config(XOR)
    assert cfg.name == orig.name == "xor"
    assert cfg.optimizer.lr == orig.optimizer.lr == 1.0
    assert cfg.train.steps == 500 and cfg.train.keep_last == 3
    assert cfg.model.input_shape == orig.model.input_shape


def test_metrics_jsonl_records(xor_run):
    d, _ = xor_run
    recs = _records(d)
    assert recs, "metrics.jsonl is empty"
    for r in recs:
        assert {"step", "epoch", "split", "loss", "time"} <= set(r), r
        assert isinstance(r["step"], int) and isinstance(r["epoch"], int)
        assert isinstance(r["loss"], float) and isinstance(r["time"], (int, float))
        assert r["split"] in ("train", "val")
        assert "lr" in r or "accuracy" in r, r
    batch = [r for r in recs if r.get("kind") == "batch"]
    evals = [r for r in recs if r.get("kind") == "eval"]
    assert [r["step"] for r in batch] == list(range(50, 501, 50))  # log_every 50
    assert all(r["lr"] == 1.0 for r in batch)
    assert [r["step"] for r in evals] == [100, 200, 300, 400, 500]  # eval_every 100; no val split
    assert all(r["split"] == "train" and {"accuracy", "mse"} <= set(r) for r in evals)
    times = [r["time"] for r in recs]
    assert times == sorted(times)


def test_metrics_csv_matches_jsonl(xor_run):
    d, _ = xor_run
    recs = _records(d)
    with open(d / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(recs)
    assert {"step", "epoch", "split", "loss", "lr", "accuracy", "time"} <= set(rows[0])
    for row, rec in zip(rows, recs):
        assert int(row["step"]) == rec["step"] and row["split"] == rec["split"]
        assert float(row["loss"]) == pytest.approx(rec["loss"])


def test_checkpoint_retention_keep_last(xor_run):
    d, _ = xor_run
    assert _ckpt_steps(d) == [300, 400, 500]  # checkpoint_every 100, keep_last 3


def test_summary_json(xor_run):
    d, _ = xor_run
    s = json.loads((d / "summary.json").read_text())
    assert s["name"] == "xor" and s["status"] == "completed"
    assert s["steps"] == s["total_steps"] == 500
    assert s["params"] == 13
    assert s["final"]["train"]["accuracy"] == 1.0
    assert "val" not in s["final"]


def test_plain_output_when_not_a_tty(xor_run):
    d, r = xor_run
    assert not ANSI.search(r.stdout), "ANSI escapes in non-TTY output"
    assert not ANSI.search(r.stderr)
    lines = r.stdout.splitlines()
    progress = [x for x in lines if x.startswith("step ")]
    assert progress[0].startswith("step 50/500")
    assert any(x.startswith("step 500/500") and "train eval" in x and "accuracy 1" in x for x in progress)
    assert "completed: 500 steps" in r.stdout
    assert f"run dir: {d}" in r.stdout


def test_model_summary_table_comes_first(xor_run):
    _, r = xor_run
    out = r.stdout
    assert "Model summary" in out
    for cell in ("dense_0", "dense_1", "(?, 3)", "(?, 1)", "13"):
        assert cell in out
    assert out.index("Model summary") < out.index("step 50/500")


def test_set_overrides_take_effect(tmp_path):
    d = tmp_path / "run"
    r = nnctl("train", XOR, "--run-dir", d, "--quiet", "--set", "optimizer.lr=0.5",
              "--set", "train.checkpoint_every=10")
    assert r.returncode == 0, r.stderr
    raw = yaml.safe_load((d / "config.yaml").read_text())
    assert raw["optimizer"]["lr"] == 0.5
    assert raw["train"]["checkpoint_every"] == 10
    assert load_config(d / "config.yaml").optimizer.lr == 0.5
    assert _ckpt_steps(d) == [480, 490, 500]  # every 10 steps, the last 3 kept
    assert {r["lr"] for r in _records(d) if r.get("kind") == "batch"} == {0.5}


def test_set_unknown_path_is_exit_2(tmp_path):
    d = tmp_path / "run"
    r = nnctl("train", XOR, "--run-dir", d, "--set", "optimizer.lrr=0.5")
    assert_input_error(r, "optimizer.lrr", "--set", "did you mean 'lr'")
    r = nnctl("train", XOR, "--run-dir", d, "--set", "nosuch.key=1")
    assert_input_error(r, "nosuch")
    assert not (d / "checkpoints").exists()


def test_set_out_of_range_is_exit_2(tmp_path):
    r = nnctl("train", XOR, "--run-dir", tmp_path / "run", "--set", "optimizer.lr=-1")
    assert_input_error(r, "optimizer.lr", "--set", "> 0")


def test_default_run_dir_is_runs_name_in_cwd(tmp_path):
    r = nnctl("train", XOR, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = tmp_path / "runs" / "xor"
    assert (d / "summary.json").is_file() and (d / "config.yaml").is_file()
    assert _ckpt_steps(d) == [300, 400, 500]
    assert "run dir: runs/xor" in r.stdout


def test_existing_run_dir_is_refused_with_resume_hint(xor_run):
    d, _ = xor_run
    before = (d / "summary.json").read_bytes()
    r = nnctl("train", XOR, "--run-dir", d)
    assert_input_error(r, str(d), "already exists", "--resume")
    assert (d / "summary.json").read_bytes() == before


def test_quiet_prints_only_the_final_summary(tmp_path):
    d = tmp_path / "run"
    r = nnctl("train", XOR, "--run-dir", d, "--quiet")
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    assert lines[0].startswith("completed: 500 steps in ")
    assert "accuracy 1" in lines[0]
    assert lines[1] == f"run dir: {d}"
    assert len(lines) == 2, r.stdout
    assert "Model summary" not in r.stdout and "step 50" not in r.stdout
    assert r.stderr == ""


def test_train_config_error_is_exit_2(tmp_path):
    p = _write(tmp_path, _xor_text().replace("  lr: 1.0", "  lrr: 1.0"))
    r = nnctl("train", p, "--run-dir", tmp_path / "run")
    assert_input_error(r, f"{p.name}:{_line(p, 'lrr:')}:", "optimizer.lrr")
    assert not (tmp_path / "run").exists()


def test_usage_error_is_exit_2():
    r = nnctl("train")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    r = nnctl("train", ROOT / "configs" / "no-such.yaml", "--run-dir", "/nonexistent/x")
    assert_input_error(r, "no-such.yaml")


# --- validate -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED)
def test_validate_shipped_configs(name, tmp_path):
    from test_examples import _overrides  # digits-images: the test writes its PNG folder first
    sets = [a for o in _overrides(Path(name).stem, tmp_path) for a in ("--set", o)]
    r = nnctl("validate", CONFIGS / name, *sets)
    assert r.returncode == 0, r.stderr
    assert f"{name}: OK" in r.stdout
    assert "graph:" in r.stdout and "Total" in r.stdout
    assert "Traceback" not in r.stderr


def _xor_text() -> str:
    """configs/xor.yaml with its data path made absolute, so a copy works from any folder."""
    return XOR.read_text().replace("csv: ../datasets/xor.csv", f"csv: {ROOT / 'datasets' / 'xor.csv'}")


def _write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _line(p: Path, needle: str, nth: int = 0) -> int:
    """1-based number of the nth line of ``p`` containing ``needle``."""
    hits = [i + 1 for i, x in enumerate(p.read_text().splitlines()) if needle in x]
    return hits[nth]


def test_validate_copy_of_xor_is_ok(tmp_path):
    p = _write(tmp_path, _xor_text())
    r = nnctl("validate", p)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout


def test_validate_unknown_key_suggests(tmp_path):
    p = _write(tmp_path, _xor_text().replace("  lr: 1.0", "  lrr: 1.0"))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'lrr:')}:", "optimizer.lrr", "unknown key 'lrr'",
                       "did you mean 'lr'")


def test_validate_wrong_type(tmp_path):
    p = _write(tmp_path, _xor_text().replace("units: 3", "units: three"))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'units: three')}:", "model.layers[0].units", "three")


@pytest.mark.parametrize("old,new,key", [
    ("  lr: 1.0", "  lr: 0", "optimizer.lr"),
    ("  lr: 1.0", "  lr: -0.5", "optimizer.lr"),
    ("units: 3", "units: 0", "model.layers[0].units"),
])
def test_validate_out_of_range(tmp_path, old, new, key):
    p = _write(tmp_path, _xor_text().replace(old, new))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, new.strip())}:", key, "out of range")


def test_validate_missing_required_key(tmp_path):
    text = "\n".join(x for x in _xor_text().splitlines() if not x.startswith("name:")) + "\n"
    p = _write(tmp_path, text)
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:", "missing required key 'name'")
    text = _xor_text().replace("  name: sgd\n  lr: 1.0\n", "  name: sgd\n")
    p = _write(tmp_path, text, "nolr.yaml")
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'optimizer:')}:", "optimizer.lr", "missing required key 'lr'")


def test_validate_invalid_yaml(tmp_path):
    p = _write(tmp_path, _xor_text().replace("  lr: 1.0", "  lr: [1.0\n  momentum: 2"))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:", "invalid YAML")
    assert re.search(re.escape(p.name) + r":\d+:", r.stderr)


def test_validate_empty_file(tmp_path):
    p = _write(tmp_path, "")
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:1:", "empty")
    p = _write(tmp_path, "# only a comment\n", "comment.yaml")
    assert_input_error(nnctl("validate", p), f"{p.name}:", "empty")


def test_validate_top_level_not_a_mapping(tmp_path):
    p = _write(tmp_path, "- a\n- b\n")
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:1:", "top level must be a mapping", "list")
    p = _write(tmp_path, "just a string\n", "scalar.yaml")
    assert_input_error(nnctl("validate", p), f"{p.name}:", "mapping")


def test_validate_missing_data_file(tmp_path):
    p = _write(tmp_path, _xor_text().replace("xor.csv", "no-such-file.csv"))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'no-such-file.csv')}:", "data.train.csv", "file not found",
                       "no-such-file.csv")


def test_validate_missing_config_file(tmp_path):
    r = nnctl("validate", tmp_path / "nope.yaml")
    assert_input_error(r, "nope.yaml")


def test_validate_input_shape_vs_feature_columns(tmp_path):
    p = _write(tmp_path, _xor_text().replace("input_shape: [2]", "input_shape: [3]"))
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'input_shape')}:", "model.input_shape", "[3]", "2 feature")


def test_validate_conv2d_on_flat_input_names_the_layer(tmp_path):
    text = _xor_text().replace("  layers:\n", "  layers:\n    - {type: conv2d, filters: 4}\n", 1)
    p = _write(tmp_path, text)
    r = nnctl("validate", p)
    assert_input_error(r, f"{p.name}:{_line(p, 'conv2d')}:", "model.layers[0]", "conv2d_0", "(?, 2)")


def test_validate_conv2d_named_layer(tmp_path):
    text = _xor_text().replace("  layers:\n", "  layers:\n    - {type: conv2d, filters: 4, name: myconv}\n", 1)
    p = _write(tmp_path, text)
    assert_input_error(nnctl("validate", p), "myconv")


def test_validate_set_error_names_set(tmp_path):
    r = nnctl("validate", XOR, "--set", "model.layers[0].units=0")
    assert_input_error(r, "--set", "model.layers[0].units", "out of range")
