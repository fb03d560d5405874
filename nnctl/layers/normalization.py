"""Normalization layers: batch_norm, layer_norm, group_norm."""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.base import Key, Layer, LayerError, fmt, register
from nnctl.layers.core import blend
from nnctl.layers.initializers import Initializer

ONES, ZEROS = Initializer("ones"), Initializer("zeros")


def moments(x: Any, axes: list[int], keep_dims: bool = False) -> tuple[Any, Any]:
    """Mean and variance over ``axes``, differentiated exactly to every order.

    ``tf.nn.moments`` follows TF and takes the variance about ``stop_gradient(mean)``: the same value
    and first derivative, but a second derivative that misses the mean's dependence on x. The layers
    use the exact form, so their Hessians agree with other frameworks'."""
    mean = tf.reduce_mean(x, axes, keepdims=True)
    var = tf.reduce_mean(tf.square(x - mean), axes, keepdims=True)
    if keep_dims:
        return mean, var
    return tf.squeeze(mean, axes), tf.squeeze(var, axes)
EPSILON = Key("float", 0.001, "added to the variance before the square root", lo=0.0, lo_open=True)


@register
class BatchNorm(Layer):
    type = "batch_norm"
    doc = ("Normalizes each channel (last axis) by the batch's mean and variance while training, by moving "
           "averages at inference; then scales by gamma and shifts by beta")
    schema = {
        "momentum": Key("float", 0.99, "moving average: m <- momentum * m + (1 - momentum) * batch value",
                        lo=0.0, hi=1.0, lo_open=True, hi_open=True),
        "epsilon": EPSILON,
        "center": Key("bool", True, "learn a shift beta"),
        "scale": Key("bool", True, "learn a scale gamma (turn off before a relu, which the next layer rescales)"),
    }

    # tf.layers' ``fused``: None = the fused op wherever it applies (rank 4, training), False = never
    fused: bool | None = None

    def build(self, shapes: list[tuple]) -> tuple:
        c = shapes[0][-1]
        self.gamma = self.add_weight("gamma", (c,), ONES) if self.p["scale"] else None
        self.beta = self.add_weight("beta", (c,), ZEROS) if self.p["center"] else None
        self.moving_mean = self.add_weight("moving_mean", (c,), ZEROS, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (c,), ONES, trainable=False)
        return shapes[0]

    def call(self, xs: list, training: Any, masks: list) -> Any:
        from nnctl.ops.bn_ops import fusable, fused_batch_norm_v3  # here: nnctl.ops imports the layers
        x = xs[0]
        mm, mv = self.moving_mean, self.moving_variance
        if training is False:
            mean, var = mm.value(), mv.value()
        elif training is True and self.fused is not False and fusable(x):
            # TF's fused kernel (ops/bn_ops.py): one statistics pass and one normalization pass, and a
            # one-op gradient. As in TF (keras' _fused_batch_norm with _bessels_correction_test_only),
            # the moving variance follows the Bessel-corrected batch_variance output, M / (M - 1)
            # times the biased variance that normalizes y (and that the composite path below feeds
            # the moving average, as TF's non-fused path does). torch's running_var is unbiased too.
            c = self.input_shapes[0][-1]
            gamma = self.gamma.value() if self.gamma is not None else tf.ones([c], x.dtype)
            beta = self.beta.value() if self.beta is not None else tf.zeros([c], x.dtype)
            empty = tf.zeros([0], x.dtype)
            y, bmean, bvar, _, _ = fused_batch_norm_v3(x, gamma, beta, empty, empty, self.p["epsilon"], True)
            m = self.p["momentum"]
            self.ctx.add_update(tf.assign(mm, mm * m + bmean * (1 - m)))
            self.ctx.add_update(tf.assign(mv, mv * m + bvar * (1 - m)))
            return y
        else:
            bmean, bvar = moments(x, list(range(len(self.input_shapes[0]) - 1)))
            m = self.p["momentum"]
            # m <- m - (1 - momentum) * (m - batch); with a bool tensor `training`, only when it is true
            new_mean = mm * m + bmean * (1 - m)
            new_var = mv * m + bvar * (1 - m)
            self.ctx.add_update(tf.assign(mm, blend(training, new_mean, mm.value())))
            self.ctx.add_update(tf.assign(mv, blend(training, new_var, mv.value())))
            mean, var = blend(training, bmean, mm.value()), blend(training, bvar, mv.value())
        return tf.nn.batch_normalization(x, mean, var, self.beta, self.gamma, self.p["epsilon"])


@register
class LayerNorm(Layer):
    type = "layer_norm"
    doc = ("Normalizes each example over its last axis (mean 0, variance 1), then scales by gamma and "
           "shifts by beta (per feature); the same at training and inference")
    schema = {"epsilon": EPSILON}

    def build(self, shapes: list[tuple]) -> tuple:
        c = shapes[0][-1]
        self.gamma = self.add_weight("gamma", (c,), ONES)
        self.beta = self.add_weight("beta", (c,), ZEROS)
        return shapes[0]

    def call(self, xs: list, training: Any, masks: list) -> Any:
        # one fused LayerNorm op over the last axis (nnctl/ops/layer_norm_ops.py): the moments and
        # batch_normalization composite's value and first derivative, to rounding, in one pass
        x = tf.convert_to_tensor(xs[0])
        from nnctl.ops.layer_norm_ops import layer_norm_op  # here: nnctl.ops imports the layers
        return layer_norm_op(x, self.gamma, self.beta, len(x.get_shape()) - 1, self.p["epsilon"])[0]


@register
class GroupNorm(Layer):
    type = "group_norm"
    doc = ("Splits the channels (last axis) into `groups` and normalizes each group of each example over its "
           "channels and positions (Wu & He 2018), then scales and shifts per channel")
    schema = {"groups": Key("int", 32, "number of channel groups; must divide the channels", lo=1),
              "epsilon": EPSILON}

    def build(self, shapes: list[tuple]) -> tuple:
        s, g = shapes[0], self.p["groups"]
        if len(s) < 2 or s[-1] % g:
            raise LayerError(f"groups {g} must divide the channels (last axis) of its input {fmt(s)}")
        self.gamma = self.add_weight("gamma", (s[-1],), ONES)
        self.beta = self.add_weight("beta", (s[-1],), ZEROS)
        return s

    def call(self, xs: list, training: Any, masks: list) -> Any:
        s, g = self.input_shapes[0], self.p["groups"]
        inner = list(s[1:-1])
        h = tf.reshape(xs[0], [-1, *inner, g, s[-1] // g])
        axes = [*range(1, len(inner) + 1), len(inner) + 2]     # positions and the channels of a group
        mean, var = moments(h, axes, keep_dims=True)
        h = tf.reshape((h - mean) * tf.rsqrt(var + self.p["epsilon"]), [-1, *s[1:]])
        return h * self.gamma + self.beta
