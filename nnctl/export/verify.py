"""Checking an exported file against the model it came from, and the report written beside it.

Every export runs the file it is about to write (onnxruntime for ONNX, the reloaded weights for
safetensors, nnctl's own loader for frozen files) on a sample batch and compares each output with
the checkpoint's, elementwise: ``|got - ref| <= ATOL + RTOL * |ref|`` (float32 tolerance: two
correct float32 programs that sum in different orders differ by a few ulps per operation). A file
that fails is never written; the report (``FILE.report.json``) records the largest differences.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import RuntimeFailure
from nnctl.fileio import atomic_write_json

RTOL = 1e-4
ATOL = 1e-5
REPORT_SUFFIX = ".report.json"


@dataclass
class Comparison:
    output: str
    batch: int
    shape: list[int]
    max_abs_diff: float
    max_rel_diff: float
    ok: bool


def compare(name: str, ref: Any, got: Any, batch: int) -> Comparison:
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(got, dtype=np.float64)
    if a.shape != b.shape:
        return Comparison(name, batch, list(b.shape), float("inf"), float("inf"), False)
    if a.size == 0:
        return Comparison(name, batch, list(b.shape), 0.0, 0.0, True)
    if np.array_equal(a, b, equal_nan=True):
        return Comparison(name, batch, list(b.shape), 0.0, 0.0, True)
    d = np.abs(a - b)
    if not np.isfinite(d).all():
        return Comparison(name, batch, list(b.shape), float("inf"), float("inf"), False)
    rel = d / np.maximum(np.abs(a), ATOL)
    ok = bool((d <= ATOL + RTOL * np.abs(a)).all())
    return Comparison(name, batch, list(b.shape), float(d.max()), float(rel.max()), ok)


def check(comparisons: list[Comparison], what: str) -> None:
    """RuntimeFailure (exit 1) naming the output that differs most, if any is out of tolerance."""
    bad = [c for c in comparisons if not c.ok]
    if not bad:
        return
    worst = max(bad, key=lambda c: c.max_abs_diff)
    others = sorted({c.output for c in bad} - {worst.output})
    shape = "" if worst.max_abs_diff != float("inf") else " (shape or non-finite mismatch)"
    raise RuntimeFailure(f"{what}: output '{worst.output}' differs from the checkpoint's by up to "
                         f"{worst.max_abs_diff:.3g} (relative {worst.max_rel_diff:.3g}) on a batch of {worst.batch}"
                         f"{shape}, beyond float32 tolerance (atol {ATOL:g} + rtol {RTOL:g})"
                         + (f"; also {', '.join(others)}" if others else "") + "; nothing was written")


def report_path(out: str | os.PathLike) -> Path:
    p = Path(out)
    return p.with_name(p.name + REPORT_SUFFIX)


def report_dict(fmt: str, out: Path, data: bytes, comparisons: list[Comparison], extra: dict) -> dict:
    from nnctl.fileio import sha256_bytes
    return {"format": fmt, "file": str(out), "size": len(data), "sha256": sha256_bytes(data),
            "verified": all(c.ok for c in comparisons), "rtol": RTOL, "atol": ATOL,
            "max_abs_diff": max((c.max_abs_diff for c in comparisons), default=0.0),
            "max_rel_diff": max((c.max_rel_diff for c in comparisons), default=0.0),
            "comparisons": [asdict(c) for c in comparisons], **extra}


def write_report(out: str | os.PathLike, report: dict) -> Path:
    p = report_path(out)
    atomic_write_json(p, report)
    return p
