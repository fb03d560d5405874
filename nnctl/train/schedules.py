"""The global step and learning-rate schedules (``tf.train.exponential_decay`` ...).

A schedule is a graph tensor computed from the global step (cast to the learning rate's float
dtype) with public ops, so it is re-evaluated on every ``Session.run`` and can be passed wherever a
learning rate is accepted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import GraphKeys, Tensor, get_default_graph
from nnctl.ops import math_ops
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.variables import Variable

# --- the global step ------------------------------------------------------------------------------


def get_global_step(graph: Any = None) -> Variable | None:
    """The global step variable of ``graph`` (default graph if None), or None if there is none.

    Looks in the GLOBAL_STEP collection, then for a global variable named ``global_step``.
    """
    graph = graph or get_default_graph()
    found = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(found) > 1:
        raise TypeError("Multiple tensors in global_step collection.")
    if found:
        return found[0]
    for v in graph.get_collection(GraphKeys.GLOBAL_VARIABLES):
        if getattr(v, "name", None) == "global_step:0":
            return v
    return None


def create_global_step(graph: Any = None) -> Variable:
    """Create the global step: an int64 scalar non-trainable Variable ``global_step`` (initial value
    0) in the GLOBAL_VARIABLES and GLOBAL_STEP collections. ValueError if one exists already."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None):
        return Variable(np.zeros((), dtype=np.int64), trainable=False, name="global_step", dtype=dtypes.int64,
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph: Any = None) -> Variable:
    """The global step of ``graph``, created (see ``create_global_step``) if it does not exist."""
    graph = graph or get_default_graph()
    gs = get_global_step(graph)
    return gs if gs is not None else create_global_step(graph)


def global_step(sess: Any, global_step_tensor: Any) -> int:
    """``tf.train.global_step``: the current value of the global step as a Python int."""
    return int(sess.run(global_step_tensor))


# --- schedules ------------------------------------------------------------------------------------

def _float_of(x: Any, dtype: dtypes.DType) -> Tensor:
    """``x`` (number, Tensor or Variable) as a tensor of ``dtype``."""
    if isinstance(x, Tensor) or hasattr(x, "_as_graph_element"):
        return math_ops.cast(convert_to_tensor(x), dtype)
    return convert_to_tensor(np.asarray(x, dtype=dtype.np), dtype=dtype)


def _lr_tensor(learning_rate: Any) -> Tensor:
    lr = convert_to_tensor(learning_rate, name="learning_rate")
    if not lr.dtype.is_floating:
        raise TypeError(f"learning_rate must be a floating-point value, got {lr.dtype.name}")
    return lr


def _need_step(global_step: Any, what: str) -> None:
    if global_step is None:
        raise ValueError(f"global_step is required for {what}.")


