"""NPZ loading: plain arrays only, read with allow_pickle=False so nothing in the file can run."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nnctl.data.preprocess import (
    check_class_range,
    check_finite,
    check_label_type,
    check_num_classes,
    class_labels_from_array,
    did_you_mean,
    onehot_rows_to_index,
    read_data_bytes,
)
from nnctl.errors import DataError, FileFormatError
from nnctl.fileio import load_npz_bytes, npz_member_names


def _numeric(a: np.ndarray, name: str) -> None:
    if a.dtype.kind not in "biuf":
        raise DataError(f"{name}: expected a numeric array, got dtype {a.dtype}")


def load_npz(path: str | os.PathLike, x_key: str = "x", y_key: str | None = "y",
             label_type: str = "class", num_classes: int | None = None
             ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Load features ``x_key`` and labels ``y_key`` (None: features only) from an .npz.

    x -> float32 with its stored shape; y as in :func:`nnctl.data.load_csv` (``"class"`` int64
    [n], ``"onehot"`` argmax int64 [n], ``"real"`` float32 [n, k], a 1-D array becoming [n, 1]).
    A string array ``class_names`` in the file, if present, lands in meta["class_names"].
    """
    check_label_type(label_type)
    check_num_classes(num_classes)
    src = str(path)
    # read_data_bytes gives the loaders' shared wording for missing/directory/empty files.
    data = read_data_bytes(path, what="npz file")
    # only the members named here are read (each size-checked first); others are never inflated
    try:
        present_names = npz_member_names(data, source=src, what="npz file")
        arrays = load_npz_bytes(data, source=src, what="npz file",
                                keys=[k for k in (x_key, y_key, "class_names") if k is not None])
    except FileFormatError as e:
        raise DataError(str(e)) from None

    def get(key: str) -> np.ndarray:
        if key not in arrays:
            present = ", ".join(sorted(present_names)) or "none"
            raise DataError(f"{src}: no array {key!r} in the file{did_you_mean(key, present_names)}; "
                            f"arrays present: {present}")
        return arrays[key]

    x_name = f"{src}:{x_key}"
    x_raw = get(x_key)
    _numeric(x_raw, x_name)
    if x_raw.ndim == 0:
        raise DataError(f"{x_name}: expected an array of examples, got a scalar")
    if x_raw.shape[0] == 0:
        raise DataError(f"{x_name}: no examples (shape {x_raw.shape})")
    if x_raw.dtype.kind == "f":
        check_finite(x_raw, x_name)
    with np.errstate(over="ignore"):  # an overflow to inf is reported just below
        x = x_raw.astype(np.float32)
    check_finite(x, x_name + " (as float32)")

    meta: dict[str, Any] = {"feature_names": None, "label_names": None, "class_names": None,
                            "source": src}
    names = arrays.get("class_names")
    if names is not None and names.dtype.kind == "U" and names.ndim == 1:
        meta["class_names"] = [str(s) for s in names]
    if y_key is None:
        return x, None, meta

    y_name = f"{src}:{y_key}"
    y_raw = get(y_key)
    _numeric(y_raw, y_name)
    if y_raw.ndim == 0 or y_raw.shape[0] != x.shape[0]:
        got = "a scalar" if y_raw.ndim == 0 else f"{y_raw.shape[0]} rows"
        raise DataError(f"{src}: {x_key!r} has {x.shape[0]} rows but {y_key!r} has {got}")
    meta["label_names"] = [y_key]
    if label_type == "class":
        y: np.ndarray = class_labels_from_array(y_raw, y_name, num_classes)
    elif label_type == "onehot":
        if y_raw.ndim != 2 or y_raw.shape[1] < 2:
            raise DataError(f"{y_name}: one-hot labels need shape [n, classes] with classes >= 2, "
                            f"got {y_raw.shape}")
        if num_classes is not None and y_raw.ndim == 2 and y_raw.shape[1] != num_classes:
            raise DataError(f"{y_name}: one-hot labels have {y_raw.shape[1]} columns but num_classes "
                            f"is {num_classes}")
        y = onehot_rows_to_index(y_raw, lambda i: f"{y_name}[{i}]", "labels")
        check_class_range(y, y_name, num_classes)
    else:
        if y_raw.dtype.kind == "f":
            check_finite(y_raw, y_name)
        with np.errstate(over="ignore"):
            y = y_raw.astype(np.float32)
        check_finite(y, y_name + " (as float32)")
        if y.ndim == 1:
            y = y[:, None]
    if label_type != "real":
        n_cls = len(meta["class_names"]) if meta["class_names"] else int(y.max()) + 1
        meta["num_classes"] = num_classes if num_classes is not None else n_cls
    return x, y, meta

