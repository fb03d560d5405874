"""tf.app.run / tf.flags, tf.compat.v1, tf.random, tf.math, tf.gfile / tf.io.gfile, tf.logging, and the
error for a TF1 name nnctl lacks."""

import logging
import subprocess
import sys
import textwrap

import pytest

import nnctl as tf
from nnctl import flags as nflags


@pytest.fixture
def fv():
    return nflags.FlagValues()


def test_flags_parse_like_absl(fv):
    tf.flags.DEFINE_string("data_dir", "/tmp/data", "where", flag_values=fv)
    tf.flags.DEFINE_integer("max_steps", 100, "steps", flag_values=fv)
    tf.flags.DEFINE_float("learning_rate", 0.01, "lr", flag_values=fv)
    tf.flags.DEFINE_boolean("fake_data", False, "fake", flag_values=fv)
    tf.flags.DEFINE_bool("verbose", True, "v", flag_values=fv)
    rest = fv(["prog", "--max_steps=7", "--learning_rate", "0.5", "--fake_data", "-noverbose", "pos", "--",
               "--x"])
    assert rest == ["prog", "pos", "--x"]
    assert (fv.data_dir, fv.max_steps, fv.learning_rate, fv.fake_data, fv.verbose) == ("/tmp/data", 7, 0.5, True,
                                                                                       False)
    assert fv.flag_values_dict()["max_steps"] == 7
    with pytest.raises(nflags.UnrecognizedFlagError, match="nope"):
        fv(["prog", "--nope=1"])
    with pytest.raises(nflags.IllegalFlagValueError, match="max_steps"):
        fv(["prog", "--max_steps=abc"])
    with pytest.raises(nflags.DuplicateFlagError):
        tf.flags.DEFINE_integer("max_steps", 1, "again", flag_values=fv)
    with pytest.raises(AttributeError, match="no flag named"):
        _ = fv.missing


def test_app_run_in_a_script(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import nnctl as tf
        flags = tf.app.flags
        FLAGS = flags.FLAGS
        flags.DEFINE_integer("steps", 3, "how many")
        flags.DEFINE_string("name", "x", "a name")
        print("before run:", FLAGS.steps)  # read before run: parsed leniently from sys.argv, as TF1

        def main(argv):
            print("steps", FLAGS.steps, "name", FLAGS.name, "rest", argv[1:])
            return 0

        if __name__ == "__main__":
            tf.app.run()
    """))
    r = subprocess.run([sys.executable, str(prog), "--steps=5", "--name", "abc", "extra"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["before run: 5", "steps 5 name abc rest ['extra']"]
    r = subprocess.run([sys.executable, str(prog), "--stepz=5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Unknown command line flag 'stepz'" in r.stderr


def test_compat_v1_is_the_whole_api(fresh_graph):
    v1 = tf.compat.v1
    assert v1.placeholder is tf.placeholder and v1.train.AdamOptimizer is tf.train.AdamOptimizer
    v1.disable_eager_execution()
    tf.disable_v2_behavior()
    assert tf.executing_eagerly() is False


def test_random_and_math_namespaces(fresh_graph):
    tf.random.set_random_seed(3)
    a = tf.random.normal([2], seed=1)
    b = tf.random.uniform([2])
    c = tf.random.truncated_normal([2])
    assert tf.math.reduce_sum is tf.reduce_sum and tf.math.log is tf.log and tf.math.sigmoid is tf.sigmoid
    with tf.Session() as s:
        first = s.run([a, b, c])
    with tf.Session() as s:
        again = s.run([a, b, c])
    for x, y in zip(first, again):
        assert (x == y).all()  # the graph-level seed fixes every op's stream


def test_gfile(tmp_path):
    d = tmp_path / "a" / "b"
    tf.gfile.MakeDirs(str(d))
    assert tf.io.gfile.exists(str(d)) and tf.gfile.IsDirectory(str(d))
    with tf.gfile.GFile(str(d / "f.txt"), "w") as f:
        f.write("hi\n")
    with tf.io.gfile.GFile(str(d / "f.txt")) as f:
        assert f.read() == "hi\n"
    assert tf.io.gfile.glob(str(d / "*.txt")) == [str(d / "f.txt")]
    assert tf.gfile.ListDirectory(str(d)) == ["f.txt"]
    tf.io.gfile.remove(str(d / "f.txt"))
    assert not tf.gfile.Exists(str(d / "f.txt"))
    with pytest.raises(tf.errors.NotFoundError):
        tf.gfile.Remove(str(d / "f.txt"))
    tf.gfile.DeleteRecursively(str(tmp_path / "a"))
    assert not tf.io.gfile.exists(str(tmp_path / "a"))


def test_logging_levels(caplog):
    old = tf.logging.get_verbosity()
    try:
        logger = logging.getLogger("tensorflow")
        logger.propagate = True
        tf.logging.set_verbosity(tf.logging.INFO)
        with caplog.at_level(logging.INFO, logger="tensorflow"):
            tf.logging.info("step %d", 3)
        assert "step 3" in caplog.text
        assert tf.logging.INFO == logging.INFO and tf.logging.WARN == logging.WARNING
    finally:
        logging.getLogger("tensorflow").propagate = False
        tf.logging.set_verbosity(old)


def test_casts(fresh_graph):
    x = tf.constant([1.7, -2.2])
    assert tf.to_int32(x).dtype == tf.int32 and tf.to_int64(x).dtype == tf.int64
    assert tf.to_double(x).dtype == tf.float64
    with tf.Session() as s:
        assert s.run(tf.to_int32(x)).tolist() == [1, -2]


@pytest.mark.parametrize("path", ["tf.estimator", "tf.keras", "tf.not_a_thing", "tf.nn.ctc_loss",
                                  "tf.train.Supervisor", "tf.math.bessel_i0"])
def test_missing_names_say_not_supported(path):
    obj = tf
    parts = path.split(".")[1:]
    for p in parts[:-1]:
        obj = getattr(obj, p)
    with pytest.raises(AttributeError, match="not supported by nnctl") as e:
        getattr(obj, parts[-1])
    assert "did you mean" not in str(e.value).lower()
    assert not hasattr(obj, parts[-1])
