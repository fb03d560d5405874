"""All-numeric CSV loading (``load_csv``) and the label decoding every tabular source shares.

The file is read by :mod:`nnctl.data.table_reader` (pyarrow, streamed into one float32 block);
this module picks the feature and label columns, insists that every feature cell is a finite
number (typed, per-column preprocessing with gaps and strings is :mod:`nnctl.data.features`), and
decodes labels: integer class indices, class names (sorted, or against a known list), one-hot
blocks and real-valued targets, each bad cell named at ``file:line`` and column.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnctl.data.csv_diagnose import is_number
from nnctl.data.preprocess import (
    check_class_range,
    check_label_type,
    check_num_classes,
    did_you_mean,
    onehot_rows_to_index,
)
from nnctl.data.table_reader import Table, read_header, read_table
from nnctl.errors import DataError

ColumnSpec = Sequence[str | int] | str | int | None


class ColumnError(DataError):
    """A column the config names (``what``: feature or label, ``position`` in its list) is not in the
    file; a caller that knows the config key reports it there (nnctl.data.splits)."""

    def __init__(self, where: str, message: str, what: str, position: int) -> None:
        super().__init__(f"{where}: {message}")
        self.bare, self.what, self.position = message, what, position


def resolve_columns(spec: ColumnSpec, names: list[str], where: str, what: str) -> list[int]:
    """Column names or (negative) integer indices -> indices into ``names``; DataError otherwise."""
    if isinstance(spec, (str, int)):
        spec = [spec]
    width = len(names)
    index = {n: j for j, n in enumerate(names)}  # a dict: 100,000 columns must not take n**2 list searches
    taken: set[int] = set()
    out: list[int] = []
    for pos, s in enumerate(spec or []):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (str, int, np.integer)):
            raise DataError(f"{where}: {what} columns must be names or integer indices, got {s!r}")
        if isinstance(s, str):
            if s not in index:
                shown = ", ".join(names[:20]) + (f" ... ({len(names)} in all)" if len(names) > 20 else "")
                raise ColumnError(where, f"unknown {what} column {s!r} in {where.rsplit(':', 1)[0]}"
                                  f"{did_you_mean(s, names[:1000])}; the columns are: {shown}", what, pos)
            k = index[s]
        else:
            k = int(s)
            if not -width <= k < width:
                raise ColumnError(where, f"{what} column index {k} is out of range in {where.rsplit(':', 1)[0]} "
                                  f"(the file has {width} columns, 0..{width - 1})", what, pos)
            k %= width
        if k in taken:
            raise DataError(f"{where}: {what} column {names[k]!r} is listed twice")
        taken.add(k)
        out.append(k)
    if not out:
        raise DataError(f"{where}: no {what} columns selected")
    return out


# --- labels -------------------------------------------------------------------------------------

def _label_strings(t: Table, name: str) -> list[str | None]:
    col = t.string_column(name)
    import pyarrow.compute as pc
    return pc.utf8_trim_whitespace(col).to_pylist()


def _first_missing(cells: list[str | None]) -> int | None:
    for i, c in enumerate(cells):
        if c is None or c == "":
            return i
    return None


def decode_labels(t: Table, label_names: list[str], label_type: str, num_classes: int | None = None,
                  class_names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """(y, class names or None) for the label columns of a table.

    ``class``: one column of integer indices (int64 [n]) or of names (mapped to ``class_names``
    when given, else to their sorted set). ``onehot``: a block of 0/1 columns -> argmax. ``real``:
    float32 [n, columns]. A missing label is an error: a row without a target cannot be learned."""
    check_label_type(label_type)
    check_num_classes(num_classes)
    if label_type == "class":
        if len(label_names) != 1:
            raise DataError(f"{t.src}: label_type 'class' takes one label column, got {len(label_names)} "
                            "(use label_type 'onehot' for a one-hot block)")
        return _class_labels(t, label_names[0], num_classes, class_names)
    block = _numeric_labels(t, label_names)
    if label_type == "onehot":
        what = "columns " + ", ".join(repr(c) for c in label_names)
        if len(label_names) < 2:
            raise DataError(f"{t.src}: label_type 'onehot' needs a block of at least 2 label columns, got {what}")
        if num_classes is not None and len(label_names) != num_classes:
            raise DataError(f"{t.src}: one-hot labels span {len(label_names)} columns but num_classes "
                            f"is {num_classes}")
        return onehot_rows_to_index(block.astype(np.float64), t.at, what), list(label_names)
    with np.errstate(over="ignore"):
        y = block.astype(np.float32)
    bad = ~np.isfinite(y)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"{t.at(i)}: column {label_names[j]!r}: expected a finite number, got {block[i, j]!r}"
                        + (" (too large for float32)" if np.isfinite(block[i, j]) else ""))
    return y, None


def _numeric_labels(t: Table, names: list[str]) -> np.ndarray:
    out = np.empty((t.n_rows, len(names)), np.float64)
    for j, name in enumerate(names):
        if t.kind(name) == "numeric":
            out[:, j] = t.numeric_column(name)
            miss = np.flatnonzero(np.isnan(out[:, j]))
            if miss.size:
                raise DataError(f"{t.at(int(miss[0]))}: column {name!r}: missing label (an empty cell)")
            continue
        cells = _label_strings(t, name)
        for i, c in enumerate(cells):
            if c is None or c == "":
                raise DataError(f"{t.at(i)}: column {name!r}: missing label (an empty cell)")
            if not is_number(c):
                raise DataError(f"{t.at(i)}: column {name!r}: expected a number, got {c!r}")
            out[i, j] = float(c)
    return out


def _class_labels(t: Table, name: str, num_classes: int | None,
                  class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str] | None]:
    if t.kind(name) == "numeric":
        values = t.numeric_column(name).astype(np.float64)
        miss = np.flatnonzero(np.isnan(values))
        if miss.size:
            raise DataError(f"{t.at(int(miss[0]))}: column {name!r}: missing label (an empty cell)")
        cells = None
    else:
        fast = _cast_numbers(t, name)
        if fast is not None:
            values, cells = fast, None
            return _index_labels(t, name, values, cells, num_classes, class_names)
        cells = _label_strings(t, name)
        i = _first_missing(cells)
        if i is not None:
            raise DataError(f"{t.at(i)}: column {name!r}: missing label (an empty cell)")
        numeric = [is_number(c) for c in cells]  # type: ignore[arg-type]
        n_num = sum(numeric)
        if n_num == 0 or class_names is not None and not all(numeric):
            return _named_classes(t, name, cells, num_classes, class_names)  # type: ignore[arg-type]
        if n_num < len(cells):
            # Mixed numbers and names: the minority kind is the likely typo.
            if n_num * 2 >= len(cells):
                i = numeric.index(False)
                raise DataError(f"{t.at(i)}: column {name!r}: expected an integer class index, got {cells[i]!r}")
            i = numeric.index(True)
            raise DataError(f"{t.at(i)}: column {name!r}: expected a class name like the other rows, "
                            f"got the number {cells[i]!r}")
        values = np.array([float(c) for c in cells], dtype=np.float64)  # type: ignore[arg-type]
    return _index_labels(t, name, values, cells, num_classes, class_names)


def _cast_numbers(t: Table, name: str) -> np.ndarray | None:
    """A string column as float64 when every cell is a number (one vectorised cast), else None."""
    import pyarrow as pa
    import pyarrow.compute as pc
    col = pc.utf8_trim_whitespace(t.string_column(name))
    if col.null_count:
        return None
    try:
        return np.asarray(pc.cast(col, pa.float64()).to_numpy(), np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _index_labels(t: Table, name: str, values: np.ndarray, cells: list | None, num_classes: int | None,
                  class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str] | None]:
    if class_names is not None and cells is None:
        # numbers against known names: "0".."9" class names of the digits
        texts = [str(int(v)) if float(v).is_integer() else repr(v) for v in values]
        if set(texts) <= set(class_names):
            return _named_classes(t, name, texts, num_classes, class_names)
    # 2**53: beyond it float64 no longer holds every integer, so the index would be silently wrong.
    ok = np.isfinite(values) & (values >= 0) & (np.floor(values) == values) & (values < 2.0**53)
    if not ok.all():
        i = int(np.argmin(ok))
        got = cells[i] if cells is not None else _fmt(values[i])
        raise DataError(f"{t.at(i)}: column {name!r}: expected a non-negative integer class index, got {got!r}")
    y = values.astype(np.int64)
    limit = num_classes if num_classes is not None else (len(class_names) if class_names else None)
    if limit is not None and y.size and (y >= limit).any():
        i = int(np.flatnonzero(y >= limit)[0])
        raise DataError(f"{t.at(i)}: column {name!r}: class index {int(y[i])} is out of range for "
                        f"num_classes={limit} "
                        f"(expected 0..{limit - 1})")
    check_class_range(y, t.src, limit)
    return y, (list(class_names) if class_names else None)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _named_classes(t: Table, name: str, cells: list[str], num_classes: int | None,
                   class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if class_names is not None:
        names = [str(c) for c in class_names]
        lookup = {c: k for k, c in enumerate(names)}
        for i, c in enumerate(cells):
            if c not in lookup:
                raise DataError(f"{t.at(i)}: column {name!r}: unknown class {c!r}{did_you_mean(c, names)}; "
                                f"known classes: {', '.join(names)}")
    else:
        # Sorted so the same set of names always maps to the same indices, whatever the row order.
        names = sorted(set(cells))
        lookup = {c: k for k, c in enumerate(names)}
    if num_classes is not None and len(names) > num_classes:
        raise DataError(f"{t.src}: column {name!r} holds {len(names)} classes ({', '.join(names)}) "
                        f"but num_classes is {num_classes}")
    y = np.fromiter((lookup[c] for c in cells), dtype=np.int64, count=len(cells))
    return y, names


# --- all-numeric loading ------------------------------------------------------------------------

def _strict_features(t: Table, feat: list[str]) -> np.ndarray:
    """The feature block; every cell must be present (load_csv does no imputation)."""
    if t.numeric_names == feat:
        x = t.numeric
    else:
        x = np.empty((t.n_rows, len(feat)), np.float32)
        for j, c in enumerate(feat):
            x[:, j] = t.numeric_column(c)
    miss = np.isnan(x)
    if miss.any():
        i, j = (int(v) for v in np.argwhere(miss)[0])
        cell = _cell_text(t, i, feat[j])
        what = "a finite number" if cell.strip().lower() in ("nan", "-nan") else "a number"
        raise DataError(f"{t.at(i)}: column {feat[j]!r}: expected {what}, got {cell!r}")
    return x


def _cell_text(t: Table, i: int, col: str) -> str:
    from nnctl.data.csv_diagnose import read_rows
    try:
        rows, _ = read_rows(t.src, t.delimiter)
    except DataError:
        return ""
    r = int(t.rows[i]) + (1 if t.header else 0)
    j = t.names.index(col) if col in t.names else -1
    return rows[r][j] if 0 <= r < len(rows) and 0 <= j < len(rows[r]) else ""


def load_csv(path: str | os.PathLike, features: ColumnSpec = None, labels: ColumnSpec = None,
             label_type: str = "class", num_classes: int | None = None,
             class_names: Sequence[str] | None = None, delimiter: str | None = None
             ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load an all-numeric CSV with a header row into (x float32 [n, f], y, meta).

    ``features``/``labels`` are column names or integer indices; labels default to the last
    column and features to every other column. ``label_type``: ``"class"`` -> y int64 [n] (integer
    indices, or names mapped to sorted unique ``class_names``; pass ``class_names`` to map names
    against a known list instead); ``"onehot"`` -> the label columns are a one-hot block, y int64
    [n] is its argmax; ``"real"`` -> y float32 [n, n_labels]. ``num_classes`` bounds class indices.
    ``delimiter``: None sniffs , TAB ; or | from the first lines.
    """
    check_label_type(label_type)
    check_num_classes(num_classes)
    src = str(path)
    header, delim, sample = read_header(path, delimiter)
    if all(is_number(h) for h in header if h) and any(header):
        raise DataError(f"{src}:1: the first row looks like data, not a header; "
                        "a training CSV needs a header row naming its columns")
    from nnctl.data.csv_diagnose import check_header
    check_header(src, 1, header)
    where = f"{src}:1"
    label_idx = resolve_columns(labels if labels is not None else [len(header) - 1], header, where, "label")
    if features is None:
        feat_idx = [j for j in range(len(header)) if j not in label_idx]
        if not feat_idx:
            raise DataError(f"{where}: no feature columns left after the label columns")
    else:
        feat_idx = resolve_columns(features, header, where, "feature")
        both = [header[j] for j in feat_idx if j in label_idx]
        if both:
            raise DataError(f"{where}: column(s) {', '.join(map(repr, both))} are both features and labels")
    feat = [header[j] for j in feat_idx]
    labs = [header[j] for j in label_idx]
    skip = [h for j, h in enumerate(header) if j not in feat_idx and j not in label_idx]
    label_num = labs if label_type != "class" else []
    t = read_table(path, delimiter=delim, numeric=feat + label_num, skip=skip, separate=labs)
    x = _strict_features(t, feat)
    y, names_out = decode_labels(t, labs, label_type, num_classes, class_names)
    meta: dict[str, Any] = {"feature_names": feat, "label_names": labs, "class_names": names_out, "source": src}
    if label_type != "real":
        meta["num_classes"] = (num_classes if num_classes is not None
                               else len(names_out) if names_out else int(y.max()) + 1)
    return x, y, meta


