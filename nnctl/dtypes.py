"""Data types with TensorFlow 1's names (``tf.float32`` ...), backed by numpy dtypes."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class DType:
    """A tensor element type. Compares equal to its numpy dtype and to other spellings of it."""

    __slots__ = ("_np", "_name")

    def __init__(self, np_dtype: Any) -> None:
        self._np = np.dtype(np_dtype)
        # numpy's dtype.name is computed in Python on every access (numpy/_core/_dtype.py); op
        # construction asks for it several times per op, so it is worked out once here
        self._name = "string" if self._np.kind == "O" else self._np.name

    @property
    def name(self) -> str:
        return self._name

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
            return self is as_dtype(other)
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
builtins_bool = builtins.bool
bool = DType(np.bool_)  # noqa: A001 - TF's public name
half = float16
double = float64

_SUPPORTED = {d.np: d for d in (float16, float32, float64, int8, int16, int32, int64, uint8, bool)}

# TF's names for each type (tf.as_dtype): the canonical ones plus TF's aliases "float" (float32),
# "double" (float64) and "half" (float16). These are TF's meanings, not numpy's: for numpy,
# "float" and "double" are both float64. Other numpy spellings ("f4", "int", "float_") are not TF
# names and are refused, as TF refuses them.
_NAMES: dict[str, DType] = {d.name: d for d in _SUPPORTED.values()}
_NAMES.update({"float": float32, "double": float64, "half": float16})
# tf.string exists only as the type of serialized summaries (tf.summary ops), held as 0-d numpy
# object arrays of bytes; it is not a name as_dtype accepts for placeholders or variables.
string = DType(np.object_)
_SUPPORTED[string.np] = string
_UNSUPPORTED_TF = ("string", "complex64", "complex128", "bfloat16", "uint16", "uint32", "uint64", "qint8",
                   "quint8", "qint16", "quint16", "qint32", "resource", "variant")


def as_dtype(value: Any) -> DType:
    """``tf.as_dtype``: a DType, numpy dtype or type, Python type or TF name -> DType (TypeError if none).

    Names follow TensorFlow: ``"float"`` is float32 and ``"double"`` float64."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        d = _NAMES.get(value)
        if d is not None:
            return d
        if value in _UNSUPPORTED_TF:
            raise TypeError(f"dtype {value!r} is a TensorFlow type that nnctl does not support; nnctl supports "
                            + ", ".join(sorted(_NAMES)))
        raise TypeError(f"cannot interpret {value!r} as a dtype: TensorFlow's names are "
                        + ", ".join(sorted(_NAMES)) + ' ("float" is float32, "double" float64)')
    if value is float:
        return float32
    if value is int:
        return int32
    if value is builtins_bool:
        return bool
    if hasattr(value, "as_numpy_dtype") and not isinstance(value, type):
        return as_dtype(np.dtype(value.as_numpy_dtype))  # a real TF DType, or any look-alike
    try:
        d = np.dtype(value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a dtype") from None
    if d not in _SUPPORTED:
        raise TypeError(f"unsupported dtype {d.name}; nnctl supports "
                        + ", ".join(sorted(x.name for x in _SUPPORTED)))
    return _SUPPORTED[d]


def describe_origin(t: Any) -> str:
    """Where a tensor's dtype came from, for dtype-mismatch messages: the dtype argument as the
    program spelled it (``dtype="float"`` read as float32), or the source op that fixed it."""
    spelled = getattr(t, "_dtype_spelling", None)
    op = getattr(t, "op", None)
    what = f"{op.type} '{op.name}'" if op is not None else repr(t)
    if spelled is not None:
        return f"{what} has dtype {t.dtype.name}, read from dtype={spelled!r}"
    if op is not None and op.type == "Const":
        return f"{what} has dtype {t.dtype.name}, from its value"
    return f"{what} has dtype {t.dtype.name}"


def record_spelling(t: Any, dtype: Any) -> Any:
    """Remember how the program spelled ``dtype`` for a source tensor ``t`` (see describe_origin)."""
    if dtype is not None and not isinstance(dtype, DType):
        try:
            t._dtype_spelling = dtype if isinstance(dtype, str) else getattr(dtype, "__name__", repr(dtype))
        except AttributeError:
            pass
    return t
