"""Freezing: a run's checkpoint -> a frozen model file holding only the inference graph.

:func:`nnctl.train.rundir.reopen` (``load_run`` here) reopens a run (its stored config, data and
a verified checkpoint) as a live session; :func:`freeze_run` keeps only the ops that the inference
outputs (``logits`` and ``outputs``) need, folds each variable read into a Const holding the checkpoint's value, checks
that the result computes what the checkpoint computes, and writes the file atomically.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.builder import Model
from nnctl.errors import InputError, RuntimeFailure
from nnctl.export.frozen import (
    FrozenModel,
    Signature,
    TensorSpec,
    frozen_bytes,
    load_frozen_bytes,
)
from nnctl.export.serialize import graph_to_json
from nnctl.fileio import check_output_path, write_output
from nnctl.graph.graph import FORWARD, GRADIENT, INIT, OPTIMIZER, Operation, Tensor
from nnctl.graph.registry import op_def
from nnctl.train.evaluation import l2_penalty, run_outputs
from nnctl.train.rundir import CONFIG_FILE, LoadedRun, resolve_target
from nnctl.train.rundir import reopen as load_run

__all__ = ["FreezeReport", "LoadedRun", "freeze", "freeze_graph", "freeze_run", "load_run", "report_renderables",
           "resolve_target"]

TOLERANCE = 1e-6


# --- freezing ------------------------------------------------------------------------------------

@dataclass
class FreezeReport:
    path: Path | None
    size: int
    step: int
    signature: Signature
    kept: dict[str, int]                 # forward op type -> count in the frozen graph
    folded: list[tuple[str, tuple, int]]  # (variable, shape, elements) folded to Consts
    removed: dict[str, int]              # kind -> count of ops left out
    total_before: int
    total_after: int
    max_abs_diff: float
    sample_size: int
    warnings: list[str] = field(default_factory=list)
    which: str = "latest"                # how the checkpoint was chosen: best | latest | step | folder


def _is_var_read(op: Operation) -> bool:
    return op.type == "Identity" and len(op.inputs) == 1 and op.inputs[0].op.type == "VariableV2"


def _needed(fetch_ops: list[Operation]) -> tuple[list[Operation], set[int]]:
    """Ops the fetches need (walking inputs and control inputs), stopping at variable reads."""
    seen: set[int] = set()
    stack = list(fetch_ops)
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if _is_var_read(op) or op.type == "VariableV2":
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    graph = fetch_ops[0].graph
    ordered = [op for op in graph.get_operations() if id(op) in seen]
    return ordered, seen


def _removed_kind(op: Operation, model: Model, layer_names: set[str]) -> str:
    if op is model.y.op:
        return "label placeholder y"
    if op.role == GRADIENT:
        return "gradient"
    if op.role == OPTIMIZER:
        return "optimizer (updates, slots)"
    if op.role == INIT:
        return "init"
    if op.type == "VariableV2":
        return "variables (VariableV2)"
    if _is_var_read(op):
        return "variable reads (unused)"
    scope = op.name.split("/")[0]
    if scope == "loss":
        return "loss/metric"
    if scope == "learning_rate":
        return "learning rate"
    if scope in ("grad_norm", "clip_by_global_norm"):
        return "gradient norm/clipping"
    if scope in layer_names or scope in ("x_reshaped",):
        return "training branch"
    return "other training"


def _spec(name: str, t: Tensor) -> TensorSpec:
    return TensorSpec(name, t.name, tuple(t.static_shape or ()), t.dtype.name)


def freeze_graph(model: Model, values: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray], dict]:
    """(graph JSON, const arrays, counts) of the inference graph with variables folded to Consts."""
    fetch = [model.logits.op, model.outputs.op, model.x.op]
    ordered, _ = _needed(fetch)
    replace: dict[int, dict] = {}
    folded: list[tuple[str, tuple, int]] = []
    bad: list[str] = []
    for op in ordered:
        if _is_var_read(op) or op.type == "VariableV2":
            var_name = op.inputs[0].op.name if op.type == "Identity" else op.name
            v = np.array(values[var_name], copy=True)
            if v.dtype != op.outputs[0].dtype.np or tuple(v.shape) != tuple(op.outputs[0].static_shape or ()):
                raise RuntimeFailure(f"freeze: value of {var_name} has shape {v.shape} {v.dtype}, the graph says "
                                     f"{op.outputs[0].static_shape} {op.outputs[0].dtype.name}")
            v.setflags(write=False)
            replace[id(op)] = {"op": "Const", "attrs": {"value": v}, "inputs": []}
            folded.append((var_name, tuple(v.shape), int(v.size)))
            continue
        if op.role != FORWARD:
            bad.append(f"{op.name} ({op.role} node {op.type})")
            continue
        d = op_def(op.type)
        if op.type == "Placeholder" and op is not model.x.op:
            bad.append(f"{op.name} (a placeholder other than the input x)")
        elif d is not None and d.stateful and op.type != "Placeholder":
            bad.append(f"{op.name} (stateful op {op.type}: random or state-changing)")
    if bad:
        raise RuntimeFailure("freeze: the inference outputs depend on nodes a frozen model cannot hold: "
                             + ", ".join(bad[:8]))
    graph_json, arrays = graph_to_json(ordered, replace)
    kept: Counter[str] = Counter()
    for op in ordered:
        kept["Const" if id(op) in replace else op.type] += 1
    return graph_json, arrays, {"kept": dict(sorted(kept.items())), "folded": folded,
                                "ids": {id(op) for op in ordered}}


def _data_source(src: Any) -> dict:
    return {"kind": src.kind, "features": src.features, "labels": src.labels, "x_key": src.x_key,
            "y_key": src.y_key}


def freeze_run(run: LoadedRun, out: str | os.PathLike | None, sample_size: int = 256) -> tuple[bytes, FreezeReport]:
    """Freeze ``run``'s checkpoint; write it to ``out`` (atomically) unless ``out`` is None."""
    model, sess, cfg, splits = run.model, run.sess, run.cfg, run.splits
    values = sess.variable_values()
    graph_json, arrays, info = freeze_graph(model, values)
    weights = sess.run([w.value() for w in model.weights]) if cfg.loss.l2 else []
    signature = Signature((_spec("x", model.x),), (_spec("logits", model.logits), _spec("outputs", model.outputs)))
    meta = {
        "signature": signature.to_dict(),
        "head": model.head.to_dict(),
        "metrics": list(cfg.metrics),
        "l2": float(cfg.loss.l2),
        "l2_penalty": l2_penalty(cfg.loss.l2, weights),
        "class_weights": None if model.class_weights is None else [float(w) for w in model.class_weights],
        "preprocessor": splits.preprocessor.to_dict(),
        "features": {"names": splits.feature_names, "shape": list(splits.train.x.shape[1:]),
                     # raw rows -> inputs: the fitted per-column preprocessing (nnctl/data/features.py)
                     "pipeline": splits.pipeline.to_dict() if splits.pipeline is not None else None},
        "labels": {"names": splits.label_names, "type": cfg.data.label_type, "class_names": splits.class_names,
                   "num_classes": splits.num_classes},
        "data_source": _data_source(cfg.data.train),
        "source": {"config_name": cfg.name, "config": str((run.run_dir / CONFIG_FILE).resolve()),
                   "run_dir": str(run.run_dir.resolve()),
                   "checkpoint": str(run.checkpoint.path.resolve()), "checkpoint_step": run.step,
                   "graph_fingerprint": model.fingerprint()},
        "created_by": f"nnctl {_version()}",
    }
    data = frozen_bytes(graph_json, arrays, meta)
    frozen = load_frozen_bytes(data, "<frozen model being written>")
    diff, n = _verify(run, frozen, sample_size)
    if not diff <= TOLERANCE:
        raise RuntimeFailure(f"freeze: the frozen graph's outputs differ from the checkpoint's by {diff:.3g} "
                             f"(> {TOLERANCE:g}) on {n} examples; nothing was written")
    if out is not None:
        write_output(out, data, "frozen model file")
    layer_names = {li.name for li in model.layers}
    removed: Counter[str] = Counter()
    all_ops = model.graph.get_operations()
    for op in all_ops:
        if id(op) not in info["ids"]:
            removed[_removed_kind(op, model, layer_names)] += 1
    report = FreezeReport(Path(out) if out is not None else None, len(data), run.step, signature, info["kept"],
                          info["folded"], dict(sorted(removed.items())), len(all_ops), len(info["ids"]), diff, n,
                          which=run.which)
    frozen.close()
    return data, report


