"""``tf.contrib``: ``tf.contrib.rnn`` (TF1's recurrent cells and static RNNs) and
``tf.contrib.layers`` (``layer_norm``); any other ``tf.contrib.<name>`` is an AttributeError that
says so."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("rnn", "layers"):
        return importlib.import_module(f"nnctl.contrib.{name}")
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"tf.contrib.{name} is not supported by nnctl; of tf.contrib only tf.contrib.rnn and "
                         "tf.contrib.layers.layer_norm are offered (the rest of the supported API is listed in "
                         "docs/api.md)")
