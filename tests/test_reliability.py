"""Reliability promises (docs/reliability.md), each checked so that it fails if the promise breaks.

Atomic and verified files, fallback past damaged checkpoints, no code from files (pickle, YAML
tags), the non-finite guard, bad data named through the CLI, and environment faults found early.
Exact resume under kill -9 / SIGINT lives in tests/test_resume.py.
"""

from __future__ import annotations

import errno
import io
import json
import os
import pathlib
import pickle
import re
import shutil
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.config import load_config
from nnctl.errors import FileFormatError, NonFiniteError, RuntimeFailure
from nnctl.fileio import atomic_write_bytes, sha256_bytes
from nnctl.train import checkpoint as ckpt
from nnctl.train.trainer import Trainer, read_metrics, write_metrics_csv
from nnctl.train.trainer import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "configs" / "xor.yaml"
IRIS = ROOT / "configs" / "iris.yaml"
FILES = ("arrays.npz", "state.json", "manifest.json")
# 20 steps, a checkpoint every 5: ckpt-5, -10, -15, -20
RUN_SETS = ["train.steps=20", "train.checkpoint_every=5", "train.keep_last=10", "train.eval_every=5"]


# --- helpers ------------------------------------------------------------------------------------

def cli(*argv: str | os.PathLike) -> tuple[int, str, str]:
    code, out, err = run_cli(*argv)
    assert isinstance(code, int), code
    return code, out, err


def sets(*pairs: str) -> list[str]:
    return [a for p in pairs for a in ("--set", p)]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def run_subprocess(*argv: str | os.PathLike, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnctl.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env(), cwd=cwd, timeout=300)


