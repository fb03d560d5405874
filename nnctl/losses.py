"""``tf.losses``: TF1's loss functions with weights, reductions and the LOSSES collection.

Every loss computes per-element losses, multiplies them by ``weights`` (broadcast to the losses'
shape) and reduces them by ``reduction``; the default, ``SUM_BY_NONZERO_WEIGHTS``, divides the
weighted sum by the number of non-zero weights (0 when there are none), which with the default
``weights=1.0`` is the mean. The result is added to ``loss_collection`` (``tf.GraphKeys.LOSSES``),
from which ``get_total_loss`` sums, together with the regularization losses.
"""

from __future__ import annotations

from typing import Any

from nnctl import dtypes
from nnctl.graph.graph import GraphKeys, Tensor, get_default_graph, name_scope
from nnctl.ops import array_ops as A
from nnctl.ops import math_ops as M
from nnctl.ops import nn_ops as N
from nnctl.ops.core import convert_to_tensor


class Reduction:
    """How a weighted loss is reduced (``tf.losses.Reduction``)."""

    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS,
                cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key: str) -> None:
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    # num / den where den > 0, else 0 (TF's div_no_nan for these counts)
    safe = M.where(M.greater(den, 0.0), den, A.ones_like(den))
    return M.where(M.greater(den, 0.0), M.divide(num, safe), A.zeros_like(num))


