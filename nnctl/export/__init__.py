"""Export: freezing a run to a self-contained inference file, and loading it back.

``load_frozen(path)`` returns a :class:`FrozenModel` (``predict``, ``predict_classes``, ``run``,
``evaluate``, ``signature``, ``meta``); ``freeze(target, out)`` writes one from a run directory or
checkpoint folder; ``export(target, "onnx"|"safetensors"|"frozen", out)`` writes a verified export and
``to_onnx(sess, inputs, outputs, path)`` exports a TF1-API graph. Formats: docs/export.md.
"""

from nnctl.export.exporter import ExportReport, export
from nnctl.export.freeze import FreezeReport, freeze, freeze_run, load_run, resolve_target
from nnctl.export.frozen import FORMAT, VERSION, FrozenModel, Signature, TensorSpec, load_frozen, load_frozen_bytes
from nnctl.export.onnx_export import to_onnx

__all__ = ["FORMAT", "VERSION", "ExportReport", "FreezeReport", "FrozenModel", "Signature", "TensorSpec", "export",
           "freeze", "freeze_run", "load_frozen", "load_frozen_bytes", "load_run", "resolve_target", "to_onnx"]
