"""The training-config schema: typed dataclasses, defaults, validation and cross-checks.

Validation reads the plain data produced by :mod:`nnctl.config.yaml_lines` one section at a time.
Within a mapping, unknown keys are reported before missing ones, because a typo (``unit: 3``) is
the usual reason a required key (``units``) looks missing. Every error is a ConfigError naming the
file, the YAML line and the dotted key; values that came from ``--set`` are reported against it.
Checks that need the data (shapes, label ranges) belong to the builder, which can locate its own
errors with :meth:`Config.error`.
"""

from __future__ import annotations

import abc
import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nnctl.config.model_schema import InputConfig, LayerConfig, ModelConfig, model_to_dict, read_model
from nnctl.config.overrides import SOURCE as OVERRIDE_SOURCE
from nnctl.config.overrides import Override, apply_overrides
from nnctl.config.yaml_lines import (
    describe_value,
    index_key,
    join_key,
    load_yaml,
    parent_key,
    read_text_file,
)
from nnctl.errors import ConfigError
from nnctl.layers.base import REQUIRED, layer_types
from nnctl.layers.initializers import INITIALIZERS, Initializer
from nnctl.vocab import (
    ACTIVATIONS,
    BACKENDS,
    BINARY_MISSING,
    CATEGORY_ENCODINGS,
    CATEGORY_MISSING,
    FEATURE_OPTIONS,
    FEATURE_TYPES,
    IMAGE_AUGMENTS,
    IMAGE_COLORS,
    LABEL_TYPES,
    LOSSES,
    METRICS,
    NUMERIC_MISSING,
    NUMERIC_SCALINGS,
    REGRESSION_METRICS,
    TARGET_SCALINGS,
    TEXT_ENCODINGS,
    TEXT_TOKENIZERS,
    UNKNOWN_POLICIES,
    is_metric,
    metric_mode,
    needs_classes,
)

__all__ = [
    "Config", "DataConfig", "SourceConfig", "ModelConfig", "LayerConfig", "InputConfig", "Initializer", "LossConfig",
    "OptimizerConfig", "ScheduleConfig", "TrainConfig", "EarlyStoppingConfig",
    "load_config", "parse_config_text", "config_to_dict",
    "ACTIVATIONS", "INITIALIZERS", "LAYER_TYPES", "LOSSES", "OPTIMIZERS", "SCHEDULES", "METRICS",
]

# --- vocabularies -------------------------------------------------------------------------------

SOURCE_KINDS = ("csv", "parquet", "images", "npz", "idx", "generator")
GENERATORS = ("xor", "spirals", "moons", "blobs")
PREPROCESS = ("none", "standardize", "minmax", "scale")

_REQUIRED: Any = REQUIRED

# Layer types and the keys each one takes, from the layer registry (nnctl/layers/).
LAYER_TYPES: dict[str, tuple[str, ...]] = {t: tuple(c.schema) for t, c in layer_types().items()}

# Optimizer-specific hyper-parameters with their defaults (TF1's, except where TF1 has none:
# adamw follows PyTorch's weight_decay 0.01, adagrad Keras' epsilon 1e-7).
OPTIMIZERS: dict[str, dict[str, float]] = {
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.01},
    "rmsprop": {"rho": 0.9, "momentum": 0.0, "epsilon": 1e-10},
    "adagrad": {"initial_accumulator_value": 0.1, "epsilon": 1e-7},
}

SCHEDULES: dict[str, dict[str, Any]] = {
    "constant": {},
    "step": {"step_size": 1000, "gamma": 0.1},
    "exponential": {"decay_steps": 1000, "decay_rate": 0.96, "staircase": False},
    "cosine": {"decay_steps": 1000, "alpha": 0.0},
    # PyTorch's OneCycleLR (cosine annealing): lr/div_factor -> lr over pct_start of the run, then
    # down to lr/div_factor/final_div_factor at the last step.
    "one_cycle": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 10000.0},
    # Keras' ReduceLROnPlateau: multiply lr by factor when metric has not improved by min_delta for
    # patience evaluations; wait cooldown evaluations after a reduction; never below min_lr.
    "reduce_on_plateau": {"metric": "val_loss", "factor": 0.1, "patience": 10, "cooldown": 0, "min_lr": 0.0,
                          "min_delta": 1e-4, "mode": None},
}

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_TOP_KEYS = ("name", "seed", "backend", "data", "model", "loss", "optimizer", "train", "metrics")
_DATA_KEYS = ("train", "val", "test", "val_split", "shuffle", "device", "preprocess", "scale_factor", "label_type",
              "num_classes", "class_names", "features", "target_scaling")
_SOURCE_KEYS = {"csv": ("features", "labels", "delimiter"), "parquet": ("features", "labels"),
                "images": ("labels",), "npz": ("x_key", "y_key"), "idx": (),
                "generator": ("n", "noise", "classes", "seed")}
_TRAIN_KEYS = ("steps", "epochs", "batch_size", "eval_every", "checkpoint_every", "keep_last", "log_every",
               "early_stopping", "best_metric", "best_mode", "restore_best", "tensorboard")
_EARLY_KEYS = ("metric", "patience", "mode", "min_delta")
_MAX_SEED = 2**32 - 1  # numpy's legacy seeding accepts 32-bit seeds only
# The largest sizes nnctl builds; a config asking for more is refused at its key, naming the limit,
# before anything is allocated (the memory budget, nnctl.fileio.memory_budget, bounds the whole model).
MAX_EXAMPLES = 100_000_000     # a generator's n
MAX_COLUMNS = 10_000_000       # CSV column indices
MAX_NAME_LENGTH = 128          # config and layer names: runs/<name> must fit a 255-byte file name
MAX_PARAM = 1e6                # |initializer parameter|: min, max, mean, stddev, value
MAX_L2 = 1e6
MAX_UNITS = 1_000_000          # layer sizes: dense units, conv filters, heads, state and vocabulary sizes
MAX_WINDOW = 65_536            # kernel, stride and pool sizes


# --- dataclasses ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceConfig:
    """One data source. Paths are absolute; fields that do not apply to ``kind`` are None."""

    kind: str                                   # csv | parquet | images | npz | idx | generator
    path: Path | None = None                    # csv / parquet / npz file, images folder or CSV
    features: list[str | int] | None = None     # csv columns; None: all but the labels
    labels: list[str | int] | None = None       # csv columns; None: the last column
    x_key: str | None = None                    # npz
    y_key: str | None = None                    # npz
    images: Path | None = None                  # idx
    idx_labels: Path | None = None              # idx
    generator: str | None = None                # xor | spirals | moons | blobs
    n: int | None = None
    noise: float | None = None
    classes: int | None = None                  # spirals / blobs
    seed: int | None = None                     # generator seed (defaults to the top-level seed)
    delimiter: str | None = None                # csv; None: sniffed from the first lines


