"""Atomic, checksummed file writes and safe, bounded reads.

Every file nnctl writes goes through :func:`atomic_write_bytes`: the bytes go to a temporary file
in the destination folder, are flushed and fsynced, then moved into place with ``os.replace``,
and the folder itself is fsynced, so a crash leaves either the old file or the new one, never a
torn one. Outputs a user names (``-o``) go through :func:`write_output`, which turns every
``OSError`` into one message: exit 2 for a bad path, exit 1 for a full disk.

Inside a run directory nothing is written through a symbolic link: :func:`check_inside` refuses a
link at the file or a folder on the way that leads out of the run dir, and :func:`append_text`
opens with ``O_NOFOLLOW``.

Reads go through :func:`read_file_bytes`: regular files only (a FIFO or a device is refused without
blocking), and never more than the memory budget (:func:`memory_budget`, ``NNCTL_MEMORY_BUDGET``);
gzip data is inflated in bounded chunks (:func:`gunzip_bounded`), so a small file cannot make nnctl
allocate gigabytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError, InputError, NnctlError, RuntimeFailure


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


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, root: str | os.PathLike | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, os.replace, fsync folder).

    ``root``: the run directory ``path`` must stay inside (:func:`check_inside`)."""
    path = Path(path)
    if root is not None:
        check_inside(root, path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=folder)
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


def atomic_write_text(path: str | os.PathLike, text: str, *, root: str | os.PathLike | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), root=root)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, root: str | os.PathLike | None = None) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", root=root)


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


# --- the memory budget -------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
BUDGET_ENV = "NNCTL_MEMORY_BUDGET"


def parse_size(text: str) -> int:
    """Bytes in ``"512M"``, ``"4G"``, ``"1.5g"`` or ``"1000000"`` (binary units); ValueError otherwise."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (expected a number of bytes or e.g. 512M, 4G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def fmt_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # unreachable


def memory_budget() -> int:
    """The most memory one allocation nnctl makes on behalf of a file or a config may take.

    ``NNCTL_MEMORY_BUDGET`` (e.g. ``2G``) sets it; the default is 80% of physical memory, lowered to
    ``RLIMIT_AS`` where a limit is set. Reading a file, inflating gzip data, an array a file declares
    and the model a config declares are each checked against it before anything is allocated."""
    env = os.environ.get(BUDGET_ENV)
    if env:
        try:
            return max(1, parse_size(env))
        except ValueError as e:
            raise InputError(f"{BUDGET_ENV}: {e}") from None
    try:
        phys = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        phys = 8 * 2**30
    budget = int(phys * 0.8)
    with contextlib.suppress(ImportError, ValueError, OSError, IndexError):
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            # what is left of the address-space limit after what this process already maps
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            budget = min(budget, int((soft - used) * 0.8))
    return max(budget, 1)


class BudgetError(RuntimeFailure):
    """Something would need more memory than the budget allows (exit 1, naming it)."""


def check_budget(nbytes: int, what: str) -> None:
    """BudgetError naming ``what`` when ``nbytes`` exceeds :func:`memory_budget`."""
    budget = memory_budget()
    if nbytes > budget:
        raise BudgetError(f"out of memory: {what} needs {fmt_bytes(nbytes)}, more than the memory budget of "
                          f"{fmt_bytes(budget)} (set {BUDGET_ENV} to change it)")


def out_of_memory_error(e: MemoryError, what: str) -> RuntimeFailure:
    """A MemoryError as the one-line runtime failure (exit 1) that names what was being done."""
    detail = str(e) or "allocation failed"
    return RuntimeFailure(f"out of memory while {what}: {detail}")


# --- reading -------------------------------------------------------------------------------------

def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | os.PathLike, what: str, error: type[Exception] = FileFormatError) -> int:
    """A read-only descriptor of ``path``, or ``error`` naming it when it is missing, unreadable or not
    a regular file. ``O_NONBLOCK`` keeps a FIFO from blocking the open; it is refused right after."""
    p = os.fspath(path)
    if p == "":
        raise error(f"empty path given for the {what}")
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{p}: {what} not found") from None
    except OSError as e:
        raise error(f"{p}: cannot read {what}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _kind(st.st_mode)
            raise error(f"{p}: is {kind}, expected a {what}" if kind.startswith("a ")
                        else f"{p}: {kind}, expected a {what}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file_bytes(path: str | os.PathLike, what: str, error: type[Exception] = FileFormatError) -> bytes:
    """The bytes of a regular file, or ``error`` naming it: missing, a directory, a FIFO or device,
    unreadable. A file larger than the memory budget is a :class:`BudgetError` naming it."""
    p = Path(path)
    fd = open_regular(path, what, error)
    try:
        size = os.fstat(fd).st_size
        check_budget(size, f"reading {p} ({what})")
        chunks = []
        while True:
            b = os.read(fd, max(size + 1, 1 << 16))  # usually one read; a growing file is read to its end
            if not b:
                break
            chunks.append(b)
            size = 0
        data = b"".join(chunks)
    except OSError as e:
        raise error(f"{p}: cannot read {what}: {e.strerror or e}") from None
    except MemoryError as e:
        raise out_of_memory_error(e, f"reading {p}") from None
    finally:
        os.close(fd)
    return data


def gunzip_bounded(data: bytes, source: str, error: type[Exception] = FileFormatError,
                   limit: int | None = None) -> bytes:
    """Inflate gzip ``data`` (one or more members) in bounded chunks; refuse output past ``limit``
    (default: the memory budget) before it is allocated, naming ``source``."""
    limit = memory_budget() if limit is None else limit
    out: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            buf = rest
            while True:
                chunk = d.decompress(buf, 1 << 20)
                total += len(chunk)
                if total > limit:
                    raise BudgetError(f"out of memory: {source} inflates to more than {fmt_bytes(limit)} (the "
                                      f"memory budget; set {BUDGET_ENV} to change it); a gzip file "
                                      f"{fmt_bytes(len(data))} long was refused")
                out.append(chunk)
                buf = d.unconsumed_tail
                if d.eof or not buf and not chunk:
                    break
            if not d.eof:
                raise error(f"{source}: truncated gzip data (the compressed stream ends early)")
            rest = d.unused_data
            if rest and rest[:2] != b"\x1f\x8b":
                break  # trailing garbage after the last member is ignored, as gzip(1) does
    except zlib.error as e:
        raise error(f"{source}: corrupt gzip data: {e}") from None
    return b"".join(out)


# --- writing inside a run directory -----------------------------------------------------------------

def _inside(child: str, root: str) -> bool:
    return child == root or child.startswith(root.rstrip(os.sep) + os.sep)


def check_inside(root: str | os.PathLike, path: str | os.PathLike) -> None:
    """InputError unless writing ``path`` stays inside the run directory ``root``: ``path`` itself
    must not be a symbolic link, and the real path of its folder must lie under ``root``'s."""
    p = Path(path)
    if p.is_symlink():
        raise InputError(f"{p}: is a symbolic link (to {os.readlink(p)}); nnctl never writes through a link "
                         "inside a run directory: remove the link")
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(p.parent)
    if not _inside(real_parent, real_root):
        raise InputError(f"{p}: refusing to write outside the run directory {root}: {p.parent} leads to "
                         f"{real_parent} (a symbolic link); remove the link")


