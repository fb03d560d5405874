"""A graph as JSON plus arrays, and back.

``graph_to_json(ops)`` turns a list of operations (in topological order) into a JSON-able dict and
a dict of numpy arrays: every attribute value is written in a tagged form that keeps its Python
type, so a rebuilt op gets exactly the attrs its kernel was written for:

=====================  ==========================================
attribute value        JSON
=====================  ==========================================
None, bool, int, str   themselves
finite float           a JSON number with a fraction or exponent
non-finite float       ``{"$float": "nan" | "inf" | "-inf"}``
list                   a JSON list
tuple                  ``{"$tuple": [...]}``
dict                   ``{"$dict": [[key, value], ...]}``
numpy scalar           ``{"$scalar": [dtype, value]}``
nnctl DType            ``{"$dtype": "float32"}``
numpy array            ``{"$array": "a0"}`` (the array is stored under that key)
=====================  ==========================================

Every JSON object in the encoding is a one-key tag, so no user string can be mistaken for one.
``graph_from_json`` checks everything (names, tags, dtypes, shapes, that every input is defined
before use, that every op type is registered with a kernel) and raises :class:`GraphFormatError`
with a one-line reason; it builds nothing but graph nodes and never executes anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import FORWARD, GRADIENT, INIT, OPTIMIZER, Graph, Operation, Tensor

ROLES = (FORWARD, GRADIENT, OPTIMIZER, INIT)
_ARRAY_KEY = re.compile(r"^a[0-9]{1,9}$")
_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")
_MAX_DEPTH = 32


class GraphFormatError(ValueError):
    """The serialised graph is malformed; the message says where."""


# --- encoding ----------------------------------------------------------------------------------

class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def value(self, v: Any, where: str) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v
        if isinstance(v, float):
            if math.isfinite(v):
                return v
            return {"$float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
        if isinstance(v, dtypes.DType):
            return {"$dtype": v.name}
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject or v.dtype.kind not in "biuf":
                raise TypeError(f"{where}: array attribute of dtype {v.dtype} cannot be stored")
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.array(v, order="C")  # ascontiguousarray would make 0-d arrays 1-d
            return {"$array": key}
        if isinstance(v, np.generic):
            if v.dtype.kind not in "biuf":
                raise TypeError(f"{where}: scalar attribute of dtype {v.dtype} cannot be stored")
            return {"$scalar": [v.dtype.name, self.value(v.item(), where)]}
        if isinstance(v, tuple):
            return {"$tuple": [self.value(x, where) for x in v]}
        if isinstance(v, list):
            return [self.value(x, where) for x in v]
        if isinstance(v, dict):
            return {"$dict": [[self.value(k, where), self.value(x, where)] for k, x in v.items()]}
        raise TypeError(f"{where}: attribute value {v!r} of type {type(v).__name__} cannot be serialised")


def _shape_json(shape: tuple | None) -> list | None:
    return None if shape is None else [None if d is None else int(d) for d in shape]


def graph_to_json(ops: Sequence[Operation], replace: dict[int, dict] | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Serialise ``ops`` (topological order; inputs must be among them) to (JSON dict, arrays).

    ``replace`` maps ``id(op)`` to a node spec ``{"op", "attrs", "inputs"}`` written instead of the
    op itself (the name and outputs stay), which is how freezing turns variable reads into Consts.
    """
    enc = _Encoder()
    replace = replace or {}
    nodes = []
    names = {op.name for op in ops}
    for op in ops:
        r = replace.get(id(op))
        op_type = r["op"] if r else op.type
        attrs = r["attrs"] if r else op.attrs
        inputs: list[Tensor] = r["inputs"] if r else op.inputs
        ctrl = [] if r else op.control_inputs
        for t in inputs:
            if t.op.name not in names:
                raise ValueError(f"node {op.name}: input {t.name} is not among the serialised nodes")
        for c in ctrl:
            if c.name not in names:
                raise ValueError(f"node {op.name}: control input {c.name} is not among the serialised nodes")
        nodes.append({
            "name": op.name,
            "op": op_type,
            "inputs": [t.name for t in inputs],
            "control_inputs": [c.name for c in ctrl],
            "attrs": {k: enc.value(v, f"node {op.name} attr {k!r}") for k, v in sorted(attrs.items())},
            "outputs": [[_shape_json(t.static_shape), t.dtype.name] for t in op.outputs],
            "role": op.role,
        })
    return {"nodes": nodes}, enc.arrays