def compute_weighted_loss(losses: Any, weights: Any = 1.0, scope: str | None = None,
                          loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """``tf.losses.compute_weighted_loss``: weight, reduce (see the module docstring), collect."""
    Reduction.validate(reduction)
    with name_scope(scope, "weighted_loss"):
        losses = convert_to_tensor(losses)
        in_dtype = losses.dtype
        if in_dtype != dtypes.float32 and in_dtype != dtypes.float64:
            losses = M.cast(losses, dtypes.float32)
        w = weights if isinstance(weights, Tensor) else convert_to_tensor(weights, dtype=losses.dtype)
        if w.dtype != losses.dtype:
            w = M.cast(w, losses.dtype)
        weighted = M.multiply(losses, w)
        if reduction == Reduction.NONE:
            loss = weighted
        else:
            total = M.reduce_sum(weighted)
            if reduction == Reduction.SUM:
                loss = total
            elif reduction == Reduction.MEAN:
                loss = _safe_div(total, M.reduce_sum(M.multiply(A.ones_like(losses), w)))
            elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                loss = _safe_div(total, M.cast(A.size(losses), losses.dtype))
            else:
                nonzero = M.cast(M.not_equal(M.multiply(A.ones_like(losses), w), 0.0), losses.dtype)
                loss = _safe_div(total, M.reduce_sum(nonzero))
        if loss_collection:
            get_default_graph().add_to_collection(loss_collection, loss)
        return loss


def _pair(labels: Any, predictions: Any, what: str) -> tuple[Tensor, Tensor]:
    if labels is None or predictions is None:
        raise ValueError(f"tf.losses.{what}: labels and predictions/logits must not be None")
    p = convert_to_tensor(predictions)
    if not p.dtype.is_floating:
        p = M.cast(p, dtypes.float32)
    lab = convert_to_tensor(labels, preferred_dtype=p.dtype)
    if lab.dtype != p.dtype:
        lab = M.cast(lab, p.dtype)
    return lab, p


def mean_squared_error(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                       loss_collection: str | None = GraphKeys.LOSSES,
                       reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    with name_scope(scope, "mean_squared_error"):
        lab, p = _pair(labels, predictions, "mean_squared_error")
        return compute_weighted_loss(M.squared_difference(p, lab), weights, None, loss_collection, reduction)


def absolute_difference(labels: Any, predictions: Any, weights: Any = 1.0, scope: str | None = None,
                        loss_collection: str | None = GraphKeys.LOSSES,
                        reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    with name_scope(scope, "absolute_difference"):
        lab, p = _pair(labels, predictions, "absolute_difference")
        return compute_weighted_loss(M.abs(M.subtract(p, lab)), weights, None, loss_collection, reduction)


def huber_loss(labels: Any, predictions: Any, weights: Any = 1.0, delta: float = 1.0, scope: str | None = None,
               loss_collection: str | None = GraphKeys.LOSSES,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """0.5 e^2 where |e| <= delta, else delta (|e| - 0.5 delta), with e = predictions - labels."""
    with name_scope(scope, "huber_loss"):
        lab, p = _pair(labels, predictions, "huber_loss")
        err = M.abs(M.subtract(p, lab))
        quadratic = M.minimum(err, delta)
        linear = M.subtract(err, quadratic)
        losses = M.add(M.multiply(0.5, M.square(quadratic)), M.multiply(delta, linear))
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def log_loss(labels: Any, predictions: Any, weights: Any = 1.0, epsilon: float = 1e-7, scope: str | None = None,
             loss_collection: str | None = GraphKeys.LOSSES,
             reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """-y log(p + eps) - (1 - y) log(1 - p + eps)."""
    with name_scope(scope, "log_loss"):
        lab, p = _pair(labels, predictions, "log_loss")
        losses = M.subtract(M.negative(M.multiply(lab, M.log(M.add(p, epsilon)))),
                            M.multiply(M.subtract(1.0, lab), M.log(M.add(M.subtract(1.0, p), epsilon))))
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def hinge_loss(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
               loss_collection: str | None = GraphKeys.LOSSES,
               reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """max(0, 1 - (2y - 1) x) for labels y in {0, 1}."""
    with name_scope(scope, "hinge_loss"):
        lab, x = _pair(labels, logits, "hinge_loss")
        signs = M.subtract(M.multiply(2.0, lab), 1.0)
        losses = N.relu(M.subtract(1.0, M.multiply(signs, x)))
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0,
                          scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Elementwise sigmoid cross-entropy; smoothing moves labels to y (1 - s) + s / 2."""
    with name_scope(scope, "sigmoid_cross_entropy_loss"):
        lab, x = _pair(multi_class_labels, logits, "sigmoid_cross_entropy")
        if label_smoothing:
            lab = M.add(M.multiply(lab, 1.0 - label_smoothing), 0.5 * label_smoothing)
        losses = N.sigmoid_cross_entropy_with_logits(labels=lab, logits=x)
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels: Any, logits: Any, weights: Any = 1.0, label_smoothing: float = 0,
                          scope: str | None = None, loss_collection: str | None = GraphKeys.LOSSES,
                          reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    """Per-example softmax cross-entropy (no gradient into the labels); smoothing moves labels to
    y (1 - s) + s / num_classes."""
    with name_scope(scope, "softmax_cross_entropy_loss"):
        lab, x = _pair(onehot_labels, logits, "softmax_cross_entropy")
        if label_smoothing:
            n = x.static_shape[-1] if x.static_shape and x.static_shape[-1] is not None else None
            if n is None:
                raise ValueError("tf.losses.softmax_cross_entropy: label_smoothing needs a known number of classes")
            lab = M.add(M.multiply(lab, 1.0 - label_smoothing), label_smoothing / n)
        losses = N.softmax_cross_entropy_with_logits_v2(labels=A.stop_gradient(lab), logits=x)
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels: Any, logits: Any, weights: Any = 1.0, scope: str | None = None,
                                 loss_collection: str | None = GraphKeys.LOSSES,
                                 reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS) -> Tensor:
    with name_scope(scope, "sparse_softmax_cross_entropy_loss"):
        losses = N.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def add_loss(loss: Any, loss_collection: str = GraphKeys.LOSSES) -> None:
    if loss_collection:
        get_default_graph().add_to_collection(loss_collection, loss)


def get_losses(scope: str | None = None, loss_collection: str = GraphKeys.LOSSES) -> list:
    return get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope: str | None = None) -> list:
    return get_default_graph().get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope: str | None = None, name: str = "total_regularization_loss") -> Tensor:
    """The sum of the regularization losses (0.0 when there are none)."""
    losses = get_regularization_losses(scope)
    if losses:
        return M.add_n(list(losses), name=name)
    from nnctl.ops.state_ops import constant
    return constant(0.0, name=name)


def get_total_loss(add_regularization_losses: bool = True, name: str = "total_loss",
                   scope: str | None = None) -> Tensor:
    """The sum of the collected losses, plus the regularization losses if asked."""
    losses = list(get_losses(scope))
    if add_regularization_losses:
        losses += get_regularization_losses(scope)
    if not losses:
        raise ValueError("No losses found: create one with tf.losses.* (or tf.losses.add_loss)")
    return M.add_n(losses, name=name)


def __getattr__(name: str) -> object:  # a TF1 name nnctl lacks: say so (see nnctl/unsupported.py)
    if name.startswith("__"):
        raise AttributeError(name)
    from nnctl.unsupported import missing
    raise missing("tf.losses", name)
