"""The plan's one-pass elementwise loops on host memory (nnctl/csrc/plan.c, loaded by runtime/native.py).

numpy evaluates ``m += (g - m) * (1 - beta1)`` as one pass over memory per ufunc, writing a
temporary each time; TF1's Adam update is twelve such passes over arrays the size of the variable.
Here each fused update is one loop that reads every operand once and writes each result once, doing
*the same float operations in the same order* as the numpy reference (no reassociation, no fused
multiply-add): results are bit-identical to it, which the tests check.

The numpy path stays the reference and the fallback: ``load()`` is None when the compiled library
is unavailable or ``NNCTL_JIT=0`` is set (runtime/native.py), and the loops apply from
``MIN_ELEMENTS`` elements on (below that a numpy pass costs about as much as its call), the
multi-pass optimizer updates at any size (``UPDATE_MIN_ELEMENTS``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl.runtime.native import JIT_DTYPES, MIN_ELEMENTS, Kernel, compiled, enabled, host_arrays

__all__ = ["JIT_DTYPES", "MIN_ELEMENTS", "UPDATE_MIN_ELEMENTS", "binary_step", "enabled", "flat", "for_arrays",
           "load"]

# The multi-pass optimizer updates (Momentum, Adam) take their compiled loop at any size: one call
# of ~2 us replaces five to twenty numpy calls (Adam on 10 values: 2.0 vs 26 us, on 8192: 6 vs 46 us)
UPDATE_MIN_ELEMENTS = 1


def load() -> Any:
    """The plan's compiled loops (a namespace), or None: NNCTL_JIT=0, or the library unavailable."""
    return compiled("plan", _build)


def for_arrays(ctx: Any, big: Any, *arrays: Any, min_elements: int = MIN_ELEMENTS) -> Any:
    """The compiled loops if they apply to these bound buffers, else None: host memory (asked of
    the backend, never its name), ``big`` has at least ``min_elements`` elements, and every array is
    an aligned C-contiguous float32/float64 numpy array of big's dtype (0-d scalars included).

    A loop that replaces one or two numpy passes pays off only from MIN_ELEMENTS on; one that
    replaces many (UPDATE_MIN_ELEMENTS: Adam's twenty calls of ~1 us each) pays off at any size."""
    if not ctx.backend.host_memory or big.size < min_elements or not enabled():
        return None
    return load() if host_arrays(big.dtype, (big, *arrays)) else None


def flat(a: Any) -> Any:
    """A 1-d view of a C-contiguous buffer (a 0-d scalar becomes a 1-element view of itself)."""
    return a.reshape(-1)


class _Update:
    """An optimizer update over flat buffers: ``bind(var, ..., *flags)`` is the plan's step, the
    element count (var's) appended as the kernel's last argument."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def bind(self, *args: Any) -> Any:
        return self.kernel.bind(*args, args[0].size)


def _build(lib: Any) -> SimpleNamespace:
    def loops(name: str) -> SimpleNamespace:
        # out = f(a, b) apart from both inputs, or written over a or over b (plan.c)
        return SimpleNamespace(apart=Kernel(lib, f"{name}_apart", "aaai"), over_a=Kernel(lib, f"{name}_over_a", "aai"),
                               over_b=Kernel(lib, f"{name}_over_b", "aai"))

    return SimpleNamespace(
        # adam(var, m, v, g, b1p, b2p, lr, beta1, beta2, eps), momentum(var, accum, lr, momentum, g,
        # nesterov), gradient_descent(var, lr, g): TF1's update formulas, see plan.c
        adam=_Update(Kernel(lib, "adam", "aaaaaaaaaai")), momentum=_Update(Kernel(lib, "momentum", "aaaaaii")),
        gradient_descent=_Update(Kernel(lib, "gradient_descent", "aaai")),
        relu_grad=loops("relu_grad"), sigmoid_grad=loops("sigmoid_grad"), tanh_grad=loops("tanh_grad"))


def binary_step(loops: Any, a: Any, b: Any, out: Any) -> Any:
    """A step running one of ``loops`` (see _build) over equal-shape buffers, picking the loop for
    how ``out`` shares memory with the inputs; None where shapes differ or ``out`` overlaps an
    input only partly (the caller keeps its numpy path)."""
    if not (a.shape == b.shape == out.shape):
        return None
    fa, fb, fo, n = flat(a), flat(b), flat(out), out.size
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        if np.may_share_memory(a, b):  # writing over one input while the other overlaps it
            return None
        addr = out.__array_interface__["data"][0]
        if addr == a.__array_interface__["data"][0]:
            return loops.over_a.bind(fa, fb, n)
        if addr == b.__array_interface__["data"][0]:
            return loops.over_b.bind(fa, fb, n)
        return None
    return loops.apart.bind(fa, fb, fo, n)