def assert_clean_error(code: int, out: str, err: str, exit_code: int) -> str:
    """One ``error:`` line, the given exit code, no traceback; returns the error line."""
    assert code == exit_code, (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def ckpt_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / ckpt.checkpoint_name(step)


def reseal(folder: Path) -> None:
    """Recompute the manifest's SHA-256s and checksum, so only the file's own parser stands guard."""
    mpath = folder / "manifest.json"
    m = json.loads(mpath.read_text())
    m["files"] = {n: sha256_bytes((folder / n).read_bytes()) for n in m["files"]}
    m["checksum"] = ckpt._manifest_checksum(m)
    mpath.write_text(json.dumps(m, indent=1, sort_keys=True))


def object_array_npz(payload: object = "x") -> bytes:
    buf = io.BytesIO()
    np.savez(buf, w=np.array([payload], dtype=object))  # np.savez pickles object arrays
    return buf.getvalue()


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda b: b[: len(b) // 2],
    "bit-flipped": lambda b: b[: len(b) // 2] + bytes([b[len(b) // 2] ^ 0x10]) + b[len(b) // 2 + 1:],
    "emptied": lambda b: b"",
    "random": lambda b: np.random.default_rng(0).bytes(max(len(b), 64)),
    "pickle": lambda b: pickle.dumps({"dense_0/kernel": np.zeros((2, 3), np.float32)}),
    "object-array": lambda b: object_array_npz(),
}


def damage(path: Path, how: str) -> None:
    path.write_bytes(DAMAGES[how](path.read_bytes()))


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def final_arrays(run: Path) -> dict[str, np.ndarray]:
    newest = ckpt.list_checkpoints(run / "checkpoints")[-1][1]
    return ckpt.load_checkpoint(newest).arrays


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("base") / "run"
    code, out, err = cli("train", XOR, "--run-dir", d, "--quiet", *sets(*RUN_SETS))
    assert code == 0, err
    assert [s for s, _ in ckpt.list_checkpoints(d / "checkpoints")] == [5, 10, 15, 20]
    return d


@pytest.fixture
def run(base_run: Path, tmp_path: Path) -> Path:
    d = tmp_path / "run"
    shutil.copytree(base_run, d)
    return d


# --- 1a. every kind of damage to every checkpoint file is refused, naming the file ----------------

@pytest.mark.parametrize("how", sorted(DAMAGES))
@pytest.mark.parametrize("name", FILES)
def test_damaged_checkpoint_file_is_refused_naming_it(run, name, how):
    folder = ckpt_dir(run, 20)
    damage(folder / name, how)
    with pytest.raises(FileFormatError) as info:
        ckpt.load_checkpoint(folder)
    assert str(folder / name) in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("how", ["truncated", "emptied", "random", "pickle", "object-array"])
@pytest.mark.parametrize("name", ["arrays.npz", "state.json"])
def test_damage_behind_a_valid_manifest_is_still_refused(run, name, how):
    """With the SHA-256s recomputed to match, the file's own safe parser still refuses it."""
    folder = ckpt_dir(run, 20)
    damage(folder / name, how)
    reseal(folder)
    with pytest.raises(FileFormatError) as info:
        ckpt.load_checkpoint(folder)
    assert str(folder / name) in str(info.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_single_bit_flip_is_refused(base_run, tmp_path_factory, name, where, bit):
    folder = tmp_path_factory.mktemp("flip") / "ckpt-00000020"
    shutil.copytree(ckpt_dir(base_run, 20), folder)
    data = bytearray((folder / name).read_bytes())
    data[int(where * len(data))] ^= 1 << bit
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=re.escape(str(folder / name))):
        ckpt.load_checkpoint(folder)


def test_missing_checkpoint_file_is_refused_naming_it(run):
    for name in FILES:
        folder = ckpt_dir(run, 20)
        saved = (folder / name).read_bytes()
        (folder / name).unlink()
        with pytest.raises(FileFormatError, match=re.escape(str(folder / name))):
            ckpt.load_checkpoint(folder)
        (folder / name).write_bytes(saved)
    ckpt.load_checkpoint(ckpt_dir(run, 20))


def test_hand_edited_state_with_valid_hashes_is_refused_on_resume(run):
    folder = ckpt_dir(run, 20)
    for c in (5, 10, 15):
        shutil.rmtree(ckpt_dir(run, c))
    (folder / "state.json").write_text("{}")
    reseal(folder)
    code, out, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=25"))
    line = assert_clean_error(code, out, err, 2)
    assert str(folder / "state.json") in line


# --- 1b. the newest checkpoint damaged: warn, fall back, keep the damaged folder -----------------

def test_resume_falls_back_past_damaged_newest_and_keeps_it(run, tmp_path):
    newest = ckpt_dir(run, 20)
    damage(newest / "arrays.npz", "truncated")
    damaged = tree_bytes(newest)
    code, out, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet",
                         *sets("train.steps=30", "train.checkpoint_every=5", "train.keep_last=2"))
    assert code == 0, err
    assert "warning" in err and str(newest) in err and "damaged" in err
    # the damaged folder was in the way of the new ckpt-20: kept under another name, byte for byte
    kept = [p for p in (run / "checkpoints").iterdir() if p.name.startswith("ckpt-00000020.damaged")]
    assert len(kept) == 1 and tree_bytes(kept[0]) == damaged
    assert str(kept[0]) in err
    # pruning (keep_last=2) removed intact old checkpoints, never the damaged one
    assert [s for s, _ in ckpt.list_checkpoints(run / "checkpoints")] == [25, 30]
    # resuming from step 15 ends exactly where an uninterrupted 30-step run ends
    ref = tmp_path / "ref"
    code, _, err = cli("train", XOR, "--run-dir", ref, "--quiet",
                       *sets("train.steps=30", "train.checkpoint_every=5", "train.eval_every=5"))
    assert code == 0, err
    a, b = final_arrays(run), final_arrays(ref)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_pruning_never_deletes_a_damaged_checkpoint(run):
    oldest = ckpt_dir(run, 5)
    damage(oldest / "state.json", "bit-flipped")
    damaged = tree_bytes(oldest)
    code, _, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet",
                       *sets("train.steps=40", "train.checkpoint_every=5", "train.keep_last=1"))
    assert code == 0, err
    assert oldest.is_dir() and tree_bytes(oldest) == damaged
    ckpt.prune(run / "checkpoints", 0)
    assert oldest.is_dir() and tree_bytes(oldest) == damaged


def _has_command(name: str) -> bool:
    import typer.main

    from nnctl.cli import app
    return name in typer.main.get_command(app).commands  # type: ignore[attr-defined]


