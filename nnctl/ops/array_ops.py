"""Array ops: shape manipulation, slicing, joining, filling.

View ops (identity, reshape, expand_dims, squeeze, transpose, reverse, slice, basic indexing,
broadcast_to) alias their input's buffer in a compiled plan and cost nothing at run time. Shapes,
axes, sizes and paddings are Python ints fixed when the graph is built; dimensions may be unknown
(None) and are then taken from the arrays at run time.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.errors import InvalidArgumentError
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import TensorShape, as_shape_tuple, fmt_shape, merge_shapes, num_elements
from nnctl.ops import seq_jit, shape_ops
from nnctl.ops.core import convert_to_tensor, make_op

_pyslice = builtins.slice  # this module defines tf.slice

# --- identity and stop_gradient ----------------------------------------------------------------


def identity(input: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return make_op("Identity", [x], shape=x.static_shape, dtype=x.dtype, name=name)


def stop_gradient(input: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return make_op("StopGradient", [x], shape=x.static_shape, dtype=x.dtype, name=name)


def _passthrough(op: Operation, ctx: Any) -> Any:
    def run(x: Any, out: Any = None) -> Any:
        return x
    return run


registry.register_kernel("Identity", view=True, out=False)(_passthrough)
registry.register_kernel("StopGradient", view=True, out=False)(_passthrough)
registry.not_differentiable("StopGradient")


# --- filled tensors ------------------------------------------------------------------------------

def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    x = convert_to_tensor(tensor)
    return make_op("ZerosLike", [x], shape=x.static_shape, dtype=dtype or x.dtype, name=name or "zeros_like")


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    x = convert_to_tensor(tensor)
    return make_op("OnesLike", [x], shape=x.static_shape, dtype=dtype or x.dtype, name=name or "ones_like")


def _fill_like(value: float):
    def factory(op: Operation, ctx: Any) -> Any:
        xp, dt = ctx.xp, op.outputs[0].dtype.np

        def run(x: Any, out: Any = None) -> Any:
            if out is None:
                return xp.full(x.shape, value, dtype=dt)
            out.fill(value)
            return out
        return run
    return factory


registry.register_kernel("ZerosLike", shape_only=True)(_fill_like(0))
registry.register_kernel("OnesLike", shape_only=True)(_fill_like(1))
registry.not_differentiable("ZerosLike", "OnesLike")


def fill(dims: Any, value: Any, name: str | None = None) -> Tensor:
    """A tensor of shape ``dims`` filled with the scalar ``value`` (a Python or numpy value, or a Tensor),
    of the value's dtype as TF converts it: ``fill([2], 3)`` is int32, ``fill([2], 3.0)`` float32."""
    if shape_ops.is_dynamic(dims):
        return shape_ops.dynamic_fill(dims, value, name=name)
    shape = as_shape_tuple(dims)
    if shape is None or None in shape:
        raise ValueError("fill: dims must be fully known")
    v = convert_to_tensor(value)
    if v.static_shape not in (None, ()):
        raise ValueError(f"Fill '{name or 'Fill'}': value must be a scalar, got {v.name} of shape "
                         f"{fmt_shape(v.static_shape)}")
    return make_op("Fill", [v], attrs={"shape": tuple(shape)}, shape=tuple(shape), dtype=v.dtype,
                   name=name or "Fill")


@registry.register_kernel("Fill")
def _fill_kernel(op: Operation, ctx: Any) -> Any:
    xp, shape, dt = ctx.xp, op.attrs["shape"], op.outputs[0].dtype.np

    def run(v: Any, out: Any = None) -> Any:
        if out is None:
            return xp.full(shape, v, dtype=dt)
        out[...] = v
        return out
    return run


def zeros(shape: Any, dtype: Any = dtypes.float32, name: str | None = None) -> Tensor:
    from nnctl.ops.state_ops import constant
    if shape_ops.is_dynamic(shape):
        return shape_ops.dynamic_fill(shape, np.zeros((), dtypes.as_dtype(dtype).np), name=name or "zeros")
    return constant(np.zeros(as_shape_tuple(shape), dtype=dtypes.as_dtype(dtype).np), name=name or "zeros")


def ones(shape: Any, dtype: Any = dtypes.float32, name: str | None = None) -> Tensor:
    from nnctl.ops.state_ops import constant
    if shape_ops.is_dynamic(shape):
        return shape_ops.dynamic_fill(shape, np.ones((), dtypes.as_dtype(dtype).np), name=name or "ones")
    return constant(np.ones(as_shape_tuple(shape), dtype=dtypes.as_dtype(dtype).np), name=name or "ones")


# --- reshape, expand_dims, squeeze ---------------------------------------------------------------

