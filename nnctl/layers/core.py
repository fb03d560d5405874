"""Core layers: dense, flatten, dropout, activation, reshape, permute, repeat."""

from __future__ import annotations

import math
from typing import Any

import nnctl as tf
from nnctl.layers.base import (
    BIAS_INIT,
    KERNEL_INIT,
    USE_BIAS,
    Key,
    Layer,
    LayerError,
    activation_key,
    fmt,
    register,
)


def is_static_true(training: Any) -> bool:
    return training is True


def blend(training: Any, when_true: Any, when_false: Any) -> Any:
    """``when_true`` if ``training`` else ``when_false``: a Python bool picks at build time, a bool
    tensor picks at run time (t * a + (1 - t) * b, so both branches' gradients stay defined)."""
    if isinstance(training, bool):
        return when_true if training else when_false
    t = tf.cast(training, when_true.dtype)
    return when_false + t * (when_true - when_false)


@register
class Dense(Layer):
    type = "dense"
    doc = ("Y = activation(x @ kernel + bias) on the last axis: (batch, ..., in) -> (batch, ..., units); "
           "on a sequence it acts on every step")
    schema = {
        "units": Key("int", doc="output width", lo=1),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) < 2 or s[-1] is None:
            raise LayerError(f"needs an input with a known last axis, got {fmt(s)}; add a 'flatten' layer "
                             "before it")
        if len(s) > 3:
            raise LayerError(f"needs a flat (batch, features) or sequence (batch, steps, features) input, "
                             f"but its input has shape {fmt(s)}; add a 'flatten' layer before it")
        self.kernel = self.add_weight("kernel", (s[-1], self.p["units"]), self.p["initializer"], regularize=True)
        self.bias = self.add_weight("bias", (self.p["units"],), self.p["bias_initializer"]) \
            if self.p["use_bias"] else None
        return (*s[:-1], self.p["units"])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x = xs[0]
        s = self.input_shapes[0]
        if len(s) > 2:  # every step: (batch * steps, in) @ kernel, then back
            y = tf.reshape(tf.matmul(tf.reshape(x, [-1, s[-1]]), self.kernel), [-1, *s[1:-1], self.p["units"]])
        else:
            y = tf.matmul(x, self.kernel)
        return tf.nn.bias_add(y, self.bias) if self.bias is not None else y


@register
class Flatten(Layer):
    type = "flatten"
    doc = "(batch, d1, d2, ...) -> (batch, d1 * d2 * ...)"
    schema: dict[str, Key] = {}

    def build(self, shapes: list[tuple]) -> tuple:
        return (shapes[0][0], math.prod(shapes[0][1:]))

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.reshape(xs[0], [-1, self.output_shape[1]])


@register
class Dropout(Layer):
    type = "dropout"
    doc = ("Zeroes a fraction `rate` of the values while training and scales the rest by 1 / (1 - rate); "
           "the identity at inference")
    schema = {"rate": Key("float", doc="fraction of values dropped", lo=0.0, hi=1.0, hi_open=True)}

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x, rate = xs[0], self.p["rate"]
        if rate <= 0 or training is False:
            return x
        return blend(training, tf.nn.dropout(x, rate=rate, seed=self.ctx.seed), x)


@register
class Activation(Layer):
    type = "activation"
    doc = "Applies `activation` elementwise (softmax on the last axis)"
    schema = {"activation": Key("activation", doc="the activation")}

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return xs[0]


@register
class Reshape(Layer):
    type = "reshape"
    doc = "(batch, ...) -> (batch, *shape); one entry of `shape` may be -1 (inferred)"
    schema = {"shape": Key("ints", doc="target shape without the batch axis, e.g. [8, 8]")}
    mask_passthrough = False

    def build(self, shapes: list[tuple]) -> tuple:
        n = math.prod(shapes[0][1:])
        target = list(self.p["shape"])
        if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
            raise LayerError(f"shape {target}: entries must be >= 1, with at most one -1")
        known = math.prod(d for d in target if d != -1)
        if -1 in target:
            if n % known:
                raise LayerError(f"cannot reshape {fmt(shapes[0])} ({n} values) to {target}")
            target[target.index(-1)] = n // known
        if math.prod(target) != n:
            raise LayerError(f"cannot reshape {fmt(shapes[0])} ({n} values) to {target} ({math.prod(target)})")
        return (shapes[0][0], *target)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.reshape(xs[0], [-1, *self.output_shape[1:]])


@register
class Permute(Layer):
    type = "permute"
    doc = "Reorders the non-batch axes: `dims` [2, 1] swaps axes 1 and 2 (Keras' Permute, 1-based)"
    schema = {"dims": Key("ints", doc="a permutation of 1..rank-1")}
    mask_passthrough = False

    def build(self, shapes: list[tuple]) -> tuple:
        s, dims = shapes[0], list(self.p["dims"])
        if sorted(dims) != list(range(1, len(s))):
            raise LayerError(f"dims {dims} is not a permutation of 1..{len(s) - 1} for input {fmt(s)}")
        return (s[0], *(s[d] for d in dims))

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.transpose(xs[0], [0, *self.p["dims"]])


@register
class Repeat(Layer):
    type = "repeat"
    doc = "(batch, features) -> (batch, times, features): the vector repeated `times` times (RepeatVector)"
    schema = {"times": Key("int", doc="number of repetitions", lo=1)}

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 2:
            raise LayerError(f"needs a flat (batch, features) input, got {fmt(s)}")
        return (s[0], self.p["times"], s[1])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.tile(tf.expand_dims(xs[0], 1), [1, self.p["times"], 1])
