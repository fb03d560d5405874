"""An nnctl graph -> an ONNX model (opset 17), op by op.

:func:`convert` walks the ops that the requested outputs need, stopping at the fed inputs. An op
that depends on no input (a Const, a variable read, batch norm's ``rsqrt(var + eps) * gamma`` ...)
is *folded*: nnctl computes its value and it becomes an ONNX initializer, so the exported numbers
are exactly nnctl's. Every other op goes through its converter in :mod:`nnctl.export.onnx_ops`. An
op without one is reported with its name, type and layer before anything is written.

:func:`frozen_to_onnx` exports a frozen model: input ``x`` takes raw features (the model's
numeric preprocessing runs inside the graph, as in ``nnctl predict``), outputs ``logits``,
``outputs`` and, for classifiers, ``probabilities`` (what ``nnctl predict`` prints). The batch
dimension is dynamic. :func:`to_onnx` exports any TF1-API graph from a live session.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import InputError, RuntimeFailure
from nnctl.export.onnx_ops import CONVERTERS, OPSET, UNSUPPORTED_REASON, Emitter, UnsupportedOp, onnx_dtype
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.registry import op_def

IR_VERSION = 8  # the IR version of opset 17 (onnx 1.12): loads in every onnxruntime since 1.12
_FOLDABLE_STATEFUL = ("VariableV2", "Const")


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise InputError("ONNX export needs the onnx package: pip install 'nnctl[onnx]'") from None
    return onnx


def layer_of(op_name: str) -> str:
    """The layer an op belongs to, from its name scope (``inference/dense_0_infer/MatMul`` -> dense_0)."""
    parts = op_name.split("/")
    if parts[0] == "inference" and len(parts) > 1:
        parts = parts[1:]
    if len(parts) < 2:
        return "(top level)"
    scope = parts[0]
    return scope[: -len("_infer")] if scope.endswith("_infer") else scope


def _needed(fetches: Sequence[Tensor], feeds: set[Tensor]) -> list[Operation]:
    seen: set[int] = set()
    stack = [t.op for t in fetches if t not in feeds]
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        stack.extend(t.op for t in op.inputs if t not in feeds)
    graph = fetches[0].graph
    return [op for op in graph.get_operations() if id(op) in seen]


def _is_stateful(op: Operation) -> bool:
    d = op_def(op.type)
    return bool(d is not None and d.stateful and op.type not in _FOLDABLE_STATEFUL)


def convert(e: Emitter, feeds: dict[Tensor, str], fetches: Sequence[Tensor],
            evaluate: Callable[[list[Tensor]], list[Any]]) -> dict[Tensor, str]:
    """Add the nodes computing ``fetches`` from ``feeds`` (tensor -> ONNX value name) to ``e``.

    Returns the ONNX value name of every fetch. Raises InputError naming every op that has no ONNX
    equivalent (and its layer), or a placeholder the fetches need that is not an input."""
    ops = _needed(fetches, set(feeds))
    live: set[int] = set()
    for op in ops:
        if op.type == "Placeholder" or _is_stateful(op) or any(t in feeds or id(t.op) in live for t in op.inputs):
            live.add(id(op))
    problems: list[str] = []
    for op in ops:
        if id(op) not in live:
            continue
        if op.type == "Placeholder":
            problems.append(f"placeholder '{op.name}' is needed by the outputs but is not an input of the export")
        elif op.type not in CONVERTERS:
            why = UNSUPPORTED_REASON.get(op.type, "no ONNX equivalent")
            problems.append(f"op '{op.name}' (type {op.type}) in layer '{layer_of(op.name)}': {why}")
    if problems:
        raise InputError("cannot export to ONNX: " + "; ".join(problems[:8])
                         + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else "")
                         + "; nothing was written")
    names: dict[Tensor, str] = dict(feeds)
    # constants that a live op (or a fetch) reads: folded by nnctl, stored as initializers
    frontier: list[Tensor] = []
    seen_t: set[Tensor] = set()
    for op in ops:
        if id(op) in live:
            for t in op.inputs:
                if t not in names and id(t.op) not in live and t not in seen_t:
                    seen_t.add(t)
                    frontier.append(t)
    for t in fetches:
        if t not in names and id(t.op) not in live and t not in seen_t:
            seen_t.add(t)
            frontier.append(t)
    if frontier:
        values = evaluate(frontier)
        for t, v in zip(frontier, values):
            arr = np.asarray(v, dtype=t.dtype.np)
            names[t] = e.const(arr, t.name)
    for op in ops:
        if id(op) not in live:
            continue
        e.op = op
        try:
            outs = CONVERTERS[op.type](e, op, [names[t] for t in op.inputs])
        except UnsupportedOp as err:
            raise InputError(f"cannot export to ONNX: op '{op.name}' (type {op.type}) in layer "
                             f"'{layer_of(op.name)}': {err}; nothing was written") from None
        except Exception as err:  # a converter bug: name the op it failed on
            raise RuntimeFailure(f"ONNX export: converting op '{op.name}' (type {op.type}) failed: "
                                 f"{type(err).__name__}: {err}; nothing was written") from None
        finally:
            e.op = None
        if len(outs) != len(op.outputs):
            raise RuntimeError(f"ONNX converter of {op.type} returned {len(outs)} outputs for {len(op.outputs)}")
        for t, n in zip(op.outputs, outs):
            names[t] = n
    return {t: names[t] for t in fetches}


def _value_info(name: str, dtype: Any, shape: Sequence[int | None] | None) -> Any:
    from onnx import helper
    dims = None
    if shape is not None:
        dims = ["batch" if (d is None and i == 0) else (f"{name}_dim{i}" if d is None else int(d))
                for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)


def build_model(e: Emitter, inputs: list[tuple[str, Any, Sequence]], outputs: list[tuple[str, str, Any, Sequence]],
                graph_name: str, metadata: dict[str, str], doc: str = "") -> Any:
    """An onnx.ModelProto from the emitter's nodes; ``outputs`` are (name, internal value, dtype, shape)."""
    onnx = require_onnx()
    from onnx import helper
    for name, value, _, _ in outputs:
        e.nodes.append(helper.make_node("Identity", [value], [name], name=e.fresh(f"output/{name}")))
    graph = helper.make_graph(e.nodes, graph_name, [_value_info(n, d, s) for n, d, s in inputs],
                              [_value_info(n, d, s) for n, _, d, s in outputs], e.initializers, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nnctl",
                              producer_version=_version(), ir_version=IR_VERSION)
    helper.set_model_props(model, metadata)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:
        raise RuntimeError(f"the exported ONNX model fails onnx.checker: {err}") from None
    return model


