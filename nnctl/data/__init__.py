"""Data: loaders (CSV, NPZ, IDX), built-in generators, batching and preprocessing.

Every loader returns ``(x, y, meta)`` with x float32, class labels int64 and
``meta = {"feature_names", "label_names", "class_names", "source", ...}``, and raises
:class:`nnctl.errors.DataError` (exit code 2) naming file:line or the array for any bad data.
"""

from nnctl.data.batching import Batcher
from nnctl.data.csv_loader import load_csv, load_csv_features
from nnctl.data.generators import GENERATOR_NAMES, generate
from nnctl.data.idx_loader import load_idx
from nnctl.data.npz_loader import load_npz
from nnctl.data.preprocess import LABEL_TYPES, PREPROCESS_MODES, Preprocessor, split_train_val

__all__ = [
    "GENERATOR_NAMES", "LABEL_TYPES", "PREPROCESS_MODES",
    "Batcher", "Preprocessor", "generate", "load_csv", "load_csv_features", "load_idx", "load_npz",
    "split_train_val",
]
