"""Gradient rules of the math ops. Each rule builds graph nodes from public ops (so it can be
differentiated again); ``dy`` is the gradient arriving at the op's output."""

from __future__ import annotations

from nnctl.graph.registry import register_gradient, register_sum_rule
from nnctl.ops import array_ops
from nnctl.ops import math_ops as m
from nnctl.ops.core import unbroadcast


@register_gradient("AddV2")
def _add_grad(op, dy):
    x, y = op.inputs
    return [unbroadcast(dy, x), unbroadcast(dy, y)]


register_gradient("Add")(_add_grad)  # the type of older graphs and frozen files


@register_gradient("Sub")
def _sub_grad(op, dy):
    x, y = op.inputs
    return [unbroadcast(dy, x), unbroadcast(m.negative(dy), y)]


@register_gradient("Mul")
def _mul_grad(op, dy):
    x, y = op.inputs
    return [unbroadcast(m.multiply(dy, y), x), unbroadcast(m.multiply(x, dy), y)]


@register_gradient("RealDiv")
def _realdiv_grad(op, dy):
    # d(x/y)/dx = 1/y ; d(x/y)/dy = -x/y^2
    x, y = op.inputs
    return [unbroadcast(m.realdiv(dy, y), x),
            unbroadcast(m.multiply(dy, m.negative(m.realdiv(m.realdiv(x, y), y))), y)]


@register_gradient("Pow")
def _pow_grad(op, dy):
    # d(x^y)/dx = y x^(y-1) ; d(x^y)/dy = x^y log x (taken as 0 where x <= 0)
    x, y = op.inputs
    z = op.outputs[0]
    gx = m.multiply(dy, m.multiply(y, m.pow(x, m.subtract(y, m.scalar_like(1.0, y)))))
    safe_x = m.where(m.greater(x, m.scalar_like(0.0, x)), x, array_ops.ones_like(x))
    log_x = m.where(m.greater(x, m.scalar_like(0.0, x)), m.log(safe_x), array_ops.zeros_like(x))
    gy = m.multiply(dy, m.multiply(z, log_x))
    return [unbroadcast(gx, x), unbroadcast(gy, y)]


def _select_by(cond, dy, x, y):
    zeros = array_ops.zeros_like(dy)
    return [unbroadcast(m.where(cond, dy, zeros), x), unbroadcast(m.where(cond, zeros, dy), y)]


@register_gradient("Maximum")
def _maximum_grad(op, dy):
    x, y = op.inputs
    return _select_by(m.greater_equal(x, y), dy, x, y)


@register_gradient("Minimum")
def _minimum_grad(op, dy):
    x, y = op.inputs
    return _select_by(m.less_equal(x, y), dy, x, y)


@register_gradient("SquaredDifference")
def _sqdiff_grad(op, dy):
    # d(x-y)^2/dx = 2(x-y)
    x, y = op.inputs
    g = m.multiply(m.multiply(m.scalar_like(2.0, dy), dy), m.subtract(x, y))
    return [unbroadcast(g, x), unbroadcast(m.negative(g), y)]


@register_gradient("Neg")
def _neg_grad(op, dy):
    return [m.negative(dy)]


@register_gradient("Square")
def _square_grad(op, dy):
    (x,) = op.inputs
    return [m.multiply(dy, m.multiply(m.scalar_like(2.0, x), x))]


@register_gradient("Sqrt")
def _sqrt_grad(op, dy):
    # d sqrt(x) = 1 / (2 sqrt(x)) = 0.5 / y
    y = op.outputs[0]
    return [m.multiply(dy, m.realdiv(m.scalar_like(0.5, y), y))]


@register_gradient("Rsqrt")
def _rsqrt_grad(op, dy):
    # d x^(-1/2) = -0.5 x^(-3/2) = -0.5 y^3
    y = op.outputs[0]
    return [m.multiply(dy, m.multiply(m.scalar_like(-0.5, y), m.multiply(y, m.square(y))))]


@register_gradient("Exp")
def _exp_grad(op, dy):
    return [m.multiply(dy, op.outputs[0])]


@register_gradient("Expm1")
def _expm1_grad(op, dy):
    return [m.multiply(dy, m.exp(op.inputs[0]))]


@register_gradient("Log")
def _log_grad(op, dy):
    return [m.realdiv(dy, op.inputs[0])]


@register_gradient("Log1p")
def _log1p_grad(op, dy):
    (x,) = op.inputs
    return [m.realdiv(dy, m.add(m.scalar_like(1.0, x), x))]


@register_gradient("Abs")
def _abs_grad(op, dy):
    return [m.multiply(dy, m.sign(op.inputs[0]))]


@register_gradient("FloorMod")
def _floor_mod_grad(op, dy):
    # x mod y = x - floor(x / y) y: d/dx = 1, d/dy = -floor(x / y) (TF's rule; FloorDiv has none)
    x, y = op.inputs
    return [unbroadcast(dy, x), unbroadcast(m.multiply(dy, m.negative(m.floordiv(x, y))), y)]


