"""Gradient rules of the nn ops. Each rule builds graph nodes from public ops (so it can be
differentiated again); ``dy`` is the gradient arriving at the op's output."""

from __future__ import annotations

from nnctl.graph.registry import register_gradient, register_sum_rule
from nnctl.ops import array_ops
from nnctl.ops import math_ops as m
from nnctl.ops import nn_ops as nn
from nnctl.ops.math_grad import _same_trailing


def _is_zero(t) -> bool:
    """The traversal hands a ZerosLike to outputs nobody differentiated."""
    return t is None or t.op.type == "ZerosLike"


# --- activations -----------------------------------------------------------------------------------

@register_gradient("Relu")
def _relu_grad(op, dy):
    return [nn.relu_grad(dy, op.outputs[0])]


@register_gradient("ReluGrad")
def _relu_grad_grad(op, ddx):
    # ReluGrad(dy, y) = dy * (y > 0): linear in dy, piecewise constant in y
    _, y = op.inputs
    return [nn.relu_grad(ddx, y), array_ops.zeros_like(y)]


@register_gradient("Relu6")
def _relu6_grad(op, dy):
    return [nn.relu6_grad(dy, op.outputs[0])]


@register_gradient("Relu6Grad")
def _relu6_grad_grad(op, ddx):
    # linear in dy, piecewise constant in y: zeros (a tensor, as TF) for y
    _, y = op.inputs
    return [nn.relu6_grad(ddx, y), array_ops.zeros_like(y)]


@register_gradient("LeakyRelu")
def _leaky_relu_grad(op, dy):
    return [nn.leaky_relu_grad(dy, op.inputs[0], op.attrs["alpha"])]


@register_gradient("LeakyReluGrad")
def _leaky_relu_grad_grad(op, ddx):
    _, x = op.inputs
    return [nn.leaky_relu_grad(ddx, x, op.attrs["alpha"]), array_ops.zeros_like(x)]


@register_gradient("Elu")
def _elu_grad(op, dy):
    # d/dx elu = 1 for x >= 0, exp(x) = y + 1 for x < 0 (TF takes the positive branch at 0)
    return [nn.elu_grad(dy, op.outputs[0])]


@register_gradient("EluGrad")
def _elu_grad_grad(op, ddx):
    # EluGrad(dy, y) = dy (y + 1) for y < 0, dy otherwise: d/d(dy) is EluGrad again, d/dy = dy for y < 0
    dy, y = op.inputs
    zeros = array_ops.zeros_like(y)
    return [nn.elu_grad(ddx, y), m.where(m.less(y, zeros), m.multiply(ddx, dy), zeros)]


@register_gradient("Selu")
def _selu_grad(op, dy):
    return [nn.selu_grad(dy, op.outputs[0])]


@register_gradient("SeluGrad")
def _selu_grad_grad(op, ddx):
    # SeluGrad(dy, y) = dy (y + scale alpha) for y < 0, dy scale otherwise
    dy, y = op.inputs
    zeros = array_ops.zeros_like(y)
    return [nn.selu_grad(ddx, y), m.where(m.less(y, zeros), m.multiply(ddx, dy), zeros)]


@register_gradient("Softplus")
def _softplus_grad(op, dy):
    # d/dx log(1 + e^x) = sigmoid(x)
    return [m.multiply(dy, m.sigmoid(op.inputs[0]))]


@register_gradient("Gelu")
def _gelu_grad(op, dy):
    return [nn.gelu_grad(dy, op.inputs[0], op.attrs["approximate"])]


