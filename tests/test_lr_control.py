"""one_cycle against PyTorch's OneCycleLR, reduce_on_plateau against Keras' rule, both exact on resume."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nnctl as tf
from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"


def _torch_one_cycle(max_lr: float, total: int, pct: float, div: float = 25.0, final_div: float = 1e4) -> list:
    """torch.optim.lr_scheduler.OneCycleLR (anneal_strategy cos, no momentum cycling), transcribed."""
    initial, low = max_lr / div, max_lr / div / final_div
    phases = [(float(pct * total) - 1, initial, max_lr), (float(total - 1), max_lr, low)]
    out = []
    for step in range(total):
        start = 0.0
        for i, (end, a, b) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                frac = (step - start) / (end - start)
                out.append(b + (a - b) / 2.0 * (math.cos(math.pi * frac) + 1))
                break
            start = end
    return out


@pytest.mark.parametrize("total,pct", [(100, 0.3), (37, 0.25), (10, 0.5)])
def test_one_cycle_matches_torch(fresh_graph, total, pct):
    want = _torch_one_cycle(0.1, total, pct)
    gs = tf.placeholder(tf.int64, [])
    lr = tf.train.one_cycle(np.float32(0.1), gs, total, pct)
    with tf.Session() as s:
        got = [float(s.run(lr, {gs: t})) for t in range(total)]
    assert np.max(np.abs(np.array(got) - want)) < 2e-8   # float32 arithmetic on a 0.1 peak


def _lrs(run_dir: Path) -> dict[int, float]:
    recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return {r["step"]: r["lr"] for r in recs if r["kind"] == "batch"}


def test_one_cycle_in_a_run_and_resume_is_exact(tmp_path):
    sets = ["train.steps=60", "train.eval_every=20", "train.checkpoint_every=20", "train.log_every=1",
            "optimizer.schedule={type: one_cycle, pct_start: 0.3}"]
    a = train(IRIS, tmp_path / "a", sets, quiet=True).run_dir
    lrs = _lrs(a)
    assert max(lrs, key=lrs.get) == 17  # the peak is at global step pct_start * total - 1
    assert lrs[60] < 1e-5
    # interrupted at step 40 (a shorter run) and extended to 60: the schedule is re-planned over 60
    b = train(IRIS, tmp_path / "b", [*sets, "train.steps=40"], quiet=True).run_dir
    train(b, overrides=["train.steps=60"], resume=True, quiet=True)
    assert _lrs(b)[60] < 1e-5


def test_reduce_on_plateau_reduces_and_resumes_exactly(tmp_path):
    sets = ["train.steps=120", "train.eval_every=5", "train.checkpoint_every=30", "train.log_every=5",
            "optimizer.lr=0.05",
            "optimizer.schedule={type: reduce_on_plateau, metric: val_loss, patience: 2, factor: 0.5, cooldown: 1, "
            "min_lr: 0.004}"]
    a = train(IRIS, tmp_path / "a", sets, quiet=True).run_dir
    recs = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines() if x.strip()]
    val = [(r["step"], r["loss"]) for r in recs if r["kind"] == "eval" and r["split"] == "val"]
    # replay Keras' rule on the logged validation losses
    lr, best, wait, cool, want = 0.05, None, 0, 0, {}
    for step, v in val:
        want[step] = lr    # the rate logged at an eval step is the one used for that step
        if cool > 0:
            cool -= 1
            wait = 0
        if best is None or v < best - 1e-4:
            best, wait = v, 0
        elif cool <= 0:
            wait += 1
            if wait >= 2 and lr > 0.004:
                lr = float(np.float32(max(lr * 0.5, 0.004)))
                cool, wait = 1, 0
    lrs = _lrs(a)
    for step, w in want.items():
        assert lrs[step] == pytest.approx(w, rel=1e-6), step
    assert min(lrs.values()) < 0.05   # it did reduce
    # killed after step 60 (a checkpoint) and resumed: bit-identical
    b = train(IRIS, tmp_path / "b", [*sets, "train.steps=60"], quiet=True).run_dir
    train(b, overrides=["train.steps=120"], resume=True, quiet=True)
    with np.load(a / "checkpoints" / "ckpt-00000120" / "arrays.npz") as za, \
            np.load(b / "checkpoints" / "ckpt-00000120" / "arrays.npz") as zb:
        for k in za.files:
            assert np.array_equal(za[k], zb[k]), k
