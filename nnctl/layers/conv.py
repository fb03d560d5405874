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


def _image(s: tuple, what: str = "an image input [height, width, channels]") -> None:
    if len(s) != 4:
        raise LayerError(f"needs {what}, but its input has shape {fmt(s)}; set model.input_shape to [h, w, c]")


def _sequence(s: tuple) -> None:
    if len(s) != 3:
        raise LayerError(f"needs a sequence input (batch, steps, channels), but its input has shape {fmt(s)}")


def _fits(n: int | None, k: int, d: int, pad: str, axis: str) -> None:
    k_eff = (k - 1) * d + 1
    if pad == "valid" and n is not None and k_eff > n:
        raise LayerError(f"kernel {k} (dilation {d}, so {k_eff} wide) is larger than its input's {axis} {n} "
                         "with padding 'valid'")


def _no_strided_dilation(stride: tuple, dilation: tuple) -> None:
    if max(stride) > 1 and max(dilation) > 1:
        raise LayerError(f"stride {list(stride)} and dilation {list(dilation)} cannot both be > 1 (TensorFlow's "
                         "depthwise rule)")


def _bias(layer: Layer, y: Any) -> Any:
    return tf.nn.bias_add(y, layer.bias) if layer.bias is not None else y


def _add_bias(layer: Layer, n: int) -> None:
    layer.bias = layer.add_weight("bias", (n,), layer.p["bias_initializer"]) if layer.p["use_bias"] else None


_DILATION = Key("pair", (1, 1), "dilation rate (atrous convolution): an int or [height, width]")