def _version() -> str:
    import nnctl
    return getattr(nnctl, "__version__", "?")


# --- a frozen model --------------------------------------------------------------------------------

def _preprocess(e: Emitter, pre: Any, x: str) -> str:
    """The model's fitted numeric preprocessing as graph nodes, in float32 as nnctl computes it."""
    if pre.mode == "scale":
        return e.one("Mul", [x, e.const(np.float32(pre.scale_factor), "preprocess/scale_factor")])
    if pre.mode in ("standardize", "minmax"):
        d = e.one("Sub", [x, e.const(pre.shift.astype(np.float32), "preprocess/shift")])
        return e.one("Div", [d, e.const(pre.divisor.astype(np.float32), "preprocess/divisor")])
    return x


def preprocessing_summary(pre: Any) -> str:
    return {"standardize": "standardize: (x - mean) / std per feature, fitted on the training data",
            "minmax": "minmax: (x - min) / (max - min) per feature, fitted on the training data",
            "scale": f"scale: x * {pre.scale_factor:g}",
            "none": "none"}.get(pre.mode, pre.mode) + " (applied inside the graph: feed raw features)"


def probabilities_nodes(e: Emitter, head: Any, logits: str, outputs: str) -> str:
    """Class probabilities [n, k >= 2] exactly as nnctl.train.evaluation.probabilities computes them."""
    if head.units == 1:
        if head.loss == "binary_cross_entropy":
            p1 = e.one("Sigmoid", [logits])
        else:
            p1 = e.one("Clip", [outputs, e.const(np.float32(0), "zero"), e.const(np.float32(1), "one")])
        p0 = e.one("Sub", [e.const(np.float32(1), "one"), p1])
        return e.one("Concat", [p0, p1], axis=1)
    if head.uses_logits or head.final_activation == "softmax":
        return e.one("Softmax", [logits], axis=1)
    s = e.one("ReduceSum", [outputs, e.i64([1], "axes")], keepdims=1)
    return e.one("Div", [outputs, e.one("Max", [s, e.const(np.float32(1e-12), "eps")])])


