"""dtype names as TensorFlow reads them ("float" is float32, "double" float64) everywhere a dtype is taken."""

import numpy as np
import pytest

import nnctl as tf


@pytest.mark.parametrize("name, want", [("float", np.float32), ("double", np.float64), ("half", np.float16),
                                        ("float32", np.float32), ("float64", np.float64), ("int32", np.int32),
                                        ("int64", np.int64), ("bool", np.bool_), ("uint8", np.uint8)])
def test_as_dtype_names_follow_tensorflow(name, want):
    assert tf.as_dtype(name).np == np.dtype(want)


def test_python_and_numpy_types():
    assert tf.as_dtype(float) is tf.float32
    assert tf.as_dtype(int) is tf.int32
    assert tf.as_dtype(bool) is tf.bool
    assert tf.as_dtype(np.float64) is tf.float64
    assert tf.as_dtype(np.dtype("float32")) is tf.float32


@pytest.mark.parametrize("bad", ["int", "f4", "float_", "string", "complex64"])
def test_non_tf_names_are_refused_with_the_names_tf_knows(bad):
    with pytest.raises(TypeError, match="float32"):
        tf.as_dtype(bad)


def test_dtype_compares_with_tf_spellings():
    assert tf.float32 == "float" and tf.float64 == "double" and tf.float32 != "double"


def test_float_everywhere_a_dtype_is_taken(fresh_graph):
    x = tf.placeholder("float", [None, 2])
    w = tf.Variable(tf.zeros([2, 1], dtype="float"), dtype="float")
    c = tf.constant([1.0], dtype="float")
    r = tf.random_normal([2], dtype="float")
    k = tf.cast(x, "double")
    y = tf.matmul(x, w) + c
    assert {t.dtype for t in (x, w, c, r, y)} == {tf.float32}
    assert k.dtype == tf.float64
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert s.run(y, {x: [[1.0, 2.0]]}).dtype == np.float32


def test_mismatch_error_names_the_spelling_it_read(fresh_graph):
    x = tf.placeholder("float", [None, 2], name="x")
    w = tf.placeholder("float64", [2, 1], name="w")
    with pytest.raises(TypeError) as e:
        tf.matmul(x, w)
    msg = str(e.value)
    assert "read from dtype='float'" in msg and "read from dtype='float64'" in msg and "tf.cast" in msg
