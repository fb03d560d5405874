"""TF's fused batch norm: ``FusedBatchNormV3`` and its gradient ``FusedBatchNormGradV3`` (NHWC).

``tf.nn.moments`` + ``tf.nn.batch_normalization`` over a [N, H, W, C] tensor is some ten passes of
primitive ops over the whole tensor forward and as many backward; here the statistics are one
kernel and the normalization another, and the gradient one kernel (TF's CPU semantics):

    FusedBatchNormV3(x [N,H,W,C], scale, offset, mean, variance; epsilon, is_training)
        -> (y, batch_mean, batch_variance, reserve_space_1, reserve_space_2)
      training: mu, s2 = mean and biased variance of x over N, H, W (M = N H W values per channel)
                y = (x - mu) * (scale / sqrt(s2 + eps)) + offset
                batch_mean = mu, batch_variance = s2 * M / (M - 1) (Bessel), reserve = (mu, s2)
      inference: the same y with the given mean and variance; those are copied to the other outputs

    FusedBatchNormGradV3(dy, x, scale, reserve_space_1, reserve_space_2; epsilon) -> (dx, dscale, doffset)
      with r = 1 / sqrt(s2 + eps), xhat = (x - mu) r and sums over N, H, W:
      dscale = sum(dy xhat), doffset = sum(dy),
      dx = scale r / M * (M dy - sum(dy) - xhat sum(dy xhat))
         = dy * k1 + (x - mu) * k2 + k3,  k1 = scale r, k2 = -k1 r dscale / M, k3 = -k1 doffset / M

(TF's V3 op has a sixth output, reserve_space_3, empty on CPU; nnctl's has five.)

The statistics and the per-channel coefficients accumulate in float64 for float32 inputs (the
sums are over up to millions of values; float64 keeps them exact to well below float32's
rounding); y and dx are computed in x's dtype. On host memory the passes are compiled loops
(``_build``); elsewhere the same operations are xp calls. Both sum each channel row by row in
order, as numpy's reduction over a leading axis does, and apply the same float operations in
the same order, so the two paths give the same bits (the strict-device tests compare them).

Gradients: the first derivative of the training-mode op, when only ``y`` is differentiated, is
the fused gradient op. Anything else (gradients arriving at the statistics outputs, inference
mode, or the gradient of FusedBatchNormGradV3 itself) differentiates the same maths written with
graph ops (``_forward_ops``, ``_backward_ops``), so derivatives of every order are exact.
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.backends.blas_threads import workers_spinning
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, name_scope
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops
from nnctl.ops import math_ops as m
from nnctl.ops.core import convert_to_tensor, make_op
from nnctl.runtime.native import MIN_ELEMENTS, Kernel, compiled, enabled, host_arrays
from nnctl.runtime.parallel import gemm_threads, split_step

_AXES = [0, 1, 2]
# TF clamps epsilon to cuDNN's minimum in tf.nn.fused_batch_norm (nn_impl.py)
MIN_EPSILON = 1.001e-5


# --- graph builders ------------------------------------------------------------------------------

def _channels(x: Tensor, what: str) -> int:
    s = x.static_shape
    if s is None or len(s) != 4 or s[3] is None:
        raise ValueError(f"{what}: x must be a rank-4 NHWC tensor with a known channel count, got "
                         f"{x.name} of shape {s}")
    return int(s[3])


def _vec(v: Any, x: Tensor, c: int, what: str, name: str) -> Tensor:
    t = convert_to_tensor(v, dtype=None if isinstance(v, Tensor) else x.dtype)
    if t.dtype != x.dtype:
        raise TypeError(f"{what}: {name} {t.name} has dtype {t.dtype.name} but x has {x.dtype.name}")
    s = t.static_shape
    if s is not None and (len(s) != 1 or s[0] not in (None, c)):
        raise ValueError(f"{what}: {name} must be a vector of the {c} channels, got shape {s}")
    return t


def fusable(x: Tensor) -> bool:
    """The fused op applies to x: rank 4 (read as NHWC) with a known channel count, float32 or float64
    (TF fuses exactly rank-4 inputs normalized over their last axis)."""
    s = x.static_shape
    return (s is not None and len(s) == 4 and s[3] is not None and x.dtype in (dtypes.float32, dtypes.float64))


def fused_batch_norm_v3(x: Tensor, scale: Tensor, offset: Tensor, mean: Tensor, variance: Tensor,
                        epsilon: float, is_training: bool, name: str | None = None) -> list[Tensor]:
    """The raw op: (y, batch_mean, batch_variance, reserve_space_1, reserve_space_2)."""
    c = _channels(x, "FusedBatchNormV3")
    dt = x.dtype
    return make_op("FusedBatchNormV3", [x, scale, offset, mean, variance], name=name,
                   attrs={"epsilon": float(epsilon), "is_training": bool(is_training), "data_format": "NHWC"},
                   outputs=[(x.static_shape, dt)] + [((c,), dt)] * 4)


def fused_batch_norm_grad_v3(dy: Tensor, x: Tensor, scale: Tensor, reserve_1: Tensor, reserve_2: Tensor,
                             epsilon: float, name: str | None = None) -> list[Tensor]:
    """(dx, dscale, doffset) of the training-mode op from its saved batch mean and variance."""
    c = _channels(x, "FusedBatchNormGradV3")
    dt = x.dtype
    return make_op("FusedBatchNormGradV3", [dy, x, scale, reserve_1, reserve_2], name=name,
                   attrs={"epsilon": float(epsilon), "is_training": True, "data_format": "NHWC"},
                   outputs=[(x.static_shape, dt), ((c,), dt), ((c,), dt)])


def fused_batch_norm(x: Any, scale: Any, offset: Any = None, mean: Any = None, variance: Any = None,
                     epsilon: float = 0.001, data_format: str = "NHWC", is_training: bool = True,
                     name: str | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``tf.nn.fused_batch_norm`` (TF1): (y, batch_mean, batch_variance) of a rank-4 NHWC x.

    Training: batch statistics; batch_variance is Bessel-corrected (M / (M - 1)), as TF's. Inference
    (``is_training=False``): normalizes by the given ``mean`` and ``variance`` and returns them.
    ``data_format="NCHW"`` runs the NHWC op between two transposes, as TF's CPU kernel does."""
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"fused_batch_norm: data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
    x = convert_to_tensor(x)
    if data_format == "NCHW":
        if x.static_shape is not None and len(x.static_shape) != 4:
            raise ValueError(f"fused_batch_norm: NCHW x {x.name} must have rank 4, got shape "
                             f"{fmt_shape(x.static_shape)}")
        with name_scope(name or "FusedBatchNormV3"):
            y, bm, bv = fused_batch_norm(array_ops.transpose(x, [0, 2, 3, 1]), scale, offset, mean, variance,
                                         epsilon, "NHWC", is_training, name="nhwc")
            return array_ops.transpose(y, [0, 3, 1, 2]), bm, bv
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeError(f"fused_batch_norm: x {x.name} must be float32 or float64, got {x.dtype.name}")
    c = _channels(x, "fused_batch_norm")
    with name_scope(name or "FusedBatchNormV3"):
        scale = _vec(scale, x, c, "fused_batch_norm", "scale")
        offset = _vec(np.zeros(c) if offset is None else offset, x, c, "fused_batch_norm", "offset")
        if not is_training and (mean is None or variance is None):
            raise ValueError("fused_batch_norm: inference (is_training=False) needs mean and variance")
        empty = np.zeros(0)
        mean = _vec(empty if mean is None else mean, x, c if mean is not None else 0, "fused_batch_norm", "mean")
        variance = _vec(empty if variance is None else variance, x, c if variance is not None else 0,
                        "fused_batch_norm", "variance")
        y, bm, bv, _, _ = fused_batch_norm_v3(x, scale, offset, mean, variance, max(float(epsilon), MIN_EPSILON),
                                              bool(is_training), name="FusedBatchNormV3")
    return y, bm, bv


