"""The CuPy backend: the same kernels, run on an NVIDIA GPU through CuPy's numpy-compatible API.

CuPy is imported only when this backend is asked for, so nnctl starts without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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

    def asarray(self, value, dtype=None):
        return self.xp.asarray(value, dtype=dtype)

    def to_host(self, array) -> np.ndarray:
        return self.xp.asnumpy(array)

    def may_share_memory(self, a, b) -> bool:
        return bool(self.xp.shares_memory(a, b))

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()
