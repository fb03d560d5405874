"""Built-in 2-D toy datasets: xor, spirals, moons, blobs.

Every generator draws from one ``np.random.default_rng(seed)``, so a (name, n, noise, classes,
seed) tuple always gives the same arrays. Labels are dealt round-robin (``i % classes``) before the
final shuffle, so class sizes differ by at most one. ``noise`` is the standard deviation of
Gaussian noise added to every coordinate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nnctl.data.preprocess import did_you_mean
from nnctl.errors import DataError


def _xor(y: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    # Class 1 where the signs of x1 and x2 differ: quadrants (+,-), (-,+); class 0 gets (+,+), (-,-).
    s1 = rng.choice(np.array([-1.0, 1.0]), size=y.shape[0])
    s2 = np.where(y == 1, -s1, s1)
    u = rng.uniform(0.0, 1.0, size=(y.shape[0], 2))
    return np.stack([s1 * u[:, 0], s2 * u[:, 1]], axis=1)


def _moons(y: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    # Two interleaving half circles: the upper one centred at (0, 0), the lower at (1, 0.5).
    theta = rng.uniform(0.0, math.pi, size=y.shape[0])
    upper = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    lower = np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
    return np.where((y == 0)[:, None], upper, lower)


def _spirals(y: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    # One arm per class: the same spiral r = t, angle = 3*pi*t, rotated by 2*pi*k/classes.
    t = rng.uniform(0.0, 1.0, size=y.shape[0])
    angle = 2.0 * math.pi * y / classes + 3.0 * math.pi * t
    return np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)


def _blobs(y: np.ndarray, classes: int, rng: np.random.Generator) -> np.ndarray:
    # Cluster centres evenly spaced on a circle of radius 2; the spread comes from ``noise``.
    angle = 2.0 * math.pi * y / classes
    return np.stack([2.0 * np.cos(angle), 2.0 * np.sin(angle)], axis=1)


_GENERATORS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "xor": _xor, "spirals": _spirals, "moons": _moons, "blobs": _blobs,
}
GENERATOR_NAMES = tuple(sorted(_GENERATORS))
_TWO_CLASS_ONLY = ("xor", "moons")


def generate(name: str, n: int = 1000, noise: float = 0.1, classes: int = 2, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A toy dataset: x float32 [n, 2], y int64 [n] with balanced classes, and meta."""
    if name not in _GENERATORS:
        raise DataError(f"unknown generator {name!r}{did_you_mean(str(name), GENERATOR_NAMES)}; "
                        f"choose one of {', '.join(GENERATOR_NAMES)}")
    for arg, value in (("n", n), ("classes", classes), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise DataError(f"generate {name}: {arg} must be an integer, got {value!r}")
    if classes < 2:
        raise DataError(f"generate {name}: classes must be at least 2, got {classes}")
    if name in _TWO_CLASS_ONLY and classes != 2:
        raise DataError(f"generate {name}: this dataset has exactly 2 classes, got classes={classes}")
    if n < classes:
        raise DataError(f"generate {name}: n={n} is fewer than one example per class ({classes} classes)")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not math.isfinite(noise) \
            or noise < 0:
        raise DataError(f"generate {name}: noise must be a finite number >= 0, got {noise!r}")
    if seed < 0:
        raise DataError(f"generate {name}: seed must be >= 0, got {seed}")

    rng = np.random.default_rng(int(seed))
    y = np.arange(n, dtype=np.int64) % classes
    x = _GENERATORS[name](y, classes, rng)
    x = x + rng.normal(0.0, float(noise), size=x.shape)
    # Shuffle so that the round-robin label order does not leak into un-shuffled batches.
    perm = rng.permutation(n)
    meta: dict[str, Any] = {
        "feature_names": ["x1", "x2"], "label_names": ["y"], "class_names": None, "num_classes": classes,
        "source": f"generate:{name}(n={n}, noise={noise}, classes={classes}, seed={seed})",
    }
    return x[perm].astype(np.float32), y[perm], meta
