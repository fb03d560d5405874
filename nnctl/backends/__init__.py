"""Pluggable array backends: ``numpy`` (default) and ``cupy`` (GPU, optional extra)."""

from __future__ import annotations

from nnctl.backends.base import Backend
from nnctl.errors import InputError
from nnctl.vocab import BACKENDS

_cache: dict[str, Backend] = {}


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend called ``name`` (default numpy); BackendUnavailableError if it cannot run here."""
    if isinstance(name, Backend):
        return name
    name = name or "numpy"
    if name not in _cache:
        if name == "numpy":
            from nnctl.backends.numpy_backend import NumpyBackend
            _cache[name] = NumpyBackend()
        elif name == "cupy":
            from nnctl.backends.cupy_backend import CupyBackend
            _cache[name] = CupyBackend()
        else:
            raise InputError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return _cache[name]


__all__ = ["Backend", "BACKENDS", "get_backend"]
