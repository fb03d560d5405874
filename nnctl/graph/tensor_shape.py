"""Static shapes: tuples whose entries are ints or None (unknown, e.g. the batch dimension)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Shape = tuple  # tuple[int | None, ...]; None for an unknown rank is spelled `None` itself


class TensorShape:
    """TF1's ``TensorShape``: ``as_list()``, ``ndims``, indexing, equality with lists/tuples."""

    __slots__ = ("_dims",)

    def __init__(self, dims: Iterable[Any] | None) -> None:
        self._dims = None if dims is None else tuple(None if d is None else int(d) for d in dims)

    @property
    def dims(self) -> tuple | None:
        return self._dims

    @property
    def ndims(self) -> int | None:
        return None if self._dims is None else len(self._dims)

    rank = ndims

    def as_list(self) -> list:
        if self._dims is None:
            raise ValueError("as_list() is not defined on an unknown TensorShape")
        return list(self._dims)

    def is_fully_defined(self) -> bool:
        return self._dims is not None and all(d is not None for d in self._dims)

    def num_elements(self) -> int | None:
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self._dims:  # type: ignore[union-attr]
            n *= d
        return n

    def is_compatible_with(self, other: Any) -> bool:
        return shapes_compatible(self._dims, as_shape_tuple(other))

    def __getitem__(self, i: Any) -> Any:
        if self._dims is None:
            return None
        r = self._dims[i]
        return TensorShape(r) if isinstance(i, slice) else r

    def __len__(self) -> int:
        if self._dims is None:
            raise ValueError("len() of an unknown TensorShape")
        return len(self._dims)

    def __iter__(self):
        if self._dims is None:
            raise ValueError("cannot iterate an unknown TensorShape")
        return iter(self._dims)

    def __eq__(self, other: object) -> bool:
        try:
            return self._dims == as_shape_tuple(other)
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self._dims)

    def __repr__(self) -> str:
        if self._dims is None:
            return "TensorShape(None)"
        return "TensorShape([" + ", ".join("None" if d is None else str(d) for d in self._dims) + "])"

    def __str__(self) -> str:
        return fmt_shape(self._dims)


def as_shape_tuple(value: Any) -> tuple | None:
    if value is None:
        return None
    if isinstance(value, TensorShape):
        return value.dims
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in value)
    except TypeError:
        raise TypeError(f"cannot interpret {value!r} as a shape") from None


def fmt_shape(shape: Sequence | None) -> str:
    if shape is None:
        return "<unknown>"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def shapes_compatible(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return True
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b))


def merge_shapes(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    if b is None:
        return a
    return tuple(x if x is not None else y for x, y in zip(a, b))


def broadcast_static(a: tuple | None, b: tuple | None, op_desc: str) -> tuple | None:
    """NumPy broadcasting of two static shapes; ValueError naming the op if incompatible."""
    if a is None or b is None:
        return None
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif x is None:
            out.append(y)
        elif y is None or x == y:
            out.append(x)
        else:
            raise ValueError(f"{op_desc}: shapes {fmt_shape(a)} and {fmt_shape(b)} are not broadcastable "
                             f"(dimension {x} vs {y})")
    return tuple(out)


def num_elements(shape: tuple | None) -> int | None:
    if shape is None or any(d is None for d in shape):
        return None
    n = 1
    for d in shape:
        n *= d
    return n
