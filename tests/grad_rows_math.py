"""Gradient-check rows for the math ops (see gradcheck_util.py)."""

from __future__ import annotations

import numpy as np

import nnctl as tf
from gradcheck_util import GradRow

_r = np.random.default_rng(1)


def _u(*shape, lo=-1.0, hi=1.0):
    return _r.uniform(lo, hi, size=shape)


ROWS = [
    GradRow("add_broadcast", ("Add", "SumToShape", "BroadcastLike"), lambda a, b: a + b, [_u(3, 4), _u(4)]),
    GradRow("sub_broadcast", ("Sub", "Neg"), lambda a, b: a - b, [_u(3, 1), _u(1, 4)]),
    GradRow("mul", ("Mul",), lambda a, b: a * b, [_u(2, 3), _u(2, 3)]),
    GradRow("sigmoid", ("Sigmoid", "SigmoidGrad"), lambda a: tf.sigmoid(a), [_u(3, 4, lo=-3, hi=3)]),
    GradRow("square", ("Square",), lambda a: tf.square(a), [_u(3, 4)]),
    GradRow("matmul", ("MatMul",), lambda a, b: tf.matmul(a, b), [_u(3, 4), _u(4, 2)]),
    GradRow("reduce_sum_axis", ("Sum",), lambda a: tf.reduce_sum(a, axis=1), [_u(3, 4)]),
]