@register_gradient("Sign")
def _sign_grad(op, dy):
    # piecewise constant: zero almost everywhere (TF returns zeros, not None)
    return [array_ops.zeros_like(op.inputs[0])]


@register_gradient("Reciprocal")
def _reciprocal_grad(op, dy):
    # d(1/x) = -1/x^2 = -y^2
    y = op.outputs[0]
    return [m.negative(m.multiply(dy, m.square(y)))]


@register_gradient("Sin")
def _sin_grad(op, dy):
    return [m.multiply(dy, m.cos(op.inputs[0]))]


@register_gradient("Cos")
def _cos_grad(op, dy):
    return [m.negative(m.multiply(dy, m.sin(op.inputs[0])))]


@register_gradient("Sigmoid")
def _sigmoid_grad(op, dy):
    return [m.sigmoid_grad(op.outputs[0], dy)]


@register_gradient("SigmoidGrad")
def _sigmoid_grad_grad(op, ddx):
    # SigmoidGrad(y, dy) = dy*y*(1-y): d/dy = dy*(1-2y), d/d(dy) = y(1-y)
    y, dy = op.inputs
    one = m.scalar_like(1.0, y)
    gy = m.multiply(ddx, m.multiply(dy, m.subtract(one, m.multiply(m.scalar_like(2.0, y), y))))
    return [gy, m.sigmoid_grad(y, ddx)]


@register_gradient("Tanh")
def _tanh_grad(op, dy):
    return [m.tanh_grad(op.outputs[0], dy)]


@register_gradient("TanhGrad")
def _tanh_grad_grad(op, ddx):
    # TanhGrad(y, dy) = dy*(1-y^2): d/dy = -2 y dy, d/d(dy) = 1-y^2
    y, dy = op.inputs
    gy = m.multiply(ddx, m.multiply(m.scalar_like(-2.0, y), m.multiply(y, dy)))
    return [gy, m.tanh_grad(y, ddx)]


@register_gradient("Cast")
def _cast_grad(op, dy):
    (x,) = op.inputs
    if not x.dtype.is_floating or not dy.dtype.is_floating:
        return [None]
    return [m.cast(dy, x.dtype)]


@register_gradient("AddN")
def _add_n_grad(op, dy):
    return [unbroadcast(dy, x) for x in op.inputs]


@register_gradient("Select")
def _select_grad(op, dy):
    c, x, y = op.inputs
    zeros = array_ops.zeros_like(dy)
    return [None, unbroadcast(m.where(c, dy, zeros), x), unbroadcast(m.where(c, zeros, dy), y)]


@register_gradient("MatMul")
def _matmul_grad(op, dy):
    a, b = op.inputs
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    if not ta and not tb:
        return [m.matmul(dy, b, transpose_b=True), m.matmul(a, dy, transpose_a=True)]
    if not ta and tb:
        return [m.matmul(dy, b), m.matmul(dy, a, transpose_a=True)]
    if ta and not tb:
        return [m.matmul(b, dy, transpose_b=True), m.matmul(a, dy)]
    return [m.matmul(b, dy, transpose_a=True, transpose_b=True), m.matmul(dy, a, transpose_a=True, transpose_b=True)]


def _same_trailing(ts: list, axis: int) -> bool:
    """Every tensor has one dtype, one rank and the same known sizes on every axis but ``axis``."""
    s0 = ts[0].static_shape
    if s0 is None:
        return False
    rest = [d for i, d in enumerate(s0) if i != axis]
    if None in rest:
        return False
    return all(t.dtype == ts[0].dtype and t.static_shape is not None and len(t.static_shape) == len(s0)
               and [d for i, d in enumerate(t.static_shape) if i != axis] == rest for t in ts)


@register_sum_rule("MatMul")
def _matmul_sum(ops, concat):
    # sum_t a_t^T b_t = [a_1; ...; a_T]^T [b_1; ...; b_T]: the products contract over axis 0 of
    # both operands, so stacking the operands along it turns T products and their sum into one
    # GEMM with a T times longer contraction (an unrolled RNN's weight gradient)
    if any(not o.attrs["transpose_a"] or o.attrs["transpose_b"] for o in ops):
        return None
    a_s, b_s = [o.inputs[0] for o in ops], [o.inputs[1] for o in ops]
    if not (_same_trailing(a_s, 0) and _same_trailing(b_s, 0)) or len(a_s[0].static_shape) != 2:
        return None
    return m.matmul(concat(a_s, 0), concat(b_s, 0), transpose_a=True)


@register_gradient("BatchMatMul")
def _batch_matmul_grad(op, dy):
    a, b = op.inputs
    ga, gb = _matmul_grad(op, dy)
    return [unbroadcast(ga, a), unbroadcast(gb, b)]


