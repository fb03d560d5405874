"""The backend interface.

Kernels are written once against an array module ``xp`` (numpy or cupy). A backend supplies that
module, moves arrays between host and device, and may override the kernel of an op type where the
generic one cannot serve (``kernel_overrides``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class Backend:
    name = "abstract"

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.kernel_overrides: dict[str, Callable[..., Any]] = {}

    def asarray(self, value: Any, dtype: Any = None) -> Any:
        """Host (numpy) value -> backend array."""
        return self.xp.asarray(value, dtype=dtype)

    def to_host(self, array: Any) -> np.ndarray:
        """Backend array -> numpy array."""
        return np.asarray(array)

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
