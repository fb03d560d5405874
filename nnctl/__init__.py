"""nnctl: a TensorFlow-1-style graph engine and a YAML-driven trainer.

``import nnctl as tf`` gives the TF1 graph-mode subset documented in docs/api.md. The names are
loaded from :mod:`nnctl.api` on first use (PEP 562), so ``nnctl --help`` stays instant.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name.startswith("__") or name == "api":
        raise AttributeError(name)
    if importlib.util.find_spec(f"nnctl.{name}") is not None:  # a submodule (nn, train, errors ...)
        return importlib.import_module(f"nnctl.{name}")
    api = importlib.import_module("nnctl.api")
    try:
        value = getattr(api, name)
    except AttributeError:
        from nnctl.unsupported import missing
        raise missing("tf", name) from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    api = importlib.import_module("nnctl.api")
    return sorted({"__version__"} | {n for n in dir(api) if not n.startswith("_") and n not in ("Any", "annotations")})