def _verify(run: LoadedRun, frozen: FrozenModel, sample_size: int) -> tuple[float, int]:
    """Max |frozen - checkpoint session| over logits and outputs on a sample of preprocessed examples."""
    s = run.splits
    parts = [sp.x[:sample_size] for sp in (s.val, s.train) if sp is not None]
    x = np.concatenate(parts)[:sample_size] if parts else s.train.x[:sample_size]
    m = run.model

    def fn(xb: np.ndarray) -> Any:
        return run.sess.run([m.logits, m.outputs], {m.x: xb})
    ref_l, ref_o = run_outputs(fn, x)
    got_l, got_o = frozen.run(x, preprocessed=True)
    diff = 0.0
    for a, b in ((ref_l, got_l), (ref_o, got_o)):
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a64.shape != b64.shape:
            return float("inf"), len(x)
        if a64.size:
            d = np.abs(a64 - b64)
            diff = max(diff, float(np.nanmax(d)) if np.isfinite(d).all() else float("inf"))
    return diff, len(x)


def _version() -> str:
    import nnctl
    return getattr(nnctl, "__version__", "?")


def freeze(target: str | os.PathLike, out: str | os.PathLike, checkpoint: str | None = None,
           warn: Callable[[str], None] | None = None) -> FreezeReport:
    """The library form of ``nnctl freeze TARGET -o OUT`` (TARGET: run dir or checkpoint folder)."""
    check_output_path(out, "frozen model file")
    t = resolve_target(target)
    if t.kind == "frozen":
        raise InputError(f"{t.path}: is a file; freeze needs a run directory or a checkpoint folder")
    if t.kind == "checkpoint" and checkpoint is not None:
        raise InputError(f"{t.path} already names a checkpoint; drop --checkpoint or give the run directory")
    run = load_run(t.run_dir, checkpoint, t.checkpoint, warn)
    try:
        _, report = freeze_run(run, out)
    finally:
        run.close()
    return report


