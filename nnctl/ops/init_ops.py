"""TF1's initializer classes (``tf.zeros_initializer()``, ``tf.glorot_uniform_initializer()`` ...).

An initializer is called as ``init(shape, dtype=None, partition_info=None)`` and returns a graph
tensor of that shape: a constant, or a random op seeded by TF1's graph/op seed rule, so that
``tf.set_random_seed`` makes ``tf.get_variable`` reproducible. ``orthogonal_initializer`` has no
QR op to build on: it draws its matrix with numpy at graph construction time from a generator
seeded by the same (graph seed, op seed) pair, and so is a constant (re-running the initializer
gives the same matrix, which TF's random op would not).

``from_config`` maps the config vocabulary (nnctl/layers/initializers.py) onto these classes, so a
library layer used through ``tf.layers`` initializes as its config form does, in distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.ops import random_ops
from nnctl.ops.state_ops import constant

_TRUNC = 0.87962566103423978   # stddev of a standard normal truncated to [-2, 2]


def _shape(shape: Any) -> tuple[int, ...]:
    dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    if any(d is None for d in dims):
        raise ValueError(f"an initializer needs a fully defined shape, got {dims}")
    return tuple(int(d) for d in dims)


class Initializer:
    """Base class: ``__call__(shape, dtype=None, partition_info=None) -> Tensor``."""

    dtype: Any = dtypes.float32

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    def _dt(self, dtype: Any) -> Any:
        return dtypes.as_dtype(dtype if dtype is not None else self.dtype)


class Zeros(Initializer):
    def __init__(self, dtype: Any = dtypes.float32) -> None:
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        dt = self._dt(dtype)
        return constant(np.zeros(_shape(shape), dt.as_numpy_dtype))


class Ones(Initializer):
    def __init__(self, dtype: Any = dtypes.float32) -> None:
        self.dtype = dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        dt = self._dt(dtype)
        return constant(np.ones(_shape(shape), dt.as_numpy_dtype))


class Constant(Initializer):
    """A scalar (broadcast to the shape) or a value with exactly the shape's number of elements."""

    def __init__(self, value: Any = 0, dtype: Any = dtypes.float32, verify_shape: bool = False) -> None:
        self.value, self.dtype, self.verify_shape = value, dtypes.as_dtype(dtype), verify_shape

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        dt, shp = self._dt(dtype), _shape(shape)
        v = np.asarray(self.value, dtype=dt.as_numpy_dtype)
        if v.size == 1:
            return constant(np.full(shp, v.reshape(()), dt.as_numpy_dtype))
        if v.size != math.prod(shp) or (self.verify_shape and v.shape != shp):
            raise ValueError(f"constant_initializer: value of shape {list(v.shape)} does not fit shape {list(shp)}")
        return constant(v.reshape(shp))

    def get_config(self) -> dict:
        return {"value": self.value, "dtype": self.dtype.name}


class RandomUniform(Initializer):
    def __init__(self, minval: float = 0.0, maxval: float | None = None, seed: int | None = None,
                 dtype: Any = dtypes.float32) -> None:
        self.minval, self.maxval, self.seed, self.dtype = minval, maxval, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        return random_ops.random_uniform(_shape(shape), self.minval, self.maxval, self._dt(dtype), seed=self.seed)


class RandomNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None,
                 dtype: Any = dtypes.float32) -> None:
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        return random_ops.random_normal(_shape(shape), self.mean, self.stddev, self._dt(dtype), seed=self.seed)


class TruncatedNormal(Initializer):
    def __init__(self, mean: float = 0.0, stddev: float = 1.0, seed: int | None = None,
                 dtype: Any = dtypes.float32) -> None:
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        return random_ops.truncated_normal(_shape(shape), self.mean, self.stddev, self._dt(dtype), seed=self.seed)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    # TF's _compute_fans: (..., in, out) with the leading dimensions as the receptive field
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    rf = math.prod(shape[:-2])
    return shape[-2] * rf, shape[-1] * rf


class VarianceScaling(Initializer):
    """TF1: n = fan_in, fan_out or their mean (``mode``); ``truncated_normal`` (also spelt ``normal``)
    draws N(0, scale / n) truncated at 2 stddev (stddev corrected by 0.8796...), ``untruncated_normal``
    N(0, scale / n), ``uniform`` U(-sqrt(3 scale / n), sqrt(3 scale / n))."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None, dtype: Any = dtypes.float32) -> None:
        if scale <= 0:
            raise ValueError(f"`scale` must be a positive float, got {scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"invalid `mode` argument: {mode!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(f"invalid `distribution` argument: {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.seed, self.dtype = seed, dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        shp, dt = _shape(shape), self._dt(dtype)
        fan_in, fan_out = _fans(shp)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        s = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return random_ops.truncated_normal(shp, 0.0, math.sqrt(s) / _TRUNC, dt, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_ops.random_normal(shp, 0.0, math.sqrt(s), dt, seed=self.seed)
        lim = math.sqrt(3.0 * s)
        return random_ops.random_uniform(shp, -lim, lim, dt, seed=self.seed)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed: int | None = None, dtype: Any = dtypes.float32) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed: int | None = None, dtype: Any = dtypes.float32) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


class Orthogonal(Initializer):
    """A random orthogonal matrix (flattened to (prod(shape[:-1]), shape[-1])) times ``gain``."""

    def __init__(self, gain: float = 1.0, seed: int | None = None, dtype: Any = dtypes.float32) -> None:
        self.gain, self.seed, self.dtype = gain, seed, dtypes.as_dtype(dtype)

    def __call__(self, shape: Any, dtype: Any = None, partition_info: Any = None) -> Any:
        shp, dt = _shape(shape), self._dt(dtype)
        if len(shp) < 2:
            raise ValueError("the tensor to initialize must be at least two-dimensional")
        s1, s2 = random_ops.get_seed(self.seed)
        rng = np.random.default_rng(None if s1 is None else [s1, s2 or 0])
        from nnctl.layers.initializers import _orthogonal
        return constant((self.gain * _orthogonal(rng, shp, 1.0)).astype(dt.as_numpy_dtype))


def he_normal(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed: int | None = None) -> VarianceScaling:
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


# TF1's lower-case names
zeros_initializer = Zeros
ones_initializer = Ones
constant_initializer = Constant
random_uniform_initializer = RandomUniform
random_normal_initializer = RandomNormal
truncated_normal_initializer = TruncatedNormal
variance_scaling_initializer = VarianceScaling
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal
orthogonal_initializer = Orthogonal


def from_config(init: Any) -> Initializer:
    """A TF1 initializer for a config initializer (nnctl.layers.initializers.Initializer)."""
    p = dict(init.params)
    table: dict[str, Any] = {
        "zeros": lambda: Zeros(), "ones": lambda: Ones(),
        "constant": lambda: Constant(p["value"]),
        "uniform": lambda: RandomUniform(p.get("min", -0.05), p.get("max", 0.05)),
        "normal": lambda: RandomNormal(p.get("mean", 0.0), p.get("stddev", 0.05)),
        "truncated_normal": lambda: TruncatedNormal(p.get("mean", 0.0), p.get("stddev", 0.05)),
        "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
        "he_normal": he_normal, "he_uniform": he_uniform,
        "lecun_normal": lecun_normal, "lecun_uniform": lecun_uniform,
        "orthogonal": lambda: Orthogonal(p.get("gain", 1.0)),
    }
    return table[init.name]()