@dataclass(frozen=True)
class DataConfig:
    train: SourceConfig
    val: SourceConfig | None = None
    test: SourceConfig | None = None
    val_split: float = 0.0
    shuffle: bool = True
    # keep the training split in the backend's memory and gather batches there (a no-op on host memory)
    device: bool = False
    preprocess: str = "none"
    scale_factor: float = 1.0
    label_type: str = "class"
    num_classes: int | None = None
    class_names: list[str] | None = None
    # column -> {"type": ..., option: value}: the declared input features (the rest are inferred)
    features: dict[str, dict[str, Any]] | None = None
    target_scaling: str = "none"

    @property
    def tabular(self) -> bool:
        """True when the training data is a table of typed columns (CSV, Parquet, an image folder)."""
        return self.train.kind in ("csv", "parquet", "images")


@dataclass(frozen=True)
class LossConfig:
    """``class_weights``: one weight per class (the loss is the weighted mean, as PyTorch's
    ``CrossEntropyLoss(weight=)``), ``"balanced"`` (n / (k * count of the class) on the training
    labels, as scikit-learn's), or None."""

    type: str
    l2: float = 0.0
    class_weights: list[float] | str | None = None


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule; fields that do not apply to ``type`` are None."""

    type: str = "constant"
    warmup_steps: int = 0
    step_size: int | None = None
    gamma: float | None = None
    decay_steps: int | None = None
    decay_rate: float | None = None
    staircase: bool | None = None
    alpha: float | None = None
    pct_start: float | None = None
    div_factor: float | None = None
    final_div_factor: float | None = None
    metric: str | None = None
    factor: float | None = None
    patience: int | None = None
    cooldown: int | None = None
    min_lr: float | None = None
    min_delta: float | None = None
    mode: str | None = None


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer; hyper-parameters that do not apply to ``name`` are None."""

    name: str
    lr: float
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    epsilon: float | None = None
    weight_decay: float | None = None
    rho: float | None = None
    initial_accumulator_value: float | None = None
    clip_norm: float | None = None
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    metric: str = "val_loss"
    patience: int = 10
    mode: str = "min"
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    """Exactly one of ``steps`` / ``epochs`` is set. ``batch_size`` is an int or ``"full"``."""

    steps: int | None = None
    epochs: int | None = 10
    batch_size: int | str = 32
    eval_every: int = 100
    checkpoint_every: int = 100
    keep_last: int = 3
    log_every: int = 10
    early_stopping: EarlyStoppingConfig | None = None
    # Resolved when the config is read: best_metric defaults to the early-stopping metric, else
    # val_<first metric> (None without validation data); best_mode to max for accuracy-like metrics;
    # restore_best to on exactly when early stopping is set.
    best_metric: str | None = None
    best_mode: str | None = None
    restore_best: bool = False
    tensorboard: bool = True   # write RUN_DIR/tensorboard/ event files


@dataclass(frozen=True)
class Config:
    """A validated config. Equality ignores where it was read from (file, lines, overrides)."""

    name: str
    seed: int
    backend: str
    data: DataConfig
    model: ModelConfig
    loss: LossConfig
    optimizer: OptimizerConfig
    train: TrainConfig
    metrics: list[str]
    source_path: Path | None = field(default=None, compare=False)
    base_dir: Path = field(default_factory=Path.cwd, compare=False)
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    overrides: tuple[str, ...] = field(default=(), compare=False)       # the --set texts, in order
    source: str = field(default="<string>", compare=False, repr=False)  # file name used in messages
    override_paths: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, key: str) -> int | None:
        """The YAML line of ``key`` (e.g. ``model.layers[2]``), else of its nearest written parent."""
        return _line_of(self.lines, key)

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError located at ``key``: ``raise cfg.error("model.layers[2]", "...")``."""
        return _locate(key, message, self.source, self.lines, self.override_paths)


def _line_of(lines: Mapping[str, int], key: str) -> int | None:
    k: str | None = key
    while k is not None:
        if k in lines:
            return lines[k]
        k = parent_key(k)
    return None


def _locate(key: str, message: str, source: str, lines: Mapping[str, int],
            overrides: Mapping[str, str]) -> ConfigError:
    """A ConfigError at ``key``: in the file, or against --set when an override put the value there."""
    for path, text in overrides.items():
        inside = key == path or key.startswith(path + ".") or key.startswith(path + "[")
        # A section the file never had was created by the override that runs through it.
        created = key not in lines and (path.startswith(key + ".") or path.startswith(key + "["))
        if inside or created:
            return ConfigError(f"{message} (from --set {text})", file=OVERRIDE_SOURCE, key=key or None)
    return ConfigError(message, file=source, line=_line_of(lines, key), key=key or None)


# --- readers -------------------------------------------------------------------------------------

class _V:
    """Validation context: where errors point to, and where relative paths start."""

    def __init__(self, source: str, lines: Mapping[str, int], base_dir: Path,
                 overrides: Sequence[Override]) -> None:
        self.source, self.lines, self.base_dir = source, lines, base_dir
        self.overrides = {ov.path: ov.text for ov in overrides}
        self.check_files = True  # False when a run dir holds its own copy of the data

    def error(self, key: str, message: str) -> ConfigError:
        return _locate(key, message, self.source, self.lines, self.overrides)

    def from_override(self, key: str) -> bool:
        return any(key == p or key.startswith(p + ".") or key.startswith(p + "[") for p in self.overrides)


def _fmt(x: float) -> str:
    return repr(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


class _Reader(abc.ABC):
    expected = "a value"

    @abc.abstractmethod
    def __call__(self, v: _V, value: Any, key: str) -> Any:
        """Check and convert ``value`` found at ``key``."""

    def bad(self, v: _V, value: Any, key: str, hint: str = "") -> ConfigError:
        return v.error(key, f"expected {self.expected}, got {describe_value(value)}{hint}")


class _Int(_Reader):
    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi
        self.expected = ("an integer" + (f" >= {lo}" if lo is not None and hi is None else "")
                         + (f" in [{lo}, {hi}]" if lo is not None and hi is not None else ""))

    def __call__(self, v: _V, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                hint = f" (write {int(value)})"
            elif isinstance(value, str) and _number(value) is not None:
                hint = " (write a plain integer, without quotes or exponent)"
            raise self.bad(v, value, key, hint)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise v.error(key, f"out of range: expected {self.expected}, got {value}")
        return value


def _number(value: Any) -> float | None:
    """A float from an int, float or numeric string ("1e-3", which YAML 1.1 leaves a string; "1/16")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    if isinstance(value, str):
        text = value.strip()
        num, slash, den = text.partition("/")
        try:
            if slash:
                d = float(den)
                return float(num) / d if d != 0 else None
            return float(text)
        except (ValueError, OverflowError):
            return None
    return None


