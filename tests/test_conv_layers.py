"""The convolution, resampling, padding and 1-D pooling layer types: values on small inputs, the
errors a config gets, a config that uses them all, and their tf.layers forms (TF1 names/shapes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import nnctl as tf
from nnctl.layers import Context, LayerError, layer_class
from nnctl.layers.initializers import initial_value

ROOT = Path(__file__).resolve().parents[1]
_r = np.random.default_rng(2)


def _layer(type_name, **params):
    rng = np.random.default_rng(0)

    def make(layer, what, shape, init, trainable):
        return tf.Variable(initial_value(init, shape, rng).astype(np.float64), name=f"{layer.name}/{what}",
                           trainable=trainable)
    return layer_class(type_name).from_params("L", Context(make), **params)


def _run(layer, x):
    xt = tf.constant(x)
    _, y, _ = layer.apply([xt], training=False)
    s = tf.Session()
    s.run(tf.global_variables_initializer())
    return s.run(y), s


def test_upsample_nearest_repeats_pixels(fresh_graph):
    x = _r.standard_normal((2, 3, 2, 4))
    y, _ = _run(_layer("upsample", size=[2, 3]), x)
    np.testing.assert_array_equal(y, x.repeat(2, axis=1).repeat(3, axis=2))


def test_upsample_bilinear_is_half_pixel(fresh_graph):
    x = np.array([0.0, 4.0]).reshape(1, 2, 1, 1)
    y, _ = _run(_layer("upsample", size=[2, 1], method="bilinear"), x)
    # src = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 1, 3, 4
    np.testing.assert_allclose(y.reshape(-1), [0.0, 1.0, 3.0, 4.0])


def test_zero_pad_and_crop_are_inverse(fresh_graph):
    x = _r.standard_normal((2, 4, 5, 3))
    pad = _layer("zero_pad", padding=[1, 2, 0, 3])
    crop = _layer("crop", cropping=[1, 2, 0, 3])
    xt = tf.constant(x)
    _, p, _ = pad.apply([xt], training=False)
    _, c, _ = crop.apply([p], training=False)
    with tf.Session() as s:
        pv, cv = s.run([p, c])
    assert pv.shape == (2, 7, 8, 3)
    assert not pv[:, 0].any() and not pv[:, -2:].any() and not pv[:, :, -3:].any()
    np.testing.assert_array_equal(cv, x)


def test_conv_layers_match_the_ops(fresh_graph):
    x = _r.standard_normal((2, 6, 6, 4))
    layer = _layer("conv2d", filters=6, kernel=3, dilation=2, groups=2, use_bias=False)
    y, s = _run(layer, x)
    ref = s.run(tf.nn.conv2d(tf.constant(x), layer.kernel, 1, "SAME", dilations=2))
    np.testing.assert_allclose(y, ref)
    assert layer.kernel.get_shape().as_list() == [3, 3, 2, 6]


@pytest.mark.parametrize("type_name,params,shape,message", [
    ("conv2d", {"filters": 6, "groups": 4}, (None, 6, 6, 6), "groups 4 must divide both the input channels 6"),
    ("conv2d", {"filters": 4, "kernel": 3, "dilation": 3, "padding": "valid"}, (None, 6, 6, 1),
     "dilation 3, so 7 wide"),
    ("depthwise_conv2d", {"stride": 2, "dilation": 2}, (None, 8, 8, 2), "cannot both be > 1"),
    ("crop", {"cropping": [3]}, (None, 6, 6, 1), "leaves nothing"),
    ("zero_pad", {"padding": [1, 2, 3]}, (None, 6, 6, 1), "takes 1, 2"),
    ("conv1d", {"filters": 2}, (None, 6, 6, 1), "needs a sequence input"),
    ("max_pool1d", {"size": 9}, (None, 6, 2), "longer than its input's 6 steps"),
])
def test_layer_errors_name_the_problem(type_name, params, shape, message, fresh_graph):
    with pytest.raises(LayerError, match=message):
        _layer(type_name, **params).build_once([shape])


_CONFIG = """\
name: conv-zoo
seed: 0
data:
  train: {csv: DIGITS, labels: [label]}
  val_split: 0.2
  preprocess: scale
  scale_factor: 0.0625
  label_type: class
