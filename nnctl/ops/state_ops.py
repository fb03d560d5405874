"""Sources and state: Const, Placeholder, variables (VariableV2, Assign*), NoOp/group."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import as_shape_tuple, fmt_shape, shapes_compatible
from nnctl.ops.core import convert_to_tensor, make_op, make_void_op

# --- Const -------------------------------------------------------------------------------------


def constant(value: Any, dtype: Any = None, shape: Any = None, name: str = "Const",
             verify_shape: bool = False) -> Tensor:
    """``tf.constant``: a tensor whose value is fixed in the graph."""
    if isinstance(value, Tensor):
        raise TypeError("tf.constant expects a Python or numpy value, not a Tensor")
    arr = np.asarray(value)
    if arr.dtype.kind in "OUSV":
        raise TypeError(f"tf.constant: cannot make a tensor from {type(value).__name__} value {value!r}")
    if dtype is not None:
        dt = dtypes.as_dtype(dtype)
    elif isinstance(value, (np.ndarray, np.generic)):
        dt = dtypes.as_dtype(arr.dtype)
    elif arr.dtype.kind == "f":
        dt = dtypes.float32  # Python floats become float32, as in TF
    elif arr.dtype.kind in "iu":
        small = arr.size == 0 or (int(arr.min()) >= -2**31 and int(arr.max()) < 2**31)
        dt = dtypes.int32 if small else dtypes.int64
    else:
        dt = dtypes.as_dtype(arr.dtype)
    python_value = not isinstance(value, (np.ndarray, np.generic))
    if arr.dtype.kind == "f" and dt.is_integer and python_value:
        # TF: Python floats never become integers ([1.0, 2.0] with dtype=int32 is a TypeError);
        # numpy float arrays are cast (truncated)
        raise TypeError(f"tf.constant: Expected {dt.name}, but got {value!r} of type float")
    arr = arr.astype(dt.np)
    if shape is not None:
        shp = as_shape_tuple(shape)
        n = int(np.prod(shp))
        if arr.size == 1:
            arr = np.full(shp, arr.reshape(()), dtype=dt.np)
        elif verify_shape and arr.shape != shp:
            raise TypeError(f"tf.constant: value of shape {fmt_shape(arr.shape)} does not match shape "
                            f"{fmt_shape(shp)}")
        elif arr.size > n:
            raise TypeError(f"tf.constant: too many elements provided: {arr.size} for shape {fmt_shape(shp)} "
                            f"(at most {n})")
        elif 0 < arr.size < n:
            # TF1 fills the rest with the last value: constant([1., 2.], shape=[2, 3]) is [[1, 2, 2], [2, 2, 2]]
            flat = arr.reshape(-1)
            arr = np.concatenate([flat, np.full(n - flat.size, flat[-1], dtype=dt.np)]).reshape(shp)
        elif arr.size == 0 and n:
            raise TypeError(f"tf.constant: an empty value cannot fill shape {fmt_shape(shp)}")
        else:
            arr = arr.reshape(shp)
    arr.setflags(write=False)
    return dtypes.record_spelling(make_op("Const", [], attrs={"value": arr}, shape=arr.shape, dtype=dt, name=name),
                                  dtype)


@registry.register_kernel("Const", out=False)
def _const_kernel(op: Operation, ctx: Any) -> Any:
    value = ctx.backend.asarray(op.attrs["value"])

    def run(out: Any = None) -> Any:
        return value
    return run


registry.not_differentiable("Const")


# --- Placeholder ----------------------------------------------------------------------------------

def placeholder(dtype: Any, shape: Any = None, name: str | None = None) -> Tensor:
    """``tf.placeholder``: a tensor whose value must be fed to ``Session.run``."""
    dt = dtypes.as_dtype(dtype)
    return dtypes.record_spelling(make_op("Placeholder", [], attrs={"dtype": dt, "shape": as_shape_tuple(shape)},
                                          shape=as_shape_tuple(shape), dtype=dt, name=name or "Placeholder"), dtype)


def placeholder_with_default(input: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.placeholder_with_default``: the default's value unless fed."""
    x = convert_to_tensor(input)
    shp = as_shape_tuple(shape)
    if not shapes_compatible(x.static_shape, shp):
        raise ValueError(f"placeholder_with_default: default of shape {fmt_shape(x.static_shape)} is not "
                         f"compatible with shape {fmt_shape(shp)}")
    return make_op("PlaceholderWithDefault", [x], shape=shp, dtype=x.dtype, name=name or "PlaceholderWithDefault")


