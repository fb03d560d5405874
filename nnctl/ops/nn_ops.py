"""Neural-network ops (``tf.nn``): activations, softmax and cross-entropies, bias_add, dropout,
moments and batch normalization, conv2d and pooling.

Kernels are written against the array module ``xp`` so the CuPy backend reuses them; the
convolution and pooling kernels live in conv_kernels.py. Static shapes are checked when the graph
is built, and errors name the op and the shapes involved.
"""

from __future__ import annotations

import numbers
from functools import partial
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.errors import InvalidArgumentError
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, name_scope
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops, conv_jit, conv_kernels, random_ops, seq_jit
from nnctl.ops import math_ops as m
from nnctl.ops.conv_kernels import Scratch
from nnctl.ops.core import convert_to_tensor, make_op, operand_pairs, static_axes
from nnctl.runtime import jit

# --- helpers -------------------------------------------------------------------------------------


def _desc(op_type: str, name: str | None) -> str:
    return f"{op_type} '{name or op_type}'"


def _float_input(x: Any, op_type: str, name: str | None, what: str = "input") -> Tensor:
    x = convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"{_desc(op_type, name)}: {what} must be a floating-point tensor, got {x.name} of "
                        f"dtype {x.dtype.name}")
    return x


def _numeric_input(x: Any, op_type: str, name: str | None, ints: tuple[str, ...], what: str = "input") -> Tensor:
    """A float tensor, or one of the integer dtypes ``ints`` that TF's op also takes."""
    x = convert_to_tensor(x)
    if not x.dtype.is_floating and x.dtype.name not in ints:
        raise TypeError(f"{_desc(op_type, name)}: {what} must be a floating-point tensor"
                        + (f" or one of {', '.join(ints)}" if ints else "") + f", got {x.name} of dtype {x.dtype.name}")
    return x


_SIGNED_AND_UNSIGNED = ("int8", "int16", "int32", "int64", "uint8")


def _like(value: Any, like: Tensor, op_type: str, name: str | None, what: str) -> Tensor:
    """``value`` as a tensor of ``like``'s dtype (numpy/Python values are cast; tensors must match)."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        t = convert_to_tensor(value)
        if t.dtype != like.dtype:
            raise TypeError(f"{_desc(op_type, name)}: {what} {t.name} has dtype {t.dtype.name} but "
                            f"{like.name} has dtype {like.dtype.name}")
        return t
    return convert_to_tensor(value, dtype=like.dtype)


def _rank(t: Tensor) -> int | None:
    return None if t.static_shape is None else len(t.static_shape)


def _axis(axis: Any, rank: int | None, op_type: str, name: str | None) -> int:
    axis = -1 if axis is None else int(axis)
    if rank is None:
        if axis != -1:
            raise ValueError(f"{_desc(op_type, name)}: axis {axis} needs a known input rank")
        return -1
    if not -rank <= axis < rank:
        raise ValueError(f"{_desc(op_type, name)}: axis {axis} is out of range for an input of rank {rank}")
    return axis % rank


def _same_op(op_type: str, x: Tensor, name: str | None, attrs: dict | None = None) -> Tensor:
    return make_op(op_type, [x], attrs=attrs, shape=x.static_shape, dtype=x.dtype, name=name)


def _c(value: float, dtype: Any) -> Any:
    return np.dtype(dtype).type(value)


# --- relu family ---------------------------------------------------------------------------------

def relu(features: Any, name: str | None = None) -> Tensor:
    """max(features, 0)."""
    x = convert_to_tensor(features)
    return _same_op("Relu", x, name)


@registry.register_kernel("Relu", inplace=(0,), elementwise=True, fusion="relu")
def _relu_kernel(op: Operation, ctx: Any) -> Any:
    maximum, zero = ctx.xp.maximum, _c(0, op.outputs[0].dtype.np)

    def run(x: Any, out: Any = None) -> Any:
        return maximum(x, zero, out=out)
    return run


def relu_grad(dy: Tensor, y: Tensor, name: str | None = None) -> Tensor:
    """ReluGrad(dy, y) = dy * (y > 0), from relu's output y."""
    return make_op("ReluGrad", [dy, y], shape=y.static_shape, dtype=dy.dtype, name=name)


@registry.register_kernel("ReluGrad", inplace=(0,), elementwise=True, fusion="relu_grad")
def _relu_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)
    zero = _c(0, op.outputs[0].dtype.np)

    def run(dy: Any, y: Any, out: Any = None) -> Any:
        mask = scratch("mask", y.shape, bool)
        xp.greater(y, zero, out=mask)
        return xp.multiply(dy, mask, out=out)

    def bind(dy: Any, y: Any, out: Any) -> Any:
        fused = jit.for_arrays(ctx, out, dy, y)  # one pass instead of a mask pass and a product pass
        step = jit.binary_step(fused.relu_grad, dy, y, out) if fused is not None else None
        return step or partial(run, dy, y, out=out)
    run.bind = bind  # type: ignore[attr-defined]
    return run


def relu6(features: Any, name: str | None = None) -> Tensor:
    """min(max(features, 0), 6)."""
    x = convert_to_tensor(features)
    return _same_op("Relu6", x, name)


@registry.register_kernel("Relu6", inplace=(0,), elementwise=True)
def _relu6_kernel(op: Operation, ctx: Any) -> Any:
    xp, dt = ctx.xp, op.outputs[0].dtype.np
    lo, hi = _c(0, dt), _c(6, dt)

    def run(x: Any, out: Any = None) -> Any:
        return xp.clip(x, lo, hi, out=out)
    return run


def _elementwise(fn):
    """A kernel from ``fn(xp, attrs, *inputs) -> array`` (allocating; copied into ``out`` when given)."""
    def factory(op: Operation, ctx: Any) -> Any:
        xp, attrs, dt = ctx.xp, op.attrs, op.outputs[0].dtype.np

        def run(*ins: Any, out: Any = None) -> Any:
            r = fn(xp, attrs, *ins)
            if out is None:
                return xp.asarray(r, dtype=dt)
            xp.copyto(out, r, casting="unsafe")
            return out
        return run
    return factory


def relu6_grad(dy: Tensor, y: Tensor, name: str | None = None) -> Tensor:
    """Relu6Grad(dy, y) = dy * (0 < y < 6), from relu6's output y (TF's rule)."""
    return make_op("Relu6Grad", [dy, y], shape=y.static_shape, dtype=dy.dtype, name=name)


registry.register_kernel("Relu6Grad", elementwise=True)(_elementwise(
    lambda xp, a, dy, y: dy * ((y > 0) & (y < 6))))


def leaky_relu(features: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """features where positive, alpha * features elsewhere."""
    x = convert_to_tensor(features)
    if x.dtype.is_integer:
        x = m.cast(x, dtypes.float32)
    # TF keeps alpha as a float32 attribute, so alpha = 0.2 is 0.2f even for float64 features
    return _same_op("LeakyRelu", x, name, {"alpha": float(np.float32(alpha))})


@registry.register_kernel("LeakyRelu")
def _leaky_relu_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    alpha = _c(op.attrs["alpha"], op.outputs[0].dtype.np)
    # alpha <= 1: max(x, alpha x) picks x for x > 0 and alpha x for x < 0 (min when alpha > 1)
    pick = xp.maximum if op.attrs["alpha"] <= 1 else xp.minimum

    def run(x: Any, out: Any = None) -> Any:
        out = xp.multiply(x, alpha, out=out)
        return pick(out, x, out=out)
    return run


def leaky_relu_grad(dy: Tensor, x: Tensor, alpha: float, name: str | None = None) -> Tensor:
    """LeakyReluGrad(dy, x) = dy for x > 0, alpha * dy otherwise."""
    return make_op("LeakyReluGrad", [dy, x], attrs={"alpha": float(alpha)}, shape=x.static_shape,
                   dtype=dy.dtype, name=name)


registry.register_kernel("LeakyReluGrad", elementwise=True)(_elementwise(
    lambda xp, a, dy, x: xp.where(x > 0, dy, dy * xp.asarray(a["alpha"], dtype=dy.dtype))))


def elu(features: Any, name: str | None = None) -> Tensor:
    """features where positive, exp(features) - 1 elsewhere."""
    x = _float_input(features, "Elu", name, "features")
    return _same_op("Elu", x, name)


@registry.register_kernel("Elu", inplace=(0,))
def _elu_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)
    zero = _c(0, op.outputs[0].dtype.np)

    # elu(x) = max(x, 0) + expm1(min(x, 0))
    def run(x: Any, out: Any = None) -> Any:
        t = scratch("t", x.shape, x.dtype)
        xp.minimum(x, zero, out=t)
        xp.expm1(t, out=t)
        out = xp.maximum(x, zero, out=out)
        return xp.add(out, t, out=out)
    return run


