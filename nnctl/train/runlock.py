"""One writer per run directory: an exclusive ``flock`` on ``<run dir>/.lock``.

``nnctl train`` (fresh or ``--resume``) holds the lock from the moment it has a run directory until
it exits; a second process that wants to write there is refused with a message naming the holder
(its pid, host, command and start time, which the holder writes into the lock file). The kernel
drops an ``flock`` when its process dies, so a run killed with ``kill -9`` never leaves the
directory locked: the next holder finds the dead holder's record in the file, says it took over a
stale lock, and writes its own. A clean exit empties the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnctl.errors import InputError

LOCK_FILE = ".lock"


def _describe(holder: dict[str, Any]) -> str:
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts.append(f"on {holder['host']}")
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    if holder.get("command"):
        parts.append(f"({holder['command']})")
    return " ".join(parts)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 4096, 0)
        d = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return d if isinstance(d, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The exclusive lock of one run directory (a context manager; :meth:`release` is idempotent)."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.fd: int | None = None
        self.stale: dict[str, Any] | None = None

    def acquire(self, warn: Callable[[str], None] | None = None) -> RunLock:
        """Take the lock or raise InputError naming the process that holds it."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise InputError(f"{self.path}: is a symbolic link; nnctl never writes through a link inside "
                                 "a run directory: remove the link") from None
            raise InputError(f"run directory {self.run_dir} cannot be locked: {e.strerror or e} "
                             f"({self.path})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = _describe(holder) if holder else "another process"
                raise InputError(f"run directory {self.run_dir} is in use by {who}: only one nnctl process "
                                 f"may write to a run directory at a time (lock file {self.path}); wait for "
                                 "it to finish, or stop it and use --resume") from None
            raise InputError(f"run directory {self.run_dir} cannot be locked: {e.strerror or e}") from None
        previous = _read_holder(fd)
        if previous:
            # We hold the flock, so its recorded holder is gone (a crash or kill -9).
            self.stale = previous
            if warn is not None:
                state = "still running but not holding it" if (
                    previous.get("host") == socket.gethostname() and _pid_alive(previous.get("pid"))) \
                    else "no longer running"
                warn(f"{self.path}: took over a stale lock of {_describe(previous)} ({state}); that run did "
                     "not finish cleanly")
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            os.fsync(fd)
        self.fd = fd
        return self

    def release(self, remove: bool = False) -> None:
        """Empty the lock file (a clean exit) and drop the lock; ``remove`` deletes the file too (a
        failed start that removes the run directory it created)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire() if self.fd is None else self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def lock_holder(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The record of the process writing to ``run_dir`` now, or None when nobody holds its lock."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
