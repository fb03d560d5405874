"""The gradient-check table machinery.

A row names the op types it covers, builds a float64 graph from placeholders, and gives input
values away from kinks. ``check_row`` compares nnctl's symbolic gradient of
``f = sum(w * op(inputs))`` (w fixed and random, so no cancellation hides an error) against central
differences in a random direction, and, for smooth ops, the gradient of the gradient (a
Hessian-vector product) against central differences of the gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nnctl as tf


@dataclass
class GradRow:
    name: str
    ops: tuple[str, ...]                       # op types this row covers (for the meta-test)
    build: Callable[..., Any]                  # build(*placeholders) -> Tensor (or list of Tensors)
    inputs: list[np.ndarray]                   # float64 (or int) input values
    second_order: bool = True
    wrt: tuple[int, ...] | None = None         # indices of inputs to differentiate (default: float ones)
    # inputs whose Hessian-vector product is checked (default: all of wrt); only for rules that follow
    # TF where TF's second derivative is knowingly partial (see the row's comment)
    hvp_wrt: tuple[int, ...] | None = None
    rtol: float = 1e-7
    atol: float = 1e-9
    eps: float = 1e-6
    extra: dict = field(default_factory=dict)


def _scalar_objective(out: Any, rng: np.random.Generator) -> Any:
    outs = out if isinstance(out, (list, tuple)) else [out]
    total = None
    for o in outs:
        if not o.dtype.is_floating:
            continue
        shape = [d for d in o.get_shape().as_list()]
        w = rng.uniform(0.5, 1.5, size=shape)
        term = tf.reduce_sum(o * tf.constant(w, dtype=tf.float64))
        total = term if total is None else total + term
    return total


def check_row(row: GradRow, seed: int = 0, backend: Any = None) -> None:
    rng = np.random.default_rng(seed)
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(tf.as_dtype(v.dtype), v.shape, name=f"in{i}") for i, v in enumerate(row.inputs)]
        out = row.build(*phs)
        f = _scalar_objective(out, rng)
        wrt = row.wrt if row.wrt is not None else tuple(i for i, v in enumerate(row.inputs) if v.dtype.kind == "f")
        grads = tf.gradients(f, [phs[i] for i in wrt])
        for i, gr in zip(wrt, grads):
            assert gr is not None, f"{row.name}: no gradient for input {i}"
        # direction-projected gradient for the second-order check
        us = [rng.standard_normal(row.inputs[i].shape) for i in wrt]
        gdotu = tf.add_n([tf.reduce_sum(gr * tf.constant(u)) for gr, u in zip(grads, us)])
        hvp = tf.gradients(gdotu, [phs[i] for i in wrt]) if row.second_order else None
        sess = tf.Session(graph=g, backend=backend)

        def feed(vals: list[np.ndarray]) -> dict:
            return {p: v for p, v in zip(phs, vals)}

        base = [v.copy() for v in row.inputs]
        analytic = sess.run(grads, feed(base))
        for k, i in enumerate(wrt):
            d = rng.standard_normal(base[i].shape)
            plus = [v.copy() for v in base]
            minus = [v.copy() for v in base]
            plus[i] = plus[i] + row.eps * d
            minus[i] = minus[i] - row.eps * d
            num = (sess.run(f, feed(plus)) - sess.run(f, feed(minus))) / (2 * row.eps)
            ana = float(np.sum(np.asarray(analytic[k]) * d))
            assert np.isclose(ana, num, rtol=row.rtol, atol=row.atol), (
                f"{row.name}: first-order gradient wrt input {i}: analytic {ana!r} vs numeric {num!r}")
        if hvp is not None:
            hv = sess.run([h for h in hvp if h is not None], feed(base))
            hv_iter = iter(hv)
            for k, i in enumerate(wrt):
                if hvp[k] is None:
                    continue
                if row.hvp_wrt is not None and i not in row.hvp_wrt:
                    next(hv_iter)
                    continue
                ana_h = np.asarray(next(hv_iter))
                d = rng.standard_normal(base[i].shape)
                plus = [v.copy() for v in base]
                minus = [v.copy() for v in base]
                plus[i] = plus[i] + row.eps * d
                minus[i] = minus[i] - row.eps * d
                num = (sess.run(gdotu, feed(plus)) - sess.run(gdotu, feed(minus))) / (2 * row.eps)
                ana = float(np.sum(ana_h * d))
                assert np.isclose(ana, num, rtol=row.rtol, atol=row.atol), (
                    f"{row.name}: second-order (Hessian-vector) wrt input {i}: analytic {ana!r} vs numeric {num!r}")
