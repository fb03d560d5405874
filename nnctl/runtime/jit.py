"""Compiled (numba) single-pass loops for the plan's elementwise work on host memory.

numpy evaluates ``m += (g - m) * (1 - beta1)`` as one pass over memory per ufunc, writing a
temporary each time; TF1's Adam update is twelve such passes over arrays the size of the variable.
Here each fused update is one loop that reads every operand once and writes each result once, doing
*the same float operations in the same order* as the numpy reference (no fastmath, so no
reassociation or FMA contraction): results are bit-identical to it, which the tests check.

The numpy path stays the reference and the fallback: ``load()`` returns None when numba cannot be
imported or ``NNCTL_JIT=0`` is set. numba is imported only when a plan binds an op over at least
``MIN_ELEMENTS`` elements (importing it costs ~0.3 s, which small programs such as XOR must never
pay), the loops are fixed functions compiled on first use per dtype, and ``cache=True`` keeps the
machine code on disk, so a machine compiles each once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

JIT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Below this many elements a numpy pass costs about as much as its call (~1 us), so fusing saves
# little, and the first use would import numba into a program that may not need it otherwise.
MIN_ELEMENTS = 1 << 14

_numba: Any = None  # the numba module once imported, or False after a failed import
_compiled: dict[Hashable, Any] = {}  # key -> what its build returned, or False (no numba)


def enabled() -> bool:
    """NNCTL_JIT=0 turns the compiled kernels off (anything else, or unset, leaves them on)."""
    return os.environ.get("NNCTL_JIT", "1").strip() != "0"


def compiled(key: Hashable, build: Callable[[Any], Any]) -> Any:
    """``build(numba)`` (a namespace of njit functions), made once per ``key`` and process; None when
    NNCTL_JIT=0 or numba cannot be imported. The one lazy numba loader: the plan's loops (load()),
    conv_jit.py and seq_jit.py all come through here."""
    if not enabled():
        return None
    fns = _compiled.get(key)
    if fns is None:
        numba = _import_numba()
        fns = _compiled[key] = build(numba) if numba is not None else False
    return fns or None


def _import_numba() -> Any:
    global _numba
    if _numba is None:
        try:
            import numba
        except Exception:  # noqa: BLE001 - any import failure means "use the numpy path"
            _numba = False
        else:
            _numba = numba
    return _numba or None


def load() -> Any:
    """The plan's compiled loops (a namespace), or None: NNCTL_JIT=0, or numba not importable."""
    return compiled("plan", _build)


def for_arrays(ctx: Any, big: Any, *arrays: Any) -> Any:
    """The compiled kernels if they apply to these bound buffers, else None: host memory (asked of
    the backend, never its name), ``big`` has at least MIN_ELEMENTS elements, and every array is a
    C-contiguous float32/float64 numpy array of big's dtype (0-d scalars included)."""
    if not ctx.backend.host_memory or big.size < MIN_ELEMENTS or not enabled():
        return None
    dt = big.dtype
    if dt not in JIT_DTYPES:
        return None
    for a in (big, *arrays):
        if not isinstance(a, np.ndarray) or a.dtype != dt or not a.flags.c_contiguous:
            return None
    return load()


def flat(a: Any) -> Any:
    """A 1-d view of a C-contiguous buffer (a 0-d scalar becomes a 1-element view of itself)."""
    return a.reshape(-1)