def test_eval_falls_back_past_damaged_newest(run):
    if not _has_command("eval"):
        pytest.skip("nnctl eval is not in nnctl.cli yet")
    newest = ckpt_dir(run, 20)
    damage(newest / "manifest.json", "random")
    damaged = tree_bytes(newest)
    code, out, err = cli("eval", run, "--json")
    assert code == 0, err
    assert "warning" in err and str(newest) in err
    assert json.loads(out.strip().splitlines()[-1])["checkpoint"] == 15
    assert tree_bytes(newest) == damaged


# --- 1c. all checkpoints damaged: say so, exit 2, delete nothing --------------------------------

def test_all_checkpoints_damaged_resume_and_eval_exit_2(run):
    for i, (_, p) in enumerate(ckpt.list_checkpoints(run / "checkpoints")):
        damage(p / FILES[i % 3], "truncated")
    before = {p.name: tree_bytes(p) for _, p in ckpt.list_checkpoints(run / "checkpoints")}
    code, out, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=30"))
    line = assert_clean_error(code, out, err, 2)
    assert "no intact checkpoint" in line and "all damaged" in line
    for name in before:
        assert f"{name} is damaged" in err
    if _has_command("eval"):
        code, out, err = cli("eval", run)
        line = assert_clean_error(code, out, err, 2)
        assert "no intact checkpoint" in line and "damaged" in line
    assert {p.name: tree_bytes(p) for _, p in ckpt.list_checkpoints(run / "checkpoints")} == before


# --- 1d. run-dir files are replaced atomically -----------------------------------------------

def _failing_replace(monkeypatch, victim: str) -> None:
    real = os.replace

    def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
        if Path(dst).name == victim:
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real(src, dst, *a, **k)
    monkeypatch.setattr(os, "replace", replace)


def _trainer(run_dir: Path, *overrides: str) -> Trainer:
    t = Trainer(load_config(XOR, list(overrides) or ["train.steps=10", "train.checkpoint_every=5"]), run_dir)
    t.run_training()
    return t


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".tmp-" in p.name]


@pytest.mark.parametrize("victim", ["summary.json", "metrics.csv"])
def test_summary_and_metrics_csv_survive_a_failed_write(tmp_path, monkeypatch, victim):
    t = _trainer(tmp_path / "run")
    target = tmp_path / "run" / victim
    before = target.read_bytes()
    t._log({"step": 99, "split": "train", "kind": "batch", "loss": 0.5, "extra_column": 1})
    _failing_replace(monkeypatch, victim)
    with pytest.raises(OSError):
        if victim == "summary.json":
            t.write_summary("changed", None)
        else:
            write_metrics_csv(t.run.metrics, t.run.metrics_csv)
    assert target.read_bytes() == before
    _no_temp_files(tmp_path / "run")
    monkeypatch.undo()
    t.write_summary("changed", None)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "changed"


def test_config_yaml_write_failure_leaves_no_torn_file(tmp_path, monkeypatch):
    _failing_replace(monkeypatch, "config.yaml")
    code, out, err = cli("train", XOR, "--run-dir", tmp_path / "run", "--quiet", *sets("train.steps=3"))
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "run" / "config.yaml").exists()
    _no_temp_files(tmp_path / "run")
    monkeypatch.undo()
    code, _, err = cli("train", XOR, "--run-dir", tmp_path / "run", "--quiet", *sets("train.steps=3"))
    assert code == 0, err


