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
