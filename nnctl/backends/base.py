"""The backend interface: capabilities, not names.

Kernels are written once against an array module ``xp`` (numpy or cupy). A backend supplies that
module, moves arrays between host and device, and may override the kernel of an op type where the
generic one cannot serve (``kernel_overrides``). The runtime never asks which backend it has; it
asks what the backend can do:

- ``array_type``: the type of the backend's arrays; the plan checks every op output against it, so
  a kernel that returns a host array on a device backend is named at once.
- ``host_memory``: its arrays are host (numpy) arrays, so feeds can be used as they are, fetches
  are plain copies, elementwise steps may be split across threads, and reading a value is free.
- ``host_blas``: its products run on numpy's BLAS in this process, so the thread policy of
  backends/blas_threads.py applies to them (and must, for every such backend to give the same bits).
- ``upload(host, out=)``: host -> device, into an existing buffer when given (one copy per feed).
- ``to_host(array)``: device -> host, once (the only sync a fetch costs).
- ``scatter_add(out, indices, values, axis)``: ``out[..., indices, ...] += values`` along ``axis``, repeated
  indices accumulating, deterministic.
- ``may_share_memory(a, b)``: a cheap, conservative overlap test (bounds, not exact).
- ``synchronize()``: wait for queued device work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class Backend:
    name = "abstract"
    host_memory = False
    host_blas = False

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.kernel_overrides: dict[str, Callable[..., Any]] = {}

    def asarray(self, value: Any, dtype: Any = None) -> Any:
        """Host (numpy) value -> backend array."""
        return self.xp.asarray(value, dtype=dtype)

    @property
    def array_type(self) -> type:
        """The type every array of this backend has (``xp.ndarray``)."""
        return self.xp.ndarray

    def upload(self, host: np.ndarray, out: Any = None) -> Any:
        """Host array -> backend array; written into ``out`` when given (no new allocation)."""
        if out is None:
            return self.xp.asarray(host)
        self.copyto(out, self.xp.asarray(host))
        return out

    def to_host(self, array: Any) -> np.ndarray:
        """Backend array -> numpy array."""
        return np.asarray(array)

    def scatter_add(self, out: Any, indices: Any, values: Any, axis: int = 0) -> None:
        """``out[(:,) * axis + (indices,)] += values``, repeated indices accumulating in index order
        (deterministic, so a resumed run stays bit-identical)."""
        self.xp.add.at(out, (slice(None),) * axis + (indices,), values)

    def empty(self, shape: tuple, dtype: Any) -> Any:
        return self.xp.empty(shape, dtype=dtype)

    def copyto(self, dst: Any, src: Any) -> None:
        self.xp.copyto(dst, src, casting="unsafe")

    def may_share_memory(self, a: Any, b: Any) -> bool:
        return bool(self.xp.may_share_memory(a, b))

    def synchronize(self) -> None:
        """Wait for queued device work (a no-op on the CPU)."""

    def __repr__(self) -> str:
        return f"<backend {self.name}>"
