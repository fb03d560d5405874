"""Array ops: shape manipulation, slicing, joining, filling.

View ops (identity, reshape, expand_dims, squeeze, transpose, basic slicing) alias their input's
buffer in a compiled plan and cost nothing at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import as_shape_tuple, fmt_shape, num_elements
from nnctl.ops.core import convert_to_tensor, make_op

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
    return make_op("ZerosLike", [x], shape=x.static_shape, dtype=dtype or x.dtype, name=name)


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None, optimize: bool = True) -> Tensor:
    x = convert_to_tensor(tensor)
    return make_op("OnesLike", [x], shape=x.static_shape, dtype=dtype or x.dtype, name=name)


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
    from nnctl.ops.state_ops import constant
    shape = as_shape_tuple(dims)
    if shape is None or None in shape:
        raise ValueError("fill: dims must be fully known")
    v = np.asarray(value)
    return constant(np.full(shape, v), dtype=dtypes.float32 if v.dtype.kind == "f" else None, name=name or "Fill")


def zeros(shape: Any, dtype: Any = dtypes.float32, name: str | None = None) -> Tensor:
    from nnctl.ops.state_ops import constant
    return constant(np.zeros(as_shape_tuple(shape), dtype=dtypes.as_dtype(dtype).np), name=name or "zeros")


def ones(shape: Any, dtype: Any = dtypes.float32, name: str | None = None) -> Tensor:
    from nnctl.ops.state_ops import constant
    return constant(np.ones(as_shape_tuple(shape), dtype=dtypes.as_dtype(dtype).np), name=name or "ones")


# --- reshape, expand_dims, squeeze ---------------------------------------------------------------

def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.reshape``; one dimension may be -1 (inferred)."""
    x = convert_to_tensor(tensor)
    if isinstance(shape, Tensor):
        raise TypeError("reshape: shape must be a list of ints (a Tensor shape is not supported)")
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
                raise ValueError(f"Reshape '{name or 'Reshape'}': cannot reshape a tensor with {n_in} elements "
                                 f"(shape {fmt_shape(x.static_shape)}) to {target}")
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


def expand_dims(input: Any, axis: int, name: str | None = None, dim: Any = None) -> Tensor:
    x = convert_to_tensor(input)
    if dim is not None:
        axis = dim
    s = x.static_shape
    if s is None:
        raise ValueError("expand_dims needs a known rank")
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
    if squeeze_dims is not None:
        axis = squeeze_dims
    s = x.static_shape
    if s is None:
        raise ValueError("squeeze needs a known rank")
    if axis is None:
        if None in s:
            raise ValueError(f"Squeeze: cannot squeeze all size-1 dimensions of {fmt_shape(s)} with unknown "
                             "dimensions; pass axis")
        axes = tuple(i for i, d in enumerate(s) if d == 1)
    else:
        axes = tuple(sorted({a % len(s) for a in ([axis] if isinstance(axis, int) else axis)}))
        for a in axes:
            if s[a] is not None and s[a] != 1:
                raise ValueError(f"Squeeze: cannot squeeze dimension {a} of size {s[a]} in {fmt_shape(s)}")
    shape = tuple(d for i, d in enumerate(s) if i not in axes)
    return make_op("Squeeze", [x], attrs={"axis": axes}, shape=shape, dtype=x.dtype, name=name)


@registry.register_kernel("Squeeze", view=True, out=False)
def _squeeze_kernel(op: Operation, ctx: Any) -> Any:
    axes = op.attrs["axis"]

    def run(x: Any, out: Any = None) -> Any:
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

def stack(values: list, axis: int = 0, name: str = "stack") -> Tensor:
    ts = [convert_to_tensor(v) for v in values]
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
    spec: list[Any] = [slice(None)] * axis + [slice(i, i + 1)]
    return x[tuple(spec)]


# --- indexing (Tensor.__getitem__) ---------------------------------------------------------------

def _norm_index(item: Any) -> tuple:
    if not isinstance(item, tuple):
        item = (item,)
    out = []
    for it in item:
        if isinstance(it, slice):
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
    return tuple(slice(o[1], o[2], o[3]) if o[0] == "s" else None if o[0] == "n" else Ellipsis if o[0] == "e"
                 else o[1] for o in spec)


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
            out.append(len(range(*slice(o[1], o[2], o[3]).indices(d))))
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


@registry.register_kernel("ReshapeLike", view=True, out=False)
def _reshape_like_kernel(op: Operation, ctx: Any) -> Any:
    def run(x: Any, like: Any, out: Any = None) -> Any:
        return x.reshape(like.shape)
    return run
