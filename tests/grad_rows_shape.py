"""Gradient-check rows for the ops whose shape argument is a tensor (nnctl/ops/shape_ops.py)."""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

import nnctl as tf

_r = np.random.default_rng(5)


def _u(*shape):
    return _r.uniform(-1.0, 1.0, size=shape)


ROWS = [
    GradRow("reshape_tensor_shape", ("ReshapeDynamic",),
            lambda a: tf.square(tf.reshape(a, [tf.shape(a)[0], 2, -1])), [_u(3, 4)]),
    GradRow("fill_tensor_value", ("FillDynamic",),
            lambda a, b: tf.square(tf.fill(tf.shape(a), tf.reduce_sum(b))) * a, [_u(2, 3), _u(2)]),
    GradRow("tile_tensor_multiples", ("TileDynamic", "TileDynamicGrad"),
            lambda a, b: tf.square(tf.tile(a, [tf.shape(b)[0], 1])) * tf.tile(a, [3, 1]), [_u(2, 3), _u(3, 1)],
            wrt=(0,)),
]

from nnctl.ops import selection_ops as S  # noqa: E402

ROWS += [
    GradRow("top_k_values", ("TopKV2", "TopKGrad", "TakeAlongLastAxis"),
            lambda a: tf.square(tf.nn.top_k(a, 2).values), [np.array([[0.1, 0.9, -0.3, 0.5], [0.7, -0.2, 0.4, 0.0]])]),
    GradRow("take_along_last_axis", ("TakeAlongLastAxis", "TopKGrad"),
            lambda a: tf.square(S.gather_last(a, tf.constant([[2, 0], [1, 1]]))), [_u(2, 3)]),
    GradRow("lrn", ("Pad",), lambda a: tf.nn.lrn(a, 1, 1.0, 0.5, 0.75), [_u(1, 2, 2, 4)]),
    GradRow("logsumexp_log_sigmoid_norm", ("Exp",),
            lambda a: [tf.reduce_logsumexp(a, 1), tf.log_sigmoid(a), tf.norm(a, axis=1)], [_u(2, 3)]),
]