def append_text(root: str | os.PathLike, path: str | os.PathLike, text: str) -> None:
    """Append ``text`` to ``path`` inside ``root`` without following a link (``O_NOFOLLOW``)."""
    check_inside(root, path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(os.fspath(path), flags, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(f"{path}: is a symbolic link; nnctl never writes through a link inside a run "
                             "directory: remove the link") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path}: is not a regular file; nnctl appends its records only to a plain file")
        data = text.encode("utf-8")
        while data:
            n = os.write(fd, data)
            data = data[n:]
    finally:
        os.close(fd)


def create_exclusive(root: str | os.PathLike, path: str | os.PathLike, data: bytes) -> None:
    """Create a new file ``path`` (never an existing one, never through a link) holding ``data``."""
    check_inside(root, path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(os.fspath(path), flags, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# --- outputs a user names -------------------------------------------------------------------------

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}


def user_path(value: str | os.PathLike | None, what: str) -> Path:
    """``value`` as a Path, or InputError when it is empty (a Path would silently turn "" into ".")."""
    if value is None or os.fspath(value).strip() == "":
        raise InputError(f"{what}: empty path; give a file or folder name")
    return Path(value)


def check_path_length(p: Path, what: str) -> None:
    """InputError (exit 2) for a name over 255 bytes or a path over 4095, before the OS is asked."""
    if len(os.fspath(p).encode()) >= 4096 or any(len(part.encode()) > 255 for part in p.parts):
        raise path_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), p, what)


def input_path(value: str | os.PathLike | None, what: str) -> Path:
    """A path a user gave for something to read: not empty, not too long, existing; InputError
    naming it otherwise."""
    p = user_path(value, what)
    check_path_length(p, what)
    try:
        os.stat(p)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file or directory (the {what})") from None
    except NotADirectoryError:
        raise InputError(f"{p}: a part of the path is a file, not a folder (the {what})") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read the {what}: {e.strerror or e}") from None
    return p


