"""Request rows -> raw feature arrays, with errors that name the row and the column.

A row is an object keyed by the training data's feature columns (label columns and other known
columns of the training file are ignored, as ``nnctl predict`` ignores them in a CSV), or a list
of the feature values in order (nested like the example shape, or flat). Values are JSON numbers
or numeric strings (a CSV cell); anything else is refused. The model's own preprocessing is
applied later, inside :class:`~nnctl.export.frozen.FrozenModel`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnctl.data.preprocess import did_you_mean
from nnctl.errors import DataError

_F32_MAX = float(np.finfo(np.float32).max)


class RowError(DataError):
    """A request row that cannot become model input (HTTP 422)."""


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or v is None:
        raise RowError(f"{where}: expected a number, got {'null' if v is None else str(v).lower()}")
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            raise RowError(f"{where}: expected a number, got the string {v[:40]!r}") from None
    else:
        raise RowError(f"{where}: expected a number, got a JSON {_json_type(v)}")
    if not math.isfinite(f) or abs(f) > _F32_MAX:
        raise RowError(f"{where}: expected a finite float32 number, got {str(v)[:40]}")
    return f


def _json_type(v: Any) -> str:
    return {dict: "object", list: "array", str: "string"}.get(type(v), type(v).__name__)


def _flat(v: Any, where: str, out: list[float]) -> None:
    if isinstance(v, list):
        for j, u in enumerate(v):
            _flat(u, f"{where}[{j}]", out)
    else:
        out.append(_number(v, where))


def input_columns(model: Any) -> list[str] | None:
    """The raw columns a request row holds: the feature pipeline's inputs, else the feature names."""
    pipe = getattr(model, "pipeline", None)
    if pipe is not None:
        cols = pipe.input_columns
        return list(cols() if callable(cols) else cols)
    return model.feature_names


def _pipeline_rows(model: Any, rows: list) -> np.ndarray:
    """Rows through the model's own feature pipeline (strings, gaps, categories, text ...): the
    function ``nnctl predict`` uses, so a served prediction is the command line's. The columns and
    the JSON types are checked here first, so the message names the row, the column and a close name."""
    from nnctl.data.tabular import encode_rows
    cols = input_columns(model) or []
    pipe = model.pipeline
    known = set(cols) | set(model.label_names or []) | set(getattr(pipe, "ignored", None) or [])
    dicts = []
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if isinstance(row, list):
            if len(row) != len(cols):
                raise RowError(f"{where}: expected {len(cols)} values (columns {', '.join(cols[:20])}), "
                               f"got {len(row)}")
            row = dict(zip(cols, row))
        elif not isinstance(row, dict):
            raise RowError(f"{where}: a row must be an object keyed by column name or an array of values, "
                           f"got a JSON {_json_type(row)}")
        unknown = [k for k in row if k not in known]
        if unknown:
            k = unknown[0]
            raise RowError(f"{where}: unknown column {k!r}{did_you_mean(str(k), cols)} (the model's columns: "
                           f"{', '.join(cols[:20])}{' ...' if len(cols) > 20 else ''})")
        missing = [c for c in cols if c not in row]
        if missing:
            raise RowError(f"{where}: missing column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(c) for c in missing[:10])} (send null for a missing value)")
        for c in cols:
            v = row[c]
            if isinstance(v, bool) or isinstance(v, (dict, list)):
                raise RowError(f"{where}.{c}: expected a number, a string or null, got "
                               f"{str(v).lower() if isinstance(v, bool) else 'a JSON ' + _json_type(v)}")
            if isinstance(v, float) and (not math.isfinite(v) or abs(v) > _F32_MAX):
                raise RowError(f"{where}.{c}: expected a finite float32 number, got {v}")
        dicts.append({c: row[c] for c in cols})
    try:
        return np.asarray(encode_rows(dicts, pipe, "request rows"), dtype=np.float32)
    except DataError as e:
        raise RowError(str(e)) from None


def rows_to_features(model: Any, rows: Any, max_rows: int | None = None) -> np.ndarray:
    """Raw features [n, *feature_shape] (float32) for a list of request rows."""
    if not isinstance(rows, list):
        raise RowError(f"'rows' must be a JSON array of rows, got a JSON {_json_type(rows)}")
    if not rows:
        raise RowError("'rows' is empty: send at least one row")
    if max_rows is not None and len(rows) > max_rows:
        raise RowError(f"too many rows: {len(rows)} (this server takes at most {max_rows} per request)")
    if getattr(model, "pipeline", None) is not None:
        return _pipeline_rows(model, rows).reshape((len(rows), *model.feature_shape))
    n_feat = int(model.n_features)
    names = model.feature_names
    if names is not None and len(names) != n_feat:
        names = None
    ignore = set(model.label_names or []) | set((model.meta.get("data_source") or {}).get("labels") or [])
    out = np.empty((len(rows), n_feat), dtype=np.float32)
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if isinstance(row, dict):
            if names is None:
                raise RowError(f"{where}: this model's feature columns have no names; send each row as an "
                               f"array of {n_feat} numbers")
            unknown = [k for k in row if k not in names and k not in ignore]
            if unknown:
                k = unknown[0]
                raise RowError(f"{where}: unknown column {k!r}{did_you_mean(str(k), names)} (the model's "
                               f"columns: {', '.join(names[:20])}{' ...' if len(names) > 20 else ''})")
            missing = [c for c in names if c not in row]
            if missing:
                raise RowError(f"{where}: missing column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(repr(c) for c in missing[:10])}")
            for j, c in enumerate(names):
                out[i, j] = _number(row[c], f"{where}.{c}")
        elif isinstance(row, list):
            vals: list[float] = []
            _flat(row, where, vals)
            if len(vals) != n_feat:
                raise RowError(f"{where}: expected {n_feat} feature values (shape {list(model.feature_shape)}), "
                               f"got {len(vals)}")
            out[i] = vals
        else:
            raise RowError(f"{where}: a row must be an object keyed by column name or an array of numbers, got "
                           f"a JSON {_json_type(row)}")
    return out.reshape((len(rows), *model.feature_shape))
