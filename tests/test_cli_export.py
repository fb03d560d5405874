"""The `eval`, `freeze`, `predict` and `graph` commands, end to end through nnctl.cli.main."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnctl.cli import main
from nnctl.train.trainer import read_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_export import _hostile_files, _Payload, check_dot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "configs" / "xor.yaml"
XOR_CSV = ROOT / "datasets" / "xor.csv"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    """Run ``nnctl ARGS`` in-process: (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["nnctl", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def xor_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nnctl.train.trainer import train
    d = tmp_path_factory.mktemp("cli")
    train(XOR, run_dir=d / "xor", quiet=True)
    return d


@pytest.fixture(scope="module")
def xor_model(xor_dir: Path) -> Path:
    from nnctl.export import freeze
    out = xor_dir / "m.frozen"
    if not out.exists():
        freeze(xor_dir / "xor", out)
    return out


def test_acceptance_xor(xor_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = xor_dir / "xor"
    code, out, err = cli(capsys, "eval", run, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["accuracy"] == 1.0 and res["split"] == "train" and res["checkpoint"] == 500
    assert "loss" in res and "mse" in res and res["examples"] == 4
    frozen = tmp_path / "m.frozen"
    code, out, err = cli(capsys, "freeze", run, "-o", frozen)
    assert code == 0, err
    assert frozen.is_file() and "kept" in out and "removed" in out and "gradient" in out and "signature" in out
    assert "x:0" in out and "Placeholder" in out
    (tmp_path / "in.csv").write_text("0,0\n0,1\n1,0\n1,1\n")
    code, out, err = cli(capsys, "predict", frozen, "--input", tmp_path / "in.csv", "--output", tmp_path / "p.csv")
    assert code == 0, err
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "p0,p1,predicted" and len(lines) == 5
    assert [int(line.split(",")[-1]) for line in lines[1:]] == [0, 1, 1, 0]
    code, out, err = cli(capsys, "eval", frozen, "--data", XOR_CSV, "--json")
    assert code == 0, err
    fres = json.loads(out)
    assert abs(fres["loss"] - res["loss"]) <= 1e-6 and fres["accuracy"] == 1.0 and fres["checkpoint"] == 500


def test_eval_json_matches_metrics_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The trainer's last eval records (same `score`) equal `nnctl eval --json` at that step."""
    run = tmp_path / "iris"
    code, _, err = cli(capsys, "train", ROOT / "configs" / "iris.yaml", "--run-dir", run, "--quiet",
                       "--set", "train.steps=30", "--set", "train.eval_every=15")
    assert code == 0, err
    recs = [r for r in read_metrics(run / "metrics.jsonl") if r.get("kind", "eval") == "eval"]
    for split in ("val", "train"):
        last = [r for r in recs if r["split"] == split][-1]
        code, out, err = cli(capsys, "eval", run, "--json", "--data", split)
        assert code == 0, err
        res = json.loads(out)
        assert res["checkpoint"] == last["step"] == 30 and res["split"] == split
        assert res["loss"] == pytest.approx(last["loss"], abs=1e-9)
        assert res["accuracy"] == pytest.approx(last["accuracy"], abs=1e-12)
        assert res["examples"] == last["examples"]
    code, out, _ = cli(capsys, "eval", run, "--json")
    assert json.loads(out)["split"] == "val"
    code, out, _ = cli(capsys, "eval", run / "checkpoints" / "ckpt-00000015", "--json")
    assert code == 0 and json.loads(out)["checkpoint"] == 15
    code, out, _ = cli(capsys, "eval", run, "--checkpoint", "15", "--json")
    assert code == 0 and json.loads(out)["checkpoint"] == 15
    code, out, _ = cli(capsys, "eval", run, "--checkpoint", "best", "--json")
    assert code == 0 and json.loads(out)["checkpoint"] in (15, 30)
    code, out, err = cli(capsys, "eval", run)
    assert code == 0 and "loss" in out and "accuracy" in out
    # a frozen file evaluates a training-format CSV exactly like its run dir
    frozen = tmp_path / "iris.frozen"
    assert cli(capsys, "freeze", run, "-o", frozen)[0] == 0
    a = json.loads(cli(capsys, "eval", run, "--data", ROOT / "datasets" / "iris.csv", "--json")[1])
    b = json.loads(cli(capsys, "eval", frozen, "--data", ROOT / "datasets" / "iris.csv", "--json")[1])
    assert abs(a["loss"] - b["loss"]) <= 1e-6 and a["accuracy"] == b["accuracy"] and a["examples"] == 150
    code, out, err = cli(capsys, "predict", frozen, "--input", ROOT / "datasets" / "iris.csv")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "setosa,versicolor,virginica,predicted" and len(lines) == 151
    assert lines[1].split(",")[-1] in ("setosa", "versicolor", "virginica")


def test_predict_inputs_and_formats(xor_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = "0,0\n0,1\n1,0\n1,1\n"
    (tmp_path / "h.csv").write_text("x1,x2\n" + rows)
    (tmp_path / "n.csv").write_text(rows)
    np.savez(tmp_path / "in.npz", x=np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32))
    for f in ("h.csv", "n.csv", "in.npz"):
        code, out, err = cli(capsys, "predict", xor_model, "--input", tmp_path / f)
        assert code == 0, err
        assert [line.split(",")[-1] for line in out.splitlines()[1:]] == ["0", "1", "1", "0"], f
    code, out, err = cli(capsys, "predict", xor_model, "--input", XOR_CSV, "--format", "json")
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    want = [int(line.split(",")[2]) for line in XOR_CSV.read_text().splitlines()[1:]]
    assert [g["predicted"] for g in got] == want and set(got[0]) == {"p0", "p1", "predicted"}
    code, _, err = cli(capsys, "predict", xor_model, "--input", tmp_path / "n.csv", "-o", tmp_path / "o.json")
    assert code == 0 and len((tmp_path / "o.json").read_text().splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_wrong_widths_and_missing_files(xor_dir: Path, xor_model: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "wide.csv").write_text("1,2,3\n4,5,6\n")
    code, out, err = cli(capsys, "predict", xor_model, "--input", tmp_path / "wide.csv")
    msg = one_line_error(err)
    assert code == 2 and "wide.csv" in msg and "expected 2" in msg and "got 3" in msg and out == ""
    np.savez(tmp_path / "wide.npz", x=np.zeros((3, 5), np.float32))
    code, _, err = cli(capsys, "predict", xor_model, "--input", tmp_path / "wide.npz")
    msg = one_line_error(err)
    assert code == 2 and "wide.npz" in msg and "found 5" in msg and "expects 2" in msg
    (tmp_path / "wide_train.csv").write_text("a,b,c,y\n1,2,3,0\n")
    code, _, err = cli(capsys, "eval", xor_model, "--data", tmp_path / "wide_train.csv")
    assert code == 2 and "wide_train.csv" in one_line_error(err)
    for args in (["eval", tmp_path / "nope"], ["predict", tmp_path / "nope.frozen", "--input", tmp_path / "wide.csv"],
                 ["predict", xor_model, "--input", tmp_path / "nope.csv"], ["freeze", tmp_path / "nope", "-o",
                                                                           tmp_path / "x.frozen"],
                 ["graph", tmp_path / "nope.yaml"], ["eval", xor_dir / "xor", "--data", tmp_path / "nope.csv"],
                 ["eval", xor_model], ["eval", xor_dir / "xor", "--checkpoint", "7"],
                 ["graph", XOR, "--format", "svg"], ["predict", xor_model, "--input", tmp_path / "wide.csv",
                                                     "--format", "xml"]):
        code, _, err = cli(capsys, *args)
        one_line_error(err)
        assert code == 2, (args, err)


def test_hostile_frozen_files_exit_2(xor_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "PICKLE_RAN"
    _Payload.marker = str(marker)
    (tmp_path / "in.csv").write_text("0,0\n")
    files = _hostile_files(xor_model, tmp_path)
    for name, path in files.items():
        for args in (["predict", path, "--input", tmp_path / "in.csv"], ["eval", path, "--data", XOR_CSV]):
            code, out, err = cli(capsys, *args)
            msg = one_line_error(err)
            assert code == 2 and str(path) in msg and out == "", (name, err)
    assert not marker.exists()
    # a pickle that names this very payload, through a subprocess too: it must never run
    evil = tmp_path / "evil.frozen"
    evil.write_bytes(pickle.dumps(_Payload()))
    r = subprocess.run([sys.executable, "-m", "nnctl.cli", "predict", str(evil), "--input", str(tmp_path / "in.csv")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=_env())
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "evil.frozen" in r.stderr
    assert not marker.exists()


def test_graph_command(xor_dir: Path, xor_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "graph", XOR)
    assert code == 0, err
    assert "Model summary" in out and "Forward graph" in out and "dense_0" in out and "MatMul" in out
    assert "13" in out and "Backward graph" not in out
    code, out, err = cli(capsys, "graph", XOR, "--backward")
    assert code == 0 and "Backward graph" in out and "ApplyGradientDescent" in out and "SigmoidGrad" in out
    code, out, err = cli(capsys, "graph", XOR, "--backward", "--format", "dot")
    assert code == 0
    check_dot(out)
    assert "cluster_backward" in out and "cluster_update" in out
    code, _, err = cli(capsys, "graph", xor_dir / "xor", "--backward", "--format", "dot", "-o", tmp_path / "g.dot")
    assert code == 0 and "wrote" in err
    check_dot((tmp_path / "g.dot").read_text())
    code, _, err = cli(capsys, "graph", XOR, "--backward", "-o", tmp_path / "g.txt")
    text = (tmp_path / "g.txt").read_text()
    assert code == 0 and "Backward graph" in text and "\x1b[" not in text
    code, out, err = cli(capsys, "graph", xor_model, "--format", "dot")
    assert code == 0
    check_dot(out)
    code, out, err = cli(capsys, "graph", ROOT / "configs" / "digits-cnn.yaml", "--backward")
    assert code == 0 and "Conv2D" in out and "Conv2DBackpropFilter" in out and "MaxPool" in out
