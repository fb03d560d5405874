"""Per-column features: typed preprocessing fitted on the training split and carried with the model.

Each input column has a type (``numeric``, ``category``, ``binary``, ``text``, ``image``, ``ignore``)
and options (docs/config.md lists them). A :class:`FeaturePipeline` holds one fitted encoder per
column; it turns a :class:`~nnctl.data.table_reader.Table` of raw cells (strings, gaps, numbers,
image paths) into the model's inputs, and it is plain JSON (``to_dict``/``from_dict``), so
checkpoints and frozen files carry it and ``predict`` takes raw rows.

The model's inputs are named groups (docs/architecture.md, "Data to model"):

* ``numeric``: float32 [n, width], every numeric, binary, one-hot category and bag-of-words text
  feature side by side in column order (plus missing-value indicators);
* one int32 array per ``encoding: ids`` column, named after it: [n] for a category, [n, max_length]
  for text (0 is padding, 1 the unknown token; mask = ids != 0), meant for an ``embedding`` layer;
* one float32 [n, h, w, c] array per image column, named after it.

A sequential model takes exactly one group as its ``x``; several groups need a model with named
inputs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.data.table_reader import NULL_VALUES, Table
from nnctl.errors import DataError
from nnctl.vocab import FEATURE_TYPES, IMAGE_COLORS

NUMERIC_GROUP = "numeric"
_NULLS = frozenset(NULL_VALUES)
COLORS = IMAGE_COLORS
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")
FALSE_WORDS = ("0", "false", "f", "no", "n", "off")
UNK = "<unk>"

# Options of each type with their defaults (None: decided from the training data).
DEFAULTS: dict[str, dict[str, Any]] = {
    "numeric": {"missing": "mean", "fill": 0.0, "missing_indicator": False, "scaling": "standardize",
                "clip": None},
    "category": {"encoding": "onehot", "min_count": 1, "max_size": None, "unknown": "bucket",
                 "missing": "unknown", "fill": None},
    "binary": {"positive": None, "missing": "constant", "fill": None},
    "text": {"tokenizer": "whitespace", "pattern": r"\w+", "lowercase": True, "max_length": 32,
             "min_count": 1, "max_size": 20000, "encoding": "bag", "unknown": "bucket"},
    "image": {"size": None, "color": None, "scale": 1 / 255, "augment": None},
    "ignore": {},
}
__all__ = ["FEATURE_TYPES", "FeaturePipeline", "LabelSpec", "infer_type"]


# --- helpers ------------------------------------------------------------------------------------

def _strings(t: Table, name: str) -> list[str | None]:
    """A column's cells as stripped Python strings (None for a gap: empty, or a null spelling such as
    ' ?' or ' NA' once its spaces are stripped)."""
    import pyarrow.compute as pc
    return [None if c in _NULLS else c for c in pc.utf8_trim_whitespace(t.string_column(name)).to_pylist()]


def _missing_cell(c: str | None) -> bool:
    return c is None or c in _NULLS


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


# --- encoders -----------------------------------------------------------------------------------

class Feature:
    """One fitted input column. Subclasses define fit, encode and their JSON state."""

    type = ""
    group = NUMERIC_GROUP   # the model input this feature's values go to

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = {**DEFAULTS[self.type], **options}

    def fit(self, t: Table) -> None:
        """Learn statistics / vocabularies from the training rows."""

    def drop_rows(self, t: Table) -> np.ndarray | None:
        """A mask of the rows to drop (missing: drop_row) or None."""
        return None

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        raise NotImplementedError

    @property
    def width(self) -> int:
        return 1

    def columns(self) -> list[str]:
        """Names of the values this feature adds to the numeric group."""
        return [self.name] if self.width == 1 else [f"{self.name}[{k}]" for k in range(self.width)]

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, d: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "options": self.options, "state": self.state()}

    def spec(self) -> dict[str, Any]:
        """The config entry that selects this feature (for `nnctl validate`'s inferred block)."""
        extra = {k: v for k, v in self.options.items() if k in DEFAULTS[self.type] and v != DEFAULTS[self.type][k]}
        return {"type": self.type, **extra} if extra else self.type  # type: ignore[return-value]


class NumericFeature(Feature):
    type = "numeric"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        self.fill_value = 0.0
        self.shift = 0.0
        self.divisor = 1.0

    def _raw(self, t: Table) -> np.ndarray:
        if t.kind(self.name) == "numeric":
            return np.asarray(t.numeric_column(self.name), np.float32)
        cells = _strings(t, self.name)
        out = np.empty(len(cells), np.float32)
        for i, c in enumerate(cells):
            if _missing_cell(c):
                out[i] = np.nan
                continue
            try:
                out[i] = float(c)  # type: ignore[arg-type]
            except ValueError:
                raise DataError(f"{t.at(i)}: column {self.name!r}: expected a number, got {c!r} (the column is "
                                f"numeric; if it is not, declare its type in data.features, e.g. "
                                f"{self.name}: category)") from None
            if not np.isfinite(out[i]):
                raise DataError(f"{t.at(i)}: column {self.name!r}: expected a finite number, got {c!r}")
        return out

    def drop_rows(self, t: Table) -> np.ndarray | None:
        return np.isnan(self._raw(t)) if self.options["missing"] == "drop_row" else None

    def _clip(self, v: np.ndarray) -> np.ndarray:
        clip = self.options["clip"]
        return np.clip(v, clip[0], clip[1]) if clip is not None else v

    def fit(self, t: Table) -> None:
        raw = self._raw(t)
        have = raw[~np.isnan(raw)].astype(np.float64)
        if have.size == 0:
            raise DataError(f"{t.src}: column {self.name!r} has no values in the training rows (every cell "
                            f"is missing); drop it with `{self.name}: ignore` in data.features")
        o = self.options
        m = o["missing"]
        self.fill_value = float(np.mean(have) if m == "mean" else np.median(have) if m == "median"
                                else o["fill"] if m == "constant" else 0.0)
        v = self._clip(np.where(np.isnan(raw), np.float32(self.fill_value), raw).astype(np.float64))
        if o["scaling"] == "log1p":
            if (v <= -1).any():
                i = _first(v <= -1)
                raise DataError(f"{t.at(i)}: column {self.name!r}: scaling log1p needs values > -1, got {v[i]:g}")
            v = np.log1p(v)
        # Statistics in float64, kept as float32 (exact in JSON, so a reloaded pipeline matches bit for bit).
        if o["scaling"] == "standardize":
            shift, spread = float(v.mean()), float(v.std())
        elif o["scaling"] == "minmax":
            shift, spread = float(v.min()), float(v.max() - v.min())
        elif o["scaling"] == "scale":
            shift, spread = 0.0, 1.0 / float(o.get("factor", 1.0))
        else:
            shift, spread = 0.0, 1.0
        self.shift = float(np.float32(shift))
        self.divisor = float(np.float32(spread if spread > 0 else 1.0))

    @property
    def width(self) -> int:
        return 2 if self.options["missing_indicator"] else 1

    def columns(self) -> list[str]:
        return [self.name, f"{self.name}_missing"] if self.width == 2 else [self.name]

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        raw = self._raw(t)
        miss = np.isnan(raw)
        if predicting and self.options["missing"] == "drop_row" and miss.any():
            raise DataError(f"{t.at(_first(miss))}: column {self.name!r}: missing value, and the model was trained "
                            "with missing: drop_row, so it has no value to put in its place")
        v = np.where(miss, np.float32(self.fill_value), raw).astype(np.float32)
        clip = self.options["clip"]
        if clip is not None:
            v = np.clip(v, np.float32(clip[0]), np.float32(clip[1]))
        if self.options["scaling"] == "log1p":
            if (v <= -1).any():
                i = _first(v <= -1)
                raise DataError(f"{t.at(i)}: column {self.name!r}: scaling log1p needs values > -1, got {v[i]:g}")
            v = np.log1p(v)
        if self.options["scaling"] == "scale":
            v = v * np.float32(self.options.get("factor", 1.0))
        elif self.options["scaling"] != "none":
            v = (v - np.float32(self.shift)) / np.float32(self.divisor)
        cols = [v.astype(np.float32)]
        if self.width == 2:
            cols.append(miss.astype(np.float32))
        return np.stack(cols, axis=1)

    def state(self) -> dict[str, Any]:
        return {"fill_value": self.fill_value, "shift": self.shift, "divisor": self.divisor}

    def load_state(self, d: dict[str, Any]) -> None:
        self.fill_value, self.shift, self.divisor = (float(d["fill_value"]), float(d["shift"]), float(d["divisor"]))
        if not (math.isfinite(self.shift) and math.isfinite(self.divisor) and self.divisor > 0):
            raise DataError(f"feature {self.name!r}: bad scaling state")


class _Vocab(Feature):
    """Shared by category and text: a vocabulary learned on the training split."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        self.vocab: list[str] = []
        self._index: dict[str, int] = {}

    def _build_vocab(self, counts: Counter[str]) -> None:
        o = self.options
        items = [(w, c) for w, c in counts.items() if c >= o["min_count"]]
        # Most frequent first, ties by the value, so the same data always gives the same vocabulary.
        items.sort(key=lambda wc: (-wc[1], wc[0]))
        if o["max_size"] is not None:
            items = items[: o["max_size"]]
        self.vocab = sorted(w for w, _ in items) if self.type == "category" else [w for w, _ in items]
        self._reindex()

    def _reindex(self) -> None:
        self._index = {w: k for k, w in enumerate(self.vocab)}

    def state(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab)}

    def load_state(self, d: dict[str, Any]) -> None:
        vocab = d["vocab"]
        if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
            raise DataError(f"feature {self.name!r}: bad vocabulary")
        self.vocab = vocab
        self._reindex()


class CategoryFeature(_Vocab):
    type = "category"

    @property
    def bucket(self) -> bool:
        return self.options["unknown"] == "bucket"

    @property
    def group(self) -> str:  # type: ignore[override]
        return self.name if self.options["encoding"] == "ids" else NUMERIC_GROUP

    def _cells(self, t: Table) -> list[str | None]:
        cells = _strings(t, self.name)
        if self.options["missing"] == "constant":
            fill = str(self.options["fill"])
            cells = [fill if _missing_cell(c) else c for c in cells]
        return cells

    def drop_rows(self, t: Table) -> np.ndarray | None:
        if self.options["missing"] != "drop_row":
            return None
        return np.array([_missing_cell(c) for c in _strings(t, self.name)], dtype=bool)

    def fit(self, t: Table) -> None:
        cells = [c for c in self._cells(t) if not _missing_cell(c)]
        if not cells:
            raise DataError(f"{t.src}: column {self.name!r} has no values in the training rows (every cell is "
                            f"missing); drop it with `{self.name}: ignore` in data.features")
        self._build_vocab(Counter(cells))  # type: ignore[arg-type]

    @property
    def n_ids(self) -> int:
        """Ids 0..n_ids-1: 0 is the unknown bucket when there is one, then the vocabulary."""
        return len(self.vocab) + (1 if self.bucket else 0)

    @property
    def width(self) -> int:
        return self.n_ids if self.options["encoding"] == "onehot" else 0

    def columns(self) -> list[str]:
        names = ([UNK] if self.bucket else []) + self.vocab
        return [f"{self.name}={v}" for v in names]

    def ids(self, t: Table) -> np.ndarray:
        off = 1 if self.bucket else 0
        out = np.empty(t.n_rows, np.int32)
        for i, c in enumerate(self._cells(t)):
            k = self._index.get(c) if c is not None else None  # type: ignore[arg-type]
            if k is None:
                if not self.bucket:
                    what = "missing value" if _missing_cell(c) else f"unknown category {c!r}"
                    from nnctl.data.preprocess import did_you_mean
                    hint = did_you_mean(c, self.vocab) if c else ""
                    shown = ", ".join(self.vocab[:12]) + (" ..." if len(self.vocab) > 12 else "")
                    raise DataError(f"{t.at(i)}: column {self.name!r}: {what}{hint}; the training data has: {shown} "
                                    "(unknown: error; unknown: bucket maps unseen values to one shared slot)")
                out[i] = 0
            else:
                out[i] = k + off
        return out

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        ids = self.ids(t)
        if self.options["encoding"] == "ids":
            return ids
        onehot = np.zeros((t.n_rows, self.n_ids), np.float32)
        onehot[np.arange(t.n_rows), ids] = 1.0
        return onehot


class BinaryFeature(Feature):
    type = "binary"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)
        self.values: list[str] = []   # [negative, positive]

    def drop_rows(self, t: Table) -> np.ndarray | None:
        if self.options["missing"] != "drop_row":
            return None
        return np.array([_missing_cell(c) for c in _strings(t, self.name)], dtype=bool)

    def fit(self, t: Table) -> None:
        seen = sorted({c for c in _strings(t, self.name) if not _missing_cell(c)})  # type: ignore[type-var]
        if not seen:
            raise DataError(f"{t.src}: column {self.name!r} has no values in the training rows; drop it with "
                            f"`{self.name}: ignore` in data.features")
        if len(seen) > 2:
            raise DataError(f"{t.src}: column {self.name!r} is binary but holds {len(seen)} values "
                            f"({', '.join(seen[:6])}); make it `{self.name}: category`")
        pos = self.options["positive"]
        if pos is not None:
            pos = str(pos)
            if pos not in seen:
                raise DataError(f"{t.src}: column {self.name!r}: positive value {pos!r} does not occur in the "
                                f"training rows (they hold {', '.join(seen)})")
        else:
            trues = [v for v in seen if v.lower() in TRUE_WORDS]
            pos = trues[0] if trues else seen[-1]
        neg = [v for v in seen if v != pos]
        if not neg:  # one value seen: its opposite by name when it has one
            low = pos.lower()
            opposite = dict(zip(TRUE_WORDS, FALSE_WORDS)) | dict(zip(FALSE_WORDS, TRUE_WORDS))
            neg = [opposite.get(low, f"not {pos}")]
            if low in FALSE_WORDS:
                pos, neg = neg[0], [pos]
        self.values = [neg[0], pos]

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        out = np.empty((t.n_rows, 1), np.float32)
        neg, pos = self.values
        fill = self.options["fill"]
        fill_v = 0.0 if fill is None else (1.0 if str(fill) == pos else 0.0)
        lower = {neg.lower(): 0.0, pos.lower(): 1.0}
        for i, c in enumerate(_strings(t, self.name)):
            if _missing_cell(c):
                if self.options["missing"] == "drop_row":
                    raise DataError(f"{t.at(i)}: column {self.name!r}: missing value, and the model was trained with "
                                    "missing: drop_row")
                out[i, 0] = fill_v
                continue
            v = lower.get(c.lower())  # type: ignore[union-attr]
            if v is None:
                raise DataError(f"{t.at(i)}: column {self.name!r}: expected {neg!r} or {pos!r}, got {c!r}")
            out[i, 0] = v
        return out

    def state(self) -> dict[str, Any]:
        return {"values": list(self.values)}

    def load_state(self, d: dict[str, Any]) -> None:
        self.values = [str(v) for v in d["values"]]
        if len(self.values) != 2:
            raise DataError(f"feature {self.name!r}: bad binary state")


def tokenizer(options: dict[str, Any]) -> Any:
    """str -> list of tokens, as the options say (lowercased first unless lowercase: false)."""
    kind, low = options["tokenizer"], options["lowercase"]
    pattern = re.compile(options["pattern"]) if kind == "regex" else None

    def tok(s: str) -> list[str]:
        if low:
            s = s.lower()
        if kind == "character":
            return [ch for ch in s if not ch.isspace()]
        if kind == "regex":
            return pattern.findall(s)  # type: ignore[union-attr]
        return s.split()
    return tok


class TextFeature(_Vocab):
    type = "text"
    PAD, OOV = 0, 1

    @property
    def group(self) -> str:  # type: ignore[override]
        return self.name if self.options["encoding"] == "ids" else NUMERIC_GROUP

    def _tokens(self, t: Table) -> list[list[str]]:
        tok = tokenizer(self.options)
        return [tok(c) if c else [] for c in _strings(t, self.name)]

    def fit(self, t: Table) -> None:
        counts: Counter[str] = Counter()
        for toks in self._tokens(t):
            counts.update(toks)
        if not counts:
            raise DataError(f"{t.src}: column {self.name!r} has no tokens in the training rows; drop it with "
                            f"`{self.name}: ignore` in data.features")
        self._build_vocab(counts)

    @property
    def width(self) -> int:
        return len(self.vocab) + 1 if self.options["encoding"] == "bag" else 0

    def columns(self) -> list[str]:
        return [f"{self.name}:{w}" for w in [UNK, *self.vocab]]

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        toks = self._tokens(t)
        idx = self._index
        if self.options["encoding"] == "bag":
            # Multi-hot bag of words (Keras TextVectorization's multi_hot); slot 0 counts unknown words.
            out = np.zeros((t.n_rows, self.width), np.float32)
            for i, ts in enumerate(toks):
                for w in ts:
                    out[i, idx.get(w, -1) + 1] = 1.0
            return out
        L = int(self.options["max_length"])
        ids = np.zeros((t.n_rows, L), np.int32)  # PAD = 0; truncation keeps the first max_length tokens
        for i, ts in enumerate(toks):
            row = [idx[w] + 2 if w in idx else self.OOV for w in ts[:L]]
            ids[i, : len(row)] = row
        return ids

    @property
    def n_ids(self) -> int:
        return len(self.vocab) + 2


class ImageFeature(Feature):
    type = "image"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, options)

    @property
    def group(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def width(self) -> int:
        return 0

    def paths(self, t: Table) -> list[Path]:
        base = t.base_dir or Path.cwd()
        out = []
        for i, c in enumerate(_strings(t, self.name)):
            if _missing_cell(c):
                raise DataError(f"{t.at(i)}: column {self.name!r}: missing image path")
            p = Path(c)  # type: ignore[arg-type]
            out.append(p if p.is_absolute() else base / p)
        return out

    def fit(self, t: Table) -> None:
        from nnctl.data.images import probe
        paths = self.paths(t)
        if self.options["size"] is None or self.options["color"] is None:
            size, color = probe(paths[0], f"{t.at(0)}: column {self.name!r}")
            if self.options["size"] is None:
                self.options["size"] = list(size)
            if self.options["color"] is None:
                self.options["color"] = color

    def encode(self, t: Table, predicting: bool = False) -> np.ndarray:
        from nnctl.data.images import decode_images
        paths = self.paths(t)
        return decode_images(paths, self.options, [f"{t.at(i)}: column {self.name!r}" for i in range(len(paths))])

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w = self.options["size"]
        return int(h), int(w), (1 if self.options["color"] == "grayscale" else 3)


ENCODERS: dict[str, type[Feature]] = {"numeric": NumericFeature, "category": CategoryFeature,
                                      "binary": BinaryFeature, "text": TextFeature, "image": ImageFeature}


# --- inference ----------------------------------------------------------------------------------

def infer_type(t: Table, name: str) -> tuple[str, str]:
    """(type, why) for a column without a declared type."""
    if t.kind(name) == "numeric":
        col = t.numeric_column(name)
        if np.isnan(col).all():
            raise DataError(f"{t.src}: column {name!r} has no values (every cell is missing); drop it with "
                            f"`{name}: ignore` in data.features")
        return "numeric", "numbers"
    cells = [c for c in _strings(t, name) if not _missing_cell(c)]
    if not cells:
        raise DataError(f"{t.src}: column {name!r} has no values (every cell is missing); drop it with "
                        f"`{name}: ignore` in data.features")
    from nnctl.data.csv_diagnose import is_number
    numeric = [is_number(c) for c in cells]  # type: ignore[arg-type]
    if sum(numeric) * 2 >= len(cells):
        # Mostly numbers: the text cells are the likely typos (a category would need declaring).
        return "numeric", "mostly numbers"
    distinct = set(cells)
    lowered = {c.lower() for c in distinct}  # type: ignore[union-attr]
    if len(distinct) <= 2 and lowered <= set(TRUE_WORDS + FALSE_WORDS):
        return "binary", "two yes/no values"
    if all(c.lower().endswith(IMAGE_EXTENSIONS) for c in distinct):  # type: ignore[union-attr]
        return "image", "image file names"
    words = sum(len(c.split()) for c in cells) / len(cells)  # type: ignore[union-attr]
    if words >= 3 or (words > 1.5 and len(distinct) > 0.5 * len(cells)):
        return "text", f"{words:.1f} words per cell"
    if len(distinct) == len(cells) and len(cells) > 20:
        return "ignore", "a different value in every row (an identifier)"
    return "category", f"{len(distinct)} distinct values"


# --- the pipeline -------------------------------------------------------------------------------

@dataclass
class LabelSpec:
    names: list[str]
    label_type: str
    class_names: list[str] | None
    num_classes: int | None
    target_scaling: str = "none"
    target_shift: list[float] | None = None
    target_divisor: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"names": self.names, "label_type": self.label_type, "class_names": self.class_names,
                "num_classes": self.num_classes, "target_scaling": self.target_scaling,
                "target_shift": self.target_shift, "target_divisor": self.target_divisor}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpec:
        return cls(list(d["names"]), d["label_type"], d.get("class_names"), d.get("num_classes"),
                   d.get("target_scaling", "none"), d.get("target_shift"), d.get("target_divisor"))


FORMAT = "nnctl.features/1"


class FeaturePipeline:
    """Fitted per-column preprocessing: raw table -> named model inputs (see the module doc)."""

    def __init__(self, features: list[Feature], label: LabelSpec | None, inferred: dict[str, str] | None = None,
                 delimiter: str | None = None, ignored: list[str] | None = None) -> None:
        self.features = features
        self.label = label
        self.inferred = inferred or {}   # column -> why its type was inferred (for validate's report)
        self.delimiter = delimiter
        self.ignored = ignored or []     # columns of the training file the model does not read

    # --- building --------------------------------------------------------------------------
    @classmethod
    def from_specs(cls, t: Table, specs: dict[str, dict[str, Any]], label_names: Sequence[str],
                   label: LabelSpec | None, columns: Sequence[str] | None = None) -> FeaturePipeline:
        """Encoders for every non-label column of ``t`` (or ``columns``): declared in ``specs``, else inferred."""
        feats: list[Feature] = []
        inferred: dict[str, str] = {}
        ignored: list[str] = []
        for name in (columns if columns is not None else t.names):
            if name in label_names:
                continue
            spec = specs.get(name)
            if spec is None:
                kind, why = infer_type(t, name)
                inferred[name] = why
                spec = {"type": kind}
            kind = spec["type"]
            if kind == "ignore":
                ignored.append(name)
                continue
            opts = {k: v for k, v in spec.items() if k != "type"}
            feats.append(ENCODERS[kind](name, opts))
        if not feats:
            raise DataError(f"{t.src}: no input features left (every column is a label or ignored)")
        return cls(feats, label, inferred, ignored=ignored)

    def drop_mask(self, t: Table) -> np.ndarray | None:
        mask = None
        for f in self.features:
            m = f.drop_rows(t)
            if m is not None:
                mask = m if mask is None else (mask | m)
        return mask

    def fit(self, t: Table) -> FeaturePipeline:
        for f in self.features:
            f.fit(t)
        return self

    # --- using -----------------------------------------------------------------------------
    @property
    def input_columns(self) -> list[str]:
        return [f.name for f in self.features]

    def groups(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Each model input: name -> (shape of one example, dtype)."""
        out: dict[str, tuple[tuple[int, ...], str]] = {}
        width = sum(f.width for f in self.features if f.group == NUMERIC_GROUP)
        if width:
            out[NUMERIC_GROUP] = ((width,), "float32")
        for f in self.features:
            if f.group == NUMERIC_GROUP:
                continue
            if isinstance(f, ImageFeature):
                out[f.name] = (f.shape, "float32")
            elif isinstance(f, TextFeature):
                out[f.name] = ((int(f.options["max_length"]),), "int32")
            else:
                out[f.name] = ((), "int32")
        return out

    def numeric_columns(self) -> list[str]:
        return [c for f in self.features if f.group == NUMERIC_GROUP for c in f.columns()]

    def transform(self, t: Table, predicting: bool = False) -> dict[str, np.ndarray]:
        """The named model inputs for every row of ``t``."""
        missing = [f.name for f in self.features if f.name not in t.names]
        if missing:
            raise DataError(f"{t.src}: missing feature column(s) {', '.join(map(repr, missing))}")
        blocks = []
        out: dict[str, np.ndarray] = {}
        for f in self.features:
            v = f.encode(t, predicting)
            if f.group == NUMERIC_GROUP:
                blocks.append(v)
            else:
                out[f.name] = v
        if blocks:
            out[NUMERIC_GROUP] = np.concatenate(blocks, axis=1) if len(blocks) > 1 else blocks[0]
        return out

    def layout(self) -> list[tuple[str, int, int]]:
        """Where each input group sits in the flat feature block a model reads: (group, start, stop).

        The numeric group comes first, then each id group in column order (a category's id is one
        column, a text's ids are max_length columns). A model slices them apart with
        ``model.inputs: [{name: ..., columns: 'start:stop'}]`` and embeds the ids."""
        out, pos = [], 0
        for name, (shape, _) in self.groups().items():
            width = int(np.prod(shape)) if shape else 1
            out.append((name, pos, pos + width))
            pos += width
        return out

    def single_input(self, inputs: dict[str, np.ndarray], where: str = "") -> np.ndarray:
        """The one array the model reads: the only group as it is (an image batch stays [n, h, w, c]),
        or every group side by side as float32 columns in :meth:`layout` order (ids are exact in
        float32 below 2**24; the embedding layer casts them back to integers)."""
        if len(inputs) == 1:
            return next(iter(inputs.values()))
        if any(v.ndim > 2 for v in inputs.values()):
            groups = ", ".join(f"{k} {list(v.shape[1:])}" for k, v in inputs.items())
            raise DataError(f"{where}the features make {len(inputs)} model inputs ({groups}) and an image cannot "
                            "share the flat feature block; train on the image column alone")
        order = [name for name, _, _ in self.layout()]
        cols = [np.asarray(inputs[k], np.float32).reshape(len(inputs[k]), -1) for k in order]
        return np.concatenate(cols, axis=1)

    # --- labels ----------------------------------------------------------------------------
    def fit_targets(self, y: np.ndarray) -> None:
        lab = self.label
        if lab is None or lab.label_type != "real" or lab.target_scaling != "standardize":
            return
        y64 = y.astype(np.float64)
        std = y64.std(axis=0)
        lab.target_shift = [float(np.float32(v)) for v in y64.mean(axis=0)]
        lab.target_divisor = [float(np.float32(s if s > 0 else 1.0)) for s in std]

    def scale_targets(self, y: np.ndarray) -> np.ndarray:
        lab = self.label
        if lab is None or lab.target_shift is None:
            return y
        return ((y - np.asarray(lab.target_shift, np.float32)) / np.asarray(lab.target_divisor, np.float32)
                ).astype(np.float32)

    def unscale_targets(self, y: np.ndarray) -> np.ndarray:
        """Predictions back in the units of the label columns (undoes target_scaling)."""
        lab = self.label
        if lab is None or lab.target_shift is None:
            return y
        return np.asarray(y, np.float64) * np.asarray(lab.target_divisor) + np.asarray(lab.target_shift)

    # --- plain data ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "features": [f.to_dict() for f in self.features],
                "label": self.label.to_dict() if self.label else None, "delimiter": self.delimiter,
                "ignored": list(self.ignored)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeaturePipeline:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise DataError(f"feature pipeline: expected format {FORMAT!r}")
        feats = []
        try:
            for fd in d["features"]:
                f = ENCODERS[fd["type"]](fd["name"], dict(fd["options"]))
                f.load_state(fd["state"])
                feats.append(f)
            label = LabelSpec.from_dict(d["label"]) if d.get("label") else None
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"feature pipeline: malformed ({type(e).__name__}: {e})") from None
        return cls(feats, label, delimiter=d.get("delimiter"), ignored=list(d.get("ignored") or []))

    def inferred_yaml(self) -> str:
        """The features as a `features:` block (one line per column) a user can paste into data:."""
        import yaml

        def flow(v: Any) -> str:
            text = yaml.safe_dump(v, default_flow_style=True, width=10**6, sort_keys=False)
            return text.strip().removesuffix("...").strip()
        lines = ["features:"]
        for f in self.features:
            lines.append(f"  {flow(f.name)}: {flow(f.spec())}")
        for name in self.ignored:
            lines.append(f"  {flow(name)}: ignore")
        return "\n".join(lines) + "\n"
