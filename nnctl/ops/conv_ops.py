"""Convolution variants and 1-D pooling (``tf.nn``): conv1d, atrous/dilated and grouped conv2d,
depthwise and separable convolution, conv2d_transpose, max/avg pool 1-D and ``tf.nn.pool``.

Layouts are TensorFlow's: NWC / NHWC activations, WIO / HWIO filters, depthwise filters
[KH, KW, C, multiplier], transposed-convolution filters [KH, KW, out_channels, in_channels], and
TF's SAME/VALID rules (nnctl.ops.conv_kernels.out_size). New op types (their attrs are explicit so
exporters can map them one to one):

- ``DepthwiseConv2dNative(x, w)``, attrs ``strides, dilations, padding, data_format`` (as Conv2D),
  with ``DepthwiseConv2dNativeBackpropInput(x_like, w, dy)`` and
  ``DepthwiseConv2dNativeBackpropFilter(x, w_like, dy)``;
- ``Conv2DTranspose(value, w)``, attrs as Conv2D plus ``output_shape = (height, width, channels)``
  (the batch follows ``value``): the adjoint of Conv2D, i.e. TF's Conv2DBackpropInput with the
  input size fixed at graph-build time.

conv1d, grouped and separable convolution and the 1-D pools are compositions of those ops and
Conv2D/MaxPool/AvgPool, exactly as TensorFlow builds them, so their gradients come for free.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Tensor, name_scope
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops, conv_jit, conv_kernels
from nnctl.ops import nn_ops as nn
from nnctl.ops.core import make_op

_CONV_ATTRS = ("strides", "dilations", "padding", "data_format")


def conv_attrs(op_or_attrs: Any) -> dict:
    """The Conv2D attributes (strides, dilations, padding, data_format) of an op or attrs dict."""
    a = op_or_attrs.attrs if hasattr(op_or_attrs, "attrs") else op_or_attrs
    return {k: a[k] for k in _CONV_ATTRS}


def _filter_arg(filter: Any, filters: Any, desc: str) -> Any:  # noqa: A002
    if filter is not None and filters is not None:
        raise ValueError(f"{desc}: pass filter or filters, not both")
    return filters if filter is None else filter


def _rank_check(t: Tensor, rank: int, what: str, layout: str, desc: str) -> tuple | None:
    s = t.static_shape
    if s is not None and len(s) != rank:
        raise ValueError(f"{desc}: {what} must be a {rank}-D tensor {layout}, got shape {fmt_shape(s)} ({t.name})")
    return s


def _one_d(value: Any, what: str, desc: str) -> int:
    """An int, [k] or [1, k, 1] (NWC) as k."""
    if isinstance(value, Tensor):
        raise TypeError(f"{desc}: {what} must be a Python int, not a Tensor")
    if isinstance(value, (int, np.integer)):
        v = int(value)
    else:
        vals = [int(a) for a in value]
        if len(vals) == 3 and vals[0] == 1 and vals[2] == 1:
            v = vals[1]
        elif len(vals) == 1:
            v = vals[0]
        else:
            raise ValueError(f"{desc}: {what} must be an int, [k] or [1, k, 1] (NWC), got {list(value)}")
    if v < 1:
        raise ValueError(f"{desc}: {what} must be positive, got {value!r}")
    return v


# --- conv1d ----------------------------------------------------------------------------------------

def conv1d(value: Any = None, filters: Any = None, stride: Any = None, padding: Any = None,
           use_cudnn_on_gpu: Any = None, data_format: str | None = None, name: str | None = None,
           input: Any = None, dilations: Any = None) -> Tensor:  # noqa: A002
    """1-D convolution of NWC ``value`` [batch, width, channels] with WIO ``filters`` [k, in, out].

    As in TensorFlow, the input gets a height of 1 and the filter a leading 1, a Conv2D runs, and
    the height is squeezed away again.
    """
    desc = nn._desc("conv1d", name)
    if input is not None:
        value = input
    if value is None or filters is None or stride is None or padding is None:
        raise ValueError(f"{desc}: value, filters, stride and padding are required")
    if data_format not in (None, "NWC"):
        raise ValueError(f"{desc}: data_format {data_format!r} is not supported; nnctl runs NWC only")
    x = nn._float_input(value, "conv1d", name)
    w = nn._like(filters, x, "conv1d", name, "filters")
    xs = _rank_check(x, 3, "value", "[batch, width, channels]", desc)
    ws = _rank_check(w, 3, "filters", "[width, in_channels, out_channels]", desc)
    if xs is not None and ws is not None and None not in (xs[2], ws[1]) and xs[2] != ws[1]:
        raise ValueError(f"{desc}: the input's depth {xs[2]} (shape {fmt_shape(xs)}) does not match the "
                         f"filters' in_channels {ws[1]} (shape {fmt_shape(ws)})")
    s = _one_d(stride, "stride", desc)
    d = 1 if dilations is None else _one_d(dilations, "dilations", desc)
    pad = nn._padding(padding, desc, explicit_ok=False)
    with name_scope(name or "conv1d"):
        y = nn.conv2d(array_ops.expand_dims(x, 1), array_ops.expand_dims(w, 0), strides=[1, s],
                      padding=pad, dilations=[1, d])
        return array_ops.squeeze(y, [1])


def atrous_conv2d(value: Any, filters: Any, rate: int, padding: Any, name: str | None = None) -> Tensor:
    """Conv2D with dilation ``rate`` in both spatial dimensions and stride 1 (``tf.nn.atrous_conv2d``)."""
    desc = nn._desc("atrous_conv2d", name)
    if isinstance(rate, Tensor) or int(rate) < 1:
        raise ValueError(f"{desc}: rate must be a positive Python int, got {rate!r}")
    return nn.conv2d(value, filters, strides=[1, 1, 1, 1], padding=padding,
                     dilations=[1, int(rate), int(rate), 1], name=name)


# --- grouped convolution ------------------------------------------------------------------------

def grouped_conv2d(x: Tensor, w: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """Conv2D where the filter's in_channels divide the input's depth C into G = C / in_channels groups.

    Output channels [g*O/G, (g+1)*O/G) see only input channels [g*I, (g+1)*I) (TF2's conv2d and
    PyTorch's ``groups``). With I = 1 this is a depthwise convolution with multiplier O / C and runs
    as one DepthwiseConv2dNative; otherwise as G Conv2Ds on channel slices, concatenated.
    """
    xs, ws = x.static_shape, w.static_shape
    desc = nn._desc("Conv2D", name)
    if xs is None or ws is None or None in (xs[3], ws[2], ws[3]):
        raise ValueError(f"{desc}: a grouped convolution needs known channel counts (input {fmt_shape(xs)}, "
                         f"filter {fmt_shape(ws)})")
    c, i, o = xs[3], ws[2], ws[3]
    if c % i or o % (c // i):
        raise ValueError(f"{desc}: the input's depth {c} (input shape {fmt_shape(xs)}) is not the filter's "
                         f"in_channels {i} times a number of groups that divides its out_channels {o} "
                         f"(filter shape {fmt_shape(ws)})")
    groups = c // i
    with name_scope(name or "grouped_conv2d"):
        if i == 1:
            wd = array_ops.reshape(w, [ws[0], ws[1], c, o // c])
            return depthwise_conv2d_op(x, wd, attrs)
        xg = array_ops.split(x, groups, axis=3)
        wg = array_ops.split(w, groups, axis=3)
        return array_ops.concat([nn.conv2d_op(a, b, attrs) for a, b in zip(xg, wg)], axis=3)


# --- depthwise and separable convolution ----------------------------------------------------------

def _conv_args(strides: Any, padding: Any, rate: Any, dilations: Any, data_format: Any, desc: str) -> dict:
    nn._check_nhwc(data_format, desc)
    if rate is not None and dilations is not None:
        raise ValueError(f"{desc}: pass rate or dilations, not both")
    d = dilations if dilations is not None else (1 if rate is None else rate)
    attrs = {"strides": nn._spatial(strides, "strides", desc), "dilations": nn._spatial(d, "dilations", desc),
             "padding": nn._padding(padding, desc, explicit_ok=False), "data_format": "NHWC"}
    if attrs["dilations"] != (1, 1) and attrs["strides"] != (1, 1):
        # TF: "strides > 1 not supported in conjunction with rate > 1"
        raise ValueError(f"{desc}: strides {list(attrs['strides'])} > 1 cannot be combined with a dilation "
                         f"rate {list(attrs['dilations'])} > 1")
    return attrs


def _depthwise_inputs(input: Any, filter: Any, desc: str, op_type: str, name: str | None):  # noqa: A002
    x = nn._float_input(input, op_type, name)
    w = nn._like(filter, x, op_type, name, "filter")
    xs = _rank_check(x, 4, "input", "[batch, height, width, channels] (NHWC)", desc)
    ws = _rank_check(w, 4, "filter", "[height, width, in_channels, channel_multiplier]", desc)
    if xs is not None and ws is not None and None not in (xs[3], ws[2]) and xs[3] != ws[2]:
        raise ValueError(f"{desc}: the input's depth {xs[3]} (input shape {fmt_shape(xs)}) does not match the "
                         f"filter's in_channels {ws[2]} (filter shape {fmt_shape(ws)})")
    return x, w


def depthwise_conv2d_op(x: Tensor, w: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """The DepthwiseConv2dNative op from checked tensors and normalised attrs."""
    xs, ws = x.static_shape, w.static_shape
    n, oh, ow, _ = nn._conv_out_shape(xs, ws, attrs, nn._desc("DepthwiseConv2dNative", name))
    oc = None if ws is None or None in (ws[2], ws[3]) else ws[2] * ws[3]
    return make_op("DepthwiseConv2dNative", [x, w], attrs=conv_attrs(attrs), shape=(n, oh, ow, oc),
                   dtype=x.dtype, name=name)


def depthwise_conv2d_native(input: Any, filter: Any, strides: Any, padding: Any,  # noqa: A002
                            data_format: str = "NHWC", dilations: Any = (1, 1, 1, 1),
                            name: str | None = None) -> Tensor:
    """Each input channel c convolved with its own M filters w[:, :, c, :]: output depth C * M,
    channel c*M + m (``tf.nn.depthwise_conv2d_native``)."""
    desc = nn._desc("DepthwiseConv2dNative", name)
    attrs = _conv_args(strides, padding, None, dilations, data_format, desc)
    x, w = _depthwise_inputs(input, filter, desc, "DepthwiseConv2dNative", name)
    return depthwise_conv2d_op(x, w, attrs, name)


def depthwise_conv2d(input: Any, filter: Any, strides: Any, padding: Any, rate: Any = None,  # noqa: A002
                     name: str | None = None, data_format: str | None = None,
                     dilations: Any = None) -> Tensor:
    """``tf.nn.depthwise_conv2d``: the native op with an optional dilation ``rate`` ([rh, rw])."""
    desc = nn._desc("depthwise_conv2d", name)
    attrs = _conv_args(strides, padding, rate, dilations, data_format, desc)
    x, w = _depthwise_inputs(input, filter, desc, "DepthwiseConv2dNative", name)
    return depthwise_conv2d_op(x, w, attrs, name)


def separable_conv2d(input: Any, depthwise_filter: Any, pointwise_filter: Any, strides: Any,  # noqa: A002
                     padding: Any, rate: Any = None, name: str | None = None, data_format: str | None = None,
                     dilations: Any = None) -> Tensor:
    """A depthwise convolution followed by a 1x1 (pointwise) Conv2D that mixes the C * M channels.

    ``depthwise_filter`` [KH, KW, C, M], ``pointwise_filter`` [1, 1, C * M, O] (TF's checks).
    """
    desc = nn._desc("separable_conv2d", name)
    attrs = _conv_args(strides, padding, rate, dilations, data_format, desc)
    x, w = _depthwise_inputs(input, depthwise_filter, desc, "separable_conv2d", name)
    pw = nn._like(pointwise_filter, x, "separable_conv2d", name, "pointwise_filter")
    ws, ps = w.static_shape, pw.static_shape
    _rank_check(pw, 4, "pointwise_filter", "[1, 1, in_channels * channel_multiplier, out_channels]", desc)
    if ps is not None and (ps[0] != 1 or ps[1] != 1):
        raise ValueError(f"{desc}: pointwise_filter must be 1x1 in its spatial dimensions, got shape "
                         f"{fmt_shape(ps)}")
    if ws is not None and ps is not None and None not in (ws[2], ws[3], ps[2]) and ws[2] * ws[3] != ps[2]:
        raise ValueError(f"{desc}: pointwise_filter's in_channels {ps[2]} must be the depthwise output depth "
                         f"{ws[2]} x {ws[3]} = {ws[2] * ws[3]} (depthwise_filter {fmt_shape(ws)}, "
                         f"pointwise_filter {fmt_shape(ps)})")
    with name_scope(name or "separable_conv2d"):
        h = depthwise_conv2d_op(x, w, attrs, "depthwise")
        one = {"strides": (1, 1), "dilations": (1, 1), "padding": "VALID", "data_format": "NHWC"}
        return nn.conv2d_op(h, pw, one)


def depthwise_conv2d_backprop_input(x_like: Tensor, filter: Tensor, dy: Tensor, attrs: dict,  # noqa: A002
                                    name: str | None = None) -> Tensor:
    """d(depthwise conv)/d(input) applied to dy; x_like gives only the shape."""
    return make_op("DepthwiseConv2dNativeBackpropInput", [x_like, filter, dy], attrs=conv_attrs(attrs),
                   shape=x_like.static_shape, dtype=dy.dtype, name=name)


def depthwise_conv2d_backprop_filter(x: Tensor, filter_like: Tensor, dy: Tensor, attrs: dict,
                                     name: str | None = None) -> Tensor:
    """d(depthwise conv)/d(filter) applied to dy; filter_like gives only the shape."""
    return make_op("DepthwiseConv2dNativeBackpropFilter", [x, filter_like, dy], attrs=conv_attrs(attrs),
                   shape=filter_like.static_shape, dtype=dy.dtype, name=name)


registry.register_kernel("DepthwiseConv2dNative")(nn._conv_factory(conv_kernels.make_depthwise_conv2d))
registry.register_kernel("DepthwiseConv2dNativeBackpropInput", shape_inputs=(0,))(
    nn._conv_factory(conv_kernels.make_depthwise_conv2d_backprop_input))
registry.register_kernel("DepthwiseConv2dNativeBackpropFilter", shape_inputs=(1,))(
    nn._conv_factory(conv_kernels.make_depthwise_conv2d_backprop_filter))


# --- conv2d_transpose --------------------------------------------------------------------------

def _static_dims(output_shape: Any, desc: str) -> list:
    """output_shape as 4 entries, each an int or None (unknown), from a list or a Const/Pack tensor."""
    def scalar(v: Any) -> int | None:
        if isinstance(v, Tensor):
            if v.op.type == "Const" and np.ndim(v.op.attrs["value"]) == 0:
                return int(v.op.attrs["value"])
            return None
        return None if v is None or int(v) < 0 else int(v)

    if isinstance(output_shape, Tensor):
        op = output_shape.op
        if op.type == "Const":
            dims: list = [int(a) for a in np.asarray(op.attrs["value"]).reshape(-1)]
        elif op.type == "Pack":
            dims = [scalar(t) for t in op.inputs]
        else:
            raise ValueError(f"{desc}: output_shape must be a list or a tf.stack of values whose height, width "
                             f"and channels are known when the graph is built; got {output_shape.name} "
                             f"({op.type})")
    else:
        dims = [scalar(v) for v in output_shape]
    if len(dims) != 4:
        raise ValueError(f"{desc}: output_shape must have 4 entries [batch, height, width, channels], got "
                         f"{len(dims)}")
    if None in dims[1:]:
        raise ValueError(f"{desc}: output_shape's height, width and channels must be known when the graph is "
                         f"built, got {dims}")
    return dims


def conv2d_transpose(value: Any = None, filter: Any = None, output_shape: Any = None,  # noqa: A002
                     strides: Any = None, padding: Any = "SAME", data_format: str = "NHWC",
                     name: str | None = None, input: Any = None, filters: Any = None,  # noqa: A002
                     dilations: Any = None) -> Tensor:
    """The transpose (adjoint) of conv2d: ``filter`` is [KH, KW, out_channels, in_channels], and
    ``output_shape`` the NHWC shape of the result, which conv2d with the same filter, strides and
    padding maps back to ``value``'s shape (TF checks the same)."""
    desc = nn._desc("conv2d_transpose", name)
    if input is not None:
        value = input
    filter = _filter_arg(filter, filters, desc)  # noqa: A001
    if value is None or filter is None or output_shape is None or strides is None:
        raise ValueError(f"{desc}: value, filter, output_shape and strides are required")
    nn._check_nhwc(data_format, desc)
    attrs = {"strides": nn._spatial(strides, "strides", desc),
             "dilations": nn._spatial(1 if dilations is None else dilations, "dilations", desc),
             "padding": nn._padding(padding, desc, explicit_ok=False), "data_format": "NHWC"}
    x = nn._float_input(value, "Conv2DTranspose", name, "value")
    w = nn._like(filter, x, "Conv2DTranspose", name, "filter")
    xs = _rank_check(x, 4, "value", "[batch, height, width, channels] (NHWC)", desc)
    ws = _rank_check(w, 4, "filter", "[height, width, out_channels, in_channels]", desc)
    batch, oh, ow, oc = _static_dims(output_shape, desc)
    if xs is not None and ws is not None and None not in (xs[3], ws[3]) and xs[3] != ws[3]:
        raise ValueError(f"{desc}: value's depth {xs[3]} (shape {fmt_shape(xs)}) must equal the filter's "
                         f"in_channels (its last dimension) {ws[3]} (filter shape {fmt_shape(ws)})")
    if ws is not None and ws[2] is not None and oc != ws[2]:
        raise ValueError(f"{desc}: output_shape's channels {oc} must equal the filter's out_channels (its third "
                         f"dimension) {ws[2]} (filter shape {fmt_shape(ws)})")
    if xs is not None and batch is not None and xs[0] is not None and batch != xs[0]:
        raise ValueError(f"{desc}: output_shape's batch {batch} differs from value's batch {xs[0]}")
    if ws is not None and xs is not None:
        back = nn._conv_out_shape((xs[0], oh, ow, oc), ws, attrs, desc)
        if (back[1], back[2]) != (xs[1], xs[2]):
            raise ValueError(f"{desc}: output_shape {[batch, oh, ow, oc]} does not match value's shape "
                             f"{fmt_shape(xs)}: conv2d with filter {fmt_shape(ws)}, strides "
                             f"{list(attrs['strides'])} and padding {attrs['padding']} maps it to "
                             f"{back[1]}x{back[2]}, not {xs[1]}x{xs[2]}")
    return conv2d_transpose_op(x, w, {**attrs, "output_shape": (oh, ow, oc)}, name)


def conv2d_transpose_op(x: Tensor, w: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """The Conv2DTranspose op; attrs = Conv2D's plus output_shape (height, width, channels)."""
    xs = x.static_shape
    oh, ow, oc = attrs["output_shape"]
    a = {**conv_attrs(attrs), "output_shape": (int(oh), int(ow), int(oc))}
    return make_op("Conv2DTranspose", [x, w], attrs=a, shape=(None if xs is None else xs[0], oh, ow, oc),
                   dtype=x.dtype, name=name)


@registry.register_kernel("Conv2DTranspose")
def _conv2d_transpose_kernel(op: Any, ctx: Any) -> Any:
    a = op.attrs
    backprop = conv_kernels.make_conv2d_backprop_input(ctx.xp, a["strides"], a["dilations"], a["padding"],
                                                       jit=conv_jit.for_ctx(ctx))
    oh, ow, oc = a["output_shape"]
    shapes: dict[int, conv_kernels.ShapeOnly] = {}

    def run(value: Any, w: Any, out: Any = None) -> Any:
        n = value.shape[0]
        like = shapes.get(n)
        if like is None:
            like = shapes[n] = conv_kernels.ShapeOnly((n, oh, ow, oc))
        return backprop(like, w, value, out=out)
    return run


# --- 1-D and N-D pooling -------------------------------------------------------------------------

def _pool1d(op_type: str, input: Any, ksize: Any, strides: Any, padding: Any,  # noqa: A002
            data_format: Any, name: str | None) -> Tensor:
    desc = nn._desc(op_type + "1D", name)
    if data_format not in (None, "NWC"):
        raise ValueError(f"{desc}: data_format {data_format!r} is not supported; nnctl runs NWC only")
    x = nn._float_input(input, op_type, name)
    _rank_check(x, 3, "input", "[batch, width, channels] (NWC)", desc)
    attrs = {"ksize": (1, _one_d(ksize, "ksize", desc)), "strides": (1, _one_d(strides, "strides", desc)),
             "padding": nn._padding(padding, desc, False), "data_format": "NHWC"}
    with name_scope(name or (op_type + "1d")):
        return array_ops.squeeze(nn.pool_op(op_type, array_ops.expand_dims(x, 1), attrs), [1])


def max_pool1d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NWC",  # noqa: A002
               name: str | None = None) -> Tensor:
    """The maximum over each window of an NWC [batch, width, channels] tensor."""
    return _pool1d("MaxPool", input, ksize, strides, padding, data_format, name)


def avg_pool1d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NWC",  # noqa: A002
               name: str | None = None) -> Tensor:
    """The mean over each window of an NWC tensor (SAME: over the window's non-padding elements)."""
    return _pool1d("AvgPool", input, ksize, strides, padding, data_format, name)


def pool(input: Any, window_shape: Any, pooling_type: str, padding: Any, dilation_rate: Any = None,  # noqa: A002
         strides: Any = None, name: str | None = None, data_format: str | None = None) -> Tensor:
    """``tf.nn.pool`` for 1 or 2 spatial dimensions: pooling_type "MAX" or "AVG"; strides default to 1."""
    desc = nn._desc("pool", name)
    kind = {"MAX": "MaxPool", "AVG": "AvgPool"}.get(str(pooling_type).upper())
    if kind is None:
        raise ValueError(f"{desc}: pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}")
    window = [int(v) for v in np.atleast_1d(window_shape)]
    nd = len(window)
    if nd not in (1, 2):
        raise ValueError(f"{desc}: nnctl pools over 1 or 2 spatial dimensions, got window_shape {window}")
    stride = [1] * nd if strides is None else [int(v) for v in np.atleast_1d(strides)]
    if dilation_rate is not None and any(int(v) != 1 for v in np.atleast_1d(dilation_rate)):
        raise ValueError(f"{desc}: dilation_rate {list(np.atleast_1d(dilation_rate))} is not supported (use 1)")
    if len(stride) != nd:
        raise ValueError(f"{desc}: strides {stride} must have one entry per window dimension {window}")
    if nd == 1:
        return _pool1d(kind, input, window[0], stride[0], padding, data_format, name)
    nn._check_nhwc(data_format, desc)
    return nn._pool(kind, input, window, stride, padding, data_format, name)
