"""The activation vocabulary: every name a config's ``activation:`` key accepts, in one table.

The names are plain data (the config validator reads ``ACTIVATIONS`` without importing the op
modules); each function builds graph ops. Where tf.nn has no op, the activation is composed from
ops that have gradient rules, so first and second derivatives come for free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nnctl as tf


def _swish(x: Any) -> Any:
    # swish(x) = silu(x) = x * sigmoid(x)  (Ramachandran et al.; PyTorch's SiLU)
    return x * tf.sigmoid(x)


def _mish(x: Any) -> Any:
    # mish(x) = x * tanh(softplus(x))  (Misra 2019)
    return x * tf.tanh(tf.nn.softplus(x))


def _hard_sigmoid(x: Any) -> Any:
    # Keras / tf.keras.activations.hard_sigmoid: clip(0.2 x + 0.5, 0, 1)
    return tf.clip_by_value(x * 0.2 + 0.5, 0.0, 1.0)


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "none": lambda x: x,
    "linear": lambda x: x,
    "relu": lambda x: tf.nn.relu(x),
    "relu6": lambda x: tf.nn.relu6(x),
    "leaky_relu": lambda x: tf.nn.leaky_relu(x),
    "elu": lambda x: tf.nn.elu(x),
    "selu": lambda x: tf.nn.selu(x),
    "gelu": lambda x: tf.nn.gelu(x),
    "sigmoid": lambda x: tf.sigmoid(x),
    "tanh": lambda x: tf.tanh(x),
    "softplus": lambda x: tf.nn.softplus(x),
    "softsign": lambda x: tf.nn.softsign(x),
    "swish": _swish,
    "silu": _swish,
    "mish": _mish,
    "hard_sigmoid": _hard_sigmoid,
    "softmax": lambda x: tf.nn.softmax(x),
}

ACTIVATIONS: tuple[str, ...] = tuple(_FUNCTIONS)


def activate(x: Any, name: str | None) -> Any:
    """``x`` through the named activation (None and 'none' are the identity)."""
    return _FUNCTIONS[name or "none"](x)