model:
  input_shape: [8, 8, 1]
  layers:
    - {type: zero_pad, padding: 1}
    - {type: conv2d, filters: 8, kernel: 3, dilation: 2, activation: swish}
    - {type: conv2d, filters: 8, kernel: 3, groups: 4, activation: relu}
    - {type: depthwise_conv2d, multiplier: 2, activation: relu}
    - {type: separable_conv2d, filters: 8, stride: 2, activation: mish}
    - {type: conv2d_transpose, filters: 4, kernel: 3, stride: 2}
    - {type: upsample, size: 2, method: bilinear}
    - {type: crop, cropping: 4}
    - {type: global_avg_pool}
    - {type: dense, units: 10}
loss: {type: cross_entropy}
optimizer: {name: adam, lr: 0.01}
train: {epochs: 1, batch_size: 16}
"""


def _config() -> str:
    return _CONFIG.replace("DIGITS", str(ROOT / "datasets" / "digits.csv.gz"))


def test_a_config_with_every_conv_layer_validates(tmp_path):
    cfg = tmp_path / "zoo.yaml"
    cfg.write_text(_config())
    code, out, err = run_cli("validate", cfg)
    assert code == 0, err
    for name in ("zero_pad", "depthwise_conv2d", "separable_conv2d", "conv2d_transpose", "upsample", "crop"):
        assert name in out


def test_a_bad_conv_layer_is_a_config_error_at_its_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(_config().replace("{type: conv2d, filters: 8, kernel: 3, groups: 4, activation: relu}",
                                     "{type: conv2d, filters: 8, kernel: 3, groups: 3, activation: relu}"))
    code, _, err = run_cli("validate", cfg)
    assert code == 2
    assert "bad.yaml:14: model.layers[2]: conv2d layer" in err and "groups 3 must divide" in err


def test_tf_layers_conv_family_names_and_shapes(fresh_graph):
    x = tf.placeholder(tf.float32, [None, 8, 8, 3])
    seq = tf.placeholder(tf.float32, [None, 10, 4])
    outs = [
        tf.layers.conv2d_transpose(x, 5, 3, strides=2, padding="same"),
        tf.layers.conv2d_transpose(x, 5, 3, strides=2),
        tf.layers.separable_conv2d(x, 6, 3, depth_multiplier=2, dilation_rate=2, padding="same"),
        tf.layers.conv1d(seq, 7, 3, strides=2),
        tf.layers.max_pooling1d(seq, 2, 2),
        tf.layers.average_pooling1d(seq, 3, 1, padding="same"),
        tf.layers.conv2d(x, 4, 3, dilation_rate=2),
    ]
    assert [o.get_shape().as_list() for o in outs] == [
        [None, 16, 16, 5], [None, 17, 17, 5], [None, 8, 8, 6], [None, 4, 7], [None, 5, 4], [None, 10, 4],
        [None, 4, 4, 4]]
    assert sorted((v.op.name, v.get_shape().as_list()) for v in tf.global_variables()) == [
        ("conv1d/bias", [7]), ("conv1d/kernel", [3, 4, 7]), ("conv2d/bias", [4]), ("conv2d/kernel", [3, 3, 3, 4]),
        ("conv2d_transpose/bias", [5]), ("conv2d_transpose/kernel", [3, 3, 5, 3]),
        ("conv2d_transpose_1/bias", [5]), ("conv2d_transpose_1/kernel", [3, 3, 5, 3]),
        ("separable_conv2d/bias", [6]), ("separable_conv2d/depthwise_kernel", [3, 3, 3, 2]),
        ("separable_conv2d/pointwise_kernel", [1, 1, 6, 6])]
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        vals = s.run(outs, {x: np.ones((2, 8, 8, 3), np.float32), seq: np.ones((2, 10, 4), np.float32)})
    assert [v.shape[0] for v in vals] == [2] * len(vals)


def test_tf_layers_conv2d_transpose_class_reuses_its_kernel(fresh_graph):
    layer = tf.layers.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False)
    a = layer(tf.ones([1, 2, 2, 1]))
    b = layer(tf.zeros([1, 2, 2, 1]))
    assert len(tf.global_variables()) == 1 and layer.kernel.get_shape().as_list() == [3, 3, 2, 1]
    assert a.get_shape().as_list() == b.get_shape().as_list() == [1, 4, 4, 2]
