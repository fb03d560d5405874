"""SIGINT and SIGTERM outside the training loop, remembered even when a library swallows them.

The CLI installs :func:`on_signal` for both signals: it records the signal and raises
KeyboardInterrupt. Some libraries catch that exception and carry on (importing pandas from inside
pyarrow does), so the record is what counts: the trainer calls :func:`raise_if_pending` between
setting up and training, and the CLI reports a pending signal with exit 130/143 even when the
command returned normally.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any

_pending: list[int] = []


def on_signal(signum: int, frame: Any) -> None:
    _pending.append(signum)
    raise KeyboardInterrupt


def pending() -> int | None:
    """The last signal received since :func:`clear`, or None."""
    return _pending[-1] if _pending else None


def clear() -> None:
    _pending.clear()


def raise_if_pending() -> None:
    """KeyboardInterrupt when a signal arrived (and may have been swallowed) since :func:`clear`."""
    if _pending:
        raise KeyboardInterrupt


def install() -> dict[int, Any]:
    """Install :func:`on_signal` for SIGINT and SIGTERM (main thread only); returns the old handlers."""
    old = {}
    for s in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to install
            old[s] = signal.signal(s, on_signal)
    return old


def restore(old: dict[int, Any]) -> None:
    for s, h in old.items():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(s, h)
