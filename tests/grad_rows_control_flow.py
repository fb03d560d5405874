"""Gradient-check rows for tf.cond and tf.while_loop (nnctl/ops/control_flow_ops.py)."""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

import nnctl as tf

_r = np.random.default_rng(11)


def _u(*shape):
    return _r.uniform(-1.0, 1.0, size=shape)


def _cond(flag):
    def build(a, b):
        # each branch reads the inputs and an internal activation the gradient must take from the stash
        return tf.cond(tf.constant(flag), lambda: tf.sin(a) * tf.tanh(b), lambda: tf.exp(a * b))
    return build


def _rnn(a, w):
    def body(k, h):
        return [k + 1, tf.tanh(tf.matmul(h, w) + a)]
    _, h = tf.while_loop(lambda k, h: k < 3, body, [tf.constant(0), a])
    return tf.square(h)


ROWS = [
    GradRow("cond_true", ("Cond",), _cond(True), [_u(2, 3), _u(2, 3)]),
    GradRow("cond_false", ("Cond",), _cond(False), [_u(2, 3), _u(2, 3)]),
    GradRow("while_rnn", ("While", "WhileGrad"), _rnn, [_u(2, 3), _u(3, 3)], second_order=False),
]
