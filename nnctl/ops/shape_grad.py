"""Gradient rules of the ops that take their shape as a tensor (shape_ops.py)."""

from __future__ import annotations

from nnctl.graph.registry import register_gradient
from nnctl.ops import array_ops as a
from nnctl.ops import math_ops as m
from nnctl.ops import shape_ops as s


@register_gradient("ReshapeDynamic")
def _reshape_dynamic_grad(op, dy):
    return [a.reshape_like(dy, op.inputs[0]), None]


@register_gradient("FillDynamic")
def _fill_dynamic_grad(op, dy):
    # every output element is the value: d/dvalue = sum(dy)
    return [None, m.reduce_sum(dy)]


@register_gradient("TileDynamic")
def _tile_dynamic_grad(op, dy):
    return [s.tile_grad_dynamic(dy, op.inputs[0], op.inputs[1]), None]


@register_gradient("TileDynamicGrad")
def _tile_dynamic_grad_grad(op, ddx):
    # TileDynamicGrad is linear in dy and sums the copies, so its adjoint tiles again
    return [s.dynamic_tile(ddx, op.inputs[2]), None, None]
