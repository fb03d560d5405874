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
from collections.abc import Sequence
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
    paths: list[str] | None = None  # the image of each row, for image inputs

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self)):
            r: dict[str, Any] = {"path": self.paths[i]} if self.paths is not None else {}
            r.update({c: float(v) for c, v in zip(self.columns, self.values[i])})
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
        w.writerow((["path"] if self.paths is not None else []) + cols)
        for i in range(len(self)):
            row = ([self.paths[i]] if self.paths is not None else []) + [_num(v) for v in self.values[i]]
            if self.classes is not None:
                row.append(self.classes[i])
            w.writerow(row)
        return buf.getvalue()


def _num(v: float) -> str:
    return f"{float(v):.8g}"


def read_features(path: str | os.PathLike, model: FrozenModel) -> np.ndarray:
    """Model inputs [n, ...] from ``path``; DataError (exit 2) naming the file for a wrong width.

    A model trained on a table reads the file's raw cells through its feature pipeline (columns
    by header name, or by position for a headerless file with exactly the feature columns)."""
    src = str(path)
    if model.pipeline is not None and (Path(path).is_dir() or not is_npz(path)):
        from nnctl.data.tabular import encode_rows
        return encode_rows(path, model.pipeline)
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


def _image_model(model: FrozenModel) -> bool:
    p = model.pipeline
    return p is not None and len(p.features) == 1 and p.features[0].type == "image"


def predict_file(model: FrozenModel | str | os.PathLike,
                 input_path: str | os.PathLike | Sequence[str | os.PathLike]) -> Predictions:
    """Predictions of a frozen model (or the path of one) for every row of ``input_path``: a data
    file, or for an image model image files and folders (one row per image, named in ``path``)."""
    if not isinstance(model, FrozenModel):
        model = load_frozen(model)
    inputs = [input_path] if isinstance(input_path, (str, os.PathLike)) else list(input_path)
    paths: list[str] | None = None
    if _image_model(model):
        from nnctl.data.images import image_inputs
        from nnctl.data.tabular import encode_rows
        files = image_inputs(inputs)
        paths = [str(f) for f in files]
        x = encode_rows([str(f) for f in files], model.pipeline)  # type: ignore[arg-type]
        src = ", ".join(map(str, inputs))
    else:
        if len(inputs) != 1:
            raise InputError(f"--input: this model reads one data file, got {len(inputs)}")
        src = str(inputs[0])
        x = read_features(inputs[0], model)
    if model.classification:
        probs = model.predict(x, source=src)
        idx = model.predict_classes(x, source=src)
        names = model.class_names
        k = probs.shape[1]
        classes: list[Any] | None = ([str(names[i]) for i in idx] if names and len(names) == k
                                     else [int(i) for i in idx])
        return Predictions(model.output_names(), probs, classes, src, paths)
    values = model.predict(x, source=src)
    return Predictions(model.output_names(), values, None, src, paths)


def output_format(fmt: str | None, output: str | os.PathLike | None) -> str:
    """The explicit format, else from the output file's suffix (.json/.jsonl), else csv."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    if output is not None and Path(output).suffix.lower() in (".json", ".jsonl"):
        return "json"
    return "csv"


STDIN = "-"


def predict(frozen: str | os.PathLike, input_path: str | os.PathLike | Sequence[str | os.PathLike],
            output: str | os.PathLike | None = None, fmt: str | None = None) -> tuple[Predictions, str]:
    """The library form of ``nnctl predict``: returns the predictions and their rendered text,
    written atomically to ``output`` when given. ``input_path`` ``-`` reads standard input."""
    f = output_format(fmt, output)
    if output is not None:
        check_output_path(output, "predictions file")
    inputs = [input_path] if isinstance(input_path, (str, os.PathLike)) else list(input_path)
    model = load_frozen(frozen)
    try:
        if [str(i) for i in inputs] == [STDIN]:
            preds = _predict_stdin(model)
        else:
            preds = predict_file(model, inputs)
    finally:
        model.close()
    text = preds.render(f)
    if output is not None:
        write_output(output, text, "predictions file")
    return preds, text


def _predict_stdin(model: FrozenModel) -> Predictions:
    """Standard input saved to a private temporary file (the readers need a seekable file);
    messages name it <stdin>."""
    import sys
    import tempfile
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    if not data:
        raise DataError("<stdin>: no input (expected CSV rows on standard input)")
    with tempfile.TemporaryDirectory(prefix="nnctl-stdin-") as d:
        tmp = Path(d) / "stdin"
        tmp.write_bytes(data)
        try:
            preds = predict_file(model, tmp)
        except DataError as e:
            raise DataError(str(e).replace(str(tmp), "<stdin>")) from None
        preds.source = "<stdin>"
        return preds
