"""The training split resident on the device (``data.device: true``).

The features and labels are uploaded once, in the dtypes of the placeholders they feed; each batch
is then gathered on the device (``xp.take``) with indices that are themselves on the device: the
epoch's permutation goes up once per epoch and a batch is a slice of it. The Batcher, and so the
shuffle and its checkpointed state, are the host's as before, so the gathered batches are the very
values ``x[idx]`` would feed and a run computes bit-identically to ``data.device: false``.

Where the backend's arrays live in host memory (numpy) there is nothing to keep resident:
:func:`device_resident` returns None and the trainer feeds host slices as always.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.backends.base import Backend


class DeviceResident:
    """Device copies of one split's ``x`` (None: gathered on the host, e.g. for augmentation) and ``y``."""

    def __init__(self, backend: Backend, x: np.ndarray | None, y: np.ndarray, x_dtype: Any, y_dtype: Any) -> None:
        self.backend = backend
        self.x = None if x is None else backend.upload(np.ascontiguousarray(x, dtype=x_dtype))
        self.y = backend.upload(np.ascontiguousarray(y, dtype=y_dtype))
        self._host_perm: np.ndarray | None = None
        self._perm: Any = None

    def indices(self, perm: np.ndarray, start: int, end: int) -> Any:
        """``perm[start:end]`` on the device: ``perm`` is uploaded when it is a new epoch's array."""
        if perm is not self._host_perm:
            self._perm = self.backend.upload(np.ascontiguousarray(perm, dtype=np.int64))
            self._host_perm = perm
        return self._perm[start:end]

    def gather(self, array: Any, idx: Any) -> Any:
        """``array[idx]`` along the first axis, on the device."""
        return self.backend.xp.take(array, idx, axis=0)


def device_resident(backend: Backend, wanted: bool, x: np.ndarray | None, y: np.ndarray, x_dtype: Any,
                    y_dtype: Any) -> DeviceResident | None:
    """A DeviceResident when ``wanted`` and the backend's memory is not the host's, else None."""
    if not wanted or backend.host_memory:
        return None
    return DeviceResident(backend, x, y, x_dtype, y_dtype)
