"""Shapes given as tensors: ``tf.random_normal(tf.shape(x))``, ``tf.reshape(x, [tf.shape(x)[0], -1])``,
``tf.zeros(tf.shape(x))``, ``tf.fill(tf.shape(x), v)``, ``tf.tile(x, [tf.shape(y)[0], 1])``.

A shape argument that is a Tensor, or a list mixing ints and scalar tensors, becomes one int32
vector input of the op (a list is packed with ``tf.stack``). Its *static* value is inferred where
it can be, as TF's ``constant_value_as_shape`` does: ``tf.shape(x)`` gives x's static shape, an
element ``tf.shape(x)[i]`` gives that dimension, a constant gives itself, and unknown entries stay
None. At run time the vector is almost always computed from shapes only (``Shape`` is read only
for its input's shape), so the plan compiler folds it to a constant within each plan; a shape fed
or computed from data values works too, as long as it does not change while the feed shapes stay
the same (the plan's buffers are sized once per feed-shape signature; a change is reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.errors import InvalidArgumentError
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.ops.core import convert_to_tensor, make_op


def is_dynamic(value: Any) -> bool:
    """Whether a shape-like argument holds tensors (and so needs a run-time shape input)."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        return True
    if isinstance(value, (list, tuple)):
        return any(is_dynamic(v) for v in value)
    return False


def constant_value(t: Tensor) -> np.ndarray | None:
    """The value of ``t`` if it is known when the graph is built (a constant expression), else None."""
    op = t.op
    if op.type == "Const":
        return op.attrs["value"]
    if op.type == "Shape":
        s = op.inputs[0].static_shape
        if s is not None and None not in s:
            return np.array(s, dtype=t.dtype.np)
        return None
    if op.type == "Cast":
        v = constant_value(op.inputs[0])
        return None if v is None else v.astype(t.dtype.np)
    if op.type == "Identity":
        return constant_value(op.inputs[0])
    if op.type == "Pack":
        vals = [constant_value(u) for u in op.inputs]
        if any(v is None for v in vals):
            return None
        return np.stack(vals, axis=op.attrs["axis"])
    if op.type == "StridedSlice":
        v = constant_value(op.inputs[0])
        if v is None:
            return None
        from nnctl.ops.array_ops import _to_index
        return np.asarray(v[_to_index(op.attrs["spec"])])
    return None


def _dim_of(t: Tensor) -> int | None:
    """The static value of a scalar dimension tensor, or None (TF's constant_value_as_shape, per entry)."""
    v = constant_value(t)
    if v is not None:
        return int(v)
    op = t.op
    if op.type == "Cast":
        return _dim_of(op.inputs[0])
    if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape":
        spec = op.attrs["spec"]
        s = op.inputs[0].op.inputs[0].static_shape
        if s is not None and len(spec) == 1 and spec[0][0] == "i":
            return s[spec[0][1]]
    return None


def static_shape_of(t: Tensor) -> tuple | None:
    """What a 1-D shape tensor's value is known to be: a tuple with None for unknown entries, or None
    when even its length is unknown."""
    op = t.op
    if op.type == "Shape":
        return op.inputs[0].static_shape
    if op.type == "Cast":
        return static_shape_of(op.inputs[0])
    if op.type == "StridedSlice" and op.inputs[0].op.type == "Shape":
        spec, src = op.attrs["spec"], op.inputs[0].op.inputs[0].static_shape
        if src is not None and len(spec) == 1 and spec[0][0] == "s":
            return tuple(src[slice(spec[0][1], spec[0][2], spec[0][3])])
    if op.type == "ConcatV2" and all(len(u.static_shape or ()) == 1 for u in op.inputs):
        parts = [static_shape_of(u) for u in op.inputs]
        if all(p is not None for p in parts):
            return tuple(d for p in parts for d in p)
    if op.type == "Pack" and op.attrs["axis"] == 0 and all(u.static_shape == () for u in op.inputs):
        return tuple(_dim_of(u) for u in op.inputs)
    v = constant_value(t)
    if v is not None:
        return tuple(int(d) for d in np.asarray(v).reshape(-1))
    if t.static_shape is not None and len(t.static_shape) == 1 and t.static_shape[0] is not None:
        return (None,) * t.static_shape[0]
    return None


def shape_tensor(value: Any, desc: str) -> Tensor:
    """A shape argument holding tensors as one int32 vector (a list is packed with tf.stack)."""
    from nnctl.ops.array_ops import reshape, stack
    from nnctl.ops.math_ops import cast
    if isinstance(value, (list, tuple)):
        parts = []
        for v in value:
            if isinstance(v, Tensor) or hasattr(v, "_as_graph_element"):
                p = convert_to_tensor(v)
                if p.static_shape not in ((), None) and p.static_shape != (1,):
                    raise ValueError(f"{desc}: shape entry {p.name} must be a scalar, has shape {p.shape}")
                if p.static_shape != ():
                    p = reshape(p, [])
            else:
                p = convert_to_tensor(int(v), dtype=dtypes.int32)
            if not p.dtype.is_integer:
                raise TypeError(f"{desc}: shape entry {p.name} must be an integer tensor, not {p.dtype.name}")
            parts.append(p if p.dtype == dtypes.int32 else cast(p, dtypes.int32))
        return stack(parts, axis=0, name="stack")
    t = convert_to_tensor(value)
    if not t.dtype.is_integer:
        raise TypeError(f"{desc}: a shape tensor must be int32 or int64, got {t.dtype.name} ({t.name})")
    if t.static_shape is not None and len(t.static_shape) != 1:
        raise ValueError(f"{desc}: a shape tensor must be 1-D, got shape {t.shape} ({t.name})")
    return t if t.dtype == dtypes.int32 else cast(t, dtypes.int32)