def elu_grad(dy: Tensor, y: Tensor, name: str | None = None) -> Tensor:
    """EluGrad(dy, y) = dy * (y + 1) for y < 0, dy otherwise: from elu's output y; at 0 the positive
    branch, as TF."""
    return make_op("EluGrad", [dy, y], shape=y.static_shape, dtype=dy.dtype, name=name)


registry.register_kernel("EluGrad", elementwise=True)(_elementwise(
    lambda xp, a, dy, y: xp.where(y < 0, dy * (y + 1), dy)))

# the self-normalising constants of Klambauer et al. (2017)
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(features: Any, name: str | None = None) -> Tensor:
    """scale * x for x > 0, scale * alpha * (exp(x) - 1) otherwise."""
    x = _float_input(features, "Selu", name, "features")
    return _same_op("Selu", x, name)


registry.register_kernel("Selu", elementwise=True)(_elementwise(
    lambda xp, a, x: xp.asarray(_SELU_SCALE, dtype=x.dtype) * xp.where(
        x > 0, x, xp.asarray(_SELU_ALPHA, dtype=x.dtype) * xp.expm1(xp.minimum(x, 0)))))


def selu_grad(dy: Tensor, y: Tensor, name: str | None = None) -> Tensor:
    """SeluGrad(dy, y) = dy * (y + scale * alpha) for y < 0, dy * scale otherwise (y: selu's output)."""
    return make_op("SeluGrad", [dy, y], shape=y.static_shape, dtype=dy.dtype, name=name)


registry.register_kernel("SeluGrad", elementwise=True)(_elementwise(
    lambda xp, a, dy, y: xp.where(y < 0, dy * (y + xp.asarray(_SELU_SCALE * _SELU_ALPHA, dtype=y.dtype)),
                                  dy * xp.asarray(_SELU_SCALE, dtype=y.dtype))))


def softplus(features: Any, name: str | None = None) -> Tensor:
    """log(1 + exp(features)), computed as max(x, 0) + log1p(exp(-|x|)) so it never overflows."""
    x = _float_input(features, "Softplus", name, "features")
    return _same_op("Softplus", x, name)


@registry.register_kernel("Softplus", inplace=(0,))
def _softplus_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)
    zero = _c(0, op.outputs[0].dtype.np)

    def run(x: Any, out: Any = None) -> Any:
        t = scratch("t", x.shape, x.dtype)
        xp.abs(x, out=t)
        xp.negative(t, out=t)
        xp.exp(t, out=t)
        xp.log1p(t, out=t)
        out = xp.maximum(x, zero, out=out)
        return xp.add(out, t, out=out)
    return run


def softsign(features: Any, name: str | None = None) -> Tensor:
    """features / (1 + |features|)."""
    x = _float_input(features, "Softsign", name, "features")
    with name_scope(name or "Softsign"):
        return m.realdiv(x, m.add(m.scalar_like(1.0, x), m.abs(x)))


def swish(features: Any, beta: float = 1.0, name: str | None = None) -> Tensor:
    """features * sigmoid(beta * features) (Ramachandran et al. 2017; TF's tf.nn.swish / tf.nn.silu).

    Built from Sigmoid and Mul, whose rules give every order of derivative:
    d/dx x s(bx) = s(bx) + b x s(bx) (1 - s(bx)).
    """
    x = _float_input(features, "swish", name, "features")
    with name_scope(name or "swish"):
        bx = x if beta == 1.0 else m.multiply(m.scalar_like(float(beta), x), x)
        return m.multiply(x, m.sigmoid(bx))


def silu(features: Any, beta: float = 1.0, name: str | None = None) -> Tensor:
    """The sigmoid linear unit, another name of :func:`swish`."""
    return swish(features, beta=beta, name=name or "silu")


def mish(features: Any, name: str | None = None) -> Tensor:
    """features * tanh(softplus(features)) (Misra 2019); softplus never overflows."""
    x = _float_input(features, "mish", name, "features")
    with name_scope(name or "mish"):
        return m.multiply(x, m.tanh(softplus(x)))


def hard_sigmoid(features: Any, name: str | None = None) -> Tensor:
    """Keras' (TF1-era) piecewise-linear sigmoid: clip(0.2 x + 0.5, 0, 1).

    Written as relu6(1.2 x + 3) / 6, so the kinks at x = -2.5 and 2.5 are Relu6's.
    """
    x = _float_input(features, "hard_sigmoid", name, "features")
    with name_scope(name or "hard_sigmoid"):
        z = m.add(m.multiply(m.scalar_like(1.2, x), x), m.scalar_like(3.0, x))
        return m.multiply(relu6(z), m.scalar_like(1.0 / 6.0, x))


# --- gelu and the error function -----------------------------------------------------------------

# W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969):
# erf on |x| <= 0.46875, erfc on (0.46875, 4] and on (4, inf); relative error below 1e-16.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)
_RSQRT_PI = 0.56418958354775628695
_SQRT_HALF = 0.70710678118654752440
_RSQRT_2PI = 0.39894228040143267794
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)
_GELU_A = 0.044715


