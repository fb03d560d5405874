"""``tf.nn.top_k`` (values and indices of the k largest along the last axis) and its gradient, and
``tf.random_shuffle``."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.registry import register_gradient
from nnctl.ops.core import convert_to_tensor, make_op
from nnctl.ops.random_ops import get_seed


def top_k(input: Any, k: int = 1, sorted: bool = True, name: str | None = None) -> tuple[Tensor, Tensor]:
    """``tf.nn.top_k``: (values, indices) of the ``k`` largest entries of each row (last axis), largest
    first; ties keep the lower index first, as TF."""
    x = convert_to_tensor(input)
    s = x.static_shape
    if s is not None and (not s or (s[-1] is not None and s[-1] < k)):
        raise ValueError(f"top_k: input must have at least k={k} columns, got shape {x.shape}")
    shape = None if s is None else tuple(s[:-1]) + (int(k),)
    values, indices = make_op("TopKV2", [x], attrs={"k": int(k)}, outputs=[(shape, x.dtype), (shape, dtypes.int32)],
                              name=name or "TopKV2")
    return _TopK(values, indices)


class _TopK(tuple):
    """The (values, indices) pair, also by name as TF's namedtuple."""

    def __new__(cls, values: Tensor, indices: Tensor) -> _TopK:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


@registry.register_kernel("TopKV2")
def _top_k_kernel(op: Operation, ctx: Any) -> Any:
    xp, k = ctx.xp, op.attrs["k"]

    def run(x: Any, out: Any = None) -> Any:
        idx = xp.argsort(-x, axis=-1, kind="stable")[..., :k]  # stable: equal values keep index order
        vals = xp.take_along_axis(x, idx, axis=-1)
        idx = idx.astype(np.int32)
        if out is None:
            return vals, idx
        xp.copyto(out[0], vals)
        xp.copyto(out[1], idx)
        return out
    return run


def top_k_grad(dy: Tensor, indices: Tensor, x: Tensor, name: str | None = None) -> Tensor:
    """Zeros shaped like ``x`` with ``dy`` added at ``indices`` along the last axis."""
    return make_op("TopKGrad", [dy, indices, x], shape=x.static_shape, dtype=dy.dtype, name=name)


@registry.register_kernel("TopKGrad", shape_inputs=(2,))
def _top_k_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(dy: Any, indices: Any, x: Any, out: Any = None) -> Any:
        # a scatter-add along the last axis (repeated indices accumulate): sum_j [indices_j == c] dy_j
        cols = xp.arange(x.shape[-1])
        res = ((indices[..., :, None] == cols) * dy[..., :, None]).sum(axis=-2, dtype=dy.dtype)
        if out is None:
            return res
        xp.copyto(out, res)
        return out
    return run


def gather_last(x: Tensor, indices: Tensor, name: str | None = None) -> Tensor:
    """``x`` at ``indices`` along the last axis (numpy's take_along_axis)."""
    shape = None if indices.static_shape is None else indices.static_shape
    return make_op("TakeAlongLastAxis", [x, indices], shape=shape, dtype=x.dtype, name=name)


@registry.register_kernel("TakeAlongLastAxis")
def _take_along_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(x: Any, indices: Any, out: Any = None) -> Any:
        res = xp.take_along_axis(x, indices.astype(np.int64), axis=-1)
        if out is None:
            return res
        xp.copyto(out, res)
        return out
    return run


@register_gradient("TopKV2")
def _top_k_grad(op: Operation, dvalues: Tensor, dindices: Any) -> list:
    # d values / d x puts each incoming gradient back where its value came from
    return [top_k_grad(dvalues, op.outputs[1], op.inputs[0])]


@register_gradient("TopKGrad")
def _top_k_grad_grad(op: Operation, ddx: Tensor) -> list:
    # TopKGrad is linear in dy: its adjoint reads ddx back at the same indices
    return [gather_last(ddx, op.inputs[1]), None, None]


@register_gradient("TakeAlongLastAxis")
def _take_along_grad(op: Operation, dy: Tensor) -> list:
    return [top_k_grad(dy, op.inputs[1], op.inputs[0]), None]


def random_shuffle(value: Any, seed: int | None = None, name: str | None = None) -> Tensor:
    """``tf.random_shuffle``: ``value`` with its first dimension in a random order."""
    x = convert_to_tensor(value)
    s1, s2 = get_seed(seed)
    return make_op("RandomShuffle", [x], attrs={"seed": s1, "seed2": s2}, shape=x.static_shape, dtype=x.dtype,
                   name=name or "RandomShuffle")


@registry.register_kernel("RandomShuffle", stateful=True)
def _shuffle_kernel(op: Operation, ctx: Any) -> Any:
    rng, be = ctx.rng(op), ctx.backend

    def run(x: Any, out: Any = None) -> Any:
        perm = be.asarray(rng.permutation(x.shape[0])) if x.ndim else None
        res = x[perm] if perm is not None else x.copy()
        if out is None:
            return res
        ctx.xp.copyto(out, res)
        return out
    return run


registry.not_differentiable("RandomShuffle")
