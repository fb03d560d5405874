"""Gradient-check rows for the nn ops (see gradcheck_util.py)."""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

from nnctl import image, math, nn
from nnctl.ops import bn_ops, image_ops, lstm_ops, nn_ops, rnn
from nnctl.ops import conv_ops as cv
from nnctl.ops.layer_norm_ops import layer_norm_op

_r = np.random.default_rng(3)


def _u(*shape, lo=-1.0, hi=1.0):
    return _r.uniform(lo, hi, size=shape)


def _away(*shape, lo=0.1, hi=2.0):
    """Values with |v| in [lo, hi] and random signs: clear of the kink at 0."""
    return _r.uniform(lo, hi, size=shape) * _r.choice([-1.0, 1.0], size=shape)


def _distinct(*shape):
    """Distinct values 0.1 apart in random order: no ties, so max-pool argmaxes are stable."""
    n = int(np.prod(shape))
    return (_r.permutation(n) * 0.1 - n * 0.05).reshape(shape)


def _labels(n, c):
    z = _r.uniform(0.1, 1.0, size=(n, c))
    return z / z.sum(axis=1, keepdims=True)


def _conv_row(name, xs, ws, strides, padding, dilations=1):
    return GradRow(name, ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"),
                   lambda x, w: nn.conv2d(x, w, strides=strides, padding=padding, dilations=dilations),
                   [_u(*xs), _u(*ws)])


def _conv_attrs(strides, padding):
    s = (strides, strides) if isinstance(strides, int) else tuple(strides)
    return {"strides": s, "dilations": (1, 1), "padding": padding, "data_format": "NHWC"}


def _pool_attrs(k, s, padding):
    return {"ksize": (k, k), "strides": (s, s), "padding": padding, "data_format": "NHWC"}


def _max_pool_grad(x, dy, k, s, padding):
    a = _pool_attrs(k, s, padding)
    return nn_ops.max_pool_grad(x, nn.max_pool2d(x, k, s, padding), dy, a)


def _max_pool_grad_grad(x, ddx, k, s, padding):
    a = _pool_attrs(k, s, padding)
    return nn_ops.max_pool_grad_grad(x, nn.max_pool2d(x, k, s, padding), ddx, a)