def _cody(xp: Any, x: Any) -> tuple[Any, Any, Any]:
    """(|x|, erf(x) for |x| <= 0.46875, erfc(|x|) for |x| > 0.46875), each valid on its own range."""
    y = xp.abs(x)
    xs = xp.clip(x, -0.46875, 0.46875)
    z = xs * xs
    num, den = _ERF_A[4] * z, z
    for i in range(3):
        num, den = (num + _ERF_A[i]) * z, (den + _ERF_B[i]) * z
    erf_small = xs * (num + _ERF_A[3]) / (den + _ERF_B[3])
    ym = xp.clip(y, 0.46875, 4.0)
    num, den = _ERF_C[8] * ym, ym
    for i in range(7):
        num, den = (num + _ERF_C[i]) * ym, (den + _ERF_D[i]) * ym
    r_mid = (num + _ERF_C[7]) / (den + _ERF_D[7])
    yb = xp.clip(y, 4.0, 30.0)  # erfc(30) underflows to 0
    z = 1.0 / (yb * yb)
    num, den = _ERF_P[5] * z, z
    for i in range(4):
        num, den = (num + _ERF_P[i]) * z, (den + _ERF_Q[i]) * z
    r_big = (_RSQRT_PI - z * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / yb
    mid = y <= 4.0
    r = xp.where(mid, r_mid, r_big)
    yr = xp.where(mid, ym, yb)
    # exp(-y^2) = exp(-t^2) exp(-(y - t)(y + t)) with t = y rounded down to 1/16: no rounding loss in y^2
    t = xp.trunc(yr * 16.0) / 16.0
    tail = r * xp.exp(-t * t) * xp.exp(-(yr - t) * (yr + t))
    return y, erf_small, tail


def erfc(xp: Any, x: Any) -> Any:
    """The complementary error function of a float64 array (Cody's rational approximations)."""
    x = xp.asarray(x, dtype=np.float64)
    y, erf_small, tail = _cody(xp, x)
    return xp.where(y <= 0.46875, 1.0 - erf_small, xp.where(x > 0, tail, 2.0 - tail))


def erf(xp: Any, x: Any) -> Any:
    """The error function of a float64 array (Cody's rational approximations)."""
    x = xp.asarray(x, dtype=np.float64)
    y, erf_small, tail = _cody(xp, x)
    return xp.where(y <= 0.46875, erf_small, xp.where(x > 0, 1.0 - tail, tail - 1.0))


def _gelu_exact(xp: Any, x: Any) -> Any:
    # gelu(x) = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in the far negative tail too)
    return 0.5 * x * erfc(xp, -_SQRT_HALF * x)


def _gelu_tanh(xp: Any, x: Any) -> Any:
    return 0.5 * x * (1.0 + xp.tanh(_GELU_C * (x + _GELU_A * x * x * x)))


def _gelu_prime_exact(xp: Any, x: Any) -> Any:
    # d/dx x Phi(x) = Phi(x) + x phi(x)
    return 0.5 * erfc(xp, -_SQRT_HALF * x) + x * _RSQRT_2PI * xp.exp(-0.5 * x * x)


def _gelu_prime_tanh(xp: Any, x: Any) -> Any:
    # u = c (x + a x^3), t = tanh u: d/dx x (1 + t) / 2 = (1 + t) / 2 + x (1 - t^2) u' / 2
    t = xp.tanh(_GELU_C * (x + _GELU_A * x * x * x))
    du = _GELU_C * (1.0 + 3.0 * _GELU_A * x * x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du


def gelu(features: Any, approximate: bool = False, name: str | None = None) -> Tensor:
    """x * Phi(x) with Phi the standard normal CDF (``approximate``: the tanh formula)."""
    x = _float_input(features, "Gelu", name, "features")
    return _same_op("Gelu", x, name, {"approximate": bool(approximate)})


def _f64_kernel(fn):
    """A kernel computing ``fn(xp, *inputs)`` in float64 and storing it in the output dtype."""
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        dt = op.outputs[0].dtype.np
        f = fn(op)

        def run(*ins: Any, out: Any = None) -> Any:
            r = f(xp, *[xp.asarray(a, dtype=np.float64) for a in ins])
            if out is None:
                return r.astype(dt, copy=False)
            xp.copyto(out, r, casting="unsafe")
            return out
        return run
    return factory


registry.register_kernel("Gelu")(_f64_kernel(
    lambda op: _gelu_tanh if op.attrs["approximate"] else _gelu_exact))


def gelu_grad(dy: Tensor, x: Tensor, approximate: bool, name: str | None = None) -> Tensor:
    """GeluGrad(dy, x) = dy * gelu'(x)."""
    return make_op("GeluGrad", [dy, x], attrs={"approximate": bool(approximate)}, shape=x.static_shape,
                   dtype=x.dtype, name=name)


def _gelu_grad_fn(op: Operation):
    prime = _gelu_prime_tanh if op.attrs["approximate"] else _gelu_prime_exact
    return lambda xp, dy, x: dy * prime(xp, x)


registry.register_kernel("GeluGrad")(_f64_kernel(_gelu_grad_fn))


# --- softmax -------------------------------------------------------------------------------------

def _softmax_op(op_type: str, logits: Any, axis: Any, name: str | None, dim: Any) -> Tensor:
    x = _float_input(logits, op_type, name, "logits")
    if dim is not None:
        if axis is not None:
            raise ValueError(f"{_desc(op_type, name)}: pass axis or dim, not both")
        axis = dim
    ax = _axis(axis, _rank(x), op_type, name)
    if _rank(x) == 0:
        raise ValueError(f"{_desc(op_type, name)}: logits must have rank >= 1, got shape "
                         f"{fmt_shape(x.static_shape)}")
    return _same_op(op_type, x, name, {"axis": ax})


def softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """exp(logits) / sum(exp(logits), axis), computed with the maximum subtracted first."""
    return _softmax_op("Softmax", logits, axis, name, dim)


def log_softmax(logits: Any, axis: Any = None, name: str | None = None, dim: Any = None) -> Tensor:
    """logits - log(sum(exp(logits), axis)), computed with the maximum subtracted first."""
    return _softmax_op("LogSoftmax", logits, axis, name, dim)


def _reduced(shape: tuple, ax: int) -> tuple:
    return shape[:ax] + (1,) + shape[ax + 1:]


@registry.register_kernel("Softmax", inplace=(0,))
def _softmax_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)

    def run(x: Any, out: Any = None) -> Any:
        ax = op.attrs["axis"] % x.ndim
        jit = seq_jit.kernels(ctx, x)
        if ax == x.ndim - 1 and seq_jit.rows_ok(jit, x, *(() if out is None else (out,))):
            if out is None:
                out = xp.empty_like(x)
            seq_jit.softmax_rows(jit, xp, seq_jit.as_rows(x), seq_jit.as_rows(out))
            return out
        r = scratch("r", _reduced(x.shape, ax), x.dtype)
        xp.amax(x, axis=ax, keepdims=True, out=r)
        out = xp.subtract(x, r, out=out)
        xp.exp(out, out=out)
        xp.sum(out, axis=ax, keepdims=True, out=r)
        return xp.divide(out, r, out=out)
    return run


# --- attention's scaled scores: softmax(scores * c) and its gradient's scale, one pass each ---------
#
# tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * (1 / sqrt(d))) (or / sqrt(d)) is a Mul over the
# scores and a Softmax, two passes over [batch, heads, t, t]; its gradient a SoftmaxGrad and the Mul
# of the scale, two more. A mask added before the softmax (a causal [t, t] one, a key mask) is a
# third pass, and its gradient's SumToShape that sums nothing sits between the SoftmaxGrad and the
# scale's Mul. Where nothing else reads the scaled or masked scores (the softmax's own gradient
# reads its output) a bound plan runs each group as one seq.c row pass with the ops' arithmetic in
# their order (runtime/subgraphs.py): the same bits.

def _scalar_operand(op: Operation) -> tuple[Tensor, Tensor, bool] | None:
    """(full, c, divides) where op is Mul(full, c), Mul(c, full) or RealDiv(full, c) of one float dtype,
    c of one element (not broadcasting full) and full of the output's shape."""
    if op.type not in ("Mul", "RealDiv") or len(op.inputs) != 2:
        return None
    a, b = op.inputs
    out = op.outputs[0].static_shape
    for full, c in ([(a, b), (b, a)] if op.type == "Mul" else [(a, b)]):
        cs = c.static_shape
        if (cs is not None and all(d == 1 for d in cs) and len(cs) <= len(out or ()) and out is not None
                and full.static_shape == out and full.dtype == c.dtype and full.dtype.is_floating):
            return full, c, op.type == "RealDiv"
    return None


def _last_axis(op: Operation, shape: Any) -> bool:
    return shape is not None and len(shape) > 0 and op.attrs["axis"] % len(shape) == len(shape) - 1


def _scaled_bind(kernel: str, divides: bool, n_full: int) -> Any:
    """The bind of a scaled softmax region: inputs (the full arrays..., c), one output."""
    def bind(ctx: Any, ins: list[Any]) -> Any:
        fulls, c = ins[:n_full], ins[n_full]
        jit = seq_jit.kernels(ctx, fulls[0])
        rows = [seq_jit.as_rows(f) if f.flags.c_contiguous else None for f in fulls]
        if (jit is None or any(r is None for r in rows) or not seq_jit.rows_ok(jit, *rows)
                or not seq_jit.exp_is_numpys(jit, fulls[0].dtype) or c.size != 1):
            return None
        cv = fulls[0].dtype.type(c.reshape(-1)[0])  # a host constant (seq_jit.kernels: host memory)

        def make(outs: list[Any]) -> Any:
            return getattr(jit, kernel).bind(*rows, cv, int(divides), seq_jit.as_rows(outs[0]))
        return make
    return bind


def _masked_operand(op: Operation) -> tuple[Tensor, Tensor] | None:
    """(scores, mask) where op is AddV2(scores, mask) (either order) of one float dtype, scores of the
    output's shape and mask of its last axis, broadcasting over the others: a causal mask [t, t], a
    padding mask [batch, 1, 1, t]."""
    if op.type not in ("AddV2", "Add") or len(op.inputs) != 2:
        return None
    out = op.outputs[0].static_shape
    if out is None or len(out) < 2 or out[-1] is None:
        return None
    for full, mask in operand_pairs(op):
        fs, ms = full.static_shape, mask.static_shape
        # the scores of the output's shape (a batch None where the mask tells it; bind checks it)
        if (fs is not None and len(fs) == len(out) and all(a is None or a == b for a, b in zip(fs, out))
                and ms is not None and 1 <= len(ms) <= len(out) and ms[-1] == out[-1]
                and full.dtype == mask.dtype and full.dtype.is_floating):
            return full, mask
    return None


def _masked_bind(divides: bool, scaled: bool) -> Any:
    """The bind of a masked softmax region: inputs (scores, [c,] mask), one output."""
    def bind(ctx: Any, ins: list[Any]) -> Any:
        full, mask = ins[0], ins[-1]
        c = ins[1] if scaled else None
        jit = seq_jit.kernels(ctx, full)
        n = full.shape[-1] if full.ndim else 0
        if (jit is None or not full.flags.c_contiguous or not seq_jit.rows_ok(jit, seq_jit.as_rows(full))
                or not seq_jit.host_ok(jit, full, mask) or not seq_jit.exp_is_numpys(jit, full.dtype)
                or (c is not None and c.size != 1) or mask.ndim < 1 or mask.shape[-1] != n):
            return None
        try:  # the mask row broadcasting gives each score row (the mask adds to the scores, not they to it)
            m_rows = np.arange(mask.size // n, dtype=np.int64).reshape(mask.shape[:-1])
            which = np.ascontiguousarray(np.broadcast_to(m_rows, full.shape[:-1]).reshape(-1))
        except ValueError:
            return None
        cv = full.dtype.type(1 if c is None else c.reshape(-1)[0])  # x * 1 is x, to the bit

        def make(outs: list[Any]) -> Any:
            return jit.softmax_rows_masked.bind(seq_jit.as_rows(full), cv, int(divides), mask.reshape(-1, n), which,
                                                seq_jit.as_rows(outs[0]))
        return make
    return bind


def _scaled_softmax_kernel(root: Operation) -> registry.SubgraphKernel | None:
    if not _last_axis(root, root.outputs[0].static_shape):
        return None
    inner = root.inputs[0].op
    found = _scalar_operand(inner)
    if found is not None:
        full, c, divides = found
        return registry.SubgraphKernel(interior=[root, inner], inputs=[full, c], outputs=[root.outputs[0]],
                                       bind=_scaled_bind("softmax_rows_scaled", divides, 1), const_inputs=(1,))
    masked = _masked_operand(inner)
    if masked is None:
        return None
    scores, mask = masked
    found = _scalar_operand(scores.op)
    if found is None:  # softmax(scores + mask)
        return registry.SubgraphKernel(interior=[root, inner], inputs=[scores, mask], outputs=[root.outputs[0]],
                                       bind=_masked_bind(False, False))
    full, c, divides = found  # softmax(scores * c + mask)
    return registry.SubgraphKernel(interior=[root, inner, scores.op], inputs=[full, c, mask],
                                   outputs=[root.outputs[0]], bind=_masked_bind(divides, True), const_inputs=(1,))


def _scaled_softmax_grad_kernel(root: Operation) -> registry.SubgraphKernel | None:
    found = _scalar_operand(root)
    if found is None:
        return None
    g, c, divides = found
    sums, sg = [], g.op
    while sg.type == "SumToShape":  # a mask's add passed the gradient on: nothing to sum (checked at bind)
        sums.append(sg)
        sg = sg.inputs[0].op
    if sg.type != "SoftmaxGrad" or not _last_axis(sg, sg.outputs[0].static_shape):
        return None
    likes = [op.inputs[1] for op in sums]
    bind = _scaled_bind("softmax_grad_scaled", divides, 2)

    def bind_same_shape(ctx: Any, ins: list[Any]) -> Any:
        if any(like.shape != ins[0].shape for like in ins[3:]):
            return None
        return bind(ctx, ins[:3])
    return registry.SubgraphKernel(interior=[root, *sums, sg], inputs=[*sg.inputs, c, *likes],
                                   outputs=[root.outputs[0]], bind=bind_same_shape, const_inputs=(2,))


registry.register_subgraph_kernel("Softmax")(_scaled_softmax_kernel)
registry.register_subgraph_kernel("Mul")(_scaled_softmax_grad_kernel)
registry.register_subgraph_kernel("RealDiv")(_scaled_softmax_grad_kernel)


def softmax_grad(y: Tensor, dy: Tensor, axis: int, name: str | None = None) -> Tensor:
    """SoftmaxGrad(y, dy) = (dy - sum(dy * y, axis)) * y: the gradient of Softmax through its output
    y, as one op (one pass over y and dy instead of four)."""
    return make_op("SoftmaxGrad", [y, dy], attrs={"axis": int(axis)}, shape=y.static_shape, dtype=y.dtype,
                   name=name)


@registry.register_kernel("SoftmaxGrad", inplace=(1,))  # not y: the xp path reads y after writing out
def _softmax_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)

    def run(y: Any, dy: Any, out: Any = None) -> Any:
        ax = op.attrs["axis"] % y.ndim
        jit = seq_jit.kernels(ctx, y)
        if ax == y.ndim - 1 and seq_jit.rows_ok(jit, y, dy, *(() if out is None else (out,))):
            if out is None:
                out = xp.empty_like(y)
            jit.softmax_grad(seq_jit.as_rows(y), seq_jit.as_rows(dy), seq_jit.as_rows(out))
            return out
        t = scratch("t", y.shape, y.dtype)
        r = scratch("r", _reduced(y.shape, ax), y.dtype)
        xp.multiply(dy, y, out=t)
        xp.sum(t, axis=ax, keepdims=True, out=r)
        out = xp.subtract(dy, r, out=out)
        return xp.multiply(out, y, out=out)
    return run


@registry.register_kernel("LogSoftmax", inplace=(0,))
def _log_softmax_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)

    def run(x: Any, out: Any = None) -> Any:
        ax = op.attrs["axis"] % x.ndim
        r = scratch("r", _reduced(x.shape, ax), x.dtype)
        t = scratch("t", x.shape, x.dtype)
        xp.amax(x, axis=ax, keepdims=True, out=r)
        out = xp.subtract(x, r, out=out)
        xp.exp(out, out=t)
        xp.sum(t, axis=ax, keepdims=True, out=r)
        xp.log(r, out=r)
        return xp.subtract(out, r, out=out)
    return run


