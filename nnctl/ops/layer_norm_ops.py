"""Layer normalisation as one op, and its gradient as another.

Built from tf.nn.moments, a layer norm is some fifteen plan steps forward (two means, a squared
difference, an rsqrt, the affine) and more backward, each a pass over the activations. Here:

    LayerNorm(x, gamma, beta; begin_norm_axis, epsilon) -> (y, mean, rstd)
      over the trailing axes x[..., begin_norm_axis:] (D elements per row):
      mean = sum(x) / D,  xc = x - mean,  var = sum(xc * xc) / D,  rstd = 1 / sqrt(var + epsilon)
      y = (xc * rstd) * gamma + beta          (gamma, beta: the trailing axes x[..., k:])

    LayerNormGrad(dy, x, gamma, mean, rstd) -> (dx, dgamma, dbeta)
      xhat = (x - mean) rstd,  g = dy gamma
      dx = rstd (g - mean(g) - xhat mean(g xhat))    (means over a row)
      dgamma = sum(dy xhat),  dbeta = sum(dy)        (sums over everything but gamma's axes)

mean and rstd (keepdims shape) are what the gradient needs, so it never recomputes a reduction
over x's squares. For a second derivative both rules differentiate the same maths written with
graph ops (``_forward_ops``, ``_backward_ops``), built only when one is asked for; the second
derivative is the exact one (TF1's moments-based layer norm stops the gradient through the mean
inside the variance, which makes its second derivative partial).

On host memory with rows of up to seq_jit.MAX_ROW elements the steps are compiled loops
(seq_jit.layer_norm / layer_norm_grad) with the xp code's arithmetic in the xp code's order (row
sums in numpy's pairwise order), so both paths give the same bits; elsewhere the xp code runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops, seq_jit
from nnctl.ops import math_ops as m
from nnctl.ops.core import convert_to_tensor, make_op


def layer_norm_op(x: Any, gamma: Any, beta: Any, begin_norm_axis: int, epsilon: float,
                  name: str | None = None) -> list[Tensor]:
    """(y, mean, rstd) of the fused op (see the module doc). ``gamma`` and ``beta`` have the shape of
    a trailing part of x's shape (any number of its last axes, fully known); rank must be known."""
    x = convert_to_tensor(x)
    gamma = convert_to_tensor(gamma, dtype=x.dtype)
    beta = convert_to_tensor(beta, dtype=x.dtype)
    s, gs, bs = x.static_shape, gamma.static_shape, beta.static_shape
    desc = f"LayerNorm '{name or 'LayerNorm'}'"
    if not x.dtype.is_floating:
        raise TypeError(f"{desc}: x {x.name} must be a float tensor, got {x.dtype.name}")
    if s is None:
        raise ValueError(f"{desc}: x {x.name} needs a known rank")
    r = len(s)
    if not 0 <= begin_norm_axis < r:
        raise ValueError(f"{desc}: begin_norm_axis {begin_norm_axis} must be in [0, {r}) for x of shape {fmt_shape(s)}")
    for what, ps in (("gamma", gs), ("beta", bs)):
        if ps is None or None in ps or len(ps) > r or tuple(s[r - len(ps):]) != tuple(ps):
            raise ValueError(f"{desc}: {what} of shape {fmt_shape(ps)} must be the trailing part of x's shape "
                             f"{fmt_shape(s)}")
    if gs != bs:
        raise ValueError(f"{desc}: gamma {fmt_shape(gs)} and beta {fmt_shape(bs)} must have one shape")
    stat = tuple(s[:begin_norm_axis]) + (1,) * (r - begin_norm_axis)
    return make_op("LayerNorm", [x, gamma, beta], attrs={"begin_norm_axis": begin_norm_axis,
                                                         "epsilon": float(epsilon)},
                   name=name or "LayerNorm", outputs=[(s, x.dtype), (stat, x.dtype), (stat, x.dtype)])