def load_csv_features(path: str | os.PathLike, n_features: int | None = None,
                      feature_names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Load prediction input for an all-numeric model: feature columns with or without a header ->
    (x float32, names or None).

    A first row with any non-numeric cell is a header. With a header and ``feature_names``, the
    named columns are picked (so a training CSV that still has its label column works); when the
    header shares no name with ``feature_names`` but has exactly that many columns, they are
    taken in order. Without a header the file must hold exactly the feature columns.
    """
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]
        if n_features is not None and len(feature_names) != n_features:
            raise DataError(f"{len(feature_names)} feature names given for {n_features} features")
    expected = len(feature_names) if feature_names is not None else n_features
    src = str(path)
    first, delim, _ = read_header(path)
    has_header = any(c.strip() and not is_number(c) for c in first)
    if has_header:
        from nnctl.data.csv_diagnose import check_header
        check_header(src, 1, first)
        width = len(first)
        if feature_names is not None and (set(feature_names) & set(first) or width != expected):
            idx = resolve_columns(feature_names, first, f"{src}:1", "feature")
        elif expected is not None and width != expected:
            raise DataError(f"{src}:1: expected {expected} feature columns, got {width} "
                            "(the model's feature names are unknown, so columns cannot be picked by name)")
        else:
            idx = list(range(width))
        cols = [first[j] for j in idx]
        t = read_table(path, delimiter=delim, numeric=cols, skip=[c for c in first if c not in cols])
        return _strict_features(t, cols), cols
    width = len(first)
    if expected is not None and width != expected:
        raise DataError(f"{src}:1: expected {expected} feature columns, got {width} "
                        "(a file without a header row must hold exactly the feature columns)")
    names = [f"#{j}" for j in range(width)]
    t = read_table(path, delimiter=delim, header=False, names=names, numeric=names)
    return _strict_features(t, names), None