@register_gradient("GeluGrad")
def _gelu_grad_grad(op, ddx):
    # GeluGrad(dy, x) = dy * gelu'(x): d/d(dy) = gelu'(x), d/dx = dy * gelu''(x)
    dy, x = op.inputs
    c = lambda v: m.scalar_like(v, x)  # noqa: E731
    x2 = m.square(x)
    if op.attrs["approximate"]:
        # u = c (x + a x^3), t = tanh u: gelu'' = (1 - t^2) (u' - x t u'^2 + x u'' / 2)
        a, k = nn._GELU_A, nn._GELU_C
        t = m.tanh(m.multiply(c(k), m.add(x, m.multiply(c(a), m.multiply(x, x2)))))
        du = m.multiply(c(k), m.add(c(1.0), m.multiply(c(3.0 * a), x2)))
        ddu = m.multiply(c(6.0 * a * k), x)
        inner = m.add(m.subtract(du, m.multiply(m.multiply(x, t), m.square(du))),
                      m.multiply(c(0.5), m.multiply(x, ddu)))
        second = m.multiply(m.subtract(c(1.0), m.square(t)), inner)
    else:
        # gelu'' = phi(x) (2 - x^2), phi the standard normal density
        phi = m.multiply(c(nn._RSQRT_2PI), m.exp(m.multiply(c(-0.5), x2)))
        second = m.multiply(phi, m.subtract(c(2.0), x2))
    return [nn.gelu_grad(ddx, x, op.attrs["approximate"]), m.multiply(m.multiply(ddx, dy), second)]


# --- softmax ---------------------------------------------------------------------------------------

@register_gradient("Softmax")
def _softmax_grad(op, dy):
    # dx = (dy - sum(dy * y)) * y, one fused op
    return [nn.softmax_grad(op.outputs[0], dy, op.attrs["axis"])]


@register_gradient("SoftmaxGrad")
def _softmax_grad_grad(op, g):
    # out = y (dy - s), s = sum(dy y). With upstream g:
    #   d/d dy_k = y_k (g_k - sum(g y))                = SoftmaxGrad(y, g)
    #   d/d y_k  = g_k (dy_k - s) - dy_k sum(g y)
    y, dy = op.inputs
    ax = op.attrs["axis"]
    s = m.reduce_sum(m.multiply(dy, y), axis=ax, keepdims=True)
    t = m.reduce_sum(m.multiply(g, y), axis=ax, keepdims=True)
    return [m.subtract(m.multiply(g, m.subtract(dy, s)), m.multiply(dy, t)), nn.softmax_grad(y, g, ax)]


@register_gradient("LogSoftmax")
def _log_softmax_grad(op, dy):
    # dx = dy - softmax(x) * sum(dy), softmax(x) = exp(y)
    y = op.outputs[0]
    s = m.reduce_sum(dy, axis=op.attrs["axis"], keepdims=True)
    return [m.subtract(dy, m.multiply(m.exp(y), s))]


# --- bias_add, l2_loss -------------------------------------------------------------------------

@register_gradient("BiasAdd")
def _bias_add_grad(op, dy):
    return [dy, nn.bias_add_grad(dy, op.attrs["channel_axis"])]


@register_gradient("BiasAddGrad")
def _bias_add_grad_grad(op, ddb):
    # BiasAddGrad sums dy over the non-channel axes: its adjoint broadcasts ddb back
    (dy,) = op.inputs
    ch = op.attrs["channel_axis"]
    rank = len(dy.static_shape)
    if ch != rank - 1:
        ddb = array_ops.reshape(ddb, [-1] + [1] * (rank - ch - 1))
    return [m.broadcast_like(ddb, dy)]


@register_sum_rule("BiasAddGrad")
def _bias_add_grad_sum(ops, concat):
    # sum_t BiasAddGrad(dy_t) = BiasAddGrad([dy_1; ...; dy_T]) when axis 0 is summed (not the
    # channel axis); the stacked dy is the one MatMul's sum rule joins for the weight gradient
    ch = ops[0].attrs["channel_axis"]
    dys = [o.inputs[0] for o in ops]
    if ch == 0 or any(o.attrs["channel_axis"] != ch for o in ops) or not _same_trailing(dys, 0):
        return None
    return nn.bias_add_grad(concat(dys, 0), ch)


@register_gradient("L2Loss")
def _l2_loss_grad(op, dy):
    return [m.multiply(op.inputs[0], dy)]


# --- cross-entropies ---------------------------------------------------------------------------

def _softmax_jvp_t(g, p, axis):
    """Transpose of the softmax Jacobian applied to g: (g - sum(g p)) p."""
    return m.multiply(m.subtract(g, m.reduce_sum(m.multiply(g, p), axis=axis, keepdims=True)), p)