def output_names(model: Any) -> list[str]:
    """The ONNX outputs in order: the prediction first (what ``nnctl predict`` prints)."""
    return ["probabilities", "outputs", "logits"] if model.classification else ["predictions", "outputs", "logits"]


def target_unscaling(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(divisor, shift) that map a regression model's outputs back to the label's units, if scaled."""
    pipe = getattr(model, "pipeline", None)
    lab = getattr(pipe, "label", None)
    if lab is None or getattr(lab, "target_shift", None) is None:
        return None
    return np.asarray(lab.target_divisor, np.float32), np.asarray(lab.target_shift, np.float32)


def model_metadata(model: Any) -> dict[str, str]:
    """metadata_props of an exported frozen model (every value a string; JSON where structured)."""
    meta = model.meta
    info = {
        "format": "nnctl-onnx",
        "created_by": f"nnctl {_version()}",
        "class_names": json.dumps(model.class_names),
        "feature_names": json.dumps(raw_input_spec(model)[0]),
        "input": raw_input_spec(model)[2],
        "pipeline": json.dumps((meta.get("features") or {}).get("pipeline")),
        "label_names": json.dumps(model.label_names),
        "feature_shape": json.dumps(list(raw_input_spec(model)[1])),
        "preprocessing": raw_input_spec(model)[2],
        "preprocessor": json.dumps(meta.get("preprocessor")),
        "head": json.dumps(meta.get("head")),
        "outputs": json.dumps({**({"probabilities": "class probabilities [n, k], the columns of nnctl predict"}
                                  if model.classification else {}),
                               **({} if model.classification else
                                  {"predictions": "the values nnctl predict prints (in the label's units)"}),
                               "outputs": "the last layer's output",
                               "logits": "the last layer before its final softmax/sigmoid"}),
        "prediction_output": output_names(model)[0],
        "source": json.dumps(meta.get("source")),
    }
    return info


def frozen_to_onnx(model: Any) -> Any:
    """The ONNX model of a loaded :class:`~nnctl.export.frozen.FrozenModel` (raw features in)."""
    require_onnx()
    e = Emitter()
    x = e.reserve("x")
    _, in_shape, _ = raw_input_spec(model)
    feats = numeric_pipeline(model)
    pre = pipeline_nodes(e, feats, x) if feats is not None else x
    if feats is not None and tuple(model.feature_shape) != (int(np.prod(model.feature_shape)),):
        pre = e.one("Reshape", [pre, e.i64([-1, *model.feature_shape])])
    pre = _preprocess(e, model.preprocessor, pre)
    vals = convert(e, {model.x: pre}, [model.logits, model.outputs], lambda ts: model.session.run(ts))
    units = model.head.units
    outs = [("outputs", vals[model.outputs], np.float32, (None, units)),
            ("logits", vals[model.logits], np.float32, (None, units))]
    if model.classification:
        k = 2 if units == 1 else units
        outs.insert(0, ("probabilities", probabilities_nodes(e, model.head, vals[model.logits],
                                                             vals[model.outputs]), np.float32, (None, k)))
    else:
        pred = vals[model.outputs]
        unscale = target_unscaling(model)
        if unscale is not None:  # predictions in the label's units: outputs * divisor + shift
            pred = e.one("Add", [e.one("Mul", [pred, e.const(unscale[0], "target/divisor")]),
                                 e.const(unscale[1], "target/shift")])
        outs.insert(0, ("predictions", e.one("Identity", [pred]), np.float32, (None, units)))
    name = (model.meta.get("source") or {}).get("config_name") or "nnctl"
    doc = ("nnctl model. Input x [batch, " + ", ".join(map(str, in_shape)) + "]: "
           + raw_input_spec(model)[2] + ".")
    return build_model(e, [("x", np.float32, (None, *in_shape))], outs, str(name), model_metadata(model), doc)


# --- TF1 graphs ------------------------------------------------------------------------------------

def _named(ts: Any, what: str) -> list[tuple[str, Tensor]]:
    if isinstance(ts, Tensor):
        ts = [ts]
    if isinstance(ts, dict):
        items = list(ts.items())
    else:
        items = [(t.op.name if isinstance(t, Tensor) else str(t), t) for t in ts]
    out = []
    for n, t in items:
        if not isinstance(t, Tensor):
            raise InputError(f"to_onnx: {what} {n!r} must be a Tensor, got {type(t).__name__}")
        out.append((str(n), t))
    if not out:
        raise InputError(f"to_onnx: no {what}")
    return out


def tf1_to_onnx(sess: Any, inputs: Any, outputs: Any, metadata: dict[str, str] | None = None) -> Any:
    """The ONNX model computing ``outputs`` from ``inputs`` in ``sess``'s graph (variables folded to
    their current values). ``inputs``/``outputs``: a tensor, a list (named by op name) or a dict."""
    require_onnx()
    ins, outs = _named(inputs, "input"), _named(outputs, "output")
    e = Emitter()
    feeds: dict[Tensor, str] = {}
    in_specs = []
    for n, t in ins:
        feeds[t] = e.reserve(n)
        in_specs.append((n, t.dtype.np, t.static_shape))
    for n, _ in outs:
        if n in feeds.values():
            raise InputError(f"to_onnx: output name {n!r} is also an input name")
    vals = convert(e, feeds, [t for _, t in outs], lambda ts: sess.run(ts))
    meta = {"format": "nnctl-onnx", "created_by": f"nnctl {_version()}", **(metadata or {})}
    return build_model(e, in_specs, [(n, vals[t], t.dtype.np, t.static_shape) for n, t in outs], "nnctl_tf1",
                       meta)


def model_bytes(model: Any) -> bytes:
    return model.SerializeToString()


def run_onnx(data: bytes, feeds: dict[str, np.ndarray], output_names: list[str] | None = None) -> dict[str, Any]:
    """Run serialized ONNX bytes in onnxruntime (CPU) -> {output name: array}."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError("verifying an ONNX export needs onnxruntime: pip install 'nnctl[onnx]'") from None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    names = output_names or [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def save(path: str | os.PathLike, data: bytes) -> None:
    from nnctl.fileio import write_output
    write_output(path, data, "ONNX file")


