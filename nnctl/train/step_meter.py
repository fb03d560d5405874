"""The training loss between two log lines, kept where the backend keeps its arrays.

On a backend with host memory (numpy) reading a step's loss costs nothing, so every step is checked
at once. On a device, reading it back makes the host wait for the device every step; instead the
sum of the losses, the number of steps and the first step whose loss or gradient norm was not
finite stay on the device, and one download at the next sync point (a log line, an evaluation, a
checkpoint, the end) brings them back. A non-finite step is then reported with its own step
number, before any checkpoint is written after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class StepMeter:
    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.xp = backend.xp
        self.reset()

    def reset(self) -> None:
        self._sum: Any = None      # device scalar: sum of the losses since the last flush (float64)
        self._first_bad: Any = None  # device scalar: first non-finite step, or -1
        self.steps = 0

    def add(self, step: int, loss: Any, grad_norm: Any) -> None:
        """Add one step's device scalars (no sync)."""
        xp = self.xp
        lv = loss.astype(xp.float64)
        ok = xp.isfinite(lv) & xp.isfinite(grad_norm)
        if self._sum is None:
            self._sum = lv
            self._first_bad = xp.where(ok, -1, step)
        else:
            self._sum = self._sum + lv
            self._first_bad = xp.where((self._first_bad < 0) & ~ok, step, self._first_bad)
        self.steps += 1

    def flush(self, extra: Any = None) -> tuple[float, int, int | None, float | None]:
        """One download: (loss sum, steps, first non-finite step or None, ``extra`` as a float)."""
        if self._sum is None:
            return 0.0, 0, None, None if extra is None else float(self.backend.to_host(extra))
        xp = self.xp
        parts = [self._sum, self._first_bad.astype(xp.float64)]
        if extra is not None:
            parts.append(extra.astype(xp.float64))
        host = np.asarray(self.backend.to_host(xp.stack(parts)))
        n = self.steps
        self.reset()
        bad = int(host[1])
        return float(host[0]), n, (bad if bad >= 0 else None), (float(host[2]) if extra is not None else None)
