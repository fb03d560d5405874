"""tf.train.Saver on nnctl's checksummed format: save/restore, global_step prefixes, max_to_keep,
var_list, the `checkpoint` state file, fresh sessions and processes, damaged files."""

import os
import subprocess
import sys

import numpy as np
import pytest

import nnctl as tf
from nnctl.errors import FileFormatError


def _model():
    w = tf.Variable(tf.random_normal([3, 2], seed=1), name="w")
    b = tf.Variable(tf.zeros([2]), name="b")
    return w, b


def test_save_restore_fresh_session(fresh_graph, tmp_path):
    w, b = _model()
    saver = tf.train.Saver()
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        s.run(b.assign([1.5, -2.0]))
        want = s.run([w, b])
        path = saver.save(s, str(tmp_path / "model.ckpt"))
    assert path == str(tmp_path / "model.ckpt")
    assert os.path.isfile(path + ".index") and os.path.isfile(path + ".data-00000-of-00001")
    with tf.Session() as s:
        saver.restore(s, path)
        got = s.run([w, b])
    for a, c in zip(want, got):
        np.testing.assert_array_equal(a, c)


def test_global_step_max_to_keep_and_state_file(fresh_graph, tmp_path):
    w, _ = _model()
    step = tf.train.get_or_create_global_step()
    saver = tf.train.Saver(max_to_keep=2)
    prefix = str(tmp_path / "m.ckpt")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        paths = [saver.save(s, prefix, global_step=i) for i in (1, 2, 3)]
        s.run(step.assign(7))
        paths.append(saver.save(s, prefix, global_step=step))
    assert paths == [f"{prefix}-1", f"{prefix}-2", f"{prefix}-3", f"{prefix}-7"]
    assert not os.path.exists(f"{prefix}-1.index") and not os.path.exists(f"{prefix}-2.index")
    assert os.path.exists(f"{prefix}-3.index")
    text = (tmp_path / "checkpoint").read_text()
    assert text.splitlines() == ['model_checkpoint_path: "m.ckpt-7"', 'all_model_checkpoint_paths: "m.ckpt-3"',
                                 'all_model_checkpoint_paths: "m.ckpt-7"']
    assert tf.train.latest_checkpoint(str(tmp_path)) == f"{prefix}-7"
    st = tf.train.get_checkpoint_state(str(tmp_path))
    assert st.model_checkpoint_path == f"{prefix}-7"
    assert st.all_model_checkpoint_paths == [f"{prefix}-3", f"{prefix}-7"]
    assert tf.train.latest_checkpoint(str(tmp_path / "nothing")) is None
    assert dict(tf.train.list_variables(str(tmp_path)))["w"] == [3, 2]
    assert tf.train.load_variable(str(tmp_path), "global_step") == 7


def test_var_list_as_list_and_dict(fresh_graph, tmp_path):
    w, b = _model()
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        wv = s.run(w)
        p = tf.train.Saver({"weights": w}).save(s, str(tmp_path / "d"))
        q = tf.train.Saver([b]).save(s, str(tmp_path / "l"))
    assert [n for n, _ in tf.train.list_variables(p)] == ["weights"]
    assert [n for n, _ in tf.train.list_variables(q)] == ["b"]
    with tf.Graph().as_default():
        other = tf.Variable(tf.zeros([3, 2]), name="other")
        with tf.Session() as s:
            tf.train.Saver({"weights": other}).restore(s, p)
            np.testing.assert_array_equal(s.run(other), wv)


