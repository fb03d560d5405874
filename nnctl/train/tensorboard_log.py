"""The trainer's TensorBoard logs: ``RUN_DIR/tensorboard/train`` and ``.../val`` (one TensorBoard
"run" per split, so the curves of a split overlay under the same tag, as Keras writes them).

* scalars: ``batch_loss`` (the running training loss), ``lr``, ``grad_norm``, ``steps_per_sec`` in
  train/; ``loss`` and every configured metric of each evaluation in train/ and val/;
* histograms every evaluation: ``weights/<variable>`` and ``gradients/<variable>`` (the gradients
  of the step just taken, fetched in the same run as the update, so nothing extra is computed and
  no random stream moves);
* the graph: the whole training graph, forward ops plus the ``gradients/`` nodes and the
  optimizer's update nodes in their own scopes.

On resume a SessionLog START event at the resumed step tells TensorBoard to drop what the killed
run logged after its last checkpoint, so the curves do not fork.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.events.tbx import tbx

_SKIP = ("step", "epoch", "split", "kind", "time", "examples")


class TrainLog:
    def __init__(self, logdir: Path, model: Any, resumed_step: int | None, warn: Any = None) -> None:
        from nnctl.events import EventWriter, graph_def
        self.model = model
        self.writers: dict[str, Any] = {}
        self.logdir = Path(logdir)
        self._warn = warn or (lambda m: None)
        self.grads = [(g, v) for g, v in (getattr(model, "grads_and_vars", None) or []) if g is not None]
        w = self._writer("train")
        if resumed_step is not None:
            _m = tbx("proto.event_pb2")
            Event, SessionLog = _m.Event, _m.SessionLog
            for split in ("train", "val"):
                self._writer(split)._w.add_event(Event(session_log=SessionLog(status=SessionLog.START)),
                                                 int(resumed_step))
        w.add_graph_def(graph_def(model.graph))
        self._EventWriter = EventWriter

    def _writer(self, split: str) -> Any:
        if split not in self.writers:
            from nnctl.events import EventWriter
            self.writers[split] = EventWriter(self.logdir / split)
        return self.writers[split]

    def record(self, rec: dict[str, Any], steps_per_sec: float | None = None, grad_norm: float | None = None
               ) -> None:
        """One metrics.jsonl record as scalars of its split."""
        from nnctl.events import scalar_summary
        split, step = rec["split"], int(rec["step"])
        w = self._writer(split)
        if rec.get("kind") == "batch":
            items = [("batch_loss", rec.get("loss")), ("lr", rec.get("lr")), ("grad_norm", grad_norm),
                     ("steps_per_sec", steps_per_sec)]
        else:
            items = [(k, v) for k, v in rec.items() if k not in _SKIP]
        for tag, v in items:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                w.add_summary(scalar_summary(tag, float(v)), step)

    def histograms(self, step: int, sess: Any, grad_values: list[np.ndarray] | None) -> None:
        from nnctl.events import histogram_summary
        w = self._writer("train")
        variables = [v for _, v in self.grads] or list(self.model.graph.get_collection("trainable_variables"))
        values = sess.run([v.value() for v in variables])
        for v, val in zip(variables, values):
            w.add_summary(histogram_summary(f"weights/{v.op.name}", val), step)
        if grad_values is not None:
            for (_, v), g in zip(self.grads, grad_values):
                w.add_summary(histogram_summary(f"gradients/{v.op.name}", g), step)

    def grad_tensors(self) -> list:
        return [g for g, _ in self.grads]

    def flush(self) -> None:
        for w in self.writers.values():
            with contextlib.suppress(OSError):
                w.flush()

    def close(self) -> None:
        for w in self.writers.values():
            with contextlib.suppress(OSError):
                w.close()
