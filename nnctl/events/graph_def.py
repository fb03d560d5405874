"""nnctl's Graph as TensorFlow's GraphDef proto, for TensorBoard's graph dashboard.

Every operation becomes a NodeDef with its name (TensorBoard groups nodes by the ``/`` in names, so
name scopes become boxes), its op type, its inputs (``op`` or ``op:i``, ``^op`` for control
inputs) and the attributes worth showing: the element type (``T`` / ``dtype``), the static output
shapes (``_output_shapes``, which TensorBoard prints on the edges), scalar attributes (axes,
strides, flags) and, for Const, the value's dtype and shape. The gradient nodes that
``tf.gradients``/``minimize`` add live in the ``gradients/`` scope and the update nodes in the
optimizer's scope, so the backward pass appears as its own boxes next to the forward graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.events.tbx import tbx

# TensorFlow's DataType enum (types.proto)
_DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "object": 7, "int64": 9,
       "bool": 10, "float16": 19}


def _dtype_enum(dt: Any) -> int:
    name = getattr(dt, "name", str(dt))
    return _DT.get(name, 0)


def _shape_proto(shape: Any) -> Any:
    TensorShapeProto = tbx("proto.tensor_shape_pb2").TensorShapeProto
    if shape is None:
        return TensorShapeProto(unknown_rank=True)
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in shape])


def _attr_value(v: Any) -> Any:
    """An AttrValue for plain attributes (int, float, bool, str, lists of them), else None."""
    AttrValue = tbx("proto.attr_value_pb2").AttrValue
    if isinstance(v, (bool, np.bool_)):
        return AttrValue(b=bool(v))
    if isinstance(v, (int, np.integer)):
        return AttrValue(i=int(v))
    if isinstance(v, (float, np.floating)):
        return AttrValue(f=float(v))
    if isinstance(v, str):
        return AttrValue(s=v.encode("utf-8"))
    if isinstance(v, (list, tuple)) and len(v) <= 64:
        if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v):
            return AttrValue(list=AttrValue.ListValue(i=[int(x) for x in v]))
        if all(isinstance(x, (float, np.floating)) for x in v):
            return AttrValue(list=AttrValue.ListValue(f=[float(x) for x in v]))
        if all(isinstance(x, str) for x in v):
            return AttrValue(list=AttrValue.ListValue(s=[x.encode("utf-8") for x in v]))
    return None


def _input_name(t: Any) -> str:
    return t.op.name if t.value_index == 0 else f"{t.op.name}:{t.value_index}"


def graph_def(graph: Any, ops: Any = None) -> Any:
    """A GraphDef of ``graph`` (or of the operations ``ops``, in order)."""
    AttrValue = tbx("proto.attr_value_pb2").AttrValue
    GraphDef = tbx("proto.graph_pb2").GraphDef
    NodeDef = tbx("proto.node_def_pb2").NodeDef
    TensorProto = tbx("proto.tensor_pb2").TensorProto
    VersionDef = tbx("proto.versions_pb2").VersionDef
    nodes = []
    for op in (ops if ops is not None else graph.get_operations()):
        attr: dict[str, Any] = {}
        if op.outputs:
            attr["T" if op.inputs else "dtype"] = AttrValue(type=_dtype_enum(op.outputs[0].dtype))
            attr["_output_shapes"] = AttrValue(list=AttrValue.ListValue(
                shape=[_shape_proto(t.static_shape) for t in op.outputs]))
        for k, v in (op.attrs or {}).items():
            if k in attr or k.startswith("_"):
                continue
            if isinstance(v, np.ndarray):
                if k == "value":
                    attr["value"] = AttrValue(tensor=TensorProto(dtype=_dtype_enum(v.dtype),
                                                                 tensor_shape=_shape_proto(v.shape)))
                continue
            a = _attr_value(v)
            if a is not None:
                attr[k] = a
        attr["_role"] = AttrValue(s=str(op.role).encode())
        inputs = [_input_name(t) for t in op.inputs] + [f"^{c.name}" for c in op.control_inputs]
        nodes.append(NodeDef(name=op.name, op=op.type, input=inputs, attr=attr))
    return GraphDef(node=nodes, versions=VersionDef(producer=22))
