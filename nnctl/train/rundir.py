"""The run directory: its layout, the metrics log, and reopening a run for eval, freeze, export and graph.

A run directory holds::

    config.yaml      the resolved config (defaults filled in, --set applied, data paths absolute)
    metrics.jsonl    one JSON record per line: step, epoch, split, kind (batch | eval), values, time
    metrics.csv      the same records as a table, rewritten at every checkpoint
    checkpoints/     ckpt-<step>/ folders (nnctl.train.checkpoint) and best.json
    summary.json     status, steps, wall time, final and best evaluations
    tensorboard/     event files for TensorBoard

Everything that knows these names lives here; the trainer, ``nnctl eval``/``freeze``/``export``/
``graph`` and ``nnctl runs`` ask this module for paths and records.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.errors import FileFormatError, InputError
from nnctl.fileio import (
    append_text,
    atomic_write_bytes,
    atomic_write_text,
    check_inside,
    check_path_length,
    create_exclusive,
    read_file_bytes,
    user_path,
)
from nnctl.train.runlock import LOCK_FILE

CONFIG_FILE, METRICS_FILE, METRICS_CSV, SUMMARY_FILE = "config.yaml", "metrics.jsonl", "metrics.csv", "summary.json"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"


class RunDir:
    """The paths of one run directory, and the checks made before a run writes into it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config = self.path / CONFIG_FILE
        self.metrics = self.path / METRICS_FILE
        self.metrics_csv = self.path / METRICS_CSV
        self.summary = self.path / SUMMARY_FILE
        self.checkpoints = self.path / CHECKPOINTS_DIR
        self.tensorboard = self.path / TENSORBOARD_DIR

    def is_run(self) -> bool:
        return self.config.is_file()

    def prepare(self, resume: bool, explicit: bool) -> bool:
        """Fail before training if the run dir cannot be used (exists, missing parent, unwritable).

        Returns True when this call created the run directory."""
        p = self.path
        check_path_length(p, "run directory")
        created = False
        if resume:
            if not self.config.is_file():
                raise InputError(f"--resume: {p} is not a run directory (no {CONFIG_FILE}); nothing to resume")
        else:
            if p.exists() and (not p.is_dir() or not self._is_fresh()):
                raise InputError(f"run directory {p} already exists; use --resume to continue it, or choose a "
                                 "new --run-dir")
            for anc in [p.parent, *p.parent.parents]:
                if anc.exists():
                    if not anc.is_dir():
                        raise InputError(f"cannot create run directory {p}: {anc} is a file, not a folder")
                    break
            if explicit and not p.parent.is_dir():
                raise InputError(f"cannot create run directory {p}: its parent {p.parent} does not exist")
            created = not p.exists()
            try:
                p.mkdir(parents=not explicit, exist_ok=True)
            except OSError as e:
                raise InputError(f"cannot create run directory {p}: {e.strerror}") from None
        self.refuse_links()
        probe = p / f".write-test-{os.getpid()}"
        try:
            with contextlib.suppress(FileNotFoundError):
                probe.unlink()  # left by a killed start with the same pid
            create_exclusive(p, probe, b"ok")  # O_EXCL | O_NOFOLLOW: never through a planted link
            probe.unlink()
            if not self.checkpoints.is_symlink():
                self.checkpoints.mkdir(exist_ok=True)
        except OSError as e:
            raise InputError(f"run directory {p} is not writable: {e.strerror}") from None
        return created

    def refuse_links(self) -> None:
        """InputError for a symbolic link where nnctl writes (a file, checkpoints/, a checkpoint folder,
        tensorboard/): a run directory is never a way to write elsewhere."""
        from nnctl.train import checkpoint as ckpt
        targets = [self.config, self.metrics, self.metrics_csv, self.summary, self.checkpoints, self.tensorboard,
                   self.path / LOCK_FILE]
        if self.checkpoints.is_dir() and not self.checkpoints.is_symlink():
            targets += [self.checkpoints / ckpt.BEST_FILE]
            targets += [q for _, q in ckpt.list_checkpoints(self.checkpoints)]
        for t in targets:
            check_inside(self.path, t)

    def clean_temporaries(self) -> None:
        """Remove the temporary files of atomic writes killed mid-way (``.metrics.csv.*.tmp`` ...);
        called once this process holds the run's lock, so no live writer owns them."""
        for q in self.path.glob(".*.tmp"):
            if q.is_file() and not q.is_symlink():
                with contextlib.suppress(OSError):
                    q.unlink()
        for q in self.path.glob(".write-test-*"):
            with contextlib.suppress(OSError):
                q.unlink()

    def _is_fresh(self) -> bool:
        """Empty, or holding only the empty checkpoints/ folder that a start which failed early leaves
        (and the lock file of a process starting there)."""
        entries = [e for e in self.path.iterdir() if e.name != LOCK_FILE]
        return all(e == self.checkpoints and e.is_dir() and not any(e.iterdir()) for e in entries)

    def remove_if_empty(self) -> None:
        """Undo ``prepare`` after a failed start; only empty folders are removed, never a file."""
        for d in (self.checkpoints, self.path):
            try:
                d.rmdir()
            except OSError:
                return

    # --- the metrics log -------------------------------------------------------------------------
    def append_metrics(self, rec: dict[str, Any]) -> None:
        """Append one record to metrics.jsonl (flushed; fsynced when a checkpoint is written)."""
        append_text(self.path, self.metrics, json.dumps(rec, allow_nan=True) + "\n")  # O_NOFOLLOW

    def metrics_size(self) -> int:
        return self.metrics.stat().st_size

    def truncate_metrics(self, size: int, checkpoint: Path | None = None) -> None:
        """Cut metrics.jsonl back to what it held at a checkpoint (atomically). The cut must fall at the
        end of a record that is there: a log shorter than the checkpoint says, or a cut inside a line,
        means the log or the checkpoint's state is damaged, and resuming would tear or lose records."""
        path = self.metrics
        data = b"" if not path.exists() and not path.is_symlink() else read_file_bytes(path, "metrics log")
        where = f" (metrics_bytes in {checkpoint / 'state.json'})" if checkpoint is not None else ""
        if size > len(data):
            raise FileFormatError(f"{path}: holds {len(data)} bytes but the checkpoint recorded {size}{where}: the "
                                  "metrics log was truncated or replaced; restore it or start a new run")
        if size > 0 and data[size - 1:size] != b"\n":
            raise FileFormatError(f"{path}: the checkpoint's cut at byte {size}{where} falls inside a record, not "
                                  "at the end of one: the metrics log or the checkpoint state is damaged")
        if len(data) != size:
            atomic_write_bytes(path, data[:size], root=self.path)

    def sync_metrics(self) -> None:
        with contextlib.suppress(OSError), open(self.metrics, "rb+") as f:  # best effort: the checkpoint is durable
            os.fsync(f.fileno())

    def records(self) -> list[dict[str, Any]]:
        return read_metrics(self.metrics)

    def write_csv(self) -> None:
        write_metrics_csv(self.metrics, self.metrics_csv, root=self.path)

    def read_summary(self) -> dict[str, Any] | None:
        """summary.json as a dict, or None when absent or unreadable (a run still going, or killed)."""
        from nnctl.train.state_schema import validate_summary
        try:
            return validate_summary(json.loads(read_file_bytes(self.summary, "run summary").decode("utf-8")),
                                    self.summary)
        except (FileFormatError, UnicodeDecodeError, ValueError, RecursionError):
            return None

    def read_config_dict(self) -> dict[str, Any]:
        """The stored config.yaml as plain data (FileFormatError naming the file when damaged)."""
        import yaml
        try:
            stored = yaml.safe_load(self.config.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise FileFormatError(f"{self.config}: damaged run config ({type(e).__name__}); it records the "
                                  "config the run was started with and cannot be used without it") from None
        if not isinstance(stored, dict):
            raise FileFormatError(f"{self.config}: damaged run config (not a mapping)")
        return stored


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a torn last line (a kill mid-write) is skipped."""
    out: list[dict[str, Any]] = []
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return out
    for line in read_file_bytes(p, "metrics log").decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def write_metrics_csv(jsonl: str | os.PathLike, out: str | os.PathLike, root: str | os.PathLike | None = None
                      ) -> None:
    recs = read_metrics(jsonl)
    cols: list[str] = []
    for r in recs:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in recs:
        w.writerow(r)
    atomic_write_text(out, buf.getvalue(), root=root)


def json_safe(o: Any) -> Any:
    """Non-finite floats as strings ("nan", "inf"), so the JSON stays standard."""
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, list):
        return [json_safe(v) for v in o]
    return o


# --- configs of runs -------------------------------------------------------------------------------

def config_fingerprint(cfg_dict: dict) -> str:
    return hashlib.sha256(json.dumps(cfg_dict, sort_keys=True, default=str).encode()).hexdigest()


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config data as {dotted.key: value}; lists of mappings get [i] indices."""
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        out = {}
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: d}


