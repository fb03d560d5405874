"""``nnctl plot``: training curves of one or more runs, and the confusion-matrix picture of ``nnctl eval``.

Curves come from each run's metrics.jsonl: the running training loss (``batch``), and every
evaluation of train and val (``eval``), for the loss and a metric. With ``-o FILE.png`` matplotlib
(the ``nnctl[plot]`` extra, Agg backend, no display needed) draws one panel per quantity with the
runs overlaid (train dashed, val solid); without it the same curves are drawn as a character chart
in the terminal (no extra needed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnctl.errors import InputError
from nnctl.fileio import check_output_file
from nnctl.train.rundir import RunDir

_EXTRA = "pip install 'nnctl[plot]'"


@dataclass
class Curves:
    """The curves of one run: {quantity: {split: ([steps], [values])}}."""

    name: str
    path: Path
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = field(default_factory=dict)

    def add(self, quantity: str, split: str, step: int, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        xs, ys = self.series.setdefault(quantity, {}).setdefault(split, ([], []))
        xs.append(int(step))
        ys.append(float(value))


def load_curves(run_dir: str | os.PathLike) -> Curves:
    rd = RunDir(run_dir)
    if not rd.metrics.is_file():
        raise InputError(f"{run_dir}: not a run directory (no {rd.metrics.name})")
    c = Curves(rd.path.name, rd.path)
    for r in rd.records():
        step, split, kind = r.get("step"), r.get("split"), r.get("kind")
        if not isinstance(step, int) or split not in ("train", "val"):
            continue
        for k, v in r.items():
            if k in ("step", "epoch", "split", "kind", "time", "examples"):
                continue
            if kind == "batch":
                c.add("batch_loss" if k == "loss" else k, "train", step, v)
            else:
                c.add(k, split, step, v)
    return c


def _quantities(runs: list[Curves], metric: str | None) -> list[str]:
    have = sorted({q for r in runs for q in r.series})
    if metric is not None:
        if metric not in have:
            raise InputError(f"--metric {metric}: not logged by these runs; they have: {', '.join(have)}")
        return ["loss", metric] if metric != "loss" and "loss" in have else [metric]
    out = ["loss"] if "loss" in have else (["batch_loss"] if "batch_loss" in have else [])
    for q in have:   # the first metric that is not the loss or the learning rate
        if q not in ("loss", "batch_loss", "lr") and len(out) < 2:
            out.append(q)
    if not out:
        raise InputError("nothing to plot: the runs have no loss or metric records yet")
    return out


def plot_png(run_dirs: list[str | os.PathLike], out: str | os.PathLike, metric: str | None = None,
             log: bool = False) -> list[str]:
    """Write the curves of ``run_dirs`` to ``out`` (PNG, atomically); returns the quantities drawn."""
    runs = [load_curves(d) for d in run_dirs]
    qs = _quantities(runs, metric)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(qs), figsize=(5.2 * len(qs), 3.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = _labels(runs)
    for ax, q in zip(axes[0], qs):
        for i, (r, label) in enumerate(zip(runs, names)):
            for split, style in (("train", "--"), ("val", "-")):
                if split in r.series.get(q, {}):
                    xs, ys = r.series[q][split]
                    ax.plot(xs, ys, style, color=colors[i % len(colors)], label=f"{label} {split}",
                            marker="o" if len(xs) < 12 else None, markersize=3)
        ax.set_title(q)
        ax.set_xlabel("step")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return qs


def _labels(runs: list[Curves]) -> list[str]:
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        names = [str(r.path) for r in runs]
    return names


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InputError(f"plotting to a file needs matplotlib: {_EXTRA}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, out: str | os.PathLike) -> None:
    import io

    from nnctl.fileio import atomic_write_bytes
    check_output_file(out, "--output")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(out, buf.getvalue())


_MARKS = "ox+*#@%&"


def plot_terminal(run_dirs: list[str | os.PathLike], metric: str | None = None, log: bool = False,
                  width: int | None = None, height: int | None = None) -> str:
    """The same curves as a terminal chart, one per quantity: each series a marker letter on a
    character grid (val in upper case), with the y range, the step range and a legend."""
    import math
    runs = [load_curves(d) for d in run_dirs]
    qs = _quantities(runs, metric)
    names = _labels(runs)
    w = max(30, (width or 80) - 12)
    h = max(8, min(height or 16, 40) - 5)
    parts = []
    for q in qs:
        series = []
        for i, (r, label) in enumerate(zip(runs, names)):
            for split in ("train", "val"):
                if split in r.series.get(q, {}):
                    xs, ys = r.series[q][split]
                    mark = _MARKS[i % len(_MARKS)]
                    series.append((f"{label} {split}", mark.upper() if split == "val" else mark, xs, ys))
        pts = [(x, y) for _, _, xs, ys in series for x, y in zip(xs, ys) if math.isfinite(y) and (y > 0 or not log)]
        if not pts:
            continue
        f = (lambda y: math.log10(y)) if log else (lambda y: y)
        x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
        y0, y1 = min(f(p[1]) for p in pts), max(f(p[1]) for p in pts)
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        grid = [[" "] * w for _ in range(h)]
        for _, mark, xs, ys in series:
            for x, y in zip(xs, ys):
                if not math.isfinite(y) or (log and y <= 0):
                    continue
                c = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (w - 1))
                r_ = h - 1 - round((f(y) - y0) / (y1 - y0) * (h - 1))
                grid[r_][c] = mark
        top, bottom = (10 ** y1, 10 ** y0) if log else (y1, y0)
        lines = [f"{q}" + (" (log scale)" if log else "")]
        for i, row in enumerate(grid):
            label = f"{top:.4g}" if i == 0 else (f"{bottom:.4g}" if i == h - 1 else "")
            lines.append(f"{label:>10} |" + "".join(row))
        lines.append(" " * 11 + "+" + "-" * w)
        lines.append(" " * 12 + f"step {x0}" + f"step {x1}".rjust(w - len(f"step {x0}")))
        lines.append("  " + "   ".join(f"{m} {name}" for name, m, _, _ in series))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def confusion_png(matrix: Any, class_names: list[str] | None, out: str | os.PathLike, title: str = "") -> None:
    """A confusion-matrix heat map: rows the true class, columns the predicted one, counts written in."""
    import numpy as np
    check_output_file(out, "--confusion-matrix")
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    k = m.shape[0]
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    size = max(3.5, 0.55 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    hi = m.max() if m.size else 0.0
    for i in range(k):
        for j in range(k):
            v = m[i, j]
            txt = f"{int(v)}" if float(v).is_integer() else f"{v:.2f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                    color="white" if hi and v > hi / 2 else "black")
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
