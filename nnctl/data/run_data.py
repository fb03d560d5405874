"""The run directory's own copy of its data: ``data.npz``.

Training writes every split exactly as the model saw it (encoded inputs and labels), the fitted
feature pipeline and label spec, and a fingerprint (size and SHA-256) of each source file. ``eval``
on the run's splits, ``freeze`` and ``--resume`` read this copy, so they need none of the original
files; when the originals are still there and differ from the fingerprint, a warning says the data
changed since training (the stored copy is used either way, so results stay reproducible).

The file is an npz of plain arrays plus a JSON member, written atomically, with a SHA-256 over
its content that loading verifies; nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FileFormatError

DATA_FILE = "data.npz"
FORMAT = "nnctl.run-data/1"
_META = "__meta__"
_SPLITS = ("train", "val", "test")


def _sources(cfg: Any) -> list[Path]:
    d = cfg.data
    out: list[Path] = []
    for s in (d.train, d.val, d.test):
        if s is None:
            continue
        for p in (s.path, s.images, s.idx_labels):
            if p is not None:
                out.append(Path(p))
    return out


def cfg_has_data_files(cfg: Any) -> bool:
    """True when the config reads data files (generators are rebuilt from their seed instead)."""
    return bool(_sources(cfg))


def _hash_path(p: Path) -> dict[str, Any] | None:
    """{size, sha256} of a file, or over a folder's files (relative names and bytes); None if absent."""
    if not p.exists():
        return None
    h = hashlib.sha256()
    size = 0
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        data = f.read_bytes()
        size += len(data)
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return {"size": size, "sha256": h.hexdigest()}


def fingerprint(cfg: Any) -> dict[str, Any]:
    return {str(p): _hash_path(p) for p in _sources(cfg)}


def _checksum(meta_blob: bytes, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(meta_blob)
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode() + b"\0" + a.dtype.str.encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_run_data(run_dir: str | Path, splits: Any, cfg: Any) -> Path:
    """Write run_dir/data.npz for ``splits`` (atomically)."""
    from nnctl.fileio import atomic_write_bytes, npz_bytes
    arrays: dict[str, np.ndarray] = {}
    for name in _SPLITS:
        s = getattr(splits, name)
        if s is not None:
            arrays[f"{name}_x"], arrays[f"{name}_y"] = s.x, s.y
    meta = {
        "format": FORMAT,
        "fingerprint": fingerprint(cfg),
        "preprocessor": splits.preprocessor.to_dict(),
        "pipeline": splits.pipeline.to_dict() if splits.pipeline is not None else None,
        "feature_names": splits.feature_names, "label_names": splits.label_names,
        "class_names": splits.class_names, "num_classes": splits.num_classes,
        "augment": splits.augment, "seed": splits.seed,
        "meta": {k: v for k, v in splits.meta.items() if isinstance(v, (str, int, float, list, dict, type(None)))},
    }
    blob = json.dumps(meta, sort_keys=True, allow_nan=False).encode()
    arrays[_META] = np.frombuffer(blob, np.uint8)
    arrays["__checksum__"] = np.frombuffer(_checksum(blob, {k: v for k, v in arrays.items() if k != _META})
                                           .encode(), np.uint8)
    path = Path(run_dir) / DATA_FILE
    atomic_write_bytes(path, npz_bytes(arrays))
    return path


def load_run_data(run_dir: str | Path, cfg: Any, warn: Callable[[str], None] | None = None) -> Any:
    """The Splits stored in run_dir/data.npz, or None when the run has no copy (an older run)."""
    from nnctl.data.features import FeaturePipeline
    from nnctl.data.preprocess import Preprocessor
    from nnctl.data.splits import Split, Splits
    from nnctl.fileio import load_npz_bytes, read_file_bytes
    path = Path(run_dir) / DATA_FILE
    if not path.is_file():
        return None
    arrays = load_npz_bytes(read_file_bytes(path, "run data file", FileFormatError), source=str(path),
                            what="run data file")
    try:
        blob = arrays.pop(_META).tobytes()
        ck = arrays.pop("__checksum__").tobytes().decode("ascii")
    except (KeyError, UnicodeDecodeError):
        raise FileFormatError(f"{path}: damaged run data file (no metadata or checksum)") from None
    if ck != _checksum(blob, arrays):
        raise FileFormatError(f"{path}: checksum mismatch: the run's stored data is damaged or was modified")
    try:
        meta = json.loads(blob)
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        parts = {n: Split(arrays[f"{n}_x"], arrays[f"{n}_y"]) if f"{n}_x" in arrays else None for n in _SPLITS}
        pipe = FeaturePipeline.from_dict(meta["pipeline"]) if meta.get("pipeline") else None
        splits = Splits(train=parts["train"], val=parts["val"], test=parts["test"],
                        preprocessor=Preprocessor.from_dict(meta["preprocessor"]),
                        feature_names=meta["feature_names"], label_names=meta["label_names"],
                        class_names=meta["class_names"], num_classes=meta["num_classes"], meta=meta.get("meta", {}),
                        pipeline=pipe, augment=meta.get("augment"), seed=int(meta.get("seed", 0)))
    except (KeyError, TypeError, ValueError) as e:
        raise FileFormatError(f"{path}: damaged run data file ({type(e).__name__}: {e})") from None
    if splits.train is None:
        raise FileFormatError(f"{path}: damaged run data file (no training split)")
    if warn is not None:
        now = fingerprint(cfg)
        for src, was in meta["fingerprint"].items():
            cur = now.get(src)
            if cur is not None and was is not None and cur != was:
                warn(f"the data file {src} changed since this run was trained; using the copy of its data stored "
                     f"in {path}")
    return splits
