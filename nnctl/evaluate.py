"""``nnctl eval``: the loss and metrics of a run's checkpoint or a frozen model on a split or a data file.

Every path ends in :func:`nnctl.train.evaluation.score` (a run dir through ``evaluate_model``, which
the trainer uses too), so a run dir, its frozen file and the trainer's validation records agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.data import load_csv, load_npz
from nnctl.data.preprocess import read_data_bytes
from nnctl.data.splits import Split
from nnctl.errors import DataError, InputError

SPLITS = ("train", "val", "test")


@dataclass
class DataSpec:
    """How a data file in the training format is read: the training source's columns or keys."""

    kind: str | None
    features: list | None
    labels: list | None
    x_key: str | None
    y_key: str | None
    label_type: str
    num_classes: int | None
    class_names: list[str] | None


def is_npz(path: str | os.PathLike) -> bool:
    """True when the file is a zip (npz) archive, judged by its first bytes, not its name."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def load_labelled(path: str | os.PathLike, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """Raw features and labels from a CSV (training header/columns) or an NPZ (training keys)."""
    read_data_bytes(path, what="data file")  # missing / empty / directory: one clear DataError
    if is_npz(path):
        x, y, _ = load_npz(path, x_key=spec.x_key or "x", y_key=spec.y_key or "y", label_type=spec.label_type,
                           num_classes=spec.num_classes)
    else:
        csv_src = spec.kind == "csv"
        x, y, _ = load_csv(path, features=spec.features if csv_src else None,
                           labels=spec.labels if csv_src else None, label_type=spec.label_type,
                           num_classes=spec.num_classes, class_names=spec.class_names)
    return x, y


def check_width(x: np.ndarray, want: tuple, source: str) -> np.ndarray:
    """x reshaped to [n, *want], or DataError naming the file, the count found and the count expected."""
    want = tuple(want)
    if tuple(x.shape[1:]) == want:
        return x
    found, expected = int(np.prod(x.shape[1:])), int(np.prod(want))
    if found == expected:
        return x.reshape((x.shape[0], *want))
    raise DataError(f"{source}: found {found} feature(s) per example, the model expects {expected}")


@dataclass
class EvalResult:
    scores: dict[str, float]
    metrics: list[str]
    target: str
    kind: str                      # run | checkpoint | frozen
    split: str | None
    data: str | None
    checkpoint: int | None
    checkpoint_path: str | None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"loss": self.scores["loss"]}
        for m in self.metrics:
            out[m] = self.scores[m]
        out.update({"examples": int(self.scores.get("examples", 0)), "split": self.split, "data": self.data,
                    "checkpoint": self.checkpoint, "checkpoint_path": self.checkpoint_path,
                    "target": self.target, "kind": self.kind})
        return out


def _spec_from_cfg(cfg: Any, splits: Any) -> DataSpec:
    src = cfg.data.train
    return DataSpec(src.kind, src.features, src.labels, src.x_key, src.y_key, cfg.data.label_type,
                    splits.num_classes if cfg.data.label_type != "real" else None, splits.class_names)


def _spec_from_meta(meta: dict) -> DataSpec:
    ds, lab = meta["data_source"], meta["labels"]
    lt = lab.get("type") or meta["head"]["label_type"]
    return DataSpec(ds.get("kind"), ds.get("features"), ds.get("labels"), ds.get("x_key"), ds.get("y_key"), lt,
                    lab.get("num_classes") if lt != "real" else None, lab.get("class_names"))


def evaluate(target: str | os.PathLike, data: str | None = None, checkpoint: str | None = None,
             warn: Callable[[str], None] | None = None) -> EvalResult:
    """The library form of ``nnctl eval``.

    ``target``: a run dir, a checkpoint folder or a frozen file. ``data``: ``train``/``val``/``test``
    (a run's split; default val when the run has validation data, else train) or a data file path.
    ``checkpoint``: ``latest`` (default), ``best`` or a step, for a run dir."""
    from nnctl.export.frozen import load_frozen
    from nnctl.train.rundir import reopen, resolve_target
    t = resolve_target(target)
    if t.kind == "frozen":
        if checkpoint is not None:
            raise InputError(f"{t.path}: --checkpoint applies to a run directory, not a frozen model")
        if data is None or data in SPLITS and not Path(data).exists():
            raise InputError(f"{t.path}: a frozen model carries no data; give --data FILE (a CSV or NPZ in the "
                             "training format)")
        model = load_frozen(t.path)
        try:
            if model.pipeline is not None:  # a table model reads raw cells through its pipeline
                from nnctl.data.tabular import labelled_file
                read_data_bytes(data, what="data file")
                x, y = labelled_file(data, model.pipeline)
            else:
                x, y = load_labelled(data, _spec_from_meta(model.meta))
            x = check_width(x, model.feature_shape, str(data))
            scores = model.evaluate(x, y, source=str(data))
        finally:
            model.close()
        return EvalResult(scores, list(model.metrics), str(t.path), "frozen", None, str(data), model.checkpoint_step,
                          model.meta["source"].get("checkpoint"))
    if t.kind == "checkpoint" and checkpoint is not None:
        raise InputError(f"{t.path} already names a checkpoint; drop --checkpoint or give the run directory")
    run = reopen(t.run_dir, checkpoint, t.checkpoint, warn)
    try:
        from nnctl.train.evaluation import evaluate_model
        splits, split_name, data_path = run.splits, None, None
        if data is None:
            split_name = "val" if splits.val is not None else "train"
            split = splits.get(split_name)
        elif data in SPLITS:
            split_name = data
            split = splits.get(data)
        else:
            data_path = str(data)
            if splits.pipeline is not None:
                from nnctl.data.tabular import labelled_file
                read_data_bytes(data, what="data file")
                x, y = labelled_file(data, splits.pipeline)
            else:
                x, y = load_labelled(data, _spec_from_cfg(run.cfg, splits))
            x = check_width(x, splits.train.x.shape[1:], data_path)
            split = Split(splits.preprocessor.transform(x), y)
        scores = evaluate_model(run.model, run.sess, split, run.cfg)
    finally:
        run.close()
    return EvalResult(scores, list(run.cfg.metrics), str(t.path), t.kind, split_name, data_path, run.step,
                      str(run.checkpoint.path))
