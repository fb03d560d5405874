"""Checkpoints: crash-safe, verified, never pickled.

A checkpoint is a folder ``checkpoints/ckpt-<step>/`` holding ``arrays.npz`` (every variable:
weights, optimizer slots, global step, batch-norm statistics), ``state.json`` (data order and
position, random-stream states, trainer state) and ``manifest.json`` (format version, step, the
SHA-256 of each file, config and graph fingerprints, and a checksum of the manifest itself).
It is written into a temporary folder, every file fsynced, then renamed into place; a folder
that is not complete and verified is never used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError
from nnctl.fileio import atomic_write_json, fsync_dir, load_npz_bytes, npz_bytes, read_file_bytes, sha256_bytes

FORMAT = "nnctl-checkpoint"
VERSION = 1
_NAME = re.compile(r"^ckpt-(\d{8})$")
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
        if final.exists() and not _intact(final):
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
    if not path.is_dir():
        raise FileFormatError(f"{path}: not a checkpoint folder")
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
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {"arrays.npz", "state.json"}:
        raise FileFormatError(f"{mpath}: manifest lists unexpected files")
    blobs = {}
    for name, digest in files.items():
        fp = path / name
        try:
            data = fp.read_bytes()
        except FileNotFoundError:
            raise FileFormatError(f"{fp}: missing from checkpoint") from None
        if sha256_bytes(data) != digest:
            raise FileFormatError(f"{fp}: SHA-256 does not match the manifest (damaged or modified)")
        blobs[name] = data
    arrays = load_npz_bytes(blobs["arrays.npz"], source=str(path / "arrays.npz"), what="checkpoint arrays")
    try:
        state = json.loads(blobs["state.json"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{path / 'state.json'}: not valid JSON") from None
    step = manifest.get("step")
    if not isinstance(step, int) or _NAME.match(path.name) and int(_NAME.match(path.name).group(1)) != step:
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
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_intact(ckpt_dir: Path, warn: Callable[[str], None], expect_graph: str | None = None
                  ) -> Checkpoint | None:
    """The newest checkpoint that verifies; damaged newer ones are named in a warning, never deleted."""
    for _, p in reversed(list_checkpoints(ckpt_dir)):
        try:
            return load_checkpoint(p, expect_graph)
        except FileFormatError as e:
            warn(f"checkpoint {p} is damaged and was skipped: {e}")
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
        best = read_best(ckpt_dir)
        if best is None:
            raise FileFormatError(f"{ckpt_dir}: no best checkpoint is marked (the run had no validation data)")
        return load_checkpoint(Path(ckpt_dir) / checkpoint_name(int(best["step"])))
    try:
        step = int(which)
    except ValueError:
        raise FileFormatError(f"--checkpoint must be 'latest', 'best' or a step number, got {which!r}") from None
    p = Path(ckpt_dir) / checkpoint_name(step)
    if not p.is_dir():
        have = ", ".join(str(s) for s, _ in ckpts)
        raise FileFormatError(f"{ckpt_dir}: no checkpoint at step {step} (have: {have})")
    return load_checkpoint(p)


def mark_best(ckpt_dir: Path, step: int, metric: str, value: float) -> None:
    atomic_write_json(Path(ckpt_dir) / BEST_FILE, {"step": int(step), "metric": metric, "value": float(value)})


def read_best(ckpt_dir: Path) -> dict | None:
    p = Path(ckpt_dir) / BEST_FILE
    try:
        d = json.loads(p.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) and isinstance(d.get("step"), int) else None


def prune(ckpt_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints, always keeping the best one.

    Only intact checkpoints are deleted: a damaged one stays on disk for a person to inspect."""
    ckpts = list_checkpoints(ckpt_dir)
    best = read_best(ckpt_dir)
    keep = {s for s, _ in ckpts[-keep_last:]}
    if best is not None:
        keep.add(best["step"])
    for s, p in ckpts:
        if s not in keep and _intact(p):
            shutil.rmtree(p, ignore_errors=True)
    for p in Path(ckpt_dir).glob(".ckpt-*.tmp-*"):  # debris of a write killed mid-way
        shutil.rmtree(p, ignore_errors=True)


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
