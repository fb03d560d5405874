"""ONNX export of TF1-API graphs with the conv variants, 1-D pools, resize and the extra activations:
each exported with nnctl.export.to_onnx (which verifies it), then run again in onnxruntime on new inputs
and compared with nnctl."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import nnctl as tf
from nnctl.export import to_onnx


def _check(build, shape: list, tmp: Path, feed_batch: int = 3) -> None:  # noqa: ANN001
    g = tf.Graph()
    rng = np.random.default_rng(0)
    with g.as_default():
        x = tf.placeholder(tf.float32, shape, name="x")
        y = build(x, lambda *s: tf.constant(rng.standard_normal(s).astype(np.float32)))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())   # variables (layer_norm's) are frozen into the model
            xv = rng.standard_normal([feed_batch if d is None else d for d in shape]).astype(np.float32)
            to_onnx(sess, [x], {"y": y}, tmp / "m.onnx", sample={"x": xv})
            s = ort.InferenceSession(str(tmp / "m.onnx"), providers=["CPUExecutionProvider"])
            xv2 = rng.standard_normal(xv.shape).astype(np.float32)
            np.testing.assert_allclose(s.run(["y"], {"x": xv2})[0], sess.run(y, {x: xv2}), rtol=1e-4, atol=1e-5)


CONV_CASES = {
    "depthwise_same_s2": (lambda x, c: tf.nn.depthwise_conv2d(x, c(3, 3, 4, 2), [1, 2, 2, 1], "SAME"), [None, 9, 8, 4]),
    "depthwise_valid_dilated": (lambda x, c: tf.nn.depthwise_conv2d(x, c(2, 3, 4, 1), [1, 1, 1, 1], "VALID",
                                                                    rate=[2, 2]), [None, 9, 8, 4]),
    "separable": (lambda x, c: tf.nn.separable_conv2d(x, c(3, 3, 4, 2), c(1, 1, 8, 6), [1, 1, 1, 1], "SAME"),
                  [None, 8, 8, 4]),
    "grouped": (lambda x, c: tf.nn.conv2d(x, c(3, 3, 2, 6), [1, 1, 1, 1], "SAME"), [None, 8, 8, 4]),
    "atrous": (lambda x, c: tf.nn.atrous_conv2d(x, c(3, 3, 4, 5), 2, "SAME"), [None, 9, 8, 4]),
    "conv1d_valid_s2": (lambda x, c: tf.nn.conv1d(x, c(3, 4, 5), 2, "VALID"), [None, 11, 4]),
    "conv2d_transpose_same_s2": (lambda x, c: tf.nn.conv2d_transpose(x, c(3, 3, 5, 4), [3, 7, 8, 5], [1, 2, 2, 1],
                                                                     "SAME"), [3, 4, 4, 4]),
    "conv2d_transpose_valid_pad": (lambda x, c: tf.nn.conv2d_transpose(x, c(3, 3, 5, 4), [3, 10, 10, 5],
                                                                       [1, 2, 2, 1], "VALID"), [3, 4, 4, 4]),
    "pool1d": (lambda x, c: tf.nn.max_pool1d(x, 3, 2, "SAME") + tf.nn.avg_pool1d(x, 3, 2, "SAME"), [None, 11, 4]),
    "resize_bilinear": (lambda x, c: tf.image.resize_bilinear(x, (13, 7)), [None, 6, 5, 3]),
    "resize_bilinear_corners": (lambda x, c: tf.image.resize_bilinear(x, (4, 9), align_corners=True), [None, 6, 5, 3]),
    "resize_bilinear_half": (lambda x, c: tf.image.resize_bilinear(x, (13, 3), half_pixel_centers=True),
                             [None, 6, 5, 3]),
    "resize_nearest": (lambda x, c: tf.image.resize_nearest_neighbor(x, (13, 7)), [None, 6, 5, 3]),
    "resize_nearest_corners": (lambda x, c: tf.image.resize_nearest_neighbor(x, (4, 9), align_corners=True),
                               [None, 6, 5, 3]),
    "resize_nearest_half": (lambda x, c: tf.image.resize_nearest_neighbor(x, (13, 3), half_pixel_centers=True),
                            [None, 6, 5, 3]),
    "einsum_batched": (lambda x, c: tf.einsum("btd,de->bte", x, c(4, 3)), [None, 5, 4]),
    "einsum_ellipsis_three": (lambda x, c: tf.einsum("...d,de,ef->...f", x, c(4, 3), c(3, 2)), [None, 5, 4]),
    "contrib_layer_norm": (lambda x, c: tf.contrib.layers.layer_norm(x, begin_norm_axis=1, begin_params_axis=-1)
                           * c(4) + c(5, 4), [None, 5, 4]),
    "activations": (lambda x, c: tf.nn.swish(x) + tf.nn.mish(x) + tf.nn.hard_sigmoid(x) + tf.nn.selu(x)
                    + tf.nn.softsign(x), [None, 5]),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_tf1_conv_variants_and_resize(case: str, tmp_path: Path) -> None:
    build, shape = CONV_CASES[case]
    _check(build, shape, tmp_path)


MATH_CASES = {
    "selu_div_no_nan": (lambda x, c: tf.div_no_nan(tf.nn.selu(x), tf.nn.relu(x)), [None, 6]),
    "l2_loss_cumsum": (lambda x, c: tf.nn.l2_loss(x) + tf.cumsum(x, axis=1, exclusive=True, reverse=True), [None, 6]),
}


@pytest.mark.parametrize("case", list(MATH_CASES))
def test_tf1_math_ops(case: str, tmp_path: Path) -> None:
    build, shape = MATH_CASES[case]
    _check(build, shape, tmp_path)


def test_cumprod_is_refused_by_name(fresh_graph: object, tmp_path: Path) -> None:
    from nnctl.errors import InputError
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    with tf.name_scope("running"):
        y = tf.cumprod(x, axis=1)
    with tf.Session() as sess, pytest.raises(InputError, match=r"'running/Cumprod' \(type Cumprod\).*cumulative"):
        to_onnx(sess, [x], [y], tmp_path / "no.onnx")
    assert not list(tmp_path.iterdir())
