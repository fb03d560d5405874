"""Pluggable array backends: ``numpy`` (default) and ``cupy`` (GPU, optional extra)."""

from __future__ import annotations

from nnctl.backends.base import Backend
from nnctl.errors import InputError
from nnctl.vocab import BACKENDS

_cache: dict[str, Backend] = {}
_override: str | None = None   # the command line's --backend, above any config's choice


def set_backend_override(name: str | None) -> None:
    """``--backend NAME`` of a command: every session the command opens uses it (checked now)."""
    global _override
    if name is not None:
        try:
            get_backend(name)
        except InputError as e:
            raise type(e)(f"--backend {name}: {e}") from None
    _override = name


def choose_backend(configured: str | None = None) -> Backend:
    """The backend a command runs on: ``--backend`` if given, else the config's, else numpy."""
    return get_backend(_override or configured)


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


__all__ = ["Backend", "BACKENDS", "choose_backend", "get_backend", "set_backend_override"]