# --- bias_add, l2_loss ---------------------------------------------------------------------------

def _channel_axis(data_format: str | None, rank: int | None, op_type: str, name: str | None) -> int:
    if data_format in (None, "NHWC", "NWC", "NDHWC", "N...C"):
        return -1 if rank is None else rank - 1
    if data_format in ("NCHW", "NCW", "NCDHW", "NC..."):
        return 1
    raise ValueError(f"{_desc(op_type, name)}: unknown data_format {data_format!r} (use 'NHWC' or 'NCHW')")


def bias_add(value: Any, bias: Any, data_format: str | None = None, name: str | None = None) -> Tensor:
    """value + bias, with the 1-D bias added along the channel dimension (the last one for NHWC)."""
    x = _numeric_input(value, "BiasAdd", name, _SIGNED_AND_UNSIGNED, "value")
    b = _like(bias, x, "BiasAdd", name, "bias")
    xs, bs = x.static_shape, b.static_shape
    d = _desc("BiasAdd", name)
    if xs is not None and len(xs) < 2:
        raise ValueError(f"{d}: value must have rank >= 2, got shape {fmt_shape(xs)}")
    if bs is not None and len(bs) != 1:
        raise ValueError(f"{d}: bias must be 1-D, got shape {fmt_shape(bs)}")
    ch = _channel_axis(data_format, _rank(x), "BiasAdd", name)
    if ch == -1:
        raise ValueError(f"{d}: value needs a known rank")
    if xs is not None and bs is not None and xs[ch] is not None and bs[0] is not None and xs[ch] != bs[0]:
        raise ValueError(f"{d}: bias of shape {fmt_shape(bs)} must match the channel dimension {ch} of value "
                         f"{fmt_shape(xs)} ({bs[0]} vs {xs[ch]})")
    if xs is not None and bs is not None and xs[ch] is None and bs[0] is not None:
        xs = xs[:ch] + (bs[0],) + xs[ch + 1:]  # the bias tells the channel count (TF's shape function)
    return make_op("BiasAdd", [x, b], attrs={"channel_axis": ch}, shape=xs, dtype=x.dtype, name=name)


@registry.register_kernel("BiasAdd", inplace=(0,), elementwise=True, fusion="bias_add")
def _bias_add_kernel(op: Operation, ctx: Any) -> Any:
    add = ctx.xp.add
    ch = op.attrs["channel_axis"]

    def run(x: Any, b: Any, out: Any = None) -> Any:
        if ch != x.ndim - 1:
            b = b.reshape((-1,) + (1,) * (x.ndim - ch - 1))
        return add(x, b, out=out)
    return run


def bias_add_grad(dy: Tensor, channel_axis: int, name: str | None = None) -> Tensor:
    """BiasAddGrad(dy): dy summed over every dimension but the channel one."""
    s = dy.static_shape
    return make_op("BiasAddGrad", [dy], attrs={"channel_axis": channel_axis},
                   shape=None if s is None else (s[channel_axis],), dtype=dy.dtype, name=name)


@registry.register_kernel("BiasAddGrad")
def _bias_add_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    ch = op.attrs["channel_axis"]
    ones: dict[tuple, Any] = {}

    def run(dy: Any, out: Any = None) -> Any:
        if ch == dy.ndim - 1 and dy.flags.c_contiguous:
            # column sums as ones[1, rows] @ dy[rows, C]: one BLAS gemm, several times faster than a
            # reduction (a 1-row gemm also beats numpy's gemv path)
            d2 = dy.reshape(-1, dy.shape[-1])
            key = (d2.shape[0], dy.dtype)
            u = ones.get(key)
            if u is None:
                u = ones[key] = xp.ones((1, d2.shape[0]), dtype=dy.dtype)
            r = xp.dot(u, d2)
            if out is None:
                return r.reshape(-1)
            xp.copyto(out, r.reshape(-1))
            return out
        return xp.sum(dy, axis=tuple(i for i in range(dy.ndim) if i != ch), out=out)

    def bind(dy: Any, out: Any) -> Any:
        if ch == dy.ndim - 1 and dy.flags.c_contiguous and out.flags.c_contiguous:
            d2 = dy.reshape(-1, dy.shape[-1])
            u = xp.ones((1, d2.shape[0]), dtype=dy.dtype)
            return partial(xp.dot, u, d2, out.reshape(1, -1))
        return partial(run, dy, out=out)
    run.bind = bind  # type: ignore[attr-defined]
    return run


def l2_loss(t: Any, name: str | None = None) -> Tensor:
    """sum(t ** 2) / 2."""
    x = _float_input(t, "L2Loss", name, "t")
    return make_op("L2Loss", [x], shape=(), dtype=x.dtype, name=name)


