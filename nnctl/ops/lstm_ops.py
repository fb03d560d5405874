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

``act`` and ``tanh_c`` are what the gradient needs, so it never recomputes a transcendental. On
host memory (seq_jit.py) the step is two compiled passes around one numpy tanh over all four gate
blocks, and the gradient one compiled pass; elsewhere the same operations as xp ufunc calls. Both rules
for second order differentiate the same maths written with graph ops (``_forward_ops``,
``_backward_ops``), which are built only when a second derivative is asked for.
"""

from __future__ import annotations

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


def _factors(xp: Any, dt: Any, n: int) -> tuple:
    # per-column factors over [i | j | f | o]: the sigmoid blocks get x/2 before tanh and t/2 + 1/2
    # after it (the Sigmoid kernel's (1 + tanh(x/2)) / 2); the tanh block x * 1 and t * 1 + 0, exact
    s = np.full(4 * n, 0.5, dtype=dt)
    s[n:2 * n] = 1.0
    a = np.full(4 * n, 0.5, dtype=dt)
    a[n:2 * n] = 0.0
    return xp.asarray(s), xp.asarray(a)


@registry.register_kernel("LSTMGates")
def _lstm_gates_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    dt = op.outputs[0].dtype.np
    fb = op.attrs["forget_bias"]
    half = xp.asarray(0.5, dtype=dt)
    fb_arr = xp.asarray(fb, dtype=dt)
    consts: dict[int, tuple] = {}

    def run(gates: Any, c_prev: Any, out: Any = None) -> Any:
        bsz, n = c_prev.shape
        if out is None:
            c, h, act, tc = (xp.empty_like(c_prev), xp.empty_like(c_prev), xp.empty((bsz, 4 * n), dtype=dt),
                             xp.empty_like(c_prev))
        else:
            c, h, act, tc = out
        if n not in consts:
            consts[n] = _factors(xp, dt, n)
        scale, shift = consts[n]
        si, tj, sf, so = (act[:, k * n:(k + 1) * n] for k in range(4))
        jit = seq_jit.kernels(ctx, gates)
        if seq_jit.host_ok(jit, gates, act, c_prev, c):
            jit.lstm_pre(gates, scale, dt.type(fb), act)
            xp.tanh(act, out=act)           # numpy's SIMD tanh over all four blocks at once
            jit.lstm_post(act, c_prev, c)
        else:
            xp.multiply(gates, scale, out=act)
            if fb != 0.0:
                xp.add(gates[:, 2 * n:3 * n], fb_arr, out=sf)
                xp.multiply(sf, half, out=sf)
            xp.tanh(act, out=act)
            xp.multiply(act, scale, out=act)
            xp.add(act, shift, out=act)
            xp.multiply(sf, c_prev, out=c)
            xp.multiply(si, tj, out=h)      # h's buffer as scratch for sigmoid(i) tanh(j)
            xp.add(c, h, out=c)
        xp.tanh(c, out=tc)
        xp.multiply(so, tc, out=h)
        return c, h, act, tc
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
