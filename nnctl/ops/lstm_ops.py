"""The LSTM cell's elementwise part as one op, and its gradient as another.

An unrolled LSTM spends most of its non-GEMM time on small per-step ops: per step and direction a
Split, three Sigmoids, two Tanhs, four Muls and an Add forward, and the matching SigmoidGrad,
TanhGrad, Mul and Concat ops backward, each a plan step over a [batch, units] array. Here the cell
after its matmul is one op and its gradient another, each a handful of ufunc calls on slices of
one buffer. The arithmetic is the graph's, operation for operation (sigmoid(x) = (1 + tanh(x/2))/2
as the Sigmoid kernel computes it, SigmoidGrad's (1 - y) y dy, TanhGrad's (1 - y^2) dy), so results
are the same bits as the unfused cell's.

    LSTMGates(gates [B, 4H], c_prev [B, H]; forget_bias) -> (c, h, act [B, 4H], tanh_c [B, H])
      [i, j, f, o] = gates,  act = [sigmoid(i), tanh(j), sigmoid(f + forget_bias), sigmoid(o)]
      c = sigmoid(f + forget_bias) c_prev + sigmoid(i) tanh(j),  h = sigmoid(o) tanh(c)

    LSTMGatesGrad(act, tanh_c, c_prev, dc, dh) -> (dgates [B, 4H], dc_prev [B, H])

In float32 the step's tanh is a rational approximation (``TANH_F32``, the 13/6-degree one TF's CPU
kernels use through Eigen: within 3.4e-7 of tanh, never above 1 in magnitude, NaN kept), on every
path, so the float32 cell agrees with the unfused one to that and with itself to the bit; in
float64 it is xp.tanh and the bits are the unfused cell's.

``act`` and ``tanh_c`` are what the gradient needs, so it never recomputes a transcendental. On
host memory (seq_jit.py) the float32 step is one compiled pass (numpy's float32 tanh alone cost
4-5 ns an element, most of the step) and the float64 step two compiled passes around one numpy
tanh; the gradient is one compiled pass; elsewhere the same operations as xp ufunc calls. Both rules
for second order differentiate the same maths written with graph ops (``_forward_ops``,
``_backward_ops``), which are built only when a second derivative is asked for.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.ops import array_ops, seq_jit
from nnctl.ops import math_ops as m
from nnctl.ops.core import make_op


def lstm_gates(gates: Tensor, c_prev: Tensor, forget_bias: float, name: str | None = None) -> list[Tensor]:
    """(c, h, act, tanh_c) of one LSTM step from the pre-activations [i | j | f | o] (see the module doc)."""
    sg, sc = gates.static_shape, c_prev.static_shape
    if sg is None or sc is None or len(sg) != 2 or len(sc) != 2 or sg[1] is None or sc[1] is None \
            or sg[1] != 4 * sc[1]:
        raise ValueError(f"LSTMGates: gates must be [batch, 4 units] and c_prev [batch, units], got "
                         f"{sg} and {sc}")
    b, n = sc
    dt = c_prev.dtype
    return make_op("LSTMGates", [gates, c_prev], attrs={"forget_bias": float(forget_bias)}, name=name,
                   outputs=[((b, n), dt), ((b, n), dt), ((b, 4 * n), dt), ((b, n), dt)])


def lstm_gates_grad(act: Tensor, tanh_c: Tensor, c_prev: Tensor, dc: Tensor, dh: Tensor,
                    name: str | None = None) -> list[Tensor]:
    """(dgates, dc_prev) of one LSTM step from its saved ``act``, ``tanh_c`` and the gradients of c, h."""
    b, n = c_prev.static_shape
    return make_op("LSTMGatesGrad", [act, tanh_c, c_prev, dc, dh], name=name,
                   outputs=[((b, 4 * n), c_prev.dtype), ((b, n), c_prev.dtype)])


# tanh in float32 as an odd 13-degree over an even 6-degree polynomial in x (Horner in x^2), on x
# clamped to [-L, L]: [L, a13, a11, a9, a7, a5, a3, a1, b6, b4, b2, b0]. L is where the rational
# reaches 1 in float32 (at 9 it rises to 1 + 2^-23 just inside), so |tanh| <= 1 and a sigmoid
# built from it stays in [0, 1]. seq.c's tanh_rational computes the same operations.
TANH_F32 = (7.90531110763549805, -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
            5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03,
            1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


def tanh_f32(xp: Any, x: Any, out: Any, tmp: Any) -> Any:
    """out = TANH_F32's tanh of float32 ``x`` (out may be x), in xp ufuncs: tmp(tag) gives a
    scratch array of x's shape. The same operations in the same order as seq.c's tanh_rational."""
    k = [xp.asarray(v, dtype=np.float32) for v in TANH_F32]
    x2, p, q = tmp("tanh_x2"), tmp("tanh_p"), tmp("tanh_q")
    xp.maximum(x, -k[0], out=out)       # clamp (NaN passes through both)
    xp.minimum(out, k[0], out=out)
    xp.multiply(out, out, out=x2)
    xp.multiply(x2, k[1], out=p)
    xp.add(p, k[2], out=p)
    for i in range(3, 8):
        xp.multiply(p, x2, out=p)
        xp.add(p, k[i], out=p)
    xp.multiply(p, out, out=p)
    xp.multiply(x2, k[8], out=q)
    xp.add(q, k[9], out=q)
    for i in (10, 11):
        xp.multiply(q, x2, out=q)
        xp.add(q, k[i], out=q)
    return xp.divide(p, q, out=out)


def _factors(xp: Any, dt: Any, n: int) -> tuple:
    # per-column factors over [i | j | f | o]: the sigmoid blocks get x/2 before tanh and t/2 + 1/2
    # after it (the Sigmoid kernel's (1 + tanh(x/2)) / 2); the tanh block x * 1 and t * 1 + 0, exact
    s = np.full(4 * n, 0.5, dtype=dt)
    s[n:2 * n] = 1.0
    a = np.full(4 * n, 0.5, dtype=dt)
    a[n:2 * n] = 0.0
    return xp.asarray(s), xp.asarray(a)


def step_factors(xp: Any, dt: Any) -> Any:
    """n -> (scale, shift) of _factors for n units, made once per n (the kernels' constant arrays)."""
    made: dict[int, tuple] = {}

    def get(n: int) -> tuple:
        if n not in made:
            made[n] = _factors(xp, dt, n)
        return made[n]
    return get


def step_buffers(xp: Any, c_prev: Any, dt: Any, out: Any) -> tuple:
    """(c, h, act, tanh_c) of one LSTMGates step: ``out``, or new arrays shaped from c_prev."""
    if out is not None:
        return tuple(out)
    bsz, n = c_prev.shape
    return (xp.empty_like(c_prev), xp.empty_like(c_prev), xp.empty((bsz, 4 * n), dtype=dt), xp.empty_like(c_prev))


@registry.register_kernel("LSTMGates")
def _lstm_gates_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    dt = op.outputs[0].dtype.np
    fb = op.attrs["forget_bias"]
    half = xp.asarray(0.5, dtype=dt)
    fb_arr = xp.asarray(fb, dtype=dt)
    factors = step_factors(xp, dt)
    scratch: dict[tuple, Any] = {}
    rational = dt == np.float32        # the step's tanh: TANH_F32 in float32, xp.tanh otherwise
    coef = np.asarray(TANH_F32, dtype=np.float32)

    def tanh(x: Any, out: Any) -> None:
        if not rational:
            xp.tanh(x, out=out)
            return

        def tmp(tag: str) -> Any:
            key = (tag, x.shape)
            if key not in scratch:
                scratch[key] = xp.empty(x.shape, dtype=dt)
            return scratch[key]
        tanh_f32(xp, x, out, tmp)

    def run(gates: Any, c_prev: Any, out: Any = None) -> Any:
        n = c_prev.shape[1]
        c, h, act, tc = step_buffers(xp, c_prev, dt, out)
        scale, shift = factors(n)
        si, tj, sf, so = (act[:, k * n:(k + 1) * n] for k in range(4))
        jit = seq_jit.kernels(ctx, gates)
        if rational and seq_jit.host_ok(jit, gates, act, c_prev, c, h, tc, scale, shift):
            jit.lstm_step(gates, scale, shift, dt.type(fb), c_prev, coef, act, c, h, tc)
            return c, h, act, tc
        if seq_jit.host_ok(jit, gates, act, c_prev, c):
            jit.lstm_pre(gates, scale, dt.type(fb), act)
            tanh(act, act)                  # over all four blocks at once
            jit.lstm_post(act, c_prev, c)
        else:
            xp.multiply(gates, scale, out=act)
            if fb != 0.0:
                xp.add(gates[:, 2 * n:3 * n], fb_arr, out=sf)
                xp.multiply(sf, half, out=sf)
            tanh(act, act)
            xp.multiply(act, scale, out=act)
            xp.add(act, shift, out=act)
            xp.multiply(sf, c_prev, out=c)
            xp.multiply(si, tj, out=h)      # h's buffer as scratch for sigmoid(i) tanh(j)
            xp.add(c, h, out=c)
        tanh(c, tc)
        xp.multiply(so, tc, out=h)
        return c, h, act, tc

    def bind(gates: Any, c_prev: Any, out: Any) -> Any:
        # the plan's step: the compiled call with its arguments converted once, where it applies
        c, h, act, tc = out
        scale, shift = factors(c_prev.shape[1])
        jit = seq_jit.kernels(ctx, gates)
        if rational and seq_jit.host_ok(jit, gates, act, c_prev, c, h, tc, scale, shift):
            return jit.lstm_step.bind(gates, scale, shift, dt.type(fb), c_prev, coef, act, c, h, tc)
        return partial(run, gates, c_prev, out=out)
    run.bind = bind  # type: ignore[attr-defined]
    return run


@registry.register_kernel("LSTMGatesGrad")
def _lstm_gates_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    one = xp.asarray(1, dtype=op.outputs[0].dtype.np)
    mul, sub = xp.multiply, xp.subtract
    scratch: dict[tuple, Any] = {}

    def tmp(tag: str, shape: tuple, dtype: Any) -> Any:
        key = (tag, shape, dtype)
        if key not in scratch:
            scratch[key] = xp.empty(shape, dtype=dtype)
        return scratch[key]

    def sigmoid_grad(y: Any, dy: Any, t: Any) -> None:
        sub(one, y, out=t)          # SigmoidGrad: (1 - y) y dy, in place over dy
        mul(t, y, out=t)
        mul(t, dy, out=dy)

    def run(act: Any, tc: Any, c_prev: Any, dc: Any, dh: Any, out: Any = None) -> Any:
        bsz, n = c_prev.shape
        if out is None:
            dg, dcp = xp.empty((bsz, 4 * n), dtype=c_prev.dtype), xp.empty_like(c_prev)
        else:
            dg, dcp = out
        jit = seq_jit.kernels(ctx, act)
        if seq_jit.host_ok(jit, act, dg, tc, c_prev, dc, dh, dcp):
            jit.lstm_grad(act, tc, c_prev, dc, dh, dg, dcp)
            return dg, dcp
        t = tmp("t", c_prev.shape, c_prev.dtype)
        dct = tmp("dct", c_prev.shape, c_prev.dtype)
        si, tj, sf, so = (act[:, k * n:(k + 1) * n] for k in range(4))
        gi, gj, gf, go = (dg[:, k * n:(k + 1) * n] for k in range(4))
        # h = so tc: d tc = dh so; c's total gradient = dc + TanhGrad(tc, d tc)
        mul(dh, so, out=t)
        mul(tc, tc, out=dct)
        sub(one, dct, out=dct)
        mul(dct, t, out=dct)
        xp.add(dc, dct, out=dct)
        # c = sf c_prev + si tj
        mul(dct, tj, out=gi)
        sigmoid_grad(si, gi, t)
        mul(dct, si, out=gj)
        mul(tj, tj, out=t)          # TanhGrad: (1 - y^2) dy
        sub(one, t, out=t)
        mul(t, gj, out=gj)
        mul(dct, c_prev, out=gf)
        sigmoid_grad(sf, gf, t)
        mul(dct, sf, out=dcp)
        mul(dh, tc, out=go)
        sigmoid_grad(so, go, t)
        return dg, dcp

    def bind(act: Any, tc: Any, c_prev: Any, dc: Any, dh: Any, out: Any) -> Any:
        dg, dcp = out
        jit = seq_jit.kernels(ctx, act)
        if seq_jit.host_ok(jit, act, dg, tc, c_prev, dc, dh, dcp):
            return jit.lstm_grad.bind(act, tc, c_prev, dc, dh, dg, dcp)
        return partial(run, act, tc, c_prev, dc, dh, out=out)
    run.bind = bind  # type: ignore[attr-defined]
    return run


# --- the same maths as graph ops: what the second-order rules differentiate -----------------------

def _forward_ops(gates: Tensor, c_prev: Tensor, forget_bias: float) -> list[Tensor]:
    i, j, f, o = array_ops.split(gates, 4, axis=1)
    si, tj, so = m.sigmoid(i), m.tanh(j), m.sigmoid(o)
    sf = m.sigmoid(m.add(f, m.scalar_like(forget_bias, f)))
    c = m.add(m.multiply(sf, c_prev), m.multiply(si, tj))
    tc = m.tanh(c)
    return [c, m.multiply(so, tc), array_ops.concat([si, tj, sf, so], 1), tc]


def _backward_ops(act: Tensor, tc: Tensor, c_prev: Tensor, dc: Tensor, dh: Tensor) -> list[Tensor]:
    si, tj, sf, so = array_ops.split(act, 4, axis=1)
    dct = m.add(dc, m.tanh_grad(tc, m.multiply(dh, so)))
    dg = array_ops.concat([m.sigmoid_grad(si, m.multiply(dct, tj)), m.tanh_grad(tj, m.multiply(dct, si)),
                           m.sigmoid_grad(sf, m.multiply(dct, c_prev)), m.sigmoid_grad(so, m.multiply(dh, tc))], 1)
    return [dg, m.multiply(dct, sf)]


def _or_zeros(d: Tensor | None, like: Tensor) -> Tensor:
    return array_ops.zeros_like(like) if d is None else d


@registry.register_gradient("LSTMGates", takes_none=True)
def _lstm_gates_rule(op: Operation, dc: Tensor | None, dh: Tensor | None, dact: Tensor | None,
                     dtc: Tensor | None) -> list:
    gates, c_prev = op.inputs
    c, h, act, tc = op.outputs
    if dact is None and dtc is None:  # the first derivative: one fused op
        return lstm_gates_grad(act, tc, c_prev, _or_zeros(dc, c), _or_zeros(dh, h))
    # act or tanh_c is differentiated itself (a second derivative through LSTMGatesGrad): the
    # graph-op form of the step
    from nnctl.graph.gradients import gradients
    outs = _forward_ops(gates, c_prev, op.attrs["forget_bias"])
    return gradients(outs, [gates, c_prev], grad_ys=[_or_zeros(d, t) for d, t in zip((dc, dh, dact, dtc),
                                                                                   op.outputs)])


@registry.register_gradient("LSTMGatesGrad", takes_none=True)
def _lstm_gates_grad_rule(op: Operation, ddg: Tensor | None, ddcp: Tensor | None) -> list:
    from nnctl.graph.gradients import gradients
    outs = _backward_ops(*op.inputs)
    return gradients(outs, list(op.inputs), grad_ys=[_or_zeros(d, t) for d, t in zip((ddg, ddcp), op.outputs)])