def test_atomic_write_keeps_the_old_file_when_replace_fails(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    atomic_write_bytes(p, b"old")
    _failing_replace(monkeypatch, "f.json")
    with pytest.raises(OSError):
        atomic_write_bytes(p, b"new" * 1000)
    assert p.read_bytes() == b"old"
    _no_temp_files(tmp_path)


# --- 2. no code from files, ever --------------------------------------------------------------

class Marker:
    """Unpickling this creates the marker file: proof that code from a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return pathlib.Path.touch, (self.marker,)


def test_the_pickle_payload_is_live(tmp_path):
    """Guard for the test below: loading the payload with pickles allowed does create the marker."""
    marker = tmp_path / "RAN"
    with np.load(io.BytesIO(object_array_npz(Marker(marker))), allow_pickle=True) as z:
        z["w"]
    assert marker.exists()


def test_pickle_payload_in_checkpoint_never_runs(tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", XOR, "--run-dir", run, "--quiet", *sets("train.steps=5", "train.checkpoint_every=5"))
    assert code == 0, err
    marker = tmp_path / "PWNED"
    folder = ckpt_dir(run, 5)
    (folder / "arrays.npz").write_bytes(object_array_npz(Marker(marker)))
    reseal(folder)  # the hashes match: only the refusal to unpickle stands between
    with pytest.raises(FileFormatError, match=re.escape(str(folder / "arrays.npz"))):
        ckpt.load_checkpoint(folder)
    r = run_subprocess("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=10"))
    line = assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
    assert "no intact checkpoint" in line
    assert "arrays.npz" in r.stderr and "Object arrays cannot be loaded" in r.stderr
    assert all(ln.startswith(("error:", "warning:")) for ln in r.stderr.splitlines())
    if _has_command("eval"):
        r = run_subprocess("eval", run)
        assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
    assert not marker.exists()


def test_pickle_payload_as_training_data_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    np.savez(buf, x=np.array([Marker(marker)] * 4, dtype=object), y=np.array([0, 1, 1, 0]))
    (tmp_path / "d.npz").write_bytes(buf.getvalue())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(XOR.read_text().replace("csv: ../datasets/xor.csv", "npz: d.npz")
                   .replace("    features: [x1, x2]\n    labels: [y]\n", ""))
    for cmd in ("validate", "train"):
        extra = ["--run-dir", tmp_path / "run"] if cmd == "train" else []
        r = run_subprocess(cmd, cfg, *extra)
        line = assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
        assert "d.npz" in line
    assert not marker.exists()


def test_yaml_python_tags_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    cfg = tmp_path / "evil.yaml"
    text = XOR.read_text().replace("../datasets", str(ROOT / "datasets"))
    cfg.write_text(text + f'extra: !!python/object/apply:os.system ["touch {marker}"]\n')
    line_no = len(text.splitlines()) + 1
    for argv in (["validate", cfg], ["train", cfg, "--run-dir", tmp_path / "run"]):
        r = run_subprocess(*argv)
        line = assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
        assert f"{cfg}:{line_no}:" in line
    r = run_subprocess("validate", XOR, "--set", f'name=!!python/object/apply:os.system ["touch {marker}"]')
    assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
    assert not marker.exists()


def test_yaml_python_tag_in_run_config_is_refused_on_resume(run, tmp_path):
    marker = tmp_path / "PWNED"
    (run / "config.yaml").write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    r = run_subprocess("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=25"))
    line = assert_clean_error(r.returncode, r.stdout, r.stderr, 2)
    assert str(run / "config.yaml") in line
    assert not marker.exists()


@pytest.mark.parametrize("text", ["a: [\n", "\xff\xfe", "- 1\n"])
def test_damaged_run_config_is_refused_on_resume(run, text):
    (run / "config.yaml").write_bytes(text.encode("latin-1"))
    code, out, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=25"))
    line = assert_clean_error(code, out, err, 2)
    assert str(run / "config.yaml") in line


# --- 3. numerical failure ----------------------------------------------------------------------

DIVERGE = sets("optimizer.lr=1e30", "train.checkpoint_every=1")  # Adam moves every weight by ~lr at step 1


def test_divergence_stops_at_first_nonfinite_loss_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = cli("train", IRIS, "--run-dir", run, "--quiet", *DIVERGE)
    line = assert_clean_error(code, out, err, 1)
    m = re.search(r"step (\d+): the loss became (nan|inf)", line)
    assert m, line
    bad = int(m.group(1))
    steps = [s for s, _ in ckpt.list_checkpoints(run / "checkpoints")]
    assert steps and max(steps) == bad - 1, "no checkpoint may be written at or after the failing step"
    assert str(ckpt_dir(run, bad - 1)) in line
    last = ckpt.load_checkpoint(ckpt_dir(run, bad - 1))
    assert all(np.isfinite(a).all() for a in last.arrays.values() if a.dtype.kind == "f")
    assert json.loads((run / "summary.json").read_text())["status"].startswith("failed")
    # numpy's overflow warnings would only repeat, less clearly, what the guard reports
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


def test_debug_nans_names_the_op_type_and_input_ranges(tmp_path):
    run = tmp_path / "run"
    code, out, err = cli("train", IRIS, "--run-dir", run, "--quiet", "--debug-nans", *DIVERGE)
    line = assert_clean_error(code, out, err, 1)
    assert re.search(r"step \d+: op '[\w/]+' \(type [A-Z]\w+\) produced a non-finite value", line), line
    assert re.search(r"inputs: .*range \[", line), line
    steps = [s for s, _ in ckpt.list_checkpoints(run / "checkpoints")]
    bad = int(re.search(r"step (\d+)", line).group(1))
    assert steps and max(steps) == bad - 1


def test_nonfinite_gradient_alone_stops_training(tmp_path, monkeypatch):
    """Loss finite, gradient norm inf (e.g. an overflowing backward pass): the guard stops the run."""
    real_setup = Trainer._setup

    def setup(self: Trainer) -> None:
        real_setup(self)
        real_run, calls = self.sess.run, [0]

        def run(fetches: Any, feed: Any = None) -> Any:
            out = real_run(fetches, feed)
            if isinstance(fetches, list) and len(fetches) == 3 and fetches[0] is self.model.train_op:
                calls[0] += 1
                if calls[0] == 4:
                    return [out[0], out[1], np.float32(np.inf)]
            return out
        self.sess.run = run  # type: ignore[method-assign]
    monkeypatch.setattr(Trainer, "_setup", setup)
    with pytest.raises(NonFiniteError, match=r"step 4: the gradient norm became inf") as info:
        train_lib(XOR, tmp_path / "run", ["train.steps=10", "train.checkpoint_every=1"])
    assert info.value.exit_code == 1
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == [1, 2, 3]


# --- 4. bad data named through the CLI ---------------------------------------------------------

CFG = """\
name: t
seed: 0
data:
  train:
{source}
  label_type: class
{extra}
model:
  input_shape: {shape}
  layers:
    - {{type: dense, units: 2}}
loss: cross_entropy
optimizer: {{name: sgd, lr: 0.1}}
train: {{steps: 2, batch_size: full}}
"""


def _idx(path: Path, magic: int, dims: tuple[int, ...], data: bytes) -> None:
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + data)


def _write_data(d: Path, case: str) -> tuple[str, str, str, list[str]]:
    """Write the case's data file; returns (source yaml, extra data keys, input_shape, expected parts)."""
    good = "a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n"
    csv = {
        "non-numeric": ("a,b,y\n0,0,0\n0,x,1\n", ["d.csv:3", "'b'", "'x'"]),
        "ragged": ("a,b,y\n0,0,0\n0,1\n1,0,1\n", ["d.csv:3", "expected 3 columns"]),
        # nan and an empty cell are gaps (imputed); a column of nothing but gaps is an error
        "nan-feature": ("a,b,y\n0,,0\n0,nan,1\n", ["d.csv", "'b'", "every cell is missing"]),
        "inf-feature": ("a,b,y\n0,0,0\n0,1,1\n-inf,0,1\n", ["d.csv:4", "finite", "inf"]),
        "label-wrong-type": ("a,b,y\n0,0,0\n0,1,1.5\n", ["d.csv:3", "'y'", "1.5"]),
        "label-negative": ("a,b,y\n0,0,0\n0,1,-1\n", ["d.csv:3", "-1"]),
        "label-out-of-range": ("a,b,y\n0,0,0\n0,1,5\n", ["d.csv:3", "5", "num_classes"]),
        "empty": ("", ["d.csv", "empty"]),
        "header-only": ("a,b,y\n", ["d.csv", "header"]),
        "feature-count": (good, ["model.input_shape", "c.yaml:9:", "2 feature"]),
    }
    if case in csv:
        (d / "d.csv").write_text(csv[case][0])
        extra = "  num_classes: 2" if case == "label-out-of-range" else ""
        return "    csv: d.csv", extra, "[3]" if case == "feature-count" else "[2]", csv[case][1]
    if case == "npz-nan":
        np.savez(d / "d.npz", x=np.array([[0, 0], [0, np.nan]], np.float32), y=np.array([0, 1]))
        return "    npz: d.npz", "", "[2]", ["d.npz", "x[1, 1]", "nan"]
    if case == "npz-label-out-of-range":
        np.savez(d / "d.npz", x=np.zeros((3, 2), np.float32), y=np.array([0, 1, 7]))
        return "    npz: d.npz", "  num_classes: 2", "[2]", ["d.npz", "y[2]", "7"]
    if case == "idx-wrong-magic":
        _idx(d / "img.idx", 0x12345678, (2, 2, 2), bytes(8))
        _idx(d / "lab.idx", 0x00000801, (2,), bytes(2))
        return "    idx: {images: img.idx, labels: lab.idx}", "", "[2, 2]", ["img.idx", "magic"]
    if case == "missing-file":
        return "    csv: nothere.csv", "", "[2]", ["c.yaml:5:", "data.train.csv", "nothere.csv", "not found"]
    raise AssertionError(case)


DATA_CASES = ["non-numeric", "ragged", "nan-feature", "inf-feature", "label-wrong-type", "label-negative",
              "label-out-of-range", "empty", "header-only", "feature-count", "npz-nan", "npz-label-out-of-range",
              "idx-wrong-magic", "missing-file"]


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_is_named_through_the_cli(tmp_path, case):
    source, extra, shape, parts = _write_data(tmp_path, case)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.format(source=source, extra=extra, shape=shape))
    for cmd in ("validate", "train"):
        extra_args = ["--run-dir", tmp_path / "run"] if cmd == "train" else []
        code, out, err = cli(cmd, cfg, *extra_args)
        line = assert_clean_error(code, out, err, 2)
        for p in parts:
            assert p in line, (p, line)
    # the failed start leaves nothing that blocks a second try
    assert not (tmp_path / "run").exists()


