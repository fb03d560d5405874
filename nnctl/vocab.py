"""The names nnctl accepts, in one place: activations, losses, metrics, label types, backends.

The config schema, the builder, the evaluation code, the data loaders and the frozen-file loader
all read these tuples, so a name added here is accepted (and suggested in "did you mean") everywhere.
This module imports nothing, so the CLI can use it without loading numpy.
"""

from __future__ import annotations

BACKENDS = ("numpy", "cupy")

LABEL_TYPES = ("class", "onehot", "real")
CLASS_LABEL_TYPES = ("class", "onehot")

# The activation names live with their graph functions (nnctl/layers/activations.py, which imports
# no op module either).
from nnctl.layers.activations import ACTIVATIONS  # noqa: E402, F401

LOSSES = ("sum_squares", "mse", "cross_entropy", "binary_cross_entropy")

# Metrics by what they need: class labels, real-valued targets, or either.
CLASS_METRICS = ("accuracy",)
REGRESSION_METRICS: tuple[str, ...] = ()
ANY_METRICS = ("mse", "mae")
METRICS = (*CLASS_METRICS, *ANY_METRICS, *REGRESSION_METRICS)

# Metrics where a larger value is better (early stopping defaults to mode max for them).
MAX_METRICS = frozenset({"accuracy"})


def metric_mode(metric: str) -> str:
    """'max' when larger is better for ``metric`` (with or without a ``val_``/``train_`` prefix), else 'min'."""
    name = metric
    for prefix in ("val_", "train_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return "max" if name in MAX_METRICS else "min"

# Per-column input features (nnctl/data/features.py; docs/config.md "Features").
FEATURE_TYPES = ("numeric", "category", "binary", "text", "image", "ignore")
NUMERIC_MISSING = ("mean", "median", "constant", "drop_row")
NUMERIC_SCALINGS = ("standardize", "minmax", "none", "log1p")
CATEGORY_ENCODINGS = ("onehot", "ids")
CATEGORY_MISSING = ("unknown", "constant", "drop_row")
UNKNOWN_POLICIES = ("bucket", "error")
BINARY_MISSING = ("constant", "drop_row")
TEXT_TOKENIZERS = ("whitespace", "regex", "character")
TEXT_ENCODINGS = ("bag", "ids")
IMAGE_COLORS = ("grayscale", "rgb")
TARGET_SCALINGS = ("none", "standardize")
# The options each feature type accepts (their defaults live in nnctl/data/features.py).
FEATURE_OPTIONS: dict[str, tuple[str, ...]] = {
    "numeric": ("missing", "fill", "missing_indicator", "scaling", "clip"),
    "category": ("encoding", "min_count", "max_size", "unknown", "missing", "fill"),
    "binary": ("positive", "missing", "fill"),
    "text": ("tokenizer", "pattern", "lowercase", "max_length", "min_count", "max_size", "encoding", "unknown"),
    "image": ("size", "color", "scale", "augment"),
    "ignore": (),
}
IMAGE_AUGMENTS = ("crop", "flip", "rotate")
