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
from nnctl.ops.core import convert_to_tensor, make_op, static_axes, unbroadcast


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


# --- einsum -------------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _einsum_explicit(equation: str, shapes: list[tuple | None]) -> tuple[list[str], str]:
    """Parse ``equation`` into per-operand subscripts and output subscripts, all explicit letters.

    ``...`` becomes fresh letters (one per broadcast dimension, aligned from the right as in numpy);
    an equation without ``->`` gets numpy's/TF's implicit output: the ellipsis dimensions, then the
    letters that occur exactly once, in alphabetical order."""
    def bad(why: str) -> ValueError:
        return ValueError(f"einsum '{equation}' with operand shapes [{', '.join(fmt(s) for s in shapes)}]: {why}")

    def fmt(s: tuple | None) -> str:
        return "<unknown>" if s is None else "(" + ", ".join("?" if d is None else str(d) for d in s) + ")"

    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    if "->" in rhs:
        raise bad("more than one '->'")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise bad(f"the equation names {len(ins)} operand(s) but {len(shapes)} were given")
    for part in ins + ([rhs] if arrow else []):
        rest = part.replace("...", "")
        if "." in rest or any(c not in _LETTERS for c in rest):
            raise bad(f"subscripts {part!r} may hold only letters and one '...'")
        if part.count("...") > 1:
            raise bad(f"subscripts {part!r} hold '...' more than once")
    used = set(c for c in eq if c in _LETTERS)
    fresh = [c for c in _LETTERS if c not in used]
    # the number of dimensions '...' stands for: the most over the operands (numpy broadcasts them)
    n_ell = 0
    for part, s in zip(ins, shapes):
        if "..." in part:
            if s is None:
                raise bad(f"operand subscripts {part!r} hold '...', which needs the operand's rank to be known")
            n = len(s) - (len(part) - 3)
            if n < 0:
                raise bad(f"operand subscripts {part!r} name more dimensions than its rank {len(s)}")
            n_ell = max(n_ell, n)
    if n_ell > len(fresh):
        raise bad("too many dimensions under '...'")
    ell = "".join(fresh[:n_ell])
    out_ins = []
    for part, s in zip(ins, shapes):
        if "..." in part:
            n = len(s) - (len(part) - 3)
            part = part.replace("...", ell[n_ell - n:])
        if s is not None and len(part) != len(s):
            raise bad(f"operand subscripts {part!r} name {len(part)} dimension(s) but the operand has rank {len(s)}")
        out_ins.append(part)
    if arrow:
        if "..." in rhs:
            rhs = rhs.replace("...", ell)
        elif ell and any("..." in p for p in ins):
            raise bad("output subscripts must hold '...' when an operand's do")
        if len(set(rhs)) != len(rhs):
            raise bad(f"output subscripts {rhs!r} name a letter twice")
        missing_ = [c for c in rhs if c not in "".join(out_ins)]
        if missing_:
            raise bad(f"output subscript(s) {''.join(missing_)!r} occur in no operand")
    else:
        joined = "".join(p for p in lhs.replace("...", "").split(","))
        rhs = ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    return out_ins, rhs


def einsum(equation: str, *inputs: Any, **kwargs: Any) -> Tensor:
    """``tf.einsum(equation, *inputs, name=None)``: a sum of products over the named subscripts.

    Letters shared by operands are multiplied together; letters absent from the output are summed
    over; ``...`` stands for broadcast leading dimensions. The op keeps the equation with ``...``
    spelled out as letters, so its gradient (another einsum) needs no parsing."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"einsum: unexpected keyword argument(s) {sorted(kwargs)}")
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {equation!r}")
    if not inputs:
        raise ValueError(f"einsum '{equation}': no operands given")
    ts = [convert_to_tensor(x) for x in inputs]
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(f"einsum '{equation}': operands have different dtypes ({ts[0].name} is "
                            f"{ts[0].dtype.name}, {t.name} is {t.dtype.name})")
    if ts[0].dtype.is_bool:
        raise TypeError(f"einsum '{equation}': bool operands are not accepted")
    shapes = [t.static_shape for t in ts]
    subs, out = _einsum_explicit(equation, shapes)
    shown = ", ".join("<unknown>" if s is None else str(list(s)) for s in shapes)
    # static size of each letter; 1 broadcasts against any size (numpy's rule), others must agree
    size: dict[str, int | None] = {}
    for part, s in zip(subs, shapes):
        if s is None:
            continue
        for c, d in zip(part, s):
            prev = size.get(c)
            if d is None:
                size.setdefault(c, None)
            elif prev is None or prev == 1:
                size[c] = d
            elif d != 1 and d != prev:
                raise ValueError(f"einsum '{equation}': subscript {c!r} has size {prev} in one operand and {d} "
                                 f"in another (operand shapes {shown})")
    shape = None if any(s is None for s in shapes) else tuple(size.get(c) for c in out)
    return make_op("Einsum", ts, attrs={"equation": ",".join(subs) + "->" + out}, shape=shape,
                   dtype=ts[0].dtype, name=name or "einsum")


@registry.register_kernel("Einsum", out=False)
def _einsum_kernel(op: Operation, ctx: Any) -> Any:
    xp, eq = ctx.xp, op.attrs["equation"]
    paths: dict[tuple, Any] = {}

    def run(*ops: Any) -> Any:
        if len(ops) == 1:
            return xp.einsum(eq, ops[0])
        # the contraction order (pairwise, through BLAS where it can) is planned once per shape set,
        # from the shapes alone (zero-stride stand-ins, so no data moves)
        key = tuple(o.shape for o in ops)
        path = paths.get(key)
        if path is None:
            stand_ins = [np.broadcast_to(np.zeros((), np.float64), o.shape) for o in ops]
            path = paths[key] = np.einsum_path(eq, *stand_ins, optimize="greedy")[0]
        return xp.einsum(eq, *ops, optimize=path)
    return run


@registry.register_gradient("Einsum")
def _einsum_grad(op: Operation, dy: Tensor) -> list[Tensor]:
    """d/dx_i of einsum(s_1, ..., s_n -> s_o) is einsum(s_o, s_j (j != i) -> s_i) applied to dy and
    the other operands. Letters of s_i that occur nowhere else were summed over only in x_i: the
    gradient is constant along them, so a ones_like(x_i) operand carries them into the result; a
    size-1 dimension that broadcast is summed back by unbroadcast."""
    lhs, out = op.attrs["equation"].split("->")
    subs = lhs.split(",")
    grads = []
    for i, x in enumerate(op.inputs):
        s = subs[i]
        if len(set(s)) != len(s):
            raise ValueError(f"einsum '{op.attrs['equation']}' ({op.name}): no gradient for an operand whose "
                             f"subscripts {s!r} repeat a letter (a diagonal)")
        others = [subs[j] for j in range(len(subs)) if j != i]
        terms, operands = [out] + others, [dy] + [op.inputs[j] for j in range(len(subs)) if j != i]
        if any(c not in "".join(terms) for c in s):
            terms.append(s)
            operands.append(A.ones_like(x))
        g = einsum(",".join(terms) + "->" + s, *operands)
        grads.append(unbroadcast(g, x))
    return grads
