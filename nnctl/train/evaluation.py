"""Loss and metrics over a whole dataset, computed in float64 from the model's outputs.

Run-dir evaluation, frozen-file evaluation and the trainer's validation all go through
:func:`score`, so they agree exactly on the same outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def targets(head: Any, y: np.ndarray) -> np.ndarray:
    """Labels as float targets shaped like the output (one-hot for several classes)."""
    if head.label_type == "real":
        return np.asarray(y, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if head.units == 1:
        return y.astype(np.float64)[:, None]
    t = np.zeros((len(y), head.units))
    t[np.arange(len(y)), y] = 1.0
    return t


def predicted_class(head: Any, logits: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    if head.units == 1:
        if head.loss == "binary_cross_entropy":
            return (np.asarray(logits)[:, 0] > 0).astype(np.int64)
        return (np.asarray(outputs)[:, 0] > 0.5).astype(np.int64)
    return np.argmax(logits if head.uses_logits else outputs, axis=1).astype(np.int64)


def probabilities(head: Any, logits: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities for classification heads ([n, k], k >= 2)."""
    z = np.asarray(logits, dtype=np.float64)
    if head.units == 1:
        if head.loss == "binary_cross_entropy":
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        else:
            p1 = np.clip(np.asarray(outputs, dtype=np.float64)[:, 0], 0.0, 1.0)
        return np.stack([1.0 - p1, p1], axis=1)
    if head.uses_logits or head.final_activation == "softmax":
        return np.exp(_log_softmax(z))
    o = np.asarray(outputs, dtype=np.float64)
    return o / np.maximum(o.sum(axis=1, keepdims=True), 1e-12)


def example_losses(head: Any, logits: np.ndarray, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example data loss (before the batch sum or mean)."""
    z = np.asarray(logits, dtype=np.float64)
    if head.loss == "cross_entropy":
        yi = np.asarray(y, dtype=np.int64)
        return -_log_softmax(z)[np.arange(len(yi)), yi]
    t = targets(head, y)
    if head.loss == "binary_cross_entropy":
        # max(z, 0) - z t + log(1 + exp(-|z|)), stable for large |z|
        return (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(axis=1)
    d = t - np.asarray(outputs, dtype=np.float64)
    if head.loss == "sum_squares":
        return (d * d).sum(axis=1)
    return (d * d).mean(axis=1)


def score(head: Any, logits: np.ndarray, outputs: np.ndarray, y: np.ndarray, metrics: list[str],
          l2_penalty: float = 0.0) -> dict[str, float]:
    """{"loss": ..., metric: ...} over all examples; the loss reduces as the training loss does."""
    per = example_losses(head, logits, outputs, y)
    data_loss = float(per.sum()) if head.loss == "sum_squares" else float(per.mean())
    out = {"loss": data_loss + float(l2_penalty)}
    for m in metrics:
        if m == "accuracy":
            out["accuracy"] = float(np.mean(predicted_class(head, logits, outputs) == np.asarray(y)))
        elif m in ("mse", "mae"):
            t = targets(head, y)
            d = t - np.asarray(outputs, dtype=np.float64)
            out[m] = float(np.mean(d * d) if m == "mse" else np.mean(np.abs(d)))
        else:
            raise ValueError(f"unknown metric {m!r}")
    out["examples"] = int(len(y))
    return out


def l2_penalty(l2: float, weights: list[np.ndarray]) -> float:
    """l2 * sum(w^2) / 2 over the kernels, as tf.nn.l2_loss."""
    if not l2:
        return 0.0
    return float(l2) * sum(float(np.sum(np.asarray(w, dtype=np.float64) ** 2)) / 2 for w in weights)


def run_outputs(run_fn: Any, x: np.ndarray, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Outputs of ``run_fn(x_batch) -> (logits, outputs)`` over ``x`` in batches."""
    ls, os_ = [], []
    for i in range(0, len(x), batch_size):
        lg, ou = run_fn(x[i:i + batch_size])
        ls.append(np.asarray(lg))
        os_.append(np.asarray(ou))
    if not ls:
        return np.zeros((0, 1)), np.zeros((0, 1))
    return np.concatenate(ls), np.concatenate(os_)


def evaluate_model(model: Any, sess: Any, split: Any, cfg: Any) -> dict[str, float]:
    """Loss and metrics of the inference branch of ``model`` (in ``sess``) over a whole split."""
    def fn(xb: np.ndarray) -> Any:
        return sess.run([model.logits, model.outputs], {model.x: xb})
    logits, outputs = run_outputs(fn, split.x)
    weights = sess.run([w.value() for w in model.weights]) if cfg.loss.l2 else []
    return score(model.head, logits, outputs, split.y, list(cfg.metrics), l2_penalty(cfg.loss.l2, weights))
