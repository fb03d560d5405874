"""A strict stand-in device for the tests: arrays that behave like CuPy's in what they refuse.

``StrictArray`` wraps a numpy array the way a GPU array wraps device memory: it cannot be turned
into a numpy array implicitly (``np.asarray(x)`` raises, as CuPy's ``__array__`` does), the array
module ``StrictXP`` refuses numpy arrays as arguments (CuPy raises ``TypeError: Unsupported type``),
and every way of reading a value on the host — ``float(x)``, ``int(x)``, ``bool(x)``, ``x.item()``,
``x.get()``, ``backend.to_host(x)`` — is counted as a device-to-host sync, every ``asarray`` of a host
value as an upload. A kernel that leaks a host array, or a step that syncs where it should not,
then fails a test on a machine without a GPU.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnctl.backends.base import Backend


@dataclass
class Counters:
    syncs: int = 0       # device -> host reads (float(), item(), get(), to_host ...)
    uploads: int = 0     # host -> device copies
    downloads: int = 0   # to_host / get of whole arrays
    uploaded: int = 0    # bytes of the uploads

    def reset(self) -> None:
        self.syncs = self.uploads = self.downloads = self.uploaded = 0

    def up(self, a: np.ndarray) -> np.ndarray:
        self.uploads += 1
        self.uploaded += a.nbytes
        return a


COUNTERS = Counters()


def _refuse(what: str) -> TypeError:
    return TypeError(f"Unsupported type {what}: the strict device refuses numpy arrays where a device array is "
                     "expected (as CuPy does); upload with backend.asarray first")


def _unwrap(v: Any, where: str) -> Any:
    if type(v) is StrictArray:
        return v._a
    if isinstance(v, np.ndarray):
        raise _refuse(f"<class 'numpy.ndarray'> in {where}")
    if isinstance(v, (list, tuple)):
        return type(v)(_unwrap(x, where) for x in v)
    return v


def _wrap(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return StrictArray(v)
    if isinstance(v, np.generic) and not isinstance(v, (np.dtype,)):
        return StrictArray(np.asarray(v))   # CuPy reductions return 0-d arrays, not scalars
    if isinstance(v, tuple):
        return tuple(_wrap(x) for x in v)
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


def _call(fn: Any, name: str, args: tuple, kwargs: dict) -> Any:
    a = [_unwrap(x, name) for x in args]
    k = {key: _unwrap(val, name) for key, val in kwargs.items()}
    return _wrap(fn(*a, **k))


class StrictArray:
    """A device array stand-in (see the module doc)."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # --- what CuPy refuses or counts ---------------------------------------------------------
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct "
                        "a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise TypeError(f"numpy.{ufunc.__name__} called on a device array: use the backend's xp")

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        raise TypeError(f"numpy.{func.__name__} called on a device array: use the backend's xp")

    def _sync(self) -> np.ndarray:
        COUNTERS.syncs += 1
        return self._a

    def __float__(self) -> float:
        return float(self._sync())

    def __int__(self) -> int:
        return int(self._sync())

    def __bool__(self) -> bool:
        return bool(self._sync())

    def __index__(self) -> int:
        return int(self._sync())

    def item(self) -> Any:
        return self._sync().item()

    def get(self) -> np.ndarray:
        COUNTERS.downloads += 1
        return self._sync().copy()

    def tolist(self) -> Any:
        return self._sync().tolist()

    # --- the array protocol ------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._a.shape

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size

    @property
    def nbytes(self) -> int:
        return self._a.nbytes

    @property
    def itemsize(self) -> int:
        return self._a.itemsize

    @property
    def strides(self) -> tuple:
        return self._a.strides

    @property
    def flags(self) -> Any:
        return self._a.flags

    @property
    def T(self) -> StrictArray:  # noqa: N802
        return StrictArray(self._a.T)

    @property
    def real(self) -> StrictArray:
        return StrictArray(self._a.real)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (StrictArray(np.asarray(x)) for x in self._a)

    def __repr__(self) -> str:
        return f"StrictArray(shape={self._a.shape}, dtype={self._a.dtype})"

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_unwrap(key, "indexing")])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key, "indexing")] = _unwrap(value, "assignment")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):   # __array_interface__, __array_struct__ ...: no back door to the host
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: _call(attr, f"ndarray.{name}", a, k)
        return _wrap(attr)


