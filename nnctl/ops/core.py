"""Helpers every op builder uses: tensor conversion, op creation, and ``unbroadcast``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import Operation, Tensor, get_default_graph


def convert_to_tensor(value: Any, dtype: Any = None, name: str | None = None,
                      preferred_dtype: Any = None) -> Tensor:
    """``tf.convert_to_tensor``: Tensors pass through, Variables give their value, the rest a Const."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtypes.as_dtype(dtype):
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} for Tensor with "
                             f"dtype {value.dtype.name}: {value!r}")
        return value
    conv = getattr(value, "_as_graph_element", None)
    if conv is not None:
        return convert_to_tensor(conv(), dtype, name)
    from nnctl.ops.state_ops import constant
    if dtype is None and preferred_dtype is not None:
        try:
            return constant(value, dtype=preferred_dtype, name=name or "Const")
        except (TypeError, ValueError):
            return constant(value, name=name or "Const")  # the hint is only a preference
    return constant(value, dtype=dtype, name=name or "Const")


def operand(value: Any, like: Tensor, name: str | None = None) -> Tensor:
    """Convert a non-tensor operand of a binary op to the other operand's dtype (TF's dtype hint)."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        return convert_to_tensor(value)
    from nnctl.ops.state_ops import constant
    arr = np.asarray(value)
    if arr.dtype.kind == "f" and like.dtype.is_integer:
        raise TypeError(f"cannot use float value {value!r} with integer tensor {like.name} ({like.dtype.name})")
    return constant(arr, dtype=like.dtype, name=name or "Const")


def binary_operands(x: Any, y: Any) -> tuple[Tensor, Tensor]:
    if isinstance(x, Tensor) or hasattr(x, "_as_graph_element"):
        x = convert_to_tensor(x)
        y = operand(y, x)
    elif isinstance(y, Tensor) or hasattr(y, "_as_graph_element"):
        y = convert_to_tensor(y)
        x = operand(x, y)
    else:
        x = convert_to_tensor(x)
        y = operand(y, x)
    if x.dtype != y.dtype:
        raise TypeError(f"Input 'y' has type {y.dtype.name} that does not match type {x.dtype.name} of "
                        f"argument 'x' ({x.name} vs {y.name}): {dtype_trail(x)}; {dtype_trail(y)}. "
                        "Give both the same dtype (note: as in TensorFlow, dtype=\"float\" means float32 and "
                        "\"double\" float64) or convert one with tf.cast")
    return x, y


def dtype_trail(t: Tensor, depth: int = 8) -> str:
    """How ``t`` got its dtype: follow dtype-preserving ops back to the source that fixed it."""
    seen = t
    for _ in range(depth):
        if getattr(seen, "_dtype_spelling", None) is not None or not (seen.op.inputs or seen.op.type == "VariableV2"):
            break
        if seen.op.type == "VariableV2":  # a variable's dtype is its initial value's
            init = [c for c in seen.consumers() if c.type == "Assign" and c.name == f"{seen.op.name}/Assign"]
            if not init:
                break
            seen = init[0].inputs[1]
            continue
        same = [u for u in seen.op.inputs if u.dtype == seen.dtype]
        if not same or seen.op.type in ("Cast",):
            break
        seen = same[0]
    text = dtypes.describe_origin(seen)
    return text if seen is t else f"{t.name} comes from {text}"


def make_op(op_type: str, inputs: Sequence[Tensor], *, shape: tuple | None = None, dtype: Any = None,
            attrs: dict[str, Any] | None = None, name: str | None = None,
            outputs: Sequence[tuple[tuple | None, Any]] | None = None) -> Any:
    """Create an op; returns its single output Tensor, a list of outputs, or the Operation if none."""
    graph = inputs[0].graph if inputs else get_default_graph()
    if outputs is None:
        outputs = [(shape, dtype if dtype is not None else inputs[0].dtype)]
    outs = [(None if s is None else tuple(s), dtypes.as_dtype(d)) for s, d in outputs]
    op = graph.create_op(op_type, list(inputs), attrs or {}, outs, name=name)
    if len(op.outputs) == 1:
        return op.outputs[0]
    if not op.outputs:
        return op
    return list(op.outputs)


def make_void_op(op_type: str, inputs: Sequence[Tensor], attrs: dict[str, Any] | None = None,
                 name: str | None = None, control_inputs: Sequence[Operation] = ()) -> Operation:
    graph = inputs[0].graph if inputs else get_default_graph()
    return graph.create_op(op_type, list(inputs), attrs or {}, [], name=name, control_inputs=control_inputs)


def static_axes(axis: Any, rank: int | None, op_desc: str, unique: bool = False) -> tuple[int, ...] | None:
    """Normalise an axis argument (int, list, None = all) to sorted non-negative ints.

    ``unique``: an axis named twice (``[1, -1]`` on a rank-2 tensor) is a ValueError, as in TF's
    reductions."""
    if axis is None:
        return None if rank is None else tuple(range(rank))
    if isinstance(axis, Tensor):
        raise TypeError(f"{op_desc}: axis must be a Python int or list of ints, not a Tensor")
    if isinstance(axis, np.ndarray):
        axis = axis.tolist()
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    if any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"{op_desc}: axis must be a Python int or list of ints, got {axis!r}")
    if unique and rank is not None:
        seen = [int(a) % rank if -rank <= int(a) < rank else int(a) for a in axes]
        if len(set(seen)) != len(seen):
            raise ValueError(f"{op_desc}: axes {list(axes)} contain duplicate dimensions")
    if rank is None:
        if any(a < 0 for a in axes):
            raise ValueError(f"{op_desc}: negative axis needs a known rank")
        return tuple(sorted(set(int(a) for a in axes)))
    out = []
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise ValueError(f"{op_desc}: axis {a} is out of range for a tensor of rank {rank}")
        out.append(a % rank)
    return tuple(sorted(set(out)))


def unbroadcast(dy: Tensor, x: Tensor) -> Tensor:
    """Sum ``dy`` down to the shape of ``x``: the gradient of every broadcasting op goes through this.

    If broadcasting ``x`` to ``dy`` repeated it along some axes, d(loss)/dx sums dy over those axes.
    """
    xs, ys = x.static_shape, dy.static_shape
    if xs is not None and xs == ys and None not in xs:
        return dy
    from nnctl.ops.math_ops import sum_to_shape
    return sum_to_shape(dy, x)


def operand_pairs(op: Any) -> list[tuple[Tensor, Tensor]]:
    """(a, b) and (b, a) for a commutative binary op's inputs: the orders a subgraph matcher tries."""
    a, b = op.inputs
    return [(a, b), (b, a)]
