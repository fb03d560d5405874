"""Gradient rules of the array ops."""

from __future__ import annotations

from nnctl.graph.registry import SubgraphGradient, register_gradient, register_subgraph_gradient, register_sum_rule
from nnctl.ops import array_ops as a
from nnctl.ops.core import unbroadcast


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


@register_subgraph_gradient("StridedSlice")
def _stacked_piece_grad(op):
    # x = stack(pieces, axis); y = x[..., i, ...] is pieces[i] (dynamic_rnn's outputs[:, -1], the last
    # step's output): its gradient goes to that piece alone, and the others get none, rather than a
    # zero tensor of x's shape cut back into pieces that every other step's gradient adds (an AddN a
    # step in an unrolled RNN)
    found = a.stacked_piece(op)
    if found is None:
        return None
    pack, pick = found
    n = len(pack.inputs)
    return SubgraphGradient(interior=[op, pack], inputs=list(pack.inputs),
                            rule=lambda dy: [dy if j == pick else None for j in range(n)])


@register_sum_rule("StridedSliceGrad")
def _strided_slice_grads_sum(ops, concat):
    # sum_i StridedSliceGrad(dy_i, x, [.., i:i+1, ..]) over every i of one axis (the gradient of
    # tf.unstack: an unrolled RNN's inputs) = concat(dy_0, dy_1, ...) along it: one array of x's
    # shape in place of T zero ones, each with one slice set, and their T-way sum
    x = ops[0].inputs[1]
    s = x.static_shape
    if s is None or any(o.inputs[1] is not x or o.inputs[0].dtype != x.dtype for o in ops):
        return None
    axis, pieces = None, {}
    for o in ops:
        found = a.one_axis_index(o.attrs["spec"], len(s))
        if found is None or found[1][0] != "s" or axis not in (None, found[0]) or s[found[0]] is None:
            return None
        axis, (_, lo, hi, _) = found[0], found[1]
        n = s[axis]
        if lo is None or hi is None or not -n <= lo < n or not -n < hi <= n:
            return None
        lo, hi = lo % n, hi % n or n  # a slice's stop may be n itself
        if hi != lo + 1 or lo in pieces:
            return None
        pieces[lo] = o.inputs[0]
    if axis is None or sorted(pieces) != list(range(s[axis])):
        return None
    return concat([pieces[i] for i in range(s[axis])], axis)


@register_gradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, ddx):
    return [a.strided_slice_index(ddx, a._to_index(op.attrs["spec"])), None]


@register_gradient("ReshapeLike")
def _reshape_like_grad(op, dy):
    return [a.reshape_like(dy, op.inputs[0]), None]


@register_gradient("Transpose")
def _transpose_grad(op, dy):
    # y = transpose(x, p) => dx = transpose(dy, p^-1)
    return [a.transpose(dy, a.inverse_permutation(op.attrs["perm"]))]


@register_gradient("ReverseV2")
def _reverse_grad(op, dy):
    return [a.reverse(dy, list(op.attrs["axis"]))]


@register_gradient("Slice")
def _slice_grad(op, dy):
    return [a.strided_slice_grad(dy, op.inputs[0], a._slice_spec(op.attrs["begin"], op.attrs["size"]))]


@register_gradient("ConcatV2")
def _concat_grad(op, dy):
    axis = op.attrs["axis"]
    sizes = [None if t.static_shape is None else t.static_shape[axis] for t in op.inputs]
    if dy.static_shape is not None and sum(1 for z in sizes if z is None) <= 1:
        return a.split(dy, [-1 if z is None else z for z in sizes], axis=axis)
    return a.split_like(dy, list(op.inputs), axis)


def _split_grad(op, *dys):
    return [a.concat(list(dys), op.attrs["axis"])]


register_gradient("Split")(_split_grad)
register_gradient("SplitV")(_split_grad)


@register_gradient("SplitLike")
def _split_like_grad(op, *dys):
    return [a.concat(list(dys), op.attrs["axis"])] + [None] * (len(op.inputs) - 1)


@register_gradient("GatherV2")
def _gather_grad(op, dy):
    params, indices = op.inputs
    return [a.gather_grad(dy, indices, params, op.attrs["axis"]), None]


@register_gradient("GatherGrad")
def _gather_grad_grad(op, ddx):
    # GatherGrad is linear in dy and its adjoint is gather
    _, indices, _ = op.inputs
    return [a.gather(ddx, indices, axis=op.attrs["axis"]), None, None]


@register_gradient("Tile")
def _tile_grad(op, dy):
    return [a.tile_grad(dy, op.inputs[0], op.attrs["multiples"])]


@register_gradient("TileGrad")
def _tile_grad_grad(op, ddx):
    return [a.tile(ddx, list(op.attrs["multiples"])), None]


@register_gradient("BroadcastTo")
def _broadcast_to_grad(op, dy):
    return [unbroadcast(dy, op.inputs[0])]


@register_gradient("Pad")
def _pad_grad(op, dy):
    return [a.pad_grad(dy, op.inputs[0], op.attrs["paddings"], op.attrs["mode"])]


@register_gradient("PadGrad")
def _pad_grad_grad(op, ddx):
    # PadGrad is the adjoint of the linear map x -> Pad(x) with zero fill, so its adjoint is that Pad
    return [a.pad(ddx, [list(p) for p in op.attrs["paddings"]], op.attrs["mode"]), None]


@register_gradient("Fill")
def _fill_grad(op, dy):
    # every element is the value: its gradient is the sum of dy
    from nnctl.ops import math_ops
    return [math_ops.reduce_sum(dy)]
