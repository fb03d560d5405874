"""TF1 tutorial-style programs (tests/tf1_programs/) run with ``import nnctl as tf``: each must run to
completion, learn what it should, and, where it is deterministic, reach the numbers real TensorFlow
reached from the same initial weights (tests/tf1_programs/tf_reference.json, recorded by
record_tf_reference.py under TF 2.x compat.v1)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import nnctl as tf

HERE = Path(__file__).parent / "tf1_programs"
REFERENCE = json.loads((HERE / "tf_reference.json").read_text())["programs"]


def _result(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"program printed no RESULT line:\n{stdout[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def run_program(name: str) -> dict:
    """Run a program in this process (a fresh default graph, its folder on sys.path); its RESULT."""
    tf.reset_default_graph()
    out = io.StringIO()
    old_cwd, old_path = os.getcwd(), list(sys.path)
    sys.path.insert(0, str(HERE))
    try:
        os.chdir(HERE)
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path
        tf.reset_default_graph()
    return _result(out.getvalue())


def run_subprocess(name: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(tf.__file__).parent.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *args], cwd=HERE, capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return _result(r.stdout)


def _close(got: dict, want: dict, rtol: float) -> None:
    assert set(got) == set(want)
    for k, w in want.items():
        if isinstance(w, (bool, str, list)):
            assert got[k] == w, k
        else:
            assert got[k] == pytest.approx(w, rel=rtol, abs=1e-6), k


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_deterministic_program_matches_tensorflow(name):
    # float32 arithmetic in a different order (BLAS, fused kernels) drifts a little over hundreds of steps
    _close(run_program(name), REFERENCE[name], rtol=2e-3)


def test_tf_layers_cnn_in_a_variable_scope():
    # (tf.compat.v1.layers needs Keras 2, so TF 2.21 itself cannot run this one)
    r = run_program("layers_cnn")
    assert r["accuracy"] > 0.93 and r["trainable_variables"] == 8 and r["first"] == "ConvNet/conv2d/kernel:0"


def test_linear_regression_fits_the_line():
    r = run_program("linear_regression")
    assert r["cost"] < 0.06 and abs(r["W"] - 0.3) < 0.1


def test_cnn_learns_the_digits():
    assert run_program("cnn")["accuracy"] > 0.93


def test_vae_loss_falls():
    r = run_program("vae")
    assert r["test_loss"] < 0.6 * r["first_loss"]


def test_gan_matches_the_real_distribution():
    r = run_program("gan")
    assert abs(r["mean"] - 3.0) < 0.3 and 0.2 < r["std"] < 0.9


def test_word2vec_groups_words_by_context():
    r = run_program("word2vec")
    assert r["same_topic"] > r["other_topic"] + 0.2


def test_cond_is_training_updates_averages_only_when_training():
    r = run_program("cond_is_training")
    assert r["accuracy"] > 0.93 and r["test_pass_left_averages"] and r["pop_mean_abs"] > 0


def test_saver_restores_in_a_second_process(tmp_path):
    trained = run_subprocess("saver_train", str(tmp_path / "ckpt"))
    restored = run_subprocess("saver_restore", str(tmp_path / "ckpt"))
    assert trained["path"].endswith("model.ckpt-300")
    assert restored == {"accuracy": trained["accuracy"], "global_step": 300, "kept": 2}
    assert trained["accuracy"] > 0.9


def test_flags_and_app_run():
    r = run_subprocess("flags_app", "--max_steps=60", "--learning_rate", "0.2", "--fake_data")
    assert r["steps"] == 60 and r["fake_data"] is True and r["w"] == pytest.approx(2.0, abs=1e-3)


def test_lstm_reads_rows_with_static_rnn():
    r = run_program("lstm_static_rnn")
    assert r["accuracy"] > 0.85 and r["last_loss"] < 0.5 * r["first_loss"]
    assert "rnn/basic_lstm_cell/kernel:0" in r["variables"] and "rnn/basic_lstm_cell/bias:0" in r["variables"]
