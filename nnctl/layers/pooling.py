"""Pooling layers: 2-D max/average windows and global pooling."""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.base import Key, Layer, LayerError, fmt, out_size, padding_key, register


class _Pool2D(Layer):
    schema = {
        "size": Key("pair", (2, 2), "window: an int or [height, width]"),
        "stride": Key("pair", doc="stride (default: the window size)", same_as="size"),
        "padding": padding_key("valid"),
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 4:
            raise LayerError(f"needs an image input, but its input has shape {fmt(s)}")
        (ph, pw), (sh, sw), pad = self.p["size"], self.p["stride"], self.p["padding"]
        if pad == "valid" and (ph > s[1] or pw > s[2]):
            raise LayerError(f"window {ph}x{pw} is larger than its input {s[1]}x{s[2]}")
        return (s[0], out_size(s[1], ph, sh, pad), out_size(s[2], pw, sw, pad), s[3])

    def pool(self, x: Any, **kw: Any) -> Any:
        raise NotImplementedError

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return self.pool(xs[0], ksize=list(self.p["size"]), strides=list(self.p["stride"]),
                         padding=self.p["padding"].upper())


@register
class MaxPool(_Pool2D):
    type = "max_pool"
    doc = "2-D max pooling: (batch, h, w, c) -> (batch, h', w', c)"

    def pool(self, x: Any, **kw: Any) -> Any:
        return tf.nn.max_pool2d(x, **kw)


@register
class AvgPool(_Pool2D):
    type = "avg_pool"
    doc = "2-D average pooling: (batch, h, w, c) -> (batch, h', w', c)"

    def pool(self, x: Any, **kw: Any) -> Any:
        return tf.nn.avg_pool2d(x, **kw)


class _Pool1D(Layer):
    mask_passthrough = False
    schema = {
        "size": Key("int", 2, "window in steps", lo=1),
        "stride": Key("int", doc="stride in steps (default: the window size)", lo=1, same_as="size"),
        "padding": padding_key("valid"),
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 3:
            raise LayerError(f"needs a sequence input (batch, steps, channels), but its input has shape {fmt(s)}")
        k, st, pad = self.p["size"], self.p["stride"], self.p["padding"]
        if pad == "valid" and s[1] is not None and k > s[1]:
            raise LayerError(f"window {k} is longer than its input's {s[1]} steps")
        return (s[0], out_size(s[1], k, st, pad), s[2])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return self.pool(xs[0], self.p["size"], self.p["stride"], self.p["padding"].upper())


@register
class MaxPool1D(_Pool1D):
    type = "max_pool1d"
    doc = "1-D max pooling over steps: (batch, steps, c) -> (batch, steps', c)"

    def pool(self, x: Any, *args: Any) -> Any:
        return tf.nn.max_pool1d(x, *args)


@register
class AvgPool1D(_Pool1D):
    type = "avg_pool1d"
    doc = ("1-D average pooling over steps: (batch, steps, c) -> (batch, steps', c); with 'same', over each "
           "window's real steps")

    def pool(self, x: Any, *args: Any) -> Any:
        return tf.nn.avg_pool1d(x, *args)


class _GlobalPool(Layer):
    schema: dict[str, Key] = {}

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) < 3:
            raise LayerError(f"needs an image (batch, h, w, c) or a sequence (batch, steps, features), "
                             f"got {fmt(s)}")
        return (s[0], s[-1])


@register
class GlobalAvgPool(_GlobalPool):
    type = "global_avg_pool"
    doc = ("Mean over every axis but batch and channels: (batch, h, w, c) or (batch, steps, c) -> (batch, c); "
           "on a masked sequence the mean over the unmasked steps")

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x, m = xs[0], masks[0]
        axes = list(range(1, len(self.input_shapes[0]) - 1))
        if m is not None and len(self.input_shapes[0]) == 3:
            # masked mean: sum(x * m) / max(sum(m), 1) over the steps
            m3 = tf.cast(tf.expand_dims(m, -1), x.dtype)
            return tf.reduce_sum(x * m3, 1) / tf.maximum(tf.reduce_sum(m3, 1), 1.0)
        return tf.reduce_mean(x, axes)


@register
class GlobalMaxPool(_GlobalPool):
    type = "global_max_pool"
    doc = ("Max over every axis but batch and channels: (batch, h, w, c) or (batch, steps, c) -> (batch, c); "
           "masked steps are ignored")

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x, m = xs[0], masks[0]
        if m is not None and len(self.input_shapes[0]) == 3:
            x = x - (1.0 - tf.cast(tf.expand_dims(m, -1), x.dtype)) * 1e9
        return tf.reduce_max(x, list(range(1, len(self.input_shapes[0]) - 1)))
