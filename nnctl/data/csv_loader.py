"""CSV loading with errors that point at file:line and column.

Python's csv module does the parsing (quoting, CRLF) and tells us where each row starts; numpy
then converts whole columns of strings at once, which keeps a 1797 x 65 file in a few
milliseconds. Only when that bulk conversion fails do we walk the cells to find and name the
first bad one. Line numbers are 1-based and count the header as line 1. Gzipped files are
detected by their magic bytes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nnctl.data.preprocess import (
    check_class_range,
    check_label_type,
    check_num_classes,
    did_you_mean,
    onehot_rows_to_index,
    read_data_bytes,
)
from nnctl.errors import DataError

# bytes of memory per byte of CSV text once parsed into rows of Python strings (measured ~10-14)
CSV_EXPANSION = 16

ColumnSpec = Sequence[str | int] | str | int | None


class _Table:
    """Rows of a CSV (all of the same width) plus the file line where each row starts."""

    def __init__(self, src: str, names: list[str] | None, header_line: int | None,
                 rows: list[list[str]], lines: list[int]) -> None:
        self.src, self.names, self.header_line = src, names, header_line
        self.rows, self.lines = rows, lines
        self.width = len(names) if names is not None else len(rows[0])

    @functools.cached_property
    def dense(self) -> np.ndarray | None:
        """The whole table as float64 when every cell is a number (the common case: one bulk
        conversion is the fastest path numpy offers), else None."""
        try:
            return np.array(self.rows, dtype=np.float64).reshape(len(self.rows), self.width)
        except ValueError:
            return None

    @functools.cached_property
    def cols(self) -> list[tuple[str, ...]]:
        return list(zip(*self.rows))

    @property
    def n_rows(self) -> int:
        return len(self.lines)

    def colname(self, j: int) -> str:
        return self.names[j] if self.names is not None else f"#{j}"

    def at(self, i: int) -> str:
        return f"{self.src}:{self.lines[i]}"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_rows(path: str | os.PathLike) -> tuple[str, list[list[str]], list[int]]:
    src = str(path)
    data = read_data_bytes(path, what="CSV file", expand=CSV_EXPANSION)
    if data[:4] == b"PK\x03\x04":
        raise DataError(f"{src}: this is a zip/npz archive, not CSV text (use an npz data source)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{src}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                        "is this a CSV file?") from None
    # strict: an unterminated or stray quote is an error here rather than a silently merged row.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    prev = 0
    try:
        for row in reader:
            start, prev = prev + 1, reader.line_num
            # A blank line (spacing, a trailing newline) holds no row; the line count still includes it.
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            lines.append(start)
    except csv.Error as e:
        raise DataError(f"{src}:{prev + 1}: malformed CSV: {e}") from None
    if not rows:
        raise DataError(f"{src}: empty CSV file (no header and no rows)")
    return src, rows, lines


def _check_header(src: str, line: int, header: list[str]) -> None:
    seen: set[str] = set()
    for j, h in enumerate(header):
        if not h:
            raise DataError(f"{src}:{line}: column {j + 1} of the header has no name (a trailing comma?)")
        if h in seen:
            raise DataError(f"{src}:{line}: column name {h!r} appears twice in the header")
        seen.add(h)


def _table(src: str, rows: list[list[str]], lines: list[int], names: list[str] | None,
           header_line: int | None) -> _Table:
    width = len(names) if names is not None else len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            what = "the header" if names is not None else "the first row"
            raise DataError(f"{src}:{line}: expected {width} columns (as in {what}), got {len(row)}")
    return _Table(src, names, header_line, rows, lines)


def _float_block(t: _Table, idx: Sequence[int]) -> np.ndarray:
    """Columns ``idx`` as float64 [n, len(idx)], or DataError naming the first non-numeric cell."""
    if t.dense is not None:
        return t.dense[:, list(idx)]
    with contextlib.suppress(ValueError):  # the fast path; on failure, find and name the bad cell
        return np.array([t.cols[j] for j in idx], dtype=np.float64).T.copy()
    for i in range(t.n_rows):
        for j in idx:
            cell = t.cols[j][i]
            if not _is_number(cell):
                raise DataError(f"{t.at(i)}: column {t.colname(j)!r}: expected a number, got {cell!r}")
    # numpy refused something Python's float() accepts; Python's reading is the documented one.
    return np.array([[float(c) for c in t.cols[j]] for j in idx], dtype=np.float64).T.copy()


def _features(t: _Table, idx: Sequence[int]) -> np.ndarray:
    x64 = _float_block(t, idx)
    with np.errstate(over="ignore"):  # an overflow to inf is reported below, by cell
        x = x64.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        i, k = (int(v) for v in np.argwhere(~finite)[0])
        cell = t.rows[i][idx[k]]
        why = " (too large for float32)" if np.isfinite(x64[i, k]) else ""
        raise DataError(f"{t.at(i)}: column {t.colname(idx[k])!r}: expected a finite number, "
                        f"got {cell!r}{why}")
    return x


class ColumnError(DataError):
    """A column the config names (``what``: feature or label, ``position`` in its list) is not in the
    file; the caller that knows the config key reports it there."""

    def __init__(self, where: str, message: str, what: str, position: int) -> None:
        super().__init__(f"{where}: {message}")
        self.bare, self.what, self.position = message, what, position


def _resolve_columns(spec: ColumnSpec, t: _Table, what: str) -> list[int]:
    if isinstance(spec, (str, int)):
        spec = [spec]
    width = t.width
    where = f"{t.src}:{t.header_line}" if t.header_line is not None else t.src
    out: list[int] = []
    index = {n: j for j, n in enumerate(t.names or [])}  # one dict, not a list search per column
    taken: set[int] = set()
    for pos, s in enumerate(spec):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (str, int, np.integer)):
            raise DataError(f"{where}: {what} columns must be names or integer indices, got {s!r}")
        if isinstance(s, str):
            if s not in index:
                names = t.names or []
                shown = ", ".join(names[:20]) + (f" ... ({len(names)} in all)" if len(names) > 20 else "")
                raise ColumnError(where, f"unknown {what} column {s!r} in {t.src}{did_you_mean(s, names[:1000])}; "
                                  f"the columns are: {shown}", what, pos)
            k = index[s]
        else:
            k = int(s)
            if not -width <= k < width:
                raise ColumnError(where, f"{what} column index {k} is out of range in {t.src} "
                                  f"(the file has {width} columns, 0..{width - 1})", what, pos)
            k %= width
        if k in taken:
            raise DataError(f"{where}: {what} column {t.colname(k)!r} is listed twice")
        taken.add(k)
        out.append(k)
    if not out:
        raise DataError(f"{where}: no {what} columns selected")
    return out


def _class_labels(t: _Table, j: int, num_classes: int | None,
                  class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str] | None]:
    name = t.colname(j)
    values: np.ndarray | None = None
    if t.dense is not None:
        values = t.dense[:, j]
    else:
        with contextlib.suppress(ValueError):  # not all numeric: handled as text labels below
            values = np.array(t.cols[j], dtype=np.float64)
    if values is None:
        cells = t.cols[j]
        numeric = [_is_number(c) for c in cells]
        n_num = sum(numeric)
        if n_num:
            # Mixed numbers and names: the minority kind is the likely typo.
            if n_num * 2 >= len(cells):
                i = numeric.index(False)
                raise DataError(f"{t.at(i)}: column {name!r}: expected an integer class index, "
                                f"got {cells[i]!r}")
            i = numeric.index(True)
            raise DataError(f"{t.at(i)}: column {name!r}: expected a class name like the other rows, "
                            f"got the number {cells[i]!r}")
        return _named_classes(t, j, num_classes, class_names)
    # 2**53: beyond it float64 no longer holds every integer, so the index would be silently wrong.
    ok = np.isfinite(values) & (values >= 0) & (np.floor(values) == values) & (values < 2.0**53)
    if not ok.all():
        i = int(np.argmin(ok))
        raise DataError(f"{t.at(i)}: column {name!r}: expected a non-negative integer class index, "
                        f"got {t.rows[i][j]!r}")
    y = values.astype(np.int64)
    limit = num_classes if num_classes is not None else (len(class_names) if class_names else None)
    check_class_range(y, t.src, limit, t.lines)
    return y, (list(class_names) if class_names else None)


def _named_classes(t: _Table, j: int, num_classes: int | None,
                   class_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    cells = [c.strip() for c in t.cols[j]]
    name = t.colname(j)
    if "" in cells:
        i = cells.index("")
        raise DataError(f"{t.at(i)}: column {name!r}: expected a class name, got an empty cell")
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


def load_csv(path: str | os.PathLike, features: ColumnSpec = None, labels: ColumnSpec = None,
             label_type: str = "class", num_classes: int | None = None,
             class_names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load a CSV with a header row into (x float32 [n, f], y, meta).

    ``features``/``labels`` are column names or integer indices; labels default to the last
    column and features to every other column. ``label_type``: ``"class"`` -> y int64 [n] (integer
    indices, or names mapped to sorted unique ``class_names``; pass ``class_names`` to map names
    against a known list instead); ``"onehot"`` -> the label columns are a one-hot block, y int64
    [n] is its argmax; ``"real"`` -> y float32 [n, n_labels]. ``num_classes`` bounds class indices.
    """
    check_label_type(label_type)
    check_num_classes(num_classes)
    src, rows, lines = _read_rows(path)
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header if h) and any(header):
        raise DataError(f"{src}:{lines[0]}: the first row looks like data, not a header; "
                        "a training CSV needs a header row naming its columns")
    _check_header(src, lines[0], header)
    if len(rows) == 1:
        raise DataError(f"{src}: header only, no data rows (expected rows after line {lines[0]})")
    t = _table(src, rows[1:], lines[1:], header, lines[0])

    label_idx = _resolve_columns(labels if labels is not None else [len(header) - 1], t, "label")
    if features is None:
        feat_idx = [j for j in range(len(header)) if j not in label_idx]
        if not feat_idx:
            raise DataError(f"{src}:{lines[0]}: no feature columns left after the label columns")
    else:
        feat_idx = _resolve_columns(features, t, "feature")
        both = [t.colname(j) for j in feat_idx if j in label_idx]
        if both:
            raise DataError(f"{src}:{lines[0]}: column(s) {', '.join(map(repr, both))} are both "
                            "features and labels")
    x = _features(t, feat_idx)

    names_out: list[str] | None = None
    if label_type == "class":
        if len(label_idx) != 1:
            raise DataError(f"{src}: label_type 'class' takes one label column, got {len(label_idx)} "
                            "(use label_type 'onehot' for a one-hot block)")
        y, names_out = _class_labels(t, label_idx[0], num_classes, class_names)
    elif label_type == "onehot":
        what = "columns " + ", ".join(repr(t.colname(j)) for j in label_idx)
        if len(label_idx) < 2:
            raise DataError(f"{src}: label_type 'onehot' needs a block of at least 2 label columns, "
                            f"got {what}")
        block = _float_block(t, label_idx)
        if num_classes is not None and len(label_idx) != num_classes:
            raise DataError(f"{src}: one-hot labels span {len(label_idx)} columns but num_classes "
                            f"is {num_classes}")
        y = onehot_rows_to_index(block, t.at, what)
        names_out = [t.colname(j) for j in label_idx]
    else:
        y = _features(t, label_idx)

    meta: dict[str, Any] = {
        "feature_names": [t.colname(j) for j in feat_idx],
        "label_names": [t.colname(j) for j in label_idx],
        "class_names": names_out,
        "source": src,
    }
    if label_type != "real":
        meta["num_classes"] = (num_classes if num_classes is not None
                               else len(names_out) if names_out else int(y.max()) + 1)
    return x, y, meta


