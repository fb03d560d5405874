"""``nnctl export TARGET --format onnx|safetensors|frozen``: one verified file and its report.

TARGET is a run directory, a checkpoint folder or a frozen file. A run is frozen in memory first
(freezing checks itself against the checkpoint); the export is then built from the frozen
inference graph, run on a sample batch (real training/validation rows for a run; rows drawn from
the fitted preprocessing statistics for a frozen file) and compared with the checkpoint's own
outputs. Only a file that agrees to float32 tolerance is written (atomically), with
``FILE.report.json`` beside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import InputError
from nnctl.export import verify
from nnctl.export.freezing import freeze_run
from nnctl.export.frozen import FrozenModel, load_frozen, load_frozen_bytes
from nnctl.train.evaluation import probabilities, run_outputs
from nnctl.train.rundir import LoadedRun, reopen, resolve_target

FORMATS = ("onnx", "safetensors", "frozen")
SUFFIX = {"onnx": ".onnx", "safetensors": ".safetensors", "frozen": ".frozen"}
SAMPLE = 256


@dataclass
class ExportReport:
    format: str
    path: Path
    report_path: Path
    size: int
    comparisons: list[verify.Comparison]
    step: int | None
    sample_size: int
    report: dict = field(default_factory=dict)

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.comparisons), default=0.0)


# --- samples and reference outputs --------------------------------------------------------------

def _inverse(pre: Any, x: np.ndarray) -> np.ndarray:
    """Raw features that the preprocessing maps (up to rounding) to ``x``."""
    x64 = np.asarray(x, dtype=np.float64)
    if pre.mode == "scale":
        return (x64 / pre.scale_factor if pre.scale_factor else x64).astype(np.float32)
    if pre.mode in ("standardize", "minmax"):
        return (x64 * pre.divisor + pre.shift).astype(np.float32)
    return x64.astype(np.float32)


def run_sample(run: LoadedRun, n: int = SAMPLE) -> np.ndarray:
    """Up to ``n`` raw rows of the run's own data (validation first, then training)."""
    s = run.splits
    parts = [sp.x[:n] for sp in (s.val, s.train) if sp is not None and len(sp.x)]
    x = np.concatenate(parts)[:n] if parts else s.train.x[:n]
    return _inverse(s.preprocessor, x)


