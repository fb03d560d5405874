"""Candidate sampling for word2vec-style training: ``tf.nn.nce_loss``, ``tf.nn.sampled_softmax_loss``
and the samplers they use (``tf.nn.log_uniform_candidate_sampler``, ``uniform_candidate_sampler``).

A sampler op draws ``num_sampled`` class ids (distinct ones when ``unique``) and reports, for the
true classes and for the sampled ones, the expected number of times each would be drawn: ``p(k) *
num_sampled`` without ``unique``, ``1 - (1 - p(k)) ** num_tries`` with it (``num_tries`` is how many
draws it took to find the distinct ids), as TensorFlow does. The losses subtract the log of those
expected counts from the logits (the correction that makes sampling an estimate of the full loss).
The sampler ops are random and not differentiable; gradients flow through the gathers of the
weights and biases, and through ``inputs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, name_scope
from nnctl.ops import array_ops as A
from nnctl.ops import math_ops as M
from nnctl.ops import nn_ops as N
from nnctl.ops.core import convert_to_tensor, make_op
from nnctl.ops.random_ops import get_seed


def _sampler(kind: str, true_classes: Any, num_true: int, num_sampled: int, unique: bool, range_max: int,
             seed: int | None, name: str | None) -> tuple[Tensor, Tensor, Tensor]:
    t = convert_to_tensor(true_classes)
    if t.dtype not in (dtypes.int64, dtypes.int32):
        raise TypeError(f"{kind}: true_classes must be int64 (or int32), got {t.dtype.name}")
    if t.dtype != dtypes.int64:
        t = M.cast(t, dtypes.int64)
    if unique and num_sampled > range_max:
        raise ValueError(f"{kind}: num_sampled ({num_sampled}) must be <= range_max ({range_max}) when unique")
    s1, s2 = get_seed(seed)
    batch = t.static_shape[0] if t.static_shape else None
    outs = make_op(kind, [t], attrs={"num_true": int(num_true), "num_sampled": int(num_sampled),
                                     "unique": bool(unique), "range_max": int(range_max), "seed": s1, "seed2": s2},
                   outputs=[((num_sampled,), dtypes.int64), ((batch, num_true), dtypes.float32),
                            ((num_sampled,), dtypes.float32)], name=name or kind)
    return outs[0], outs[1], outs[2]


def log_uniform_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool,
                                  range_max: int, seed: int | None = None, name: str | None = None) -> tuple:
    """Ids drawn from the log-uniform (Zipfian) distribution p(k) = log((k + 2) / (k + 1)) / log(range_max + 1),
    for vocabularies sorted by decreasing frequency."""
    return _sampler("LogUniformCandidateSampler", true_classes, num_true, num_sampled, unique, range_max, seed,
                    name)


def uniform_candidate_sampler(true_classes: Any, num_true: int, num_sampled: int, unique: bool, range_max: int,
                              seed: int | None = None, name: str | None = None) -> tuple:
    return _sampler("UniformCandidateSampler", true_classes, num_true, num_sampled, unique, range_max, seed, name)


def _probabilities(kind: str, range_max: int) -> Any:
    if kind == "UniformCandidateSampler":
        return lambda k: np.full(np.shape(k), 1.0 / range_max)
    log_range = np.log(range_max + 1.0)
    return lambda k: (np.log(np.asarray(k, np.float64) + 2.0) - np.log(np.asarray(k, np.float64) + 1.0)) / log_range


def _sampler_factory(kind: str):
    def factory(op: Operation, ctx: Any) -> Any:
        a = op.attrs
        n, unique, rmax = a["num_sampled"], a["unique"], a["range_max"]
        prob = _probabilities(kind, rmax)
        rng = ctx.rng(op)
        be = ctx.backend

        def draw_one(count: int) -> np.ndarray:
            if kind == "UniformCandidateSampler":
                return rng.integers(0, rmax, size=count)
            # inverse CDF of the log-uniform distribution
            v = np.floor(np.exp(rng.random(count) * np.log(rmax + 1.0))).astype(np.int64) - 1
            return np.clip(v, 0, rmax - 1)

        def run(true_classes: Any, out: Any = None) -> Any:
            tc = np.asarray(be.to_host(true_classes))
            if unique:
                seen: dict[int, None] = {}
                tries = 0
                while len(seen) < n:
                    batch = draw_one(max(n - len(seen), 1))
                    for v in batch:
                        tries += 1
                        if int(v) not in seen:
                            seen[int(v)] = None
                            if len(seen) == n:
                                break
                sampled = np.fromiter(seen, dtype=np.int64, count=n)

                def expected(k: Any) -> np.ndarray:
                    return -np.expm1(tries * np.log1p(-prob(k)))
            else:
                sampled = draw_one(n).astype(np.int64)

                def expected(k: Any) -> np.ndarray:
                    return prob(k) * n
            res = (be.asarray(sampled), be.asarray(expected(tc).astype(np.float32)),
                   be.asarray(expected(sampled).astype(np.float32)))
            if out is None:
                return res
            for o, r in zip(out, res):
                ctx.xp.copyto(o, r)
            return out
        return run
    return factory


for _kind in ("LogUniformCandidateSampler", "UniformCandidateSampler"):
    registry.register_kernel(_kind, stateful=True)(_sampler_factory(_kind))
    registry.not_differentiable(_kind)


def compute_accidental_hits(true_classes: Any, sampled_candidates: Any, num_true: int,
                            name: str | None = None) -> Tensor:
    """A float mask [batch, num_sampled]: 1 where a sampled id equals one of the row's true ids."""
    t, s = convert_to_tensor(true_classes), convert_to_tensor(sampled_candidates)
    batch = t.static_shape[0] if t.static_shape else None
    n = s.static_shape[0] if s.static_shape else None
    return make_op("AccidentalHitMask", [t, s], shape=(batch, n), dtype=dtypes.float32,
                   name=name or "compute_accidental_hits")