def _sample_feed(t: Tensor, rng: np.random.Generator, batch: int) -> np.ndarray:
    shape = tuple(batch if d is None else int(d) for d in (t.static_shape or ()))
    dt = t.dtype.np
    if np.dtype(dt).kind == "f":
        return rng.standard_normal(shape).astype(dt)
    if np.dtype(dt).kind == "b":
        return rng.uniform(size=shape) > 0.5
    return np.zeros(shape, dtype=dt)  # integer inputs are often indices: 0 is always valid


def to_onnx(sess: Any, inputs: Any, outputs: Any, path: str | os.PathLike | None = None,
            sample: dict[str, Any] | None = None, metadata: dict[str, str] | None = None) -> Any:
    """Export the part of a TF1-API graph that computes ``outputs`` from ``inputs`` to ONNX.

    Variables are folded to their current values in ``sess``. Before anything is written the model
    runs in onnxruntime on ``sample`` ({input name: array}; by default random arrays of the inputs'
    shapes, batch 3 where unknown) and every output is compared with ``sess.run``; a difference
    beyond float32 tolerance raises RuntimeFailure. Returns the onnx.ModelProto; with ``path`` it is
    also written atomically, with ``path.report.json`` beside it."""
    from nnctl.export import verify
    ins, outs = _named(inputs, "input"), _named(outputs, "output")
    model = tf1_to_onnx(sess, dict(ins), dict(outs), metadata)
    rng = np.random.default_rng(0)
    feeds = {n: (np.asarray(sample[n]) if sample and n in sample else _sample_feed(t, rng, 3)) for n, t in ins}
    ref = sess.run([t for _, t in outs], {t: feeds[n] for n, t in ins})
    data = model_bytes(model)
    got = run_onnx(data, {n: np.asarray(v, dtype=t.dtype.np) for (n, t), v in zip(ins, feeds.values())},
                   [n for n, _ in outs])
    batch = next((int(np.shape(v)[0]) for v in feeds.values() if np.ndim(v)), 1)
    comps = [verify.compare(n, r, got[n], batch) for (n, _), r in zip(outs, ref)]
    verify.check(comps, "ONNX export")
    if path is not None:
        save(path, data)
        verify.write_report(path, verify.report_dict("onnx", Path(path), data, comps, {"opset": OPSET}))
    return model