# --- compiled loops (host memory, nnctl/csrc/bn.c) ------------------------------------------------

def _build(lib: Any, threads: int) -> SimpleNamespace:
    # stats(x [M, C], mean, var float64 [C]); apply(x, mu, a, offset, y): y = (x - mu) a + offset;
    # grad_sums(dy, x, mu float64, sdy, sdyx float64); grad_apply(dy, x, mu, k1, k2, k3, dx):
    # dx = (dy k1 + (x - mu) k2) + k3. The extents come from x.
    ks = {name: Kernel(lib, "bn_" + name, spec, checked=name in ("stats", "grad_sums")) for name, spec in (
        ("stats", "addii"), ("apply", "aaaaaii"), ("grad_sums", "aadddii"), ("grad_apply", "aaaaaaaii"))}

    def call(name: str, x_at: int) -> Any:
        k = ks[name]
        return lambda *arrays: k(*arrays, *arrays[x_at].shape)

    def rows_split(name: str, row_arrays: tuple[int, ...]) -> Any:
        # the elementwise applications over blocks of rows at once (each value is computed alike
        # whatever block holds it): the threads the direct convolutions around them use, one while
        # BLAS's workers busy-wait (blas_threads.workers_spinning)
        k = ks[name]

        def run(*arrays: Any) -> None:
            rows, cols = arrays[row_arrays[0]].shape

            def block(lo: int, hi: int) -> Any:
                part = [a[lo:hi] if i in row_arrays else a for i, a in enumerate(arrays)]
                return partial(k, *part, hi - lo, cols)
            split_step(block, rows, 1 if workers_spinning() else threads)()
        return run
    return SimpleNamespace(stats=call("stats", 0), apply=rows_split("apply", (0, 4)),
                           grad_sums=call("grad_sums", 1), grad_apply=rows_split("grad_apply", (0, 1, 6)))