def config_diff(old: dict, new: dict) -> list[str]:
    """``key: old -> new`` lines for every dotted key whose value differs."""
    a, b = flatten(old), flatten(new)
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            lines.append(f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}")
    return lines


# --- config -> data and model ------------------------------------------------------------------------

def build_for_config(cfg: Any, *, data_required: bool = True, warn: Callable[[str], None] | None = None,
                     splits: Any = None) -> tuple[Any, Any]:
    """(splits, model) for a config: load its data, then build its graph against the data's shapes.

    With ``data_required=False`` a data problem is reported through ``warn`` and the model is built
    from ``model.input_shape`` alone (splits is then None), as ``nnctl graph`` does for a config
    whose data is not at hand."""
    from nnctl.builder import build_model
    from nnctl.data.splits import load_splits
    from nnctl.errors import NnctlError
    try:
        splits = splits if splits is not None else load_splits(cfg)
    except NnctlError as e:
        if data_required:
            raise
        (warn or (lambda m: None))(f"could not load the data ({e}); using model.input_shape "
                                   f"{list(cfg.model.input_shape)}")
        last = cfg.model.layers[-1] if cfg.model.layers else None
        width = int(last.units) if cfg.data.label_type == "real" and last is not None and last.units else 1
        return None, build_model(cfg, None, None, width)
    tr = splits.train
    label_width = tr.y.shape[1] if tr.y.ndim == 2 else 1
    return splits, build_model(cfg, tr.x.shape[1:], splits.num_classes, label_width)


