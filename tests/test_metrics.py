"""Streaming metrics against scikit-learn, to 1e-9, with and without sample weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from nnctl.builder import Head
from nnctl.train.evaluation import score
from nnctl.train.metrics import MetricState

CLASS_METRICS = ["accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
                 "precision_micro", "recall_micro", "f1_micro", "precision_weighted", "recall_weighted",
                 "f1_weighted", "roc_auc", "pr_auc", "log_loss", "top_2_accuracy"]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _stream(head, metrics, logits, outputs, y, w, sizes):
    """Feed the examples in uneven batches, as evaluation over batches does."""
    st = MetricState(head, metrics)
    i = 0
    for n in sizes:
        sl = slice(i, i + n)
        st.update(logits[sl], outputs[sl], y[sl], None if w is None else w[sl])
        i += n
    assert i == len(y)
    return st.result(), st


def _sk_class(m, y, p, pred, w):
    k = p.shape[1]
    if m == "accuracy":
        return skm.accuracy_score(y, pred, sample_weight=w)
    if m.startswith(("precision", "recall", "f1")):
        base, _, avg = m.partition("_")
        avg = avg or ("binary" if k == 2 else "macro")
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[base]
        return fn(y, pred, average=avg, labels=list(range(k)) if avg != "binary" else None, sample_weight=w,
                  zero_division=0)
    if m == "roc_auc":
        return (skm.roc_auc_score(y, p[:, 1], sample_weight=w) if k == 2 else
                skm.roc_auc_score(y, p, multi_class="ovr", average="macro", sample_weight=w))
    if m == "pr_auc":
        if k == 2:
            return skm.average_precision_score(y, p[:, 1], sample_weight=w)
        return skm.average_precision_score(np.eye(k)[y], p, average="macro", sample_weight=w)
    if m == "log_loss":
        return skm.log_loss(y, p, labels=list(range(k)), sample_weight=w)
    if m == "top_2_accuracy":
        return skm.top_k_accuracy_score(y, p, k=2, labels=list(range(k)), sample_weight=w)
    raise AssertionError(m)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_classification_metrics_match_sklearn(k, weighted, seed):
    rng = np.random.default_rng(seed)
    n = 503
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]   # informative but imperfect
    z[:40] = np.round(z[:40], 1)                         # ties among the scores
    w = rng.uniform(0.1, 3.0, n) if weighted else None
    head = Head("cross_entropy", "class", k, k, "softmax")
    metrics = [m for m in CLASS_METRICS if not (k == 2 and m == "top_2_accuracy")]
    res, st = _stream(head, metrics, z, _softmax(z), y, w, [100, 1, 250, 152])
    p = _softmax(z)
    pred = z.argmax(axis=1)
    for m in metrics:
        assert res[m] == pytest.approx(_sk_class(m, y, p, pred, w), abs=1e-9), m
    assert np.allclose(st.confusion_matrix(),
                       skm.confusion_matrix(y, pred, labels=list(range(k)), sample_weight=w), atol=1e-9)
    ll = skm.log_loss(y, p, labels=list(range(k)), sample_weight=w)
    assert res["loss"] == pytest.approx(ll, abs=1e-9)   # cross-entropy loss = log loss


def test_binary_single_unit_head_matches_sklearn():
    rng = np.random.default_rng(3)
    n = 300
    y = rng.integers(0, 2, n)
    z = (rng.normal(size=n) + 1.2 * (2 * y - 1))[:, None]
    head = Head("binary_cross_entropy", "class", 1, 2, "sigmoid")
    p1 = 1 / (1 + np.exp(-z[:, 0]))
    res = score(head, z, p1[:, None], y, ["roc_auc", "pr_auc", "f1", "log_loss", "accuracy"])
    assert res["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p1), abs=1e-9)
    assert res["pr_auc"] == pytest.approx(skm.average_precision_score(y, p1), abs=1e-9)
    assert res["f1"] == pytest.approx(skm.f1_score(y, (z[:, 0] > 0).astype(int)), abs=1e-9)
    assert res["log_loss"] == pytest.approx(skm.log_loss(y, p1), abs=1e-9)
    assert res["loss"] == pytest.approx(skm.log_loss(y, p1), abs=1e-9)


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_sklearn(outputs, weighted):
    rng = np.random.default_rng(7)
    n = 611
    y = rng.normal(3.0, 2.0, size=(n, outputs))
    o = y + rng.normal(0, 0.7, size=(n, outputs))
    w = rng.uniform(0.1, 2.0, n) if weighted else None
    head = Head("mse", "real", outputs, None, "none")
    res, _ = _stream(head, ["r2", "rmse", "mape", "mse", "mae"], o, o, y, w, [64, 500, 47])
    assert res["r2"] == pytest.approx(skm.r2_score(y, o, sample_weight=w), abs=1e-9)
    assert res["rmse"] == pytest.approx(skm.root_mean_squared_error(y, o, sample_weight=w), abs=1e-9)
    assert res["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, o, sample_weight=w), abs=1e-9)
    assert res["mse"] == pytest.approx(skm.mean_squared_error(y, o, sample_weight=w), abs=1e-9)
    assert res["mae"] == pytest.approx(skm.mean_absolute_error(y, o, sample_weight=w), abs=1e-9)


def test_streaming_equals_one_batch():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 4, 1000)
    z = rng.normal(size=(1000, 4))
    head = Head("cross_entropy", "class", 4, 4, "softmax")
    a, _ = _stream(head, CLASS_METRICS, z, _softmax(z), y, None, [1000])
    b, _ = _stream(head, CLASS_METRICS, z, _softmax(z), y, None, [1] * 10 + [990])
    for m in CLASS_METRICS:
        assert a[m] == pytest.approx(b[m], abs=1e-12)


def test_class_weights_weight_the_loss_like_torch():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 200)
    z = rng.normal(size=(200, 3))
    cw = np.array([0.5, 2.0, 1.0])
    head = Head("cross_entropy", "class", 3, 3, "softmax")
    res = score(head, z, _softmax(z), y, ["accuracy"], class_weights=cw)
    # PyTorch's CrossEntropyLoss(weight=cw): sum_i cw[y_i] * nll_i / sum_i cw[y_i]
    nll = -np.log(_softmax(z)[np.arange(200), y])
    want = float(np.sum(cw[y] * nll) / np.sum(cw[y]))
    assert res["loss"] == pytest.approx(want, abs=1e-9)
    # accuracy is not reweighted by the class weights (as Keras' class_weight)
    assert res["accuracy"] == pytest.approx(np.mean(z.argmax(1) == y), abs=1e-12)
