"""Checkpoints: crash-safe, verified, never pickled.

A checkpoint is a folder ``checkpoints/ckpt-<step>/`` holding ``arrays.npz`` (every variable:
weights, optimizer slots, global step, batch-norm statistics), ``state.json`` (data order and
position, random-stream states, trainer state) and ``manifest.json`` (format version, step, the
SHA-256 of each file, config and graph fingerprints, and a checksum of the manifest itself).
It is written into a temporary folder, every file fsynced, then renamed into place; a folder
that is not complete and verified is never used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError
from nnctl.fileio import atomic_write_json, fsync_dir, load_npz_bytes, npz_bytes, read_file_bytes, sha256_bytes

FORMAT = "nnctl-checkpoint"
VERSION = 1
# at least 8 digits: step 100,000,000 is ckpt-100000000; listings sort by the step, never by name
_NAME = re.compile(r"^ckpt-(\d{8,})$")
BEST_FILE = "best.json"


@dataclass
class Checkpoint:
    path: Path
    step: int
    arrays: dict[str, np.ndarray]
    state: dict[str, Any]
    manifest: dict[str, Any]


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}"


def _manifest_checksum(m: dict) -> str:
    body = {k: v for k, v in m.items() if k != "checksum"}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def folder_lock(ckpt_dir: Path, exclusive: bool) -> Iterator[None]:
    """``flock`` on the ``checkpoints/`` folder itself: readers share it while they read a
    checkpoint's bytes, pruning and replacing take it alone, so ``eval``/``freeze`` of a live run
    never read a folder that is being deleted."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(Path(ckpt_dir), flags)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _set_aside(path: Path) -> Path:
    """Rename a damaged checkpoint folder to ``<name>.damaged[-N]``, a name no listing or pruning matches."""
    dest = path.with_name(path.name + ".damaged")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.damaged-{n}")
    os.replace(path, dest)
    return dest