def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.reshape``; one dimension may be -1 (inferred)."""
    x = convert_to_tensor(tensor)
    if shape_ops.is_dynamic(shape):
        return shape_ops.dynamic_reshape(x, shape, name=name)
    target = [int(d) for d in (shape if not isinstance(shape, int) else [shape])]
    if sum(1 for d in target if d == -1) > 1:
        raise ValueError(f"Reshape '{name or 'Reshape'}': only one dimension may be -1, got {target}")
    if any(d < -1 for d in target):
        raise ValueError(f"Reshape '{name or 'Reshape'}': invalid target shape {target}")
    n_in = num_elements(x.static_shape)
    known = 1
    for d in target:
        if d != -1:
            known *= d
    out_shape: list = list(target)
    if -1 in target:
        i = target.index(-1)
        if n_in is not None:
            if known == 0 or n_in % known:
                raise ValueError(f"Reshape '{name or 'Reshape'}': cannot reshape a tensor with {n_in} "
                                 f"elements (shape {fmt_shape(x.static_shape)}) to {target}")
            out_shape[i] = n_in // known
        else:
            out_shape[i] = None
    elif n_in is not None and n_in != known:
        raise ValueError(f"Reshape '{name or 'Reshape'}': cannot reshape a tensor with {n_in} elements "
                         f"(shape {fmt_shape(x.static_shape)}) to shape {target} ({known} elements)")
    return make_op("Reshape", [x], attrs={"shape": tuple(target)}, shape=tuple(out_shape), dtype=x.dtype,
                   name=name)


@registry.register_kernel("Reshape", view=True, out=False)
def _reshape_kernel(op: Operation, ctx: Any) -> Any:
    target = op.attrs["shape"]

    def run(x: Any, out: Any = None) -> Any:
        return x.reshape(target)
    return run


def expand_dims(input: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    x = convert_to_tensor(input)
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'")
        axis = dim
    if axis is None:
        raise ValueError("Must specify an axis argument to tf.expand_dims()")
    if isinstance(axis, Tensor):
        raise TypeError("expand_dims: axis must be a Python int, not a Tensor")
    axis = int(np.asarray(axis).reshape(-1)[0]) if np.ndim(axis) else int(axis)
    s = x.static_shape
    if s is None:  # unknown rank: numpy's rule for a negative axis is TF's (-1 appends)
        return make_op("ExpandDims", [x], attrs={"axis": axis}, shape=None, dtype=x.dtype, name=name)
    r = len(s) + 1
    if not -r <= axis < r:
        raise ValueError(f"ExpandDims: axis {axis} out of range for result rank {r}")
    axis %= r
    shape = s[:axis] + (1,) + s[axis:]
    return make_op("ExpandDims", [x], attrs={"axis": axis}, shape=shape, dtype=x.dtype, name=name)


@registry.register_kernel("ExpandDims", view=True, out=False)
def _expand_dims_kernel(op: Operation, ctx: Any) -> Any:
    axis, xp = op.attrs["axis"], ctx.xp

    def run(x: Any, out: Any = None) -> Any:
        return xp.expand_dims(x, axis)
    return run


def squeeze(input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None) -> Tensor:
    x = convert_to_tensor(input)
    desc = _desc("Squeeze", name)
    if squeeze_dims is not None:
        if axis is not None:
            raise ValueError(f"{desc}: pass axis or squeeze_dims, not both")
        axis = squeeze_dims
    s = x.static_shape
    if axis is not None:
        given = [int(a) for a in ([axis] if isinstance(axis, (int, np.integer)) else axis)]
        if not given:
            axis = None
    if axis is None:
        if s is None or None in s:
            # an unknown dimension may be 1: which dimensions go is known only at run time (TF then
            # knows the result's rank no more than nnctl does)
            return make_op("Squeeze", [x], attrs={"axis": None}, shape=None, dtype=x.dtype, name=name)
        axes = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        if s is None:
            raise ValueError(f"{desc}: squeezing axes {given} needs a known rank")
        for a in given:
            if not -len(s) <= a < len(s):
                raise ValueError(f"{desc}: axis {a} is out of range for input of shape {fmt_shape(s)} "
                                 f"(rank {len(s)})")
        axes = tuple(sorted({a % len(s) for a in given}))
        for a in axes:
            if s[a] is not None and s[a] != 1:
                raise ValueError(f"{desc}: cannot squeeze dimension {a} of size {s[a]} in {fmt_shape(s)}")
    shape = tuple(d for i, d in enumerate(s) if i not in axes)
    return make_op("Squeeze", [x], attrs={"axis": axes}, shape=shape, dtype=x.dtype, name=name)


@registry.register_kernel("Squeeze", view=True, out=False)
def _squeeze_kernel(op: Operation, ctx: Any) -> Any:
    axes = op.attrs["axis"]

    def run(x: Any, out: Any = None) -> Any:
        if axes is None:  # every size-1 dimension, known only now
            return x.reshape(tuple(d for d in x.shape if d != 1))
        for a in axes:
            if x.shape[a] != 1:
                raise InvalidArgumentError(None, op, f"Squeeze '{op.name}': can not squeeze dim[{a}], expected "
                                                     f"a dimension of 1, got {x.shape[a]} (input shape "
                                                     f"{tuple(x.shape)})")
        return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return run


# --- shape queries --------------------------------------------------------------------------------

def shape(input: Any, name: str | None = None, out_type: Any = dtypes.int32) -> Tensor:
    x = convert_to_tensor(input)
    rank = None if x.static_shape is None else len(x.static_shape)
    return make_op("Shape", [x], shape=(rank,), dtype=out_type, name=name)


def size(input: Any, name: str | None = None, out_type: Any = dtypes.int32) -> Tensor:
    x = convert_to_tensor(input)
    return make_op("Size", [x], shape=(), dtype=out_type, name=name)


def rank(input: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(input)
    return make_op("Rank", [x], shape=(), dtype=dtypes.int32, name=name)


def reduction_size(x: Tensor, axes: Any, name: str | None = None) -> Tensor:
    """Number of elements a reduction over ``axes`` (None = all) combines, as an int32 scalar."""
    return make_op("ReductionSize", [x], attrs={"axis": axes}, shape=(), dtype=dtypes.int32, name=name)


def _shape_kernel(fn):
    def factory(op: Operation, ctx: Any) -> Any:
        xp, dt = ctx.xp, op.outputs[0].dtype.np

        def run(x: Any, out: Any = None) -> Any:
            return xp.asarray(fn(op, x), dtype=dt)
        return run
    return factory


def _reduction_count(op: Operation, x: Any) -> int:
    axes = op.attrs["axis"]
    n = 1
    for i, d in enumerate(x.shape):
        if axes is None or i in axes:
            n *= d
    return n


registry.register_kernel("Shape", shape_only=True, out=False)(_shape_kernel(lambda op, x: list(x.shape)))
registry.register_kernel("Size", shape_only=True, out=False)(_shape_kernel(lambda op, x: x.size))
registry.register_kernel("Rank", shape_only=True, out=False)(_shape_kernel(lambda op, x: x.ndim))
registry.register_kernel("ReductionSize", shape_only=True, out=False)(_shape_kernel(_reduction_count))
registry.not_differentiable("Shape", "Size", "Rank", "ReductionSize")


# --- stack -------------------------------------------------------------------------------------------

def _convert_list(values: Any) -> list[Tensor]:
    """Tensors pass through; Python and numpy values take the dtype of the first Tensor among them (as
    TF's packing of a list does), so ``[x, 1.0]`` works for a float64 ``x``."""
    vals = list(values)
    like = next((v for v in vals if isinstance(v, Tensor) or hasattr(v, "_as_graph_element")), None)
    if like is None:
        return [convert_to_tensor(v) for v in vals]
    like = convert_to_tensor(like)
    return [convert_to_tensor(v) if isinstance(v, Tensor) or hasattr(v, "_as_graph_element")
            else convert_to_tensor(v, preferred_dtype=like.dtype) for v in vals]


def stack(values: list, axis: int = 0, name: str = "stack") -> Tensor:
    if isinstance(values, Tensor):
        raise TypeError("stack: values must be a list of tensors (use tf.unstack first for one tensor)")
    ts = _convert_list(values)
    if not ts:
        raise ValueError("stack needs at least one tensor")
    s0 = ts[0].static_shape
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(f"stack: dtype {t.dtype.name} of {t.name} differs from {ts[0].dtype.name}")
        if s0 is not None and t.static_shape is not None and (
                len(s0) != len(t.static_shape) or any(a is not None and b is not None and a != b
                                                     for a, b in zip(s0, t.static_shape))):
            raise ValueError(f"stack: shapes {fmt_shape(s0)} and {fmt_shape(t.static_shape)} differ")
        s0 = merge_shapes(s0, t.static_shape)  # as specific as every input together (TF's rule)
    r = len(s0) + 1 if s0 is not None else None
    if r is not None:
        if not -r <= axis < r:
            raise ValueError(f"stack: axis {axis} out of range")
        axis %= r
        shape = s0[:axis] + (len(ts),) + s0[axis:]
    else:
        shape = None
    return make_op("Pack", ts, attrs={"axis": axis}, shape=shape, dtype=ts[0].dtype, name=name)


@registry.register_kernel("Pack")
def _pack_kernel(op: Operation, ctx: Any) -> Any:
    xp, axis = ctx.xp, op.attrs["axis"]

    def run(*xs: Any, out: Any = None) -> Any:
        return xp.stack(xs, axis=axis, out=out)
    return run


def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> list:
    x = convert_to_tensor(value)
    s = x.static_shape
    if s is None:
        raise ValueError("unstack needs a known rank")
    axis %= len(s)
    n = num if num is not None else s[axis]
    if n is None:
        raise ValueError("unstack: cannot infer num from an unknown dimension; pass num")
    return [squeeze(_slice_axis(x, axis, i), axis=[axis]) for i in range(n)]


def _slice_axis(x: Tensor, axis: int, i: int) -> Tensor:
    spec: list[Any] = [_pyslice(None)] * axis + [_pyslice(i, i + 1)]
    return x[tuple(spec)]


# --- indexing (Tensor.__getitem__) ---------------------------------------------------------------

def _norm_index(item: Any) -> tuple:
    if isinstance(item, list) and all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in item):
        item = tuple(item)  # TF reads t[[0, 1]] as t[0, 1]
    if not isinstance(item, tuple):
        item = (item,)
    out = []
    for it in item:
        if isinstance(it, _pyslice):
            for v in (it.start, it.stop, it.step):
                if v is not None and not isinstance(v, (int, np.integer)):
                    raise TypeError(f"slice bounds must be Python ints, got {v!r}")
            if it.step == 0:
                raise ValueError("slice step cannot be zero")
            out.append(("s", it.start, it.stop, it.step))
        elif it is None:
            out.append(("n",))
        elif it is Ellipsis:
            out.append(("e",))
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            out.append(("i", int(it)))
        else:
            raise TypeError(f"Only integers, slices, None and Ellipsis are valid indices, got {it!r} "
                            "(use tf.gather for tensor indices)")
    if sum(1 for o in out if o[0] == "e") > 1:
        raise IndexError("an index can only have a single ellipsis")
    return tuple(out)


