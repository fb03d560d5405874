"""A model's weights as a safetensors file: TF-style names, TF layouts, JSON metadata.

The tensors are the variables the inference graph reads, named as in the checkpoint
(``dense_0/kernel``, ``conv2d_0/bias``, ``batch_norm_1/moving_mean`` ...), as contiguous
little-endian arrays in TensorFlow's layouts: a dense kernel is ``[in, out]`` (PyTorch's
``nn.Linear.weight`` is its transpose), a conv2d kernel ``[h, w, in, out]`` (HWIO; PyTorch's
``nn.Conv2d.weight`` is ``kernel.permute(3, 2, 0, 1)``). The header's ``__metadata__`` (strings
only, as the format requires) holds the format name, the nnctl version, the class and feature
names, the preprocessing (and the fitted per-column feature pipeline), the head and the layer
list, so a reader can rebuild the model.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError, InputError

FORMAT = "nnctl-safetensors"
READ_SUFFIX = "/read"
LAYOUT = ("TensorFlow layouts: dense kernel [in, out] (torch.nn.Linear.weight = kernel.T); conv2d kernel "
          "[h, w, in, out] HWIO (torch.nn.Conv2d.weight = kernel.permute(3, 2, 0, 1)); inputs NHWC")


def require_safetensors() -> Any:
    try:
        import safetensors.numpy as stn
    except ImportError:
        raise InputError("safetensors export needs the safetensors package: pip install safetensors") from None
    return stn


def weight_consts(model: Any) -> dict[str, Any]:
    """{variable name: the Const op holding its value} in a frozen model's graph.

    Freezing replaces each variable read ``NAME/read`` by a Const of the same name."""
    out: dict[str, Any] = {}
    for op in model.graph.get_operations():
        if op.type == "Const" and op.name.endswith(READ_SUFFIX):
            out[op.name[: -len(READ_SUFFIX)]] = op
    return out


def weights(model: Any) -> dict[str, np.ndarray]:
    """The frozen model's weights, by variable name, as contiguous arrays."""
    return {name: np.ascontiguousarray(np.asarray(op.attrs["value"])) for name, op in
            sorted(weight_consts(model).items())}


def metadata(model: Any, layers: list[dict] | None = None) -> dict[str, str]:
    from nnctl import __version__
    meta = model.meta
    return {
        "format": FORMAT,
        "created_by": f"nnctl {__version__}",
        "layout": LAYOUT,
        "class_names": json.dumps(model.class_names),
        "feature_names": json.dumps(model.feature_names),
        "label_names": json.dumps(model.label_names),
        "feature_shape": json.dumps(list(model.feature_shape)),
        "preprocessor": json.dumps(meta.get("preprocessor")),
        "pipeline": json.dumps((meta.get("features") or {}).get("pipeline")),
        "head": json.dumps(meta.get("head")),
        "layers": json.dumps(layers),
        "source": json.dumps(meta.get("source")),
    }


def safetensors_bytes(tensors: dict[str, np.ndarray], meta: dict[str, str]) -> bytes:
    stn = require_safetensors()
    return bytes(stn.save(tensors, metadata=meta))


def load_bytes(data: bytes, src: str) -> dict[str, np.ndarray]:
    stn = require_safetensors()
    try:
        return dict(stn.load(data))
    except Exception as e:
        raise FileFormatError(f"{src}: not a readable safetensors file: {e}") from None


def run_with_weights(model: Any, tensors: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits, outputs) of the frozen graph for raw features ``x`` with its weights replaced by
    ``tensors`` (every weight must be present, with its shape and dtype)."""
    consts = weight_consts(model)
    missing = sorted(set(consts) - set(tensors))
    if missing:
        raise FileFormatError(f"the weights lack {', '.join(missing[:5])}")
    feeds: dict[Any, Any] = {model.x: model.preprocessor.transform(x)}
    for name, op in consts.items():
        t = op.outputs[0]
        a = tensors[name]
        if tuple(a.shape) != tuple(t.static_shape) or a.dtype != t.dtype.np:
            raise FileFormatError(f"weight {name} has shape {tuple(a.shape)} {a.dtype}, the model expects "
                                  f"{tuple(t.static_shape)} {t.dtype.name}")
        feeds[t] = a
    logits, outputs = model.session.run([model.logits, model.outputs], feeds)
    return np.asarray(logits), np.asarray(outputs)