@registry.register_kernel("AccidentalHitMask")
def _accidental_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(true_classes: Any, sampled: Any, out: Any = None) -> Any:
        hit = (true_classes[:, :, None] == sampled[None, None, :]).any(axis=1)
        res = hit.astype(np.float32)
        if out is None:
            return res
        xp.copyto(out, res)
        return out
    return run


registry.not_differentiable("AccidentalHitMask")


def _sampled_logits(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: int, num_classes: int,
                    num_true: int, sampled_values: Any, subtract_log_q: bool, remove_accidental_hits: bool,
                    seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Logits [batch, num_true + num_sampled] and their labels, as TF's _compute_sampled_logits."""
    w = A.concat([convert_to_tensor(x) for x in weights], 0) if isinstance(weights, (list, tuple)) \
        else convert_to_tensor(weights)
    b = A.concat([convert_to_tensor(x) for x in biases], 0) if isinstance(biases, (list, tuple)) \
        else convert_to_tensor(biases)
    x = convert_to_tensor(inputs)
    lab = convert_to_tensor(labels)
    if lab.dtype != dtypes.int64:
        lab = M.cast(lab, dtypes.int64)
    if lab.static_shape is not None and len(lab.static_shape) == 1:
        lab = A.expand_dims(lab, 1)
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(lab, num_true, num_sampled, True, num_classes, seed=seed)
    sampled, true_expected, sampled_expected = sampled_values
    sampled = M.cast(convert_to_tensor(sampled), dtypes.int64) if convert_to_tensor(sampled).dtype != dtypes.int64 \
        else convert_to_tensor(sampled)
    dim = w.static_shape[1] if w.static_shape else None
    flat_labels = A.reshape(lab, [-1])
    true_w = A.gather(w, flat_labels)                      # [batch * num_true, dim]
    true_b = A.gather(b, flat_labels)
    sampled_w = A.gather(w, sampled)                       # [num_sampled, dim]
    sampled_b = A.gather(b, sampled)
    # true logits: <x, w_label> + b_label, one per true class of each row
    xt = A.reshape(A.tile(A.expand_dims(x, 1), [1, num_true, 1]), [-1, dim])
    true_logits = A.reshape(M.add(M.reduce_sum(M.multiply(xt, true_w), axis=1), true_b), [-1, num_true])
    sampled_logits = M.add(M.matmul(x, sampled_w, transpose_b=True), sampled_b)
    if remove_accidental_hits:
        mask = compute_accidental_hits(lab, sampled, num_true)
        sampled_logits = M.add(sampled_logits, M.multiply(mask, -1e30 if x.dtype == dtypes.float32 else -1e300))
    if subtract_log_q:
        true_logits = M.subtract(true_logits, M.log(M.cast(true_expected, x.dtype)))
        sampled_logits = M.subtract(sampled_logits, M.log(M.cast(sampled_expected, x.dtype)))
    out_logits = A.concat([true_logits, sampled_logits], 1)
    out_labels = A.concat([M.divide(A.ones_like(true_logits), float(num_true)), A.zeros_like(sampled_logits)], 1)
    return out_logits, out_labels


def nce_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: int, num_classes: int,
             num_true: int = 1, sampled_values: Any = None, remove_accidental_hits: bool = False,
             partition_strategy: str = "mod", name: str = "nce_loss", seed: int | None = None) -> Tensor:
    """``tf.nn.nce_loss``: noise-contrastive estimation, one loss per example [batch]."""
    with name_scope(name):
        logits, labels_ = _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                          sampled_values, True, remove_accidental_hits, seed)
        xent = N.sigmoid_cross_entropy_with_logits(labels=labels_, logits=logits)
        return M.reduce_sum(xent, axis=1)


def sampled_softmax_loss(weights: Any, biases: Any, labels: Any, inputs: Any, num_sampled: int, num_classes: int,
                         num_true: int = 1, sampled_values: Any = None, remove_accidental_hits: bool = True,
                         partition_strategy: str = "mod", name: str = "sampled_softmax_loss",
                         seed: int | None = None) -> Tensor:
    """``tf.nn.sampled_softmax_loss``: softmax over the true and the sampled classes, per example."""
    with name_scope(name):
        logits, labels_ = _sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                          sampled_values, True, remove_accidental_hits, seed)
        return N.softmax_cross_entropy_with_logits_v2(labels=A.stop_gradient(labels_), logits=logits)