@register
class Conv2D(Layer):
    type = "conv2d"
    doc = ("2-D convolution: (batch, h, w, c) -> (batch, h', w', filters); `groups` > 1 splits the channels "
           "into groups convolved separately (groups = c is a depthwise convolution)")
    schema = {
        "filters": Key("int", doc="output channels", lo=1),
        "kernel": Key("pair", (3, 3), "kernel size: an int or [height, width]"),
        "stride": Key("pair", (1, 1), "stride: an int or [height, width]"),
        "padding": padding_key("same"),
        "dilation": _DILATION,
        "groups": Key("int", 1, "channel groups: input channels and filters must both be multiples of it", lo=1),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _image(s)
        (kh, kw), (sh, sw), pad = self.p["kernel"], self.p["stride"], self.p["padding"]
        (dh, dw), g, f = self.p["dilation"], self.p["groups"], self.p["filters"]
        _fits(s[1], kh, dh, pad, "height")
        _fits(s[2], kw, dw, pad, "width")
        if s[3] % g or f % g:
            raise LayerError(f"groups {g} must divide both the input channels {s[3]} and filters {f}")
        self.kernel = self.add_weight("kernel", (kh, kw, s[3] // g, f), self.p["initializer"], regularize=True)
        _add_bias(self, f)
        return (s[0], out_size(s[1], kh, sh, pad, dh), out_size(s[2], kw, sw, pad, dw), f)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        # tf.nn.conv2d reads an input depth g times the kernel's in_channels as g groups
        y = tf.nn.conv2d(xs[0], self.kernel, strides=list(self.p["stride"]), padding=self.p["padding"].upper(),
                         dilations=list(self.p["dilation"]))
        return _bias(self, y)


@register
class Conv1D(Layer):
    type = "conv1d"
    doc = "1-D convolution over steps: (batch, steps, c) -> (batch, steps', filters)"
    mask_passthrough = False
    schema = {
        "filters": Key("int", doc="output channels", lo=1),
        "kernel": Key("int", 3, "kernel width in steps", lo=1),
        "stride": Key("int", 1, "stride in steps", lo=1),
        "padding": padding_key("same"),
        "dilation": Key("int", 1, "dilation rate in steps", lo=1),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _sequence(s)
        k, st, pad, d, f = (self.p[n] for n in ("kernel", "stride", "padding", "dilation", "filters"))
        _fits(s[1], k, d, pad, "length")
        self.kernel = self.add_weight("kernel", (k, s[2], f), self.p["initializer"], regularize=True)
        _add_bias(self, f)
        return (s[0], out_size(s[1], k, st, pad, d), f)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        y = tf.nn.conv1d(xs[0], self.kernel, stride=self.p["stride"], padding=self.p["padding"].upper(),
                         dilations=self.p["dilation"])
        return _bias(self, y)


@register
class DepthwiseConv2D(Layer):
    type = "depthwise_conv2d"
    doc = ("Depthwise 2-D convolution: each input channel convolved with its own `multiplier` filters, "
           "(batch, h, w, c) -> (batch, h', w', c * multiplier)")
    schema = {
        "kernel": Key("pair", (3, 3), "kernel size: an int or [height, width]"),
        "stride": Key("pair", (1, 1), "stride: an int or [height, width]"),
        "padding": padding_key("same"),
        "dilation": _DILATION,
        "multiplier": Key("int", 1, "filters per input channel", lo=1),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _image(s)
        (kh, kw), (sh, sw), pad = self.p["kernel"], self.p["stride"], self.p["padding"]
        (dh, dw), mult = self.p["dilation"], self.p["multiplier"]
        _no_strided_dilation(self.p["stride"], self.p["dilation"])
        _fits(s[1], kh, dh, pad, "height")
        _fits(s[2], kw, dw, pad, "width")
        self.kernel = self.add_weight("depthwise_kernel", (kh, kw, s[3], mult), self.p["initializer"],
                                      regularize=True)
        _add_bias(self, s[3] * mult)
        return (s[0], out_size(s[1], kh, sh, pad, dh), out_size(s[2], kw, sw, pad, dw), s[3] * mult)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        y = tf.nn.depthwise_conv2d(xs[0], self.kernel, [1, *self.p["stride"], 1], self.p["padding"].upper(),
                                   dilations=list(self.p["dilation"]))
        return _bias(self, y)


@register
class SeparableConv2D(Layer):
    type = "separable_conv2d"
    doc = ("Depthwise separable 2-D convolution: a depthwise convolution, then a 1x1 convolution mixing the "
           "c * multiplier channels into `filters`: (batch, h, w, c) -> (batch, h', w', filters)")
    schema = {
        "filters": Key("int", doc="output channels", lo=1),
        "kernel": Key("pair", (3, 3), "kernel size: an int or [height, width]"),
        "stride": Key("pair", (1, 1), "stride: an int or [height, width]"),
        "padding": padding_key("same"),
        "dilation": _DILATION,
        "multiplier": Key("int", 1, "depthwise filters per input channel", lo=1),
        "activation": activation_key(),
        "initializer": Key("initializer", "glorot_uniform", "initializer of both kernels (depthwise and pointwise)"),
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _image(s)
        (kh, kw), (sh, sw), pad = self.p["kernel"], self.p["stride"], self.p["padding"]
        (dh, dw), mult, f = self.p["dilation"], self.p["multiplier"], self.p["filters"]
        _no_strided_dilation(self.p["stride"], self.p["dilation"])
        _fits(s[1], kh, dh, pad, "height")
        _fits(s[2], kw, dw, pad, "width")
        init = self.p["initializer"]
        self.depthwise = self.add_weight("depthwise_kernel", (kh, kw, s[3], mult), init, regularize=True)
        self.pointwise = self.add_weight("pointwise_kernel", (1, 1, s[3] * mult, f), init, regularize=True)
        _add_bias(self, f)
        return (s[0], out_size(s[1], kh, sh, pad, dh), out_size(s[2], kw, sw, pad, dw), f)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        y = tf.nn.separable_conv2d(xs[0], self.depthwise, self.pointwise, [1, *self.p["stride"], 1],
                                   self.p["padding"].upper(), dilations=list(self.p["dilation"]))
        return _bias(self, y)


def transpose_out_size(n: int | None, k: int, s: int, padding: str) -> int | None:
    """Keras' output size of a transposed convolution: same -> n * s; valid -> n * s + max(k - s, 0)."""
    if n is None:
        return None
    return n * s if padding == "same" else n * s + max(k - s, 0)


@register
class Conv2DTranspose(Layer):
    type = "conv2d_transpose"
    doc = ("Transposed 2-D convolution (the gradient of conv2d; learned upsampling): (batch, h, w, c) -> "
           "(batch, h * stride, w * stride, filters) with 'same', (batch, h * stride + max(kernel - stride, 0), "
           "...) with 'valid'")
    schema = {
        "filters": Key("int", doc="output channels", lo=1),
        "kernel": Key("pair", (3, 3), "kernel size: an int or [height, width]"),
        "stride": Key("pair", (1, 1), "stride (the upsampling factor): an int or [height, width]"),
        "padding": padding_key("same"),
        "activation": activation_key(),
        "initializer": KERNEL_INIT,
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _image(s)
        (kh, kw), (sh, sw), pad, f = self.p["kernel"], self.p["stride"], self.p["padding"], self.p["filters"]
        if None in (s[1], s[2]):
            raise LayerError(f"needs known height and width, got {fmt(s)}")
        # TF's filter layout for the transpose: [kh, kw, out_channels, in_channels]
        self.kernel = self.add_weight("kernel", (kh, kw, f, s[3]), self.p["initializer"], regularize=True)
        _add_bias(self, f)
        self.out_hw = (transpose_out_size(s[1], kh, sh, pad), transpose_out_size(s[2], kw, sw, pad))
        return (s[0], *self.out_hw, f)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x = xs[0]
        y = tf.nn.conv2d_transpose(x, self.kernel, [None, *self.out_hw, self.p["filters"]],
                                   [1, *self.p["stride"], 1], self.p["padding"].upper())
        return _bias(self, y)


@register
class Upsample(Layer):
    type = "upsample"
    doc = ("Upsampling by integer factors: (batch, h, w, c) -> (batch, h * size_h, w * size_w, c), nearest "
           "neighbour (each pixel repeated) or bilinear (half-pixel centres, as Keras' UpSampling2D and "
           "PyTorch's align_corners=False)")
    schema = {
        "size": Key("pair", (2, 2), "upsampling factors: an int or [height, width]"),
        "method": Key("choice", "nearest", "'nearest' or 'bilinear'", choices=("nearest", "bilinear")),
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _image(s)
        if None in (s[1], s[2]):
            raise LayerError(f"needs known height and width, got {fmt(s)}")
        fh, fw = self.p["size"]
        return (s[0], s[1] * fh, s[2] * fw, s[3])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        _, oh, ow, _ = self.output_shape  # type: ignore[misc]
        fn = tf.image.resize_bilinear if self.p["method"] == "bilinear" else tf.image.resize_nearest_neighbor
        return fn(xs[0], [oh, ow], half_pixel_centers=True)


def _sides(value: tuple, rank: int, what: str) -> list[tuple[int, int]]:
    """(before, after) per spatial axis from 1 int (all sides), 2 ints ([h, w] each on both sides for an
    image; [before, after] for a sequence) or 4 ints ([top, bottom, left, right], images)."""
    v = [int(a) for a in value]
    if any(a < 0 for a in v):
        raise LayerError(f"{what} must be >= 0, got {v}")
    if rank == 3:
        if len(v) == 1:
            return [(v[0], v[0])]
        if len(v) == 2:
            return [(v[0], v[1])]
        raise LayerError(f"{what} on a sequence takes 1 int or [before, after], got {v}")
    if len(v) == 1:
        return [(v[0], v[0]), (v[0], v[0])]
    if len(v) == 2:
        return [(v[0], v[0]), (v[1], v[1])]
    if len(v) == 4:
        return [(v[0], v[1]), (v[2], v[3])]
    raise LayerError(f"{what} on an image takes 1, 2 ([h, w]) or 4 ([top, bottom, left, right]) ints, got {v}")


def _spatial_input(s: tuple) -> None:
    if len(s) not in (3, 4):
        raise LayerError(f"needs an image (batch, h, w, c) or a sequence (batch, steps, c), got {fmt(s)}")


@register
class ZeroPad(Layer):
    type = "zero_pad"
    doc = ("Zeros around an image's height and width, or at a sequence's ends: (batch, h, w, c) -> "
           "(batch, h + top + bottom, w + left + right, c)")
    mask_passthrough = False
    schema = {
        "padding": Key("ints", (1,), "1 int (every side), [h, w] (each on both sides; a sequence: [before, "
                                     "after]) or [top, bottom, left, right]"),
    }
    example = "- {type: zero_pad, padding: [1, 2]}"

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _spatial_input(s)
        self.sides = _sides(self.p["padding"], len(s), "padding")
        dims = [None if n is None else n + a + b for n, (a, b) in zip(s[1:-1], self.sides)]
        return (s[0], *dims, s[-1])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.pad(xs[0], [[0, 0], *[list(p) for p in self.sides], [0, 0]])


@register
class Crop(Layer):
    type = "crop"
    doc = ("Removes rows and columns at an image's borders, or steps at a sequence's ends: (batch, h, w, c) -> "
           "(batch, h - top - bottom, w - left - right, c)")
    mask_passthrough = False
    schema = {
        "cropping": Key("ints", doc="1 int (every side), [h, w] (each on both sides; a sequence: [before, "
                                    "after]) or [top, bottom, left, right]"),
    }
    example = "- {type: crop, cropping: [2, 2, 1, 1]}"

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        _spatial_input(s)
        self.sides = _sides(self.p["cropping"], len(s), "cropping")
        dims = []
        for n, (a, b) in zip(s[1:-1], self.sides):
            if n is None:
                raise LayerError(f"needs known sizes to crop, got {fmt(s)}")
            if a + b >= n:
                raise LayerError(f"cropping {a} + {b} leaves nothing of a dimension of size {n} (input {fmt(s)})")
            dims.append(n - a - b)
        return (s[0], *dims, s[-1])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x = xs[0]
        s = self.input_shapes[0]
        begin = [0] + [a for a, _ in self.sides] + [0]
        size = [-1] + [n - a - b for n, (a, b) in zip(s[1:-1], self.sides)] + [-1]
        return tf.slice(x, begin, size)
