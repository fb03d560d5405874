"""The one activation vocabulary: every config name applies, with the values of the usual definitions."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl as tf
from nnctl.config.schema import ACTIVATIONS
from nnctl.ops import nn_ops

_x = np.linspace(-4.0, 4.0, 17)


def _sig(v):
    return 1.0 / (1.0 + np.exp(-v))


_REF = {
    "swish": lambda v: v * _sig(v), "silu": lambda v: v * _sig(v),
    "mish": lambda v: v * np.tanh(np.log1p(np.exp(v))),
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0.0, 1.0),  # Keras 2 / TF1-era definition
    "softsign": lambda v: v / (1 + np.abs(v)),
    "none": lambda v: v, "linear": lambda v: v,
}


def test_vocabulary_is_one_list():
    assert set(nn_ops._ACTIVATION_FUNCTIONS) | {"none", "linear"} == set(ACTIVATIONS)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_applies(name, fresh_graph):
    y = nn_ops.activation(tf.constant(_x), name)
    with tf.Session() as s:
        v = s.run(y)
    assert v.shape == _x.shape and np.all(np.isfinite(v))
    if name in _REF:
        np.testing.assert_allclose(v, _REF[name](_x), rtol=1e-12, atol=1e-15)


def test_swish_beta_and_tf_names(fresh_graph):
    with tf.Session() as s:
        a, b = s.run([tf.nn.swish(tf.constant(_x), beta=2.0), tf.nn.silu(tf.constant(_x))])
    np.testing.assert_allclose(a, _x * _sig(2 * _x), rtol=1e-12)
    np.testing.assert_allclose(b, _x * _sig(_x), rtol=1e-12)


def test_unknown_activation_names_the_choices(fresh_graph):
    with pytest.raises(ValueError, match="unknown activation 'swishh'.*swish"):
        nn_ops.activation(tf.constant(_x), "swishh")