@registry.register_kernel("L2Loss")
def _l2_loss_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    half = _c(0.5, op.outputs[0].dtype.np)

    def run(x: Any, out: Any = None) -> Any:
        flat = x.reshape(-1)
        v = xp.dot(flat, flat) * half
        if out is None:
            return xp.asarray(v, dtype=x.dtype)
        out[...] = v
        return out
    return run


def l2_normalize(x: Any, axis: Any = None, epsilon: float = 1e-12, name: str | None = None,
                 dim: Any = None) -> Tensor:
    """x / sqrt(max(sum(x ** 2, axis), epsilon))."""
    x = _float_input(x, "l2_normalize", name, "x")
    if dim is not None:
        axis = dim
    with name_scope(name or "l2_normalize"):
        sq = m.reduce_sum(m.square(x), axis=axis, keepdims=True)
        # max(sq, eps) = sq + relu(eps - sq), whose gradient [sq >= eps] needs no select
        floor = m.add(sq, relu(m.subtract(m.scalar_like(epsilon, x), sq)))
        return m.multiply(x, m.rsqrt(floor))


def xw_plus_b(x: Any, weights: Any, biases: Any, name: str | None = None) -> Tensor:
    """matmul(x, weights) + biases."""
    with name_scope(name or "xw_plus_b"):
        return bias_add(m.matmul(x, weights), biases)


def relu_layer(x: Any, weights: Any, biases: Any, name: str | None = None) -> Tensor:
    """relu(matmul(x, weights) + biases)."""
    with name_scope(name or "relu_layer"):
        return relu(bias_add(m.matmul(x, weights), biases))


# --- dropout -------------------------------------------------------------------------------------

def dropout(x: Any, keep_prob: Any = None, noise_shape: Any = None, seed: int | None = None,
            name: str | None = None, rate: Any = None) -> Tensor:
    """Zero each element with probability ``rate = 1 - keep_prob`` and scale the rest by 1 / keep_prob.

    The mask comes from a stateful random op whose stream lives in the session (seeded by
    ``tf.set_random_seed`` and ``seed`` as in TF1); the gradient multiplies by the same mask tensor.
    """
    if keep_prob is not None and rate is not None:
        raise ValueError("Cannot specify both 'keep_prob' and 'rate'.")
    if keep_prob is None and rate is None:
        raise ValueError("You must provide a rate to dropout.")
    x = _float_input(x, "dropout", name, "x")
    with name_scope(name or "dropout"):
        if rate is not None:
            if isinstance(rate, numbers.Real):
                if not 0 <= rate < 1:
                    raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), "
                                     f"got {rate:g}")
                keep: Any = 1.0 - float(rate)
            else:
                keep = m.subtract(m.scalar_like(1.0, x), m.cast(convert_to_tensor(rate), x.dtype))
        elif isinstance(keep_prob, numbers.Real):
            if not 0 < keep_prob <= 1:
                raise ValueError(f"keep_prob must be a scalar tensor or a float in the range (0, 1], "
                                 f"got {keep_prob:g}")
            keep = float(keep_prob)
        else:
            keep = m.cast(convert_to_tensor(keep_prob), x.dtype)
        if isinstance(keep, float):
            if keep == 1.0:
                return array_ops.identity(x)
            keep = m.scalar_like(keep, x)
        if keep.static_shape not in (None, ()):
            raise ValueError(f"dropout: keep_prob/rate must be a scalar, got shape "
                             f"{fmt_shape(keep.static_shape)}")
        ns = _noise_shape(x, noise_shape)
        s1, s2 = random_ops.get_seed(seed)
        # a fixed keep probability is folded into the mask (kept / keep); a Tensor one is TF's
        # x * (1 / keep) * kept, so the gradient reaches keep_prob (or rate) as in TF
        fixed = keep.op.type == "Const"
        mask = make_op("DropoutMask", [x, keep], attrs={"noise_shape": ns, "seed": s1, "seed2": s2,
                                                        "scaled": fixed},
                       shape=ns, dtype=x.dtype, name="mask")
        if fixed:
            return m.multiply(x, mask)
        out = m.multiply(m.multiply(x, m.reciprocal(keep)), mask)
        if x.static_shape is not None:
            out.set_shape(x.static_shape)  # as TF: a keep of unknown static shape is still a scalar
        return out


def _noise_shape(x: Tensor, noise_shape: Any) -> tuple | None:
    xs = x.static_shape
    if noise_shape is None:
        return xs
    if isinstance(noise_shape, Tensor):
        raise TypeError("dropout: noise_shape must be a list of ints (None for 'same as x'), not a Tensor")
    ns = [None if d is None or int(d) < 0 else int(d) for d in noise_shape]
    if xs is not None:
        if len(ns) != len(xs):
            raise ValueError(f"dropout: noise_shape {ns} must have the rank of x {fmt_shape(xs)}")
        for i, (a, b) in enumerate(zip(ns, xs)):
            if a is None:
                ns[i] = b
            elif a != 1 and b is not None and a != b:
                raise ValueError(f"dropout: noise_shape {list(noise_shape)} is not broadcastable to x's "
                                 f"shape {fmt_shape(xs)} (dimension {i})")
    return tuple(ns)


@registry.register_kernel("DropoutMask", stateful=True)
def _dropout_mask_kernel(op: Operation, ctx: Any) -> Any:
    rng = ctx.rng(op)
    be = ctx.backend
    dt = op.outputs[0].dtype.np
    ns = op.attrs["noise_shape"]
    draw_dt = dt if dt in (np.float32, np.float64) else np.dtype(np.float32)
    scaled = op.attrs.get("scaled", True)  # kept / keep, or the plain 0/1 mask
    in_place = be.host_memory and draw_dt == dt
    scratch = Scratch(np)
    keep_op = op.inputs[1].op
    const_keep = float(keep_op.attrs["value"]) if keep_op.type == "Const" else None
    if const_keep is not None and not 0.0 < const_keep <= 1.0:
        raise InvalidArgumentError(None, op, f"DropoutMask '{op.name}': keep probability must be in (0, 1], "
                                             f"got {const_keep:g}")

    # kept with probability keep (u < keep for u uniform in [0, 1)), scaled by 1 / keep so the
    # expectation is unchanged; u is drawn on the host from the op's stream in the session
    def run(x: Any, keep: Any, out: Any = None) -> Any:
        shape = x.shape if ns is None else tuple(x.shape[i] if d is None else d for i, d in enumerate(ns))
        if const_keep is None and not be.host_memory:
            # a fed keep probability on a device: the mask is made there, without reading keep back
            u = _draw(rng, shape, draw_dt, ctx.batch_shard if (ns is None or ns[0] is None) and shape else None)
            mask = be.upload(u)
            kk = keep.astype(dt)
            res = (mask < kk).astype(dt) / kk if scaled else (mask < kk).astype(dt)
            if out is None:
                return res
            be.copyto(out, res)
            return out
        k = const_keep if const_keep is not None else float(keep)
        if not 0.0 < k <= 1.0:
            raise InvalidArgumentError(None, op, f"DropoutMask '{op.name}': keep probability must be in "
                                                 f"(0, 1], got {k:g}")
        shard = ctx.batch_shard if (ns is None or ns[0] is None) and shape else None
        if shard is None and out is not None and in_place and out.flags.c_contiguous:
            rng.random(dtype=draw_dt, out=out)
            kept = scratch("kept", shape, bool)
            np.less(out, k, out=kept)
            return np.multiply(kept, dt.type(1.0 / k if scaled else 1.0), out=out)
        mask = (_draw(rng, shape, draw_dt, shard) < k).astype(dt) * dt.type(1.0 / k if scaled else 1.0)
        return be.upload(mask, out=out)
    return run


def _draw(rng: Any, shape: tuple, dtype: Any, shard: tuple[int, int] | None) -> np.ndarray:
    """Uniform [0, 1) draws on the host; in data-parallel training, this process's rows of a draw for
    the whole global batch (so every rank consumes the same stream)."""
    if shard is None:
        return rng.random(shape, dtype=dtype)
    lo, n = shard
    return rng.random((n, *shape[1:]), dtype=dtype)[lo:lo + shape[0]]


registry.not_differentiable("DropoutMask")


# --- moments and batch normalization -------------------------------------------------------------

