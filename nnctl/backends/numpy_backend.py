"""The default backend: numpy on the CPU."""

from __future__ import annotations

import numpy as np

from nnctl.backends.base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    host_memory = True
    host_blas = True

    def __init__(self) -> None:
        super().__init__(np)

    def asarray(self, value, dtype=None):
        return np.asarray(value, dtype=dtype)

    @property
    def array_type(self) -> tuple:
        return (np.ndarray, np.generic)   # reductions give numpy scalars

    def upload(self, host: np.ndarray, out=None):
        if out is None:
            return host
        np.copyto(out, host, casting="unsafe")
        return out

    def to_host(self, array) -> np.ndarray:
        return array
