"""Data types with TensorFlow 1's names (``tf.float32`` ...), backed by numpy dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np


class DType:
    """A tensor element type. Compares equal to its numpy dtype and to other spellings of it."""

    __slots__ = ("_np",)

    def __init__(self, np_dtype: Any) -> None:
        self._np = np.dtype(np_dtype)

    @property
    def name(self) -> str:
        return self._np.name

    @property
    def as_numpy_dtype(self) -> type:
        return self._np.type

    @property
    def np(self) -> np.dtype:
        return self._np

    @property
    def is_floating(self) -> bool:
        return self._np.kind == "f"

    @property
    def is_integer(self) -> bool:
        return self._np.kind in "iu"

    @property
    def is_bool(self) -> bool:
        return self._np.kind == "b"

    @property
    def base_dtype(self) -> DType:
        return self

    @property
    def max(self) -> Any:
        return np.finfo(self._np).max if self.is_floating else np.iinfo(self._np).max

    @property
    def min(self) -> Any:
        return np.finfo(self._np).min if self.is_floating else np.iinfo(self._np).min

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self._np == other._np
        try:
            return self._np == np.dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._np)

    def __repr__(self) -> str:
        return f"tf.{self.name}"


float16 = DType(np.float16)
float32 = DType(np.float32)
float64 = DType(np.float64)
int8 = DType(np.int8)
int16 = DType(np.int16)
int32 = DType(np.int32)
int64 = DType(np.int64)
uint8 = DType(np.uint8)
bool = DType(np.bool_)  # noqa: A001 - TF's public name
half = float16
double = float64

_SUPPORTED = {d.np: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool)}


def as_dtype(value: Any) -> DType:
    """Convert a DType, numpy dtype, Python type or name to a DType (TypeError if unsupported)."""
    if isinstance(value, DType):
        return value
    if value is float:
        return float32
    if value is int:
        return int32
    try:
        d = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a dtype") from None
    if d not in _SUPPORTED:
        raise TypeError(f"unsupported dtype {d.name}; nnctl supports "
                        + ", ".join(sorted(x.name for x in _SUPPORTED)))
    return _SUPPORTED[d]