def report_renderables(rep: FreezeReport) -> list[Any]:
    """Rich tables for a freeze report: what was kept, what was removed, and the signature."""
    from rich.table import Table

    from nnctl.graph.tensor_shape import fmt_shape
    kept = Table(title=f"kept: {rep.total_after} of {rep.total_before} nodes")
    kept.add_column("op type")
    kept.add_column("count", justify="right")
    for k, n in rep.kept.items():
        label = f"{k} ({len(rep.folded)} folded variables)" if k == "Const" and rep.folded else k
        kept.add_row(label, str(n))
    removed = Table(title=f"removed: {sum(rep.removed.values())} nodes")
    removed.add_column("kind")
    removed.add_column("count", justify="right")
    for k, n in rep.removed.items():
        removed.add_row(k, str(n))
    sig = Table(title="signature")
    for c in ("", "name", "tensor", "shape", "dtype"):
        sig.add_column(c)
    for kind, specs in (("input", rep.signature.inputs), ("output", rep.signature.outputs)):
        for s in specs:
            sig.add_row(kind, s.name, s.tensor, fmt_shape(s.shape), s.dtype)
    params = sum(n for _, _, n in rep.folded)
    why = f" ({rep.which})" if rep.which in ("best", "latest") else ""
    line = (f"froze checkpoint step {rep.step}{why}: {len(rep.folded)} variables ({params:,} values) folded to "
            f"constants; max |frozen - checkpoint| = {rep.max_abs_diff:.3g} on {rep.sample_size} examples")
    if rep.path is not None:
        line += f"\nwrote {rep.path} ({rep.size:,} bytes)"
    return [kept, removed, sig, line]