def _check_out(op: Operation, out: Any, shape: tuple) -> None:
    if out is not None and tuple(out.shape) != shape:
        raise InvalidArgumentError(None, op, f"{op.type} '{op.name}': its shape tensor now says {list(shape)} "
                                             f"but was {list(out.shape)} when this run was compiled for the "
                                             "same feed shapes; feed shapes, not values, must decide shapes")


def run_time_shape(op: Operation, v: Any) -> tuple:
    """A shape input's value as a tuple of non-negative ints (InvalidArgumentError naming ``op``)."""
    return _dims(v, op)


def _dims(v: Any, op: Operation) -> tuple:
    dims = tuple(int(d) for d in np.asarray(v).reshape(-1))
    if any(d < 0 for d in dims):
        raise InvalidArgumentError(None, op, f"{op.type} '{op.name}': dimensions must be >= 0, got {list(dims)}")
    return dims


# --- Reshape with a tensor shape -------------------------------------------------------------------

def dynamic_reshape(x: Tensor, shape: Any, name: str | None = None) -> Tensor:
    s = shape_tensor(shape, f"Reshape '{name or 'Reshape'}'")
    known = static_shape_of(s)
    out = None
    if known is not None:
        out = tuple(None if d is None or d == -1 else int(d) for d in known)
        n_in = x.static_shape and None not in x.static_shape and int(np.prod(x.static_shape))
        if known.count(-1) == 1 and n_in and all(d is not None for d in known):
            rest = int(np.prod([d for d in known if d != -1]))
            if rest and n_in % rest == 0:
                out = tuple(n_in // rest if d == -1 else d for d in known)
    return make_op("ReshapeDynamic", [x, s], shape=out, dtype=x.dtype, name=name or "Reshape")


@registry.register_kernel("ReshapeDynamic", view=True, out=False)
def _reshape_dynamic_kernel(op: Operation, ctx: Any) -> Any:
    host = ctx.backend.to_host  # shape values are read on the host, also on a GPU backend

    def run(x: Any, shape: Any, out: Any = None) -> Any:
        return x.reshape(tuple(int(d) for d in np.asarray(host(shape)).reshape(-1)))
    return run


# --- Fill / zeros / ones with a tensor shape -------------------------------------------------------

def dynamic_fill(dims: Any, value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    s = shape_tensor(dims, f"Fill '{name or 'Fill'}'")
    v = convert_to_tensor(value, dtype=dtype) if not isinstance(value, Tensor) else value
    if v.static_shape not in ((), None):
        raise ValueError(f"Fill '{name or 'Fill'}': value must be a scalar, got shape {v.shape}")
    return make_op("FillDynamic", [s, v], shape=static_shape_of(s), dtype=v.dtype, name=name or "Fill")


@registry.register_kernel("FillDynamic")
def _fill_dynamic_kernel(op: Operation, ctx: Any) -> Any:
    xp, host = ctx.xp, ctx.backend.to_host

    def run(dims: Any, value: Any, out: Any = None) -> Any:
        shape = _dims(host(dims), op)
        if out is None:
            return xp.full(shape, value, dtype=value.dtype)
        _check_out(op, out, shape)
        out.fill(value)
        return out
    return run


# --- Tile with tensor multiples --------------------------------------------------------------------

def dynamic_tile(x: Tensor, multiples: Any, name: str | None = None) -> Tensor:
    m = shape_tensor(multiples, f"Tile '{name or 'Tile'}'")
    known = static_shape_of(m)
    out = None
    if known is not None and x.static_shape is not None:
        if len(known) != len(x.static_shape):
            raise ValueError(f"Tile '{name or 'Tile'}': multiples has {len(known)} entries for an input of rank "
                             f"{len(x.static_shape)}")
        out = tuple(None if a is None or k is None else a * k for a, k in zip(x.static_shape, known))
    elif x.static_shape is not None:
        out = (None,) * len(x.static_shape)
    return make_op("TileDynamic", [x, m], shape=out, dtype=x.dtype, name=name or "Tile")


@registry.register_kernel("TileDynamic")
def _tile_dynamic_kernel(op: Operation, ctx: Any) -> Any:
    xp, host = ctx.xp, ctx.backend.to_host

    def run(x: Any, multiples: Any, out: Any = None) -> Any:
        m = _dims(host(multiples), op)
        if len(m) != x.ndim:
            raise InvalidArgumentError(None, op, f"Tile '{op.name}': multiples {list(m)} for an input of rank "
                                                 f"{x.ndim}")
        res = xp.tile(x, m)
        if out is None:
            return res
        _check_out(op, out, tuple(res.shape))
        xp.copyto(out, res)
        return out
    return run


def tile_grad_dynamic(dy: Tensor, x: Tensor, multiples: Tensor, name: str | None = None) -> Tensor:
    """The sum of dy over the tile copies (multiples given at run time)."""
    return make_op("TileDynamicGrad", [dy, x, multiples], shape=x.static_shape, dtype=dy.dtype, name=name)


@registry.register_kernel("TileDynamicGrad", shape_inputs=(1,))
def _tile_dynamic_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp, host = ctx.xp, ctx.backend.to_host

    def run(dy: Any, x: Any, multiples: Any, out: Any = None) -> Any:
        m = _dims(host(multiples), op)
        inter = tuple(v for md in zip(m, x.shape) for v in md)  # (m0, d0, m1, d1, ...)
        return xp.sum(dy.reshape(inter), axis=tuple(range(0, 2 * len(m), 2)), out=out)
    return run