ROWS = [
    # activations (inputs clear of the kinks)
    GradRow("relu", ("Relu",), nn.relu, [_away(3, 4)]),
    GradRow("relu_grad", ("ReluGrad",), lambda dy, y: nn_ops.relu_grad(dy, nn.relu(y)),
            [_u(3, 4), _away(3, 4)], wrt=(0,)),
    GradRow("relu6", ("Relu6", "Relu6Grad"), nn.relu6, [np.array([[-1.0, 0.5, 3.0], [5.5, 6.5, 8.0]])]),
    GradRow("relu6_grad", ("Relu6Grad",), lambda dy, y: nn_ops.relu6_grad(dy, nn.relu6(y)),
            [_u(2, 3), np.array([[-1.0, 0.5, 3.0], [5.5, 6.5, 8.0]])], wrt=(0,)),
    GradRow("leaky_relu", ("LeakyRelu", "LeakyReluGrad"), lambda x: nn.leaky_relu(x, alpha=0.3), [_away(3, 4)]),
    GradRow("leaky_relu_grad", ("LeakyReluGrad",), lambda dy, x: nn_ops.leaky_relu_grad(dy, x, 0.3),
            [_u(3, 4), _away(3, 4)], wrt=(0,)),
    GradRow("elu", ("Elu", "EluGrad"), nn.elu, [_away(3, 4)]),
    GradRow("elu_grad", ("EluGrad",), lambda dy, x: nn_ops.elu_grad(dy, nn.elu(x)), [_u(3, 4), _away(3, 4)]),
    GradRow("selu", ("Selu", "SeluGrad"), nn.selu, [_away(3, 4)]),
    GradRow("selu_grad", ("SeluGrad",), lambda dy, x: nn_ops.selu_grad(dy, nn.selu(x)), [_u(3, 4), _away(3, 4)]),
    GradRow("softplus", ("Softplus",), nn.softplus, [_u(3, 4, lo=-4, hi=4)]),
    GradRow("softsign", ("Abs", "RealDiv"), nn.softsign, [_away(3, 4)]),
    GradRow("gelu", ("Gelu", "GeluGrad"), nn.gelu, [_u(3, 4, lo=-4, hi=4)]),
    GradRow("gelu_approximate", ("Gelu", "GeluGrad"), lambda x: nn.gelu(x, approximate=True),
            [_u(3, 4, lo=-4, hi=4)]),
    GradRow("gelu_grad", ("GeluGrad",), lambda dy, x: nn_ops.gelu_grad(dy, x, False),
            [_u(3, 4), _u(3, 4, lo=-3, hi=3)]),
    GradRow("gelu_grad_approximate", ("GeluGrad",), lambda dy, x: nn_ops.gelu_grad(dy, x, True),
            [_u(3, 4), _u(3, 4, lo=-3, hi=3)]),
    # softmax family
    GradRow("softmax", ("Softmax",), nn.softmax, [_u(3, 5, lo=-2, hi=2)]),
    GradRow("softmax_axis0", ("Softmax",), lambda x: nn.softmax(x, axis=0), [_u(4, 2, 3, lo=-2, hi=2)]),
    # the fused LSTM step: every output (c, h and the saved activations) and the fused gradient
    GradRow("lstm_gates", ("LSTMGates",), lambda g, c: lstm_ops.lstm_gates(g, c, 0.5), [_u(2, 12, lo=-2, hi=2),
                                                                                      _u(2, 3)]),
    GradRow("lstm_gates_c_h", ("LSTMGates", "LSTMGatesGrad"), lambda g, c: lstm_ops.lstm_gates(g, c, 0.5)[:2],
            [_u(2, 12, lo=-2, hi=2), _u(2, 3)]),
    GradRow("lstm_gates_h", ("LSTMGates", "LSTMGatesGrad"), lambda g, c: lstm_ops.lstm_gates(g, c, 0.0)[1],
            [_u(2, 12, lo=-2, hi=2), _u(2, 3)]),
    GradRow("lstm_gates_grad", ("LSTMGatesGrad",),
            lambda g, c, dc, dh: lstm_ops.lstm_gates_grad(*lstm_ops.lstm_gates(g, c, 0.0)[2:], c, dc, dh),
            [_u(2, 12, lo=-2, hi=2), _u(2, 3), _u(2, 3), _u(2, 3)]),
    GradRow("softmax_grad", ("SoftmaxGrad",), lambda y, dy: nn_ops.softmax_grad(nn.softmax(y), dy, 1),
            [_u(3, 5, lo=-2, hi=2), _u(3, 5)]),
    GradRow("softmax_grad_axis0", ("SoftmaxGrad",), lambda y, dy: nn_ops.softmax_grad(nn.softmax(y, axis=0), dy, 0),
            [_u(4, 2, 3, lo=-2, hi=2), _u(4, 2, 3)]),
    GradRow("log_softmax", ("LogSoftmax",), nn.log_softmax, [_u(3, 5, lo=-2, hi=2)]),
    GradRow("log_softmax_axis1", ("LogSoftmax",), lambda x: nn.log_softmax(x, axis=1),
            [_u(2, 4, 3, lo=-2, hi=2)]),
    # bias, l2 loss, normalisation
    GradRow("bias_add", ("BiasAdd", "BiasAddGrad"), nn.bias_add, [_u(2, 3, 3, 4), _u(4)]),
    GradRow("bias_add_rank2", ("BiasAdd", "BiasAddGrad"), nn.bias_add, [_u(5, 3), _u(3)]),
    GradRow("bias_add_nchw", ("BiasAdd", "BiasAddGrad"), lambda x, b: nn.bias_add(x, b, data_format="NCHW"),
            [_u(2, 3, 2, 2), _u(3)]),
    GradRow("bias_add_grad", ("BiasAddGrad",), lambda dy: nn_ops.bias_add_grad(dy, 3), [_u(2, 3, 2, 4)]),
    GradRow("l2_loss", ("L2Loss",), nn.l2_loss, [_u(3, 4)]),
    GradRow("l2_normalize", ("Rsqrt", "Relu"), lambda x: nn.l2_normalize(x, axis=1), [_u(3, 4)]),
    # moments: the variance is taken about stop_gradient(mean), as in TF, so only the first order is
    # the true derivative (the second is TF's); the mean and squared difference are checked in second
    # order by their own rows
    GradRow("moments", ("Mean", "SquaredDifference"), lambda x: list(nn.moments(x, axes=[0, 1])),
            [_u(3, 2, 4)], second_order=False),
    GradRow("moments_keepdims", ("Mean",), lambda x: list(nn.moments(x, axes=[1], keepdims=True)),
            [_u(3, 4, 2)], second_order=False),
    GradRow("batch_normalization", ("Rsqrt",),
            lambda x, mu, var, off, sc: nn.batch_normalization(x, mu, var, off, sc, 1e-3),
            [_u(4, 3), _u(3), _u(3, lo=0.5, hi=1.5), _u(3), _u(3)]),
    # moments takes the variance about stop_gradient(mean), as TF does: the first derivative is exact,
    # the second in x is TF's (partial), so the Hessian-vector product is checked for offset and scale
    GradRow("batch_norm_from_moments", ("Rsqrt", "Mean"),
            lambda x, off, sc: nn.batch_normalization(x, *nn.moments(x, axes=[0]), off, sc, 1e-3),
            [_u(5, 3), _u(3), _u(3)], hvp_wrt=(1, 2)),
    # fused batch norm (NHWC): y alone takes the fused gradient op (its second order differentiates
    # FusedBatchNormGradV3's graph-op form); all three outputs take the graph-op form of the forward
    GradRow("fused_batch_norm", ("FusedBatchNormV3", "FusedBatchNormGradV3"),
            lambda x, sc, off: nn.fused_batch_norm(x, sc, off)[0], [_u(2, 3, 2, 4), _u(4), _u(4)]),
    GradRow("fused_batch_norm_nchw", ("FusedBatchNormV3", "FusedBatchNormGradV3", "Transpose"),
            lambda x, sc, off: nn.fused_batch_norm(x, sc, off, data_format="NCHW")[0],
            [_u(2, 4, 3, 2), _u(4), _u(4)]),
    GradRow("fused_batch_norm_stats", ("FusedBatchNormV3",),
            lambda x, sc, off: list(nn.fused_batch_norm(x, sc, off)), [_u(3, 2, 2, 3), _u(3), _u(3)]),
    GradRow("fused_batch_norm_inference", ("FusedBatchNormV3",),
            lambda x, sc, off, mu, var: nn.fused_batch_norm(x, sc, off, mu, var, is_training=False)[0],
            [_u(2, 2, 2, 3), _u(3), _u(3), _u(3), _u(3, lo=0.5, hi=1.5)]),
    GradRow("fused_batch_norm_grad", ("FusedBatchNormGradV3",),
            lambda dy, x, sc, mu, var: bn_ops.fused_batch_norm_grad_v3(dy, x, sc, mu, var, 1e-3),
            [_u(2, 2, 3, 3), _u(2, 2, 3, 3), _u(3), _u(3), _u(3, lo=0.5, hi=1.5)]),
    # cross-entropies (second order through the fused backprop output)
    # TF's rule does not follow the labels through the fused backprop output (d2 loss / dz dx is 0 in
    # TF), so the Hessian-vector product is checked for the logits only
    GradRow("softmax_ce_v2", ("SoftmaxCrossEntropyWithLogits",),
            lambda x, z: nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x), [_u(4, 5, lo=-2, hi=2),
                                                                                       _labels(4, 5)],
            hvp_wrt=(0,)),
    # labels that do not sum to 1: TF's logits gradient is softmax - labels (not the derivative, see
    # test_nn_ops), so only the labels' gradient -log_softmax(x) is checked here
    GradRow("softmax_ce_v2_unnormalised_labels", ("SoftmaxCrossEntropyWithLogits",),
            lambda x, z: nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x, axis=0),
            [_u(3, 4, lo=-2, hi=2), _u(3, 4, lo=0.1, hi=1.0)], wrt=(1,)),
    GradRow("softmax_ce_v1", ("SoftmaxCrossEntropyWithLogits",),
            lambda x, z: nn.softmax_cross_entropy_with_logits(labels=z, logits=x), [_u(4, 5, lo=-2, hi=2),
                                                                                    _labels(4, 5)], wrt=(0,)),
    GradRow("sparse_softmax_ce", ("SparseSoftmaxCrossEntropyWithLogits",),
            lambda x, y: nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
            [_u(4, 5, lo=-2, hi=2), np.array([0, 3, 4, 1], dtype=np.int64)]),
    GradRow("sparse_softmax_ce_int32_rank3", ("SparseSoftmaxCrossEntropyWithLogits",),
            lambda x, y: nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
            [_u(2, 3, 4, lo=-2, hi=2), np.array([[0, 3, 1], [2, 2, 0]], dtype=np.int32)]),
    GradRow("sigmoid_ce", ("Select", "Log1p", "Exp"),
            lambda x, z: nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
            [_away(3, 4, lo=0.1, hi=4), _u(3, 4, lo=0, hi=1)]),
    GradRow("weighted_ce", ("Relu", "Abs"),
            lambda x, z: nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=2.0),
            [_away(3, 4, lo=0.1, hi=4), _u(3, 4, lo=0, hi=1)]),
    # convolution: SAME/VALID, strides 1 and 2, asymmetric SAME padding, non-square kernels, channels
    _conv_row("conv2d_valid_s1", (2, 5, 6, 3), (3, 2, 3, 4), 1, "VALID"),
    _conv_row("conv2d_same_s1", (2, 5, 5, 2), (3, 3, 2, 3), 1, "SAME"),
    _conv_row("conv2d_same_s2_k2_asymmetric", (1, 5, 5, 2), (2, 2, 2, 3), 2, "SAME"),
    _conv_row("conv2d_same_s2_k4_asymmetric", (1, 5, 5, 1), (4, 4, 1, 2), [1, 2, 2, 1], "SAME"),
    _conv_row("conv2d_valid_s2", (2, 7, 6, 2), (3, 2, 2, 2), [2, 2], "VALID"),
    _conv_row("conv2d_same_strides_1x2_k2x3", (1, 6, 7, 2), (2, 3, 2, 2), [1, 2], "SAME"),
    _conv_row("conv2d_same_dilated", (1, 6, 6, 2), (2, 2, 2, 2), 1, "SAME", dilations=2),
    _conv_row("conv2d_1x1", (2, 3, 3, 3), (1, 1, 3, 2), 1, "VALID"),
    _conv_row("conv2d_one_channel_transposed_patches", (2, 5, 7, 1), (3, 3, 1, 2), 1, "SAME"),
    _conv_row("conv2d_disjoint_windows", (1, 4, 6, 2), (2, 2, 2, 2), 2, "VALID"),
    GradRow("conv2d_backprop_input", ("Conv2DBackpropInput", "Conv2DBackpropFilter", "Conv2D"),
            lambda x, w, dy: nn_ops.conv2d_backprop_input(x, w, dy, _conv_attrs(2, "SAME")),
            [_u(1, 5, 5, 2), _u(3, 2, 2, 3), _u(1, 3, 3, 3)], wrt=(1, 2)),
    GradRow("conv2d_backprop_filter", ("Conv2DBackpropFilter", "Conv2DBackpropInput", "Conv2D"),
            lambda x, w, dy: nn_ops.conv2d_backprop_filter(x, w, dy, _conv_attrs(1, "VALID")),
            [_u(2, 4, 5, 2), _u(2, 3, 2, 3), _u(2, 3, 3, 3)], wrt=(0, 2)),
    # pooling: SAME/VALID, strides 1 and 2, overlapping windows; distinct values keep argmaxes stable
    GradRow("max_pool_2x2_s2_valid", ("MaxPool", "MaxPoolGrad"), lambda x: nn.max_pool2d(x, 2, 2, "VALID"),
            [_distinct(2, 4, 5, 3)]),
    GradRow("max_pool_3x3_s2_same", ("MaxPool", "MaxPoolGrad"), lambda x: nn.max_pool2d(x, 3, 2, "SAME"),
            [_distinct(1, 5, 6, 2)]),
    GradRow("max_pool_3x3_s1_valid", ("MaxPool", "MaxPoolGrad"),
            lambda x: nn.max_pool(x, [1, 3, 3, 1], [1, 1, 1, 1], "VALID"), [_distinct(1, 5, 4, 2)]),
    GradRow("max_pool_2x2_s1_same", ("MaxPool", "MaxPoolGrad"), lambda x: nn.max_pool2d(x, 2, 1, "SAME"),
            [_distinct(1, 4, 4, 2)]),
    GradRow("max_pool_grad", ("MaxPoolGrad", "MaxPoolGradGrad"),
            lambda x, dy: _max_pool_grad(x, dy, 3, 2, "SAME"), [_distinct(1, 5, 6, 2), _u(1, 3, 3, 2)],
            wrt=(1,)),
    GradRow("max_pool_grad_tiles", ("MaxPoolGrad", "MaxPoolGradGrad"),
            lambda x, dy: _max_pool_grad(x, dy, 2, 2, "VALID"), [_distinct(2, 5, 4, 2), _u(2, 2, 2, 2)],
            wrt=(1,)),
    GradRow("max_pool_grad_grad", ("MaxPoolGradGrad", "MaxPoolGrad"),
            lambda x, g: _max_pool_grad_grad(x, g, 3, 2, "SAME"), [_distinct(1, 5, 6, 2), _u(1, 5, 6, 2)],
            wrt=(1,)),
    GradRow("avg_pool_2x2_s2_valid", ("AvgPool", "AvgPoolGrad"), lambda x: nn.avg_pool2d(x, 2, 2, "VALID"),
            [_u(2, 4, 5, 3)]),
    GradRow("avg_pool_3x3_s2_same", ("AvgPool", "AvgPoolGrad"), lambda x: nn.avg_pool2d(x, 3, 2, "SAME"),
            [_u(1, 5, 6, 2)]),
    GradRow("avg_pool_3x3_s1_valid", ("AvgPool", "AvgPoolGrad"), lambda x: nn.avg_pool(x, 3, 1, "VALID"),
            [_u(1, 5, 4, 2)]),
    GradRow("avg_pool_2x2_s1_same", ("AvgPool", "AvgPoolGrad"),
            lambda x: nn.avg_pool(x, [2, 2], [1, 1], "SAME"), [_u(1, 4, 4, 2)]),
    GradRow("avg_pool_grad", ("AvgPoolGrad", "AvgPool"),
            lambda x, dy: nn_ops.avg_pool_grad(x, dy, _pool_attrs(3, 2, "SAME")),
            [_u(1, 5, 6, 2), _u(1, 3, 3, 2)], wrt=(1,)),
]


