"""``nnctl runs [DIR]``: the runs under a folder as a table (name, status, steps, wall time, best and
final metrics) and the config keys on which the listed runs differ. A library function, so a
hyper-parameter search can list its trials the same way."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnctl.errors import InputError
from nnctl.train.rundir import RunDir, flatten


@dataclass
class RunInfo:
    name: str
    path: str
    status: str
    steps: int | None
    total_steps: int | None
    wall_time: float | None
    best: dict[str, Any] | None                        # {"metric", "value", "step"}
    final: dict[str, dict[str, float]] = field(default_factory=dict)   # split -> metric -> value
    config: dict[str, Any] = field(default_factory=dict)              # flattened config.yaml
    differences: dict[str, Any] = field(default_factory=dict)         # keys that differ across the listing

    def value(self, metric: str) -> float | None:
        """A sortable number: ``best`` (the best value), ``val_f1``/``train_loss`` (final), ``steps``, ``wall_time``."""
        if metric == "best":
            return None if self.best is None else _num(self.best.get("value"))
        if metric in ("steps", "wall_time"):
            return _num(getattr(self, metric))
        split, _, name = metric.partition("_")
        if split in self.final and name:
            return _num(self.final[split].get(name))
        return _num(self.final.get("val", {}).get(metric, self.final.get("train", {}).get(metric)))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "status": self.status, "steps": self.steps,
                "total_steps": self.total_steps, "wall_time": self.wall_time, "best": self.best,
                "final": self.final, "differences": self.differences}


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _find(root: Path) -> list[Path]:
    if RunDir(root).is_run():
        return [root]
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        p = Path(dirpath)
        if RunDir(p).is_run():
            found.append(p)
            dirnames[:] = []   # a run's own folders (checkpoints, tensorboard) hold no runs
        else:
            dirnames.sort()
    return sorted(found)


def read_run(path: Path) -> RunInfo:
    rd = RunDir(path)
    s = rd.read_summary()
    try:
        cfg = flatten(rd.read_config_dict())
    except Exception:  # a damaged config.yaml still lists the run, without its settings
        cfg = {}
    final: dict[str, dict[str, float]] = {}
    if s is None:
        # no summary yet: running, or killed before the end; the log tells how far it got
        recs = rd.records()
        steps = max((r.get("step", 0) for r in recs if isinstance(r.get("step"), int)), default=0)
        for r in recs:
            if r.get("kind") == "eval" and r.get("split") in ("train", "val"):
                final[r["split"]] = {k: v for k, v in r.items() if _num(v) is not None
                                     and k not in ("step", "epoch", "time", "examples")}
        return RunInfo(path.name, str(path), "incomplete", steps, None, None, None, final, cfg)
    for split, rec in (s.get("final") or {}).items():
        if isinstance(rec, dict):
            final[split] = {k: v for k, v in rec.items() if _num(v) is not None
                            and k not in ("step", "epoch", "time", "examples")}
    best = s.get("best") if isinstance(s.get("best"), dict) else None
    return RunInfo(path.name, str(path), str(s.get("status")), s.get("steps"), s.get("total_steps"),
                   _num(s.get("wall_time")), best, final, cfg)


_NOISE = ("data.train.", "data.val.", "data.test.")   # absolute data paths differ by location only


def list_runs(root: str | os.PathLike = "runs", sort: str | None = None) -> list[RunInfo]:
    """Every run under ``root`` (or ``root`` itself), with the config keys that differ among them.

    ``sort``: a metric (``val_accuracy``, ``train_loss``, ``best``, ``steps``, ``wall_time``), best first:
    descending for accuracy-like metrics, ascending for losses and errors."""
    p = Path(root)
    if not p.is_dir():
        raise InputError(f"{root}: no such folder (expected a folder of run directories, e.g. runs/)")
    runs = [read_run(d) for d in _find(p)]
    keys = sorted({k for r in runs for k in r.config})
    if len(runs) > 1:
        for k in keys:
            vals = [r.config.get(k, "<absent>") for r in runs]
            if any(v != vals[0] for v in vals) and not (k.startswith(_NOISE) and k.endswith(("csv", "npz"))):
                for r, v in zip(runs, vals):
                    r.differences[k] = v
    if sort is not None:
        from nnctl.vocab import metric_mode
        if sort == "best":
            best_metric = next((r.best.get("metric") for r in runs if r.best and r.best.get("metric")), "loss")
            mode = metric_mode(str(best_metric))
        else:
            mode = {"steps": "max", "wall_time": "min"}.get(sort) or metric_mode(sort)
        have = [r for r in runs if r.value(sort) is not None and math.isfinite(r.value(sort))]
        if not have and runs:
            raise InputError(f"--sort {sort}: no listed run has that value (try val_loss, val_<metric>, "
                             "train_loss, best, steps or wall_time)")
        missing = [r for r in runs if r not in have]
        have.sort(key=lambda r: r.value(sort), reverse=mode == "max")
        runs = have + missing
    return runs


def _fmt(v: Any, limit: int = 16) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    text = ",".join(map(str, v)) if isinstance(v, list) else str(v)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def renderables(runs: list[RunInfo], title: str = "runs") -> list[Any]:
    """The runs table, with the differing config keys as its last columns when there are at most
    two, else as a second table (run x key) below it, so the first stays readable at 100 columns."""
    keys = sorted({k for r in runs for k in r.differences})
    if len(keys) <= 2:
        return [table(runs, title)]
    from rich.table import Table
    d = Table(title="config differences", title_justify="left")
    d.add_column("run", no_wrap=True)
    for k in keys:
        d.add_column(k, style="cyan")
    for r in runs:
        d.add_row(r.name, *[_fmt(r.differences.get(k), 40) for k in keys])
    return [table(runs, title, with_differences=False), d]


def table(runs: list[RunInfo], title: str = "runs", with_differences: bool = True) -> Any:
    """A rich Table of ``runs``: one row per run; the final val metrics (train's without validation), the
    best checkpoint, and the config keys that differ among the runs (named by their last part when
    that is unambiguous: ``lr`` for optimizer.lr)."""
    from rich.table import Table
    t = Table(title=title, title_justify="left")
    t.add_column("run", no_wrap=True, min_width=max((len(r.name) for r in runs), default=3))
    t.add_column("status", no_wrap=True, min_width=max((len(r.status) for r in runs), default=6))
    t.add_column("steps", justify="right", no_wrap=True, min_width=5)
    t.add_column("time", justify="right", no_wrap=True, min_width=5)
    split = "val" if any("val" in r.final for r in runs) else "train"
    metrics: list[str] = []
    for r in runs:
        for k in r.final.get(split, {}):
            if k not in metrics and k != "lr":
                metrics.append(k)
    metrics = (["loss"] if "loss" in metrics else []) + [m for m in metrics if m != "loss"]
    metrics = metrics[:3]
    for m in metrics:
        t.add_column(m, justify="right", no_wrap=True)
    t.add_column("best", no_wrap=True)
    diff_keys = sorted({k for r in runs for k in r.differences}) if with_differences else []
    short = {k: k.rsplit(".", 1)[-1] for k in diff_keys}
    if len(set(short.values())) < len(short):
        short = {k: k for k in diff_keys}
    for k in diff_keys:
        t.add_column(short[k], style="cyan", no_wrap=True)
    for r in runs:
        steps = f"{r.steps}" + (f"/{r.total_steps}" if r.total_steps and r.total_steps != r.steps else "")
        b = r.best
        best = "-" if b is None else f"{_fmt(_num(b.get('value')))} @{b.get('step')}"
        row = [r.name, r.status, steps, "-" if r.wall_time is None else f"{r.wall_time:.1f}s"]
        row += [_fmt(r.value(f"{split}_{m}")) for m in metrics]
        row += [best] + [_fmt(r.differences.get(k)) for k in diff_keys]
        t.add_row(*row)
    bm = next((r.best.get("metric") for r in runs if r.best), None)
    t.caption = f"final {split} metrics" + (f"; best: {bm} @ step" if bm else "")
    return t