def _host_kernels(ctx: Any, *arrays: Any) -> Any:
    """The compiled loops when they apply: host memory (asked of the backend), the big array at least
    runtime.native's MIN_ELEMENTS, every array an aligned C-contiguous numpy array of one
    float32/float64 dtype, and two or more channels (with one channel numpy's reduction is pairwise over the
    contiguous axis, not the row-by-row order the loops follow)."""
    x = arrays[0]
    if not ctx.backend.host_memory or x.size < MIN_ELEMENTS or not enabled() or x.shape[-1] < 2:
        return None
    threads = gemm_threads()
    return compiled(("bn", threads), partial(_build, threads=threads)) if host_arrays(x.dtype, arrays) else None


# --- kernels -------------------------------------------------------------------------------------

class _Scratch:
    def __init__(self, xp: Any) -> None:
        self.xp, self.bufs = xp, {}

    def __call__(self, tag: str, shape: tuple, dtype: Any) -> Any:
        key = (tag, shape, np.dtype(dtype))
        if key not in self.bufs:
            self.bufs[key] = self.xp.empty(shape, dtype=dtype)
        return self.bufs[key]


@registry.register_kernel("FusedBatchNormV3")
def _fused_bn_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    eps, training = op.attrs["epsilon"], op.attrs["is_training"]
    tmp = _Scratch(xp)
    f64 = np.float64

    def run(x: Any, scale: Any, offset: Any, mean: Any, var: Any, out: Any = None) -> Any:
        c = x.shape[-1]
        rows = x.size // c
        dt = x.dtype
        if out is None:
            # C order whatever x's strides (a transpose's view): y.reshape below must be a view
            y = xp.empty(x.shape, dtype=dt)
            bm, bv, r1, r2 = (xp.empty((c,), dtype=dt) for _ in range(4))
        else:
            y, bm, bv, r1, r2 = out
        x2, y2 = x.reshape(rows, c), y.reshape(rows, c)
        jit = _host_kernels(ctx, x, y, scale, offset)
        if training:
            mu64, s264 = tmp("mu", (c,), f64), tmp("s2", (c,), f64)
            if jit is not None:
                jit.stats(x2, mu64, s264)
            else:
                d = tmp("d", (rows, c), f64)
                d[...] = x2                             # float64 copy of x
                xp.sum(d, axis=0, out=mu64)
                xp.divide(mu64, rows, out=mu64)
                xp.subtract(d, mu64, out=d)
                xp.multiply(d, d, out=d)
                xp.sum(d, axis=0, out=s264)
                xp.divide(s264, rows, out=s264)
            r1[...] = mu64
            r2[...] = s264
            bm[...] = mu64
            bv[...] = s264 * (rows / (rows - 1) if rows > 1 else 1.0)   # TF's Bessel factor
        else:
            mu64, s264 = mean.astype(f64), var.astype(f64)
            bm[...], bv[...], r1[...], r2[...] = mean, var, mean, var
        # per channel: a = scale / sqrt(s2 + eps), in float64, then x's dtype
        a = (scale.astype(f64) / xp.sqrt(s264 + eps)).astype(dt)
        mu = r1 if training else mean
        if jit is not None and mu.flags.c_contiguous:
            jit.apply(x2, mu, a, offset, y2)
        else:
            xp.subtract(x2, mu, out=y2)
            xp.multiply(y2, a, out=y2)
            xp.add(y2, offset, out=y2)
        return y, bm, bv, r1, r2
    return run