# --- what a TARGET names -------------------------------------------------------------------------

@dataclass
class Target:
    kind: str                    # "run" | "checkpoint" | "frozen"
    path: Path
    run_dir: Path | None = None
    checkpoint: Path | None = None


def resolve_target(target: str | os.PathLike) -> Target:
    """A run dir, a checkpoint folder (run_dir/checkpoints/ckpt-N) or a frozen file."""
    from nnctl.train import checkpoint as ckpt
    p = user_path(target, "target (a run directory, a checkpoint folder or a frozen model file)")
    check_path_length(p, "target")
    if not p.exists():
        raise InputError(f"{p}: no such file or directory (expected a run directory, a checkpoint folder or "
                         "a frozen model file)")
    if p.is_file():
        return Target("frozen", p)
    if (p / CONFIG_FILE).is_file():
        return Target("run", p, run_dir=p)
    if ckpt._NAME.match(p.name) and p.parent.name == CHECKPOINTS_DIR:
        rd = p.parent.parent
        if not (rd / CONFIG_FILE).is_file():
            raise InputError(f"{p}: looks like a checkpoint folder but {rd / CONFIG_FILE} is missing, so the model "
                             "cannot be rebuilt")
        return Target("checkpoint", p, run_dir=rd, checkpoint=p)
    raise InputError(f"{p}: not a run directory (no {CONFIG_FILE}), a checkpoint folder "
                     f"(run_dir/{CHECKPOINTS_DIR}/ckpt-N) or a frozen model file")


# --- a run, reopened -----------------------------------------------------------------------------

@dataclass
class LoadedRun:
    """A run brought back: its config, data, model and a session holding a verified checkpoint."""

    run_dir: Path
    cfg: Any
    splits: Any
    model: Any
    sess: Any
    checkpoint: Any          # nnctl.train.checkpoint.Checkpoint
    which: str = "latest"    # how the checkpoint was chosen: latest | best | step | folder

    @property
    def step(self) -> int:
        return int(self.checkpoint.step)

    def close(self) -> None:
        self.sess.close()


def reopen(run_dir: str | os.PathLike, which: str | None = None, checkpoint_dir: str | os.PathLike | None = None,
           warn: Callable[[str], None] | None = None) -> LoadedRun:
    """Rebuild a run's model from its config.yaml and load a verified checkpoint into a new session.

    ``which`` is ``latest`` (newest intact; damaged newer ones are named through ``warn``), ``best``
    or a step (default ``latest``). ``checkpoint_dir`` names one checkpoint folder instead."""
    import nnctl as tf
    from nnctl.config import load_config
    from nnctl.train import checkpoint as ckpt
    warn = warn or (lambda m: None)
    rd = RunDir(run_dir)
    from nnctl.data.run_data import DATA_FILE, load_run_data
    cfg = load_config(rd.config, check_files=not (rd.path / DATA_FILE).is_file())
    # the run's own copy of its data: no original file needed, a changed one is named through warn
    splits, model = build_for_config(cfg, splits=load_run_data(rd.path, cfg, warn))
    if checkpoint_dir is not None:
        c = ckpt.load_checkpoint(Path(checkpoint_dir))
        chosen = "folder"
    else:
        chosen = which or "latest"
        c = ckpt.find_checkpoint(rd.checkpoints, chosen, warn)
    if c.manifest.get("graph_fingerprint") != model.fingerprint():
        diff = ckpt.variable_diff(c.state.get("variables", {}), model.variable_specs())
        raise FileFormatError(f"{c.path}: the checkpoint does not match the model that {rd.config} builds "
                              "(graph fingerprint differs)" + ("; " + "; ".join(diff) if diff else ""))
    saved = c.state.get("preprocessor")
    if saved is not None and saved != splits.preprocessor.to_dict():
        from nnctl.data import Preprocessor
        warn(f"the training data of {rd.path} changed since checkpoint {c.path.name}: using the preprocessing "
             "saved with the checkpoint")
        splits.preprocessor = Preprocessor.from_dict(saved)
    from nnctl.backends import choose_backend
    sess = tf.Session(graph=model.graph, backend=choose_backend(cfg.backend))
    ckpt.load_into(model, sess, c.arrays, str(c.path))
    return LoadedRun(rd.path, cfg, splits, model, sess, c, chosen)


def default_checkpoint(run_dir: str | os.PathLike) -> str:
    """``best`` when the run marked a best checkpoint that still exists, else ``latest``."""
    from nnctl.train import checkpoint as ckpt
    rd = RunDir(run_dir)
    best = ckpt.best_step(rd.checkpoints)
    if best is not None and (rd.checkpoints / ckpt.checkpoint_name(best)).is_dir():
        return "best"
    return "latest"
