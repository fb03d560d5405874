"""The weight-initializer vocabulary of configs and layers, and how each one draws its values.

``INITIALIZERS`` maps a name to its parameters and their defaults (the config validator reads it);
:func:`initial_value` draws a float32 array from a numpy Generator, so a config's seed fixes every
weight. Fans follow Keras: for a kernel of shape (..., in, out) the receptive field is the product of
the leading dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nnctl.layers.base import REQUIRED

# Keras' small-scale defaults (TF1's raw random initializers default to stddev 1 / range [0, 1),
# far too large for weights).
INITIALIZERS: dict[str, dict[str, Any]] = {
    "glorot_uniform": {}, "glorot_normal": {}, "he_normal": {}, "he_uniform": {},
    "lecun_normal": {}, "lecun_uniform": {},
    "orthogonal": {"gain": 1.0},
    "zeros": {}, "ones": {},
    "normal": {"mean": 0.0, "stddev": 0.05},
    "truncated_normal": {"mean": 0.0, "stddev": 0.05},
    "uniform": {"min": -0.05, "max": 0.05},
    "constant": {"value": REQUIRED},
}


@dataclass(frozen=True)
class Initializer:
    """A weight initializer: ``name`` and its parameters, all filled (e.g. uniform: min, max)."""

    name: str
    params: dict[str, float] = field(default_factory=dict)


def as_initializer(value: Any) -> Any:
    """An Initializer from a name, a mapping {name:, ...} or an Initializer; other objects (a TF1
    initializer instance) are returned as they are."""
    if isinstance(value, Initializer):
        return value
    if isinstance(value, str):
        return Initializer(value, {k: v for k, v in INITIALIZERS[value].items() if v is not REQUIRED})
    if isinstance(value, dict):
        name = value["name"]
        params = {k: v for k, v in INITIALIZERS[name].items() if v is not REQUIRED}
        params.update({k: v for k, v in value.items() if k != "name"})
        return Initializer(name, params)
    return value


def fans(shape: tuple) -> tuple[int, int]:
    if len(shape) < 2:
        n = math.prod(shape) if shape else 1
        return n, n
    rf = math.prod(shape[:-2])
    return rf * shape[-2], rf * shape[-1]


def _truncated(rng: Any, shape: tuple, mean: float, stddev: float) -> Any:
    v = rng.standard_normal(shape)
    bad = abs(v) > 2
    while bad.any():
        v[bad] = rng.standard_normal(int(bad.sum()))
        bad = abs(v) > 2
    return mean + stddev * v


def _orthogonal(rng: Any, shape: tuple, gain: float) -> Any:
    # Saxe et al. 2014, as Keras: QR of a Gaussian (rows = prod(shape[:-1]), cols = shape[-1]),
    # signs fixed by diag(R) so that the distribution is uniform over orthogonal matrices.
    import numpy as np
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    cols = shape[-1] if shape else 1
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


# 0.8796...: the stddev of a standard normal truncated to [-2, 2] (Keras' correction)
_TRUNC = 0.87962566103423978


def initial_value(init: Any, shape: tuple, rng: Any) -> Any:
    """Draw an initial value (float32) for an initializer config."""
    import numpy as np
    name, p = init.name, dict(init.params)
    fan_in, fan_out = fans(shape)
    if name == "zeros":
        v = np.zeros(shape)
    elif name == "ones":
        v = np.ones(shape)
    elif name == "constant":
        v = np.full(shape, float(p.get("value", 0.0)))
    elif name == "uniform":
        v = rng.uniform(float(p.get("min", -0.05)), float(p.get("max", 0.05)), size=shape)
    elif name == "normal":
        v = float(p.get("mean", 0.0)) + float(p.get("stddev", 0.05)) * rng.standard_normal(shape)
    elif name == "truncated_normal":
        v = _truncated(rng, shape, float(p.get("mean", 0.0)), float(p.get("stddev", 0.05)))
    elif name == "glorot_uniform":
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        v = rng.uniform(-lim, lim, size=shape)
    elif name == "glorot_normal":
        v = _truncated(rng, shape, 0.0, math.sqrt(2.0 / (fan_in + fan_out)) / _TRUNC)
    elif name == "he_normal":
        v = _truncated(rng, shape, 0.0, math.sqrt(2.0 / fan_in) / _TRUNC)
    elif name == "he_uniform":
        lim = math.sqrt(6.0 / fan_in)
        v = rng.uniform(-lim, lim, size=shape)
    elif name == "lecun_normal":
        v = _truncated(rng, shape, 0.0, math.sqrt(1.0 / fan_in) / _TRUNC)
    elif name == "lecun_uniform":
        lim = math.sqrt(3.0 / fan_in)
        v = rng.uniform(-lim, lim, size=shape)
    elif name == "orthogonal":
        v = _orthogonal(rng, shape, float(p.get("gain", 1.0)))
    else:
        raise ValueError(f"unknown initializer {name!r}")
    return np.asarray(v, dtype=np.float32)