def moments(x: Any, axes: Any, shift: Any = None, name: str | None = None, keep_dims: Any = None,
            keepdims: Any = None) -> tuple[Tensor, Tensor]:
    """(mean, variance) of x over ``axes``; ``shift`` is accepted and unused, as in TF."""
    if keep_dims is not None and keepdims is not None:
        raise ValueError("Cannot specify both 'keep_dims' and 'keepdims'")
    keep = bool(keep_dims if keep_dims is not None else keepdims)
    x = convert_to_tensor(x)
    if x.dtype.is_bool:
        raise TypeError(f"moments: x {x.name} must be numeric, got bool")
    with name_scope(name or "moments"):
        y = m.cast(x, dtypes.float32) if x.dtype == dtypes.float16 else x
        mean = m.reduce_mean(y, axis=axes, keepdims=True, name="mean")
        # TF's form: the mean inside the variance is a stop_gradient. The first derivative is exact
        # either way (d variance / d mean = 0 at the mean); second derivatives follow TF's.
        variance = m.reduce_mean(m.squared_difference(y, array_ops.stop_gradient(mean)), axis=axes,
                                 keepdims=keep, name="variance")
        if not keep:
            mean = array_ops.squeeze(mean, axis=list(static_axes(axes, _rank(y), "moments") or []))
        if x.dtype == dtypes.float16:
            return m.cast(mean, dtypes.float16), m.cast(variance, dtypes.float16)
        return mean, variance


def batch_normalization(x: Any, mean: Any, variance: Any, offset: Any, scale: Any, variance_epsilon: float,
                        name: str | None = None) -> Tensor:
    """(x - mean) * scale / sqrt(variance + epsilon) + offset (offset and scale may be None)."""
    x = _float_input(x, "batchnorm", name, "x")
    with name_scope(name or "batchnorm"):
        mean = _like(mean, x, "batchnorm", name, "mean")
        variance = _like(variance, x, "batchnorm", name, "variance")
        inv = m.rsqrt(m.add(variance, m.scalar_like(variance_epsilon, x)))
        if scale is not None:
            inv = m.multiply(inv, _like(scale, x, "batchnorm", name, "scale"))
        shift = m.negative(m.multiply(mean, inv))
        if offset is not None:
            shift = m.subtract(_like(offset, x, "batchnorm", name, "offset"), m.multiply(mean, inv))
        return m.add(m.multiply(x, inv), shift)


# --- cross-entropies -----------------------------------------------------------------------------

def _check_sentinel(sentinel: Any, fn: str) -> None:
    if sentinel is not None:
        raise ValueError(f"Only call `{fn}` with named arguments (labels=..., logits=..., ...)")


def sigmoid_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                      name: str | None = None) -> Tensor:
    """Elementwise -z log sigmoid(x) - (1 - z) log(1 - sigmoid(x)) as max(x, 0) - x z + log1p(exp(-|x|))."""
    _check_sentinel(_sentinel, "sigmoid_cross_entropy_with_logits")
    if labels is None or logits is None:
        raise ValueError("sigmoid_cross_entropy_with_logits needs both labels and logits")
    x = _float_input(logits, "logistic_loss", name, "logits")
    z = _like(labels, x, "logistic_loss", name, "labels")
    xs, zs = x.static_shape, z.static_shape
    if xs is not None and zs is not None and (len(xs) != len(zs) or any(
            a is not None and b is not None and a != b for a, b in zip(xs, zs))):
        raise ValueError(f"logits and labels must have the same shape ({fmt_shape(xs)} vs {fmt_shape(zs)})")
    with name_scope(name or "logistic_loss"):
        # TF's form: max(x, 0) and -|x| as selects on x >= 0, so at x = 0 both take the x >= 0 branch
        # and the gradient there is 1 - z - 1/2 = 0.5 - z (relu and abs would give -z)
        cond = m.greater_equal(x, array_ops.zeros_like(x))
        relu_logits = m.where(cond, x, array_ops.zeros_like(x))
        neg_abs_logits = m.where(cond, m.negative(x), x)
        return m.add(m.subtract(relu_logits, m.multiply(x, z)), m.log1p(m.exp(neg_abs_logits)))


def weighted_cross_entropy_with_logits(labels: Any = None, logits: Any = None, pos_weight: Any = None,
                                       name: str | None = None, targets: Any = None) -> Tensor:
    """Sigmoid cross-entropy with the positive term weighted by ``pos_weight``."""
    if targets is not None:
        labels = targets
    x = _float_input(logits, "logistic_loss", name, "logits")
    z = _like(labels, x, "logistic_loss", name, "labels")
    q = _like(pos_weight, x, "logistic_loss", name, "pos_weight")
    with name_scope(name or "logistic_loss"):
        # (1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|)) + max(-x, 0))
        one = m.scalar_like(1.0, x)
        log_weight = m.add(one, m.multiply(m.subtract(q, one), z))
        tail = m.add(m.log1p(m.exp(m.negative(m.abs(x)))), relu(m.negative(x)))
        return m.add(m.multiply(m.subtract(one, z), x), m.multiply(log_weight, tail))


def softmax_cross_entropy_with_logits_v2(labels: Any = None, logits: Any = None, axis: Any = None,
                                         name: str | None = None, dim: Any = None) -> Tensor:
    """-sum(labels * log_softmax(logits), axis) per example; gradients flow to logits and labels."""
    if labels is None or logits is None:
        raise ValueError("softmax_cross_entropy_with_logits needs both labels and logits")
    if dim is not None:
        if axis is not None:
            raise ValueError("softmax_cross_entropy_with_logits: pass axis or dim, not both")
        axis = dim
    op_type = "SoftmaxCrossEntropyWithLogits"
    x = _float_input(logits, op_type, name, "logits")
    z = convert_to_tensor(labels)
    if z.dtype != x.dtype:  # TF casts the labels to the logits' dtype
        z = m.cast(z, x.dtype)
    xs, zs = x.static_shape, z.static_shape
    d = _desc(op_type, name)
    if xs is not None and len(xs) == 0:
        raise ValueError(f"{d}: logits must have rank >= 1, got a scalar")
    if xs is not None and zs is not None and (len(xs) != len(zs) or any(
            a is not None and b is not None and a != b for a, b in zip(xs, zs))):
        try:  # labels that broadcast to the logits' shape (TF's kernel broadcasts them)
            bshape = m.broadcast_static(zs, xs, op_type)
        except ValueError:
            bshape = None
        if bshape is None or tuple(bshape) != tuple(xs) or len(zs) != len(xs):
            raise ValueError(f"{d}: logits and labels must have the same shape, got logits {fmt_shape(xs)} and "
                             f"labels {fmt_shape(zs)}") from None
        z = m.broadcast_like(z, x)
    shape = xs if xs is not None else zs
    ax = _axis(axis, None if shape is None else len(shape), op_type, name)
    loss_shape = None if shape is None else shape[:ax] + shape[ax + 1:]
    loss, _ = make_op(op_type, [x, z], attrs={"axis": ax}, name=name or "softmax_cross_entropy_with_logits",
                      outputs=[(loss_shape, x.dtype), (shape, x.dtype)])
    return loss


def softmax_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                      dim: Any = -1, name: str | None = None, axis: Any = None) -> Tensor:
    """TF1's (deprecated) form: like ``_v2`` but no gradient flows into labels (``stop_gradient``)."""
    _check_sentinel(_sentinel, "softmax_cross_entropy_with_logits")
    if labels is None or logits is None:
        raise ValueError("softmax_cross_entropy_with_logits needs both labels and logits")
    if axis is None:
        axis = dim
    with name_scope(name or "softmax_cross_entropy_with_logits_sg"):
        labels = array_ops.stop_gradient(convert_to_tensor(labels), name="labels_stop_gradient")
        return softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits, axis=axis)


@registry.register_kernel("SoftmaxCrossEntropyWithLogits")
def _softmax_ce_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)

    # One pass for loss and backprop. With s = x - max(x), S = sum(exp s) and L = sum(z):
    #   loss = L log S - sum(z s),   backprop = softmax(x) - z
    # backprop is d loss / dx when the labels sum to one; TF's op returns softmax - z for any labels
    # (and uses it as the gradient), so nnctl does too.
    def run(x: Any, z: Any, out: Any = None) -> Any:
        ax = op.attrs["axis"] % x.ndim
        if out is None:
            loss = xp.empty(x.shape[:ax] + x.shape[ax + 1:], dtype=x.dtype)
            b = xp.empty(x.shape, dtype=x.dtype)
        else:
            loss, b = out
        rshape = _reduced(x.shape, ax)
        r = scratch("r", rshape, x.dtype)
        zsum = scratch("zsum", rshape, x.dtype)
        t = scratch("t", x.shape, x.dtype)
        lk = loss.reshape(rshape)
        xp.amax(x, axis=ax, keepdims=True, out=r)
        xp.subtract(x, r, out=b)
        xp.multiply(z, b, out=t)
        xp.sum(t, axis=ax, keepdims=True, out=lk)
        xp.exp(b, out=b)
        xp.sum(b, axis=ax, keepdims=True, out=r)
        xp.sum(z, axis=ax, keepdims=True, out=zsum)
        f = scratch("f", rshape, x.dtype)
        xp.reciprocal(r, out=f)
        xp.log(r, out=r)
        xp.multiply(r, zsum, out=r)
        xp.subtract(r, lk, out=lk)
        xp.multiply(b, f, out=b)
        xp.subtract(b, z, out=b)
        return loss, b
    return run