def _to_index(spec: tuple) -> tuple:
    return tuple(_pyslice(o[1], o[2], o[3]) if o[0] == "s" else None if o[0] == "n"
                 else Ellipsis if o[0] == "e" else o[1] for o in spec)


def _index_shape(s: tuple, spec: tuple) -> tuple:
    n_real = sum(1 for o in spec if o[0] in "si")
    if n_real > len(s):
        raise IndexError(f"too many indices for a tensor of shape {fmt_shape(s)}")
    expanded = []
    for o in spec:
        if o[0] == "e":
            expanded.extend([("s", None, None, None)] * (len(s) - n_real))
        else:
            expanded.append(o)
    while sum(1 for o in expanded if o[0] in "si") < len(s):
        expanded.append(("s", None, None, None))
    out = []
    dim = 0
    for o in expanded:
        if o[0] == "n":
            out.append(1)
            continue
        d = s[dim]
        dim += 1
        if o[0] == "i":
            if d is not None and not -d <= o[1] < d:
                raise IndexError(f"index {o[1]} is out of bounds for dimension {dim - 1} of size {d}")
            continue
        if d is None:
            out.append(None)
        else:
            out.append(len(range(*_pyslice(o[1], o[2], o[3]).indices(d))))
    return tuple(out)


def strided_slice_index(x: Any, item: Any, name: str | None = None) -> Tensor:
    """``t[...]`` with ints, slices, None and Ellipsis (numpy basic indexing)."""
    x = convert_to_tensor(x)
    spec = _norm_index(item)
    shape = _index_shape(x.static_shape, spec) if x.static_shape is not None else None
    return make_op("StridedSlice", [x], attrs={"spec": spec}, shape=shape, dtype=x.dtype,
                   name=name or "strided_slice")


@registry.register_kernel("StridedSlice", view=True, out=False)
def _strided_slice_kernel(op: Operation, ctx: Any) -> Any:
    idx = _to_index(op.attrs["spec"])

    def run(x: Any, out: Any = None) -> Any:
        return x[idx]
    return run


def stacked_piece(op: Operation) -> tuple[Operation, int] | None:
    """(the Pack op, i) where the StridedSlice ``op`` takes stack(pieces, axis)[..., i, ...] along the
    stacking axis with every other axis whole (no new axes, steps of 1): pieces[i] itself (an
    unrolled RNN's outputs[:, -1]); else None."""
    pack, shape = op.inputs[0].op, op.inputs[0].static_shape
    if pack.type != "Pack" or shape is None:
        return None
    axis = pack.attrs["axis"] % len(shape)
    found = one_axis_index(op.attrs["spec"], len(shape))
    if found is None or found[0] != axis or found[1][0] != "i":
        return None
    i, n = found[1][1], len(pack.inputs)
    return (pack, i % n) if -n <= i < n else None


def one_axis_index(spec: tuple, rank: int) -> tuple[int, tuple] | None:
    """(axis, its entry) where the StridedSlice spec of a rank-``rank`` tensor takes every axis whole
    but one (no new axes, steps of 1); else None."""
    if sum(1 for o in spec if o[0] == "e") > 1 or any(o[0] == "n" for o in spec):
        return None
    whole = ("s", None, None, None)
    n_real = sum(1 for o in spec if o[0] in "si")
    expanded = [e for o in spec for e in ([whole] * (rank - n_real) if o[0] == "e" else [o])]
    expanded += [whole] * (rank - len(expanded))
    if len(expanded) != rank:
        return None
    cut = [d for d, o in enumerate(expanded) if o != whole and o != ("s", None, None, 1)]
    if len(cut) != 1:
        return None
    entry = expanded[cut[0]]
    if entry[0] == "s" and entry[3] not in (None, 1):  # a strided slice
        return None
    return cut[0], entry


def _stacked_piece_kernel(root: Operation) -> registry.SubgraphKernel | None:
    # stack(pieces)[..., i, ...] read alone: a copy of pieces[i], and no stack (an unrolled RNN's
    # outputs[:, -1]: one [batch, units] copy instead of a [batch, time, units] one)
    found = stacked_piece(root)
    if found is None:
        return None
    pack, i = found

    def bind(ctx: Any, ins: list[Any]) -> Any:
        return lambda outs: partial(ctx.backend.copyto, outs[0], ins[0])
    return registry.SubgraphKernel(interior=[root, pack], inputs=[pack.inputs[i]], outputs=[root.outputs[0]], bind=bind)


registry.register_subgraph_kernel("StridedSlice")(_stacked_piece_kernel)


def strided_slice_grad(dy: Tensor, x: Tensor, spec: tuple, name: str | None = None) -> Tensor:
    return make_op("StridedSliceGrad", [dy, x], attrs={"spec": spec}, shape=x.static_shape, dtype=dy.dtype,
                   name=name)


