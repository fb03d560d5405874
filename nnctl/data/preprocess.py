"""What happens to arrays between a data file and the trainer.

* Checks every loader shares (reading a file, finite features, class labels, one-hot rows), so
  the CSV, NPZ and IDX loaders word their errors the same way.
* :class:`Preprocessor`: a fitted per-feature transform (standardize, minmax, scale) that turns
  into a JSON-able dict, so a frozen model carries exactly the transform it was trained with.
* :func:`split_train_val`: a deterministic, stratified hold-out split.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import DataError
from nnctl.fileio import check_budget, fmt_bytes, gunzip_bounded, memory_budget, read_file_bytes
from nnctl.vocab import LABEL_TYPES

MAX_CLASSES = 1_000_000  # the largest class index + 1 nnctl accepts (a one-hot row per example is built)
PREPROCESS_MODES = ("none", "standardize", "minmax", "scale")

_GZIP_MAGIC = b"\x1f\x8b"


# --- checks shared by the loaders -------------------------------------------------------------

def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_label_type(label_type: str) -> None:
    if label_type not in LABEL_TYPES:
        raise DataError(f"label_type must be one of {', '.join(LABEL_TYPES)}; got {label_type!r}"
                        f"{did_you_mean(str(label_type), LABEL_TYPES)}")


def check_num_classes(num_classes: int | None) -> None:
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise DataError(f"num_classes must be a positive integer, got {num_classes!r}")


def read_data_bytes(path: str | os.PathLike, *, what: str = "data file", expand: int = 1) -> bytes:
    """The bytes of a data file, gunzipped when it starts with the gzip magic (not by extension).

    Missing, directory, FIFO/device, unreadable, empty and truncated/corrupt gzip files raise
    DataError. ``expand``: how many bytes of memory parsing one byte of this file takes (CSV text
    parsed into Python rows: about 16); the content times that must fit the memory budget, and gzip
    data is refused as soon as it inflates past that, before it fills memory.
    """
    p = Path(path)
    data = read_file_bytes(p, what, DataError)
    limit = memory_budget() // max(expand, 1)
    if data[:2] == _GZIP_MAGIC:
        data = gunzip_bounded(data, str(p), DataError, limit=limit)
    if len(data) > limit:
        check_budget(len(data) * expand, f"parsing {p} ({fmt_bytes(len(data))} of {what})")
    if not data:
        raise DataError(f"{p}: empty {what}")
    return data


def check_finite(a: np.ndarray, name: str) -> None:
    """Refuse NaN/inf, naming the array and the first bad index."""
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        index = ", ".join(map(str, bad))
        raise DataError(f"{name}[{index}]: expected a finite number, got {a[bad].item()!r}")


def class_labels_from_array(y: np.ndarray, name: str, num_classes: int | None) -> np.ndarray:
    """Integer class indices (int64 [n]) from a 1-D numeric array, or DataError naming the first bad one."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (a one-hot block? use label_type 'onehot')" if y.ndim == 2 and y.shape[1] > 1 else ""
        raise DataError(f"{name}: class labels must be 1-D, got shape {y.shape}{hint}")
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise DataError(f"{name}: class labels must be integers, got dtype {y.dtype}")
    # Checked in the file's own dtype before the cast: uint64 2**64-1 would wrap to class -1.
    if y.dtype.kind == "f":
        ok = np.isfinite(y) & (np.floor(y) == y) & (y >= 0) & (y < MAX_CLASSES)
    else:
        ok = (y >= 0) & (y < MAX_CLASSES)
    if not ok.all():
        i = int(np.argmin(ok))
        v = y[i].item()
        why = (f" (more than the {MAX_CLASSES:,} classes nnctl builds)" if isinstance(v, (int, float))
               and math.isfinite(v) and v >= MAX_CLASSES else "")
        raise DataError(f"{name}[{i}]: expected a non-negative integer class index, got {v!r}{why}")
    out = y.astype(np.int64)
    check_class_range(out, name, num_classes)
    return out