def save_checkpoint(ckpt_dir: Path, step: int, arrays: dict[str, np.ndarray], state: dict[str, Any],
                    config_fingerprint: str, graph_fingerprint: str,
                    write_file: Callable[[Path, bytes], None] = _write_file, *,
                    warn: Callable[[str], None] | None = None) -> Path:
    """Write a checkpoint atomically; returns its folder. OSError (e.g. ENOSPC) leaves nothing behind.

    A damaged checkpoint already at this step (a resume fell back past it) is kept for inspection
    under ``ckpt-<step>.damaged``, never deleted."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / checkpoint_name(step)
    tmp = ckpt_dir / f".{checkpoint_name(step)}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        blobs = {"arrays.npz": npz_bytes(arrays),
                 "state.json": json.dumps(state, sort_keys=True, allow_nan=False).encode()}
        for name, data in blobs.items():
            write_file(tmp / name, data)
        manifest = {"format": FORMAT, "version": VERSION, "step": int(step),
                    "files": {n: sha256_bytes(d) for n, d in blobs.items()},
                    "config_fingerprint": config_fingerprint, "graph_fingerprint": graph_fingerprint,
                    "arrays": sorted(arrays)}
        manifest["checksum"] = _manifest_checksum(manifest)
        write_file(tmp / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
        fsync_dir(tmp)
        with folder_lock(ckpt_dir, exclusive=True):
            if (final.exists() or final.is_symlink()) and not _intact_unlocked(final):
                moved = _set_aside(final)
                if warn is not None:
                    warn(f"checkpoint {final} is damaged; kept it as {moved} and wrote a new one in its place")
            if final.exists():
                old = ckpt_dir / f".{checkpoint_name(step)}.old-{os.getpid()}"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            fsync_dir(ckpt_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint(path: Path, expect_graph: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint folder; FileFormatError naming the file for any damage."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        raise FileFormatError(f"{path}: not a checkpoint folder" + (" (a symbolic link)" if path.is_symlink() else ""))
    with folder_lock(path.parent, exclusive=False):
        return _load_checkpoint(path, expect_graph)


def _load_checkpoint(path: Path, expect_graph: str | None) -> Checkpoint:
    mpath = path / "manifest.json"
    raw = read_file_bytes(mpath, "checkpoint manifest (incomplete or damaged checkpoint)")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{mpath}: damaged manifest (not valid JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FileFormatError(f"{mpath}: not an nnctl checkpoint manifest")
    if manifest.get("version") != VERSION:
        raise FileFormatError(f"{mpath}: checkpoint format version {manifest.get('version')!r} is not supported "
                              f"(this nnctl reads version {VERSION})")
    if manifest.get("checksum") != _manifest_checksum(manifest):
        raise FileFormatError(f"{mpath}: manifest checksum mismatch (damaged)")
    from nnctl.train.state_schema import validate_manifest  # the config schema's readers: only on load
    validate_manifest(manifest, mpath)
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {"arrays.npz", "state.json"}:
        raise FileFormatError(f"{mpath}: manifest lists unexpected files")
    blobs = {}
    for name, digest in files.items():
        fp = path / name
        if not isinstance(name, str) or not isinstance(digest, str):
            raise FileFormatError(f"{mpath}: manifest lists unexpected files")
        if not fp.exists() and not fp.is_symlink():
            raise FileFormatError(f"{fp}: missing from checkpoint")
        data = read_file_bytes(fp, "checkpoint file")
        if sha256_bytes(data) != digest:
            raise FileFormatError(f"{fp}: SHA-256 does not match the manifest (damaged or modified)")
        blobs[name] = data
    arrays = load_npz_bytes(blobs["arrays.npz"], source=str(path / "arrays.npz"), what="checkpoint arrays")
    try:
        state = json.loads(blobs["state.json"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{path / 'state.json'}: not valid JSON") from None
    step = manifest.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0 \
            or _NAME.match(path.name) and int(_NAME.match(path.name).group(1)) != step:
        raise FileFormatError(f"{mpath}: step {step!r} does not match the folder name")
    if sorted(arrays) != manifest.get("arrays"):
        raise FileFormatError(f"{path / 'arrays.npz'}: arrays differ from the manifest's list")
    if expect_graph is not None and manifest.get("graph_fingerprint") != expect_graph:
        raise FileFormatError(f"{path}: checkpoint was written for a different model (graph fingerprint differs)")
    return Checkpoint(path, step, arrays, state, manifest)


def _intact(path: Path) -> bool:
    try:
        load_checkpoint(path)
    except FileFormatError:
        return False
    return True


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete-looking checkpoint, oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    out = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m and (p.is_dir() or p.is_symlink()):
            out.append((int(m.group(1)), p))
    # by step as a number (the manifest's step, which loading checks against the name)
    return sorted(out, key=lambda sp: sp[0])


def check_trainer_state(c: Checkpoint) -> None:
    """FileFormatError naming state.json and the field when its trainer state is not valid."""
    from nnctl.train.state_schema import validate_state
    validate_state(c.state, c.path / "state.json", c.step, c.arrays)


def latest_intact(ckpt_dir: Path, warn: Callable[[str], None], expect_graph: str | None = None,
                  check: Callable[[Checkpoint], None] | None = None) -> Checkpoint | None:
    """The newest checkpoint that verifies; damaged newer ones are named in a warning, never deleted.

    A folder that disappears while it is read was pruned by the live run writing it: the listing
    is taken again, so a reader of a live run always gets a whole, current checkpoint."""
    skipped: set[Path] = set()
    for _ in range(100):
        for _, p in reversed(list_checkpoints(ckpt_dir)):
            if p in skipped:
                continue
            try:
                c = load_checkpoint(p, expect_graph)
                if check is not None:
                    check(c)
                return c
            except FileFormatError as e:
                if not p.exists() and not p.is_symlink():
                    break  # pruned under us: list again
                skipped.add(p)
                warn(f"checkpoint {p} is damaged and was skipped: {e}")
        else:
            return None
    return None


def find_checkpoint(ckpt_dir: Path, which: str, warn: Callable[[str], None]) -> Checkpoint:
    """``latest`` (newest intact), ``best``, or a step number."""
    ckpts = list_checkpoints(ckpt_dir)
    if not ckpts:
        raise FileFormatError(f"{ckpt_dir}: no checkpoints found")
    if which == "latest":
        c = latest_intact(ckpt_dir, warn)
        if c is None:
            raise FileFormatError(f"{ckpt_dir}: no intact checkpoint (all {len(ckpts)} are damaged)")
        return c
    if which == "best":
        step = best_step(ckpt_dir, warn)
        if step is None:
            raise FileFormatError(f"{ckpt_dir}: no best checkpoint is marked (the run had no validation data)")
        return load_checkpoint(Path(ckpt_dir) / checkpoint_name(step))
    try:
        step = int(which)
    except ValueError:
        raise FileFormatError(f"--checkpoint must be 'latest', 'best' or a step number, got {which!r}") from None
    p = Path(ckpt_dir) / checkpoint_name(step)
    if not p.is_dir():
        have = ", ".join(str(s) for s, _ in ckpts)
        raise FileFormatError(f"{ckpt_dir}: no checkpoint at step {step} (have: {have})")
    return load_checkpoint(p)


def mark_best(ckpt_dir: Path, step: int, metric: str, value: float, root: Path | None = None) -> None:
    atomic_write_json(Path(ckpt_dir) / BEST_FILE, {"step": int(step), "metric": metric, "value": float(value)},
                      root=root)


def read_best(ckpt_dir: Path) -> dict | None:
    """best.json as {step, metric, value}, or None when it is missing, not a file or malformed."""
    from nnctl.train.state_schema import validate_best
    p = Path(ckpt_dir) / BEST_FILE
    try:
        return validate_best(json.loads(read_file_bytes(p, "best-checkpoint record").decode("utf-8")), p)
    except (FileFormatError, ValueError, UnicodeDecodeError, RecursionError):
        return None


def _recorded_best(c: Checkpoint) -> int | None:
    """The best step a checkpoint's own state records (written atomically with the checkpoint)."""
    t = c.state.get("trainer") if isinstance(c.state, dict) else None
    b = t.get("best") if isinstance(t, dict) else None
    s = b.get("step") if isinstance(b, dict) else None
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def best_step(ckpt_dir: Path, warn: Callable[[str], None] | None = None) -> int | None:
    """The run's best step. The newest intact checkpoint's state is the record: it is written in one
    atomic rename with that checkpoint, while best.json is written after it and a crash in between
    leaves best.json behind. best.json counts only where no checkpoint records a best."""
    newest = latest_intact(ckpt_dir, warn or (lambda m: None))
    recorded = _recorded_best(newest) if newest is not None else None
    marked = read_best(ckpt_dir)
    if recorded is not None:
        if marked is not None and marked["step"] != recorded and warn is not None:
            warn(f"{Path(ckpt_dir) / BEST_FILE} names step {marked['step']} but checkpoint {newest.path.name} "
                 f"records step {recorded} as the best: using step {recorded}")
        return recorded
    return marked["step"] if marked is not None else None