@registry.register_kernel("StridedSliceGrad")
def _strided_slice_grad_kernel(op: Operation, ctx: Any) -> Any:
    idx = _to_index(op.attrs["spec"])
    xp = ctx.xp

    def run(dy: Any, x: Any, out: Any = None) -> Any:
        if out is None:
            out = xp.zeros(x.shape, dtype=dy.dtype)
        else:
            out.fill(0)
        out[idx] = dy
        return out
    return run


def reshape_like(x: Tensor, like: Tensor, name: str | None = None) -> Tensor:
    """Reshape ``x`` to the run-time shape of ``like`` (same number of elements)."""
    return make_op("ReshapeLike", [x, like], shape=like.static_shape, dtype=x.dtype, name=name)


@registry.register_kernel("ReshapeLike", view=True, out=False, shape_inputs=(1,))
def _reshape_like_kernel(op: Operation, ctx: Any) -> Any:
    def run(x: Any, like: Any, out: Any = None) -> Any:
        return x.reshape(like.shape)
    return run


# --- shared helpers for the ops below -----------------------------------------------------------

def _desc(op_type: str, name: str | None) -> str:
    return f"{op_type} '{name or op_type}'"


def _static_ints(value: Any, what: str, desc: str) -> list[int]:
    """A list of Python ints from an int, list, tuple or 1-D array (Tensors are not supported)."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        raise TypeError(f"{desc}: {what} must be a Python int or a list of ints, not a Tensor")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{desc}: {what} must be integers, got {value!r}")
    return [int(v) for v in arr.reshape(-1)]


def _axis(axis: Any, rank: int, desc: str) -> int:
    if isinstance(axis, Tensor) or hasattr(axis, "_as_graph_element"):
        raise TypeError(f"{desc}: axis must be a Python int, not a Tensor")
    axis = int(axis)
    if not -rank <= axis < rank:
        raise ValueError(f"{desc}: axis {axis} is out of range for a tensor of rank {rank}")
    return axis % rank


def _known_rank(x: Tensor, desc: str) -> tuple:
    if x.static_shape is None:
        raise ValueError(f"{desc}: the rank of {x.name} must be known")
    return x.static_shape


# --- transpose and reverse (views) ----------------------------------------------------------------

def transpose(a: Any, perm: Any = None, name: str = "transpose", conjugate: bool = False) -> Tensor:
    """``tf.transpose``: output dimension i is input dimension ``perm[i]``; default reverses the axes."""
    x = convert_to_tensor(a)
    s = x.static_shape
    desc = _desc("Transpose", name)
    if perm is None:
        p = None if s is None else tuple(range(len(s) - 1, -1, -1))
    else:
        p = tuple(_static_ints(perm, "perm", desc))
        if s is not None and len(p) != len(s):
            raise ValueError(f"{desc}: perm {list(p)} has {len(p)} entries for input of shape {fmt_shape(s)}")
        if any(-len(p) <= i < 0 for i in p):  # TF counts a negative entry from the end
            p = tuple(i % len(p) for i in p)
        if sorted(p) != list(range(len(p))):
            raise ValueError(f"{desc}: perm {list(p)} is not a permutation of 0..{len(p) - 1}")
    shape = None if s is None else tuple(s[i] for i in p)  # type: ignore[union-attr]
    return make_op("Transpose", [x], attrs={"perm": p}, shape=shape, dtype=x.dtype, name=name)


@registry.register_kernel("Transpose", view=True, out=False)
def _transpose_kernel(op: Operation, ctx: Any) -> Any:
    perm, xp = op.attrs["perm"], ctx.xp

    def run(x: Any, out: Any = None) -> Any:
        return xp.transpose(x, perm)
    return run


def inverse_permutation(perm: tuple | None) -> tuple | None:
    if perm is None:
        return None
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def reverse(tensor: Any, axis: Any, name: str | None = None) -> Tensor:
    """``tf.reverse``: reverse the order of the entries along each axis in ``axis``."""
    x = convert_to_tensor(tensor)
    desc = _desc("ReverseV2", name)
    s = _known_rank(x, desc)
    named = [_axis(a, len(s), desc) for a in _static_ints(axis, "axis", desc)]
    if len(set(named)) != len(named):
        raise ValueError(f"{desc}: axis {list(np.asarray(axis).reshape(-1))} names a dimension twice")
    axes = sorted(named)
    return make_op("ReverseV2", [x], attrs={"axis": tuple(axes)}, shape=s, dtype=x.dtype, name=name)


reverse_v2 = reverse


@registry.register_kernel("ReverseV2", view=True, out=False)
def _reverse_kernel(op: Operation, ctx: Any) -> Any:
    axes = op.attrs["axis"]

    def run(x: Any, out: Any = None) -> Any:
        return x[tuple(_pyslice(None, None, -1) if i in axes else _pyslice(None) for i in range(x.ndim))]
    return run


# --- slice (a view) -------------------------------------------------------------------------------

def slice(input_: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:  # noqa: A001 - TF's name
    """``tf.slice``: ``size[i]`` entries from ``begin[i]`` on along each axis; size -1 takes the rest."""
    x = convert_to_tensor(input_)
    desc = _desc("Slice", name)
    s = _known_rank(x, desc)
    b = _static_ints(begin, "begin", desc)
    z = _static_ints(size, "size", desc)
    if len(b) != len(s) or len(z) != len(s):
        raise ValueError(f"{desc}: begin {b} and size {z} must have one entry per dimension of input shape "
                         f"{fmt_shape(s)}")
    shape: list = []
    for i, (d, bi, zi) in enumerate(zip(s, b, z)):
        if bi < 0 or zi < -1:
            raise ValueError(f"{desc}: begin {b} must be >= 0 and size {z} >= -1 (dimension {i})")
        if d is not None and bi + max(zi, 0) > d:
            raise ValueError(f"{desc}: begin {b} + size {z} exceeds input shape {fmt_shape(s)} "
                             f"in dimension {i}")
        shape.append(zi if zi != -1 else (None if d is None else d - bi))
    return make_op("Slice", [x], attrs={"begin": tuple(b), "size": tuple(z)}, shape=tuple(shape),
                   dtype=x.dtype, name=name)


def _slice_spec(begin: tuple, size: tuple) -> tuple:
    """The ``t[...]`` spec (see ``_norm_index``) selecting what Slice(begin, size) selects."""
    return tuple(("s", b, None if z == -1 else b + z, None) for b, z in zip(begin, size))


@registry.register_kernel("Slice", view=True, out=False)
def _slice_kernel(op: Operation, ctx: Any) -> Any:
    idx = _to_index(_slice_spec(op.attrs["begin"], op.attrs["size"]))

    def run(x: Any, out: Any = None) -> Any:
        return x[idx]
    return run


# --- concat, split ----------------------------------------------------------------------------------

def concat(values: Any, axis: int, name: str = "concat") -> Tensor:
    """``tf.concat``: join tensors along an existing axis (negative axis counts from the end)."""
    if isinstance(values, Tensor) or hasattr(values, "_as_graph_element"):
        values = [values]
    ts = _convert_list(values)  # numpy and Python values take the tensors' dtype, as in TF
    desc = _desc("ConcatV2", name)
    if not ts:
        raise ValueError(f"{desc}: needs at least one tensor")
    if len(ts) == 1:
        return identity(ts[0], name=name)
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(f"{desc}: dtype {t.dtype.name} of {t.name} differs from {ts[0].dtype.name} of "
                            f"{ts[0].name}")
    shapes = [t.static_shape for t in ts]
    known = [sh for sh in shapes if sh is not None]
    if not known:
        raise ValueError(f"{desc}: the rank of at least one input must be known")
    rank = len(known[0])
    if rank == 0:
        raise ValueError(f"{desc}: cannot concatenate scalars; use tf.stack")
    ax = _axis(axis, rank, desc)
    out: list = [None] * rank
    total: int | None = 0
    for sh in known:
        if len(sh) != rank:
            raise ValueError(f"{desc}: all inputs must have the same rank, got shapes "
                             + ", ".join(fmt_shape(x) for x in shapes))
        for i, d in enumerate(sh):
            if i == ax or d is None:
                continue
            if out[i] is not None and out[i] != d:
                raise ValueError(f"{desc}: dimension {i} of the inputs differs (shapes "
                                 + ", ".join(fmt_shape(x) for x in shapes) + f"); only axis {ax} may differ")
            out[i] = d
    for sh in shapes:
        total = None if total is None or sh is None or sh[ax] is None else total + sh[ax]
    out[ax] = total
    return make_op("ConcatV2", ts, attrs={"axis": ax}, shape=tuple(out), dtype=ts[0].dtype, name=name)


concat_v2 = concat


@registry.register_kernel("ConcatV2", joins=True)
def _concat_kernel(op: Operation, ctx: Any) -> Any:
    xp, axis = ctx.xp, op.attrs["axis"]

    def run(*xs: Any, out: Any = None) -> Any:
        return xp.concatenate(xs, axis=axis, out=out)
    return run


def split(value: Any, num_or_size_splits: Any, axis: int = 0, num: int | None = None,
          name: str = "split") -> list:
    """``tf.split``: an int splits into that many equal pieces, a list gives each piece's size (one -1)."""
    x = convert_to_tensor(value)
    by_num = isinstance(num_or_size_splits, (int, np.integer)) and not isinstance(num_or_size_splits, bool)
    desc = _desc("Split" if by_num else "SplitV", name)
    s = _known_rank(x, desc)
    ax = _axis(axis, len(s), desc)
    d = s[ax]
    if by_num:
        n = int(num_or_size_splits)
        if n < 1:
            raise ValueError(f"{desc}: number of splits must be >= 1, got {n}")
        if d is not None and d % n:
            raise ValueError(f"{desc}: dimension {ax} of input shape {fmt_shape(s)} ({d}) is not divisible "
                             f"by {n}")
        piece = None if d is None else d // n
        outs = [(s[:ax] + (piece,) + s[ax + 1:], x.dtype)] * n
        res = make_op("Split", [x], attrs={"axis": ax, "num": n}, outputs=outs, name=name)
    else:
        sizes = _static_ints(num_or_size_splits, "size_splits", desc)
        if num is not None and num != len(sizes):
            raise ValueError(f"{desc}: num={num} does not match {len(sizes)} size_splits {sizes}")
        if not sizes:
            raise ValueError(f"{desc}: size_splits must not be empty")
        if sum(1 for z in sizes if z == -1) > 1 or any(z < -1 for z in sizes):
            raise ValueError(f"{desc}: size_splits {sizes} may hold at most one -1 and no other negatives")
        fixed = sum(z for z in sizes if z != -1)
        if d is not None:
            if -1 in sizes:
                if fixed > d:
                    raise ValueError(f"{desc}: size_splits {sizes} add up to more than dimension {ax} of "
                                     f"input shape {fmt_shape(s)}")
                sizes = [d - fixed if z == -1 else z for z in sizes]
            elif fixed != d:
                raise ValueError(f"{desc}: size_splits {sizes} add up to {fixed}, not to dimension {ax} of "
                                 f"input shape {fmt_shape(s)} ({d})")
        outs = [(s[:ax] + (None if z == -1 else z,) + s[ax + 1:], x.dtype) for z in sizes]
        res = make_op("SplitV", [x], attrs={"axis": ax, "sizes": tuple(sizes)}, outputs=outs, name=name)
    return res if isinstance(res, list) else [res]


