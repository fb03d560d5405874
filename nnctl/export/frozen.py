"""The frozen model file: one self-contained, checksummed, never-pickled inference graph.

A frozen file is an ``.npz`` (a zip of ``.npy`` arrays, written by ``np.savez``) holding:

* ``__graph__``: the inference graph as UTF-8 JSON (see :mod:`nnctl.export.serialize`), stored as a
  uint8 array; every Const value lives in its own array member (``a0``, ``a1`` ...);
* ``__meta__``: UTF-8 JSON (uint8 array): format name and version, the input and output signature,
  the preprocessing, feature and label spec, head, metrics, L2 penalty and where the model came from;
* ``__checksum__``: the SHA-256 (hex, uint8 array) of the canonical content: the two JSON blobs and
  every array's name, dtype, shape and bytes, length-prefixed, in sorted order.

Loading reads the zip with ``allow_pickle=False``, checks the format and version, verifies the
checksum, validates and rebuilds the graph (only registered op types), checks the signature, and
does a one-row dry run. Any failure is a one-line :class:`FileFormatError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnctl.builder import Head
from nnctl.data.features import FeaturePipeline
from nnctl.data.preprocess import Preprocessor
from nnctl.dtypes import as_dtype
from nnctl.errors import DataError, FileFormatError, NnctlError, RuntimeFailure
from nnctl.export.serialize import GraphFormatError, graph_from_json
from nnctl.fileio import load_npz_bytes, npz_bytes, read_file_bytes
from nnctl.graph.graph import Graph, Tensor
from nnctl.train.evaluation import predicted_class, probabilities, run_outputs, score
from nnctl.vocab import LABEL_TYPES, LOSSES, METRICS

FORMAT = "nnctl-frozen"
VERSION = 1
GRAPH_KEY, META_KEY, CHECKSUM_KEY = "__graph__", "__meta__", "__checksum__"
_RESERVED = (GRAPH_KEY, META_KEY, CHECKSUM_KEY)
_MAX_MEMBERS = 100_000


# --- bytes ------------------------------------------------------------------------------------

def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def content_checksum(graph_blob: bytes, meta_blob: bytes, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the canonical content (length-prefixed, so no two contents share a digest input)."""
    h = hashlib.sha256()

    def put(b: bytes) -> None:
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)

    put(FORMAT.encode())
    put(graph_blob)
    put(meta_blob)
    for name in sorted(arrays):
        a = np.array(arrays[name], order="C")
        put(name.encode("utf-8"))
        put(_json_bytes([a.dtype.str, list(a.shape)]))
        put(a.tobytes())
    return h.hexdigest()