# --- 5. environment faults ---------------------------------------------------------------------

def test_run_dir_under_a_file_fails_before_training(tmp_path):
    (tmp_path / "somefile").write_text("x")
    code, out, err = cli("train", XOR, "--run-dir", tmp_path / "somefile" / "run", "--quiet")
    line = assert_clean_error(code, out, err, 2)
    assert str(tmp_path / "somefile") in line and "not a folder" in line


def test_run_dir_with_missing_parent_fails_before_training(tmp_path):
    code, out, err = cli("train", XOR, "--run-dir", tmp_path / "nonexistent" / "x" / "run", "--quiet")
    line = assert_clean_error(code, out, err, 2)
    assert "does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


def _enospc_writer(fail_at: int) -> Callable[[Path, bytes], None]:
    """A checkpoint file writer whose ``fail_at``-th checkpoint hits a full disk on its second file."""
    seen: list[Path] = []

    def write(path: Path, data: bytes) -> None:
        if path.parent not in seen:
            seen.append(path.parent)
        if len(seen) == fail_at and path.name == "state.json":
            path.write_bytes(data[:10])  # a partial file, as a full disk leaves
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        ckpt._write_file(path, data)
    return write


def _check_after_enospc(run: Path) -> None:
    folders = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert folders == ["ckpt-00000002", "ckpt-00000004"], folders  # no partial or temporary folder
    for name in folders:
        ckpt.load_checkpoint(run / "checkpoints" / name)


