"""What the trainer shows while it runs (``--progress auto|bar|plain|none``).

* ``bar`` (``auto`` on a terminal): one live line, fitted to the terminal's width, that always keeps
  the step count, the labelled ETA and the latest train/val numbers; less important parts (the bar
  itself, steps/s, epoch) shrink or go first when the terminal is narrow (60 columns still shows
  ``step 120/300 ETA 0:03 train loss 0.31 val loss 0.29``). Every evaluation leaves one plain line in
  the scrollback above it, as Keras prints one line per epoch, and the last frame shows the final
  numbers.
* ``plain`` (``auto`` when output is not a terminal: CI, log files): one line per log record.
* ``none``: nothing but messages that matter (resume, early stopping) and the final summary;
  ``--quiet`` also drops those.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import Any, TextIO

MODES = ("auto", "bar", "plain", "none")
_SKIP = ("step", "epoch", "split", "kind", "time", "lr", "examples")


def _fmt_metrics(rec: dict[str, Any]) -> str:
    parts = []
    for k, v in rec.items():
        if k in _SKIP or v is None:
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


def _short(rec: dict[str, Any], limit: int) -> str:
    """``loss 0.31 acc 0.97``: the loss and up to ``limit`` metrics, names shortened."""
    parts = []
    for k, v in rec.items():
        if k in _SKIP or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        name = {"accuracy": "acc"}.get(k, k)
        parts.append(f"{name} {v:.3g}")
        if len(parts) > limit:
            break
    return " ".join(parts)


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Reporter:
    def __init__(self, total_steps: int, quiet: bool = False, stream: TextIO | None = None,
                 force_plain: bool = False, mode: str = "auto") -> None:
        self.total = total_steps
        self.quiet = quiet
        self.stream = stream or sys.stdout
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        if force_plain and mode == "auto":
            mode = "plain"
        if quiet:
            mode = "none"
        self.mode = ("bar" if tty else "plain") if mode == "auto" else mode
        self._live: Any = None
        self._console: Any = None
        self._state: dict[str, Any] = {"step": 0, "epoch": 0, "loss": None, "rate": None}
        self._last: dict[str, dict[str, Any]] = {}
        self._last_draw = 0.0
        self._pending_eval: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> Reporter:
        if self.mode == "bar":
            from rich.console import Console
            from rich.live import Live
            self._console = Console(file=self.stream, highlight=False)
            self._live = Live(self._line(), console=self._console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._flush_eval()
            self._live.update(self._line(final=True), refresh=True)
            self._live.__exit__(*exc)
            self._live = None

    # --- what the loop calls -----------------------------------------------------------------------
    def message(self, text: str) -> None:
        if self.quiet:
            return
        if self._live is not None:
            self._live.console.print(text, soft_wrap=True, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def step(self, step: int, epoch: int, loss: float, steps_per_s: float) -> None:
        self._state.update(step=step, epoch=epoch, loss=loss, rate=steps_per_s)
        if self._live is not None:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or step == self.total:
                self._last_draw = now
                self._live.update(self._line(), refresh=True)

    def record(self, rec: dict[str, Any], steps_per_s: float) -> None:
        if rec.get("kind") == "eval":
            self._last[rec["split"]] = rec
        if self.mode == "plain":
            split = rec["split"] + (" eval" if rec.get("kind") == "eval" else "")
            print(f"step {rec['step']}/{self.total}  epoch {rec['epoch']}  {split}  {_fmt_metrics(rec)}"
                  + (f"  lr {rec['lr']:.3g}" if rec.get("lr") is not None else "")
                  + f"  ({steps_per_s:.0f} steps/s)", file=self.stream, flush=True)
        elif self.mode == "bar" and rec.get("kind") == "eval":
            # one scrollback line per evaluation, holding every split evaluated at this step
            if self._pending_eval and next(iter(self._pending_eval.values()))["step"] != rec["step"]:
                self._flush_eval()
            self._pending_eval[rec["split"]] = rec
            if rec["split"] == "val" or len(self._pending_eval) == 2:
                self._flush_eval()

    def _flush_eval(self) -> None:
        if not self._pending_eval or self._live is None:
            self._pending_eval = {}
            return
        recs = self._pending_eval
        any_rec = next(iter(recs.values()))
        parts = [f"{s} {_fmt_metrics(r)}" for s, r in recs.items()]
        self._live.console.print(f"step {any_rec['step']}/{self.total}  epoch {any_rec['epoch']}  "
                                 + "  |  ".join(parts), soft_wrap=True, markup=False, highlight=False)
        self._pending_eval = {}

    # --- the live line --------------------------------------------------------------------------------
    def _line(self, final: bool = False) -> Any:
        from rich.text import Text
        width = (self._console.size.width if self._console is not None else shutil.get_terminal_size().columns) - 1
        st = self._state
        step, rate = st["step"], st["rate"]
        eta = (self.total - step) / rate if rate else None
        head = f"step {step}/{self.total}"
        eta_txt = f"took {_clock(step / rate if rate else None)}" if final else f"ETA {_clock(eta)}"
        tr, va = self._last.get("train"), self._last.get("val")
        tail = ""
        for limit in (2, 1, 0):   # fewer metrics until the labelled train/val numbers fit
            numbers = []
            if tr is not None:
                numbers.append(f"train {_short(tr, limit)}")
            elif st["loss"] is not None:
                numbers.append(f"train loss {st['loss']:.3g}")
            if va is not None:
                numbers.append(f"val {_short(va, limit)}")
            tail = "  ".join(numbers)
            if len(head) + len(eta_txt) + len(tail) + 4 <= width:
                break
        extra = f"{rate:.0f} steps/s  epoch {st['epoch']}" if rate else ""
        # keep: head, ETA, the numbers; the bar takes what is left (at least 6 columns), extra only if it fits
        fixed = len(head) + len(eta_txt) + len(tail) + 6
        if fixed + len(extra) + 2 + 12 <= width:
            tail = f"{tail}  {extra}" if tail else extra
            fixed += len(extra) + 2
        bar_w = max(0, min(40, width - fixed))
        frac = step / self.total if self.total else 1.0
        t = Text(head + " ", style="bold")
        if bar_w >= 6:
            done = int(round(frac * bar_w))
            t.append("━" * done, style="green" if final or step >= self.total else "magenta")
            t.append("─" * (bar_w - done), style="grey37")
            t.append(" ")
        t.append(eta_txt, style="cyan")
        if tail:
            t.append("  " + tail)
        if len(t) > width > 0:
            t.truncate(width, overflow="ellipsis")
        return t
