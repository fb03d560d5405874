"""TensorBoard logs read back with TensorBoard's own reader: a config run and a TF1 program using tf.summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnctl.train.rundir import read_metrics
from nnctl.train.trainer import train

ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

ROOT = Path(__file__).resolve().parents[1]
IRIS = ROOT / "configs" / "iris.yaml"


def _acc(path: Path):
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0,
                                                        ea.TENSORS: 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tb") / "iris"
    train(IRIS, d, ["train.steps=60", "train.eval_every=20", "train.log_every=10", "metrics=[accuracy, f1]"],
          quiet=True)
    return d


def test_config_run_scalars_match_metrics_jsonl(iris_run):
    recs = read_metrics(iris_run / "metrics.jsonl")
    for split in ("train", "val"):
        acc = _acc(iris_run / "tensorboard" / split)
        evals = [r for r in recs if r["kind"] == "eval" and r["split"] == split]
        for tag in ("loss", "accuracy", "f1"):
            got = [(e.step, e.value) for e in acc.Scalars(tag)]
            assert got == [(r["step"], pytest.approx(r[tag], rel=1e-6)) for r in evals]
    acc = _acc(iris_run / "tensorboard" / "train")
    batches = [r for r in recs if r["kind"] == "batch"]
    assert [e.step for e in acc.Scalars("batch_loss")] == [r["step"] for r in batches]
    assert [e.value for e in acc.Scalars("lr")] == pytest.approx([r["lr"] for r in batches])
    for tag in ("grad_norm", "steps_per_sec"):
        assert len(acc.Scalars(tag)) == len(batches) and all(e.value > 0 for e in acc.Scalars(tag))


def test_config_run_histograms_every_eval(iris_run):
    acc = _acc(iris_run / "tensorboard" / "train")
    tags = acc.Tags()["histograms"]
    for var in ("dense_0/kernel", "dense_0/bias", "dense_1/kernel", "dense_1/bias"):
        assert f"weights/{var}" in tags and f"gradients/{var}" in tags
        assert [h.step for h in acc.Histograms(f"weights/{var}")] == [20, 40, 60]
    h = acc.Histograms("weights/dense_0/kernel")[-1].histogram_value
    assert h.num == 4 * 16 and h.min <= h.max


def test_config_run_graph_has_forward_gradient_and_update_nodes(iris_run):
    g = _acc(iris_run / "tensorboard" / "train").Graph()
    nodes = {n.name: n for n in g.node}
    assert "x" in nodes and nodes["x"].op == "Placeholder"
    assert nodes["dense_0/kernel"].op == "VariableV2"
    grads = [n for n in nodes if n.startswith("gradients/")]
    assert any("MatMul_grad" in n for n in grads) and len(grads) > 10
    updates = [n for n in nodes.values() if n.op == "ApplyAdam"]
    assert {u.name.split("/update_")[1].rsplit("/", 1)[0] for u in updates} >= {"dense_0/kernel", "dense_1/bias"}
    # inputs are wired: an update reads its gradient from the gradients/ scope
    assert any(i.startswith("gradients/") or "clip" in i for u in updates for i in u.input)
    assert "_output_shapes" in nodes["dense_0/kernel"].attr


def test_resume_purges_orphaned_steps(tmp_path):
    d = tmp_path / "run"
    sets = ["train.steps=40", "train.eval_every=10", "train.checkpoint_every=20", "train.log_every=10"]
    train(IRIS, d, sets, quiet=True)
    train(d, overrides=["train.steps=60"], resume=True, quiet=True)
    acc = _acc(d / "tensorboard" / "val")
    steps = [e.step for e in acc.Scalars("loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 60


TF1_PROGRAM = '''
import sys
import numpy as np
import nnctl as tf

x = tf.placeholder(tf.float32, [None, 2], name="x")
y = tf.placeholder(tf.float32, [None, 1], name="y")
with tf.name_scope("layer"):
    w = tf.Variable(tf.random_normal([2, 1], stddev=0.1, seed=1), name="w")
    b = tf.Variable(tf.zeros([1]), name="b")
    pred = tf.matmul(x, w) + b
loss = tf.reduce_mean(tf.square(pred - y))
train_op = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
with tf.name_scope("summaries"):
    tf.summary.scalar("loss", loss)
    tf.summary.histogram("w", w)
img = tf.summary.image("inputs", tf.reshape(tf.sigmoid(x[:8]), [1, 4, 4, 1]))
note = tf.summary.text("note", "hello from nnctl")
merged = tf.summary.merge_all()
xs = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
ys = (xs @ np.array([[2.0], [-1.0]]) + 0.5).astype(np.float32)
with tf.Session() as sess:
    writer = tf.summary.FileWriter(sys.argv[1], sess.graph)
    sess.run(tf.global_variables_initializer())
    for step in range(10):
        s, _ = sess.run([merged, train_op], {x: xs, y: ys})
        assert isinstance(s, bytes)
        writer.add_summary(s, step)
    writer.add_summary(sess.run(tf.summary.merge([img, note]), {x: xs}), 10)
    writer.flush()
    writer.close()
    print(repr(sess.run(loss, {x: xs, y: ys})))
'''


def test_tf1_program_with_tf_summary_runs_unchanged(tmp_path):
    import subprocess
    import sys
    prog = tmp_path / "prog.py"
    prog.write_text(TF1_PROGRAM)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(prog), str(tmp_path / "logs")], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    acc = _acc(tmp_path / "logs")
    tags = acc.Tags()
    assert tags["scalars"] == ["summaries/loss"] and tags["histograms"] == ["summaries/w"]
    assert tags["images"] == ["inputs/image"] and tags["graph"]
    losses = [e.value for e in acc.Scalars("summaries/loss")]
    assert [e.step for e in acc.Scalars("summaries/loss")] == list(range(10))
    assert losses == sorted(losses, reverse=True)   # gradient descent on a convex loss
    assert [i.step for i in acc.Images("inputs/image")] == list(range(11))
    assert "note/text_summary" in tags["tensors"]
    h = acc.Histograms("summaries/w")[-1].histogram_value
    assert h.num == 2
    names = {n.name: n for n in acc.Graph().node}
    assert names["summaries/loss"].op == "ScalarSummary"
    assert any(n.startswith("gradients/") for n in names)
    assert names["GradientDescent/update_layer/w/ApplyGradientDescent"].op == "ApplyGradientDescent"


def test_summary_ops_are_graph_nodes_returning_bytes(fresh_graph):
    from tensorboardX.proto.summary_pb2 import Summary

    import nnctl as tf
    v = tf.constant(np.float32(2.5))
    s = tf.summary.scalar("v", v)
    assert s.dtype == tf.string and s in tf.get_collection(tf.GraphKeys.SUMMARIES)
    with tf.Session() as sess:
        out = sess.run(s)
    proto = Summary()
    proto.ParseFromString(out)
    assert proto.value[0].tag == "v" and proto.value[0].simple_value == 2.5
    assert tf.summary.merge_all(key="nothing_here") is None
