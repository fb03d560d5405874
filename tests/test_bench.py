"""Smoke tests of the benchmark programs in bench/: every workload trains a few steps on nnctl's
TF1 API, and where PyTorch or the numpy reference has the model, their per-step losses agree
with nnctl's (same data, same initial weights from bench/workloads.py). Small batches and widths
keep it quick; the benchmark sizes themselves are bench/run.py's business.

Each program runs in its own process, as bench/run.py runs it (one default graph per program).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

from workloads import WORKLOADS, make_workload, model_of  # noqa: E402

# Small versions: (batch, hidden) per workload (None: the workload's own).
SMALL = {
    "xor": (None, None),
    "mlp": (8, "32,16"),
    "mlp1024": (8, "32,16"),
    "cnn": (4, "16"),
    "resnet": (4, "4,8,8"),
    "lstm": (4, "16"),
    "transformer": (4, "16"),
}
STEPS = 3


def run_bench(script: str, workload: str) -> dict:
    batch, hidden = SMALL[workload]
    cmd = [sys.executable, str(BENCH / script), "--workload", workload, "--steps", str(STEPS), "--warmup", "0",
           "--json", "--losses"]
    if batch:
        cmd += ["--batch-size", str(batch)]
    if hidden:
        cmd += ["--hidden", hidden]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NNCTL_BENCH_BACKEND", None)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"{script} {workload}: no JSON (exit {p.returncode})\n{p.stderr[-3000:]}"
    res = json.loads(lines[-1])
    res["returncode"] = p.returncode
    return res


def test_every_workload_has_its_small_version() -> None:
    assert set(SMALL) == set(WORKLOADS)


@pytest.mark.parametrize("workload", ["resnet", "transformer"])
def test_workload_data_and_weights_are_fixed_by_the_seed(workload: str) -> None:
    a, b = make_workload(workload, seed=0, batch_size=2), make_workload(workload, seed=0, batch_size=2)
    c = make_workload(workload, seed=1, batch_size=2)
    for k in a["weights"]:
        assert np.array_equal(a["weights"][k], b["weights"][k])
    assert np.array_equal(a["batches"][0][0], b["batches"][0][0])
    assert not np.array_equal(a["batches"][0][0], c["batches"][0][0])
    assert model_of("mlp1024") == "mlp" and make_workload("mlp1024")["batch_size"] == 1024


@pytest.mark.parametrize("workload", WORKLOADS)
def test_nnctl_trains_every_workload_and_agrees_with_the_references(workload: str) -> None:
    res = run_bench("nnctl_bench.py", workload)
    assert res["returncode"] == 0, res.get("error") or res.get("unavailable")
    losses = res["losses"]
    assert len(losses) == STEPS and all(np.isfinite(losses))
    assert losses[-1] != losses[0]  # the step trains
    refs = []
    try:
        import torch  # noqa: F401
        refs.append("torch_bench.py")
    except ImportError:
        pass
    if model_of(workload) in ("xor", "mlp", "cnn"):
        refs.append("numpy_bench.py")
    for script in refs:
        ref = run_bench(script, workload)
        assert ref["returncode"] == 0, f"{script}: {ref.get('error') or ref.get('unavailable')}"
        assert ref["fingerprint"] == res["fingerprint"]
        # Same model, data and weights: the per-step losses agree to float32 round-off (torch's
        # Adam puts eps elsewhere, which moves nothing visible in 3 steps).
        np.testing.assert_allclose(ref["losses"], losses, rtol=2e-4, err_msg=f"{script} vs nnctl on {workload}")


@pytest.mark.parametrize("script,args", [
    ("op_profile.py", ["--workload", "xor", "--steps", "3", "--warmup", "2", "--top", "3"]),
    ("ab.py", ["--workload", "xor", "--without", "fusion", "--rounds", "2", "--steps", "2"]),
])
def test_the_profiling_tools_run(script: str, args: list[str]) -> None:
    """bench/op_profile.py times a workload's bound steps op by op; bench/ab.py binds it with and
    without one optimization: both run end to end and report."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "xor:" in out.stdout and "ms/step" in out.stdout
