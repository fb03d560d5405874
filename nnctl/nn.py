"""``tf.nn``: neural-network ops (activations, cross-entropies, convolution, pooling, dropout ...)."""

from __future__ import annotations

from nnctl.ops import nn_grad as _nn_grad  # noqa: F401  (registers the gradient rules)
from nnctl.ops import rnn_cell
from nnctl.ops.bn_ops import fused_batch_norm
from nnctl.ops.candidate_sampling_ops import (
    compute_accidental_hits,
    log_uniform_candidate_sampler,
    nce_loss,
    sampled_softmax_loss,
    uniform_candidate_sampler,
)
from nnctl.ops.conv_ops import (
    atrous_conv2d,
    avg_pool1d,
    conv1d,
    conv2d_transpose,
    depthwise_conv2d,
    depthwise_conv2d_native,
    max_pool1d,
    pool,
    separable_conv2d,
)
from nnctl.ops.math_ops import sigmoid, tanh
from nnctl.ops.metric_ops import in_top_k
from nnctl.ops.nn_compat_ops import batch_norm_with_global_normalization, embedding_lookup, local_response_normalization
from nnctl.ops.nn_ops import (
    avg_pool,
    avg_pool2d,
    batch_normalization,
    bias_add,
    conv2d,
    dropout,
    elu,
    gelu,
    hard_sigmoid,
    l2_loss,
    l2_normalize,
    leaky_relu,
    log_softmax,
    max_pool,
    max_pool2d,
    mish,
    moments,
    relu,
    relu6,
    relu_layer,
    selu,
    sigmoid_cross_entropy_with_logits,
    silu,
    softmax,
    softmax_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    softplus,
    softsign,
    sparse_softmax_cross_entropy_with_logits,
    swish,
    weighted_cross_entropy_with_logits,
    xw_plus_b,
)
from nnctl.ops.rnn import bidirectional_dynamic_rnn, dynamic_rnn, static_bidirectional_rnn, static_rnn
from nnctl.ops.selection_ops import top_k

__all__ = [
    "atrous_conv2d", "avg_pool1d", "conv1d", "conv2d_transpose", "depthwise_conv2d", "depthwise_conv2d_native",
    "max_pool1d", "pool", "separable_conv2d", "rnn_cell", "static_rnn", "static_bidirectional_rnn", "dynamic_rnn",
    "bidirectional_dynamic_rnn",
    "avg_pool", "avg_pool2d", "batch_normalization", "bias_add", "conv2d", "dropout", "elu", "fused_batch_norm",
    "gelu",
    "hard_sigmoid", "l2_loss",
    "l2_normalize", "leaky_relu", "log_softmax", "max_pool", "max_pool2d", "mish", "moments", "relu", "relu6",
    "relu_layer", "selu", "sigmoid", "silu", "sigmoid_cross_entropy_with_logits", "softmax",
    "softmax_cross_entropy_with_logits", "softmax_cross_entropy_with_logits_v2", "softplus", "softsign",
    "sparse_softmax_cross_entropy_with_logits", "swish", "tanh", "weighted_cross_entropy_with_logits", "xw_plus_b",
]

lrn = local_response_normalization
__all__ += ["top_k", "lrn", "local_response_normalization", "batch_norm_with_global_normalization",
            "compute_accidental_hits", "embedding_lookup", "in_top_k", "log_uniform_candidate_sampler", "nce_loss",
            "sampled_softmax_loss", "uniform_candidate_sampler"]


def __getattr__(name: str) -> object:  # a TF1 name nnctl lacks: say so (see nnctl/unsupported.py)
    if name.startswith("__"):
        raise AttributeError(name)
    from nnctl.unsupported import missing
    raise missing("tf.nn", name)