def _split_pieces(x: Any, bounds: list[int], axis: int) -> list:
    pre = (np.s_[:],) * axis
    return [x[pre + (np.s_[bounds[i]:bounds[i + 1]],)] for i in range(len(bounds) - 1)]


def _split_kernel_of(xp: Any, axis: int, bounds: Callable[..., list[int]]) -> Any:
    """Split / SplitV / SplitLike: the pieces ``x[..., b[i]:b[i+1], ...]`` (b = ``bounds(x, *rest)``
    of the op's inputs) as views, or copies into ``out``. A bound plan aliases them (``alias``)
    where every piece is C-contiguous (a split of the leading axis, as the LSTM's hoisted input
    projection makes): the consumers' compiled loops want contiguous operands, so other splits keep
    their copies."""
    def run(x: Any, *rest: Any, out: Any = None) -> Any:
        pieces = _split_pieces(x, bounds(x, *rest), axis)
        if out is None:
            return pieces[0] if len(pieces) == 1 else tuple(pieces)
        outs = (out,) if len(pieces) == 1 else out
        for o, p in zip(outs, pieces):
            xp.copyto(o, p)
        return out

    def alias(x: Any, *rest: Any) -> Any:
        pieces = _split_pieces(x, bounds(x, *rest), axis)
        if not all(p.flags.c_contiguous for p in pieces):
            return None
        return pieces[0] if len(pieces) == 1 else tuple(pieces)
    run.alias = alias  # type: ignore[attr-defined]
    return run