def test_disk_full_while_checkpointing_library(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RuntimeFailure) as info:
        train_lib(XOR, run, ["train.steps=10", "train.checkpoint_every=2"], quiet=True,
                  checkpoint_writer=_enospc_writer(3))
    assert info.value.exit_code == 1 and not isinstance(info.value, NonFiniteError)
    msg = str(info.value)
    assert "step 6" in msg and "No space left on device" in msg and "earlier checkpoints are intact" in msg
    _check_after_enospc(run)


def test_disk_full_while_checkpointing_cli(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt.save_checkpoint, "__defaults__", (_enospc_writer(3),))
    run = tmp_path / "run"
    code, out, err = cli("train", XOR, "--run-dir", run, "--quiet", *sets("train.steps=10", "train.checkpoint_every=2"))
    line = assert_clean_error(code, out, err, 1)
    assert "No space left on device" in line
    _check_after_enospc(run)
    monkeypatch.undo()
    code, _, err = cli("train", XOR, "--run-dir", run, "--resume", "--quiet",
                       *sets("train.steps=10", "train.checkpoint_every=2"))
    assert code == 0, err


def test_disk_full_writing_metrics_is_a_runtime_failure(tmp_path, monkeypatch):
    real_log, calls = Trainer._log, [0]

    def log(self: Trainer, rec: dict) -> None:
        calls[0] += 1
        if calls[0] == 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.run.metrics))
        real_log(self, rec)
    monkeypatch.setattr(Trainer, "_log", log)
    run = tmp_path / "run"
    code, out, err = cli("train", XOR, "--run-dir", run, "--quiet",
                         *sets("train.steps=20", "train.checkpoint_every=2", "train.log_every=1"))
    line = assert_clean_error(code, out, err, 1)
    assert "No space left on device" in line and "--resume" in line
    for _, p in ckpt.list_checkpoints(run / "checkpoints"):
        ckpt.load_checkpoint(p)
    assert read_metrics(run / "metrics.jsonl")