@registry.register_kernel("FusedBatchNormGradV3")
def _fused_bn_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    eps = op.attrs["epsilon"]
    tmp = _Scratch(xp)
    f64 = np.float64

    def run(dy: Any, x: Any, scale: Any, mean: Any, var: Any, out: Any = None) -> Any:
        c = x.shape[-1]
        rows = x.size // c
        dt = x.dtype
        if out is None:
            dx, dscale, doffset = xp.empty(x.shape, dtype=dt), xp.empty((c,), dtype=dt), xp.empty((c,), dtype=dt)
        else:
            dx, dscale, doffset = out
        dy2, x2, dx2 = dy.reshape(rows, c), x.reshape(rows, c), dx.reshape(rows, c)
        mu64 = mean.astype(f64)
        sdy, sdyx = tmp("sdy", (c,), f64), tmp("sdyx", (c,), f64)
        jit = _host_kernels(ctx, x, dy, dx, scale, mean)
        if jit is not None:
            jit.grad_sums(dy2, x2, mu64, sdy, sdyx)
        else:
            g, d = tmp("g", (rows, c), f64), tmp("d", (rows, c), f64)
            g[...] = dy2
            xp.sum(g, axis=0, out=sdy)
            d[...] = x2
            xp.subtract(d, mu64, out=d)
            xp.multiply(d, g, out=d)
            xp.sum(d, axis=0, out=sdyx)
        r = 1.0 / xp.sqrt(var.astype(f64) + eps)
        ds = sdyx * r                                   # dscale = sum(dy xhat)
        k1 = scale.astype(f64) * r
        k2 = -(k1 * r * ds) / rows
        k3 = -(k1 * sdy) / rows
        dscale[...] = ds
        doffset[...] = sdy
        k1, k2, k3 = k1.astype(dt), k2.astype(dt), k3.astype(dt)
        if jit is not None:
            jit.grad_apply(dy2, x2, mean, k1, k2, k3, dx2)
        else:
            t = tmp("t", (rows, c), dt)
            xp.subtract(x2, mean, out=t)
            xp.multiply(t, k2, out=t)
            xp.multiply(dy2, k1, out=dx2)
            xp.add(dx2, t, out=dx2)
            xp.add(dx2, k3, out=dx2)
        return dx, dscale, doffset
    return run


