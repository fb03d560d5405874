"""Export: freezing a run to a self-contained inference file, and loading it back.

``load_frozen(path)`` returns a :class:`FrozenModel` (``predict``, ``predict_classes``, ``run``,
``evaluate``, ``signature``, ``meta``); ``freeze(target, out)`` writes one from a run directory or
checkpoint folder; ``export(target, "onnx"|"safetensors"|"frozen", out)`` writes a verified export and
``to_onnx(sess, inputs, outputs, path)`` exports a TF1-API graph. Formats: docs/export.md.

The names are loaded from their modules on first use (PEP 562, as ``nnctl/__init__.py`` does), so
that importing one submodule (the trainer saves graphs through ``nnctl.export.serialize``) does not
import the exporters, the ONNX writer and the run-directory reader as well.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "exporter": ("ExportReport", "export"),
    "freezing": ("FreezeReport", "freeze", "freeze_run", "load_run", "resolve_target"),
    "frozen": ("FORMAT", "VERSION", "FrozenModel", "Signature", "TensorSpec", "load_frozen", "load_frozen_bytes"),
    "onnx_export": ("to_onnx",),
}
_WHERE = {name: mod for mod, names in _MODULES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'nnctl.export' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nnctl.export.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
