"""``tf.contrib``: only ``tf.contrib.rnn`` (TF1's recurrent cells and static RNNs); any other
``tf.contrib.<name>`` is an AttributeError that says so."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "rnn":
        return importlib.import_module("nnctl.contrib.rnn")
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"tf.contrib.{name} is not supported by nnctl; of tf.contrib only tf.contrib.rnn is "
                         "offered (the rest of the supported API is listed in docs/api.md)")