@registry.register_kernel("Split", view=True)
def _split_kernel(op: Operation, ctx: Any) -> Any:
    axis, n = op.attrs["axis"], op.attrs["num"]

    def bounds(x: Any) -> list[int]:
        d = x.shape[axis]
        if d % n:
            raise ValueError(f"dimension {axis} of shape {x.shape} is not divisible by {n}")
        return [i * (d // n) for i in range(n + 1)]
    return _split_kernel_of(ctx.xp, axis, bounds)


def _bounds(sizes: Any, total: int) -> list[int]:
    fixed = sum(z for z in sizes if z != -1)
    if (-1 in sizes and fixed > total) or (-1 not in sizes and fixed != total):
        raise ValueError(f"sizes {list(sizes)} do not fit a dimension of size {total}")
    b = [0]
    for z in sizes:
        b.append(b[-1] + (total - fixed if z == -1 else z))
    return b


@registry.register_kernel("SplitV", view=True)
def _splitv_kernel(op: Operation, ctx: Any) -> Any:
    axis, sizes = op.attrs["axis"], op.attrs["sizes"]
    return _split_kernel_of(ctx.xp, axis, lambda x: _bounds(sizes, x.shape[axis]))


def split_like(value: Tensor, likes: list, axis: int, name: str | None = None) -> list:
    """Split ``value`` along ``axis`` into pieces as long as each of ``likes`` is along that axis (the
    gradient of concat when some lengths are known only at run time)."""
    s = value.static_shape
    outs = []
    for t in likes:
        ts = t.static_shape
        d = ts[axis] if ts is not None else None
        outs.append((None if s is None else s[:axis] + (d,) + s[axis + 1:], value.dtype))
    res = make_op("SplitLike", [value, *likes], attrs={"axis": axis}, outputs=outs, name=name)
    return res if isinstance(res, list) else [res]


@registry.register_kernel("SplitLike", view=True)
def _split_like_kernel(op: Operation, ctx: Any) -> Any:
    axis = op.attrs["axis"]

    def bounds(x: Any, *likes: Any) -> list[int]:
        b = [0]
        for t in likes:
            b.append(b[-1] + t.shape[axis])
        if b[-1] != x.shape[axis]:
            raise ValueError(f"pieces of total length {b[-1]} do not fill dimension {axis} of shape "
                             f"{x.shape}")
        return b
    return _split_kernel_of(ctx.xp, axis, bounds)


# --- gather, one_hot -----------------------------------------------------------------------------------

def gather(params: Any, indices: Any, axis: Any = 0, name: str | None = None, *,
           validate_indices: Any = None, batch_dims: int = 0) -> Tensor:
    """``tf.gather``: slices of ``params`` along ``axis`` at ``indices`` (int32/int64, any shape)."""
    p = convert_to_tensor(params)
    i = convert_to_tensor(indices, preferred_dtype=dtypes.int32)
    desc = _desc("GatherV2", name)
    if not i.dtype.is_integer or i.dtype not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"{desc}: indices must be int32 or int64, got {i.dtype.name}")
    if batch_dims:
        raise NotImplementedError(f"{desc}: batch_dims != 0 is not supported")
    ps = _known_rank(p, desc)
    if not ps:
        raise ValueError(f"{desc}: params must have rank >= 1, got shape {fmt_shape(ps)}")
    ax = _axis(0 if axis is None else axis, len(ps), desc)
    shape = None if i.static_shape is None else ps[:ax] + i.static_shape + ps[ax + 1:]
    return make_op("GatherV2", [p, i], attrs={"axis": ax}, shape=shape, dtype=p.dtype, name=name)


@registry.register_kernel("GatherV2")
def _gather_kernel(op: Operation, ctx: Any) -> Any:
    xp, axis = ctx.xp, op.attrs["axis"]

    def run(params: Any, indices: Any, out: Any = None) -> Any:
        return xp.take(params, indices, axis=axis, out=out)
    return run


def gather_grad(dy: Tensor, indices: Tensor, params: Tensor, axis: int, name: str | None = None) -> Tensor:
    """Zeros shaped like ``params`` with ``dy`` scatter-added at ``indices`` along ``axis``."""
    return make_op("GatherGrad", [dy, indices, params], attrs={"axis": axis}, shape=params.static_shape,
                   dtype=dy.dtype, name=name)


@registry.register_kernel("GatherGrad")
def _gather_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp, axis, be = ctx.xp, op.attrs["axis"], ctx.backend

    # repeated indices accumulate; the backend's scatter-add is deterministic (resume stays exact)
    def run(dy: Any, indices: Any, params: Any, out: Any = None) -> Any:
        jit = seq_jit.kernels(ctx, dy) if axis == 0 else None
        if out is None:
            out = xp.zeros(params.shape, dtype=dy.dtype)
        else:
            out.fill(0)
        rows = out.shape[0] if out.ndim else 0
        if (out.ndim >= 1 and indices.size and seq_jit.host_ok(jit, out, dy) and indices.dtype.kind in "iu"
                and dy.size == indices.size * (out.size // max(rows, 1))
                and -rows <= int(indices.min()) and int(indices.max()) < rows):
            # axis 0: out[idx[i]] += dy[i] row by row in index order, as np.add.at sums them
            idx = indices.reshape(-1).astype(np.int64, copy=False)
            idx = xp.where(idx < 0, idx + rows, idx) if int(indices.min()) < 0 else idx
            jit.scatter_add_rows(out.reshape(rows, -1), idx, dy.reshape(idx.size, -1))
        else:
            be.scatter_add(out, indices, dy, axis)
        return out
    return run


def _one_hot_tensors(i: Tensor, depth: int, on_value: Any, off_value: Any, axis: Any, dt: Any, desc: str,
                     name: str | None) -> Tensor:
    """one_hot with Tensor on/off values: off + (on - off) * onehot01, built from graph ops (so the
    values are differentiable, as TF's OneHot is in them)."""
    from nnctl.ops import math_ops
    on = convert_to_tensor(1 if on_value is None else on_value, dtype=None if on_value is not None else dt)
    off = convert_to_tensor(0 if off_value is None else off_value, dtype=None if off_value is not None else dt)
    for v, what in ((on, "on_value"), (off, "off_value")):
        if v.dtype != dt:
            raise TypeError(f"{desc}: {what} {v.name} has dtype {v.dtype.name}, expected {dt.name}")
        if v.static_shape not in (None, ()):
            raise ValueError(f"{desc}: {what} must be a scalar, got shape {fmt_shape(v.static_shape)}")
    base = one_hot(i, depth, on_value=1, off_value=0, axis=axis, dtype=dt)
    return math_ops.add(off, math_ops.multiply(math_ops.subtract(on, off), base), name=name)


def one_hot(indices: Any, depth: int, on_value: Any = None, off_value: Any = None, axis: int | None = None,
            dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.one_hot``: ``on_value`` where the new axis' position equals the index, else ``off_value``
    (indices outside [0, depth) give an all-off row)."""
    i = convert_to_tensor(indices, preferred_dtype=dtypes.int32)
    desc = _desc("OneHot", name)
    if not i.dtype.is_integer:
        raise TypeError(f"{desc}: indices must be integers, got {i.dtype.name}")
    depth = int(_static_ints(depth, "depth", desc)[0])
    if depth < 0:
        raise ValueError(f"{desc}: depth must be >= 0, got {depth}")
    kinds = {("b" if isinstance(v, (bool, np.bool_)) else "i" if isinstance(v, (int, np.integer)) else "f")
             for v in (on_value, off_value) if v is not None and not isinstance(v, (Tensor, np.ndarray))
             and not hasattr(v, "_as_graph_element")}
    if len(kinds) > 1:
        raise TypeError(f"{desc}: on_value {on_value!r} and off_value {off_value!r} have different types")
    if dtype is not None:
        dt = dtypes.as_dtype(dtype)
    else:
        given = [v for v in (on_value, off_value) if v is not None]
        if given and isinstance(given[0], Tensor):
            dt = given[0].dtype
        elif given and isinstance(given[0], (np.ndarray, np.generic)):
            dt = dtypes.as_dtype(np.asarray(given[0]).dtype)
        elif given and isinstance(given[0], (int, np.integer)) and not isinstance(given[0], bool):
            dt = dtypes.int32
        elif given and isinstance(given[0], bool):
            dt = dtypes.bool
        else:
            dt = dtypes.float32
    if any(isinstance(v, Tensor) or hasattr(v, "_as_graph_element") for v in (on_value, off_value)):
        return _one_hot_tensors(i, depth, on_value, off_value, axis, dt, desc, name)
    on = np.asarray(1 if on_value is None else on_value).astype(dt.np)
    off = np.asarray(0 if off_value is None else off_value).astype(dt.np)
    s = i.static_shape
    if s is None:
        shape = None
        ax = -1 if axis is None else int(axis)
        if ax < -1:
            raise ValueError(f"{desc}: axis must be >= -1, got {ax}")
    else:
        ax = -1 if axis is None else int(axis)
        if not -1 <= ax <= len(s):
            raise ValueError(f"{desc}: axis {ax} is out of range for indices of shape {fmt_shape(s)}")
        if ax == -1:
            ax = len(s)
        shape = s[:ax] + (depth,) + s[ax:]
    return make_op("OneHot", [i], attrs={"depth": depth, "on": on.item(), "off": off.item(), "axis": ax},
                   shape=shape, dtype=dt, name=name or "one_hot")


@registry.register_kernel("OneHot")
def _one_hot_kernel(op: Operation, ctx: Any) -> Any:
    xp, depth, ax = ctx.xp, op.attrs["depth"], op.attrs["axis"]
    dt = op.outputs[0].dtype.np
    on, off = op.attrs["on"], op.attrs["off"]
    positions = xp.arange(depth)
    on_arr = xp.asarray(on, dtype=dt)

    def run(indices: Any, out: Any = None) -> Any:
        a = indices.ndim if ax == -1 else ax
        if out is None:
            out = xp.empty(indices.shape[:a] + (depth,) + indices.shape[a:], dtype=dt)
        last = xp.moveaxis(out, a, -1)
        last.fill(off)
        xp.copyto(last, on_arr, where=indices[..., None] == positions)
        return out
    return run


registry.not_differentiable("OneHot")


# --- tile, broadcast_to -------------------------------------------------------------------------------

def tile(input: Any, multiples: Any, name: str | None = None) -> Tensor:
    """``tf.tile``: repeat the whole tensor ``multiples[i]`` times along axis i."""
    x = convert_to_tensor(input)
    if shape_ops.is_dynamic(multiples):
        return shape_ops.dynamic_tile(x, multiples, name=name)
    desc = _desc("Tile", name)
    s = _known_rank(x, desc)
    m = _static_ints(multiples, "multiples", desc)
    if len(m) != len(s):
        raise ValueError(f"{desc}: multiples {m} must have one entry per dimension of input shape "
                         f"{fmt_shape(s)}")
    if any(k < 0 for k in m):
        raise ValueError(f"{desc}: multiples {m} must be >= 0")
    shape = tuple(None if d is None else d * k for d, k in zip(s, m))
    return make_op("Tile", [x], attrs={"multiples": tuple(m)}, shape=shape, dtype=x.dtype, name=name)


def _interleave(multiples: tuple, shape: tuple) -> tuple:
    """(m0, d0, m1, d1, ...): a tile's output seen with each repeat count as its own axis."""
    return tuple(v for md in zip(multiples, shape) for v in md)


@registry.register_kernel("Tile")
def _tile_kernel(op: Operation, ctx: Any) -> Any:
    xp, m = ctx.xp, op.attrs["multiples"]

    def run(x: Any, out: Any = None) -> Any:
        if out is None:
            out = xp.empty(tuple(k * d for k, d in zip(m, x.shape)), dtype=x.dtype)
        xp.copyto(out.reshape(_interleave(m, x.shape)), x.reshape(_interleave((1,) * x.ndim, x.shape)))
        return out
    return run


def tile_grad(dy: Tensor, x: Tensor, multiples: tuple, name: str | None = None) -> Tensor:
    """Sum of ``dy`` over the tile copies: dy seen as (m0, d0, m1, d1, ...) summed over the m axes."""
    return make_op("TileGrad", [dy, x], attrs={"multiples": tuple(multiples)}, shape=x.static_shape,
                   dtype=dy.dtype, name=name)


@registry.register_kernel("TileGrad")
def _tile_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp, m = ctx.xp, op.attrs["multiples"]
    axes = tuple(range(0, 2 * len(m), 2))

    def run(dy: Any, x: Any, out: Any = None) -> Any:
        return xp.sum(dy.reshape(_interleave(m, x.shape)), axis=axes, out=out)
    return run


def broadcast_to(input: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.broadcast_to``: numpy broadcasting of ``input`` to the fully known ``shape``."""
    x = convert_to_tensor(input)
    desc = _desc("BroadcastTo", name)
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    target = tuple(_static_ints(shape, "shape", desc))
    if any(d < 0 for d in target):
        raise ValueError(f"{desc}: shape {fmt_shape(target)} must be fully known and non-negative")
    s = x.static_shape
    if s is not None:
        ok = len(s) <= len(target) and all(
            d is None or d == 1 or d == t for d, t in zip(s[::-1], target[::-1]))
        if not ok:
            raise ValueError(f"{desc}: cannot broadcast a tensor of shape {fmt_shape(s)} to shape "
                             f"{fmt_shape(target)}")
    return make_op("BroadcastTo", [x], attrs={"shape": target}, shape=target, dtype=x.dtype, name=name)


@registry.register_kernel("BroadcastTo", view=True, out=False)
def _broadcast_to_kernel(op: Operation, ctx: Any) -> Any:
    xp, target = ctx.xp, op.attrs["shape"]
    n = num_elements(target)

    # When no axis is repeated this is a reshape (a writable, contiguous view); otherwise numpy's
    # read-only broadcast view, whose zero strides keep it from being chosen as an in-place output.
    def run(x: Any, out: Any = None) -> Any:
        if x.size == n:
            return x.reshape(target)
        return xp.broadcast_to(x, target)
    return run


# --- pad -------------------------------------------------------------------------------------------

_PAD_MODES = ("CONSTANT", "REFLECT", "SYMMETRIC")


def pad(tensor: Any, paddings: Any, mode: str = "CONSTANT", name: str | None = None,
        constant_values: Any = 0) -> Tensor:
    """``tf.pad``: ``paddings[i] = [before, after]`` entries added along axis i; CONSTANT fills with
    ``constant_values``, REFLECT mirrors without the edge (pads <= d-1), SYMMETRIC with it (pads <= d)."""
    x = convert_to_tensor(tensor)
    desc = _desc("Pad", name)
    mode = str(mode).upper()
    if mode not in _PAD_MODES:
        raise ValueError(f"{desc}: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    s = _known_rank(x, desc)
    flat = _static_ints(paddings, "paddings", desc)
    if len(flat) != 2 * len(s):
        raise ValueError(f"{desc}: paddings must be {len(s)} [before, after] pairs for input shape "
                         f"{fmt_shape(s)}, got {paddings!r}")
    pads = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(len(s)))
    if any(v < 0 for v in flat):
        raise ValueError(f"{desc}: paddings {[list(p) for p in pads]} must be >= 0")
    limit = {"REFLECT": 1, "SYMMETRIC": 0}.get(mode)
    if limit is not None:
        for i, (d, (b, a)) in enumerate(zip(s, pads)):
            if d is not None and max(b, a) > d - limit:
                raise ValueError(f"{desc}: {mode} paddings {[b, a]} for dimension {i} of input shape "
                                 f"{fmt_shape(s)} must be <= {d - limit}")
    if isinstance(constant_values, Tensor) or hasattr(constant_values, "_as_graph_element"):
        raise TypeError(f"{desc}: constant_values must be a Python or numpy scalar")
    cva = np.asarray(constant_values)
    if cva.dtype.kind == "f" and not x.dtype.is_floating:
        raise TypeError(f"{desc}: constant_values {constant_values!r} is a float but {x.name} is {x.dtype.name}")
    cv = cva.astype(x.dtype.np).item()
    shape = tuple(None if d is None else d + b + a for d, (b, a) in zip(s, pads))
    return make_op("Pad", [x], attrs={"paddings": pads, "mode": mode, "constant_values": cv}, shape=shape,
                   dtype=x.dtype, name=name)


def _mirror_fill(out: Any, shape: tuple, pads: tuple, mode: str) -> None:
    """Fill the pad regions of ``out`` (interior already holds the input), one axis after another as
    np.pad does, so corners are mirrors of mirrors."""
    n = len(shape)
    k = 1 if mode == "REFLECT" else 0
    for i in range(n):
        b, a = pads[i]
        if not b and not a:
            continue
        d = shape[i]
        pre = (np.s_[:],) * i
        post = tuple(np.s_[pads[j][0]:pads[j][0] + shape[j]] for j in range(i + 1, n))
        e = b + d
        # REFLECT: out[b-j] = out[b+j]; SYMMETRIC: out[b-j] = out[b+j-1]   (j = 1..b)
        if b:
            out[pre + (np.s_[0:b],) + post] = out[pre + (np.s_[b + k:b + k + b],) + post][
                (np.s_[:],) * i + (np.s_[::-1],)]
        # REFLECT: out[e-1+j] = out[e-1-j]; SYMMETRIC: out[e-1+j] = out[e-j]   (j = 1..a)
        if a:
            out[pre + (np.s_[e:e + a],) + post] = out[pre + (np.s_[e - k - a:e - k],) + post][
                (np.s_[:],) * i + (np.s_[::-1],)]


def _check_mirror(shape: tuple, pads: tuple, mode: str) -> None:
    """Run-time check of what ``pad`` checks statically (dimensions may have been unknown then)."""
    limit = 1 if mode == "REFLECT" else 0
    for i, (d, (b, a)) in enumerate(zip(shape, pads)):
        if max(b, a) > d - limit:
            raise ValueError(f"{mode} paddings {[b, a]} for dimension {i} of input shape {tuple(shape)} must "
                             f"be <= {d - limit}")


@registry.register_kernel("Pad")
def _pad_kernel(op: Operation, ctx: Any) -> Any:
    xp, pads, mode, cv = ctx.xp, op.attrs["paddings"], op.attrs["mode"], op.attrs["constant_values"]

    def run(x: Any, out: Any = None) -> Any:
        if out is None:
            out = xp.empty(tuple(d + b + a for d, (b, a) in zip(x.shape, pads)), dtype=x.dtype)
        interior = tuple(np.s_[b:b + d] for d, (b, _) in zip(x.shape, pads))
        if mode == "CONSTANT":
            out.fill(cv)
            out[interior] = x
        else:
            _check_mirror(x.shape, pads, mode)
            out[interior] = x
            _mirror_fill(out, x.shape, pads, mode)
        return out
    return run


def pad_grad(dy: Tensor, x: Tensor, paddings: tuple, mode: str, name: str | None = None) -> Tensor:
    """The adjoint of Pad: the interior of ``dy``, plus (REFLECT/SYMMETRIC) the mirrored parts folded back."""
    return make_op("PadGrad", [dy, x], attrs={"paddings": tuple(paddings), "mode": mode},
                   shape=x.static_shape, dtype=dy.dtype, name=name)


@registry.register_kernel("PadGrad")
def _pad_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp, pads, mode = ctx.xp, op.attrs["paddings"], op.attrs["mode"]
    k = 1 if mode == "REFLECT" else 0
    padded = [i for i, (b, a) in enumerate(pads) if b or a]

    def run(dy: Any, x: Any, out: Any = None) -> Any:
        shape = x.shape
        if mode == "CONSTANT" or not padded:
            interior = tuple(np.s_[b:b + d] for d, (b, _) in zip(shape, pads))
            if out is None:
                return dy[interior].copy()
            xp.copyto(out, dy[interior])
            return out
        _check_mirror(shape, pads, mode)
        # Pad applies one mirror step per axis, axis 0 first; its adjoint undoes them last axis first.
        cur = dy
        for step, i in enumerate(reversed(padded)):
            b, a = pads[i]
            d = shape[i]
            e = b + d
            new_shape = cur.shape[:i] + (d,) + cur.shape[i + 1:]
            last = step == len(padded) - 1
            nxt = out if (last and out is not None) else xp.empty(new_shape, dtype=dy.dtype)
            pre = (np.s_[:],) * i
            xp.copyto(nxt, cur[pre + (np.s_[b:e],)])
            # REFLECT: grad[b+j] += dy[b-j]; SYMMETRIC: grad[b+j-1] += dy[b-j]   (j = 1..b)
            if b:
                nxt[pre + (np.s_[k:k + b],)] += cur[pre + (np.s_[0:b],)][pre + (np.s_[::-1],)]
            # REFLECT: grad[e-1-j] += dy[e-1+j]; SYMMETRIC: grad[e-j] += dy[e-1+j]   (j = 1..a)
            if a:
                nxt[pre + (np.s_[d - k - a:d - k],)] += cur[pre + (np.s_[e:e + a],)][pre + (np.s_[::-1],)]
            cur = nxt
        return cur
    return run
