"""TF1 ``tf.nn`` entry points that are thin compositions of nnctl's ops."""

from __future__ import annotations

from typing import Any

from nnctl.graph.graph import Tensor, name_scope
from nnctl.ops import array_ops as A
from nnctl.ops import math_ops as M
from nnctl.ops import nn_ops as N
from nnctl.ops.core import convert_to_tensor


def embedding_lookup(params: Any, ids: Any, partition_strategy: str = "mod", name: str | None = None,
                     validate_indices: bool = True, max_norm: float | None = None) -> Tensor:
    """``tf.nn.embedding_lookup``: rows ``params[ids]`` (any shape of ids). A list of several
    params is a sharded table; with ``partition_strategy="mod"`` id i lives in shard i % n at row
    i // n, with ``"div"`` the shards hold consecutive ranges. ``max_norm`` clips each looked-up
    row to that L2 norm."""
    with name_scope(name, "embedding_lookup"):
        if isinstance(params, (list, tuple)):
            shards = [convert_to_tensor(p) for p in params]
            if len(shards) == 1:
                table = shards[0]
            elif partition_strategy == "div":
                table = A.concat(shards, 0)
            elif partition_strategy == "mod":
                # interleave: row r of shard s is id r * n + s
                n = len(shards)
                rows = [s.static_shape[0] for s in shards]
                if any(r is None for r in rows) or max(rows) - min(rows) > 1:
                    raise ValueError("embedding_lookup: mod-sharded params need known, balanced shard sizes")
                order = []
                for i in range(sum(rows)):
                    order.append(sum(rows[:i % n]) + i // n)
                table = A.gather(A.concat(shards, 0), order)
            else:
                raise ValueError(f"embedding_lookup: unknown partition_strategy {partition_strategy!r}")
        else:
            table = convert_to_tensor(params)
        out = A.gather(table, ids)
        if max_norm is not None:
            out = _clip_rows(out, max_norm, len(out.static_shape or ()) - 1)
        return out


def _clip_rows(x: Tensor, max_norm: float, axis: int) -> Tensor:
    norm = M.sqrt(M.reduce_sum(M.square(x), axis=axis, keepdims=True))
    scale = M.minimum(M.divide(max_norm, M.maximum(norm, 1e-12)), 1.0)
    return M.multiply(x, scale)


def batch_norm_with_global_normalization(t: Any = None, m: Any = None, v: Any = None, beta: Any = None,
                                         gamma: Any = None, variance_epsilon: float | None = None,
                                         scale_after_normalization: bool | None = None, name: str | None = None,
                                         input: Any = None, mean: Any = None, variance: Any = None) -> Tensor:
    """``tf.nn.batch_norm_with_global_normalization``: batch normalization with given statistics;
    ``gamma`` is used only when ``scale_after_normalization``."""
    t = t if t is not None else input
    m = m if m is not None else mean
    v = v if v is not None else variance
    return N.batch_normalization(t, m, v, beta, gamma if scale_after_normalization else None,
                                 variance_epsilon, name=name)


def local_response_normalization(input: Any, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0,
                                 beta: float = 0.5, name: str | None = None) -> Tensor:
    """``tf.nn.lrn``: x / (bias + alpha * sum of x^2 over the 2r+1 neighbouring channels) ** beta (NHWC),
    built from pad, slices and elementwise ops, so its gradient comes from theirs."""
    x = convert_to_tensor(input)
    if x.static_shape is None or len(x.static_shape) != 4 or x.static_shape[3] is None:
        raise ValueError(f"lrn: input must be 4-D NHWC with a known channel count, got {x.shape}")
    c, r = x.static_shape[3], int(depth_radius)
    with name_scope(name, "LRN"):
        sq = A.pad(M.square(x), [[0, 0], [0, 0], [0, 0], [r, r]])
        window = sq[:, :, :, 0:c]
        for i in range(1, 2 * r + 1):
            window = M.add(window, sq[:, :, :, i:i + c])
        return M.divide(x, M.pow(M.add(M.multiply(window, alpha), bias), beta))