def synthetic_sample(model: FrozenModel, n: int = SAMPLE, seed: int = 0) -> np.ndarray:
    """Rows spread like the training data, drawn from the fitted preprocessing statistics."""
    rng = np.random.default_rng(seed)
    shape = (n, *model.feature_shape)
    pre = model.preprocessor
    if pre.mode == "standardize":
        return (pre.shift + pre.divisor * rng.standard_normal(shape)).astype(np.float32)
    if pre.mode == "minmax":
        return (pre.shift + pre.divisor * rng.uniform(0, 1, shape)).astype(np.float32)
    if pre.mode == "scale" and pre.scale_factor:
        return (rng.uniform(0, 1, shape) / pre.scale_factor).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def _with_probabilities(model: FrozenModel, logits: np.ndarray, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """Every exported output from (logits, outputs): as FrozenModel.predict computes the prediction."""
    ref = {"logits": np.asarray(logits), "outputs": np.asarray(outputs)}
    if model.classification:
        ref["probabilities"] = probabilities(model.head, logits, outputs)
    else:
        pipe = getattr(model, "pipeline", None)
        out = np.asarray(outputs, dtype=np.float64)
        ref["predictions"] = pipe.unscale_targets(out) if pipe is not None else out
    return ref


def _numeric_raw(feats: list, enc: np.ndarray | None, n: int, seed: int = 0) -> np.ndarray:
    """Raw values of the numeric columns: the inverse of the pipeline on encoded rows ``enc`` (a run's
    data), or drawn from the fitted statistics; the first row has every fillable value missing (NaN)."""
    rng = np.random.default_rng(seed)
    cols, j = [], 0
    for f in feats:
        o = f.options
        if enc is not None:
            v = np.asarray(enc[:, j], np.float64)
            n = len(v)
        else:
            v = rng.standard_normal(n) if o["scaling"] in ("standardize", "none", "log1p") else rng.uniform(0, 1, n)
        if o["scaling"] == "scale":
            v = v / float(o.get("factor", 1.0) or 1.0)
        elif o["scaling"] != "none":
            v = v * f.divisor + f.shift
        if o["scaling"] == "log1p":
            v = np.expm1(v)
        if o["missing"] != "drop_row" and len(v):
            v[0] = np.nan
        cols.append(v)
        j += f.width
    return np.stack(cols, axis=1).astype(np.float32) if cols else np.zeros((n, 0), np.float32)


def onnx_sample(model: FrozenModel, run: LoadedRun | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(what the ONNX model is fed, what nnctl is fed) for the same rows: raw numeric columns and
    their encoding by nnctl's own feature pipeline, or the same array twice."""
    from nnctl.export.onnx_export import numeric_pipeline
    feats = numeric_pipeline(model)
    if feats is None:
        x = synthetic_sample(model, n) if run is None else run_sample(run, n)
        return x, x
    enc = None
    if run is not None:
        enc = run_sample(run, n).reshape(-1, int(np.prod(model.feature_shape)))
    raw = _numeric_raw(feats, enc, n)
    from nnctl.data.tabular import encode_rows
    cols = {f.name: [float(v) for v in raw[:, i]] for i, f in enumerate(feats)}
    x = encode_rows(cols, model.pipeline, "<sample rows>")
    return raw, np.asarray(x, np.float32).reshape((len(raw), *model.feature_shape))


def reference(model: FrozenModel, x: np.ndarray, run: LoadedRun | None) -> dict[str, np.ndarray]:
    """The outputs to match: the checkpoint session's (a run) or the frozen graph's (a frozen file)."""
    if run is None:
        return _with_probabilities(model, *model.run(x))
    m = run.model
    xp = run.splits.preprocessor.transform(x)
    logits, outputs = run_outputs(lambda xb: run.sess.run([m.logits, m.outputs], {m.x: xb}), xp)
    return _with_probabilities(model, logits, outputs)


def _compare_all(ref: dict[str, np.ndarray], got_fn: Callable[[np.ndarray], dict[str, Any]], x: np.ndarray,
                 ) -> list[verify.Comparison]:
    """Compare on the whole sample and on a batch of one (the batch dimension must be dynamic)."""
    out = []
    for rows in (slice(None), slice(0, 1)):
        xb = x[rows]
        got = got_fn(xb)
        for name, r in ref.items():
            out.append(verify.compare(name, r[rows], got.get(name), len(xb)))
    return out


# --- the formats -----------------------------------------------------------------------------------

def _onnx(model: FrozenModel, x: np.ndarray, ref: dict) -> tuple[bytes, list[verify.Comparison], dict]:
    """``x``: the ONNX model's input rows (raw values), the same rows ``ref`` was computed on."""
    from nnctl.export.onnx_export import OPSET, frozen_to_onnx, run_onnx
    om = frozen_to_onnx(model)
    data = om.SerializeToString()
    comps = _compare_all(ref, lambda xb: run_onnx(data, {"x": xb}), x)
    import onnxruntime
    return data, comps, {"opset": OPSET, "onnxruntime": onnxruntime.__version__,
                         "inputs": ["x"], "outputs": list(ref)}


def _safetensors(model: FrozenModel, x: np.ndarray, ref: dict, layers: list[dict] | None
                 ) -> tuple[bytes, list[verify.Comparison], dict]:
    from nnctl.export import safetensors_export as st
    tensors = st.weights(model)
    if not tensors:
        raise InputError(f"{model.path}: the model has no weights to export")
    data = st.safetensors_bytes(tensors, st.metadata(model, layers))
    loaded = st.load_bytes(data, "<safetensors file being written>")
    comps = _compare_all(ref, lambda xb: _with_probabilities(model, *st.run_with_weights(model, loaded, xb)), x)
    return data, comps, {"tensors": {k: [list(v.shape), str(v.dtype)] for k, v in tensors.items()}}


def _frozen(data: bytes, x: np.ndarray, ref: dict) -> tuple[list[verify.Comparison], dict]:
    m2 = load_frozen_bytes(data, "<frozen model being written>")
    try:
        comps = _compare_all(ref, lambda xb: _with_probabilities(m2, *m2.run(xb)), x)
    finally:
        m2.close()
    return comps, {}


def _layers(run: LoadedRun | None) -> list[dict] | None:
    if run is None:
        return None
    return [{"name": li.name, "type": li.type, "output_shape": list(li.output_shape), "params": li.params,
             "variables": [v.op.name for v in li.variables]} for li in run.model.layers]


def default_output(target: Any, fmt: str) -> Path:
    t = resolve_target(target)
    if t.kind == "frozen":
        return t.path.with_suffix(SUFFIX[fmt])
    return Path(t.run_dir) / f"model{SUFFIX[fmt]}"


def export(target: str | os.PathLike, fmt: str, out: str | os.PathLike | None = None, checkpoint: str | None = None,
           warn: Callable[[str], None] | None = None, sample_size: int = SAMPLE) -> ExportReport:
    """The library form of ``nnctl export``: build, verify, then write ``out`` and its report."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    t = resolve_target(target)
    if t.kind == "frozen" and checkpoint is not None:
        raise InputError(f"{t.path} is a frozen file; --checkpoint applies to a run directory")
    if t.kind == "checkpoint" and checkpoint is not None:
        raise InputError(f"{t.path} already names a checkpoint; drop --checkpoint or give the run directory")
    if t.kind == "frozen" and fmt == "frozen":
        raise InputError(f"{t.path} is already a frozen file")
    out_path = Path(out) if out is not None else default_output(target, fmt)
    if out_path.is_dir():
        raise InputError(f"-o {out_path}: is a directory; name the file to write")
    if not out_path.parent.is_dir():
        raise InputError(f"-o {out_path}: folder {out_path.parent} does not exist")
    run: LoadedRun | None = None
    model: FrozenModel | None = None
    try:
        if t.kind == "frozen":
            model = load_frozen(t.path)
            step = model.checkpoint_step
        else:
            run = reopen(t.run_dir, checkpoint or "latest", t.checkpoint, warn)
            frozen_data, _ = freeze_run(run, None)
            model = load_frozen_bytes(frozen_data, "<frozen model>")
            step = run.step
        onnx_x, x = onnx_sample(model, run, sample_size)
        ref = reference(model, x, run)
        if fmt == "onnx":
            data, comps, extra = _onnx(model, onnx_x, ref)
        elif fmt == "safetensors":
            data, comps, extra = _safetensors(model, x, ref, _layers(run))
        else:
            data = frozen_data
            comps, extra = _frozen(data, x, ref)
        verify.check(comps, f"{fmt} export of {t.path}")
        source = {"target": str(t.path), "kind": t.kind, "checkpoint_step": step,
                  "sample": "rows of the run's data" if run is not None else "rows drawn from the preprocessing "
                                                                              "statistics",
                  "sample_size": int(len(x))}
        report = verify.report_dict(fmt, out_path, data, comps, {"source": source, **extra})
        from nnctl.fileio import write_output
        write_output(out_path, data, f"{fmt} export")  # one message per bad path, exit 1 for a full disk
        rp = verify.write_report(out_path, report)
        return ExportReport(fmt, out_path, rp, len(data), comps, step, int(len(x)), report)
    finally:
        if model is not None:
            model.close()
        if run is not None:
            run.close()


def report_renderables(rep: ExportReport) -> list[Any]:
    from rich.table import Table
    t = Table(title=f"{rep.format} export checked against the checkpoint")
    t.add_column("output", no_wrap=True)
    for c in ("rows", "max |diff|", "max rel"):
        t.add_column(c, justify="right")
    t.add_column("ok")
    for c in rep.comparisons:
        t.add_row(c.output, str(c.batch), f"{c.max_abs_diff:.3g}",
                  f"{c.max_rel_diff:.3g}", "yes" if c.ok else "NO")
    step = f" (checkpoint step {rep.step})" if rep.step is not None else ""
    return [t, f"wrote {rep.path} ({rep.size:,} bytes){step}; max |diff| {rep.max_abs_diff:.3g} on "
               f"{rep.sample_size} examples\nreport: {rep.report_path}"]