def check_class_range(y: np.ndarray, name: str, num_classes: int | None,
                      lines: Sequence[int] | None = None) -> None:
    """Class indices must lie in [0, num_classes). ``lines`` maps rows to file lines for the message."""
    if num_classes is None or y.size == 0:
        return
    bad = np.flatnonzero((y >= num_classes) | (y < 0))
    if bad.size:
        i = int(bad[0])
        where = f"{name}:{lines[i]}" if lines is not None else f"{name}[{i}]"
        raise DataError(f"{where}: class index {int(y[i])} is out of range for num_classes={num_classes} "
                        f"(expected 0..{num_classes - 1})")


def onehot_rows_to_index(block: np.ndarray, where_row: Any, what: str) -> np.ndarray:
    """argmax of a one-hot block [n, k] after checking every row holds one 1 and the rest 0.

    ``where_row(i)`` names row i for the message (file:line or array[index]).
    """
    if block.ndim != 2 or block.shape[1] < 2:
        raise DataError(f"{what}: one-hot labels need a 2-D block with at least 2 columns, "
                        f"got shape {block.shape}")
    is_binary = (block == 0) | (block == 1)
    ok = is_binary.all(axis=1) & (block.sum(axis=1) == 1)
    if not ok.all():
        i = int(np.argmin(ok))
        row = [v.item() for v in block[i]]
        row_text = "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in row) + "]"
        raise DataError(f"{where_row(i)}: {what}: expected a one-hot row (one 1, the rest 0), got {row_text}")
    return np.argmax(block, axis=1).astype(np.int64)


# --- Preprocessor -----------------------------------------------------------------------------

class Preprocessor:
    """A per-feature transform fitted on training data.

    Modes: ``"standardize"`` (x - mean) / std with std 0 -> 1; ``"minmax"`` (x - min) / (max - min)
    with a zero range -> 1; ``"scale"`` x * scale_factor; ``"none"`` identity. Statistics are
    taken over axis 0, so each trailing element (a feature, or a pixel of an image) has its own.
    They are kept as float32, whose values JSON stores exactly, so a transform rebuilt by
    :meth:`from_dict` gives bit-identical outputs.
    """

    def __init__(self, mode: str = "standardize", scale_factor: float = 1.0) -> None:
        if mode not in PREPROCESS_MODES:
            raise DataError(f"preprocess mode must be one of {', '.join(PREPROCESS_MODES)}; got {mode!r}"
                            f"{did_you_mean(str(mode), PREPROCESS_MODES)}")
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, (int, float)) \
                or not np.isfinite(scale_factor):
            raise DataError(f"scale_factor must be a finite number, got {scale_factor!r}")
        self.mode = mode
        self.scale_factor = float(scale_factor)
        self.shift: np.ndarray | None = None    # subtracted first (mean or min)
        self.divisor: np.ndarray | None = None  # then divided by (std or range)
        self.feature_shape: tuple[int, ...] | None = None

    @property
    def fitted(self) -> bool:
        return self.feature_shape is not None

    def fit(self, x: np.ndarray) -> Preprocessor:
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[0] == 0:
            raise DataError(f"cannot fit the {self.mode} preprocessor on no examples (shape {x.shape})")
        self.feature_shape = tuple(int(d) for d in x.shape[1:])
        # float64 accumulation: float32 sums over many rows lose digits the std depends on.
        x64 = x.astype(np.float64)
        if self.mode == "standardize":
            shift, spread = x64.mean(axis=0), x64.std(axis=0)
        elif self.mode == "minmax":
            shift = x64.min(axis=0)
            spread = x64.max(axis=0) - shift
        else:
            self.shift = self.divisor = None
            return self
        # A constant feature carries no information; dividing by 1 keeps it finite instead of NaN.
        spread = np.where(spread > 0, spread, 1.0)
        self.shift = shift.astype(np.float32)
        self.divisor = spread.astype(np.float32)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if not self.fitted:
            raise RuntimeError("Preprocessor.transform called before fit() or from_dict()")
        x = np.asarray(x, dtype=np.float32)
        if tuple(x.shape[1:]) != self.feature_shape:
            raise DataError(f"preprocessor was fitted on features of shape {self.feature_shape}, "
                            f"got {tuple(x.shape[1:])}")
        if self.mode == "scale":
            return x * np.float32(self.scale_factor)
        if self.mode == "none":
            return x.copy()
        return (x - self.shift) / self.divisor

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def to_dict(self) -> dict[str, Any]:
        if not self.fitted:
            raise RuntimeError("Preprocessor.to_dict called before fit()")
        d: dict[str, Any] = {"mode": self.mode, "scale_factor": self.scale_factor,
                             "feature_shape": list(self.feature_shape)}
        if self.shift is not None:
            d["shift"] = self.shift.astype(np.float64).tolist()
            d["divisor"] = self.divisor.astype(np.float64).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        if not isinstance(d, dict) or "mode" not in d or "feature_shape" not in d:
            raise DataError("preprocessor: expected a dict with 'mode' and 'feature_shape'")
        p = cls(d["mode"], d.get("scale_factor", 1.0))
        try:
            shape = tuple(int(v) for v in d["feature_shape"])
        except (TypeError, ValueError):
            raise DataError(f"preprocessor: bad feature_shape {d['feature_shape']!r}") from None
        p.feature_shape = shape
        if p.mode in ("standardize", "minmax"):
            for key in ("shift", "divisor"):
                try:
                    arr = np.asarray(d[key], dtype=np.float32)
                except KeyError:
                    raise DataError(f"preprocessor ({p.mode}): missing {key!r}") from None
                except (TypeError, ValueError):
                    raise DataError(f"preprocessor ({p.mode}): {key!r} is not a numeric array") from None
                if arr.shape != shape:
                    raise DataError(f"preprocessor ({p.mode}): {key!r} has shape {arr.shape}, "
                                    f"expected {shape}")
                check_finite(arr, f"preprocessor.{key}")
                setattr(p, key, arr)
            if (p.divisor <= 0).any():
                raise DataError(f"preprocessor ({p.mode}): 'divisor' must be positive")
        return p

    def __repr__(self) -> str:
        return f"Preprocessor(mode={self.mode!r}, scale_factor={self.scale_factor}, fitted={self.fitted})"


