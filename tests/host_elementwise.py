"""``ElementwiseKernel`` on the host: CuPy's elementwise-kernel contract, compiled with the C++ compiler.

The fused device kernels (nnctl/backends/cupy_kernels.py) are CUDA C loop bodies. Their arithmetic
(+ - * / sqrt, with ``-ffp-contract=off`` as the device's ``--fmad=false``) is IEEE on the host as
on the GPU, so compiling the very same body into a host loop and calling it through the backend's
Python glue, with numpy as the array module, checks the formulas and the argument order against
the numpy kernels on a machine without a GPU. What it cannot check (CuPy's launch, its broadcasting
of device arrays, the GPU's exp/log) is left to bench/gpu.py on a GPU.

The contract followed: parameters ``[raw] TYPE name``, inputs then outputs in the call; ``T``/``L``
type placeholders bound from the arrays; non-raw arrays broadcast to one shape and seen element
``i`` at a time (outputs must have that shape and be C-contiguous); raw arrays indexed freely;
typed scalars passed by value.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int64): "long long",
           np.dtype(np.int32): "int", np.dtype(np.bool_): "bool"}
_NAMED = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32, "bool": np.bool_}
_DIR = Path(tempfile.mkdtemp(prefix="nnctl-host-ew-"))
_LIBS: dict[str, Any] = {}


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def _parse(params: str, const: bool) -> list[tuple[bool, str, str, bool]]:
    out = []
    for p in filter(None, (q.strip() for q in params.split(","))):
        words = p.split()
        raw = words[0] == "raw"
        ty, name = words[-2], words[-1]
        out.append((raw, ty, name, const))
    return out


class HostElementwiseKernel:
    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel",
                 options: tuple = (), no_return: bool = False, **_: Any) -> None:
        self.params = _parse(in_params, True) + _parse(out_params, False)
        self.nin = len(_parse(in_params, True))
        self.operation, self.name, self.no_return = operation, name, no_return

    def _types(self, args: tuple) -> dict[str, np.dtype]:
        tm: dict[str, np.dtype] = {}
        for (_, ty, name, _), a in zip(self.params, args):
            if ty not in _NAMED and isinstance(a, np.ndarray):
                if tm.setdefault(ty, a.dtype) != a.dtype:
                    raise TypeError(f"{self.name}: type {ty} bound to {tm[ty]} and {a.dtype} ({name})")
        return tm

    def _source(self, tm: dict[str, np.dtype]) -> str:
        sig, body = ["long long _n"], []
        for raw, ty, name, const in self.params:
            cty = ty if ty not in _NAMED else _CTYPES[np.dtype(_NAMED[ty])]
            c = "const " if const else ""
            if not raw and ty in _NAMED and const:      # a typed scalar, by value
                sig.append(f"{cty} {name}")
            elif raw:
                sig.append(f"{c}{cty}* {name}")
            else:
                sig.append(f"{c}{cty}* _p_{name}")
                body.append(f"    {c}{cty} &{name} = _p_{name}[i];")
        typedefs = "".join(f"typedef {_CTYPES[d]} {t};\n" for t, d in tm.items())
        return ("#include <cmath>\n#define CUDART_NAN NAN\nusing std::sqrt; using std::exp; using std::log;\n"
                + typedefs + f'extern "C" void {self.name}({", ".join(sig)}) {{\n'
                + "  for (long long i = 0; i < _n; ++i) {\n" + "\n".join(body) + "\n    {\n"
                + self.operation + "\n    }\n  }\n}\n")

    def _lib(self, src: str) -> Any:
        key = hashlib.sha256(src.encode()).hexdigest()[:16]
        if key not in _LIBS:
            cpp, so = _DIR / f"{key}.cpp", _DIR / f"{key}.so"
            cpp.write_text(src)
            cc = compiler()
            if cc is None:
                raise RuntimeError("no C++ compiler")
            subprocess.run([cc, "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-o", str(so),
                            str(cpp)], check=True, capture_output=True, text=True)
            _LIBS[key] = ctypes.CDLL(str(so))
        return getattr(_LIBS[key], self.name)

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.params)} parameters")
        tm = self._types(args)
        arrays = [a for (raw, ty, _, _), a in zip(self.params, args) if not raw and isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        n = int(np.prod(shape))
        cargs: list[Any] = [ctypes.c_longlong(n)]
        keep = []
        for (raw, ty, name, const), a in zip(self.params, args):
            if not raw and ty in _NAMED and const:
                ct = {"float": ctypes.c_float, "double": ctypes.c_double, "long long": ctypes.c_longlong,
                      "int": ctypes.c_int, "bool": ctypes.c_bool}[_CTYPES[np.dtype(_NAMED[ty])]]
                cargs.append(ct(a))
                continue
            want = np.dtype(_NAMED[ty]) if ty in _NAMED else tm[ty]
            if a.dtype != want:
                raise TypeError(f"{self.name}: {name} has dtype {a.dtype}, expected {want}")
            if const:
                a = np.ascontiguousarray(a if raw else np.broadcast_to(a, shape))
            elif not a.flags.c_contiguous or (not raw and a.shape != shape):
                raise ValueError(f"{self.name}: output {name} must be C-contiguous of shape {shape}")
            keep.append(a)
            cargs.append(ctypes.c_void_p(a.ctypes.data))
        self._lib(self._source(tm))(*cargs)
        return None


def host_xp() -> types.ModuleType:
    """numpy, with ``ElementwiseKernel`` run on the host."""
    mod = types.ModuleType("host_xp")
    mod.__dict__.update({k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    mod.ElementwiseKernel = HostElementwiseKernel
    return mod
