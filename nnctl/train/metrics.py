"""Evaluation metrics, accumulated batch by batch in float64, with optional sample weights.

A :class:`MetricState` takes the model's outputs one evaluation batch at a time (``update``) and
gives every configured metric at the end (``result``). Sums that a metric needs (weighted loss,
the weighted confusion matrix, weighted moments of the regression targets) are kept as running
totals; the ranking metrics (ROC AUC, average precision) need every score, so the state keeps the
class probabilities of the examples seen (n x k float64). Definitions follow scikit-learn exactly
(the tests compare against it to 1e-9):

* ``precision``/``recall``/``f1``: the positive class (1) of a binary problem, the macro average
  otherwise; ``_macro``, ``_micro``, ``_weighted`` (weighted by each class's true support) as
  sklearn's ``average=``; a class with no predicted (or no true) examples scores 0.
* ``roc_auc``: the area under the ROC curve of class 1 (binary), else one-vs-rest macro average.
* ``pr_auc``: average precision, sum_n (R_n - R_{n-1}) P_n over the distinct thresholds (not the
  trapezoid, which is optimistic); binary, else macro over classes.
* ``top_<k>_accuracy``: the true class is among the k highest probabilities.
* ``log_loss``: mean of -log p(true class), p clipped to [eps, 1 - eps] (float64 eps).
* ``r2``: 1 - SS_res / SS_tot per output (1 when both are 0, 0 when only SS_tot is), averaged.
* ``rmse``: sqrt of the per-output mean squared error, averaged over outputs.
* ``mape``: mean |y - y_hat| / max(|y|, eps), averaged over outputs.
* ``mse``/``mae``: over the outputs (one-hot targets for a classifier), as before.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from nnctl.vocab import TOP_K_PATTERN

_EPS = float(np.finfo(np.float64).eps)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def num_classes_of(head: Any) -> int:
    """Classes a classification head separates: 2 for a single output unit, else its width."""
    return 2 if head.units == 1 else int(head.units)


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


# --- ranking metrics (exact, as sklearn computes them) ---------------------------------------------

def _binary_curve(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative weighted (false positives, true positives) at each distinct score, highest first."""
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y, w = s[order], y[order], w[order]
    distinct = np.where(np.diff(s))[0]
    ends = np.r_[distinct, y.size - 1]
    tps = np.cumsum(y * w)[ends]
    fps = np.cumsum((1.0 - y) * w)[ends]
    return fps, tps


def binary_roc_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """Area under the ROC curve (trapezoid over the distinct thresholds); nan when one class is absent."""
    y = np.asarray(y, np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, np.float64)
    fps, tps = _binary_curve(y, np.asarray(s, np.float64), w)
    if fps.size == 0 or fps[-1] <= 0 or tps[-1] <= 0:
        return float("nan")
    fpr = np.r_[0.0, fps] / fps[-1]
    tpr = np.r_[0.0, tps] / tps[-1]
    return float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))


def binary_average_precision(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None) -> float:
    """Average precision: sum over thresholds of (recall step) x precision; nan without positives."""
    y = np.asarray(y, np.float64)
    w = np.ones_like(y) if w is None else np.asarray(w, np.float64)
    fps, tps = _binary_curve(y, np.asarray(s, np.float64), w)
    if tps.size == 0 or tps[-1] <= 0:
        return float("nan")
    ps = tps + fps
    precision = np.divide(tps, ps, out=np.zeros_like(tps), where=ps != 0)
    recall = tps / tps[-1]
    steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(steps * precision))


# --- the accumulator --------------------------------------------------------------------------------

