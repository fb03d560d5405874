"""MNIST-style IDX files (raw or gzip, detected by magic bytes rather than the file name).

An IDX file is a big-endian header -- magic ``0x0000TTDD`` (TT = element type, 0x08 for unsigned
bytes; DD = number of dimensions), then one uint32 per dimension -- followed by the elements.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np

from nnctl.data.preprocess import check_class_range, check_label_type, check_num_classes, read_data_bytes
from nnctl.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dims: count, rows, cols
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dim: count
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}


def _read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    src = str(path)
    kind = _KIND[magic]
    data = read_data_bytes(path, what=f"IDX {kind} file")
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(data) < 4:
        raise DataError(f"{src}: too short for an IDX file ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        other = _KIND.get(found)
        hint = f" (this looks like an IDX {other} file)" if other else ""
        raise DataError(f"{src}: wrong magic number 0x{found:08x}, expected 0x{magic:08x} "
                        f"for IDX {kind}{hint}")
    if len(data) < header_len:
        raise DataError(f"{src}: truncated IDX header ({len(data)} bytes, expected {header_len})")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    expected = math.prod(dims)  # Python ints: 4 dims of 2**32-1 overflow int64 (to 0) but not this
    body = len(data) - header_len
    shape = " x ".join(str(d) for d in dims)
    if body < expected:
        raise DataError(f"{src}: truncated IDX {kind}: the header says {shape} = {expected} bytes of data, "
                        f"the file holds {body}")
    if body > expected:
        raise DataError(f"{src}: IDX {kind} has {body - expected} bytes after the {shape} = {expected} "
                        "the header describes (wrong header or two files joined?)")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims)


def load_idx(images_path: str | os.PathLike, labels_path: str | os.PathLike | None,
             label_type: str = "class", num_classes: int | None = None
             ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Load IDX images (-> float32 [n, rows, cols, 1], raw 0..255) and labels (-> int64 [n]).

    ``labels_path`` None loads images only. ``label_type`` "real" gives float32 [n, 1] labels;
    "onehot" does not apply to IDX label files, which hold class indices.
    """
    check_label_type(label_type)
    check_num_classes(num_classes)
    if label_type == "onehot":
        raise DataError(f"{labels_path}: IDX label files hold class indices; use label_type 'class'")
    images = _read_idx(images_path, IMAGES_MAGIC)
    if images.shape[0] == 0:
        raise DataError(f"{images_path}: the IDX images file holds no images")
    x = images.astype(np.float32)[..., None]
    meta: dict[str, Any] = {"feature_names": None, "label_names": None, "class_names": None,
                            "source": str(images_path)}
    if labels_path is None:
        return x, None, meta
    labels = _read_idx(labels_path, LABELS_MAGIC)
    if labels.shape[0] != x.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels for {x.shape[0]} images in {images_path}")
    meta["label_names"] = ["label"]
    meta["labels_source"] = str(labels_path)
    if label_type == "real":
        return x, labels.astype(np.float32)[:, None], meta
    y = labels.astype(np.int64)
    check_class_range(y, str(labels_path), num_classes)
    meta["num_classes"] = num_classes if num_classes is not None else (int(y.max()) + 1 if y.size else 0)
    return x, y, meta
