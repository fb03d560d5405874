"""Table sources (CSV, Parquet, image folders) -> splits, and raw rows -> model inputs.

:func:`load_table_splits` reads the training table, decodes the labels, holds out validation rows,
fits the :class:`~nnctl.data.features.FeaturePipeline` on the training rows only and encodes
every split. :func:`encode_rows` is the inverse direction used by ``predict``, ``eval --data``,
:meth:`FrozenModel.predict` and the server: raw rows (a file, a list of dicts, a dict of columns,
a pyarrow or pandas table, image paths) -> the model's inputs, with the column checks of
"predict never guesses".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.data.csv_loader import decode_labels, resolve_columns
from nnctl.data.features import FeaturePipeline, ImageFeature, LabelSpec
from nnctl.data.preprocess import Preprocessor, split_train_val
from nnctl.data.table_reader import Table, read_header, read_table, table_from_columns
from nnctl.errors import DataError

IMAGE_COLUMN, LABEL_COLUMN = "image", "label"
STRING_TYPES = ("category", "binary", "text", "image")


# --- reading a source ---------------------------------------------------------------------------

def _image_folder_table(path: Path, where: str) -> Table:
    from nnctl.data.images import list_image_folder
    paths, labels = list_image_folder(path, where)
    t = table_from_columns({IMAGE_COLUMN: [str(p) for p in paths], LABEL_COLUMN: labels}, src=str(path))
    t.base_dir = path
    t._lines = None
    return t


def source_columns(src: Any, label_type: str) -> tuple[list[str], list[str] | None]:
    """(label columns, feature columns or None for all) of a table source, read from its header."""
    if src.kind == "images" and Path(src.path).is_dir():
        return [LABEL_COLUMN], None
    header = _header(src)
    where = f"{src.path}:1"
    labels = [header[j] for j in resolve_columns(src.labels if src.labels is not None else [len(header) - 1],
                                                  header, where, "label")]
    feats = None
    if src.features is not None:
        feats = [header[j] for j in resolve_columns(src.features, header, where, "feature")]
        both = [c for c in feats if c in labels]
        if both:
            raise DataError(f"{where}: column(s) {', '.join(map(repr, both))} are both features and labels")
    return labels, feats


def _header(src: Any) -> list[str]:
    from nnctl.data.table_reader import is_parquet
    if is_parquet(src.path):
        import pyarrow.parquet as pq
        try:
            return list(pq.read_schema(src.path).names)
        except Exception as e:  # pyarrow raises several types for a damaged footer
            raise DataError(f"{src.path}: cannot read the Parquet file: {e}") from None
    header, _, _ = read_header(src.path, getattr(src, "delimiter", None))
    return header


def _header_or_empty(src: Any) -> list[str]:
    if src.kind == "images" and Path(src.path).is_dir():
        return [IMAGE_COLUMN, LABEL_COLUMN]
    return _header(src)


def read_source(src: Any, specs: dict[str, dict[str, Any]], labels: list[str], feats: list[str] | None) -> Table:
    """The table of one source: declared types forced, ignored and unselected columns skipped."""
    if src.kind == "images" and Path(src.path).is_dir():
        return _image_folder_table(Path(src.path), str(src.path))
    header = _header(src)
    keep = set(labels) | set(feats if feats is not None else header)
    skip = [c for c in header if c not in keep or specs.get(c, {}).get("type") == "ignore"]
    numeric = [c for c, s in specs.items() if s["type"] == "numeric" and c in header and c not in skip]
    strings = [c for c, s in specs.items() if s["type"] in STRING_TYPES and c in header and c not in skip]
    t = read_table(src.path, delimiter=getattr(src, "delimiter", None), numeric=numeric, strings=strings,
                   skip=skip, separate=labels)
    t.base_dir = Path(src.path).parent
    return t


# --- splits -------------------------------------------------------------------------------------

def _specs(cfg: Any) -> dict[str, dict[str, Any]]:
    """Declared features, with the data.preprocess default scaling folded into numeric ones."""
    d = cfg.data
    return dict(d.features or {})


def _default_numeric(cfg: Any) -> dict[str, Any]:
    d = cfg.data
    if d.preprocess == "scale":
        return {"scaling": "scale", "factor": float(d.scale_factor)}
    return {"scaling": d.preprocess}


def load_table_splits(cfg: Any) -> Any:
    """Splits of a table source (see the module doc)."""
    from nnctl.data.splits import Split, Splits
    d = cfg.data
    specs = _specs(cfg)
    labels, feats = source_columns(d.train, d.label_type)
    t = read_source(d.train, specs, labels, feats)
    known = set(t.names) | {c for c, sp in specs.items() if sp["type"] == "ignore" and c in _header_or_empty(d.train)}
    for c in specs:
        if c not in known:
            from nnctl.data.preprocess import did_you_mean
            cols = [n for n in (_header_or_empty(d.train) or t.names)]
            raise cfg.error(f"data.features.{c}", f"column {c!r} is not in {t.src}{did_you_mean(c, cols)}; "
                                                  f"the columns are: {', '.join(cols)}")
        if c in labels:
            raise cfg.error(f"data.features.{c}", f"column {c!r} is a label column, not an input feature")
    y, class_names = decode_labels(t, labels, d.label_type, d.num_classes, d.class_names)
    class_names = d.class_names or class_names
    label = LabelSpec(labels, d.label_type, class_names, None, d.target_scaling)
    columns = [c for c in t.names if feats is None or c in feats]
    pipe = FeaturePipeline.from_specs(t, specs, labels, label, columns)
    default = _default_numeric(cfg)
    for f in pipe.features:
        if f.type == "numeric" and "scaling" not in specs.get(f.name, {}):
            f.options.update(default)
    pipe.delimiter = t.delimiter
    pipe.ignored += [c for c, sp in specs.items() if sp["type"] == "ignore" and c not in pipe.ignored]
    # drop_row: rows with a gap in such a column leave every split
    dropped = 0
    mask = pipe.drop_mask(t)
    if mask is not None and mask.any():
        keep = np.flatnonzero(~mask)
        dropped = int(mask.sum())
        t, y = t.take(keep), y[keep]
        if t.n_rows == 0:
            raise DataError(f"{t.src}: missing: drop_row removed every row")
    if t.n_rows == 0:
        raise DataError(f"{t.src}: the training data has no rows")
    idx = np.arange(t.n_rows)
    val_t = val_y = None
    if d.val is not None:
        vl, _ = source_columns(d.val, d.label_type)
        val_t = read_source(d.val, specs, vl, feats)
        val_y, _ = decode_labels(val_t, vl, d.label_type, d.num_classes, class_names)
    elif d.val_split > 0:
        if t.n_rows < 2:
            raise DataError(f"data.val_split={d.val_split}: the training data has only {t.n_rows} example(s)")
        tr_idx, _, va_idx, _ = split_train_val(idx, y, d.val_split, seed=cfg.seed)
        val_t, val_y = t.take(va_idx), y[va_idx]
        t, y = t.take(tr_idx), y[tr_idx]
    test_t = test_y = None
    if d.test is not None:
        tl, _ = source_columns(d.test, d.label_type)
        test_t = read_source(d.test, specs, tl, feats)
        test_y, _ = decode_labels(test_t, tl, d.label_type, d.num_classes, class_names)
    pipe.fit(t)
    if d.label_type == "real":
        pipe.fit_targets(y)

    def encode(tab: Table, yy: np.ndarray, drop: bool) -> Split:
        if drop:
            m = pipe.drop_mask(tab)
            if m is not None and m.any():
                keep = np.flatnonzero(~m)
                tab, yy = tab.take(keep), yy[keep]
        x = pipe.single_input(pipe.transform(tab), f"{tab.src}: ")
        return Split(x, pipe.scale_targets(yy) if d.label_type == "real" else yy)

    train = encode(t, y, False)
    val = encode(val_t, val_y, True) if val_t is not None else None
    test = encode(test_t, test_y, True) if test_t is not None else None
    num_classes = None
    if d.label_type in ("class", "onehot"):
        seen = [int(s.y.max()) + 1 for s in (train, val, test) if s is not None and len(s)]
        num_classes = max(2, d.num_classes or max(seen + [len(class_names or [])]))
        label.num_classes = num_classes
    pre = Preprocessor("none").fit(train.x)
    aug = next((f.options.get("augment") for f in pipe.features if isinstance(f, ImageFeature)
                and f.options.get("augment")), None)
    meta = {"feature_names": pipe.numeric_columns() or None, "label_names": labels, "class_names": class_names,
            "source": t.src, "dropped_rows": dropped, "inferred": dict(pipe.inferred),
            "ignored": [c for c in columns if c not in pipe.input_columns and c not in labels]}
    return Splits(train=train, val=val, test=test, preprocessor=pre, feature_names=meta["feature_names"],
                  label_names=labels, class_names=class_names, num_classes=num_classes, meta=meta, pipeline=pipe,
                  augment=aug, seed=cfg.seed)


# --- raw rows -> model inputs -------------------------------------------------------------------

def _rows_to_columns(rows: Any) -> dict[str, list[Any]]:
    """A list of dicts, a dict of columns, a pyarrow Table or a pandas DataFrame -> dict of lists."""
    if isinstance(rows, dict):
        return {str(k): list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] for k, v in rows.items()}
    if hasattr(rows, "to_pydict"):  # pyarrow Table / RecordBatch
        return {str(k): v for k, v in rows.to_pydict().items()}
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas DataFrame
        return {str(k): list(v) for k, v in rows.to_dict(orient="list").items()}
    if isinstance(rows, (list, tuple)):
        if not rows:
            return {}
        if not all(isinstance(r, dict) for r in rows):
            raise DataError("raw rows must be dicts of column -> value (or give a dict of columns / a table)")
        names: list[str] = []
        for r in rows:
            names.extend(k for k in r if k not in names)
        return {k: [r.get(k) for r in rows] for k in names}
    raise DataError(f"cannot read raw rows from a {type(rows).__name__}")


def check_columns(found: Sequence[str], pipe: FeaturePipeline, src: str) -> None:
    """Every feature column present; nothing unexpected beyond the labels. Never guesses."""
    need = pipe.input_columns
    allowed = set(need) | set(pipe.label.names if pipe.label else []) | set(pipe.ignored)
    missing = [c for c in need if c not in found]
    extra = [c for c in found if c not in allowed]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(map(repr, extra))}")
        raise DataError(f"{src}: the columns do not match the model's features: {'; '.join(parts)} "
                        f"(the model takes: {', '.join(need)})")


def rows_table(rows: Any, pipe: FeaturePipeline, src: str = "<rows>") -> Table:
    cols = _rows_to_columns(rows)
    check_columns(list(cols), pipe, src)
    numeric = [f.name for f in pipe.features if f.type == "numeric"]
    return table_from_columns({c: cols[c] for c in pipe.input_columns}, src=src, numeric=numeric)


def file_table(path: str | os.PathLike, pipe: FeaturePipeline, with_labels: bool = False) -> Table:
    """A data file (CSV, TSV, Parquet) read for the model: by header names, or by position when the
    file has no header and exactly the feature columns (or features then labels)."""
    src = str(path)
    from nnctl.data.table_reader import is_parquet
    need = pipe.input_columns
    labels = pipe.label.names if pipe.label else []
    numeric = [f.name for f in pipe.features if f.type == "numeric"]
    strings = [f.name for f in pipe.features if f.type != "numeric"]
    if is_parquet(path):
        t = read_table(path, numeric=numeric, strings=strings)
        check_columns(t.names, pipe, src)
    else:
        first, delim, _ = read_header(path, pipe.delimiter)
        known = set(need) | set(labels) | set(pipe.ignored)
        # A header names the model's columns; a data row that happens to hold one such value does not
        # make the first row a header (at least half its cells must be known names).
        if 2 * sum(c in known for c in first) >= len(first):
            check_columns(first, pipe, src)
            skip = [c for c in first if c not in need and c not in labels]
            t = read_table(path, delimiter=delim, numeric=numeric, strings=strings, skip=skip,
                           separate=labels if with_labels else ())
        else:
            order = need + labels if with_labels else need
            if len(first) != len(order):
                what = "feature and label" if with_labels else "feature"
                raise DataError(f"{src}:1: expected {len(order)} {what} columns, got {len(first)} (the first "
                                f"row names none of the model's columns {', '.join(order)}, so the file is read "
                                "by position)")
            t = read_table(path, delimiter=delim, header=False, names=order, numeric=numeric,
                           strings=strings + [c for c in order if c in labels])
    t.base_dir = Path(path).parent
    if with_labels:
        missing = [c for c in labels if c not in t.names]
        if missing:
            raise DataError(f"{src}: no label column(s) {', '.join(map(repr, missing))} to score against")
    return t


def encode_rows(rows: Any, pipe: FeaturePipeline, src: str | None = None) -> np.ndarray:
    """Raw rows -> the (single) model input, with the training preprocessing applied.

    ``rows``: a file path (CSV/TSV/Parquet; an image file or folder for an image model), a list of
    image paths, a list of dicts, a dict of columns, or a pyarrow / pandas table. This is the one
    entry point for everything that serves a model raw data."""
    t = raw_table(rows, pipe, src)
    return pipe.single_input(pipe.transform(t, predicting=True), f"{t.src}: ")


def raw_table(rows: Any, pipe: FeaturePipeline, src: str | None = None) -> Table:
    images = [f for f in pipe.features if isinstance(f, ImageFeature)]
    if isinstance(rows, (str, os.PathLike)):
        p = Path(rows)
        if images and len(pipe.features) == 1 and (p.is_dir() or p.suffix.lower() in _image_exts()):
            return image_paths_table([p], pipe)
        return file_table(p, pipe)
    if images and len(pipe.features) == 1 and isinstance(rows, (list, tuple)) and rows and \
            all(isinstance(r, (str, os.PathLike)) for r in rows):
        return image_paths_table(list(rows), pipe)
    return rows_table(rows, pipe, src or "<rows>")


def _image_exts() -> tuple[str, ...]:
    from nnctl.data.features import IMAGE_EXTENSIONS
    return IMAGE_EXTENSIONS


def image_paths_table(sources: list[Any], pipe: FeaturePipeline) -> Table:
    from nnctl.data.images import image_inputs
    paths = image_inputs(sources)
    name = pipe.features[0].name
    t = table_from_columns({name: [str(p) for p in paths]}, src=", ".join(map(str, sources))[:200])
    t.base_dir = Path.cwd()
    return t


def labelled_file(path: str | os.PathLike, pipe: FeaturePipeline) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a data file in the training format, for ``eval --data``."""
    t = file_table(path, pipe, with_labels=True)
    lab = pipe.label
    assert lab is not None
    y, _ = decode_labels(t, lab.names, lab.label_type, lab.num_classes, lab.class_names)
    x = pipe.single_input(pipe.transform(t, predicting=True), f"{t.src}: ")
    return x, (pipe.scale_targets(y) if lab.label_type == "real" else y)
