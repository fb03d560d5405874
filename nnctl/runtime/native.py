"""nnctl's compiled host kernels: the C library built from nnctl/csrc (setup.py, ``make kernels``),
loaded with ctypes.

The kernels are the passes numpy makes slowly (one pass over memory per ufunc, reductions over
short rows, strided copies): the optimizer updates and activation gradients (runtime/jit.py),
im2col/col2im and pooling (ops/conv_jit.py), the sequence models' row loops (ops/seq_jit.py) and
batch norm's sums (ops/bn_ops.py). Each does the numpy reference's float operations in its order,
so the results are bit-identical to it (the tests compare them); each is built for float32 and
float64.

Why a small C library and not a JIT: loading it costs well under a megabyte and a millisecond,
where numba (llvmlite, its typing and lowering registries) cost ~120 MB of resident memory and
~1 s on the first call of every process, more than a whole MLP's training state.

The numpy path stays the reference and the fallback: ``library()`` is None when ``NNCTL_JIT=0`` is
set, when the library was not built (an install without a C compiler; setup.py marks the
extension optional), or when it was built from other sources than the ones beside it (a checkout
changed since the last build: a warning says to run ``make kernels``). ctypes releases the GIL for
the call, so Python threads can run kernels side by side (runtime/parallel.py, conv_jit.py).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import warnings
from collections.abc import Callable, Hashable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.runtime import native_build

JIT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Below this many elements a numpy pass costs about as much as its call (~1 us), so a compiled
# loop saves little: the kernels apply from here on
MIN_ELEMENTS = 1 << 14

_F32, _F64 = JIT_DTYPES
_I64 = np.dtype(np.int64)
_lib: Any = None  # the CDLL once loaded, or False when it cannot be
_compiled: dict[Hashable, Any] = {}  # key -> what its build returned, or False (no library)


def enabled() -> bool:
    """NNCTL_JIT=0 turns the compiled kernels off (anything else, or unset, leaves them on)."""
    return os.environ.get("NNCTL_JIT", "1").strip() != "0"


def library_path() -> Path | None:
    """The built library beside the nnctl package (nnctl/_kernels.<abi suffix>), or None."""
    pkg = Path(__file__).resolve().parent.parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = pkg / ("_kernels" + suffix)
        if p.is_file():
            return p
    return None


def library() -> Any:
    """The loaded C library (a ctypes.CDLL), or None: NNCTL_JIT=0, not built, or built from other sources."""
    global _lib
    if not enabled():
        return None
    if _lib is None:
        _lib = _load() or False
    return _lib or None


def _load() -> Any:
    path = library_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
        lib.nnctl_kernels_digest.restype = ctypes.c_char_p
        built = lib.nnctl_kernels_digest().decode()
    except (OSError, AttributeError) as e:
        warnings.warn(f"nnctl: cannot load the compiled kernels {path} ({e}); using the numpy path", stacklevel=3)
        return None
    if native_build.CSRC.is_dir():  # a checkout (or an sdist install): the sources must match
        want = native_build.digest()
        if built != want:
            warnings.warn(f"nnctl: the compiled kernels {path} were built from other sources (digest {built}, the "
                          f"sources give {want}); using the numpy path until you run `make kernels`", stacklevel=3)
            return None
    return lib


def host_arrays(dtype: Any, arrays: tuple, contiguous: bool = True) -> bool:
    """Every array is an aligned numpy array of ``dtype`` (a float32/float64 one), C-contiguous
    unless ``contiguous`` is False (the caller then makes it so): what the kernels accept. The
    op modules' guards ask this before they take a compiled path, and fall back to xp otherwise."""
    return dtype in JIT_DTYPES and all(
        isinstance(a, np.ndarray) and a.dtype == dtype and a.flags.aligned and (a.flags.c_contiguous or not contiguous)
        for a in arrays)


def compiled(key: Hashable, build: Callable[[Any], Any]) -> Any:
    """``build(library)`` (a namespace of kernels), made once per ``key`` and process; None when the
    library is unavailable (see ``library``). The one loader: runtime/jit.py, conv_jit.py,
    seq_jit.py and bn_ops.py all come through here."""
    if not enabled():
        return None
    fns = _compiled.get(key)
    if fns is None:
        lib = library()
        fns = _compiled[key] = build(lib) if lib is not None else False
    return fns or None


# Argument kinds of a kernel's signature, one letter each: an array of the kernel's dtype ("a"), a
# float64 / int64 / int32 array ("d", "l", "j"), an int64 ("i"), a scalar of the kernel's dtype ("s")
_ARRAY_KINDS = {"a": None, "d": _F64, "l": _I64, "j": np.dtype(np.int32)}


class Kernel:
    """One C kernel (``nnctl_<name>_f32`` / ``_f64``, or the first only), picked by the dtype of its
    first array.

    ``spec`` gives the kinds of its arguments (see _ARRAY_KINDS; "i" int64, "s" scalar); arrays must
    be aligned C-contiguous numpy arrays of their kind's dtype (checked; a kernel trusts the extents
    it is given, which its wrapper reads from the same arrays). ``checked`` kernels allocate
    scratch and return -1 when that fails (MemoryError). ``bind(*args)`` converts the arguments
    once and returns the zero-argument call, holding the arrays so that their memory outlives it:
    the plan's bound steps."""

    def __init__(self, lib: Any, name: str, spec: str, checked: bool = False) -> None:
        self.name, self.spec, self.checked = name, spec, checked
        self.fns = {}
        for dt, suffix, scalar in ((_F32, "f32", ctypes.c_float), (_F64, "f64", ctypes.c_double)):
            fn = getattr(lib, f"nnctl_{name}_{suffix}", None)
            if fn is None:  # a float32-only kernel
                continue
            fn.argtypes = [scalar if k == "s" else ctypes.c_int64 if k == "i" else ctypes.c_void_p for k in spec]
            fn.restype = ctypes.c_int if checked else None
            self.fns[dt] = fn

    def _convert(self, args: tuple) -> tuple[Any, list]:
        if len(args) != len(self.spec):
            raise TypeError(f"kernel {self.name} takes {len(self.spec)} arguments, got {len(args)}")
        dt = next(a.dtype for k, a in zip(self.spec, args) if k == "a")
        if dt not in self.fns:
            raise TypeError(f"kernel {self.name} has no {dt} build")
        out: list = []
        for k, a in zip(self.spec, args):
            if k in _ARRAY_KINDS:
                want = _ARRAY_KINDS[k] or dt
                if (not isinstance(a, np.ndarray) or a.dtype != want or not a.flags.c_contiguous
                        or not a.flags.aligned):
                    raise TypeError(f"kernel {self.name}: wants aligned C-contiguous {want} arrays, got "
                                    f"{type(a).__name__} {getattr(a, 'dtype', '')} {getattr(a, 'shape', '')}")
                out.append(a.ctypes.data)
            else:
                out.append(int(a) if k == "i" else a)
        return self.fns[dt], out

    def __call__(self, *args: Any) -> None:
        fn, cargs = self._convert(args)
        if fn(*cargs) and self.checked:
            raise MemoryError(f"kernel {self.name}: cannot allocate its scratch memory")

    def bind(self, *args: Any) -> Callable[[], Any]:
        fn, cargs = self._convert(args)
        if self.checked:
            return partial(self, *args)
        step = partial(fn, *cargs)
        step.arrays = args  # type: ignore[attr-defined]  # keeps the buffers alive while the step exists
        return step