def layer_norm_grad(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, begin_norm_axis: int,
                    name: str | None = None) -> list[Tensor]:
    """(dx, dgamma, dbeta) of LayerNorm (see the module doc)."""
    return make_op("LayerNormGrad", [dy, x, gamma, mean, rstd], attrs={"begin_norm_axis": begin_norm_axis},
                   name=name or "LayerNormGrad",
                   outputs=[(x.static_shape, x.dtype), (gamma.static_shape, x.dtype), (gamma.static_shape, x.dtype)])


def _rows(shape: tuple, k: int) -> tuple[int, int]:
    n = int(np.prod(shape[:k], dtype=np.int64))
    return n, int(np.prod(shape[k:], dtype=np.int64))


def _into(xp: Any, out: Any, res: tuple) -> tuple:
    """The xp path's results, copied into the plan's buffers when it gave some."""
    if out is None:
        return res
    for o, r in zip(out, res):
        xp.copyto(o, r)
    return tuple(out)


@registry.register_kernel("LayerNorm")
def _layer_norm_kernel(op: Operation, ctx: Any) -> Any:
    xp, k = ctx.xp, op.attrs["begin_norm_axis"]
    dt = op.outputs[0].dtype.np
    eps, one = xp.asarray(op.attrs["epsilon"], dtype=dt), xp.asarray(1, dtype=dt)

    def run(x: Any, gamma: Any, beta: Any, out: Any = None) -> Any:
        n, d = _rows(x.shape, k)
        stat = x.shape[:k] + (1,) * (x.ndim - k)
        jit = seq_jit.kernels(ctx, x)
        if jit is not None and d <= seq_jit.MAX_ROW and gamma.size and d % gamma.size == 0:
            y, mean, rstd = out if out is not None else (
                np.empty(x.shape, x.dtype), np.empty(stat, x.dtype), np.empty(stat, x.dtype))
            if seq_jit.host_ok(jit, x, gamma, beta, y, mean, rstd):
                jit.layer_norm(x.reshape(n, d), gamma.reshape(-1), beta.reshape(-1), x.dtype.type(op.attrs["epsilon"]),
                               y.reshape(n, d), mean.reshape(-1), rstd.reshape(-1))
                return y, mean, rstd
        x2 = xp.reshape(x, (n, d))
        mean = xp.sum(x2, axis=1, keepdims=True) / d
        xc = x2 - mean
        rstd = one / xp.sqrt(xp.sum(xc * xc, axis=1, keepdims=True) / d + eps)
        y = xp.reshape(xc * rstd, x.shape) * gamma + beta
        return _into(xp, out, (y, xp.reshape(mean, stat), xp.reshape(rstd, stat)))
    return run


@registry.register_kernel("LayerNormGrad")
def _layer_norm_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp, k = ctx.xp, op.attrs["begin_norm_axis"]

    def run(dy: Any, x: Any, gamma: Any, mean: Any, rstd: Any, out: Any = None) -> Any:
        n, d = _rows(x.shape, k)
        p = gamma.size
        jit = seq_jit.kernels(ctx, x)
        if jit is not None and d <= seq_jit.MAX_ROW and p and d % p == 0 and dy.shape == x.shape:
            dx, dg, db = out if out is not None else (
                np.empty(x.shape, x.dtype), np.empty(gamma.shape, x.dtype), np.empty(gamma.shape, x.dtype))
            if seq_jit.host_ok(jit, dy, x, gamma, mean, rstd, dx, dg, db):
                jit.layer_norm_grad(dy.reshape(n, d), x.reshape(n, d), gamma.reshape(-1), mean.reshape(-1),
                                    rstd.reshape(-1), dx.reshape(n, d), dg.reshape(-1), db.reshape(-1))
                return dx, dg, db
        m2, r2 = xp.reshape(mean, (n, 1)), xp.reshape(rstd, (n, 1))
        xhat = (xp.reshape(x, (n, d)) - m2) * r2
        g = xp.reshape(dy * gamma, (n, d))
        mg = xp.sum(g, axis=1, keepdims=True) / d
        mgx = xp.sum(g * xhat, axis=1, keepdims=True) / d
        dx = r2 * ((g - mg) - xhat * mgx)
        dyxh = xp.reshape(dy, (n, d)) * xhat
        dg = xp.reshape(xp.sum(xp.reshape(dyxh, (-1, p)), axis=0), gamma.shape)
        db = xp.reshape(xp.sum(xp.reshape(dy, (-1, p)), axis=0), gamma.shape)
        return _into(xp, out, (xp.reshape(dx, x.shape), dg, db))
    return run