def frozen_bytes(graph_json: dict, arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    """The bytes of a frozen file for a serialised graph, its arrays and its metadata."""
    meta = {**meta, "format": FORMAT, "version": VERSION}
    gb, mb = _json_bytes(graph_json), _json_bytes(meta)
    clash = [k for k in arrays if k in _RESERVED]
    if clash:
        raise ValueError(f"array names {clash} are reserved")
    digest = content_checksum(gb, mb, arrays)
    members = {GRAPH_KEY: np.frombuffer(gb, dtype=np.uint8), META_KEY: np.frombuffer(mb, dtype=np.uint8),
               CHECKSUM_KEY: np.frombuffer(digest.encode("ascii"), dtype=np.uint8), **arrays}
    return npz_bytes(members)




# --- reading ----------------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _blob_json(arrays: dict[str, np.ndarray], key: str, src: str) -> tuple[bytes, Any]:
    a = arrays.get(key)
    if a is None:
        raise FileFormatError(f"{src}: not an nnctl frozen model (no {key} member)")
    if a.dtype != np.uint8 or a.ndim != 1:
        raise FileFormatError(f"{src}: damaged frozen model ({key} is not a byte string)")
    blob = a.tobytes()
    try:
        return blob, json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FileFormatError(f"{src}: damaged frozen model ({key} is not valid JSON: {e})") from None


def read_frozen_file(path: str | os.PathLike) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(graph JSON, meta, const arrays) of a verified frozen file; FileFormatError for any damage."""
    return read_frozen_bytes(read_file_bytes(path, "frozen model file"), str(path))


def read_frozen_bytes(data: bytes, src: str) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """As :func:`read_frozen_file`, for bytes already in memory (``src`` names them in messages)."""
    _check_stored(data, src)
    members = load_npz_bytes(data, source=src, what="frozen model file")
    mb, meta = _blob_json(members, META_KEY, src)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FileFormatError(f"{src}: not an nnctl frozen model (format is {_short(meta)})")
    if meta.get("version") != VERSION:
        raise FileFormatError(f"{src}: frozen model format version {repr(meta.get('version'))[:40]} is not supported "
                              f"(this nnctl reads version {VERSION})")
    gb, graph_json = _blob_json(members, GRAPH_KEY, src)
    ck = members.get(CHECKSUM_KEY)
    if ck is None or ck.dtype != np.uint8 or ck.ndim != 1:
        raise FileFormatError(f"{src}: damaged frozen model (no valid {CHECKSUM_KEY} member)")
    arrays = {k: v for k, v in members.items() if k not in _RESERVED}
    if ck.tobytes() != content_checksum(gb, mb, arrays).encode("ascii"):
        raise FileFormatError(f"{src}: checksum mismatch: the frozen model is damaged or was modified")
    return graph_json, meta, arrays


def _check_stored(data: bytes, src: str) -> None:
    """np.savez stores members uncompressed; refusing compressed ones bounds memory by the file's size
    (a small hostile file cannot inflate to gigabytes)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except Exception:
        return  # load_npz_bytes words the error for a file that is not a zip
    if len(infos) > _MAX_MEMBERS:
        raise FileFormatError(f"{src}: not a valid frozen model file ({len(infos)} members)")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
            raise FileFormatError(f"{src}: not a valid frozen model file (member {info.filename!r} is compressed "
                                  "or larger than the file)")


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return repr(v.get("format"))[:60]
    return f"a JSON {type(v).__name__}"


# --- the model --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorSpec:
    name: str
    tensor: str
    shape: tuple
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "tensor": self.tensor, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict:
        return {"inputs": [s.to_dict() for s in self.inputs], "outputs": [s.to_dict() for s in self.outputs]}

    def input(self, name: str) -> TensorSpec:
        return next(s for s in self.inputs if s.name == name)

    def output(self, name: str) -> TensorSpec:
        return next(s for s in self.outputs if s.name == name)


class FrozenModel:
    """A loaded frozen model. Every method takes raw features (as in the data files); the
    preprocessing the model was trained with is applied inside."""

    def __init__(self, path: str, graph: Graph, meta: dict, signature: Signature) -> None:
        self.path = path
        self.graph = graph
        self.meta = meta
        self.signature = signature
        self.head = Head.from_dict(meta["head"])
        self.preprocessor = Preprocessor.from_dict(meta["preprocessor"])
        pipe = meta["features"].get("pipeline") if isinstance(meta.get("features"), dict) else None
        self.pipeline: FeaturePipeline | None = FeaturePipeline.from_dict(pipe) if pipe else None
        self.metrics: list[str] = list(meta["metrics"])
        self.l2_penalty = float(meta["l2_penalty"])
        self.x: Tensor = graph.get_tensor_by_name(signature.input("x").tensor)
        self.logits: Tensor = graph.get_tensor_by_name(signature.output("logits").tensor)
        self.outputs: Tensor = graph.get_tensor_by_name(signature.output("outputs").tensor)
        self._sess: Any = None

    # --- spec ----------------------------------------------------------------------------
    @property
    def feature_shape(self) -> tuple:
        return tuple(self.signature.input("x").shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.feature_shape))

    @property
    def feature_names(self) -> list[str] | None:
        return self.meta["features"].get("names")

    @property
    def class_names(self) -> list[str] | None:
        return self.meta["labels"].get("class_names")

    @property
    def label_names(self) -> list[str] | None:
        return self.meta["labels"].get("names")

    @property
    def classification(self) -> bool:
        return self.head.classification

    @property
    def checkpoint_step(self) -> int | None:
        return self.meta["source"].get("checkpoint_step")

    def output_names(self) -> list[str]:
        """Column names of :meth:`predict`'s result."""
        if self.classification:
            k = 2 if self.head.units == 1 else self.head.units
            names = self.class_names
            if names and len(names) == k:
                return [str(n) for n in names]
            return [f"p{i}" for i in range(k)]
        names = self.label_names
        if names and len(names) == self.head.units:
            return [str(n) for n in names]
        return [f"y{i}" for i in range(self.head.units)] if self.head.units > 1 else ["y"]

    # --- running -------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._sess is None:
            from nnctl.backends import choose_backend
            from nnctl.runtime.session import Session
            self._sess = Session(graph=self.graph, backend=choose_backend(None))
        return self._sess

    def _check_x(self, x: Any, source: str | None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        want = self.feature_shape
        if x.ndim == 1 and len(want) == 1:
            x = x[None, :]
        if tuple(x.shape[1:]) != want:
            found = int(np.prod(x.shape[1:])) if x.ndim >= 2 else (x.size if x.ndim else 1)
            if x.ndim >= 2 and found == int(np.prod(want)):
                return x.reshape((x.shape[0], *want))
            where = f"{source}: " if source else ""
            raise DataError(f"{where}found {found} feature(s) per example (shape {list(x.shape[1:])}), the model "
                            f"expects {int(np.prod(want))} (shape {list(want)})")
        return x

    def run(self, x: Any, preprocessed: bool = False, source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(logits, outputs) of the inference graph for raw features ``x`` ([n, features])."""
        if self.pipeline is not None and not isinstance(x, np.ndarray):
            from nnctl.data.tabular import encode_rows
            x = encode_rows(x, self.pipeline, source)  # raw rows, a data file, image paths
        x = self._check_x(x, source)
        if not preprocessed:
            x = self.preprocessor.transform(x)
        sess = self.session

        def fn(xb: np.ndarray) -> Any:
            return sess.run([self.logits, self.outputs], {self.x: xb})
        try:
            logits, outputs = run_outputs(fn, x)
        except NnctlError:
            raise
        except Exception as e:
            raise RuntimeFailure(f"{self.path}: running the frozen graph failed: {type(e).__name__}: {e}") from None
        if len(x) == 0:
            k = self.head.units
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.float32)
        return logits, outputs

    def predict(self, x: Any, source: str | None = None) -> np.ndarray:
        """Classification: class probabilities [n, k] (k >= 2). Regression: the outputs [n, units]."""
        logits, outputs = self.run(x, source=source)
        if self.classification:
            return probabilities(self.head, logits, outputs)
        out = np.asarray(outputs, dtype=np.float64)
        return self.pipeline.unscale_targets(out) if self.pipeline is not None else out

    def predict_classes(self, x: Any, source: str | None = None) -> np.ndarray:
        """Predicted class indices [n] (classification heads only)."""
        if not self.classification:
            raise DataError(f"{self.path}: predict_classes needs a classification model (this one is regression)")
        logits, outputs = self.run(x, source=source)
        return predicted_class(self.head, logits, outputs)

    def evaluate(self, x: Any, y: Any, source: str | None = None) -> dict[str, float]:
        """Loss and the configured metrics, exactly as training validation computes them."""
        logits, outputs = self.run(x, source=source)
        return score(self.head, logits, outputs, np.asarray(y), self.metrics, self.l2_penalty)

    def close(self) -> None:
        if self._sess is not None:
            self._sess.close()
            self._sess = None

    def __repr__(self) -> str:
        return (f"<FrozenModel {self.path!r} inputs={[s.shape for s in self.signature.inputs]} "
                f"head={self.head.loss}/{self.head.label_type}>")


# --- validation of meta -------------------------------------------------------------------------

def _spec(d: Any, where: str) -> TensorSpec:
    if not isinstance(d, dict):
        raise ValueError(f"{where} must be an object")
    name, tensor, shape, dtype = d.get("name"), d.get("tensor"), d.get("shape"), d.get("dtype")
    if not isinstance(name, str) or not isinstance(tensor, str) or not isinstance(dtype, str):
        raise ValueError(f"{where}: name, tensor and dtype must be strings")
    if not isinstance(shape, list) or not all(s is None or (isinstance(s, int) and not isinstance(s, bool))
                                              for s in shape):
        raise ValueError(f"{where}: bad shape {shape!r}")
    return TensorSpec(name, tensor, tuple(shape), dtype)


def _str_list(v: Any, what: str) -> None:
    if v is not None and (not isinstance(v, list) or not all(isinstance(s, str) for s in v)):
        raise ValueError(f"{what} must be a list of strings or null")


def _validate(meta: dict, graph: Graph) -> Signature:
    sig = meta.get("signature")
    if not isinstance(sig, dict):
        raise ValueError("signature missing")
    ins = tuple(_spec(d, "signature input") for d in sig.get("inputs") or [])
    outs = tuple(_spec(d, "signature output") for d in sig.get("outputs") or [])
    signature = Signature(ins, outs)
    if [s.name for s in ins] != ["x"] or sorted(s.name for s in outs) != ["logits", "outputs"]:
        raise ValueError("signature must have input 'x' and outputs 'logits' and 'outputs'")
    for s in ins + outs:
        try:
            t = graph.get_tensor_by_name(s.tensor)
        except (KeyError, ValueError):
            raise ValueError(f"signature tensor {s.tensor!r} is not in the graph") from None
        if list(t.static_shape or []) != list(s.shape) or t.dtype.name != s.dtype:
            raise ValueError(f"signature of {s.name} ({list(s.shape)} {s.dtype}) does not match the graph")
    x_op = graph.get_tensor_by_name(signature.input("x").tensor).op
    if x_op.type != "Placeholder":
        raise ValueError("input x is not a Placeholder")
    for op in graph.get_operations():
        if op.type in ("Placeholder",) and op is not x_op:
            raise ValueError(f"placeholder {op.name!r} other than the input")
        if op.type in ("VariableV2", "Assign", "AssignAdd", "AssignSub") or op.type.startswith("Apply"):
            raise ValueError(f"node {op.name!r} of type {op.type} does not belong in a frozen graph")
    head = meta.get("head")
    if not isinstance(head, dict):
        raise ValueError("head missing")
    h = Head.from_dict(head)
    if h.loss not in LOSSES or h.label_type not in LABEL_TYPES or h.units < 1:
        raise ValueError(f"bad head {head!r}")
    if list(signature.output("logits").shape[1:]) != [h.units]:
        raise ValueError("head units do not match the output signature")
    metrics = meta.get("metrics")
    if not isinstance(metrics, list) or not all(m in METRICS for m in metrics):
        raise ValueError(f"bad metrics {metrics!r}")
    pen = meta.get("l2_penalty")
    if isinstance(pen, bool) or not isinstance(pen, (int, float)):
        raise ValueError("l2_penalty must be a number")
    try:
        finite = math.isfinite(float(pen)) and float(pen) >= 0
    except OverflowError:
        finite = False
    if not finite:
        raise ValueError(f"l2_penalty must be a finite number >= 0, got {repr(pen)[:40]}")
    for s in ins + outs:
        try:
            as_dtype(s.dtype)
        except (TypeError, ValueError):
            raise ValueError(f"signature of {s.name}: unknown dtype {s.dtype[:40]!r}") from None
    pre = Preprocessor.from_dict(meta.get("preprocessor"))
    if list(pre.feature_shape) != list(signature.input("x").shape[1:]):
        raise ValueError("preprocessor feature shape does not match the input signature")
    for key in ("features", "labels", "source", "data_source"):
        if not isinstance(meta.get(key), dict):
            raise ValueError(f"{key} missing")
    ds = meta["data_source"]
    for key in ("kind", "x_key", "y_key"):
        if ds.get(key) is not None and not isinstance(ds.get(key), str):
            raise ValueError(f"data_source.{key} must be a string or null, got {type(ds.get(key)).__name__}")
    for key in ("features", "labels"):
        cols = ds.get(key)
        if cols is not None and (not isinstance(cols, list) or not all(
                isinstance(c, str) or isinstance(c, int) and not isinstance(c, bool) for c in cols)):
            raise ValueError(f"data_source.{key} must be a list of column names or indices, or null")
    lab = meta["labels"]
    nc = lab.get("num_classes")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or not 1 <= nc <= 1_000_000):
        raise ValueError(f"labels.num_classes must be an integer in [1, 1000000] or null, got {repr(nc)[:40]}")
    if lab.get("type") is not None and lab.get("type") not in LABEL_TYPES:
        raise ValueError(f"labels.type must be one of {', '.join(LABEL_TYPES)}")
    _str_list(meta["features"].get("names"), "features.names")
    _str_list(meta["labels"].get("names"), "labels.names")
    _str_list(meta["labels"].get("class_names"), "labels.class_names")
    return signature


def load_frozen(path: str | os.PathLike) -> FrozenModel:
    """Load and verify a frozen model file (FileFormatError naming the file for any problem)."""
    return _build(str(path), *read_frozen_file(path))


def load_frozen_bytes(data: bytes, src: str = "<bytes>") -> FrozenModel:
    """Load and verify a frozen model from bytes in memory."""
    return _build(src, *read_frozen_bytes(data, src))


def _build(src: str, graph_json: dict, meta: dict, arrays: dict[str, np.ndarray]) -> FrozenModel:
    try:
        graph = graph_from_json(graph_json, arrays)
    except GraphFormatError as e:
        raise FileFormatError(f"{src}: bad graph in frozen model: {e}") from None
    except RecursionError:
        raise FileFormatError(f"{src}: bad graph in frozen model (nested too deeply)") from None
    try:
        signature = _validate(meta, graph)
        model = FrozenModel(src, graph, meta, signature)
    except (ValueError, TypeError, KeyError, DataError, OverflowError) as e:
        raise FileFormatError(f"{src}: bad metadata in frozen model: {e}") from None
    _check_sizes(model, sum(int(a.nbytes) for a in arrays.values()) + len(json.dumps(graph_json)))
    _dry_run(model)
    return model


def _check_sizes(model: FrozenModel, content: int) -> None:
    """Refuse, before the dry run allocates anything, a graph whose tensors for ONE example need more
    memory than the budget or than 64 times the file's own content (at least 256 MiB): a few kB of
    graph that declares a Tile by 10**8 or 2**39 input features is hostile, not a model."""
    from nnctl.fileio import BudgetError, fmt_bytes, memory_budget
    limit = min(memory_budget(), max(256 * 2**20, 64 * content))
    total = 0
    for op in model.graph.get_operations():
        for t in op.outputs:
            shape = t.static_shape
            if shape is None:
                continue
            n = t.dtype.np.itemsize
            for d in shape:
                n *= 1 if d is None else max(int(d), 0)
            total += n
            if total > limit:
                what = (f"{model.path}: op {op.name!r} ({op.type}) declares an output of shape "
                        f"{[d for d in shape]} ({fmt_bytes(n)} for one example)")
                if total > memory_budget():
                    raise BudgetError(f"out of memory: {what}; the memory budget is {fmt_bytes(memory_budget())}")
                raise FileFormatError(f"{what}, more than 64x the file's content of {fmt_bytes(content)}: refused "
                                      "as damaged or hostile")


def _dry_run(model: FrozenModel) -> None:
    """Run one all-zero example through the graph: every kernel must accept its attrs and shapes."""
    x = np.zeros((1, *model.feature_shape), dtype=np.float32)
    try:
        logits, outputs = model.session.run([model.logits, model.outputs], {model.x: x})
    except Exception as e:
        raise FileFormatError(f"{model.path}: the frozen graph does not run: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from None
    for name, v in (("logits", logits), ("outputs", outputs)):
        if np.asarray(v).shape != (1, model.head.units):
            raise FileFormatError(f"{model.path}: the frozen graph's {name} have shape {np.asarray(v).shape}, "
                                  f"expected (1, {model.head.units})")