@register_gradient("SoftmaxCrossEntropyWithLogits")
def _softmax_ce_grad(op, dloss, dbackprop):
    # loss = L lse(x) - sum(z x), backprop b = p L - z with p = softmax(x), L = sum(z).
    # d loss/dx = b, d loss/dz = -log_softmax(x); db/dx = L (diag p - p p^T), db/dz_j = p - e_j.
    # TF's rule: d loss/dx = b = softmax(x) - z (the true gradient p sum(z) - z when the labels sum
    # to one), d loss/dz = -log_softmax(x); through b only x's path (diag p - p p^T) is followed.
    x, z = op.inputs
    ax = op.attrs["axis"]
    b = op.outputs[1]
    d = array_ops.expand_dims(dloss, ax)
    gx = m.multiply(d, b)
    gz = m.multiply(d, m.negative(nn.log_softmax(x, axis=ax)))
    if not _is_zero(dbackprop):
        gx = m.add(gx, _softmax_jvp_t(dbackprop, nn.softmax(x, axis=ax), ax))
    return [gx, gz]


@register_gradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_ce_grad(op, dloss, dbackprop):
    # d loss/dx = b = softmax(x) - onehot; db/dx = diag p - p p^T
    x = op.inputs[0]
    gx = m.multiply(array_ops.expand_dims(dloss, -1), op.outputs[1])
    if not _is_zero(dbackprop):
        gx = m.add(gx, _softmax_jvp_t(dbackprop, nn.softmax(x), -1))
    return [gx, None]


# --- convolution -------------------------------------------------------------------------------

def _conv_attrs(op):
    return {k: op.attrs[k] for k in ("strides", "dilations", "padding", "data_format")}


@register_gradient("Conv2D")
def _conv2d_grad(op, dy):
    x, w = op.inputs
    a = _conv_attrs(op)
    return [nn.conv2d_backprop_input(x, w, dy, a), nn.conv2d_backprop_filter(x, w, dy, a)]


@register_gradient("Conv2DBackpropInput")
def _conv2d_backprop_input_grad(op, ddx):
    # Bi(w, dy) is bilinear with <ddx, Bi(w, dy)> = <conv(ddx, w), dy>
    x_like, w, dy = op.inputs
    a = _conv_attrs(op)
    return [None, nn.conv2d_backprop_filter(ddx, w, dy, a), nn.conv2d_op(ddx, w, a)]


@register_gradient("Conv2DBackpropFilter")
def _conv2d_backprop_filter_grad(op, ddw):
    # Bf(x, dy) is bilinear with <ddw, Bf(x, dy)> = <conv(x, ddw), dy>
    x, w_like, dy = op.inputs
    a = _conv_attrs(op)
    return [nn.conv2d_backprop_input(x, ddw, dy, a), None, nn.conv2d_op(x, ddw, a)]


# --- pooling -----------------------------------------------------------------------------------

@register_gradient("MaxPool")
def _max_pool_grad(op, dy):
    return [nn.max_pool_grad(op.inputs[0], op.outputs[0], dy, nn._pool_attrs(op))]


@register_gradient("MaxPoolGrad")
def _max_pool_grad_grad(op, ddx):
    # linear in dy (the routing is piecewise constant in x): the adjoint gathers ddx at the argmax
    x, y, _ = op.inputs
    return [array_ops.zeros_like(x), array_ops.zeros_like(y), nn.max_pool_grad_grad(x, y, ddx, nn._pool_attrs(op))]


@register_gradient("MaxPoolGradGrad")
def _max_pool_grad_grad_grad(op, dz):
    x, y, _ = op.inputs
    return [array_ops.zeros_like(x), array_ops.zeros_like(y), nn.max_pool_grad(x, y, dz, nn._pool_attrs(op))]


@register_gradient("AvgPool")
def _avg_pool_grad(op, dy):
    return [nn.avg_pool_grad(op.inputs[0], dy, nn._pool_attrs(op))]


@register_gradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, ddx):
    # AvgPoolGrad is the adjoint of the (linear) average pool, so its adjoint is the pool again
    return [None, nn.pool_op("AvgPool", ddx, nn._pool_attrs(op))]