def _binop(name: str) -> Any:
    def op(self: StrictArray, other: Any) -> Any:
        return _wrap(getattr(self._a, name)(_unwrap(other, name)))
    op.__name__ = name
    return op


def _unop(name: str) -> Any:
    def op(self: StrictArray) -> Any:
        return _wrap(getattr(self._a, name)())
    op.__name__ = name
    return op


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
           "rshift", "lt", "le", "gt", "ge", "eq", "ne"):
    for _form in (f"__{_n}__", f"__r{_n}__", f"__i{_n}__"):
        if hasattr(np.ndarray, _form):
            setattr(StrictArray, _form, _binop(_form))
for _n in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(StrictArray, _n, _unop(_n))
StrictArray.__hash__ = None  # type: ignore[assignment]


class StrictXP(types.ModuleType):
    """The array module of the strict device: numpy's functions over StrictArrays only."""

    def __init__(self, base: Any = np, name: str = "strictxp") -> None:
        super().__init__(name)
        self._base = base

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._base, name)
        if isinstance(attr, types.ModuleType):
            return StrictXP(attr, f"{self.__name__}.{name}")
        if isinstance(attr, type) or not callable(attr):
            return attr   # dtypes (xp.float32), constants (xp.pi, xp.newaxis)
        if name in ("asarray", "array", "ascontiguousarray", "asanyarray"):
            def upload(v: Any, *a: Any, **k: Any) -> Any:
                if type(v) is not StrictArray:
                    return StrictArray(COUNTERS.up(np.array(v, *a, **k) if name == "array" else attr(v, *a, **k)))
                return _call(attr, name, (v, *a), k)
            return upload
        return lambda *a, **k: _call(attr, name, a, k)

    def asnumpy(self, v: StrictArray) -> np.ndarray:
        return v.get()


class StrictBackend(Backend):
    """A third backend, for tests only: the strict device (see the module doc)."""

    name = "strict"
    host_blas = True   # its products are numpy's, in this process: the same BLAS thread policy

    def __init__(self) -> None:
        super().__init__(StrictXP())
        self.counters = COUNTERS

    @property
    def array_type(self) -> type:
        return StrictArray

    def asarray(self, value: Any, dtype: Any = None) -> Any:
        if type(value) is StrictArray:
            return value if dtype is None or value.dtype == dtype else value.astype(dtype)
        return StrictArray(COUNTERS.up(np.array(value, dtype=dtype)))

    def upload(self, host: np.ndarray, out: Any = None) -> Any:
        if type(host) is StrictArray:
            raise TypeError("upload of an array that is already on the device")
        COUNTERS.up(np.asarray(host))
        if out is None:
            return StrictArray(np.array(host))
        np.copyto(out._a, host, casting="unsafe")
        return out

    def to_host(self, array: Any) -> np.ndarray:
        if type(array) is not StrictArray:
            raise TypeError(f"to_host of {type(array).__name__}: not a device array")
        return array.get()

    def empty(self, shape: tuple, dtype: Any) -> Any:
        return StrictArray(np.empty(shape, dtype=dtype))

    def copyto(self, dst: Any, src: Any) -> None:
        np.copyto(_unwrap(dst, "copyto"), _unwrap(src, "copyto"), casting="unsafe")

    def may_share_memory(self, a: Any, b: Any) -> bool:
        return bool(np.may_share_memory(_unwrap(a, "may_share_memory"), _unwrap(b, "may_share_memory")))

    def scatter_add(self, out: Any, indices: Any, values: Any, axis: int = 0) -> None:
        np.add.at(_unwrap(out, "scatter_add"), (slice(None),) * axis + (_unwrap(indices, "scatter_add"),),
                  _unwrap(values, "scatter_add"))
