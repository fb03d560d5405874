"""Data-parallel training on MPI: shards, the gradient Allreduce, N=2 against N=1, kill -9 and resume."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnctl.distributed.ranks as W
from nnctl.distributed.launch import strip_nproc
from nnctl.distributed.ranks import World, rank_report
from nnctl.errors import InputError, NonFiniteError, RuntimeFailure

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "configs" / "digits-mlp.yaml"
MPIEXEC = Path(sys.executable).parent / "mpiexec"

pytest.importorskip("mpi4py")
needs_mpiexec = pytest.mark.skipif(not MPIEXEC.exists() and shutil.which("mpiexec") is None,
                                   reason="no mpiexec (pip install 'nnctl[mpi]')")


@given(st.integers(1, 500), st.integers(1, 9))
def test_shards_partition_the_global_batch(n, size):
    if n < size:
        return
    bounds = [World(r, size).shard(n) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_only_rank_0_reports_errors_every_rank_shares(monkeypatch):
    monkeypatch.setattr(W, "_WORLD", World(1, 2))
    assert rank_report(InputError("bad config")) is None
    assert rank_report(NonFiniteError("loss nan")) is None
    assert rank_report(W.ReplicatedError("run dir exists", 2)) is None
    assert rank_report(RuntimeFailure("out of memory")) == "rank 1 of 2: out of memory"
    monkeypatch.setattr(W, "_WORLD", World(0, 2))
    assert rank_report(InputError("bad config")) == "bad config"


def test_ranks_share_the_cores(monkeypatch):
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PMI_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(v, raising=False)
    W.share_cores_between_ranks()          # one process: nothing changes
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    W.share_cores_between_ranks()
    assert os.environ["OPENBLAS_NUM_THREADS"] == os.environ["OMP_NUM_THREADS"] == "4"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")   # the user's own choice wins
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    W.share_cores_between_ranks()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


def test_strip_nproc():
    assert strip_nproc(["train", "c.yaml", "--nproc", "2", "--quiet"]) == ["train", "c.yaml", "--quiet"]
    assert strip_nproc(["train", "--nproc=3", "c.yaml"]) == ["train", "c.yaml"]


class _TwoIdenticalRanks:
    """A communicator stand-in: the sum over two ranks that hold the same values."""

    calls = 0

    def Allreduce(self, send, recv, op=None):  # noqa: N802 - mpi4py's spelling
        type(self).calls += 1
        recv[...] = 2 * send


def test_bucketed_allreduce_restores_every_gradient(monkeypatch, fresh_graph):
    import nnctl as tf
    from nnctl.distributed import allreduce
    monkeypatch.setattr(W, "_WORLD", World(0, 2, _TwoIdenticalRanks()))
    monkeypatch.setattr(allreduce, "BUCKET_BYTES", 16)   # several buckets for these small tensors
    a = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    b = tf.Variable(np.float32([1.5, -2.0]))
    c = tf.Variable(np.float32(3.0))
    loss = tf.reduce_sum(a * a) + tf.reduce_sum(b * b * b) + c * c
    grads = tf.gradients(loss, [a, b, c])
    reduced, dp = allreduce.allreduce_gradients(grads, loss)
    assert dp.buckets >= 2
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        want = s.run(grads)
        got, lsum, stop = s.run([reduced, dp.loss, dp.stop_out], {dp.shard_weight: 0.5, dp.stop_in: 1.0})
    # two ranks with weight 1/2 each give back the single-process gradient, loss and the stop count
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.allclose(g, w)
    assert np.isclose(lsum, 55 + (1.5 ** 3 - 8) + 9) and stop == 2.0


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, **kw)


def _weights(run_dir: Path) -> dict[str, np.ndarray]:
    from nnctl.train import checkpoint as ckpt
    c = ckpt.latest_intact(run_dir / "checkpoints", lambda m: None)
    return dict(c.arrays)


SHORT = ["--set", "train.steps=60", "--set", "train.eval_every=30", "--set", "train.checkpoint_every=30"]


@needs_mpiexec
def test_two_ranks_match_one_process_and_write_once(tmp_path):
    from nnctl.train.trainer import train
    one, two = tmp_path / "one", tmp_path / "two"
    train(DIGITS, run_dir=one, overrides=[a for a in SHORT if a != "--set"], quiet=True)
    r = _run([sys.executable, "-m", "nnctl", "train", str(DIGITS), "--run-dir", str(two), "--nproc", "2",
              "--quiet", "--check-replicas", "10", *SHORT])
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("completed:") == 1 and r.stdout.count("run dir:") == 1  # rank 0 alone speaks
    w1, w2 = _weights(one), _weights(two)
    assert sorted(w1) == sorted(w2)
    for k in w1:  # the same global batch: equal up to float32 rounding of the summed gradients
        np.testing.assert_allclose(w2[k], w1[k], rtol=2e-4, atol=2e-5, err_msg=k)
    assert sorted(p.name for p in (one / "checkpoints").iterdir()) == \
        sorted(p.name for p in (two / "checkpoints").iterdir())
    l1 = (one / "metrics.jsonl").read_text().splitlines()
    l2 = (two / "metrics.jsonl").read_text().splitlines()
    assert len(l1) == len(l2)  # every record written once, by rank 0
    import json
    for a, b in zip(l1, l2):
        ra, rb = json.loads(a), json.loads(b)
        assert (ra["step"], ra["split"], ra["kind"]) == (rb["step"], rb["split"], rb["kind"])
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-4)


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, step_name: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "checkpoints" / step_name).exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"no {step_name} appeared (exit code {proc.poll()})")


LONG = ["--set", "train.steps=400", "--set", "train.eval_every=200", "--set", "train.checkpoint_every=20"]


@needs_mpiexec
def test_kill_9_of_one_rank_ends_the_job_and_resume_is_exact(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full, cut = tmp_path / "full", tmp_path / "cut"
    mpi = [str(MPIEXEC if MPIEXEC.exists() else shutil.which("mpiexec")), "-n", "2", sys.executable, "-m", "nnctl",
           "train", str(DIGITS), "--quiet"]
    r = _run([*mpi, "--run-dir", str(full), *LONG])
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen([*mpi, "--run-dir", str(cut), *LONG], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(cut, p, "ckpt-00000040")
    ranks = subprocess.run(["pgrep", "-f", "--", f"--run-dir {cut}"], capture_output=True, text=True).stdout.split()
    victim = [int(x) for x in ranks if int(x) != p.pid][-1]
    os.kill(victim, signal.SIGKILL)
    _, err = p.communicate(timeout=120)       # the whole job ends: no rank is left waiting in an Allreduce
    assert p.returncode != 0
    assert not (cut / "summary.json").exists()  # the kill landed mid-run
    steps = sorted(int(c.name[5:]) for c in (cut / "checkpoints").glob("ckpt-*"))
    assert steps and steps[-1] < 400
    other_n = tmp_path / "other-n"
    shutil.copytree(cut, other_n)
    r = _run([*mpi, "--run-dir", str(cut), *LONG, "--resume"])
    assert r.returncode == 0, r.stderr
    a, b = _weights(full), _weights(cut)
    for k in a:   # same number of ranks: bit-identical to the uninterrupted run
        assert np.array_equal(a[k], b[k]), k
    # a different number of ranks continues correctly too (equal up to rounding)
    from nnctl.train.trainer import train
    train(DIGITS, run_dir=other_n, overrides=[x for x in LONG if x != "--set"], resume=True, quiet=True)
    c = _weights(other_n)
    for k in a:
        np.testing.assert_allclose(c[k], a[k], rtol=1e-3, atol=1e-4, err_msg=k)


@needs_mpiexec
def test_ctrl_c_stops_every_rank_at_one_step(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = tmp_path / "r"
    cmd = [sys.executable, "-m", "nnctl", "train", str(DIGITS), "--run-dir", str(run), "--nproc", "2", *LONG]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint(run, p, "ckpt-00000020")
    p.send_signal(signal.SIGINT)   # p is mpiexec (--nproc execs it): it forwards Ctrl-C to the ranks
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.count("SIGINT: stopped at step") == 1 and "mpiexec -n 2 nnctl train" in err
    assert not (run / "summary.json").exists() or '"interrupted"' in (run / "summary.json").read_text()
