"""Exact resume: a run killed (SIGKILL, SIGINT, or mid-checkpoint) and resumed ends bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "digits-mlp.yaml"
SETS = ["--set", "train.checkpoint_every=10", "--set", "train.epochs=6", "--set", "train.eval_every=40"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _train(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnctl.cli", "train", str(CONFIG), "--run-dir", str(run_dir),
                           "--quiet", *SETS, *extra], capture_output=True, text=True, env=_env(), timeout=600)


def _final_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    ck = sorted((run_dir / "checkpoints").glob("ckpt-*"))[-1]
    with np.load(ck / "arrays.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), f"variable {k} differs after resume"


def _steps(run_dir: Path, kind: str) -> list[int]:
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [r["step"] for r in recs if r.get("kind") == kind and r["split"] == "train"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("ref") / "run"
    r = _train(d)
    assert r.returncode == 0, r.stderr
    return d, _final_arrays(d)


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, min_step: int, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        ck = sorted((run_dir / "checkpoints").glob("ckpt-*")) if (run_dir / "checkpoints").exists() else []
        if ck and int(ck[-1].name.split("-")[1]) >= min_step:
            return
        if proc.poll() is not None:
            return
        time.sleep(0.005)


@pytest.mark.parametrize("kill_after", [20, 90, 170])
def test_sigkill_then_resume_is_bit_identical(reference, tmp_path, kill_after):
    ref_dir, ref = reference
    d = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nnctl.cli", "train", str(CONFIG), "--run-dir", str(d), "--quiet",
                             *SETS], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_checkpoint(d, proc, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the kill landed mid-run: the process died of it, and its last checkpoint is short of the end
    assert proc.returncode == -signal.SIGKILL, f"training ended (exit {proc.returncode}) before the kill"
    last = int(sorted((d / "checkpoints").glob("ckpt-*"))[-1].name.split("-")[1])
    final = int(sorted((ref_dir / "checkpoints").glob("ckpt-*"))[-1].name.split("-")[1])
    assert kill_after <= last < final, (kill_after, last, final)
    r = _train(d, "--resume")
    assert r.returncode == 0, r.stderr
    _assert_same(ref, _final_arrays(d))
    steps = _steps(d, "batch")
    assert steps == sorted(set(steps)), "metrics.jsonl has duplicated steps after resume"
    assert steps == _steps(ref_dir, "batch"), "metrics.jsonl has missing steps after resume"


def test_kill_during_checkpoint_write(reference, tmp_path):
    """SIGKILL in the middle of writing a checkpoint: the half-written one is never used."""
    _, ref = reference
    d = tmp_path / "run"
    driver = textwrap.dedent(f"""
        import os, signal, sys
        from nnctl.train import checkpoint as ck
        real = ck._write_file
        def dying(path, data):
            if path.name == "state.json" and "00000050" in str(path.parent):
                real(path, data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)
        ck._write_file = dying
        ck.save_checkpoint.__defaults__ = (dying,)
        from nnctl.cli import main
        sys.argv = ["nnctl", "train", {str(CONFIG)!r}, "--run-dir", {str(d)!r}, "--quiet", *{SETS!r}]
        main()
    """)
    p = subprocess.run([sys.executable, "-c", driver], env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL
    assert not (d / "checkpoints" / "ckpt-00000050").exists()
    r = _train(d, "--resume")
    assert r.returncode == 0, r.stderr
    _assert_same(ref, _final_arrays(d))


def test_sigint_saves_resumable_checkpoint(reference, tmp_path):
    _, ref = reference
    d = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "nnctl.cli", "train", str(CONFIG), "--run-dir", str(d), "--quiet",
                             *SETS], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(d, proc, 30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "--resume" in err
    r = _train(d, "--resume")
    assert r.returncode == 0, r.stderr
    _assert_same(ref, _final_arrays(d))


def test_resume_with_changed_model_is_refused(reference, tmp_path):
    ref_dir, _ = reference
    import shutil
    d = tmp_path / "run"
    shutil.copytree(ref_dir, d)
    r = _train(d, "--resume", "--set", "model.layers[0].units=64")
    assert r.returncode == 2
    assert "different model" in r.stderr and "dense_0/kernel" in r.stderr
    assert "Traceback" not in r.stderr


def test_existing_run_dir_is_not_overwritten(reference):
    ref_dir, _ = reference
    before = (ref_dir / "metrics.jsonl").read_bytes()
    r = _train(ref_dir)
    assert r.returncode == 2 and "--resume" in r.stderr
    assert (ref_dir / "metrics.jsonl").read_bytes() == before


def test_kill_before_first_checkpoint_restarts(reference, tmp_path):
    """Killed before any checkpoint was written: --resume starts again from step 0, same result."""
    _, ref = reference
    d = tmp_path / "run"
    driver = textwrap.dedent(f"""
        import os, signal, sys
        from nnctl.train import trainer
        real = trainer.Trainer.save_checkpoint
        def dying(self, t0):
            os.kill(os.getpid(), signal.SIGKILL)
        trainer.Trainer.save_checkpoint = dying
        from nnctl.cli import main
        sys.argv = ["nnctl", "train", {str(CONFIG)!r}, "--run-dir", {str(d)!r}, "--quiet", *{SETS!r}]
        main()
    """)
    p = subprocess.run([sys.executable, "-c", driver], env=_env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL
    assert not list((d / "checkpoints").glob("ckpt-*"))
    r = _train(d, "--resume")
    assert r.returncode == 0, r.stderr
    assert "starting again from step 0" in r.stderr
    _assert_same(ref, _final_arrays(d))
    assert _steps(d, "batch") == sorted(set(_steps(d, "batch")))
