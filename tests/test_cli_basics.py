"""CLI basics: --version, completion, flags shown as flags, one-line usage errors with suggestions,
--backend errors, output-file checks, freeze --quiet, init and config, --progress."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import run_cli

from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"


def test_version_and_completion():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("nnctl ")
    code, out, _ = run_cli("--help")
    assert code == 0 and "--install-completion" in out and "--version" in out


def test_boolean_flags_are_shown_as_flags():
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    assert "<bool>" not in out and "--resume" in out and "KEY=VALUE" in out


@pytest.mark.parametrize("argv,needle", [
    (["trian"], "did you mean 'train'?"),
    (["train", "x.yaml", "--reume"], "did you mean --resume?"),
    (["eval", "x", "--jsn"], "did you mean --json?"),
])
def test_usage_errors_are_one_line_with_a_suggestion(argv, needle):
    code, out, err = run_cli(*argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_backend_error_names_backend():
    code, _, err = run_cli("train", IRIS, "--backend", "cpu")
    assert code == 2 and err.startswith("error: --backend 'cpu'") and "numpy" in err


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("basics") / "iris"
    train(IRIS, d, ["train.steps=20", "train.eval_every=10"], quiet=True)
    return d


def test_output_file_checks(iris_run, tmp_path):
    for argv in (["freeze", iris_run, "-o", tmp_path], ["eval", iris_run, "--confusion-matrix", tmp_path]):
        code, _, err = run_cli(*argv)
        assert code == 2 and "is a directory" in err and "internal error" not in err, err
    for argv in (["freeze", iris_run, "-o", tmp_path / "no" / "m.frozen"],
                 ["eval", iris_run, "--confusion-matrix", tmp_path / "no" / "cm.png"]):
        code, _, err = run_cli(*argv)
        assert code == 2 and "does not exist" in err, err
    frozen = tmp_path / "m.frozen"
    code, out, err = run_cli("freeze", iris_run, "-o", frozen, "--quiet")
    assert code == 0 and out.strip().splitlines()[-1].startswith("wrote ") and "signature" not in out
    code, _, err = run_cli("predict", frozen, "-i", ROOT / "datasets" / "iris.csv", "-o", tmp_path)
    assert code == 2 and "is a directory" in err


def test_init_and_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("init", "--list")
    assert code == 0 and "iris" in out and "xor" in out
    code, out, err = run_cli("init", "iris")
    assert code == 0, err
    text = (tmp_path / "iris.yaml").read_text()
    assert text.startswith("# Starter config from the template 'iris'")
    code, _, err = run_cli("init", "iris")
    assert code == 2 and "already exists" in err
    code, _, err = run_cli("init", "irs")
    assert code == 2 and "did you mean 'iris'" in err
    code, out, err = run_cli("config", "iris.yaml", "--set", "optimizer.lr=0.5")
    assert code == 0, err
    d = yaml.safe_load(out)
    assert d["optimizer"]["lr"] == 0.5 and d["train"]["keep_last"] == 3 and d["train"]["tensorboard"] is True
    code, out, err = run_cli("validate", "iris.yaml")
    assert code == 0, err


@pytest.mark.parametrize("mode", ["plain", "none", "bar"])
def test_progress_modes(tmp_path, mode):
    code, out, err = run_cli("train", IRIS, "--run-dir", tmp_path / "r", "--progress", mode,
                             "--set", "train.steps=20", "--set", "train.eval_every=10", "--set", "train.log_every=10")
    assert code == 0, err
    steps = [ln for ln in out.splitlines() if ln.startswith("step ")]
    if mode == "plain":
        assert any("val eval" in ln for ln in steps)
    elif mode == "none":
        assert steps == []
    else:   # one scrollback line per evaluation holding train and val, and the final frame
        evals = [ln for ln in steps if "|" in ln]
        assert len(evals) == 2 and "train loss" in evals[0] and "val loss" in evals[0]
        assert any(ln.startswith("step 20/20") and "took" in ln for ln in steps)
    assert "completed: 20 steps" in out
    code, _, err = run_cli("train", IRIS, "--progress", "fancy")
    assert code == 2 and "--progress" in err


def test_warnings_print_as_one_line_without_nnctls_source(monkeypatch):
    """main() prints a warning as ``warning: <message>`` (no file:line of nnctl's internals, no
    source line), like its ``error:`` lines, and restores Python's format afterwards."""
    import warnings

    from nnctl import cli
    assert cli.warning_line(UserWarning("nnctl: the kernels are stale"), UserWarning, "/x/native.py", 110,
                            "lib = library()") == "warning: nnctl: the kernels are stale\n"
    seen = []
    monkeypatch.setattr(cli, "app", lambda standalone_mode: seen.append(warnings.formatwarning) or 0)
    before = warnings.formatwarning
    assert run_cli("--version")[0] == 0
    assert seen == [cli.warning_line] and warnings.formatwarning is before