def load_csv_features(path: str | os.PathLike, n_features: int | None = None,
                      feature_names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Load prediction input: feature columns with or without a header -> (x float32, names or None).

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
    src, rows, lines = _read_rows(path)
    has_header = any(c.strip() and not _is_number(c) for c in rows[0])
    if has_header:
        header = [h.strip() for h in rows[0]]
        _check_header(src, lines[0], header)
        if len(rows) == 1:
            raise DataError(f"{src}: header only, no data rows (expected rows after line {lines[0]})")
        t = _table(src, rows[1:], lines[1:], header, lines[0])
        width = len(header)
        if feature_names is not None and (set(feature_names) & set(header) or width != expected):
            idx = _resolve_columns(feature_names, t, "feature")
        elif expected is not None and width != expected:
            raise DataError(f"{src}:{lines[0]}: expected {expected} feature columns, got {width} "
                            "(the model's feature names are unknown, so columns cannot be picked by name)")
        else:
            idx = list(range(width))
        return _features(t, idx), [header[j] for j in idx]
    t = _table(src, rows, lines, None, None)
    width = t.width
    if expected is not None and width != expected:
        raise DataError(f"{src}:{lines[0]}: expected {expected} feature columns, got {width} "
                        "(a file without a header row must hold exactly the feature columns)")
    return _features(t, list(range(width))), None
