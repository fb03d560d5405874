"""Ranking ops used to measure classifiers: ``tf.nn.in_top_k``."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.ops.core import convert_to_tensor, make_op


def in_top_k(predictions: Any, targets: Any, k: int, name: str | None = None) -> Tensor:
    """``tf.nn.in_top_k``: whether ``predictions[i, targets[i]]`` is among the ``k`` largest of row i.

    As TF: a target counts as in the top k when fewer than k entries of its row are strictly
    larger (so ties are in), and a row with a non-finite prediction, or a target out of range, gives
    False."""
    p = convert_to_tensor(predictions)
    t = convert_to_tensor(targets)
    if not p.dtype.is_floating or p.static_shape is not None and len(p.static_shape) != 2:
        raise ValueError(f"in_top_k: predictions must be a 2-D float tensor, got {p.dtype.name} {p.shape}")
    if t.dtype not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"in_top_k: targets must be int32 or int64, got {t.dtype.name}")
    batch = p.static_shape[0] if p.static_shape else None
    return make_op("InTopKV2", [p, t], attrs={"k": int(k)}, shape=(batch,), dtype=dtypes.bool,
                   name=name or "in_top_k")


@registry.register_kernel("InTopKV2")
def _in_top_k_kernel(op: Operation, ctx: Any) -> Any:
    xp, k = ctx.xp, op.attrs["k"]

    def run(p: Any, t: Any, out: Any = None) -> Any:
        n_cls = p.shape[1]
        valid = (t >= 0) & (t < n_cls)
        tt = xp.where(valid, t, 0)
        target = xp.take_along_axis(p, tt[:, None].astype(np.int64), axis=1)
        larger = (p > target).sum(axis=1)
        res = valid & (larger < k) & xp.isfinite(p).all(axis=1)
        if out is None:
            return res
        xp.copyto(out, res)
        return out
    return run


registry.not_differentiable("InTopKV2")
