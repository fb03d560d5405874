"""Export: freezing a run to a self-contained inference file, and loading it back.

``load_frozen(path)`` returns a :class:`FrozenModel` (``predict``, ``predict_classes``, ``run``,
``evaluate``, ``signature``, ``meta``); ``freeze(target, out)`` writes one from a run directory or
checkpoint folder. The file format is described in docs/export.md.
"""

from nnctl.export.freeze import FreezeReport, freeze, freeze_run, load_run, resolve_target
from nnctl.export.frozen import FORMAT, VERSION, FrozenModel, Signature, TensorSpec, load_frozen, load_frozen_bytes

__all__ = ["FORMAT", "VERSION", "FreezeReport", "FrozenModel", "Signature", "TensorSpec", "freeze", "freeze_run",
           "load_frozen", "load_frozen_bytes", "load_run", "resolve_target"]
