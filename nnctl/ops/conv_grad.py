"""Gradient rules of the convolution variants in conv_ops.py, built from graph ops only.

Every op here is bilinear in (input, filter), so each rule is a pair of the other ops:
<dy, D(x, w)> = <Bi(x, w, dy), x> = <Bf(x, w, dy), w>, and the adjoints of Bi and Bf are again D,
Bi and Bf. That closes the family under differentiation (any order).
"""

from __future__ import annotations

from nnctl.graph.registry import register_gradient
from nnctl.ops import conv_ops as cv
from nnctl.ops import nn_ops as nn


@register_gradient("DepthwiseConv2dNative")
def _depthwise_grad(op, dy):
    x, w = op.inputs
    a = cv.conv_attrs(op)
    return [cv.depthwise_conv2d_backprop_input(x, w, dy, a), cv.depthwise_conv2d_backprop_filter(x, w, dy, a)]


@register_gradient("DepthwiseConv2dNativeBackpropInput")
def _depthwise_backprop_input_grad(op, ddx):
    # <ddx, Bi(w, dy)> = <D(ddx, w), dy>: bilinear in (w, dy)
    _, w, dy = op.inputs
    a = cv.conv_attrs(op)
    return [None, cv.depthwise_conv2d_backprop_filter(ddx, w, dy, a), cv.depthwise_conv2d_op(ddx, w, a)]


@register_gradient("DepthwiseConv2dNativeBackpropFilter")
def _depthwise_backprop_filter_grad(op, ddw):
    # <ddw, Bf(x, dy)> = <D(x, ddw), dy>: bilinear in (x, dy)
    x, _, dy = op.inputs
    a = cv.conv_attrs(op)
    return [cv.depthwise_conv2d_backprop_input(x, ddw, dy, a), None, cv.depthwise_conv2d_op(x, ddw, a)]


@register_gradient("Conv2DTranspose")
def _conv2d_transpose_grad(op, dy):
    # y = Conv2DBackpropInput(shape, w, v): d/dv = conv2d(dy, w), d/dw = Conv2DBackpropFilter(dy, w, v)
    v, w = op.inputs
    a = cv.conv_attrs(op)
    return [nn.conv2d_op(dy, w, a), nn.conv2d_backprop_filter(dy, w, v, a)]