class MetricState:
    """Running totals for the loss and ``metrics`` of one evaluation (see the module docstring)."""

    def __init__(self, head: Any, metrics: list[str], class_weights: np.ndarray | None = None) -> None:
        self.head = head
        self.metrics = list(metrics)
        self.class_weights = None if class_weights is None else np.asarray(class_weights, np.float64)
        self.classification = head.label_type != "real"
        self.k = num_classes_of(head) if self.classification else 0
        self.n = 0
        self.wsum = 0.0            # sum of sample weights
        self.loss_num = 0.0        # sum of (sample x class weight) x example loss
        self.loss_den = 0.0        # sum of (sample x class weight)
        self.sq = 0.0              # sum_i w_i mean_j (t - o)^2
        self.ab = 0.0              # sum_i w_i mean_j |t - o|
        self.cm = np.zeros((self.k, self.k)) if self.classification else None
        self.logloss = 0.0
        self.topk: dict[int, float] = {}
        self._probs: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self._needs_probs = any(m in ("roc_auc", "pr_auc") for m in self.metrics)
        # regression, per output: weighted mean and M2 of the targets (Chan's merge), SS_res, |.|/|y|, sq
        self.r_mean: np.ndarray | None = None
        self.r_m2: np.ndarray | None = None
        self.r_res: np.ndarray | None = None
        self.r_ape: np.ndarray | None = None

    def update(self, logits: np.ndarray, outputs: np.ndarray, y: np.ndarray,
               sample_weight: np.ndarray | None = None) -> None:
        head = self.head
        n = len(y)
        if n == 0:
            return
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(n)
        self.n += n
        self.wsum += float(w.sum())
        per = example_losses(head, logits, outputs, y)
        lw = w if self.class_weights is None else w * self.class_weights[np.asarray(y, np.int64)]
        self.loss_num += float(np.dot(lw, per))
        self.loss_den += float(lw.sum())
        t = targets(head, y)
        d = t - np.asarray(outputs, dtype=np.float64)
        self.sq += float(np.dot(w, (d * d).mean(axis=1)))
        self.ab += float(np.dot(w, np.abs(d).mean(axis=1)))
        if self.classification:
            yi = np.asarray(y, np.int64)
            pred = predicted_class(head, logits, outputs)
            np.add.at(self.cm, (yi, pred), w)
            probs = probabilities(head, logits, outputs)
            p_true = np.clip(probs[np.arange(n), yi], _EPS, 1 - _EPS)
            self.logloss += float(np.dot(w, -np.log(p_true)))
            for m in self.metrics:
                k = top_k(m)
                if k is not None:
                    # rank of the true class: how many classes score strictly higher
                    higher = (probs > probs[np.arange(n), yi][:, None]).sum(axis=1)
                    self.topk[k] = self.topk.get(k, 0.0) + float(np.dot(w, higher < k))
            if self._needs_probs:
                self._probs.append(probs)
                self._labels.append(yi)
                self._weights.append(w)
        else:
            yt = np.asarray(y, np.float64).reshape(n, -1)
            o = np.asarray(outputs, np.float64).reshape(n, -1)
            bw = float(w.sum())
            bmean = (w[:, None] * yt).sum(axis=0) / bw if bw > 0 else np.zeros(yt.shape[1])
            bm2 = (w[:, None] * (yt - bmean) ** 2).sum(axis=0)
            res = (w[:, None] * (yt - o) ** 2).sum(axis=0)
            ape = (w[:, None] * np.abs(yt - o) / np.maximum(np.abs(yt), _EPS)).sum(axis=0)
            if self.r_mean is None:
                self.r_mean, self.r_m2, self.r_res, self.r_ape = bmean, bm2, res, ape
                self._rw = bw
            else:
                tot = self._rw + bw
                delta = bmean - self.r_mean
                if tot > 0:
                    self.r_mean = self.r_mean + delta * (bw / tot)
                    self.r_m2 = self.r_m2 + bm2 + delta ** 2 * (self._rw * bw / tot)
                self.r_res = self.r_res + res
                self.r_ape = self.r_ape + ape
                self._rw = tot

    # --- results ---------------------------------------------------------------------------------
    def _prf(self, average: str) -> tuple[float, float, float]:
        cm = self.cm
        tp = np.diag(cm)
        pred = cm.sum(axis=0)
        true = cm.sum(axis=1)
        if average == "micro":
            t, p, s = tp.sum(), pred.sum(), true.sum()
            prec = t / p if p > 0 else 0.0
            rec = t / s if s > 0 else 0.0
            f1 = 2 * t / (p + s) if p + s > 0 else 0.0
            return float(prec), float(rec), float(f1)
        prec = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
        rec = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
        denom = pred + true
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
        if average == "binary":
            return float(prec[1]), float(rec[1]), float(f1[1])
        if average == "weighted":
            tw = true.sum()
            if tw <= 0:
                return 0.0, 0.0, 0.0
            return (float(np.dot(prec, true) / tw), float(np.dot(rec, true) / tw), float(np.dot(f1, true) / tw))
        return float(prec.mean()), float(rec.mean()), float(f1.mean())

    def _ranking(self, which: str) -> float:
        if not self._probs:
            return float("nan")
        p = np.concatenate(self._probs)
        y = np.concatenate(self._labels)
        w = np.concatenate(self._weights)
        fn = binary_roc_auc if which == "roc_auc" else binary_average_precision
        if self.k == 2:
            return fn(y == 1, p[:, 1], w)
        vals = [fn(y == c, p[:, c], w) for c in range(self.k)]
        return float(np.mean(vals))

    def result(self, l2_penalty: float = 0.0) -> dict[str, float]:
        head = self.head
        if self.loss_den > 0:
            data_loss = self.loss_num if head.loss == "sum_squares" else self.loss_num / self.loss_den
        else:
            data_loss = float("nan")
        out: dict[str, float] = {"loss": float(data_loss) + float(l2_penalty)}
        ws = self.wsum if self.wsum > 0 else float("nan")
        for m in self.metrics:
            if m == "accuracy":
                out[m] = float(np.trace(self.cm) / ws)
            elif m == "mse":
                out[m] = self.sq / ws
            elif m == "mae":
                out[m] = self.ab / ws
            elif m == "log_loss":
                out[m] = self.logloss / ws
            elif m in ("roc_auc", "pr_auc"):
                out[m] = self._ranking(m)
            elif top_k(m) is not None:
                out[m] = self.topk.get(top_k(m), 0.0) / ws
            elif m.split("_")[0] in ("precision", "recall", "f1"):
                base, _, avg = m.partition("_")
                avg = avg or ("binary" if self.k == 2 else "macro")
                prec, rec, f1 = self._prf(avg)
                out[m] = {"precision": prec, "recall": rec, "f1": f1}[base]
            elif m in ("r2", "rmse", "mape"):
                out[m] = self._regression(m)
            else:
                raise ValueError(f"unknown metric {m!r}")
        out["examples"] = int(self.n)
        return out

    def _regression(self, m: str) -> float:
        if self.r_mean is None or self._rw <= 0:
            return float("nan")
        if m == "rmse":
            return float(np.mean(np.sqrt(self.r_res / self._rw)))
        if m == "mape":
            return float(np.mean(self.r_ape / self._rw))
        tot, res = self.r_m2, self.r_res
        r2 = np.where(tot > 0, 1.0 - res / np.where(tot > 0, tot, 1.0), np.where(res > 0, 0.0, 1.0))
        return float(np.mean(r2))

    def confusion_matrix(self) -> np.ndarray | None:
        """[true class, predicted class] -> (weighted) count, for classifiers."""
        return None if self.cm is None else self.cm.copy()


def top_k(metric: str) -> int | None:
    """k of a ``top_<k>_accuracy`` metric name, else None."""
    m = re.fullmatch(TOP_K_PATTERN, metric)
    return int(m.group(1)) if m else None