def exponential_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate * decay_rate ^ (global_step / decay_steps); the exponent is floored if
    ``staircase`` (the rate drops every ``decay_steps`` steps)."""
    _need_step(global_step, "exponential_decay")
    with get_default_graph().name_scope(name or "ExponentialDecay"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        p = math_ops.divide(_float_of(global_step, dt), _float_of(decay_steps, dt))
        if staircase:
            p = math_ops.floor(p)
        return math_ops.multiply(lr, math_ops.pow(_float_of(decay_rate, dt), p), name="value")


def inverse_time_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                       staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate / (1 + decay_rate * global_step / decay_steps) (the ratio floored if ``staircase``)."""
    _need_step(global_step, "inverse_time_decay")
    with get_default_graph().name_scope(name or "InverseTimeDecay"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        p = math_ops.divide(_float_of(global_step, dt), _float_of(decay_steps, dt))
        if staircase:
            p = math_ops.floor(p)
        denom = math_ops.add(1.0, math_ops.multiply(_float_of(decay_rate, dt), p))
        return math_ops.divide(lr, denom, name="value")


def natural_exp_decay(learning_rate: Any, global_step: Any, decay_steps: Any, decay_rate: Any,
                      staircase: bool = False, name: str | None = None) -> Tensor:
    """learning_rate * exp(-decay_rate * global_step / decay_steps) (the ratio floored if ``staircase``)."""
    _need_step(global_step, "natural_exp_decay")
    with get_default_graph().name_scope(name or "NaturalExpDecay"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        p = math_ops.divide(_float_of(global_step, dt), _float_of(decay_steps, dt))
        if staircase:
            p = math_ops.floor(p)
        e = math_ops.exp(math_ops.negative(math_ops.multiply(_float_of(decay_rate, dt), p)))
        return math_ops.multiply(lr, e, name="value")


def polynomial_decay(learning_rate: Any, global_step: Any, decay_steps: Any, end_learning_rate: Any = 0.0001,
                     power: Any = 1.0, cycle: bool = False, name: str | None = None) -> Tensor:
    """(learning_rate - end) * (1 - step / decay_steps) ^ power + end, with step = min(global_step,
    decay_steps); if ``cycle``, decay_steps is instead multiplied by ceil(global_step / decay_steps)
    (1 at step 0)."""
    _need_step(global_step, "polynomial_decay")
    with get_default_graph().name_scope(name or "PolynomialDecay"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        step = _float_of(global_step, dt)
        steps = _float_of(decay_steps, dt)
        end = _float_of(end_learning_rate, dt)
        if cycle:
            mult = math_ops.where(math_ops.equal(step, 0.0), convert_to_tensor(np.asarray(1, dt.np)),
                                  math_ops.ceil(math_ops.divide(step, steps)))
            steps = math_ops.multiply(steps, mult)
        else:
            step = math_ops.minimum(step, steps)
        frac = math_ops.subtract(1.0, math_ops.divide(step, steps))
        decayed = math_ops.multiply(math_ops.subtract(lr, end), math_ops.pow(frac, _float_of(power, dt)))
        return math_ops.add(decayed, end, name="value")


def piecewise_constant(x: Any, boundaries: list, values: list, name: str | None = None) -> Tensor:
    """values[0] for x <= boundaries[0], values[i] for boundaries[i-1] < x <= boundaries[i],
    values[-1] for x > boundaries[-1]. Boundaries must have x's dtype (Python ints are promoted to
    an int64 x); all values must share one dtype."""
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with get_default_graph().name_scope(name or "PiecewiseConstant"):
        x = convert_to_tensor(x)
        bs = []
        for b in boundaries:
            b = convert_to_tensor(b)
            if b.dtype != x.dtype:
                if b.dtype == dtypes.int32 and x.dtype == dtypes.int64:
                    b = math_ops.cast(b, dtypes.int64)
                else:
                    raise ValueError(f"Boundaries ({b.dtype.name}) must have the same dtype as x "
                                     f"({x.dtype.name}).")
            bs.append(b)
        vs = [convert_to_tensor(v) for v in values]
        for v in vs[1:]:
            if v.dtype != vs[0].dtype:
                raise ValueError(f"Values must have elements all with the same dtype ({vs[0].dtype.name} vs "
                                 f"{v.dtype.name}).")
        # boundaries increase, so the first (lowest) boundary with x <= b decides: fold from the top
        out = vs[-1]
        for i in range(len(bs) - 1, -1, -1):
            out = math_ops.where(math_ops.less_equal(x, bs[i]), vs[i], out,
                                 name="value" if i == 0 else None)
        return out


def cosine_decay(learning_rate: Any, global_step: Any, decay_steps: Any, alpha: Any = 0.0,
                 name: str | None = None) -> Tensor:
    """Cosine decay (Loshchilov & Hutter, SGDR, without restarts), with s = min(global_step, decay_steps):
    learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)."""
    _need_step(global_step, "cosine decay")
    with get_default_graph().name_scope(name or "CosineDecay"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        steps = _float_of(decay_steps, dt)
        step = math_ops.minimum(_float_of(global_step, dt), steps)
        frac = math_ops.divide(step, steps)
        cosine = math_ops.multiply(0.5, math_ops.add(1.0, math_ops.cos(math_ops.multiply(math.pi, frac))))
        a = _float_of(alpha, dt)
        decayed = math_ops.add(math_ops.multiply(math_ops.subtract(1.0, a), cosine), a)
        return math_ops.multiply(lr, decayed, name="value")


def linear_warmup(learning_rate: Any, global_step: Any, warmup_steps: Any, name: str | None = None) -> Tensor:
    """nnctl's addition (not in TF1): learning_rate * min(1, global_step / warmup_steps).

    The rate is 0 at step 0 and rises linearly to ``learning_rate`` at ``warmup_steps``, then stays
    there. ``learning_rate`` may itself be a schedule tensor, e.g.
    ``linear_warmup(cosine_decay(0.1, gs, 1000), gs, 100)``. ``warmup_steps == 0`` returns it unchanged.
    """
    _need_step(global_step, "linear_warmup")
    if not isinstance(warmup_steps, Tensor) and not hasattr(warmup_steps, "_as_graph_element"):
        if warmup_steps < 0:
            raise ValueError(f"linear_warmup: warmup_steps must be >= 0, got {warmup_steps}")
        if warmup_steps == 0:
            return _lr_tensor(learning_rate)
    with get_default_graph().name_scope(name or "LinearWarmup"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        w = _float_of(warmup_steps, dt)
        frac = math_ops.minimum(math_ops.divide(_float_of(global_step, dt), w), 1.0)
        return math_ops.multiply(lr, frac, name="value")


def one_cycle(learning_rate: Any, global_step: Any, total_steps: int, pct_start: float = 0.3,
              div_factor: float = 25.0, final_div_factor: float = 1e4, name: str | None = None) -> Tensor:
    """The 1cycle policy as PyTorch's ``OneCycleLR`` (cosine annealing, no momentum cycling).

    With a = learning_rate / div_factor, b = a / final_div_factor, p = pct_start * total - 1 and
    anneal(u, v, f) = v + (u - v) (1 + cos(pi f)) / 2: the rate at step t is
    anneal(a, learning_rate, t / p) up to p, then anneal(learning_rate, b, (t - p) / (total - 1 - p)),
    with t clipped to [0, total - 1]."""
    _need_step(global_step, "one_cycle")
    if total_steps < 2:
        raise ValueError(f"one_cycle: total_steps must be >= 2, got {total_steps}")
    with get_default_graph().name_scope(name or "OneCycle"):
        lr = _lr_tensor(learning_rate)
        dt = lr.dtype
        peak = float(pct_start) * total_steps - 1.0
        end = float(total_steps - 1)
        t = math_ops.minimum(math_ops.maximum(_float_of(global_step, dt), 0.0), end)

        def anneal(u: Any, v: Any, frac: Tensor) -> Tensor:
            c = math_ops.add(1.0, math_ops.cos(math_ops.multiply(math.pi, frac)))
            return math_ops.add(v, math_ops.multiply(math_ops.multiply(math_ops.subtract(u, v), c), 0.5))
        start = math_ops.divide(lr, float(div_factor))
        low = math_ops.divide(start, float(final_div_factor))
        f1 = math_ops.divide(t, peak) if peak > 0 else math_ops.multiply(t, 0.0)
        f2 = math_ops.divide(math_ops.subtract(t, peak), max(end - peak, 1e-12))
        up = anneal(start, lr, math_ops.minimum(f1, 1.0))
        down = anneal(lr, low, math_ops.maximum(f2, 0.0))
        return math_ops.where(math_ops.less_equal(t, peak), up, down, name="value")
