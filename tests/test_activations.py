"""tf.nn.swish / silu / mish / hard_sigmoid against their usual definitions."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf

_x = np.linspace(-4.0, 4.0, 17)


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


_REF = {
    "swish": lambda v: v * _sig(v), "silu": lambda v: v * _sig(v),
    "mish": lambda v: v * np.tanh(np.log1p(np.exp(v))),
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0),  # Keras 2 / TF1-era definition
    "softsign": lambda v: v / (1 + np.abs(v)),
}


@pytest.mark.parametrize("name", sorted(_REF))
def test_activation_values(name, fresh_graph):
    with tf.Session() as s:
        v = s.run(getattr(tf.nn, name)(tf.constant(_x)))
    np.testing.assert_allclose(v, _REF[name](_x), rtol=1e-12, atol=1e-15)


def test_swish_beta(fresh_graph):
    with tf.Session() as s:
        a = s.run(tf.nn.swish(tf.constant(_x), beta=2.0))
    np.testing.assert_allclose(a, _x * _sig(2 * _x), rtol=1e-12)


def test_activations_reject_integers(fresh_graph):
    with pytest.raises(TypeError, match="swish.*floating-point"):
        tf.nn.swish(tf.constant([1, 2]))