# --- activations composed from graph ops, convolution variants, 1-D pools (conv_ops.py) -----------

def _dw_attrs(strides, padding, dilations=1):
    s = (strides, strides) if isinstance(strides, int) else tuple(strides)
    return {"strides": s, "dilations": (dilations, dilations), "padding": padding, "data_format": "NHWC"}


def _dw_row(name, xs, ws, strides, padding, rate=None):
    return GradRow(name, ("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                          "DepthwiseConv2dNativeBackpropFilter"),
                   lambda x, w: nn.depthwise_conv2d(x, w, [1, strides, strides, 1], padding, rate=rate),
                   [_u(*xs), _u(*ws)])


def _convt_row(name, xs, ws, out, strides, padding):
    return GradRow(name, ("Conv2DTranspose", "Conv2D", "Conv2DBackpropFilter"),
                   lambda x, w: nn.conv2d_transpose(x, w, out, strides, padding), [_u(*xs), _u(*ws)])


ROWS += [
    GradRow("swish", ("Sigmoid", "Mul"), nn.swish, [_u(3, 4, lo=-4, hi=4)]),
    GradRow("swish_beta", ("Sigmoid", "Mul"), lambda x: nn.swish(x, beta=1.5), [_u(3, 4, lo=-4, hi=4)]),
    GradRow("silu", ("Sigmoid", "Mul"), nn.silu, [_u(3, 4, lo=-4, hi=4)]),
    GradRow("mish", ("Softplus", "Tanh"), nn.mish, [_u(3, 4, lo=-4, hi=4)]),
    GradRow("hard_sigmoid", ("Relu6",), nn.hard_sigmoid,
            [np.array([[-4.0, -2.0, -0.3], [0.7, 2.2, 3.5]])]),
    # conv1d (Conv2D on a height of 1), dilated/atrous, grouped
    GradRow("conv1d_same_s2", ("Conv2D",), lambda x, w: nn.conv1d(x, w, 2, "SAME"), [_u(2, 7, 3), _u(3, 3, 2)]),
    GradRow("conv1d_valid_dilated", ("Conv2D",), lambda x, w: nn.conv1d(x, w, 1, "VALID", dilations=2),
            [_u(2, 8, 2), _u(3, 2, 3)]),
    GradRow("atrous_conv2d", ("Conv2D",), lambda x, w: nn.atrous_conv2d(x, w, 2, "SAME"),
            [_u(1, 6, 5, 2), _u(2, 3, 2, 2)]),
    GradRow("conv2d_dilated_valid_2x1", ("Conv2D",),
            lambda x, w: nn.conv2d(x, w, 1, "VALID", dilations=[1, 2, 1, 1]), [_u(1, 7, 5, 2), _u(3, 2, 2, 3)]),
    GradRow("conv2d_grouped", ("Conv2D", "Split", "ConcatV2"), lambda x, w: nn.conv2d(x, w, 1, "SAME"),
            [_u(2, 4, 4, 4), _u(3, 3, 2, 6)]),
    GradRow("conv2d_grouped_depthwise", ("DepthwiseConv2dNative",), lambda x, w: nn.conv2d(x, w, 2, "VALID"),
            [_u(1, 5, 5, 3), _u(2, 2, 1, 6)]),
    # depthwise: SAME/VALID, strides, multiplier 1 and 2, dilation
    _dw_row("depthwise_valid_m2", (2, 5, 6, 3), (3, 2, 3, 2), 1, "VALID"),
    _dw_row("depthwise_same_s2_m1", (1, 5, 5, 2), (3, 3, 2, 1), 2, "SAME"),
    _dw_row("depthwise_same_dilated", (1, 6, 6, 2), (2, 2, 2, 2), 1, "SAME", rate=2),
    GradRow("depthwise_backprop_input", ("DepthwiseConv2dNativeBackpropInput",),
            lambda x, w, dy: cv.depthwise_conv2d_backprop_input(x, w, dy, _dw_attrs(2, "SAME")),
            [_u(1, 5, 5, 2), _u(3, 3, 2, 2), _u(1, 3, 3, 4)], wrt=(1, 2)),
    GradRow("depthwise_backprop_filter", ("DepthwiseConv2dNativeBackpropFilter",),
            lambda x, w, dy: cv.depthwise_conv2d_backprop_filter(x, w, dy, _dw_attrs(1, "VALID")),
            [_u(2, 4, 5, 2), _u(2, 3, 2, 3), _u(2, 3, 3, 6)], wrt=(0, 2)),
    GradRow("separable_conv2d", ("DepthwiseConv2dNative", "Conv2D"),
            lambda x, d, p: nn.separable_conv2d(x, d, p, [1, 1, 1, 1], "SAME"),
            [_u(2, 4, 5, 3), _u(3, 3, 3, 2), _u(1, 1, 6, 4)]),
    # conv2d_transpose: SAME with both output sizes stride 2 maps back from, VALID, stride 1
    _convt_row("conv2d_transpose_same_s2_even", (2, 3, 3, 3), (3, 3, 2, 3), [2, 6, 6, 2], [1, 2, 2, 1], "SAME"),
    _convt_row("conv2d_transpose_same_s2_odd", (1, 3, 4, 2), (3, 3, 3, 2), [1, 5, 7, 3], [1, 2, 2, 1], "SAME"),
    _convt_row("conv2d_transpose_valid_s2", (2, 3, 3, 2), (3, 2, 2, 2), [2, 7, 6, 2], 2, "VALID"),
    _convt_row("conv2d_transpose_valid_s1", (1, 3, 3, 2), (2, 2, 3, 2), [1, 4, 4, 3], 1, "VALID"),
    # 1-D pools (MaxPool/AvgPool on a height of 1)
    GradRow("max_pool1d_same", ("MaxPool",), lambda x: nn.max_pool1d(x, 3, 2, "SAME"), [_distinct(2, 7, 3)]),
    GradRow("avg_pool1d_same", ("AvgPool",), lambda x: nn.avg_pool1d(x, 3, 2, "SAME"), [_u(2, 7, 3)]),
    GradRow("pool_avg_1d", ("AvgPool",), lambda x: nn.pool(x, [2], "AVG", "VALID", strides=[2]), [_u(2, 6, 2)]),
]


# --- image resizing (image_ops.py): linear maps, so second order checks the Grad ops' rules -------

def _resize_row(name, kind, xs, size, **kw):
    fn = image.resize_bilinear if kind == "bilinear" else image.resize_nearest_neighbor
    t = "ResizeBilinear" if kind == "bilinear" else "ResizeNearestNeighbor"
    return GradRow(name, (t, t + "Grad"), lambda x: fn(x, size, **kw), [_u(*xs)])


ROWS += [
    _resize_row("resize_bilinear_up", "bilinear", (2, 3, 4, 2), [7, 9]),
    _resize_row("resize_bilinear_align_corners", "bilinear", (1, 3, 4, 2), [5, 7], align_corners=True),
    _resize_row("resize_bilinear_half_pixel_down", "bilinear", (1, 6, 5, 2), [4, 3], half_pixel_centers=True),
    _resize_row("resize_nearest_up", "nearest", (2, 3, 3, 2), [6, 7]),
    _resize_row("resize_nearest_half_pixel", "nearest", (1, 4, 5, 1), [6, 3], half_pixel_centers=True),
    _resize_row("resize_nearest_align_corners_3d", "nearest", (3, 4, 2), [5, 5], align_corners=True),
    GradRow("resize_bilinear_grad", ("ResizeBilinearGrad", "ResizeBilinear"),
            lambda dy, x: image_ops.resize_grad("ResizeBilinear", dy, x, {"size": (5, 6), "align_corners": False,
                                                                           "half_pixel_centers": True}),
            [_u(2, 5, 6, 2), _u(2, 3, 4, 2)], wrt=(0,)),
]

ROWS += [
    GradRow("reverse_sequence", ("BatchMatMul",),
            lambda x, n: rnn.reverse_sequence(x, n, seq_axis=1, batch_axis=0),
            [_u(3, 4, 2), np.array([4, 1, 2], dtype=np.int64)]),
    GradRow("reverse_sequence_time_major", ("BatchMatMul", "Transpose"),
            lambda x, n: rnn.reverse_sequence(x, n, seq_axis=0, batch_axis=1),
            [_u(4, 2, 3), np.array([3, 4], dtype=np.int64)]),
]

# --- the fused layer norm (LayerNorm, LayerNormGrad): the last axis; two axes with gamma repeating
# along the first of them; gamma spanning an axis the norm does not; mean and rstd differentiated
# themselves (the rule's graph-op path) ----------------------------------------------------------------
_LN = np.random.default_rng(7)


def _moments_ln(x, g, b, axes, sqrt=False):
    mean, var = nn.moments(x, axes=axes, keep_dims=True)
    xhat = (x - mean) / math.sqrt(var + 1e-5) if sqrt else (x - mean) * math.rsqrt(var + 1e-5)
    return xhat * g + b
ROWS += [
    GradRow("layer_norm_last_axis", ("LayerNorm", "LayerNormGrad"),
            lambda x, g, b: layer_norm_op(x, g, b, 1, 1e-5)[0],
            [_LN.standard_normal((3, 5)), _LN.uniform(0.5, 1.5, 5), _LN.standard_normal(5)]),
    GradRow("layer_norm_two_axes", ("LayerNorm", "LayerNormGrad"),
            lambda x, g, b: layer_norm_op(x, g, b, 1, 1e-5)[0],
            [_LN.standard_normal((2, 3, 4)), _LN.uniform(0.5, 1.5, 4), _LN.standard_normal(4)]),
    GradRow("layer_norm_params_wider", ("LayerNorm", "LayerNormGrad"),
            lambda x, g, b: layer_norm_op(x, g, b, 2, 1e-5)[0],
            [_LN.standard_normal((2, 3, 4)), _LN.uniform(0.5, 1.5, (3, 4)), _LN.standard_normal((3, 4))]),
    GradRow("layer_norm_stats", ("LayerNorm", "LayerNormGrad"),
            lambda x, g, b: layer_norm_op(x, g, b, 1, 1e-5),
            [_LN.standard_normal((3, 5)), _LN.uniform(0.5, 1.5, 5), _LN.standard_normal(5)]),
    # a layer norm written with tf.nn.moments: its gradient is one LayerNormGrad (layer_norm_ops.py);
    # the second derivative in x is TF's partial one (the moments' stop_gradient), so the
    # Hessian-vector product is checked for gamma and beta (test_layer_norm.py checks x's against
    # the per-op graph's)
    GradRow("layer_norm_from_moments", ("LayerNormGrad",), lambda x, g, b: _moments_ln(x, g, b, [2]),
            [_LN.standard_normal((2, 3, 4)), _LN.uniform(0.5, 1.5, 4), _LN.standard_normal(4)], hvp_wrt=(1, 2)),
    GradRow("layer_norm_from_moments_sqrt", ("LayerNormGrad", "Sqrt"),
            lambda x, g, b: _moments_ln(x, g, b, [1, 2], sqrt=True),
            [_LN.standard_normal((2, 3, 4)), _LN.uniform(0.5, 1.5, (3, 4)), _LN.standard_normal((3, 4))],
            hvp_wrt=(1, 2)),
]