def prune(ckpt_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, always keeping the best one.

    Every step that any record calls best is kept: best.json's, and the best each remaining
    checkpoint's state records (so a crash between writing a checkpoint and best.json loses
    nothing). Only intact checkpoints are deleted: a damaged one stays on disk for a person to
    inspect."""
    with folder_lock(ckpt_dir, exclusive=True):
        ckpts = list_checkpoints(ckpt_dir)
        keep = {s for s, _ in ckpts[-keep_last:]}
        best = read_best(ckpt_dir)
        if best is not None:
            keep.add(best["step"])
        doomed = []
        for s, p in ckpts:
            if s in keep:
                b = _state_best(p)
                if b is not None:
                    keep.add(b)
        for s, p in ckpts:
            if s not in keep and not p.is_symlink() and _intact_unlocked(p):
                doomed.append(p)
        for p in doomed:
            shutil.rmtree(p, ignore_errors=True)
        for p in Path(ckpt_dir).glob(".ckpt-*.tmp-*"):  # debris of a write killed mid-way
            shutil.rmtree(p, ignore_errors=True)
        for p in Path(ckpt_dir).glob(".ckpt-*.old-*"):
            shutil.rmtree(p, ignore_errors=True)


def _state_best(path: Path) -> int | None:
    """The best step recorded in a checkpoint's state.json, read only after its manifest checksum and
    the file's SHA-256 verify (the arrays are not read); None when it does not verify."""
    try:
        raw = read_file_bytes(path / "manifest.json", "checkpoint manifest")
        m = json.loads(raw.decode("utf-8"))
        if not isinstance(m, dict) or m.get("checksum") != _manifest_checksum(m):
            return None
        data = read_file_bytes(path / "state.json", "checkpoint state")
        if sha256_bytes(data) != (m.get("files") or {}).get("state.json"):
            return None
        state = json.loads(data.decode("utf-8"))
    except (FileFormatError, ValueError, UnicodeDecodeError, AttributeError, TypeError):
        return None
    return _recorded_best(Checkpoint(path, -1, {}, state, m))


def _intact_unlocked(path: Path) -> bool:
    try:
        _load_checkpoint(path, None)
    except FileFormatError:
        return False
    return True


def variable_diff(old: dict, new: dict) -> list[str]:
    """Readable differences between two {variable: [shape, dtype]} specs (checkpoint vs model)."""
    lines = []
    for k in sorted(set(old) | set(new)):
        if k not in new:
            lines.append(f"variable {k} {old[k]} is in the checkpoint but not in the model")
        elif k not in old:
            lines.append(f"variable {k} {new[k]} is in the model but not in the checkpoint")
        elif list(old[k]) != list(new[k]):
            lines.append(f"variable {k}: checkpoint {old[k]} vs model {new[k]}")
    return lines


def load_into(model: Any, sess: Any, arrays: dict[str, np.ndarray], source: str) -> None:
    """Load checkpoint arrays into ``sess``, checking each variable's presence, shape and dtype."""
    for v in model.graph.get_collection("variables"):
        name = v.op.name
        if name not in arrays:
            raise FileFormatError(f"{source}: checkpoint lacks variable {name}")
        a = arrays[name]
        if tuple(a.shape) != tuple(v.static_shape) or a.dtype != v.dtype.np:
            raise FileFormatError(f"{source}: checkpoint array {name} has shape {tuple(a.shape)} {a.dtype}, the "
                                  f"model expects {tuple(v.static_shape)} {v.dtype.name}")
    sess.load_variable_values({k: arrays[k] for k in model.variable_specs()})