# --- the same maths as graph ops: what the second-order rules differentiate -----------------------

def _norm_axes(x: Tensor, k: int) -> list[int]:
    return list(range(k, len(x.static_shape)))


def _outer_axes(x: Tensor, gamma: Tensor) -> list[int]:
    return list(range(len(x.static_shape) - len(gamma.static_shape)))


def _forward_ops(x: Tensor, gamma: Tensor, beta: Tensor, k: int, epsilon: float) -> list[Tensor]:
    ax = _norm_axes(x, k)
    mean = m.reduce_mean(x, axis=ax, keepdims=True)
    xc = m.subtract(x, mean)
    var = m.reduce_mean(m.multiply(xc, xc), axis=ax, keepdims=True)
    rstd = m.reciprocal(m.sqrt(m.add(var, m.scalar_like(epsilon, var))))
    return [m.add(m.multiply(m.multiply(xc, rstd), gamma), beta), mean, rstd]


def _backward_ops(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, k: int) -> list[Tensor]:
    ax, outer = _norm_axes(x, k), _outer_axes(x, gamma)
    xhat = m.multiply(m.subtract(x, mean), rstd)
    g = m.multiply(dy, gamma)
    mg = m.reduce_mean(g, axis=ax, keepdims=True)
    mgx = m.reduce_mean(m.multiply(g, xhat), axis=ax, keepdims=True)
    dx = m.multiply(rstd, m.subtract(m.subtract(g, mg), m.multiply(xhat, mgx)))
    return [dx, m.reduce_sum(m.multiply(dy, xhat), axis=outer), m.reduce_sum(dy, axis=outer)]


def _or_zeros(d: Tensor | None, like: Tensor) -> Tensor:
    return array_ops.zeros_like(like) if d is None else d


@registry.register_gradient("LayerNorm", takes_none=True)
def _layer_norm_rule(op: Operation, dy: Tensor | None, dmean: Tensor | None, drstd: Tensor | None) -> list:
    x, gamma, beta = op.inputs
    k = op.attrs["begin_norm_axis"]
    if dmean is None and drstd is None:  # the first derivative: one fused op
        return layer_norm_grad(_or_zeros(dy, op.outputs[0]), x, gamma, op.outputs[1], op.outputs[2], k)
    # mean or rstd is differentiated itself (a second derivative through LayerNormGrad): the
    # graph-op form of the step
    from nnctl.graph.gradients import gradients
    outs = _forward_ops(x, gamma, beta, k, op.attrs["epsilon"])
    return gradients(outs, [x, gamma, beta], grad_ys=[_or_zeros(d, t) for d, t in zip((dy, dmean, drstd),
                                                                                    op.outputs)])


@registry.register_gradient("LayerNormGrad", takes_none=True)
def _layer_norm_grad_rule(op: Operation, ddx: Tensor | None, ddg: Tensor | None, ddb: Tensor | None) -> list:
    from nnctl.graph.gradients import gradients
    outs = _backward_ops(*op.inputs, op.attrs["begin_norm_axis"])
    return gradients(outs, list(op.inputs), grad_ys=[_or_zeros(d, t) for d, t in zip((ddx, ddg, ddb), op.outputs)])
