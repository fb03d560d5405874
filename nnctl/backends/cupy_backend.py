"""The CuPy backend: the same kernels, run on an NVIDIA GPU through CuPy's numpy-compatible API.

CuPy is imported only when this backend is asked for, so nnctl starts without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.backends import cupy_kernels
from nnctl.backends.base import Backend
from nnctl.errors import BackendUnavailableError

INSTALL_HINT = ("install CuPy for your CUDA version, e.g. `pip install 'nnctl[gpu]'` "
                "(cupy-cuda12x) or `pip install cupy-cuda11x`, on a machine with an NVIDIA GPU")


def _import_cupy() -> Any:
    try:
        import cupy
    except ImportError:
        raise BackendUnavailableError(f"backend 'cupy' is not available: CuPy is not installed; {INSTALL_HINT}"
                                      ) from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        raise BackendUnavailableError(f"backend 'cupy' is not available: no usable CUDA device ({e}); "
                                      f"{INSTALL_HINT}") from None
    if n < 1:
        raise BackendUnavailableError(f"backend 'cupy' is not available: no GPU found; {INSTALL_HINT}")
    return cupy


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self) -> None:
        super().__init__(_import_cupy())
        # fused kernels: one launch per optimizer update, four for the sparse softmax cross-entropy
        self.kernel_overrides.update(cupy_kernels.overrides())

    def asarray(self, value, dtype=None):
        return self.xp.asarray(value, dtype=dtype)

    def upload(self, host: np.ndarray, out=None):
        if out is None:
            return self.xp.asarray(host)
        if out.flags.c_contiguous and host.dtype == out.dtype and host.shape == out.shape:
            out.set(np.ascontiguousarray(host))   # one host -> device copy into the bound buffer
        else:
            out[...] = self.xp.asarray(host)
        return out

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def may_share_memory(self, a, b) -> bool:
        # CuPy's exact shares_memory solves an integer program; buffer bounds are enough to be safe
        return bool(self.xp.may_share_memory(a, b))

    def scatter_add(self, out, indices, values, axis: int = 0) -> None:
        """Deterministic ``out[(:,) * axis + (indices,)] += values``: sort by row, then a float64
        segment sum per row.

        ``cupyx.scatter_add`` uses atomics, whose order (and so float rounding) changes from run to
        run; sorting first fixes the order of every sum, so a resumed run stays bit-identical."""
        xp = self.xp
        n = out.shape[axis]
        pre, post = out.shape[:axis], out.shape[axis + 1:]
        rows = indices.reshape(-1).astype(xp.int64)
        vals = xp.moveaxis(values.reshape(*pre, rows.size, *post), axis, 0).reshape(rows.size, -1)
        order = xp.argsort(rows, kind="stable")
        srows, svals = rows[order], vals[order].astype(xp.float64)
        csum = xp.cumsum(svals, axis=0)
        last = xp.concatenate([srows[1:] != srows[:-1], xp.ones(1, dtype=bool)]).nonzero()[0]
        seg = csum[last]
        seg[1:] -= csum[last[:-1]]
        total = xp.zeros((n, vals.shape[1]), dtype=xp.float64)
        total[srows[last]] = seg
        out += xp.moveaxis(total.reshape(n, *pre, *post), 0, axis).astype(out.dtype)