def _build(numba: Any) -> SimpleNamespace:
    # error_model="numpy": x / 0 is inf or nan as in numpy (not ZeroDivisionError), which also lets
    # LLVM vectorize the loops
    njit = numba.njit(cache=True, nogil=True, error_model="numpy")

    @njit
    def adam(var, m, v, g, b1p, b2p, lr, beta1, beta2, eps, one):
        # TF1 (training_ops.cc), as nnctl.train.optimizers._adam_step, in the variable's dtype:
        # lr_t = lr sqrt(1 - b2^t) / (1 - b1^t); m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
        # var -= (m / (sqrt(v) + eps)) lr_t
        o = one[0]
        lr_t = np.sqrt(o - b2p[0]) * lr[0] / (o - b1p[0])
        c1 = o - beta1[0]
        c2 = o - beta2[0]
        e = eps[0]
        for i in range(var.size):
            gi = g[i]
            mi = m[i] + (gi - m[i]) * c1
            vi = v[i] + (gi * gi - v[i]) * c2
            m[i] = mi
            v[i] = vi
            var[i] = var[i] - (mi / (np.sqrt(vi) + e)) * lr_t

    @njit
    def momentum(var, accum, lr, mom, g, nesterov):
        # accum = accum * momentum + grad; var -= accum * lr, or (accum * momentum + grad) * lr
        lr0 = lr[0]
        mo = mom[0]
        for i in range(var.size):
            a = accum[i] * mo + g[i]
            accum[i] = a
            if nesterov:
                var[i] = var[i] - (a * mo + g[i]) * lr0
            else:
                var[i] = var[i] - a * lr0

    @njit
    def gradient_descent(var, lr, g):
        # var -= grad * lr
        lr0 = lr[0]
        for i in range(var.size):
            var[i] = var[i] - g[i] * lr0

    # Activation gradients, out = f(a, b) elementwise over equal shapes, each in three loops: out
    # apart from both inputs, or written over a or over b (the plan's in-place reuse). Separate
    # loops because LLVM vectorizes only where its run-time check finds the pointers do not overlap.
    # ``one`` and ``zero`` come in as scalars of the arrays' dtype, so no constant widens the math.
    # The loops are spelled out (no closure over a shared scalar function): numba caches only
    # functions without free variables, and a cache miss would compile them in every process.

    # relu_grad: dy * (y > 0) as numpy computes it, the bool becoming 1 or 0 of dy's type and then
    # one product (so -dy * 0 = -0 and nan * 0 = nan, as on the numpy path)
    @njit
    def relu_grad_apart(dy, y, out, one, zero):
        for i in range(out.size):
            out[i] = dy[i] * (one if y[i] > zero else zero)

    @njit
    def relu_grad_over_a(dy, y, one, zero):
        for i in range(dy.size):
            dy[i] = dy[i] * (one if y[i] > zero else zero)

    @njit
    def relu_grad_over_b(dy, y, one, zero):
        for i in range(y.size):
            y[i] = dy[i] * (one if y[i] > zero else zero)

    # sigmoid_grad: ((1 - y) * y) * dy, in numpy's order
    @njit
    def sigmoid_grad_apart(y, dy, out, one, zero):
        for i in range(out.size):
            out[i] = ((one - y[i]) * y[i]) * dy[i]

    @njit
    def sigmoid_grad_over_a(y, dy, one, zero):
        for i in range(y.size):
            y[i] = ((one - y[i]) * y[i]) * dy[i]

    @njit
    def sigmoid_grad_over_b(y, dy, one, zero):
        for i in range(dy.size):
            dy[i] = ((one - y[i]) * y[i]) * dy[i]

    # tanh_grad: (1 - y * y) * dy, in numpy's order
    @njit
    def tanh_grad_apart(y, dy, out, one, zero):
        for i in range(out.size):
            out[i] = (one - y[i] * y[i]) * dy[i]

    @njit
    def tanh_grad_over_a(y, dy, one, zero):
        for i in range(y.size):
            y[i] = (one - y[i] * y[i]) * dy[i]

    @njit
    def tanh_grad_over_b(y, dy, one, zero):
        for i in range(dy.size):
            dy[i] = (one - y[i] * y[i]) * dy[i]

    def loops(apart: Any, over_a: Any, over_b: Any) -> SimpleNamespace:
        return SimpleNamespace(apart=apart, over_a=over_a, over_b=over_b)

    return SimpleNamespace(
        adam=adam, momentum=momentum, gradient_descent=gradient_descent,
        relu_grad=loops(relu_grad_apart, relu_grad_over_a, relu_grad_over_b),
        sigmoid_grad=loops(sigmoid_grad_apart, sigmoid_grad_over_a, sigmoid_grad_over_b),
        tanh_grad=loops(tanh_grad_apart, tanh_grad_over_a, tanh_grad_over_b))


def binary_step(loops: Any, a: Any, b: Any, out: Any) -> Any:
    """A step running one of ``loops`` (see _build) over equal-shape buffers, picking the loop for
    how ``out`` shares memory with the inputs; None where shapes differ or ``out`` overlaps an
    input only partly (the caller keeps its numpy path)."""
    if not (a.shape == b.shape == out.shape):
        return None
    one, zero = out.dtype.type(1), out.dtype.type(0)
    fa, fb, fo = flat(a), flat(b), flat(out)
    if np.may_share_memory(out, a) or np.may_share_memory(out, b):
        if np.may_share_memory(a, b):  # writing over one input while the other overlaps it
            return None
        addr = out.__array_interface__["data"][0]
        if addr == a.__array_interface__["data"][0]:
            return partial(loops.over_a, fa, fb, one, zero)
        if addr == b.__array_interface__["data"][0]:
            return partial(loops.over_b, fa, fb, one, zero)
        return None
    return partial(loops.apart, fa, fb, fo, one, zero)