class _Float(_Reader):
    def __init__(self, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                 hi_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        if lo is not None and hi is not None:
            self.expected = (f"a number in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}"
                             f"{')' if hi_open else ']'}")
        elif lo is not None:
            self.expected = f"a number {'>' if lo_open else '>='} {_fmt(lo)}"
        else:
            self.expected = "a number"

    def __call__(self, v: _V, value: Any, key: str) -> float:
        x = _number(value)
        if x is None:
            raise self.bad(v, value, key)
        if not math.isfinite(x):
            raise v.error(key, f"expected {self.expected}, got {describe_value(value)} (not finite)")
        ok = True
        if self.lo is not None:
            ok = x > self.lo if self.lo_open else x >= self.lo
        if ok and self.hi is not None:
            ok = x < self.hi if self.hi_open else x <= self.hi
        if not ok:
            raise v.error(key, f"out of range: expected {self.expected}, got {_fmt(x)}")
        return x


class _Bool(_Reader):
    expected = "true or false"

    def __call__(self, v: _V, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.bad(v, value, key)
        return value


class _Choice(_Reader):
    """One of a fixed set of names; case-insensitive (``SAME`` is ``same``), stored lower-case."""

    def __init__(self, choices: Iterable[str], what: str = "") -> None:
        self.choices = tuple(choices)
        self.what = what
        self.expected = "one of " + ", ".join(self.choices)

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.bad(v, value, key)
        text = value.strip().lower()
        if text in self.choices:
            return text
        close = difflib.get_close_matches(text, self.choices, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = f"{self.what} " if self.what else ""
        raise v.error(key, f"unknown {what}{value!r}: expected {self.expected}{hint}")


class _Name(_Reader):
    expected = "a name made of letters, digits, '_', '.' and '-'"

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.bad(v, value, key)
        # Names become folder and graph-scope names: no spaces, slashes, or '.'/'..'.
        if not _NAME_RE.fullmatch(value) or set(value) == {"."}:
            raise v.error(key, f"invalid name {value!r}: expected {self.expected}")
        if len(value) > MAX_NAME_LENGTH:
            raise v.error(key, f"name is {len(value)} characters long; at most {MAX_NAME_LENGTH} (it becomes the "
                               "run directory's name)")
        return value


class _Str(_Reader):
    expected = "a non-empty string"

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.bad(v, value, key)
        return value


class _Nullable(_Reader):
    def __init__(self, inner: _Reader) -> None:
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def __call__(self, v: _V, value: Any, key: str) -> Any:
        if value is None:
            return None
        try:
            return self.inner(v, value, key)
        except ConfigError as e:
            prefix = f"expected {self.inner.expected}, "
            if not e.message.startswith(prefix):
                raise
            # Say that null is allowed too, since that is often the fix.
            raise ConfigError(f"expected {self.expected}, {e.message[len(prefix):]}", file=e.file,
                              line=e.line, key=e.key) from None


class _Pair(_Reader):
    """An int (square) or [h, w], each >= 1: kernel, stride and pool sizes."""

    expected = "an integer >= 1 or a list [height, width] of them"

    def __call__(self, v: _V, value: Any, key: str) -> tuple[int, int]:
        item = _Int(1, MAX_WINDOW)
        if isinstance(value, list):
            if len(value) != 2:
                raise self.bad(v, value, key)
            return item(v, value[0], index_key(key, 0)), item(v, value[1], index_key(key, 1))
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(v, value, key)
        n = item(v, value, key)
        return n, n


class _ColumnList(_Reader):
    """CSV columns: names or integer indices. A single name is accepted as a one-item list."""

    expected = "a list of column names or integer indices"

    def __call__(self, v: _V, value: Any, key: str) -> list[str | int]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise v.error(key, f"expected {self.expected}, got an empty list")
        out: list[str | int] = []
        seen: set[str | int] = set()  # a set: 100,000 columns must not take n**2 comparisons
        for i, item in enumerate(items):
            ikey = index_key(key, i) if isinstance(value, list) else key
            if isinstance(item, bool) or not isinstance(item, (str, int)) or item == "":
                raise v.error(ikey, f"expected a column name or integer index, got {describe_value(item)}")
            if isinstance(item, int) and not -MAX_COLUMNS <= item < MAX_COLUMNS:
                raise v.error(ikey, f"column index {item} is out of range (at most {MAX_COLUMNS:,} columns)")
            if item in seen:
                raise v.error(ikey, f"column {item!r} is listed twice")
            seen.add(item)
            out.append(item)
        return out


def _section(v: _V, value: Any, key: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise v.error(key, f"expected {what}, got {describe_value(value)}")
    return value


def _check_keys(v: _V, m: Mapping[str, Any], path: str, allowed: Sequence[str], *, owner: str = "",
                elsewhere: Mapping[str, str] | None = None) -> None:
    """Reject keys not in ``allowed``; ``elsewhere`` maps keys valid in other variants to who uses them."""
    for key in m:
        if key in allowed:
            continue
        k = join_key(path, key)
        if elsewhere and key in elsewhere:
            raise v.error(k, f"{key!r} does not apply to {owner} (it is used by {elsewhere[key]})")
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) or \
            difflib.get_close_matches(key.lower(), allowed, n=1, cutoff=0.6)
        # repr: a key may hold quotes or control characters that should not reach the terminal raw.
        if close:
            raise v.error(k, f"unknown key {key!r}; did you mean '{close[0]}'?")
        raise v.error(k, f"unknown key {key!r}; valid keys here: {', '.join(allowed)}")


def _get(v: _V, m: Mapping[str, Any], path: str, key: str, reader: _Reader, default: Any = _REQUIRED) -> Any:
    k = join_key(path, key)
    if key not in m:
        if default is _REQUIRED:
            raise v.error(k, f"missing required key '{key}' ({reader.expected})")
        return default
    return reader(v, m[key], k)


def _users(table: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """{key: "a, b"}: which variants (layer types, optimizers, ...) use each key."""
    out: dict[str, list[str]] = {}
    for variant, keys in table.items():
        for key in keys:
            out.setdefault(key, []).append(variant)
    return {k: ", ".join(vs) for k, vs in out.items()}


# --- sections ------------------------------------------------------------------------------------

def _no_nul(v: _V, value: str, key: str) -> None:
    """No file system takes a NUL in a path (os.path.realpath raises ValueError on one)."""
    if "\0" in value:
        raise v.error(key, f"a path cannot contain a NUL character, got {describe_value(value)}")


def _path(v: _V, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise v.error(key, f"expected a file path, got {describe_value(value)}")
    _no_nul(v, value, key)
    given = Path(value).expanduser()
    p = (given if given.is_absolute() else v.base_dir / given).resolve()
    if not v.check_files:
        return p
    if not p.exists():
        hint = "" if given.is_absolute() else f" (relative paths start at the config's folder {v.base_dir})"
        raise v.error(key, f"file not found: {p}{hint}")
    if p.is_dir():
        raise v.error(key, f"expected a file, found a directory: {p}")
    return p


def _existing(v: _V, value: Any, key: str) -> Path:
    """A file or a folder that exists."""
    if not isinstance(value, str) or not value.strip():
        raise v.error(key, f"expected a folder or file path, got {describe_value(value)}")
    _no_nul(v, value, key)
    given = Path(value).expanduser()
    p = (given if given.is_absolute() else v.base_dir / given).resolve()
    if not p.exists() and v.check_files:
        hint = "" if given.is_absolute() else f" (relative paths start at the config's folder {v.base_dir})"
        raise v.error(key, f"not found: {p}{hint}")
    return p


class _Delimiter(_Reader):
    expected = "one character (',', ';', '|', 'tab' or '\\t')"

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if isinstance(value, str) and value.lower() in ("tab", "\\t"):
            return "\t"
        if not isinstance(value, str) or len(value) != 1 or value in ('"', "\n", "\r"):
            raise self.bad(v, value, key)
        return value


def _source(v: _V, value: Any, path: str, default_seed: int) -> SourceConfig:
    m = _section(v, value, path, "a data source: a mapping with one of csv, npz, idx, generator")
    kinds = [k for k in SOURCE_KINDS if k in m]
    every = SOURCE_KINDS + tuple(k for keys in _SOURCE_KEYS.values() for k in keys)
    if not kinds:
        _check_keys(v, m, path, every)
        raise v.error(path, "a data source needs one of csv, npz, idx, generator")
    if len(kinds) > 1:
        second = max(kinds[:2], key=lambda k: (v.from_override(join_key(path, k)),
                                               v.lines.get(join_key(path, k), 0)))
        raise v.error(join_key(path, second), f"'{kinds[0]}' and '{kinds[1]}' are mutually exclusive: "
                                              "a data source reads from exactly one of csv, npz, idx, "
                                              "generator")
    kind = kinds[0]
    others = {k: f"{kk} sources" for kk, keys in _SOURCE_KEYS.items() if kk != kind for k in keys
              if k not in _SOURCE_KEYS[kind]}
    _check_keys(v, m, path, (kind, *_SOURCE_KEYS[kind]), owner=f"a {kind} source", elsewhere=others)
    k = join_key(path, kind)
    if kind in ("csv", "parquet"):
        features = _get(v, m, path, "features", _Nullable(_ColumnList()), None)
        labels = _get(v, m, path, "labels", _Nullable(_ColumnList()), None)
        if features and labels:
            label_set = set(labels)
            both = [c for c in features if c in label_set]
            if both:
                raise v.error(join_key(path, "labels"), f"column {both[0]!r} is both a feature and a label")
        return SourceConfig(kind, path=_path(v, m[kind], k), features=features, labels=labels,
                            delimiter=_get(v, m, path, "delimiter", _Nullable(_Delimiter()), None))
    if kind == "images":
        labels = _get(v, m, path, "labels", _Nullable(_ColumnList()), None)
        return SourceConfig(kind, path=_existing(v, m[kind], k), labels=labels)
    if kind == "npz":
        return SourceConfig(kind, path=_path(v, m[kind], k), x_key=_get(v, m, path, "x_key", _Str(), "x"),
                            y_key=_get(v, m, path, "y_key", _Str(), "y"))
    if kind == "idx":
        idx = _section(v, m[kind], k, "a mapping {images: <file>, labels: <file>}")
        _check_keys(v, idx, k, ("images", "labels"))
        for part in ("images", "labels"):
            if part not in idx:
                raise v.error(join_key(k, part), f"missing required key '{part}' (an IDX file path)")
        return SourceConfig(kind, images=_path(v, idx["images"], join_key(k, "images")),
                            idx_labels=_path(v, idx["labels"], join_key(k, "labels")))
    gen = _Choice(GENERATORS, "generator")(v, m[kind], k)
    classes = None
    if gen in ("spirals", "blobs"):
        classes = _get(v, m, path, "classes", _Int(2), 2)
    elif "classes" in m:
        raise v.error(join_key(path, "classes"),
                      f"'classes' does not apply to generator '{gen}' (it always makes 2 classes)")
    return SourceConfig(kind, generator=gen, n=_get(v, m, path, "n", _Int(1, MAX_EXAMPLES), 1000),
                        noise=_get(v, m, path, "noise", _Float(0.0), 0.1), classes=classes,
                        seed=_get(v, m, path, "seed", _Int(0, _MAX_SEED), default_seed))


def _data(v: _V, value: Any, seed: int) -> DataConfig:
    m = _section(v, value, "data", "a mapping with train: and optional val:, test:, ...")
    _check_keys(v, m, "data", _DATA_KEYS)
    if "train" not in m:
        raise v.error("data.train", "missing required key 'train' (a data source)")
    train = _source(v, m["train"], "data.train", seed)
    val = None if m.get("val") is None else _source(v, m["val"], "data.val", seed)
    test = None if m.get("test") is None else _source(v, m["test"], "data.test", seed)
    val_split = _get(v, m, "data", "val_split", _Float(0.0, 1.0, hi_open=True), 0.0)
    if val is not None and val_split > 0:
        raise v.error("data.val_split", "'val_split' and 'val' are mutually exclusive: val_split holds out "
                                        "part of train only when there is no val source")
    # Tables standardize their numeric columns unless told otherwise (as Ludwig's zscore default):
    # raw units such as grams next to millimetres slow every optimizer down.
    preprocess = _get(v, m, "data", "preprocess", _Choice(PREPROCESS, "preprocess"),
                      "standardize" if train.kind in ("csv", "parquet") else "none")
    if "scale_factor" in m and preprocess != "scale":
        raise v.error("data.scale_factor", f"'scale_factor' applies only with preprocess: scale "
                                           f"(preprocess is '{preprocess}')")
    scale = _get(v, m, "data", "scale_factor", _Float(0.0, lo_open=True), 1.0)
    label_type = _get(v, m, "data", "label_type", _Choice(LABEL_TYPES, "label_type"), "class")
    if label_type == "real":
        for key in ("num_classes", "class_names"):
            if m.get(key) is not None:
                raise v.error(join_key("data", key), f"'{key}' does not apply to label_type 'real' "
                                                     "(regression targets have no classes)")
    num_classes = _get(v, m, "data", "num_classes", _Nullable(_Int(2)), None)
    class_names = None
    if m.get("class_names") is not None:
        raw = m["class_names"]
        key = "data.class_names"
        if not isinstance(raw, list):
            raise v.error(key, f"expected a list of class names, got {describe_value(raw)}")
        class_names = []
        seen_names: set[str] = set()  # a set: 100,000 names must not take n**2 comparisons
        for i, name in enumerate(raw):
            # Numbers are fine as class names ("0".."9" for digits) but are kept as text.
            if isinstance(name, bool) or not isinstance(name, (str, int, float)) or str(name) == "":
                raise v.error(index_key(key, i), f"expected a class name, got {describe_value(name)}")
            if str(name) in seen_names:
                raise v.error(index_key(key, i), f"class name {str(name)!r} is listed twice")
            seen_names.add(str(name))
            class_names.append(str(name))
        if num_classes is None:
            if len(class_names) < 2:
                raise v.error(key, f"expected at least 2 class names, got {len(class_names)}")
            num_classes = len(class_names)
        elif len(class_names) != num_classes:
            raise v.error(key, f"{len(class_names)} class names for num_classes {num_classes}")
    features = None
    if m.get("features") is not None:
        features = _features(v, m["features"], "data.features")
    target_scaling = _get(v, m, "data", "target_scaling", _Choice(TARGET_SCALINGS, "target_scaling"), "none")
    if target_scaling != "none" and label_type != "real":
        raise v.error("data.target_scaling", "target_scaling applies to regression targets (label_type: real)")
    if features is not None and train.kind not in ("csv", "parquet", "images"):
        raise v.error("data.features", f"per-column features apply to csv, parquet and images sources, not "
                                       f"{train.kind}")
    return DataConfig(train=train, val=val, test=test, val_split=val_split,
                      shuffle=_get(v, m, "data", "shuffle", _Bool(), True),
                      device=_get(v, m, "data", "device", _Bool(), False), preprocess=preprocess,
                      scale_factor=scale, label_type=label_type, num_classes=num_classes,
                      class_names=class_names, features=features, target_scaling=target_scaling)


class _Clip(_Reader):
    expected = "a list [low, high] of numbers with low < high, or null"

    def __call__(self, v: _V, value: Any, key: str) -> list[float] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) != 2:
            raise self.bad(v, value, key)
        lo, hi = (_Float()(v, value[i], index_key(key, i)) for i in range(2))
        if not lo < hi:
            raise v.error(key, f"clip needs low < high, got [{_fmt(lo)}, {_fmt(hi)}]")
        return [lo, hi]


class _Text(_Reader):
    """A cell value: a string, or a number/boolean written unquoted in YAML (kept as its text)."""

    expected = "a value (text or number)"

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float, str)) and str(value) != "":
            return str(value)
        raise self.bad(v, value, key)


class _Regex(_Str):
    def __call__(self, v: _V, value: Any, key: str) -> str:
        text = super().__call__(v, value, key)
        try:
            re.compile(text)
        except re.error as e:
            raise v.error(key, f"invalid regular expression {text!r}: {e}") from None
        return text


_FEATURE_READERS: dict[str, dict[str, _Reader]] = {
    "numeric": {"missing": _Choice(NUMERIC_MISSING, "missing strategy"), "fill": _Float(),
                "missing_indicator": _Bool(), "scaling": _Choice(NUMERIC_SCALINGS, "scaling"), "clip": _Clip()},
    "category": {"encoding": _Choice(CATEGORY_ENCODINGS, "encoding"), "min_count": _Int(1),
                 "max_size": _Nullable(_Int(1)), "unknown": _Choice(UNKNOWN_POLICIES, "unknown policy"),
                 "missing": _Choice(CATEGORY_MISSING, "missing strategy"), "fill": _Text()},
    "binary": {"positive": _Text(), "missing": _Choice(BINARY_MISSING, "missing strategy"), "fill": _Text()},
    "text": {"tokenizer": _Choice(TEXT_TOKENIZERS, "tokenizer"), "pattern": _Regex(), "lowercase": _Bool(),
             "max_length": _Int(1), "min_count": _Int(1), "max_size": _Int(1),
             "encoding": _Choice(TEXT_ENCODINGS, "encoding"), "unknown": _Choice(("bucket",), "unknown policy")},
    "image": {"size": _Pair(), "color": _Choice(IMAGE_COLORS, "color"), "scale": _Float(0.0, lo_open=True)},
    "ignore": {},
}
assert all(set(FEATURE_OPTIONS[t]) - {"augment"} == set(r) for t, r in _FEATURE_READERS.items())


def _augment(v: _V, value: Any, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    m = _section(v, value, key, "a mapping {crop: pixels, flip: true, rotate: degrees}")
    _check_keys(v, m, key, IMAGE_AUGMENTS)
    return {"crop": _get(v, m, key, "crop", _Int(0, 64), 0), "flip": _get(v, m, key, "flip", _Bool(), False),
            "rotate": _get(v, m, key, "rotate", _Float(0.0, 180.0), 0.0)}


def _feature(v: _V, value: Any, key: str, name: str) -> dict[str, Any]:
    m = {"type": value} if isinstance(value, str) else _section(
        v, value, key, f"a feature type ({', '.join(FEATURE_TYPES)}) or a mapping with type:")
    if "type" not in m:
        raise v.error(key, f"missing required key 'type' (one of {', '.join(FEATURE_TYPES)})")
    tkey = key if isinstance(value, str) else join_key(key, "type")
    kind = _Choice(FEATURE_TYPES, "feature type")(v, m["type"], tkey)
    _check_keys(v, m, key, ("type", "name", *FEATURE_OPTIONS[kind]), owner=f"a {kind} feature",
                elsewhere=_users({t: ks for t, ks in FEATURE_OPTIONS.items() if t != kind}))
    out: dict[str, Any] = {"type": kind}
    for opt in FEATURE_OPTIONS[kind]:
        if opt not in m:
            continue
        okey = join_key(key, opt)
        out[opt] = _augment(v, m[opt], okey) if opt == "augment" else _FEATURE_READERS[kind][opt](v, m[opt], okey)
        if isinstance(out[opt], tuple):
            out[opt] = list(out[opt])
    if kind == "numeric" and out.get("missing") != "constant" and "fill" in out:
        raise v.error(join_key(key, "fill"), "'fill' applies with missing: constant")
    return out


def _features(v: _V, value: Any, key: str) -> dict[str, dict[str, Any]]:
    """data.features: {column: type-or-mapping} or a list of mappings with name: (Ludwig's form)."""
    out: dict[str, dict[str, Any]] = {}
    if isinstance(value, list):
        for i, item in enumerate(value):
            ikey = index_key(key, i)
            m = _section(v, item, ikey, "a mapping with name: and type:")
            if "name" not in m:
                raise v.error(ikey, "missing required key 'name' (the column name)")
            name = _Text()(v, m["name"], join_key(ikey, "name"))
            if name in out:
                raise v.error(join_key(ikey, "name"), f"column {name!r} is listed twice")
            out[name] = _feature(v, m, ikey, name)
        return out
    m = _section(v, value, key, "a mapping {column: type or {type: ..., options}} or a list of features")
    for name, spec in m.items():
        out[str(name)] = _feature(v, spec, join_key(key, str(name)), str(name))
    return out


def _initializer(v: _V, value: Any, key: str) -> Initializer:
    names = _Choice(INITIALIZERS, "initializer")
    if isinstance(value, str):
        name = names(v, value, key)
        if INITIALIZERS[name].get("value") is _REQUIRED:
            raise v.error(key, f"initializer '{name}' needs a value: write {{name: {name}, value: 0.1}}")
        return Initializer(name, dict(INITIALIZERS[name]))
    if not isinstance(value, dict):
        raise v.error(key, f"expected an initializer name or a mapping {{name: ..., ...}}, "
                           f"got {describe_value(value)}")
    every = ("name", *sorted({p for ps in INITIALIZERS.values() for p in ps}))
    if "name" not in value:
        _check_keys(v, value, key, every)
        raise v.error(join_key(key, "name"), f"missing required key 'name' ({names.expected})")
    name = names(v, value["name"], join_key(key, "name"))
    spec = INITIALIZERS[name]
    _check_keys(v, value, key, ("name", *spec), owner=f"initializer '{name}'",
                elsewhere=_users({n: ps for n, ps in INITIALIZERS.items() if n != name}))
    params: dict[str, float] = {}
    for p, default in spec.items():
        # bounded: a range over the whole float range overflows (max - min = inf) while sampling
        reader = _Float(0.0, MAX_PARAM, lo_open=True) if p == "stddev" else _Float(-MAX_PARAM, MAX_PARAM)
        params[p] = _get(v, value, key, p, reader, default)
    if name == "uniform" and not params["min"] < params["max"]:
        bad = "max" if "max" in value else "min"
        raise v.error(join_key(key, bad), f"uniform needs min < max, got min {_fmt(params['min'])}, "
                                          f"max {_fmt(params['max'])}")
    return Initializer(name, params)


class _InitReader(_Reader):
    expected = "an initializer name or mapping"

    def __call__(self, v: _V, value: Any, key: str) -> Initializer:
        return _initializer(v, value, key)


def _loss(v: _V, value: Any) -> LossConfig:
    # `loss: mse` is shorthand for `loss: {type: mse}`.
    m = {"type": value} if isinstance(value, str) else _section(v, value, "loss", "a mapping with type:")
    _check_keys(v, m, "loss", ("type", "l2", "class_weights"))
    return LossConfig(type=_get(v, m, "loss", "type", _Choice(LOSSES, "loss")),
                      l2=_get(v, m, "loss", "l2", _Float(0.0, MAX_L2), 0.0),
                      class_weights=_class_weights(v, m.get("class_weights")))


def _class_weights(v: _V, value: Any) -> list[float] | str | None:
    key = "loss.class_weights"
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "balanced":
            return "balanced"
        raise v.error(key, f"expected 'balanced' or a list of weights (one per class), got {describe_value(value)}")
    if not isinstance(value, list) or len(value) < 2:
        raise v.error(key, f"expected 'balanced' or a list of weights (one per class), got {describe_value(value)}")
    return [_Float(0.0, lo_open=True)(v, w, index_key(key, i)) for i, w in enumerate(value)]


_HYPER_READERS: dict[str, _Reader] = {
    "momentum": _Float(0.0, 1.0, hi_open=True),
    "beta1": _Float(0.0, 1.0, hi_open=True),
    "beta2": _Float(0.0, 1.0, hi_open=True),
    "epsilon": _Float(0.0, lo_open=True),
    "weight_decay": _Float(0.0),
    "rho": _Float(0.0, 1.0, lo_open=True, hi_open=True),
    "initial_accumulator_value": _Float(0.0, lo_open=True),
}
_SCHEDULE_READERS: dict[str, _Reader] = {
    "step_size": _Int(1), "gamma": _Float(0.0, 1.0, lo_open=True), "decay_steps": _Int(1),
    "decay_rate": _Float(0.0, 1.0, lo_open=True), "staircase": _Bool(), "alpha": _Float(0.0, 1.0),
    "pct_start": _Float(0.0, 1.0, lo_open=True, hi_open=True), "div_factor": _Float(1.0),
    "final_div_factor": _Float(1.0), "metric": _Str(), "factor": _Float(0.0, 1.0, lo_open=True, hi_open=True),
    "patience": _Int(1), "cooldown": _Int(0), "min_lr": _Float(0.0), "min_delta": _Float(0.0),
    "mode": _Nullable(_Choice(("min", "max"), "mode")),
}


def _schedule(v: _V, value: Any) -> ScheduleConfig:
    path = "optimizer.schedule"
    if value is None:
        return ScheduleConfig()
    m = {"type": value} if isinstance(value, str) else _section(
        v, value, path, "a mapping with type: " + ", ".join(SCHEDULES))
    kind = _get(v, m, path, "type", _Choice(SCHEDULES, "schedule"), "constant")
    _check_keys(v, m, path, ("type", "warmup_steps", *SCHEDULES[kind]), owner=f"schedule '{kind}'",
                elsewhere=_users({s: ks for s, ks in SCHEDULES.items() if s != kind}))
    f = {k: _get(v, m, path, k, _SCHEDULE_READERS[k], d) for k, d in SCHEDULES[kind].items()}
    if kind == "reduce_on_plateau":
        f["metric"] = f["metric"].strip()
        f["mode"] = f["mode"] or metric_mode(f["metric"])
    return ScheduleConfig(type=kind, warmup_steps=_get(v, m, path, "warmup_steps", _Int(0), 0), **f)


def _optimizer(v: _V, value: Any) -> OptimizerConfig:
    path = "optimizer"
    m = _section(v, value, path, "a mapping with name: and lr:")
    common = ("name", "lr", "clip_norm", "schedule")
    if "name" not in m:
        _check_keys(v, m, path, (*common, *_HYPER_READERS))
        raise v.error("optimizer.name", f"missing required key 'name' (one of {', '.join(OPTIMIZERS)})")
    name = _Choice(OPTIMIZERS, "optimizer")(v, m["name"], "optimizer.name")
    _check_keys(v, m, path, (*common, *OPTIMIZERS[name]), owner=f"optimizer '{name}'",
                elsewhere=_users({o: ks for o, ks in OPTIMIZERS.items() if o != name}))
    lr = _get(v, m, path, "lr", _Float(0.0, lo_open=True))
    hyper = {k: _get(v, m, path, k, _HYPER_READERS[k], d) for k, d in OPTIMIZERS[name].items()}
    return OptimizerConfig(name=name, lr=lr, clip_norm=_get(v, m, path, "clip_norm",
                                                            _Nullable(_Float(0.0, lo_open=True)), None),
                           schedule=_schedule(v, m.get("schedule")), **hyper)


class _BatchSize(_Reader):
    expected = "an integer >= 1 or 'full'"

    def __call__(self, v: _V, value: Any, key: str) -> int | str:
        if isinstance(value, str) and value.strip().lower() == "full":
            return "full"
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.bad(v, value, key)
        if value < 1:
            raise v.error(key, f"out of range: expected {self.expected}, got {value}")
        return value


def _train(v: _V, value: Any) -> TrainConfig:
    path = "train"
    m = {} if value is None else _section(v, value, path, "a mapping (steps:, batch_size:, ...)")
    _check_keys(v, m, path, _TRAIN_KEYS)
    steps = _get(v, m, path, "steps", _Nullable(_Int(1)), None)
    epochs = _get(v, m, path, "epochs", _Nullable(_Int(1)), None)
    if steps is not None and epochs is not None:
        second = max(("train.steps", "train.epochs"), key=lambda k: (v.from_override(k), v.lines.get(k, 0)))
        raise v.error(second, "'steps' and 'epochs' are mutually exclusive: set one (train length in "
                              "optimizer steps, or in passes over the training set)")
    if steps is None and epochs is None:
        epochs = 10
    early = None
    if m.get("early_stopping") is not None:
        ep = "train.early_stopping"
        e = _section(v, m["early_stopping"], ep, "a mapping {metric:, patience:, mode:, min_delta:} or null")
        _check_keys(v, e, ep, _EARLY_KEYS)
        metric = _get(v, e, ep, "metric", _Str(), "val_loss").strip()
        default_mode = metric_mode(metric)
        mode = _get(v, e, ep, "mode", _Choice(("min", "max"), "mode"), default_mode)
        early = EarlyStoppingConfig(metric=metric, patience=_get(v, e, ep, "patience", _Int(1), 10),
                                    mode=mode,
                                    min_delta=_get(v, e, ep, "min_delta", _Float(0.0), 0.0))
    best_metric = _get(v, m, path, "best_metric", _Nullable(_Str()), None)
    best_metric = best_metric.strip() if best_metric else None
    best_mode = _get(v, m, path, "best_mode", _Nullable(_Choice(("min", "max"), "mode")), None)
    return TrainConfig(steps=steps, epochs=epochs, best_metric=best_metric, best_mode=best_mode,
                       restore_best=_get(v, m, path, "restore_best", _Nullable(_Bool()), None),  # type: ignore
                       tensorboard=_get(v, m, path, "tensorboard", _Bool(), True),
                       batch_size=_get(v, m, path, "batch_size", _BatchSize(), 32),
                       eval_every=_get(v, m, path, "eval_every", _Int(1), 100),
                       checkpoint_every=_get(v, m, path, "checkpoint_every", _Int(1), 100),
                       keep_last=_get(v, m, path, "keep_last", _Int(1), 3),
                       log_every=_get(v, m, path, "log_every", _Int(1), 10), early_stopping=early)


def _metrics(v: _V, value: Any, label_type: str) -> list[str]:
    if value is None:
        return ["mse"] if label_type == "real" else ["accuracy"]
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for i, item in enumerate(items):
        key = index_key("metrics", i) if isinstance(value, list) else "metrics"
        name = _MetricName()(v, item, key)
        if name in out:
            raise v.error(key, f"metric '{name}' is listed twice")
        out.append(name)
    return out


class _MetricName(_Reader):
    expected = "one of " + ", ".join(METRICS) + " or top_<k>_accuracy"

    def __call__(self, v: _V, value: Any, key: str) -> str:
        if isinstance(value, str) and is_metric(value.strip().lower()):
            return value.strip().lower()
        return _Choice(METRICS, "metric")(v, value, key)


def _output_width(model: ModelConfig) -> LayerConfig | None:
    """The dense layer that fixes the output width, when no later layer can change it."""
    layer = model.layer(model.output)
    while layer is not None:
        if layer.type == "dense":
            return layer
        if layer.type not in ("activation", "dropout", "batch_norm", "layer_norm", "flatten") or \
                len(layer.inputs) != 1:
            return None
        layer = model.layer(layer.inputs[0])
    return None


def _cross_checks(v: _V, cfg: Config, raw: Mapping[str, Any]) -> None:
    d, loss = cfg.data, cfg.loss
    if loss.type == "cross_entropy" and d.label_type == "real":
        raise v.error("loss.type", "cross_entropy needs class labels (data.label_type: class or onehot), "
                                   "got label_type 'real'; for regression use mse or sum_squares")
    for i, m in enumerate(cfg.metrics):
        key = index_key("metrics", i) if isinstance(raw.get("metrics"), list) else "metrics"
        if needs_classes(m) and d.label_type == "real":
            raise v.error(key, f"'{m}' needs class labels, but data.label_type is 'real'; use mse, mae, "
                               + ", ".join(REGRESSION_METRICS))
        if m in REGRESSION_METRICS and d.label_type != "real":
            raise v.error(key, f"'{m}' is a regression metric, but data.label_type is '{d.label_type}'")
    cw = loss.class_weights
    if cw is not None and d.label_type == "real":
        raise v.error("loss.class_weights", "class weights need class labels, but data.label_type is 'real'")
    if isinstance(cw, list) and d.num_classes is not None and len(cw) != d.num_classes:
        raise v.error("loss.class_weights", f"{len(cw)} class weights for data.num_classes {d.num_classes}")
    t = cfg.train
    has_val = d.val is not None or d.val_split > 0
    watch = [*(["val_loss", *(f"val_{m}" for m in cfg.metrics)] if has_val else []),
             "train_loss", *(f"train_{m}" for m in cfg.metrics)]
    sched = cfg.optimizer.schedule
    for key, metric in (("train.best_metric", t.best_metric),
                        ("optimizer.schedule.metric", sched.metric if sched.type == "reduce_on_plateau" else None)):
        if metric is not None and metric not in watch:
            close = difflib.get_close_matches(metric, watch, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise v.error(key, f"unknown metric {metric!r}: expected one of {', '.join(watch)} (a split prefix + "
                               f"loss or a configured metric){hint}")
    out = _output_width(cfg.model)
    if out is not None:
        units, where = out.units, join_key(out.key, "units")
        if loss.type == "cross_entropy" and units == 1:
            raise v.error("loss.type", f"cross_entropy (softmax) needs one output per class, but {where} "
                                       "is 1; a single-output binary classifier uses binary_cross_entropy")
        if loss.type == "binary_cross_entropy" and units != 1 and not (
                d.label_type == "class" and d.num_classes == 2):
            raise v.error("loss.type", f"binary_cross_entropy needs a single output unit ({where} is "
                                       f"{units}) or label_type class with num_classes 2")
        if d.label_type != "real" and d.num_classes is not None:
            if d.label_type == "onehot" and units != d.num_classes:
                raise v.error(where, f"the output layer has {units} units but data.num_classes is "
                                     f"{d.num_classes}")
            if d.label_type == "class" and units not in (1, d.num_classes):
                raise v.error(where, f"the output layer has {units} units but data.num_classes is "
                                     f"{d.num_classes}")
            if d.label_type == "class" and units == 1 and d.num_classes != 2:
                raise v.error(where, f"a single output unit is a binary classifier (thresholded at 0.5), "
                                     f"but data.num_classes is {d.num_classes}")
    es = cfg.train.early_stopping
    if es is not None:
        ep = "train.early_stopping"
        if d.val is None and d.val_split == 0:
            raise v.error(ep, "early stopping watches validation data: set data.val or data.val_split > 0")
        watchable = ["val_loss", *(f"val_{m}" for m in cfg.metrics)]
        if es.metric not in watchable:
            close = difflib.get_close_matches(es.metric, watchable, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise v.error(join_key(ep, "metric"), f"unknown metric {es.metric!r}: expected one of "
                                                  f"{', '.join(watchable)} (val_ + a configured metric)"
                                                  f"{hint}")


# --- entry points --------------------------------------------------------------------------------

def _build(data: Any, lines: dict[str, int], *, source: str, source_path: Path | None, base_dir: Path,
           overrides: Iterable[str], check_files: bool = True) -> Config:
    if data is None:
        raise ConfigError("the config is empty; expected a mapping with name:, data:, model:, loss:, "
                          "optimizer:", file=source, line=1)
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping of keys (name:, data:, model:, ...), got "
                          f"{describe_value(data)}", file=source, line=lines.get("", 1))
    applied = apply_overrides(data, lines, overrides)
    v = _V(source, lines, base_dir, applied)
    v.check_files = check_files
    _check_keys(v, data, "", _TOP_KEYS)
    name = _get(v, data, "", "name", _Name())
    seed = _get(v, data, "", "seed", _Int(0, _MAX_SEED), 0)
    backend = _get(v, data, "", "backend", _Choice(BACKENDS, "backend"), "numpy")
    for key in ("data", "model", "loss", "optimizer"):
        if key not in data:
            raise v.error(key, f"missing required section '{key}'")
    dc = _data(v, data["data"], seed)
    cfg = Config(name=name, seed=seed, backend=backend, data=dc, model=read_model(v, data["model"]),
                 loss=_loss(v, data["loss"]), optimizer=_optimizer(v, data["optimizer"]),
                 train=_train(v, data.get("train")), metrics=_metrics(v, data.get("metrics"), dc.label_type),
                 source_path=source_path, base_dir=base_dir, lines=dict(lines),
                 overrides=tuple(ov.text for ov in applied), source=source, override_paths=dict(v.overrides))
    _cross_checks(v, cfg, data)
    return replace(cfg, train=_resolve_best(cfg))


def _resolve_best(cfg: Config) -> TrainConfig:
    t, d = cfg.train, cfg.data
    has_val = d.val is not None or d.val_split > 0
    metric = t.best_metric
    if metric is None and has_val:
        metric = t.early_stopping.metric if t.early_stopping else "val_" + (cfg.metrics[0] if cfg.metrics else "loss")
    mode = t.best_mode
    if mode is None and metric is not None:
        es = t.early_stopping
        mode = es.mode if es is not None and es.metric == metric else metric_mode(metric)
    restore = t.restore_best if t.restore_best is not None else t.early_stopping is not None
    return replace(t, best_metric=metric, best_mode=mode, restore_best=bool(restore))


def parse_config_text(text: str, source: str = "<string>", overrides: Iterable[str] = (), *,
                      base_dir: str | Path | None = None) -> Config:
    """Validate a config given as YAML text. Relative data paths resolve against ``base_dir``
    (default: the current directory)."""
    data, lines = load_yaml(text, source)
    base = Path(base_dir).resolve() if base_dir is not None else Path.cwd()
    return _build(data, lines, source=source, source_path=None, base_dir=base, overrides=overrides)


def load_config(path: str | Path, overrides: Iterable[str] = (), *, check_files: bool = True) -> Config:
    """Read and validate a YAML config file; every problem is a ConfigError (exit code 2)."""
    display = str(path)
    text = read_text_file(path, display)
    data, lines = load_yaml(text, display)
    p = Path(path).resolve()
    return _build(data, lines, source=display, source_path=p, base_dir=p.parent, overrides=overrides,
                  check_files=check_files)


# --- back to plain data --------------------------------------------------------------------------

def _source_to_dict(s: SourceConfig) -> dict[str, Any]:
    if s.kind in ("csv", "parquet"):
        out = {s.kind: str(s.path), "features": s.features, "labels": s.labels}
        if s.kind == "csv" and s.delimiter is not None:
            out["delimiter"] = s.delimiter
        return out
    if s.kind == "images":
        return {"images": str(s.path), "labels": s.labels}
    if s.kind == "npz":
        return {"npz": str(s.path), "x_key": s.x_key, "y_key": s.y_key}
    if s.kind == "idx":
        return {"idx": {"images": str(s.images), "labels": str(s.idx_labels)}}
    out: dict[str, Any] = {"generator": s.generator, "n": s.n, "noise": s.noise}
    if s.classes is not None:
        out["classes"] = s.classes
    out["seed"] = s.seed
    return out


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The fully resolved config as plain YAML-safe data; loading it again gives an equal Config.

    Only keys that apply are written (no ``beta1`` for sgd), since the schema rejects the others.
    """
    d, o, t = cfg.data, cfg.optimizer, cfg.train
    data: dict[str, Any] = {
        "train": _source_to_dict(d.train),
        "val": _source_to_dict(d.val) if d.val else None,
        "test": _source_to_dict(d.test) if d.test else None,
        "val_split": d.val_split, "shuffle": d.shuffle, "preprocess": d.preprocess,
    }
    if d.device:   # written only when set, so configs of runs from before the key read back unchanged
        data["device"] = True
    if d.preprocess == "scale":
        data["scale_factor"] = d.scale_factor
    data["label_type"] = d.label_type
    if d.label_type != "real":
        data["num_classes"] = d.num_classes
        data["class_names"] = list(d.class_names) if d.class_names is not None else None
    else:
        data["target_scaling"] = d.target_scaling
    if d.features is not None:
        data["features"] = {k: dict(f) for k, f in d.features.items()}
    sched: dict[str, Any] = {"type": o.schedule.type, "warmup_steps": o.schedule.warmup_steps}
    sched.update({k: getattr(o.schedule, k) for k in SCHEDULES[o.schedule.type]})
    opt: dict[str, Any] = {"name": o.name, "lr": o.lr}
    opt.update({k: getattr(o, k) for k in OPTIMIZERS[o.name]})
    opt.update({"clip_norm": o.clip_norm, "schedule": sched})
    es = t.early_stopping
    return {
        "name": cfg.name, "seed": cfg.seed, "backend": cfg.backend, "data": data,
        "model": model_to_dict(cfg.model),
        "loss": {"type": cfg.loss.type, "l2": cfg.loss.l2,
                 **({"class_weights": cfg.loss.class_weights} if cfg.loss.class_weights is not None else {})},
        "optimizer": opt,
        "train": {"steps": t.steps, "epochs": t.epochs, "batch_size": t.batch_size,
                  "eval_every": t.eval_every, "checkpoint_every": t.checkpoint_every,
                  "keep_last": t.keep_last, "log_every": t.log_every,
                  "early_stopping": None if es is None else {"metric": es.metric, "patience": es.patience,
                                                             "mode": es.mode, "min_delta": es.min_delta},
                  "best_metric": t.best_metric, "best_mode": t.best_mode, "restore_best": t.restore_best,
                  "tensorboard": t.tensorboard},
        "metrics": list(cfg.metrics),
    }