def _keepdims(dy, op):
    """Reshape a reduction's incoming gradient to the keepdims shape of its input."""
    x = op.inputs[0]
    axes = op.attrs["axis"]
    if op.attrs["keepdims"]:
        return dy
    if axes is None:
        if x.static_shape is None:
            return dy  # a scalar: it broadcasts against an input of any rank
        axes = tuple(range(len(x.static_shape)))
    for a in sorted(axes):
        dy = array_ops.expand_dims(dy, a)
    return dy


@register_gradient("Sum")
def _sum_grad(op, dy):
    return [m.broadcast_like(_keepdims(dy, op), op.inputs[0])]


@register_gradient("Mean")
def _mean_grad(op, dy):
    x = op.inputs[0]
    g = m.broadcast_like(_keepdims(dy, op), x)
    n = array_ops.reduction_size(x, op.attrs["axis"])
    return [m.realdiv(g, m.cast(n, dy.dtype))]


def _minmax_grad(op, dy):
    # The gradient goes to the positions equal to the extreme value, split evenly among ties.
    x = op.inputs[0]
    y = op.outputs[0]
    yk = m.broadcast_like(_keepdims(y, op), x)
    mask = m.cast(m.equal(x, yk), dy.dtype)
    count = _keepdims(m._reduce("Sum", mask, op.attrs["axis"], op.attrs["keepdims"], None), op)
    g = m.broadcast_like(m.realdiv(_keepdims(dy, op), count), x)
    return [m.multiply(g, mask)]


register_gradient("Max")(_minmax_grad)
register_gradient("Min")(_minmax_grad)


def _exclusive_products(x, axis):
    """prod_{j != i} x_j along ``axis``, without dividing: the exclusive cumulative products from the
    left times those from the right (TF's rule, exact where some x_j = 0)."""
    return m.multiply(m.cumprod(x, axis, exclusive=True), m.cumprod(x, axis, exclusive=True, reverse=True))


@register_gradient("Prod")
def _prod_grad(op, dy):
    # d prod / dx_i = prod_{j != i} x_j over the reduced elements. The reduced axes are moved to the
    # front and flattened into one (as TF does), so the exclusive products run over them in one pass.
    x = op.inputs[0]
    g = m.broadcast_like(_keepdims(dy, op), x)
    s = x.static_shape
    axes = op.attrs["axis"]
    if axes is None or (s is not None and len(axes) == len(s)):
        flat = array_ops.reshape(x, [-1])
        return [m.multiply(g, array_ops.reshape_like(_exclusive_products(flat, 0), x))]
    if len(axes) == 1:
        return [m.multiply(g, _exclusive_products(x, axes[0]))]
    if s is None:
        raise ValueError(f"gradient of Prod '{op.name}' over axes {list(axes)} needs a known input rank")
    rest = [i for i in range(len(s)) if i not in axes]
    reduced_n = other_n = 1
    for i in axes:
        reduced_n = None if reduced_n is None or s[i] is None else reduced_n * s[i]
    for i in rest:
        other_n = None if other_n is None or s[i] is None else other_n * s[i]
    perm = list(axes) + rest
    xt = array_ops.transpose(x, perm)
    if reduced_n is not None:
        mat = array_ops.reshape(xt, [reduced_n, -1])
    elif other_n is not None:
        mat = array_ops.reshape(xt, [-1, other_n])
    else:
        raise ValueError(f"gradient of Prod '{op.name}' over axes {list(axes)} needs the sizes of either the "
                         f"reduced or the kept dimensions (input shape {s})")
    y = array_ops.reshape_like(_exclusive_products(mat, 0), xt)
    return [m.multiply(g, array_ops.transpose(y, array_ops.inverse_permutation(perm)))]


@register_gradient("Cumsum")
def _cumsum_grad(op, dy):
    # the adjoint of a running sum is the running sum in the other direction
    a = op.attrs
    return [m.cumsum(dy, a["axis"], exclusive=a["exclusive"], reverse=not a["reverse"])]


@register_gradient("Cumprod")
def _cumprod_grad(op, dy):
    # d/dx_i sum_k dy_k prod_{j<=k} x_j = sum_{k>=i} dy_k y_k / x_i, with TF's div_no_nan (0 where x_i = 0)
    x = op.inputs[0]
    a = op.attrs
    prod = m.cumprod(x, a["axis"], exclusive=a["exclusive"], reverse=a["reverse"])
    out = m.cumsum(m.multiply(prod, dy), a["axis"], exclusive=a["exclusive"], reverse=not a["reverse"])
    return [m.div_no_nan(out, x)]


@register_gradient("DivNoNan")
def _div_no_nan_grad(op, dy):
    # as RealDiv's, with 0 where y = 0
    x, y = op.inputs
    return [unbroadcast(m.div_no_nan(dy, y), x),
            unbroadcast(m.multiply(dy, m.div_no_nan(m.div_no_nan(m.negative(x), y), y)), y)]


@register_gradient("SumToShape")
def _sum_to_shape_grad(op, dy):
    return [m.broadcast_like(dy, op.inputs[0]), None]


@register_gradient("BroadcastLike")
def _broadcast_like_grad(op, dy):
    return [m.sum_to_shape(dy, op.inputs[0]), None]