# --- train/validation split -------------------------------------------------------------------

def split_train_val(x: np.ndarray, y: np.ndarray | None, fraction: float, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Hold out ``fraction`` of the examples for validation, deterministically for a seed.

    Integer class labels (1-D) are stratified: each class gives its share by largest remainder,
    so the split keeps the class balance. Other labels (real, none) split uniformly at random.
    Both parts keep the original row order. ``fraction`` 0 gives an empty validation set.
    """
    x = np.asarray(x)
    n = x.shape[0]
    if y is not None and np.asarray(y).shape[0] != n:
        raise DataError(f"split_train_val: x has {n} rows but y has {np.asarray(y).shape[0]}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
        raise DataError(f"validation fraction must be in [0, 1), got {fraction!r}")
    if fraction == 0:
        val = np.zeros(0, dtype=np.int64)
    else:
        if n < 2:
            raise DataError(f"cannot hold out a validation set from {n} example(s)")
        # At least one example on each side: a fraction that rounds to none would silently
        # validate on nothing.
        n_val = min(max(int(round(fraction * n)), 1), n - 1)
        rng = np.random.default_rng(seed)
        y_arr = None if y is None else np.asarray(y)
        if y_arr is not None and y_arr.ndim == 1 and y_arr.dtype.kind in "iu":
            val = _stratified_pick(y_arr, n_val, rng)
        else:
            val = rng.choice(n, size=n_val, replace=False)
        val = np.sort(val.astype(np.int64))
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    train = np.flatnonzero(mask)
    y_tr = None if y is None else np.asarray(y)[train]
    y_val = None if y is None else np.asarray(y)[val]
    return x[train], y_tr, x[val], y_val


def _stratified_pick(y: np.ndarray, n_val: int, rng: np.random.Generator) -> np.ndarray:
    classes, counts = np.unique(y, return_counts=True)
    ideal = counts * (n_val / y.shape[0])
    take = np.floor(ideal).astype(np.int64)
    # Largest remainder; ties go to the larger class (it can spare an example), then class order.
    order = np.lexsort((np.arange(classes.size), -counts, -(ideal - take)))
    for i in order[: n_val - int(take.sum())]:
        take[i] += 1
    picks = []
    for c, k in zip(classes, take):
        members = np.flatnonzero(y == c)
        picks.append(rng.permutation(members)[:k])
    return np.concatenate(picks)
