"""More of TF1's math surface: logical reductions, counts, finiteness tests, norms, logsumexp,
log_sigmoid, eye, linspace. Most are compositions of existing ops (so their gradients come from
those ops' rules); Any/All and the finiteness tests are small non-differentiable kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, name_scope
from nnctl.ops import array_ops as A
from nnctl.ops import math_ops as M
from nnctl.ops import nn_ops as N
from nnctl.ops.core import convert_to_tensor, make_op, static_axes


def _bool_reduce(op_type: str, x: Any, axis: Any, keepdims: bool, name: str | None) -> Tensor:
    t = convert_to_tensor(x)
    if not t.dtype.is_bool:
        raise TypeError(f"{op_type} '{name or op_type}': input {t.name} must be bool, got {t.dtype.name}")
    s = t.static_shape
    axes = static_axes(axis, None if s is None else len(s), op_type)
    shape = None if s is None else tuple((1 if i in axes else d) for i, d in enumerate(s) if keepdims or i not in axes)
    return make_op(op_type, [t], attrs={"axis": axes, "keepdims": bool(keepdims)}, shape=shape, dtype=dtypes.bool,
                   name=name or op_type)


def reduce_any(input_tensor: Any, axis: Any = None, keepdims: Any = False, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    """Logical or over ``axis`` (all axes when None)."""
    return _bool_reduce("Any", input_tensor, axis if axis is not None else reduction_indices,
                        bool(keep_dims if keep_dims is not None else keepdims), name)


def reduce_all(input_tensor: Any, axis: Any = None, keepdims: Any = False, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    """Logical and over ``axis`` (all axes when None)."""
    return _bool_reduce("All", input_tensor, axis if axis is not None else reduction_indices,
                        bool(keep_dims if keep_dims is not None else keepdims), name)


def _bool_reduce_kernel(fname: str):
    def factory(op: Operation, ctx: Any) -> Any:
        fn, axes, kd = getattr(ctx.xp, fname), op.attrs["axis"], op.attrs["keepdims"]

        def run(x: Any, out: Any = None) -> Any:
            return fn(x, axis=axes, keepdims=kd, out=out)
        return run
    return factory


registry.register_kernel("Any")(_bool_reduce_kernel("any"))
registry.register_kernel("All")(_bool_reduce_kernel("all"))
registry.not_differentiable("Any", "All")


def count_nonzero(input_tensor: Any = None, axis: Any = None, keepdims: Any = None, dtype: Any = dtypes.int64,
                  name: str | None = None, reduction_indices: Any = None, keep_dims: Any = None,
                  input: Any = None) -> Tensor:
    """The number of non-zero (non-False) entries over ``axis``, as ``dtype`` (int64)."""
    x = convert_to_tensor(input_tensor if input_tensor is not None else input)
    with name_scope(name, "count_nonzero"):
        nz = M.logical_not(M.equal(x, A.zeros_like(x))) if not x.dtype.is_bool else x
        return M.reduce_sum(M.cast(nz, dtype), axis=axis if axis is not None else reduction_indices,
                            keepdims=bool(keep_dims if keep_dims is not None else keepdims))


def _elementwise_test(op_type: str, fname: str):
    def builder(x: Any, name: str | None = None) -> Tensor:
        t = convert_to_tensor(x)
        if not t.dtype.is_floating:
            raise TypeError(f"{op_type}: input {t.name} must be floating point, got {t.dtype.name}")
        return make_op(op_type, [t], shape=t.static_shape, dtype=dtypes.bool, name=name or op_type)

    def factory(op: Operation, ctx: Any) -> Any:
        fn = getattr(ctx.xp, fname)

        def run(x: Any, out: Any = None) -> Any:
            return fn(x, out=out)
        return run
    registry.register_kernel(op_type)(factory)
    registry.not_differentiable(op_type)
    builder.__name__ = fname
    builder.__doc__ = f"``tf.{fname.replace('is', 'is_')}``: elementwise test, bool output."
    return builder


is_nan = _elementwise_test("IsNan", "isnan")
is_inf = _elementwise_test("IsInf", "isinf")
is_finite = _elementwise_test("IsFinite", "isfinite")


def log_sigmoid(x: Any, name: str | None = None) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    with name_scope(name, "LogSigmoid"):
        return M.negative(N.softplus(M.negative(convert_to_tensor(x))))


def reduce_logsumexp(input_tensor: Any, axis: Any = None, keepdims: Any = False, name: str | None = None,
                     reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    """log(sum(exp(x))) over ``axis``, computed as m + log(sum(exp(x - m))) with m the (constant) max."""
    x = convert_to_tensor(input_tensor)
    ax = axis if axis is not None else reduction_indices
    kd = bool(keep_dims if keep_dims is not None else keepdims)
    with name_scope(name, "ReduceLogSumExp"):
        m = A.stop_gradient(M.reduce_max(x, axis=ax, keepdims=True))
        m = M.where(M.logical_not(M.equal(m, m * 0 + np.inf)), m, A.zeros_like(m))  # all -inf rows stay -inf
        out = M.add(M.log(M.reduce_sum(M.exp(M.subtract(x, m)), axis=ax, keepdims=True)), m)
        if not kd:
            axes = static_axes(ax, None if x.static_shape is None else len(x.static_shape), "ReduceLogSumExp")
            out = A.squeeze(out, axis=list(axes)) if axes else out
        return out


def norm(tensor: Any, ord: Any = "euclidean", axis: Any = None, keepdims: Any = None, name: str | None = None,
         keep_dims: Any = None) -> Tensor:
    """Vector norms over ``axis`` (all entries when None): "euclidean"/2, 1, or np.inf."""
    x = convert_to_tensor(tensor)
    kd = bool(keep_dims if keep_dims is not None else keepdims)
    if isinstance(axis, (list, tuple)) and len(axis) == 2 and ord not in ("euclidean", "fro"):
        raise NotImplementedError("tf.norm: matrix norms other than 'fro'/'euclidean' are not supported by nnctl")
    with name_scope(name, "norm"):
        if ord in ("euclidean", "fro", 2, 2.0):
            return M.sqrt(M.reduce_sum(M.square(x), axis=axis, keepdims=kd))
        if ord in (1, 1.0):
            return M.reduce_sum(M.abs(x), axis=axis, keepdims=kd)
        if ord == np.inf:
            return M.reduce_max(M.abs(x), axis=axis, keepdims=kd)
        raise ValueError(f"tf.norm: ord must be 'euclidean', 'fro', 1, 2 or np.inf, got {ord!r}")


def eye(num_rows: int, num_columns: int | None = None, batch_shape: Any = None, dtype: Any = dtypes.float32,
        name: str | None = None) -> Tensor:
    from nnctl.ops.state_ops import constant
    e = np.eye(int(num_rows), None if num_columns is None else int(num_columns), dtype=dtypes.as_dtype(dtype).np)
    if batch_shape is not None:
        e = np.broadcast_to(e, tuple(batch_shape) + e.shape).copy()
    return constant(e, name=name or "eye")


def linspace(start: Any, stop: Any, num: int, name: str | None = None, axis: int = 0) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (Python numbers)."""
    from nnctl.ops.state_ops import constant
    if isinstance(start, Tensor) or isinstance(stop, Tensor) or isinstance(num, Tensor):
        raise TypeError("tf.linspace: start, stop and num must be Python numbers in nnctl")
    dt = np.float64 if isinstance(start, np.float64) else np.float32
    return constant(np.linspace(start, stop, int(num), dtype=dt), name=name or "LinSpace")
