"""Gradient rules of the array ops."""

from __future__ import annotations

from nnctl.graph.registry import register_gradient
from nnctl.ops import array_ops as a


@register_gradient("Identity")
def _identity_grad(op, dy):
    return [dy]


@register_gradient("PlaceholderWithDefault")
def _pwd_grad(op, dy):
    return [dy]


@register_gradient("Reshape")
def _reshape_grad(op, dy):
    x = op.inputs[0]
    return [a.reshape_like(dy, x)]


@register_gradient("ExpandDims")
def _expand_dims_grad(op, dy):
    return [a.reshape_like(dy, op.inputs[0])]


@register_gradient("Squeeze")
def _squeeze_grad(op, dy):
    return [a.reshape_like(dy, op.inputs[0])]


@register_gradient("Pack")
def _pack_grad(op, dy):
    return a.unstack(dy, num=len(op.inputs), axis=op.attrs["axis"])


@register_gradient("StridedSlice")
def _strided_slice_grad(op, dy):
    return [a.strided_slice_grad(dy, op.inputs[0], op.attrs["spec"])]


@register_gradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, ddx):
    return [a.strided_slice_index(ddx, a._to_index(op.attrs["spec"])), None]


@register_gradient("ReshapeLike")
def _reshape_like_grad(op, dy):
    return [a.reshape_like(dy, op.inputs[0]), None]
