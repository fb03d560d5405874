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

from typing import Any, NamedTuple

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops, seq_jit
from nnctl.ops import math_ops as m
from nnctl.ops.core import convert_to_tensor, make_op, operand_pairs


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
                    name: str | None = None, moments: bool = False) -> list[Tensor]:
    """(dx, dgamma, dbeta) of LayerNorm (see the module doc). ``moments``: it stands for the
    gradient of a layer norm written with tf.nn.moments (``_moments_layer_norm``), whose second
    derivative follows that graph's (the mean inside the variance a stop_gradient)."""
    return make_op("LayerNormGrad", [dy, x, gamma, mean, rstd], attrs={"begin_norm_axis": begin_norm_axis,
                                                                       "moments": bool(moments)},
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


def _moments_backward_ops(dy: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, rstd: Tensor, k: int) -> list[Tensor]:
    """The first derivative of y = ((x - mean) rstd) gamma + beta as the per-op rules build it when
    mean and variance come from tf.nn.moments, as a function of LayerNormGrad's inputs: its
    derivatives are TF's second derivatives of that graph (the SquaredDifference's mean a
    stop_gradient, so nothing flows to the mean through the variance)."""
    ax, outer = _norm_axes(x, k), _outer_axes(x, gamma)
    xc = m.subtract(x, mean)
    db_ = m.multiply(dy, gamma)                           # d(xc rstd)
    dxc = m.multiply(db_, rstd)                           # d(x - mean), before the variance's share
    drstd = m.reduce_sum(m.multiply(db_, xc), axis=ax, keepdims=True)
    dvar = m.multiply(m.multiply(drstd, m.scalar_like(-0.5, rstd)), m.multiply(m.square(rstd), rstd))
    n = 1
    for a in ax:
        n *= x.static_shape[a]
    dsq = m.multiply(dvar, m.scalar_like(1.0 / n, dvar))  # the variance's mean, spread over its row
    two_xc = m.multiply(m.scalar_like(2.0, x), m.subtract(x, array_ops.stop_gradient(mean)))
    dmean = m.negative(m.reduce_sum(dxc, axis=ax, keepdims=True))
    dx = m.add(m.add(dxc, m.multiply(two_xc, dsq)), m.multiply(dmean, m.scalar_like(1.0 / n, dmean)))
    return [dx, m.reduce_sum(m.multiply(dy, m.multiply(xc, rstd)), axis=outer), m.reduce_sum(dy, axis=outer)]


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
    form = _moments_backward_ops if op.attrs.get("moments") else _backward_ops
    outs = form(*op.inputs, op.attrs["begin_norm_axis"])
    return gradients(outs, list(op.inputs), grad_ys=[_or_zeros(d, t) for d, t in zip((ddx, ddg, ddb), op.outputs)])


# --- a layer norm written with tf.nn.moments: its gradient as one LayerNormGrad ---------------------
#
# TF1 programs write layer norm as
#     mean, var = tf.nn.moments(h, axes=[-1], keep_dims=True)
#     y = (h - mean) * tf.rsqrt(var + eps) * gamma + beta       (or ... / tf.sqrt(var + eps) ...)
# or by hand, var = tf.reduce_mean(tf.squared_difference(h, mean)) (tensor2tensor) or
# tf.reduce_mean(tf.square(h - mean)), with mean = tf.reduce_mean(h, -1, keepdims=True), or as
# tf.nn.batch_normalization(h, mean, var, beta, gamma, eps) of such moments;
# whose per-op gradient is some twenty passes over h (the products' rules, the broadcasts' sums,
# the squared difference's, the AddN of four terms). When nothing else differentiates its interior
# (gradients.py checks), the whole gradient is LayerNormGrad(dy, h, gamma, mean, rstd): the same
# first derivative (the variance's share through the mean is zero at the mean, and the rest is the
# module doc's formula), one compiled pass. Its second derivative is that graph's: through
# tf.nn.moments' stop_gradient (``_moments_backward_ops``), or without one the exact one. The
# forward, whose interior the backward pass then no longer reads, binds as one LayerNorm row loop
# (``_moments_layer_norm_kernel``, runtime/subgraphs.py).

def _producer(t: Tensor, *types: str) -> Operation | None:
    return t.op if t.op.type in types else None


def _trailing_mean(t: Tensor, x: Tensor | None) -> tuple[Operation, Tensor, int] | None:
    """(the Mean op, its input, k) where t = reduce_mean(input, axes=[k .. rank-1], keepdims=True)
    (and the input is x, when given)."""
    op = _producer(t, "Mean")
    if op is None or not op.attrs.get("keepdims") or (x is not None and op.inputs[0] is not x):
        return None
    s = op.inputs[0].static_shape
    if s is None or not s:
        return None
    axes = sorted(a % len(s) for a in op.attrs["axis"])
    if not axes or axes != list(range(axes[0], len(s))):
        return None
    return op, op.inputs[0], axes[0]


class _Match(NamedTuple):
    """A layer norm written with tf.nn.moments: root = normalized * gamma + beta."""
    ops: list[Operation]   # the interior, the root first
    x: Tensor
    gamma: Tensor
    beta: Tensor
    mean: Tensor           # the Mean op's output
    r_t: Tensor            # rsqrt(var + eps) (``divides`` False) or sqrt(var + eps)
    divides: bool          # (x - mean) / sqrt(var + eps) rather than (x - mean) * rsqrt(var + eps)
    eps: Tensor
    k: int                 # the first normalized axis
    stopped: bool          # the variance's mean is a stop_gradient (tf.nn.moments), which its
                           # second derivative follows
    bn: bool = False       # tf.nn.batch_normalization's form: x * inv + (beta - mean * inv), inv = r_t * gamma


def _affine_ok(x: Tensor, gamma: Tensor, beta: Tensor, root: Operation) -> bool:
    """gamma and beta of one shape, x's trailing one, one float dtype of at least 32 bits, and the root's
    output of x's shape."""
    s, gs = x.static_shape, gamma.static_shape
    return not (gs is None or None in gs or gs != beta.static_shape or len(gs) > len(s)
                or tuple(s[len(s) - len(gs):]) != tuple(gs) or root.outputs[0].static_shape != s
                or not x.dtype == gamma.dtype == beta.dtype or not x.dtype.is_floating or x.dtype.np.itemsize < 4)


def _match(root: Operation) -> _Match | None:
    return _match_affine(root) or _match_bn(root)


def _match_affine(root: Operation) -> _Match | None:
    for a_t, beta in operand_pairs(root):
        mul_g = _producer(a_t, "Mul")
        if mul_g is None:
            continue
        for b_t, gamma in operand_pairs(mul_g):
            found = _normalized(b_t)
            if found is None:
                continue
            interior, x, mean, r_t, divides, eps, k, stopped = found
            if _affine_ok(x, gamma, beta, root):
                return _Match([root, mul_g, *interior], x, gamma, beta, mean, r_t, divides, eps, k, stopped)
    return None


def _match_bn(root: Operation) -> _Match | None:
    """tf.nn.batch_normalization(x, mean, var, beta, gamma, eps) over moments of x's trailing axes:
    root = x * inv + (beta - mean * inv) with inv = rsqrt(var + eps) * gamma (nn_ops.py's ops)."""
    for p_t, s_t in operand_pairs(root):
        p_op, sub = _producer(p_t, "Mul"), _producer(s_t, "Sub")
        if p_op is None or sub is None:
            continue
        beta, mi_t = sub.inputs
        mi = _producer(mi_t, "Mul")
        for x, inv_t in operand_pairs(p_op):
            inv = _producer(inv_t, "Mul")
            if inv is None or mi is None or inv_t not in mi.inputs:
                continue
            mean = mi.inputs[1] if mi.inputs[0] is inv_t else mi.inputs[0]
            for r_t, gamma in operand_pairs(inv):
                r_op = _producer(r_t, "Rsqrt")
                found = _trailing_mean(mean, x)
                var = None if r_op is None else _variance(r_op.inputs[0], x, mean)
                if found is None or var is None or found[2] != var[1] or not _affine_ok(x, gamma, beta, root):
                    continue
                ops = [root, p_op, sub, mi, inv, r_op, found[0], *var[0]]
                return _Match(ops, x, gamma, beta, mean, r_t, False, var[2], found[2], var[3], bn=True)
    return None


def _moments_layer_norm(root: Operation) -> registry.SubgraphGradient | None:
    f = _match(root)
    if f is None:
        return None

    def rule(dy: Tensor) -> list:
        rstd = m.reciprocal(f.r_t) if f.divides else f.r_t
        return layer_norm_grad(dy, f.x, f.gamma, f.mean, rstd, f.k, moments=f.stopped)
    return registry.SubgraphGradient(interior=f.ops, inputs=[f.x, f.gamma, f.beta], rule=rule)


def _moments_layer_norm_kernel(root: Operation) -> registry.SubgraphKernel | None:
    """The forward of such a layer norm as one LayerNorm row loop (runtime/subgraphs.py), writing y,
    the mean and the rsqrt (the sqrt, for a division by it), where that loop does the ops' arithmetic
    in their order: over the last axis alone (numpy reduces one axis in the row sums' order), a
    loop per form (x * rsqrt, x / sqrt, tf.nn.batch_normalization's) and a scalar constant eps. Any
    other form runs op by op."""
    f = _match(root)
    if f is None or f.k != len(f.x.static_shape) - 1 or f.eps.static_shape is None or any(
            d != 1 for d in f.eps.static_shape) or f.eps.dtype != f.x.dtype:
        return None
    k = f.k

    def bind(ctx: Any, ins: list[Any]) -> Any:
        x, gamma, beta, eps = ins
        n, d = _rows(x.shape, k)
        jit = seq_jit.kernels(ctx, x)
        if (jit is None or not 0 < d <= seq_jit.MAX_ROW or not gamma.size or d % gamma.size
                or not seq_jit.host_ok(jit, x, gamma, beta)):
            return None
        e = x.dtype.type(eps.reshape(-1)[0])  # a host constant (seq_jit.kernels: host memory)

        kernel = jit.layer_norm_bn if f.bn else jit.layer_norm_div if f.divides else jit.layer_norm

        def make(outs: list[Any]) -> Any:
            y, mean, rstd = outs
            return kernel.bind(x.reshape(n, d), gamma.reshape(-1), beta.reshape(-1), e, y.reshape(n, d),
                                       mean.reshape(-1), rstd.reshape(-1))
        return make
    return registry.SubgraphKernel(interior=f.ops, inputs=[f.x, f.gamma, f.beta, f.eps],
                                   outputs=[root.outputs[0], f.mean, f.r_t], bind=bind, const_inputs=(3,))


def _normalized(t: Tensor) -> tuple[list[Operation], Tensor, Tensor, Tensor, bool, Tensor, int, bool] | None:
    """(interior ops, x, mean, r_t, divides, eps, k, stopped) where t = (x - mean) * r_t or r_t * (x - mean)
    with r_t = rsqrt(var + eps), or (x - mean) / r_t with r_t = sqrt(var + eps) (``divides``), mean
    and var tf.nn.moments' over x's trailing axes from k (keep_dims=True)."""
    op = _producer(t, "Mul", "RealDiv")
    if op is None:
        return None
    cands = operand_pairs(op) if op.type == "Mul" else [tuple(op.inputs)]
    for c_t, r_t in cands:
        sub = _producer(c_t, "Sub")
        r_op = _producer(r_t, "Rsqrt" if op.type == "Mul" else "Sqrt")
        if sub is None or r_op is None:
            continue
        x, mean = sub.inputs
        found = _trailing_mean(mean, x)
        var = _variance(r_op.inputs[0], x, mean)
        if found is None or var is None or found[2] != var[1]:
            continue
        # the variance's x - mean may be this very Sub (xc = x - mean, written once)
        interior = [op, sub, r_op, found[0], *(v for v in var[0] if v is not sub)]
        return interior, x, mean, r_t, op.type == "RealDiv", var[2], found[2], var[3]
    return None


def _variance(t: Tensor, x: Tensor, mean: Tensor) -> tuple[list[Operation], int, Tensor, bool] | None:
    """(interior ops, k, eps, stopped) where t = var + eps (either order, eps of the variance's shape) and var is
    tf.nn.moments' variance of x about ``mean`` (the mean itself or its stop_gradient): the mean of
    SquaredDifference(x, mean), or of Square(x - mean) as hand-written layer norms have it."""
    add = _producer(t, "AddV2", "Add")
    if add is None or add.outputs[0].static_shape != mean.static_shape:
        return None
    for v_t, eps in operand_pairs(add):
        found = _trailing_mean(v_t, None)
        if found is None:
            continue
        sq = _producer(found[1], "SquaredDifference")
        ops = [add, found[0]]
        if sq is not None:
            ops.append(sq)
        else:  # reduce_mean(tf.square(x - mean)): the same values, as Square(Sub) computes them
            square = _producer(found[1], "Square")
            sq = None if square is None else _producer(square.inputs[0], "Sub")
            if sq is None:
                continue
            ops += [square, sq]
        if sq.inputs[0] is not x:
            continue
        centre = sq.inputs[1]
        if centre is not mean:
            stop = _producer(centre, "StopGradient")
            if stop is None or stop.inputs[0] is not mean:
                continue
            ops.append(stop)
        return ops, found[2], eps, centre is not mean
    return None


for _root in ("AddV2", "Add"):
    registry.register_subgraph_gradient(_root)(_moments_layer_norm)
    registry.register_subgraph_kernel(_root)(_moments_layer_norm_kernel)