def sparse_softmax_cross_entropy_with_logits(_sentinel: Any = None, labels: Any = None, logits: Any = None,
                                             name: str | None = None) -> Tensor:
    """-log_softmax(logits)[label] per example, for int32/int64 class indices ``labels``."""
    _check_sentinel(_sentinel, "sparse_softmax_cross_entropy_with_logits")
    if labels is None or logits is None:
        raise ValueError("sparse_softmax_cross_entropy_with_logits needs both labels and logits")
    op_type = "SparseSoftmaxCrossEntropyWithLogits"
    d = _desc(op_type, name)
    x = _float_input(logits, op_type, name, "logits")
    lab = convert_to_tensor(labels)
    if lab.dtype not in (dtypes.int32, dtypes.int64):
        raise TypeError(f"{d}: labels must be int32 or int64 class indices, got {lab.name} of dtype "
                        f"{lab.dtype.name}")
    xs, ls = x.static_shape, lab.static_shape
    if xs is not None and len(xs) == 0:
        raise ValueError(f"{d}: logits must have rank >= 1, got a scalar")
    if xs is not None and ls is not None:
        if len(ls) != len(xs) - 1:
            raise ValueError(f"{d}: Rank mismatch: rank of labels (received {len(ls)}, shape "
                             f"{fmt_shape(ls)}) should equal rank of logits minus 1 (received {len(xs)}, "
                             f"shape {fmt_shape(xs)})")
        if any(a is not None and b is not None and a != b for a, b in zip(ls, xs[:-1])):
            raise ValueError(f"{d}: labels shape {fmt_shape(ls)} does not match logits shape {fmt_shape(xs)} "
                             "without its last dimension")
    loss_shape = xs[:-1] if xs is not None else ls
    loss, _ = make_op(op_type, [x, lab], name=name or "SparseSoftmaxCrossEntropyWithLogits",
                      outputs=[(loss_shape, x.dtype), (xs, x.dtype)])
    return loss