def path_error(e: OSError, path: str | os.PathLike, what: str) -> NnctlError:
    """One clear message for an OSError on ``path``: a bad path is InputError (exit 2), a full disk
    or an I/O error RuntimeFailure (exit 1)."""
    p = os.fspath(path)
    shown = p if len(p) <= 200 else f"{p[:80]}...{p[-60:]} ({len(p)} characters)"
    parent = os.path.dirname(p) or "."
    code = e.errno
    if code in _DISK_FULL:
        return RuntimeFailure(f"{shown}: cannot write the {what}: disk full ({e.strerror}); nothing was written")
    if code == errno.EIO:
        return RuntimeFailure(f"{shown}: cannot write the {what}: I/O error; nothing was written")
    if code == errno.ENAMETOOLONG:
        longest = max((len(part.encode()) for part in Path(p).parts), default=0)
        return InputError(f"{shown}: cannot write the {what}: name too long (longest part {longest} bytes, the "
                          "file system allows 255 per name and 4096 per path)")
    if code == errno.ENOENT:
        return InputError(f"{shown}: cannot write the {what}: folder {parent} does not exist")
    if code == errno.EISDIR:
        return InputError(f"{shown}: is a folder; give a file name for the {what}")
    if code == errno.ENOTDIR:
        return InputError(f"{shown}: cannot write the {what}: a part of {parent} is a file, not a folder")
    if code == errno.EROFS:
        return InputError(f"{shown}: cannot write the {what}: read-only file system")
    if code in (errno.EACCES, errno.EPERM):
        return InputError(f"{shown}: cannot write the {what}: permission denied")
    if code == errno.ELOOP:
        return InputError(f"{shown}: cannot write the {what}: too many symbolic links")
    return RuntimeFailure(f"{shown}: cannot write the {what}: {e.strerror or e}")


def check_output_path(path: str | os.PathLike | None, what: str = "output file") -> Path:
    """Check, before any work is done, that a user-named output file can be written: not empty, not a
    folder, its folder exists and is a folder, its name and path not too long, the file system
    writable. InputError (exit 2) naming the path otherwise."""
    p = user_path(path, what)
    check_path_length(p, what)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give a file name for the {what}")
    parent = p.parent
    for anc in [parent, *parent.parents]:
        if anc.exists():
            if not anc.is_dir():
                raise InputError(f"{p}: cannot write the {what}: {anc} is a file, not a folder")
            break
    if not parent.is_dir():
        raise InputError(f"{p}: cannot write the {what}: folder {parent} does not exist")
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            raise InputError(f"{p}: cannot write the {what}: {parent} is on a read-only file system")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{p}: cannot write the {what}: permission denied in {parent}")
    return p


def write_output(path: str | os.PathLike, data: bytes | str, what: str = "output file") -> Path:
    """Write a user-named output atomically; every failure is one message and nothing half-written
    stays behind (exit 2 for a bad path, 1 for a full disk). Returns the path written."""
    p = check_output_path(path, what)
    blob = data.encode("utf-8") if isinstance(data, str) else data
    try:
        atomic_write_bytes(p, blob)
    except OSError as e:
        raise path_error(e, p, what) from None
    return p


def _npz_zip(data: bytes, source: str, what: str) -> zipfile.ZipFile:
    if not data:
        raise FileFormatError(f"{source}: {what} is empty")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise FileFormatError(f"{source}: not a valid {what} (not an npz/zip archive)") from None


def npz_member_names(data: bytes, *, source: str, what: str = "file") -> list[str]:
    """The array names in npz ``data`` (members ``NAME.npy``), without reading any array."""
    with _npz_zip(data, source, what) as z:
        return [n[:-4] for n in z.namelist() if n.endswith(".npy")]


def _check_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, what: str) -> None:
    """Refuse a member before numpy allocates it: its declared size against the budget, and the shape
    its .npy header declares against the bytes the member really holds."""
    name = info.filename[:-4]
    check_budget(info.file_size, f"array {name!r} of {source}")
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        header = f.tell()
    if dtype.hasobject:
        raise FileFormatError(f"{source}: refused {what}: array {name!r} holds Python objects (dtype "
                              f"{dtype}): Object arrays cannot be loaded when allow_pickle=False")
    declared = dtype.itemsize
    for d in shape:
        declared *= int(d)
    if declared != info.file_size - header:
        raise FileFormatError(f"{source}: damaged {what}: array {name!r} declares shape {tuple(shape)} {dtype} "
                              f"({fmt_bytes(declared)}) but holds {fmt_bytes(info.file_size - header)}")


def load_npz_bytes(data: bytes, *, source: str, what: str = "file",
                   keys: list[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of npz ``data`` (only ``keys`` where given: other members are never read), each
    checked against its declared size and the memory budget before it is allocated."""
    out: dict[str, np.ndarray] = {}
    z = _npz_zip(data, source, what)
    try:
        with z:
            infos = {i.filename: i for i in z.infolist()}
            names = [n[:-4] for n in infos if n.endswith(".npy")]
            wanted = names if keys is None else [k for k in dict.fromkeys(keys) if k in names]
            for name in wanted:
                _check_member(z, infos[name + ".npy"], source, what)
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                for name in wanted:
                    out[name] = np.asarray(npz[name])
    except NnctlError:
        raise
    except MemoryError as e:
        raise out_of_memory_error(e, f"reading {source}") from None
    except ValueError as e:
        # numpy raises ValueError("Object arrays cannot be loaded when allow_pickle=False")
        raise FileFormatError(f"{source}: refused {what}: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise FileFormatError(f"{source}: damaged {what}: {e}") from None
    except Exception as e:  # any other parse failure of hostile bytes
        raise FileFormatError(f"{source}: unreadable {what}: {type(e).__name__}: {e}") from None
    return out
