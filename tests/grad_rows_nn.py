"""Gradient-check rows for the nn ops (see gradcheck_util.py)."""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

from nnctl import nn
from nnctl.ops import nn_ops

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