@registry.register_kernel("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_ce_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    scratch = Scratch(xp)
    rows_cache: dict[int, Any] = {}

    # With s = x - max(x) and S = sum(exp s): loss = log S - s[label], backprop = softmax(x) - onehot(label)
    host_memory = ctx.backend.host_memory

    def run(x: Any, labels: Any, out: Any = None) -> Any:
        c = x.shape[-1]
        lab = labels.reshape(-1)
        invalid = None
        if lab.size and not host_memory:
            # On a device, as TF's GPU kernel: a label outside [0, c) makes that row's loss and gradient
            # NaN (the trainer's non-finite check reports it) instead of a per-step read-back of the labels.
            invalid = (lab < 0) | (lab >= c)
            lab = xp.where(invalid, 0, lab)
        elif lab.size:
            lo, hi = int(lab.min()), int(lab.max())
            if lo < 0 or hi >= c:
                bad = lo if lo < 0 else hi
                host = np.asarray(ctx.backend.to_host(lab))
                shown = " ".join(str(v) for v in host[:20]) + (" ..." if host.size > 20 else "")
                raise InvalidArgumentError(
                    None, op, f"{op.type} '{op.name}': Received a label value of {bad} which is outside the "
                              f"valid range of [0, {c}) (logits have {c} classes). Label values: {shown}")
        if out is None:
            loss = xp.empty(x.shape[:-1], dtype=x.dtype)
            b = xp.empty(x.shape, dtype=x.dtype)
        else:
            loss, b = out
        n = lab.size
        x2, b2, l1 = x.reshape(n, c), b.reshape(n, c), loss.reshape(n)
        jit = seq_jit.kernels(ctx, x, min_elements=0)  # one call against a dozen numpy passes
        if (jit is not None and c and seq_jit.rows_ok(jit, x2, b2) and seq_jit.host_ok(jit, l1)
                and seq_jit.exp_is_numpys(jit, x.dtype)):
            # one pass per row (seq.c): the arithmetic below, in its order, but np.log of the sums
            picked = scratch("picked", (n,), x.dtype)
            jit.sparse_xent_rows(x2, np.ascontiguousarray(lab, dtype=np.int64), b2, l1, picked)
            xp.log(l1, out=l1)
            xp.subtract(l1, picked, out=l1)
            return loss, b
        rows = rows_cache.get(n)
        if rows is None:
            rows = rows_cache[n] = xp.arange(n)
        r = scratch("r", (n, 1), x.dtype)
        xp.amax(x2, axis=1, keepdims=True, out=r)
        xp.subtract(x2, r, out=b2)
        picked = b2[rows, lab]
        xp.exp(b2, out=b2)
        xp.sum(b2, axis=1, keepdims=True, out=r)
        xp.divide(b2, r, out=b2)
        xp.log(r.reshape(n), out=l1)
        xp.subtract(l1, picked, out=l1)
        b2[rows, lab] -= 1
        if invalid is not None:
            l1[...] = xp.where(invalid, xp.nan, l1)
            b2[...] = xp.where(invalid[:, None], xp.nan, b2)
        return loss, b
    return run


# --- conv2d --------------------------------------------------------------------------------------

def _spatial(value: Any, what: str, desc: str) -> tuple[int, int]:
    """An int, [k], [kh, kw] or [1, kh, kw, 1] (NHWC) as (kh, kw)."""
    if isinstance(value, Tensor):
        raise TypeError(f"{desc}: {what} must be Python ints, not a Tensor")
    if isinstance(value, (int, np.integer)):
        v = [int(value)] * 2
    else:
        v = [int(a) for a in value]
        if len(v) == 1:
            v = v * 2
        elif len(v) == 4:
            if v[0] != 1 or v[3] != 1:
                raise ValueError(f"{desc}: {what} {list(value)} must be 1 in the batch and depth dimensions "
                                 "(NHWC: [1, h, w, 1])")
            v = v[1:3]
        elif len(v) != 2:
            raise ValueError(f"{desc}: {what} must be an int or a list of 1, 2 or 4 ints, got {list(value)}")
    if v[0] < 1 or v[1] < 1:
        raise ValueError(f"{desc}: {what} must be positive, got {value!r}")
    return v[0], v[1]


def _padding(padding: Any, desc: str, explicit_ok: bool) -> Any:
    if isinstance(padding, str):
        p = padding  # case-sensitive, as TF ("same" is an error there)
        if p not in ("SAME", "VALID"):
            raise ValueError(f"{desc}: padding must be 'SAME' or 'VALID', got {padding!r}")
        return p
    if explicit_ok and isinstance(padding, (list, tuple)) and len(padding) == 4:
        pads = [tuple(int(a) for a in p) for p in padding]
        if pads[0] != (0, 0) or pads[3] != (0, 0) or any(len(p) != 2 or min(p) < 0 for p in pads):
            raise ValueError(f"{desc}: explicit padding must be [[0, 0], [top, bottom], [left, right], "
                             f"[0, 0]] with non-negative sizes, got {padding!r}")
        return pads[1], pads[2]
    raise ValueError(f"{desc}: padding must be 'SAME' or 'VALID'"
                     + (" or [[0, 0], [top, bottom], [left, right], [0, 0]]" if explicit_ok else "")
                     + f", got {padding!r}")


def _check_nhwc(data_format: Any, desc: str) -> None:
    if data_format not in (None, "NHWC"):
        raise ValueError(f"{desc}: data_format {data_format!r} is not supported; nnctl runs NHWC only "
                         "(transpose the input to [batch, height, width, channels])")


def _conv_out_shape(xs: tuple | None, ws: tuple | None, attrs: dict, desc: str) -> tuple:
    n, h, w = (xs[0], xs[1], xs[2]) if xs is not None else (None, None, None)
    kh, kw, o = (ws[0], ws[1], ws[3]) if ws is not None else (None, None, None)
    pad = attrs["padding"]
    ph, pw = (pad, pad) if isinstance(pad, str) else pad
    (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
    oh = ow = None
    if h is not None and kh is not None:
        oh = conv_kernels.out_size(h, kh, sh, dh, ph)[0]
    if w is not None and kw is not None:
        ow = conv_kernels.out_size(w, kw, sw, dw, pw)[0]
    if (oh is not None and oh < 1) or (ow is not None and ow < 1):
        raise ValueError(f"{desc}: negative output size: the {kh}x{kw} window (dilations {dh}x{dw}) does "
                         f"not fit the {h}x{w} input with padding {pad!r} (input shape {fmt_shape(xs)}, "
                         f"filter shape {fmt_shape(ws)})")
    return n, oh, ow, o


def conv2d(input: Any, filter: Any = None, strides: Any = None, padding: Any = None,  # noqa: A002
           use_cudnn_on_gpu: bool = True, data_format: str = "NHWC", dilations: Any = (1, 1, 1, 1),
           name: str | None = None, filters: Any = None) -> Tensor:
    """2-D convolution (cross-correlation) of NHWC ``input`` with HWIO ``filter``, TF's padding rules."""
    desc = _desc("Conv2D", name)
    if filter is not None and filters is not None:
        raise ValueError(f"{desc}: pass filter or filters, not both")
    if filter is None:
        filter = filters  # noqa: A001
    if filter is None or strides is None or padding is None:
        raise ValueError(f"{desc}: filter, strides and padding are required")
    _check_nhwc(data_format, desc)
    x = _numeric_input(input, "Conv2D", name, ("int32",))
    w = _like(filter, x, "Conv2D", name, "filter")
    xs, ws = x.static_shape, w.static_shape
    if xs is not None and len(xs) != 4:
        raise ValueError(f"{desc}: input must be a 4-D NHWC tensor [batch, height, width, channels], got "
                         f"shape {fmt_shape(xs)} ({x.name})")
    if ws is not None and len(ws) != 4:
        raise ValueError(f"{desc}: filter must be 4-D [height, width, in_channels, out_channels], got shape "
                         f"{fmt_shape(ws)} ({w.name})")
    grouped = False
    if xs is not None and ws is not None and xs[3] is not None and ws[2] is not None and xs[3] != ws[2]:
        # TF2 semantics: an input depth that is a multiple of in_channels means grouped convolution
        grouped = xs[3] % ws[2] == 0 and ws[3] is not None and ws[3] % (xs[3] // ws[2]) == 0
        if not grouped:
            raise ValueError(f"{desc}: the input's depth {xs[3]} (input shape {fmt_shape(xs)}) does not match "
                             f"the filter's in_channels {ws[2]} (filter shape {fmt_shape(ws)}), nor is it "
                             "a multiple of it (grouped convolution) that divides out_channels")
    attrs = {"strides": _spatial(strides, "strides", desc),
             "dilations": _spatial(dilations, "dilations", desc),
             "padding": _padding(padding, desc, explicit_ok=True), "data_format": "NHWC"}
    if grouped:
        from nnctl.ops.conv_ops import grouped_conv2d
        return grouped_conv2d(x, w, attrs, name)
    return conv2d_op(x, w, attrs, name)


def conv2d_op(x: Tensor, w: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """The Conv2D op itself, from already checked tensors and normalised attributes."""
    shape = _conv_out_shape(x.static_shape, w.static_shape, attrs, _desc("Conv2D", name))
    return make_op("Conv2D", [x, w], attrs=dict(attrs), shape=shape, dtype=x.dtype, name=name)


def conv2d_backprop_input(x_like: Tensor, filter: Tensor, dy: Tensor, attrs: dict,  # noqa: A002
                          name: str | None = None) -> Tensor:
    """Conv2DBackpropInput(x_like, w, dy): d(conv2d)/d(input) applied to dy; x_like gives only the shape."""
    return make_op("Conv2DBackpropInput", [x_like, filter, dy], attrs=dict(attrs), shape=x_like.static_shape,
                   dtype=dy.dtype, name=name)


def conv2d_backprop_filter(x: Tensor, filter_like: Tensor, dy: Tensor, attrs: dict,
                           name: str | None = None) -> Tensor:
    """Conv2DBackpropFilter(x, w_like, dy): d(conv2d)/d(filter) applied to dy; w_like gives only the shape."""
    return make_op("Conv2DBackpropFilter", [x, filter_like, dy], attrs=dict(attrs),
                   shape=filter_like.static_shape, dtype=dy.dtype, name=name)


def _conv_factory(make, jit: bool = False):
    """Kernel factory of a window op; ``jit``: ``make`` takes the compiled loops where the backend's
    arrays are host memory (conv_jit.load(): None when the compiled library is unavailable or NNCTL_JIT=0)."""
    def factory(op: Operation, ctx: Any) -> Any:
        a = op.attrs
        if jit:
            return make(ctx.xp, a["strides"], a["dilations"], a["padding"], jit=conv_jit.for_ctx(ctx))
        return make(ctx.xp, a["strides"], a["dilations"], a["padding"])
    return factory


registry.register_kernel("Conv2D")(_conv_factory(conv_kernels.make_conv2d, jit=True))
registry.register_kernel("Conv2DBackpropInput")(_conv_factory(conv_kernels.make_conv2d_backprop_input, jit=True))
registry.register_kernel("Conv2DBackpropFilter")(_conv_factory(conv_kernels.make_conv2d_backprop_filter, jit=True))


# --- pooling -------------------------------------------------------------------------------------

def _pool(op_type: str, value: Any, ksize: Any, strides: Any, padding: Any, data_format: Any,
          name: str | None) -> Tensor:
    desc = _desc(op_type, name)
    _check_nhwc(data_format, desc)
    x = _numeric_input(value, op_type, name, _SIGNED_AND_UNSIGNED if op_type == "MaxPool" else ())
    xs = x.static_shape
    if xs is not None and len(xs) != 4:
        raise ValueError(f"{desc}: input must be a 4-D NHWC tensor [batch, height, width, channels], got "
                         f"shape {fmt_shape(xs)} ({x.name})")
    attrs = {"ksize": _spatial(ksize, "ksize", desc), "strides": _spatial(strides, "strides", desc),
             "padding": _padding(padding, desc, False), "data_format": "NHWC"}
    return pool_op(op_type, x, attrs, name)


def pool_op(op_type: str, x: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """The MaxPool/AvgPool op itself, from a checked tensor and normalised attributes."""
    xs = x.static_shape
    k = attrs["ksize"]
    shape = None
    if xs is not None:
        shape = _conv_out_shape(xs, (k[0], k[1], None, xs[3]), {**attrs, "dilations": (1, 1)},
                                _desc(op_type, name))
    return make_op(op_type, [x], attrs=dict(attrs), shape=shape, dtype=x.dtype, name=name)


def max_pool(value: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC",
             name: str | None = None, input: Any = None) -> Tensor:  # noqa: A002
    """The maximum over each ksize window (SAME padding never wins)."""
    if input is not None:
        value = input
    return _pool("MaxPool", value, ksize, strides, padding, data_format, name)


def max_pool2d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC",  # noqa: A002
               name: str | None = None) -> Tensor:
    return _pool("MaxPool", input, ksize, strides, padding, data_format, name)


def avg_pool(value: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC",
             name: str | None = None, input: Any = None) -> Tensor:  # noqa: A002
    """The mean over each ksize window; with SAME padding, over the window's non-padding elements (as TF)."""
    if input is not None:
        value = input
    return _pool("AvgPool", value, ksize, strides, padding, data_format, name)


def avg_pool2d(input: Any, ksize: Any, strides: Any, padding: Any, data_format: str = "NHWC",  # noqa: A002
               name: str | None = None) -> Tensor:
    return _pool("AvgPool", input, ksize, strides, padding, data_format, name)


def _pool_attrs(op: Operation) -> dict:
    return {k: op.attrs[k] for k in ("ksize", "strides", "padding", "data_format")}


def max_pool_grad(x: Tensor, y: Tensor, dy: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """MaxPoolGrad(x, y, dy): each window's dy routed to its first maximum in x."""
    return make_op("MaxPoolGrad", [x, y, dy], attrs=dict(attrs), shape=x.static_shape, dtype=dy.dtype,
                   name=name)


def max_pool_grad_grad(x: Tensor, y: Tensor, ddx: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """MaxPoolGradGrad(x, y, ddx): ddx read at each window's first maximum (shaped like y)."""
    return make_op("MaxPoolGradGrad", [x, y, ddx], attrs=dict(attrs), shape=y.static_shape, dtype=ddx.dtype,
                   name=name)


def avg_pool_grad(x_like: Tensor, dy: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """AvgPoolGrad(x_like, dy): dy spread evenly over each window; x_like gives only the shape."""
    return make_op("AvgPoolGrad", [x_like, dy], attrs=dict(attrs), shape=x_like.static_shape, dtype=dy.dtype,
                   name=name)


def _pool_factory(make, jit: bool = False):
    def factory(op: Operation, ctx: Any) -> Any:
        a = op.attrs
        if jit:
            return make(ctx.xp, a["ksize"], a["strides"], a["padding"], jit=conv_jit.for_ctx(ctx))
        return make(ctx.xp, a["ksize"], a["strides"], a["padding"])
    return factory


registry.register_kernel("MaxPool")(_pool_factory(conv_kernels.make_max_pool, jit=True))
registry.register_kernel("MaxPoolGrad")(_pool_factory(conv_kernels.make_max_pool_grad, jit=True))
registry.register_kernel("MaxPoolGradGrad")(_pool_factory(conv_kernels.make_max_pool_grad_grad))
registry.register_kernel("AvgPool")(_pool_factory(conv_kernels.make_avg_pool))
registry.register_kernel("AvgPoolGrad")(_pool_factory(conv_kernels.make_avg_pool_grad))

