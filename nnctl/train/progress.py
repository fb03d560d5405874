"""What the trainer shows while it runs: a rich progress bar on a terminal, plain periodic lines
otherwise (CI, log files), or nothing but the final summary with --quiet."""

from __future__ import annotations

import sys
from typing import Any, TextIO


def _fmt_metrics(rec: dict[str, Any]) -> str:
    parts = []
    for k, v in rec.items():
        if k in ("step", "epoch", "split", "kind", "time", "lr", "examples") or v is None:
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class Reporter:
    def __init__(self, total_steps: int, quiet: bool = False, stream: TextIO | None = None,
                 force_plain: bool = False) -> None:
        self.total = total_steps
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) and not force_plain
        self._progress: Any = None
        self._task: Any = None
        self._last_val = ""

    def __enter__(self) -> Reporter:
        if self.tty and not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
            self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("{task.fields[info]}"), TextColumn("{task.fields[rate]}"),
                                      TimeRemainingColumn(), console=Console(file=self.stream), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, info="", rate="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def step(self, step: int, epoch: int, loss: float, steps_per_s: float) -> None:
        if self._progress is not None:
            info = f"epoch {epoch}  loss {loss:.4g}" + (f"  {self._last_val}" if self._last_val else "")
            self._progress.update(self._task, completed=step, info=info, rate=f"{steps_per_s:.0f} steps/s")

    def record(self, rec: dict[str, Any], steps_per_s: float) -> None:
        text = _fmt_metrics(rec)
        if rec.get("kind") == "eval":
            self._last_val = f"{rec['split']} {text}"
        if self.quiet or self._progress is not None:
            return
        split = rec["split"] + (" eval" if rec.get("kind") == "eval" else "")
        print(f"step {rec['step']}/{self.total}  epoch {rec['epoch']}  {split}  {text}"
              + (f"  lr {rec['lr']:.3g}" if rec.get("lr") is not None else "")
              + f"  ({steps_per_s:.0f} steps/s)", file=self.stream, flush=True)