# --- the per-column feature pipeline (nnctl/data/features.py) -----------------------------------

def numeric_pipeline(model: Any) -> list | None:
    """The pipeline's features when every one is numeric (so raw values can go into the graph), else None."""
    pipe = getattr(model, "pipeline", None)
    if pipe is None or not pipe.features or any(f.type != "numeric" for f in pipe.features):
        return None
    return list(pipe.features)


def pipeline_nodes(e: Emitter, features: list, x: str) -> str:
    """Numeric columns -> the model's numeric input, as nnctl.data.features.NumericFeature.encode does
    in float32: missing (NaN) -> the fitted fill value, clip, log1p, then scale or (v - shift) / divisor;
    a missing indicator column after the value where configured."""
    blocks = []
    for i, f in enumerate(features):
        o = f.options
        col = e.one("Slice", [x, e.i64([i], "starts"), e.i64([i + 1], "ends"), e.i64([1], "axes")])
        miss = e.one("IsNaN", [col])
        v = e.one("Where", [miss, e.const(np.float32(f.fill_value), f"{f.name}/fill"), col])
        if o.get("clip") is not None:
            bounds = [("" if b is None else e.const(np.float32(b), f"{f.name}/clip")) for b in o["clip"]]
            v = e.one("Clip", [v, *bounds])
        if o["scaling"] == "log1p":
            v = e.one("Log", [e.one("Add", [v, e.const(np.float32(1), "one")])])
        if o["scaling"] == "scale":
            v = e.one("Mul", [v, e.const(np.float32(o.get("factor", 1.0)), f"{f.name}/factor")])
        elif o["scaling"] != "none":
            v = e.one("Div", [e.one("Sub", [v, e.const(np.float32(f.shift), f"{f.name}/shift")]),
                              e.const(np.float32(f.divisor), f"{f.name}/divisor")])
        blocks.append(v)
        if f.width == 2:
            blocks.append(e.one("Cast", [miss], to=onnx_dtype(np.float32)))
    return blocks[0] if len(blocks) == 1 else e.one("Concat", blocks, axis=1)


def raw_input_spec(model: Any) -> tuple[list[str] | None, tuple, str]:
    """(column names, per-row shape, what the input takes) of the exported model's input x."""
    feats = numeric_pipeline(model)
    if feats is not None:
        return [f.name for f in feats], (len(feats),), ("raw values of the numeric columns " + ", ".join(
            f.name for f in feats) + " (NaN for a missing value); the fitted per-column preprocessing is inside "
            "the graph")
    if getattr(model, "pipeline", None) is not None:
        return None, tuple(model.feature_shape), ("the features as nnctl's feature pipeline encodes them (see "
                                                  "metadata 'pipeline'): the model has non-numeric columns")
    return model.feature_names, tuple(model.feature_shape), preprocessing_summary(model.preprocessor)
