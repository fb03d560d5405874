"""Random ops. Each op owns a random stream per Session, seeded from (graph seed, op seed) as in
TF1, so a graph with ``tf.set_random_seed`` gives the same numbers in every session; the stream's
state is saved in checkpoints so a resumed run draws the same numbers as an uninterrupted one."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, get_default_graph
from nnctl.graph.tensor_shape import as_shape_tuple
from nnctl.ops import shape_ops
from nnctl.ops.core import make_op

_DEFAULT_GRAPH_SEED = 87654321


def set_random_seed(seed: int | None) -> None:
    """``tf.set_random_seed``: the graph-level seed."""
    get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed: int | None) -> tuple[int | None, int | None]:
    """TF1's rule: with a graph seed and no op seed, the op seed comes from the op count."""
    g = get_default_graph()
    if g.seed is not None:
        return g.seed, (op_seed if op_seed is not None else g.version)
    if op_seed is not None:
        return _DEFAULT_GRAPH_SEED, op_seed
    return None, None


def _random(op_type: str, shape: Any, dtype: Any, seed: int | None, name: str | None, **attrs: Any) -> Tensor:
    inputs: list[Tensor] = []
    if shape_ops.is_dynamic(shape):  # a shape tensor, e.g. tf.shape(x): read at run time
        inputs = [shape_ops.shape_tensor(shape, f"{op_type} '{name}'")]
        shp = shape_ops.static_shape_of(inputs[0])
    else:
        shp = as_shape_tuple(shape)
        if shp is None or None in shp:
            raise ValueError(f"{op_type}: shape must be fully defined, got {shape!r}")
    dt = dtypes.as_dtype(dtype)
    s1, s2 = get_seed(seed)
    return make_op(op_type, inputs, attrs={"shape": shp, "dtype": dt, "seed": s1, "seed2": s2, **attrs},
                   shape=shp, dtype=dt, name=name)


def random_uniform(shape: Any, minval: float = 0, maxval: float | None = None, dtype: Any = dtypes.float32,
                   seed: int | None = None, name: str | None = None) -> Tensor:
    dt = dtypes.as_dtype(dtype)
    if maxval is None:
        if dt.is_integer:
            raise ValueError("random_uniform: maxval must be given for integer dtypes")
        maxval = 1.0
    if dt.is_bool:
        raise ValueError("Invalid dtype bool for random_uniform")
    if _is_tensor(minval) or _is_tensor(maxval):
        if dt.is_integer:
            raise TypeError("random_uniform: integer draws need Python minval and maxval in nnctl")
        from nnctl.ops import math_ops
        from nnctl.ops.core import convert_to_tensor
        lo, hi = convert_to_tensor(minval, dtype=dt), convert_to_tensor(maxval, dtype=dt)
        unit = _random("RandomUniform", shape, dt, seed, name or "random_uniform", minval=0.0, maxval=1.0)
        return _scaled(unit, math_ops.subtract(hi, lo), lo, dt)
    return _random("RandomUniform", shape, dt, seed, name or "random_uniform", minval=float(minval),
                   maxval=float(maxval))


def _is_tensor(v: Any) -> bool:
    return isinstance(v, Tensor) or hasattr(v, "_as_graph_element")


def _float_dtype(dtype: Any, op: str) -> Any:
    dt = dtypes.as_dtype(dtype)
    if not dt.is_floating:
        raise ValueError(f"Invalid dtype {dt.name} for {op}: a floating-point dtype is required")
    return dt


def _scaled(unit: Tensor, scale: Any, shift: Any, dt: Any) -> Tensor:
    """unit * scale + shift with Tensor (or Python) scale and shift, as TF builds it."""
    from nnctl.ops import math_ops
    from nnctl.ops.core import convert_to_tensor
    return math_ops.add(math_ops.multiply(unit, convert_to_tensor(scale, dtype=dt)), convert_to_tensor(shift, dtype=dt))


