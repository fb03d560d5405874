"""``nnctl predict``: a frozen model's predictions for a CSV or NPZ of raw features.

Input: a CSV of the feature columns with or without a header, a CSV in the training format (a
header naming the feature columns; label columns are ignored), or an NPZ whose ``x`` (or the
training ``x_key``) holds the features. Output: one row per input row, as CSV or JSON Lines;
classification rows hold each class's probability and the predicted class, regression rows the values.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.data import load_csv_features, load_npz
from nnctl.data.preprocess import read_data_bytes
from nnctl.errors import DataError, InputError
from nnctl.evaluate import is_npz
from nnctl.export.frozen import FrozenModel, load_frozen
from nnctl.fileio import check_output_path, write_output

FORMATS = ("csv", "json")
PREDICTED = "predicted"


@dataclass
class Predictions:
    columns: list[str]        # value columns (class probabilities or regression outputs)
    values: np.ndarray        # [n, len(columns)]
    classes: list[Any] | None  # predicted class (name or index) per row, classification only
    source: str

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self)):
            r: dict[str, Any] = {c: float(v) for c, v in zip(self.columns, self.values[i])}
            if self.classes is not None:
                r[PREDICTED] = self.classes[i]
            out.append(r)
        return out

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return "".join(json.dumps(r, allow_nan=False) + "\n" for r in self.rows())
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = [*self.columns, PREDICTED] if self.classes is not None else list(self.columns)
        w.writerow(cols)
        for i in range(len(self)):
            row = [_num(v) for v in self.values[i]]
            if self.classes is not None:
                row.append(self.classes[i])
            w.writerow(row)
        return buf.getvalue()


def _num(v: float) -> str:
    return f"{float(v):.8g}"


def read_features(path: str | os.PathLike, model: FrozenModel) -> np.ndarray:
    """Raw features [n, ...] from ``path``; DataError (exit 2) naming the file for a wrong width."""
    src = str(path)
    read_data_bytes(path, what="input file")
    want = model.feature_shape
    if is_npz(path):
        key = model.meta["data_source"].get("x_key") or "x"
        try:
            x, _, _ = load_npz(path, x_key=key, y_key=None)
        except DataError:
            if key == "x":
                raise
            x, _, _ = load_npz(path, x_key="x", y_key=None)
        found = int(np.prod(x.shape[1:]))
        if found != model.n_features:
            raise DataError(f"{src}: found {found} feature(s) per example, the model expects {model.n_features}")
        return x.reshape((x.shape[0], *want))
    names = model.feature_names
    if names is not None and len(names) != model.n_features:
        names = None
    x, _ = load_csv_features(path, n_features=model.n_features, feature_names=names)
    return x.reshape((x.shape[0], *want))


def predict_file(model: FrozenModel | str | os.PathLike, input_path: str | os.PathLike) -> Predictions:
    """Predictions of a frozen model (or the path of one) for every row of ``input_path``."""
    if not isinstance(model, FrozenModel):
        model = load_frozen(model)
    src = str(input_path)
    x = read_features(input_path, model)
    if model.classification:
        probs = model.predict(x, source=src)
        idx = model.predict_classes(x, source=src)
        names = model.class_names
        k = probs.shape[1]
        classes: list[Any] | None = ([str(names[i]) for i in idx] if names and len(names) == k
                                     else [int(i) for i in idx])
        return Predictions(model.output_names(), probs, classes, src)
    values = model.predict(x, source=src)
    return Predictions(model.output_names(), values, None, src)


def output_format(fmt: str | None, output: str | os.PathLike | None) -> str:
    """The explicit format, else from the output file's suffix (.json/.jsonl), else csv."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    if output is not None and Path(output).suffix.lower() in (".json", ".jsonl"):
        return "json"
    return "csv"


def predict(frozen: str | os.PathLike, input_path: str | os.PathLike, output: str | os.PathLike | None = None,
            fmt: str | None = None) -> tuple[Predictions, str]:
    """The library form of ``nnctl predict``: returns the predictions and their rendered text,
    written atomically to ``output`` when given."""
    f = output_format(fmt, output)
    if output is not None:
        check_output_path(output, "predictions file")
    model = load_frozen(frozen)
    try:
        preds = predict_file(model, input_path)
    finally:
        model.close()
    text = preds.render(f)
    if output is not None:
        write_output(output, text, "predictions file")
    return preds, text
