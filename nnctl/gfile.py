"""``tf.gfile`` (TF1 names) and ``tf.io.gfile`` (TF2 names): local-file basics.

nnctl reads and writes the local file system only; paths with a scheme (``gs://``, ``hdfs://``)
raise a clear error. ``GFile`` is Python's ``open`` (text or binary by mode, as in TF)."""

from __future__ import annotations

import glob as _glob
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any

from nnctl.errors import NotFoundError


def _local(path: Any) -> str:
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = p.decode()
    if "://" in p and not p.startswith("file://"):
        raise NotImplementedError(f"{p}: nnctl's gfile reads local files only (no {p.split('://')[0]}:// support)")
    return p[len("file://"):] if p.startswith("file://") else p


def _not_found(path: str, what: str) -> NotFoundError:
    return NotFoundError(None, None, f"{path}; No such file or directory ({what})")


class GFile:
    """``tf.gfile.GFile(name, mode="r")``: a file object (context manager, read, write, readline ...)."""

    def __init__(self, name: Any, mode: str = "r") -> None:
        path = _local(name)
        try:
            self._f: IO[Any] = open(path, mode)
        except FileNotFoundError:
            raise _not_found(path, "GFile") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._f)

    def __enter__(self) -> GFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()

    def size(self) -> int:
        return os.fstat(self._f.fileno()).st_size


Open = GFile
FastGFile = GFile


def exists(path: Any) -> bool:
    return os.path.exists(_local(path))


def isdir(path: Any) -> bool:
    return os.path.isdir(_local(path))


def makedirs(path: Any) -> None:
    os.makedirs(_local(path), exist_ok=True)


def mkdir(path: Any) -> None:
    os.mkdir(_local(path))


def listdir(path: Any) -> list[str]:
    p = _local(path)
    if not os.path.isdir(p):
        raise _not_found(p, "listdir")
    return sorted(os.listdir(p))


def glob(pattern: Any) -> list[str]:
    return sorted(_glob.glob(_local(pattern)))


def remove(path: Any) -> None:
    p = _local(path)
    try:
        os.remove(p)
    except FileNotFoundError:
        raise _not_found(p, "remove") from None


def rmtree(path: Any) -> None:
    p = _local(path)
    if not os.path.exists(p):
        raise _not_found(p, "rmtree")
    shutil.rmtree(p)


def copy(src: Any, dst: Any, overwrite: bool = False) -> None:
    s, d = _local(src), _local(dst)
    if os.path.exists(d) and not overwrite:
        from nnctl.errors import OpError
        raise OpError(None, None, f"{d}: file already exists (pass overwrite=True)")
    shutil.copyfile(s, d)


def rename(src: Any, dst: Any, overwrite: bool = False) -> None:
    s, d = _local(src), _local(dst)
    if os.path.exists(d) and not overwrite:
        from nnctl.errors import OpError
        raise OpError(None, None, f"{d}: file already exists (pass overwrite=True)")
    os.replace(s, d)


def walk(top: Any, topdown: bool = True, onerror: Any = None) -> Iterator[tuple[str, list[str], list[str]]]:
    yield from os.walk(_local(top), topdown=topdown, onerror=onerror)


class _Stat:
    def __init__(self, st: os.stat_result) -> None:
        self.length = st.st_size
        self.mtime_nsec = st.st_mtime_ns
        self.is_directory = False


def stat(path: Any) -> _Stat:
    p = _local(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _not_found(p, "stat") from None
    s = _Stat(st)
    s.is_directory = os.path.isdir(p)
    return s


# TF1's CamelCase names (tf.gfile.*)
Exists, IsDirectory, MakeDirs, MkDir, ListDirectory, Glob = exists, isdir, makedirs, mkdir, listdir, glob
Remove, DeleteRecursively, Copy, Rename, Walk, Stat = remove, rmtree, copy, rename, walk, stat
