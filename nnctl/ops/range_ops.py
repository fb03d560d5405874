"""``tf.range`` and ``tf.sequence_mask``: integer sequences, with tensor bounds allowed."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.ops.core import convert_to_tensor, make_op
from nnctl.ops.shape_ops import _check_out, constant_value


def _is_tensor(v: Any) -> bool:
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def range(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None, name: str = "range") -> Tensor:  # noqa: A001
    """``tf.range(limit)`` / ``tf.range(start, limit, delta)``: [start, start + delta, ...) below ``limit``.

    The dtype is the widest of the arguments' (int32 for Python ints, float32 for Python floats),
    or ``dtype``. The length is known statically when every bound is."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    if dtype is not None:
        dt = dtypes.as_dtype(dtype)
    else:
        order = [dtypes.int32, dtypes.int64, dtypes.float32, dtypes.float64]
        found = []
        for a in args:
            if _is_tensor(a):
                found.append(convert_to_tensor(a).dtype)
            elif isinstance(a, (float, np.floating)):
                found.append(dtypes.float32)
            else:
                found.append(dtypes.int32)
        dt = max(found, key=lambda d: order.index(d) if d in order else 0)
    ts = []
    for a in args:
        t = convert_to_tensor(a) if _is_tensor(a) else convert_to_tensor(np.asarray(a).astype(dt.np))
        if t.dtype != dt:
            from nnctl.ops.math_ops import cast
            t = cast(t, dt)
        if t.static_shape not in ((), None):
            raise ValueError(f"tf.range: start, limit and delta must be scalars, got {t.name} of shape {t.shape}")
        ts.append(t)
    vals = [constant_value(t) for t in ts]
    n = None
    if all(v is not None for v in vals):
        s, lim, d = (v.item() for v in vals)
        if d == 0:
            raise ValueError("tf.range: delta must not be 0")
        n = len(np.arange(s, lim, d))
    return make_op("Range", ts, shape=(n,), dtype=dt, name=name)


@registry.register_kernel("Range")
def _range_kernel(op: Operation, ctx: Any) -> Any:
    xp, dt, host = ctx.xp, op.outputs[0].dtype.np, ctx.backend.to_host

    def run(start: Any, limit: Any, delta: Any, out: Any = None) -> Any:
        start, limit, delta = (host(v)[()] for v in (start, limit, delta))  # bounds are read on the host
        if delta == 0:
            raise ValueError("Requires delta != 0")
        res = xp.arange(start, limit, delta, dtype=dt)
        if out is None:
            return res
        _check_out(op, out, tuple(res.shape))
        xp.copyto(out, res)
        return out
    return run


registry.not_differentiable("Range")


def sequence_mask(lengths: Any, maxlen: Any = None, dtype: Any = dtypes.bool, name: str | None = None) -> Tensor:
    """``tf.sequence_mask``: mask[..., j] = j < lengths[...], for j < maxlen (default max(lengths))."""
    lens = convert_to_tensor(lengths)
    if not lens.dtype.is_integer:
        raise TypeError(f"sequence_mask: lengths must be integers, got {lens.dtype.name}")
    m = None if maxlen is None else (convert_to_tensor(maxlen) if _is_tensor(maxlen) else int(maxlen))
    static = m if isinstance(m, int) else None
    inputs = [lens] + ([m] if isinstance(m, Tensor) else [])
    shape = None if lens.static_shape is None else tuple(lens.static_shape) + (static,)
    return make_op("SequenceMask", inputs, attrs={"maxlen": static}, shape=shape, dtype=dtypes.as_dtype(dtype),
                   name=name or "SequenceMask")


@registry.register_kernel("SequenceMask")
def _sequence_mask_kernel(op: Operation, ctx: Any) -> Any:
    xp, dt, fixed, host = ctx.xp, op.outputs[0].dtype.np, op.attrs["maxlen"], ctx.backend.to_host

    def run(lengths: Any, *maxlen: Any, out: Any = None) -> Any:
        n = fixed if fixed is not None else (int(host(maxlen[0])) if maxlen else
                                             (int(host(lengths.max())) if lengths.size else 0))
        res = (xp.arange(n) < lengths[..., None]).astype(dt)
        if out is None:
            return res
        _check_out(op, out, tuple(res.shape))
        xp.copyto(out, res)
        return out
    return run


registry.not_differentiable("SequenceMask")