registry.register_feed("Placeholder")
registry.not_differentiable("Placeholder")


@registry.register_kernel("PlaceholderWithDefault", view=True, out=False)
def _pwd_kernel(op: Operation, ctx: Any) -> Any:
    def run(x: Any, out: Any = None) -> Any:
        return x
    return run




# --- Variables ------------------------------------------------------------------------------------

@registry.register_kernel("VariableV2", view=True, out=False, stateful=True)
def _variable_kernel(op: Operation, ctx: Any) -> Any:
    store, name = ctx.variables, op.name

    def run(out: Any = None) -> Any:
        return store.read(name)
    return run


registry.not_differentiable("VariableV2")


def _check_assign(ref: Tensor, value: Tensor, what: str, validate_shape: bool = True) -> None:
    if ref.op.type != "VariableV2":
        raise TypeError(f"{what}: target {ref.name} is not a variable")
    if validate_shape and not shapes_compatible(ref.static_shape, value.static_shape):
        raise ValueError(f"{what} to variable '{ref.op.name}': value shape {fmt_shape(value.static_shape)} does "
                         f"not match variable shape {fmt_shape(ref.static_shape)}")


def assign_ref(ref: Tensor, value: Any, name: str | None = None, validate_shape: bool = True) -> Tensor:
    v = convert_to_tensor(value, dtype=ref.dtype)
    _check_assign(ref, v, "assign", validate_shape)
    return make_op("Assign", [ref, v], shape=ref.static_shape, dtype=ref.dtype, name=name or "Assign")


def assign_add_ref(ref: Tensor, value: Any, name: str | None = None) -> Tensor:
    v = convert_to_tensor(value, dtype=ref.dtype)
    _check_assign(ref, v, "assign_add")
    return make_op("AssignAdd", [ref, v], shape=ref.static_shape, dtype=ref.dtype, name=name or "AssignAdd")


def assign_sub_ref(ref: Tensor, value: Any, name: str | None = None) -> Tensor:
    v = convert_to_tensor(value, dtype=ref.dtype)
    _check_assign(ref, v, "assign_sub")
    return make_op("AssignSub", [ref, v], shape=ref.static_shape, dtype=ref.dtype, name=name or "AssignSub")


@registry.register_kernel("Assign", mutates=0, stateful=True, accepts_uninitialized=(0,))
def _assign_kernel(op: Operation, ctx: Any) -> Any:
    store, name = ctx.variables, op.inputs[0].op.name

    def run(ref: Any, value: Any, out: Any = None) -> Any:
        return store.assign(name, value)
    return run


@registry.register_kernel("AssignAdd", mutates=0, stateful=True)
def _assign_add_kernel(op: Operation, ctx: Any) -> Any:
    add = ctx.xp.add

    def run(ref: Any, value: Any, out: Any = None) -> Any:
        return add(ref, value, out=ref)
    return run


@registry.register_kernel("AssignSub", mutates=0, stateful=True)
def _assign_sub_kernel(op: Operation, ctx: Any) -> Any:
    sub = ctx.xp.subtract

    def run(ref: Any, value: Any, out: Any = None) -> Any:
        return sub(ref, value, out=ref)
    return run


registry.not_differentiable("Assign", "AssignAdd", "AssignSub")


# --- grouping -------------------------------------------------------------------------------------

def no_op(name: str | None = None) -> Operation:
    return make_void_op("NoOp", [], name=name or "NoOp")


def group(*inputs: Any, name: str | None = None) -> Operation:
    """``tf.group``: an op that runs all of ``inputs``."""
    ops = []
    for x in inputs:
        if isinstance(x, (list, tuple)):
            ops.extend(x)
        else:
            ops.append(x)
    ctrl = []
    for x in ops:
        if hasattr(x, "_as_graph_element"):
            x = x._as_graph_element()
        ctrl.append(x.op if isinstance(x, Tensor) else x)
    return make_void_op("NoOp", [], name=name or "group_deps", control_inputs=ctrl)


def _nothing(out: Any = None) -> None:
    return None


registry.register_kernel("NoOp", no_step=True)(lambda op, ctx: _nothing)
registry.not_differentiable("NoOp")


def as_tensor_like(x: Any, dtype: Any = None) -> Tensor:
    """A Tensor for ``x`` (Variables give their value tensor)."""
    return convert_to_tensor(x, dtype=dtype)

