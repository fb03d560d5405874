"""Start-up stays cheap: what each entry point imports, checked in a fresh interpreter.

Each case runs in a subprocess (this test process has imported everything already) and lists the
top-level packages in ``sys.modules`` afterwards. The heavy ones are imported only by the features
that need them: pyarrow by the CSV/Parquet readers, tensorboardX by the TensorBoard writer, PIL by
image data and image summaries, onnx by the ONNX export, matplotlib by plotting; torch never
(tensorboardX would import it: see nnctl/events/tbx.py), and numba never (the compiled kernels are
a small C library, runtime/native.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Third-party packages nnctl may use somewhere; no entry point below needs all of them.
WATCHED = ("numpy", "torch", "tensorboardX", "tensorboard", "google", "pyarrow", "PIL", "matplotlib", "onnx",
           "onnxruntime", "numba", "llvmlite", "scipy", "pandas", "sklearn", "yaml", "rich", "typer", "pydantic",
           "cupy", "mpi4py", "starlette", "uvicorn", "optuna", "safetensors")

PRELUDE = f"""
import json, sys
WATCHED = {WATCHED!r}
def loaded():
    return sorted({{m.split(".")[0] for m in sys.modules}} & set(WATCHED))
"""


def _loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The watched packages imported after running ``code`` (which prints ``json.dumps(loaded())`` last)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT), env.get("PYTHONPATH", "")) if x)
    r = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_nnctl_imports_no_third_party_package(tmp_path):
    # the names load on first use (nnctl/__init__.py), so `nnctl --help` does not even load numpy
    assert _loaded_after("import nnctl\nprint(json.dumps(loaded()))", tmp_path) == []


def test_tf1_graph_session_and_steps_need_numpy_only(tmp_path):
    code = """
    import numpy as np
    import nnctl as tf
    x = tf.placeholder(tf.float32, [None, 2])
    y = tf.placeholder(tf.float32, [None, 1])
    w1 = tf.Variable(np.full((2, 3), 0.5, np.float32)); b1 = tf.Variable(np.zeros(3, np.float32))
    w2 = tf.Variable(np.full((3, 1), 0.5, np.float32)); b2 = tf.Variable(np.zeros(1, np.float32))
    out = tf.sigmoid(tf.matmul(tf.sigmoid(tf.matmul(x, w1) + b1), w2) + b2)
    loss = tf.reduce_sum(tf.square(y - out))
    train = tf.train.GradientDescentOptimizer(1.0).minimize(loss)
    xs = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], np.float32); ys = np.array([[0], [0], [1], [1]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run([train, loss], {x: xs, y: ys})
    print(json.dumps(loaded()))
    """
    assert _loaded_after(code, tmp_path) == ["numpy"]


def test_xor_config_and_model_need_numpy_and_yaml_only(tmp_path):
    code = """
    from nnctl.builder import build_model
    from nnctl.config import load_config
    model = build_model(load_config("configs/xor.yaml"))
    assert model.graph.get_operations()
    print(json.dumps(loaded()))
    """
    assert _loaded_after(code, tmp_path) == ["numpy", "yaml"]


def test_train_xor_imports_only_what_it_uses(tmp_path):
    run_dir = tmp_path / "run"
    code = f"""
    from nnctl.cli import main
    sys.argv = ["nnctl", "train", "configs/xor.yaml", "--run-dir", {str(run_dir)!r}, "-q"]
    try:
        main()
    except SystemExit as e:
        assert not e.code, e.code
    print(json.dumps(loaded()))
    """
    got = set(_loaded_after(code, tmp_path))
    # the CSV reader, the TensorBoard writer (and its protobuf), the CLI and its output
    assert got <= {"numpy", "yaml", "pyarrow", "tensorboardX", "google", "rich", "typer", "pydantic"}, got
    # the TensorBoard logs were written, so tensorboardX was imported, without torch
    assert "tensorboardX" in got and "torch" not in got
    assert list((run_dir / "tensorboard" / "train").glob("events.out.tfevents.*"))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None or importlib.util.find_spec("tensorboardX") is None,
                    reason="needs torch and tensorboardX")
def test_tensorboardx_without_torch_leaves_torch_importable(tmp_path):
    code = """
    from nnctl.events.tbx import tbx
    tbx("writer")
    assert "torch" not in sys.modules
    import torch                      # the block is lifted at once: torch still imports
    assert torch.ones(2).sum().item() == 2.0
    print(json.dumps(loaded()))
    """
    assert "torch" in _loaded_after(code, tmp_path)