def random_normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = dtypes.float32,
                  seed: int | None = None, name: str | None = None) -> Tensor:
    dt = _float_dtype(dtype, "random_normal")
    if _is_tensor(mean) or _is_tensor(stddev):
        unit = _random("RandomStandardNormal", shape, dt, seed, name or "random_normal", mean=0.0, stddev=1.0)
        return _scaled(unit, stddev, mean, dt)
    return _random("RandomStandardNormal", shape, dt, seed, name or "random_normal", mean=float(mean),
                   stddev=float(stddev))


def truncated_normal(shape: Any, mean: Any = 0.0, stddev: Any = 1.0, dtype: Any = dtypes.float32,
                     seed: int | None = None, name: str | None = None) -> Tensor:
    """Normal values, re-drawn where more than 2 standard deviations from the mean (as TF)."""
    dt = _float_dtype(dtype, "truncated_normal")
    if _is_tensor(mean) or _is_tensor(stddev):
        unit = _random("TruncatedNormal", shape, dt, seed, name or "truncated_normal", mean=0.0, stddev=1.0)
        return _scaled(unit, stddev, mean, dt)
    return _random("TruncatedNormal", shape, dt, seed, name or "truncated_normal", mean=float(mean),
                   stddev=float(stddev))


def _host_draw(op: Operation, ctx: Any, draw) -> Any:
    rng = ctx.rng(op)
    shape, dt = op.attrs["shape"], op.attrs["dtype"].np
    be = ctx.backend

    def run(*shape_in: Any, out: Any = None) -> Any:
        shp = shape_ops.run_time_shape(op, be.to_host(shape_in[0])) if shape_in else shape
        v = draw(rng, shp).astype(dt, copy=False)
        if out is None:
            return be.asarray(v)
        ctx.xp.copyto(out, be.asarray(v))
        return out
    return run


@registry.register_kernel("RandomUniform", stateful=True)
def _uniform_kernel(op: Operation, ctx: Any) -> Any:
    lo, hi = op.attrs["minval"], op.attrs["maxval"]
    dt = op.attrs["dtype"].np
    if op.attrs["dtype"].is_integer:
        return _host_draw(op, ctx, lambda rng, s: rng.integers(int(lo), int(hi), size=s))
    if dt == np.float16:
        # as TF: u = k / 1024 with 10 random mantissa bits, then minval + u (maxval - minval) in float16,
        # so rounding never lands on maxval for the default [0, 1)
        span, base = np.float16(hi - lo), np.float16(lo)
        return _host_draw(op, ctx, lambda rng, s: (rng.integers(0, 1024, size=s).astype(np.float16)
                                                   * np.float16(1 / 1024)) * span + base)
    top = np.nextafter(dt.type(hi), dt.type(lo)) if hi > lo else dt.type(hi)

    # [minval, maxval): a draw that rounds up to maxval in the output dtype is moved just below it
    def draw(rng: np.random.Generator, s: tuple) -> np.ndarray:
        v = (lo + (hi - lo) * rng.random(s)).astype(dt)
        if hi > lo:
            np.minimum(v, top, out=v)
        return v
    return _host_draw(op, ctx, draw)


@registry.register_kernel("RandomStandardNormal", stateful=True)
def _normal_kernel(op: Operation, ctx: Any) -> Any:
    mu, sd = op.attrs["mean"], op.attrs["stddev"]
    return _host_draw(op, ctx, lambda rng, s: mu + sd * rng.standard_normal(s))


def _truncated(rng: np.random.Generator, s: tuple) -> np.ndarray:
    v = rng.standard_normal(s)
    bad = np.abs(v) > 2
    while bad.any():
        v[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(v) > 2
    return v


@registry.register_kernel("TruncatedNormal", stateful=True)
def _truncated_kernel(op: Operation, ctx: Any) -> Any:
    mu, sd = op.attrs["mean"], op.attrs["stddev"]
    return _host_draw(op, ctx, lambda rng, s: mu + sd * _truncated(rng, s))


registry.not_differentiable("RandomUniform", "RandomStandardNormal", "TruncatedNormal")