# --- decoding ----------------------------------------------------------------------------------

def _dtype(name: Any, where: str) -> dtypes.DType:
    if not isinstance(name, str):
        raise GraphFormatError(f"{where}: dtype must be a string, got {type(name).__name__}")
    try:
        return dtypes.as_dtype(name)
    except TypeError:
        raise GraphFormatError(f"{where}: unsupported dtype {name!r}") from None


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.used: set[str] = set()

    def value(self, v: Any, where: str, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise GraphFormatError(f"{where}: attribute nested more than {_MAX_DEPTH} levels deep")
        if v is None or isinstance(v, (bool, str, int)):
            return v
        if isinstance(v, float):
            if not math.isfinite(v):
                raise GraphFormatError(f"{where}: bare non-finite float")
            return v
        if isinstance(v, list):
            return [self.value(x, where, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) != 1:
            raise GraphFormatError(f"{where}: malformed attribute value")
        (tag, body), = v.items()
        if tag == "$tuple":
            if not isinstance(body, list):
                raise GraphFormatError(f"{where}: $tuple needs a list")
            return tuple(self.value(x, where, depth + 1) for x in body)
        if tag == "$dict":
            if not isinstance(body, list):
                raise GraphFormatError(f"{where}: $dict needs a list of pairs")
            out = {}
            for pair in body:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise GraphFormatError(f"{where}: $dict entries must be [key, value] pairs")
                k = self.value(pair[0], where, depth + 1)
                try:
                    hash(k)
                except TypeError:
                    raise GraphFormatError(f"{where}: unhashable dict key") from None
                out[k] = self.value(pair[1], where, depth + 1)
            return out
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                raise GraphFormatError(f"{where}: bad $float {body!r}")
            return float(body)
        if tag == "$dtype":
            return _dtype(body, where)
        if tag == "$scalar":
            if not isinstance(body, list) or len(body) != 2:
                raise GraphFormatError(f"{where}: $scalar needs [dtype, value]")
            dt = _dtype(body[0], where)
            x = self.value(body[1], where, depth + 1)
            if isinstance(x, bool) and not dt.is_bool or not isinstance(x, (bool, int, float)):
                raise GraphFormatError(f"{where}: bad $scalar value")
            try:
                return dt.np.type(x)
            except (OverflowError, ValueError, TypeError):
                raise GraphFormatError(f"{where}: $scalar value out of range for {dt.name}") from None
        if tag == "$array":
            if not isinstance(body, str) or not _ARRAY_KEY.match(body):
                raise GraphFormatError(f"{where}: bad $array key")
            if body not in self.arrays:
                raise GraphFormatError(f"{where}: array {body!r} is missing from the file")
            a = self.arrays[body]
            if a.dtype.hasobject or a.dtype.kind not in "biuf":
                raise GraphFormatError(f"{where}: array {body!r} has unsupported dtype {a.dtype}")
            _dtype(a.dtype.name, where)
            self.used.add(body)
            a = np.array(a, copy=True)
            a.setflags(write=False)
            return a
        raise GraphFormatError(f"{where}: unknown attribute tag {tag!r}")


def _shape(v: Any, where: str) -> tuple | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) > 16:
        raise GraphFormatError(f"{where}: shape must be a list of at most 16 dimensions or null")
    out = []
    for d in v:
        if d is None:
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40:
            out.append(d)
        else:
            raise GraphFormatError(f"{where}: bad dimension {d!r}")
    return tuple(out)


def ensure_ops_registered() -> None:
    """Load every op module (tf.nn included), so the registry knows each op type a graph may use."""
    import nnctl
    _ = nnctl.nn  # nnctl loads its API, and with it every op module, on first attribute access


def graph_from_json(spec: Any, arrays: dict[str, np.ndarray], into: Graph | None = None) -> Graph:
    """Rebuild a Graph from :func:`graph_to_json`'s output (GraphFormatError for anything malformed);
    ``into`` adds the nodes to an existing graph instead of a new one (tf.train.import_meta_graph)."""
    ensure_ops_registered()
    if not isinstance(spec, dict) or not isinstance(spec.get("nodes"), list):
        raise GraphFormatError("graph: expected an object with a 'nodes' list")
    g = into if into is not None else Graph()
    dec = _Decoder(arrays)
    ops: dict[str, Operation] = {}
    for i, node in enumerate(spec["nodes"]):
        where = f"node #{i}"
        if not isinstance(node, dict):
            raise GraphFormatError(f"{where}: not an object")
        extra = set(node) - {"name", "op", "inputs", "control_inputs", "attrs", "outputs", "role"}
        if extra:
            raise GraphFormatError(f"{where}: unexpected field(s) {', '.join(sorted(extra))}")
        name = node.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name.endswith("/") or len(name) > 1000:
            raise GraphFormatError(f"{where}: bad node name {name!r}")
        where = f"node {name!r}"
        if name in ops or (into is not None and name in into._ops_by_name):
            raise GraphFormatError(f"{where}: defined twice (already in the graph)")
        op_type = node.get("op")
        if not isinstance(op_type, str):
            raise GraphFormatError(f"{where}: op type must be a string")
        d = registry.op_def(op_type)
        if d is None or (d.kernel is None and op_type != "Placeholder"):  # feeds need no kernel
            raise GraphFormatError(f"{where}: unknown op type {op_type!r} (no such op is registered)")
        role = node.get("role", FORWARD)
        if role not in ROLES:
            raise GraphFormatError(f"{where}: bad role {role!r}")
        inputs = []
        for ref in _list(node.get("inputs", []), where, "inputs"):
            inputs.append(_tensor(ref, ops, where))
        ctrl = []
        for ref in _list(node.get("control_inputs", []), where, "control_inputs"):
            if not isinstance(ref, str) or ref not in ops:
                raise GraphFormatError(f"{where}: control input {ref!r} is not defined before this node")
            ctrl.append(ops[ref])
        attrs_json = node.get("attrs", {})
        if not isinstance(attrs_json, dict):
            raise GraphFormatError(f"{where}: attrs must be an object")
        attrs = {}
        for k, v in attrs_json.items():
            attrs[k] = dec.value(v, f"{where} attr {k!r}")
        outs = []
        for j, o in enumerate(_list(node.get("outputs", []), where, "outputs")):
            if not isinstance(o, list) or len(o) != 2:
                raise GraphFormatError(f"{where}: output {j} must be [shape, dtype]")
            outs.append((_shape(o[0], f"{where} output {j}"), _dtype(o[1], f"{where} output {j}")))
        try:
            with g.role(role):
                op = g.create_op(op_type, inputs, attrs, outs, name=name + "/", control_inputs=ctrl)
        except (TypeError, ValueError) as e:
            raise GraphFormatError(f"{where}: {e}") from None
        ops[name] = op
    unused = set(arrays) - dec.used
    if unused:
        raise GraphFormatError(f"graph: array(s) {', '.join(sorted(unused)[:5])} are not used by any node")
    return g


def _list(v: Any, where: str, what: str) -> list:
    if not isinstance(v, list):
        raise GraphFormatError(f"{where}: {what} must be a list")
    return v


def _tensor(ref: Any, ops: dict[str, Operation], where: str) -> Tensor:
    if not isinstance(ref, str) or ":" not in ref:
        raise GraphFormatError(f"{where}: bad input reference {ref!r}")
    op_name, idx = ref.rsplit(":", 1)
    op = ops.get(op_name)
    if op is None:
        raise GraphFormatError(f"{where}: input {ref!r} is not defined before this node")
    if not idx.isdigit() or int(idx) >= len(op.outputs):
        raise GraphFormatError(f"{where}: input {ref!r} names an output that does not exist")
    return op.outputs[int(idx)]