def test_cupy_backend_without_cupy(tmp_path):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    run = tmp_path / "run"
    for argv in (["train", XOR, "--run-dir", run, "--quiet", "--backend", "cupy"],
                 ["validate", XOR, "--set", "backend=cupy"]):
        code, out, err = cli(*argv)
        line = assert_clean_error(code, out, err, 2)
        assert "CuPy is not installed" in line and "pip install" in line
    # the failed start left nothing behind: the same run dir works without --backend
    assert not run.exists()
    code, _, err = cli("train", XOR, "--run-dir", run, "--quiet", *sets("train.steps=2"))
    assert code == 0, err


def test_model_too_large_for_memory_is_refused_at_its_key(tmp_path, monkeypatch):
    # units past the largest nnctl builds: refused by the schema, naming the limit
    huge = sets("model.layers[0].units=1000000000000000")
    run = tmp_path / "run"
    for argv in (["validate", IRIS, *huge], ["train", IRIS, "--run-dir", run, "--quiet", *huge]):
        code, out, err = cli(*argv)
        line = assert_clean_error(code, out, err, 2)
        assert "model.layers[0].units" in line and "1000000" in line
    # within the schema's range but beyond the memory budget: refused before anything is allocated
    monkeypatch.setenv("NNCTL_MEMORY_BUDGET", "64M")
    big = sets("model.layers[0].units=1000000")
    for argv in (["validate", IRIS, *big], ["train", IRIS, "--run-dir", run, "--quiet", *big]):
        code, out, err = cli(*argv)
        line = assert_clean_error(code, out, err, 2)
        assert "model.layers[0].units" in line and "memory budget" in line
    assert not run.exists()


# --- SIGTERM (SIGINT and kill -9 are in tests/test_resume.py) -----------------------------------

def test_sigterm_saves_a_checkpoint_and_resume_is_exact(tmp_path):
    import signal
    import time
    run = tmp_path / "run"
    cadence = ["train.checkpoint_every=50", "train.eval_every=50", "train.log_every=10"]
    long = sets("train.steps=1000000", *cadence)
    proc = subprocess.Popen([sys.executable, "-m", "nnctl.cli", "train", str(IRIS), "--run-dir", str(run), "--quiet",
                             *long], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        have = ckpt.list_checkpoints(run / "checkpoints")
        if have and have[-1][0] >= 100:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err and "--resume" in err and "Traceback" not in err
    stopped = ckpt.list_checkpoints(run / "checkpoints")[-1][0]
    assert f"step {stopped}" in err
    total = f"train.steps={stopped + 37}"
    code, _, err = cli("train", IRIS, "--run-dir", run, "--resume", "--quiet", *sets(total, *cadence))
    assert code == 0, err
    ref = tmp_path / "ref"
    code, _, err = cli("train", IRIS, "--run-dir", ref, "--quiet", *sets(total, *cadence))
    assert code == 0, err
    a, b = final_arrays(run), final_arrays(ref)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    steps = [r["step"] for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "batch"]
    assert steps == [r["step"] for r in read_metrics(ref / "metrics.jsonl") if r["kind"] == "batch"]
