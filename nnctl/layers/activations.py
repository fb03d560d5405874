"""The activation vocabulary: every name a config's ``activation:`` key accepts, in one table.

The names are plain data (the config validator reads ``ACTIVATIONS`` without importing the op
modules); each function builds graph ops from tf.nn (whose gradient rows live in tests/grad_rows_nn.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nnctl as tf

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
    "swish": lambda x: tf.nn.swish(x),             # x * sigmoid(x)
    "silu": lambda x: tf.nn.silu(x),               # the same function, PyTorch's name
    "mish": lambda x: tf.nn.mish(x),               # x * tanh(softplus(x))
    "hard_sigmoid": lambda x: tf.nn.hard_sigmoid(x),   # clip(0.2 x + 0.5, 0, 1), Keras 2
    "softmax": lambda x: tf.nn.softmax(x),
}

ACTIVATIONS: tuple[str, ...] = tuple(_FUNCTIONS)


def activate(x: Any, name: str | None) -> Any:
    """``x`` through the named activation (None and 'none' are the identity)."""
    return _FUNCTIONS[name or "none"](x)
