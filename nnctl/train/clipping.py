"""Gradient clipping: ``clip_by_global_norm``, ``global_norm``, ``clip_by_norm`` (TF1 semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnctl.graph.graph import Tensor, get_default_graph
from nnctl.ops import array_ops, math_ops
from nnctl.ops.core import convert_to_tensor


def _as_list(t_list: Any, what: str) -> list:
    if not isinstance(t_list, Sequence) or isinstance(t_list, str):
        raise TypeError(f"{what}: t_list should be a sequence (list or tuple) of tensors, got {t_list!r}")
    return list(t_list)


def global_norm(t_list: Any, name: str | None = None) -> Tensor:
    """sqrt(sum over tensors of sum(t^2)); None entries are ignored. All tensors must share one dtype,
    as in TF; an empty list has norm 0 (float32)."""
    ts = [convert_to_tensor(t) for t in _as_list(t_list, "global_norm") if t is not None]
    if not ts:
        from nnctl.ops.state_ops import constant
        return constant(np.float32(0.0), name=name or "global_norm")
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(f"global_norm: all tensors must have one dtype, {ts[0].name} is {ts[0].dtype.name} "
                            f"and {t.name} is {t.dtype.name}")
    with get_default_graph().name_scope(name or "global_norm"):
        total = None
        for t in ts:
            sq = math_ops.reduce_sum(math_ops.square(t))
            total = sq if total is None else math_ops.add(total, sq)
        return math_ops.sqrt(total, name="global_norm")


def clip_by_global_norm(t_list: Any, clip_norm: Any, use_norm: Any = None,
                        name: str | None = None) -> tuple[list, Tensor]:
    """Scale every tensor of ``t_list`` by clip_norm / max(global_norm, clip_norm).

    Returns (list_clipped, global_norm); None entries stay None. As in TF the scale is
    clip_norm * min(1 / global_norm, 1 / clip_norm) (1 when the norm is within bounds), and a
    non-finite global norm makes every clipped tensor NaN.
    """
    items = _as_list(t_list, "clip_by_global_norm")
    if use_norm is None:
        use_norm = global_norm(items)
    use_norm = convert_to_tensor(use_norm)
    with get_default_graph().name_scope(name or "clip_by_global_norm"):
        dt = use_norm.dtype
        c = math_ops.cast(convert_to_tensor(clip_norm), dt) if isinstance(clip_norm, Tensor) else \
            convert_to_tensor(np.asarray(clip_norm, dtype=dt.np), dtype=dt)
        inv = math_ops.minimum(math_ops.divide(1.0, use_norm), math_ops.divide(1.0, c))
        scale = math_ops.multiply(c, inv)
        # + (norm - norm): NaN when the norm is inf or NaN, so the failure is not silently zeroed
        scale = math_ops.add(scale, math_ops.subtract(use_norm, use_norm))
        out: list = []
        for i, t in enumerate(items):
            if t is None:
                out.append(None)
                continue
            t = convert_to_tensor(t)
            s = scale if t.dtype == dt else math_ops.cast(scale, t.dtype)
            out.append(array_ops.identity(math_ops.multiply(t, s), name=f"clipped_{i}"))
    return out, use_norm


def clip_by_norm(t: Any, clip_norm: Any, axes: Any = None, name: str | None = None) -> Tensor:
    """t * clip_norm / max(l2norm(t), clip_norm), the L2 norm taken over ``axes`` (all if None);
    a zero norm gives t unchanged, with no NaN."""
    with get_default_graph().name_scope(name or "clip_by_norm"):
        t = convert_to_tensor(t)
        c = math_ops.cast(convert_to_tensor(clip_norm), t.dtype) if isinstance(clip_norm, Tensor) else \
            convert_to_tensor(np.asarray(clip_norm, dtype=t.dtype.np), dtype=t.dtype)
        l2sum = math_ops.reduce_sum(math_ops.multiply(t, t), axes, keepdims=True)
        pred = math_ops.greater(l2sum, 0.0)
        # sqrt is taken of 1 where the sum is 0, so its gradient stays finite
        safe = math_ops.where(pred, l2sum, array_ops.ones_like(l2sum))
        l2norm = math_ops.where(pred, math_ops.sqrt(safe), l2sum)
        return array_ops.identity(math_ops.divide(math_ops.multiply(t, c), math_ops.maximum(l2norm, c)),
                                  name="clipped")
