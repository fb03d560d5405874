"""Gradient rules of the resize ops: each resize is linear, x -> R x, so its gradient is the
adjoint R^T dy (the ...Grad op) and the adjoint's gradient is the resize again."""

from __future__ import annotations

from nnctl.graph.registry import register_gradient
from nnctl.ops import image_ops as im


def _resize_grad(op, dy):
    return [im.resize_grad(op.type, dy, op.inputs[0], op.attrs)]


def _resize_grad_grad(op, ddx):
    return [im.resize_op(op.type[:-4], ddx, op.attrs), None]


for _t in ("ResizeBilinear", "ResizeNearestNeighbor"):
    register_gradient(_t)(_resize_grad)
    register_gradient(_t + "Grad")(_resize_grad_grad)
