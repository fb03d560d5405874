"""Atomic, checksummed file writes and safe reads.

Every file nnctl writes goes through :func:`atomic_write_bytes`: the bytes go to a temporary file
in the destination folder, are flushed and fsynced, then moved into place with ``os.replace``,
and the folder itself is fsynced, so a crash leaves either the old file or the new one, never a
torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, os.replace, fsync folder)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()




def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise arrays to .npz bytes (never pickled: object arrays are refused)."""
    for name, a in arrays.items():
        if np.asarray(a).dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object; nnctl never pickles")
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def read_file_bytes(path: str | os.PathLike, what: str, error: type[Exception] = FileFormatError) -> bytes:
    """The bytes of a file, or ``error`` naming it: missing, a directory, or unreadable."""
    p = Path(path)
    if p.is_dir():
        raise error(f"{p}: is a directory, expected a {what}")
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what}: {e.strerror or e}") from None




def load_npz_bytes(data: bytes, *, source: str, what: str = "file") -> dict[str, np.ndarray]:
    if not data:
        raise FileFormatError(f"{source}: {what} is empty")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise FileFormatError(f"{source}: not a valid {what} (not an npz/zip archive)")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            for name in z.files:
                out[name] = np.asarray(z[name])
    except ValueError as e:
        # numpy raises ValueError("Object arrays cannot be loaded when allow_pickle=False")
        raise FileFormatError(f"{source}: refused {what}: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise FileFormatError(f"{source}: damaged {what}: {e}") from None
    except Exception as e:  # any other parse failure of hostile bytes
        raise FileFormatError(f"{source}: unreadable {what}: {type(e).__name__}: {e}") from None
    return out


def check_output_file(out: str | os.PathLike, flag: str) -> None:
    """An output FILE given by ``flag`` must not be a directory and its folder must exist (InputError)."""
    from nnctl.errors import InputError
    p = Path(out)
    if p.is_dir():
        raise InputError(f"{flag} {out}: is a directory; give a file name inside it (e.g. {p / 'out'})")
    if not p.parent.is_dir():
        raise InputError(f"{flag} {out}: folder {p.parent} does not exist")