# --- gradients -----------------------------------------------------------------------------------

def _count(x: Tensor) -> Tensor:
    """M = N H W, the values per channel, as a scalar of x's dtype (N may be known only at run time)."""
    c = int(x.static_shape[3])
    return m.divide(m.cast(array_ops.size(x), x.dtype), m.scalar_like(float(c), x))


def _forward_ops(x: Tensor, scale: Tensor, offset: Tensor, mean: Tensor, variance: Tensor, epsilon: float,
                 training: bool) -> list[Tensor]:
    """FusedBatchNormV3's five outputs as graph ops (the exact variance: no stop_gradient)."""
    if training:
        mu = m.reduce_mean(x, _AXES)
        s2 = m.reduce_mean(m.square(m.subtract(x, mu)), _AXES)
    else:
        mu, s2 = mean, variance
    a = m.multiply(scale, m.rsqrt(m.add(s2, m.scalar_like(epsilon, x))))
    y = m.add(m.multiply(m.subtract(x, mu), a), offset)
    if not training:
        return [y, mean, variance, mean, variance]
    n = _count(x)
    one = m.scalar_like(1.0, x)
    bessel = m.divide(n, m.maximum(m.subtract(n, one), one))
    return [y, mu, m.multiply(s2, bessel), mu, s2]


def _backward_ops(dy: Tensor, x: Tensor, scale: Tensor, mu: Tensor, s2: Tensor, epsilon: float) -> list[Tensor]:
    """FusedBatchNormGradV3's (dx, dscale, doffset) as graph ops (see the module doc)."""
    n = _count(x)
    r = m.rsqrt(m.add(s2, m.scalar_like(epsilon, x)))
    d = m.subtract(x, mu)
    sdy = m.reduce_sum(dy, _AXES)
    ds = m.multiply(m.reduce_sum(m.multiply(dy, d), _AXES), r)
    k1 = m.multiply(scale, r)
    k2 = m.negative(m.divide(m.multiply(m.multiply(k1, r), ds), n))
    k3 = m.negative(m.divide(m.multiply(k1, sdy), n))
    dx = m.add(m.add(m.multiply(dy, k1), m.multiply(d, k2)), k3)
    return [dx, ds, sdy]


def _or_zeros(d: Tensor | None, like: Tensor) -> Tensor:
    return array_ops.zeros_like(like) if d is None else d


@registry.register_gradient("FusedBatchNormV3", takes_none=True)
def _fused_bn_rule(op: Operation, dy: Tensor | None, *dstats: Tensor | None) -> list:
    x, scale, offset, mean, variance = op.inputs
    eps, training = op.attrs["epsilon"], op.attrs["is_training"]
    if training and all(d is None for d in dstats):   # the usual first derivative: one fused op
        y, _, _, r1, r2 = op.outputs
        dx, dscale, doffset = fused_batch_norm_grad_v3(_or_zeros(dy, y), x, scale, r1, r2, eps)
        return [dx, dscale, doffset, None, None]
    from nnctl.graph.gradients import gradients
    outs = _forward_ops(x, scale, offset, mean, variance, eps, training)
    wrt = [x, scale, offset] + ([] if training else [mean, variance])
    grads = gradients(outs, wrt, grad_ys=[_or_zeros(d, t) for d, t in zip((dy, *dstats), op.outputs)])
    return list(grads) + ([None, None] if training else [])


@registry.register_gradient("FusedBatchNormGradV3", takes_none=True)
def _fused_bn_grad_rule(op: Operation, ddx: Tensor | None, ddscale: Tensor | None, ddoffset: Tensor | None) -> list:
    from nnctl.graph.gradients import gradients
    outs = _backward_ops(*op.inputs, op.attrs["epsilon"])
    return list(gradients(outs, list(op.inputs),
                          grad_ys=[_or_zeros(d, t) for d, t in zip((ddx, ddscale, ddoffset), op.outputs)]))