def test_restore_in_a_fresh_process(fresh_graph, tmp_path):
    w, b = _model()
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        want = s.run(w)
        tf.train.Saver().save(s, str(tmp_path / "model.ckpt"), global_step=5)
    np.save(tmp_path / "want.npy", want)
    prog = f"""
import numpy as np, nnctl as tf
w = tf.Variable(tf.zeros([3, 2]), name="w")
b = tf.Variable(tf.ones([2]), name="b")
saver = tf.train.Saver()
with tf.Session() as s:
    saver.restore(s, tf.train.latest_checkpoint({str(tmp_path)!r}))
    np.testing.assert_array_equal(s.run(w), np.load({str(tmp_path / 'want.npy')!r}))
    assert s.run(b).tolist() == [0.0, 0.0]
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_errors_name_the_file(fresh_graph, tmp_path):
    w, _ = _model()
    saver = tf.train.Saver()
    with tf.Session() as s:
        with pytest.raises(tf.errors.FailedPreconditionError, match="uninitialized"):
            saver.save(s, str(tmp_path / "x"))
        s.run(tf.global_variables_initializer())
        p = saver.save(s, str(tmp_path / "x"))
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            saver.restore(s, str(tmp_path / "missing"))
        data = p + ".data-00000-of-00001"
        raw = bytearray(open(data, "rb").read())
        raw[len(raw) // 2] ^= 0xFF
        open(data, "wb").write(bytes(raw))
        with pytest.raises(FileFormatError, match="data-00000-of-00001.*SHA-256"):
            saver.restore(s, p)
        open(p + ".index", "w").write("{broken")
        with pytest.raises(FileFormatError, match=r"x\.index"):
            saver.restore(s, p)
    with tf.Graph().as_default():
        tf.Variable(tf.zeros([4]), name="w")
        tf.Variable(tf.zeros([2]), name="b")
        saver2 = tf.train.Saver()
        with tf.Session() as s:
            q = str(tmp_path / "y")
            s.run(tf.global_variables_initializer())
            saver2.save(s, q)
    with pytest.raises(FileFormatError, match="shape"):
        with tf.Session() as s:
            saver.restore(s, q)


def test_no_variables():
    with tf.Graph().as_default(), pytest.raises(ValueError, match="No variables to save"):
        tf.train.Saver()


def test_import_meta_graph_in_a_fresh_process(fresh_graph, tmp_path):
    """The cv-tricks restore tutorial: import_meta_graph, restore, tensors and the train op by name."""
    w1 = tf.placeholder("float", name="w1")
    b1 = tf.Variable(2.0, name="bias")
    tf.multiply(tf.add(w1, 1.0), b1, name="op_to_restore")
    w = tf.Variable(tf.ones([3, 1]), name="W")
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w)), name="loss")
    tf.train.GradientDescentOptimizer(0.1).minimize(loss, name="train")
    tf.add_to_collection("pred", loss)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        s.run(b1.assign(3.0))
        prefix = tf.train.Saver().save(s, str(tmp_path / "m"), global_step=7)
        want = s.run(loss, {x: np.ones((2, 3))})
    assert os.path.isfile(prefix + ".meta")
    prog = f"""
import numpy as np, nnctl as tf
sess = tf.Session()
saver = tf.train.import_meta_graph({prefix + '.meta'!r})
saver.restore(sess, tf.train.latest_checkpoint({str(tmp_path)!r}))
g = tf.get_default_graph()
print(sess.run(g.get_tensor_by_name("op_to_restore:0"), {{g.get_tensor_by_name("w1:0"): 4.0}}))
x = g.get_tensor_by_name("x:0")
loss = tf.get_collection("pred")[0]
before = sess.run(loss, {{x: np.ones((2, 3))}})
sess.run(g.get_operation_by_name("train"), {{x: np.ones((2, 3))}})
print(before, sess.run(loss, {{x: np.ones((2, 3))}}) < before, len(tf.trainable_variables()))
"""
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.strip().splitlines()
    assert float(first) == 15.0
    b, dec, n = second.split()
    assert float(b) == pytest.approx(float(want)) and dec == "True" and n == "2"


def test_damaged_meta_graph_names_the_file(fresh_graph, tmp_path):
    tf.Variable(1.0, name="v")
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        prefix = tf.train.Saver().save(s, str(tmp_path / "m"))
    meta = prefix + ".meta"
    raw = bytearray(open(meta, "rb").read())
    raw[len(raw) // 3] ^= 0x55
    open(meta, "wb").write(bytes(raw))
    with tf.Graph().as_default(), pytest.raises(FileFormatError, match=r"m\.meta"):
        tf.train.import_meta_graph(meta)
