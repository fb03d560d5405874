"""Convolution layers (NHWC inputs, HWIO kernels, TF's SAME/VALID rules)."""

from __future__ import annotations

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
    out_size,
    padding_key,
    register,
)


@register
class Conv2D(Layer):
    type = "conv2d"
    doc = "2-D convolution: (batch, h, w, c) -> (batch, h', w', filters)"
    schema = {
        "filters": Key("int", doc="output channels", lo=1),
        "kernel": Key("pair", (3, 3), "kernel size: an int or [height, width]"),
        "stride": Key("pair", (1, 1), "stride: an int or [height, width]"),
        "padding": padding_key("same"),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 4:
            raise LayerError(f"needs an image input [height, width, channels], but its input has shape {fmt(s)}; "
                             "set model.input_shape to [h, w, c]")
        (kh, kw), (sh, sw), pad = self.p["kernel"], self.p["stride"], self.p["padding"]
        if pad == "valid" and (kh > s[1] or kw > s[2]):
            raise LayerError(f"kernel {kh}x{kw} is larger than its input {s[1]}x{s[2]} with padding 'valid'")
        self.kernel = self.add_weight("kernel", (kh, kw, s[3], self.p["filters"]), self.p["initializer"],
                                      regularize=True)
        self.bias = self.add_weight("bias", (self.p["filters"],), self.p["bias_initializer"]) \
            if self.p["use_bias"] else None
        return (s[0], out_size(s[1], kh, sh, pad), out_size(s[2], kw, sw, pad), self.p["filters"])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        y = tf.nn.conv2d(xs[0], self.kernel, strides=list(self.p["stride"]), padding=self.p["padding"].upper())
        return tf.nn.bias_add(y, self.bias) if self.bias is not None else y
