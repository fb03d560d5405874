"""Loss and metrics over a whole dataset, computed in float64 from the model's outputs.

Run-dir evaluation, frozen-file evaluation and the trainer's validation all go through
:func:`score` (or :func:`evaluate_model`, which streams batches into the same
:class:`~nnctl.train.metrics.MetricState`), so they agree exactly on the same outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.train.metrics import (  # noqa: F401  (re-exported: the frozen model and predict use them from here)
    MetricState,
    example_losses,
    predicted_class,
    probabilities,
    targets,
)

EVAL_BATCH = 1024  # examples per evaluation batch, the same for every path so sums add up identically


def score(head: Any, logits: np.ndarray, outputs: np.ndarray, y: np.ndarray, metrics: list[str],
          l2_penalty: float = 0.0, sample_weight: np.ndarray | None = None,
          class_weights: np.ndarray | None = None, state: MetricState | None = None) -> dict[str, float]:
    """{"loss": ..., metric: ..., "examples": n} over all examples; the loss reduces as the training loss does.

    ``state`` (a fresh MetricState) may be passed to read the confusion matrix afterwards."""
    st = state if state is not None else MetricState(head, metrics, class_weights)
    y = np.asarray(y)
    for i in range(0, len(y), EVAL_BATCH):
        sl = slice(i, i + EVAL_BATCH)
        st.update(logits[sl], outputs[sl], y[sl], None if sample_weight is None else np.asarray(sample_weight)[sl])
    return st.result(l2_penalty)


def l2_penalty(l2: float, weights: list[np.ndarray]) -> float:
    """l2 * sum(w^2) / 2 over the kernels, as tf.nn.l2_loss."""
    if not l2:
        return 0.0
    return float(l2) * sum(float(np.sum(np.asarray(w, dtype=np.float64) ** 2)) / 2 for w in weights)


def run_outputs(run_fn: Any, x: np.ndarray, batch_size: int = EVAL_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Outputs of ``run_fn(x_batch) -> (logits, outputs)`` over ``x`` in batches."""
    ls, os_ = [], []
    for i in range(0, len(x), batch_size):
        lg, ou = run_fn(x[i:i + batch_size])
        ls.append(np.asarray(lg))
        os_.append(np.asarray(ou))
    if not ls:
        return np.zeros((0, 1)), np.zeros((0, 1))
    return np.concatenate(ls), np.concatenate(os_)


def evaluate_model(model: Any, sess: Any, split: Any, cfg: Any, state: MetricState | None = None
                   ) -> dict[str, float]:
    """Loss and metrics of the inference branch of ``model`` (in ``sess``) over a whole split,
    streamed batch by batch (``state``, when given, is filled and keeps the confusion matrix)."""
    st = state if state is not None else MetricState(model.head, list(cfg.metrics), model.class_weights)
    w_all = getattr(split, "w", None)
    for i in range(0, len(split.x), EVAL_BATCH):
        sl = slice(i, i + EVAL_BATCH)
        lg, ou = sess.run([model.logits, model.outputs], {model.x: split.x[sl]})
        st.update(np.asarray(lg), np.asarray(ou), np.asarray(split.y[sl]), None if w_all is None else w_all[sl])
    weights = sess.run([w.value() for w in model.weights]) if cfg.loss.l2 else []
    return st.result(l2_penalty(cfg.loss.l2, weights))

