"""Compiled row loops (nnctl/csrc/seq.c) for the sequence models' ops: softmax (one pass, with
numpy's float32 exp replayed) and its gradient,
the row scatter-add of gather's gradient, the LSTM cell's elementwise step and its gradient, and
the fused layer norm and its gradient.

On host memory these ops are memory-bound: the xp code makes one pass over the data per ufunc
(softmax: max, subtract, exp, sum, divide; its gradient: multiply, sum, subtract, multiply; an
LSTM step: some twenty on [batch, units] slices), and numpy's reductions over a short last axis
are slow. Here each is a serial loop over rows that reads a row while it is in cache. Every
output element is written by exactly one iteration in a fixed order, so every run gives the same
bits (bit-exact resume holds). The row sums follow numpy's own summation order and no product is
fused into an add, so the results are bit-identical to the xp code's (the strict-device tests
compare them).

The xp code stays the reference and the fallback: ``kernels()`` returns None when the compiled
library is unavailable, ``NNCTL_JIT=0`` is set (runtime/native.py), the arrays are not host
memory or they are small (runtime/native.py's MIN_ELEMENTS).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl.runtime.native import MIN_ELEMENTS, Kernel, compiled, enabled, host_arrays


def load() -> Any:
    """The compiled kernels (a namespace), or None: NNCTL_JIT=0, or the library unavailable."""
    return compiled("seq", _build)


def kernels(ctx: Any, big: Any, min_elements: int = MIN_ELEMENTS) -> Any:
    """The compiled kernels for an op over ``big`` (its largest array), or None: only on host memory
    (asked of the backend) and from ``min_elements`` on (runtime.native's MIN_ELEMENTS: below it a
    numpy pass costs about as much as its call; an op whose xp code makes many passes may ask for
    fewer)."""
    if not ctx.backend.host_memory or big.size < min_elements or not enabled():
        return None
    return load()


# Row sums reproduce numpy's pairwise summation, which is one block of eight partial sums for rows
# of up to 128 elements (longer rows take the xp path).
MAX_ROW = 128


def host_ok(jit: Any, *arrays: Any) -> bool:
    """The compiled path applies: kernels loaded, every array an aligned C-contiguous numpy array of
    one float32/float64 dtype."""
    return jit is not None and host_arrays(arrays[0].dtype, arrays)


def rows_ok(jit: Any, *arrays: Any) -> bool:
    """host_ok, and one shape for all (viewed as [rows, last axis]) with 1..MAX_ROW columns: the row
    sums' condition."""
    a0 = arrays[0]
    return host_ok(jit, *arrays) and a0.ndim >= 1 and 0 < a0.shape[-1] <= MAX_ROW and all(
        a.shape == a0.shape for a in arrays)


def softmax_rows(jit: Any, xp: Any, x: Any, out: Any) -> None:
    """out = softmax(x) over the last axis of [rows, n] arrays (out may be x), with the xp code's
    arithmetic: one pass per row (max-subtract, exp, normalise while the row is in cache) where
    seq.c's exp gives np.exp's bits in this process (``exp_is_numpys``), else three passes around
    np.exp itself (the xp code makes five)."""
    if exp_is_numpys(jit, x.dtype):
        jit.softmax_rows(x, out)
        return
    jit.sub_row_max(x, out)
    xp.exp(out, out=out)
    jit.div_row_sum(out)


_exp_checked: dict[Any, bool] = {}


def _exp_probe(dtype: Any) -> Any:
    """Values that exercise every branch of an exp: a sweep over the finite range and past both
    ends, the boundaries of overflow, underflow and denormal results, zeros, infinities, NaNs,
    denormal inputs and random values."""
    fi = np.finfo(dtype)
    hi = float(np.log(fi.max)) * 1.05
    lo = float(np.log(fi.smallest_subnormal)) * 1.05
    rng = np.random.default_rng(0)
    parts = [np.linspace(lo, hi, 1 << 16), rng.standard_normal(1 << 14) * 30, rng.uniform(-1, 1, 1 << 12),
             np.linspace(float(np.log(fi.tiny)) - 3, float(np.log(fi.tiny)) + 3, 1 << 12),
             [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, fi.tiny, -fi.tiny, fi.smallest_subnormal, fi.max, -fi.max]]
    v = np.concatenate([np.asarray(p, dtype=dtype) for p in parts])
    edges = [88.72283935546875, -103.97208404541015625, -87.33654, np.log(fi.max), np.log(fi.tiny)]
    near = [np.nextafter(np.asarray(e, dtype), np.asarray(d, dtype)) for e in edges for d in (-np.inf, np.inf)]
    return np.concatenate([v, np.asarray(edges, dtype), np.asarray(near, dtype)])


def exp_is_numpys(jit: Any, dtype: Any) -> bool:
    """seq.c's exp gives np.exp's bits on the probe values in this process (checked once per dtype).
    Its float32 exp is numpy's AVX2 loop replayed, its float64 exp the C library's: another numpy
    build, or numpy's AVX-512 loops, fail the check and the softmax keeps np.exp."""
    dt = np.dtype(dtype)
    ok = _exp_checked.get(dt)
    if ok is None:
        probe = _exp_probe(dt)
        mine = np.empty_like(probe)
        jit.np_exp(probe, mine)
        with np.errstate(all="ignore"):
            ref = np.exp(probe)
        ok = _exp_checked[dt] = bool(np.array_equal(mine.view(f"u{dt.itemsize}"), ref.view(f"u{dt.itemsize}")))
    return ok


def as_rows(a: Any) -> Any:
    """A C-contiguous array as [rows, last axis] (a view)."""
    n = a.shape[-1] if a.ndim else 1
    return a.reshape(-1, n)


def _entry(kernel: Kernel, extents: Callable[[tuple], tuple]) -> Callable[..., None]:
    """A wrapper keeping the array signature: ``kernel(*arrays, *extents(arrays))``; its ``bind``
    converts the same arguments once (Kernel.bind) for a plan's bound step, where a per-call
    conversion of ten arrays costs as much as the LSTM step itself."""
    def call(*args: Any) -> None:
        kernel(*args, *extents(args))
    call.bind = lambda *args: kernel.bind(*args, *extents(args))  # type: ignore[attr-defined]
    return call


def _build(lib: Any) -> SimpleNamespace:
    # seq.c's kernels; the wrappers keep the array signatures and pass the extents ([rows, n] views)
    k = {name: Kernel(lib, name, spec, checked=name == "layer_norm_grad") for name, spec in (
        ("sub_row_max", "aaii"), ("div_row_sum", "aii"), ("softmax_rows", "aaii"), ("np_exp", "aai"),
        ("sparse_xent_rows", "alaaaii"), ("softmax_rows_scaled", "asiaii"),
        ("softmax_rows_masked", "asialaii"), ("softmax_grad_scaled", "aasiaii"),
        ("softmax_grad", "aaaii"), ("scatter_add_rows", "alaii"),
        ("lstm_pre", "aasaii"), ("lstm_post", "aaaii"), ("lstm_step", "aaasaaaaaaii"), ("lstm_grad", "aaaaaaaii"),
        ("layer_norm", "aaasaaaiii"), ("layer_norm_bn", "aaasaaaiii"),
        ("layer_norm_div", "aaasaaaiii"), ("layer_norm_grad", "aaaaaaaaiii"))}

    def scatter_add_rows(out: Any, idx: Any, vals: Any) -> None:
        # out[idx[i], :] += vals[i, :] in the order i = 0, 1, ... (np.add.at's order)
        k["scatter_add_rows"](out, np.ascontiguousarray(idx, dtype=np.int64), vals, *vals.shape)

    def shape_of(i: int) -> Callable[[tuple], tuple]:
        return lambda args: args[i].shape

    return SimpleNamespace(
        # out[r] = x[r] - max(x[r]); out may be x: (x, out)
        sub_row_max=_entry(k["sub_row_max"], shape_of(0)),
        # e[r] /= sum(e[r]): (e,)
        div_row_sum=_entry(k["div_row_sum"], shape_of(0)),
        # out[r] = softmax(x[r]) in one pass, exp as np.exp: (x, out)
        softmax_rows=_entry(k["softmax_rows"], shape_of(0)),
        # out[r] = softmax(x[r] * c) (div 0) or softmax(x[r] / c) (div 1): (x, c, div, out)
        softmax_rows_scaled=_entry(k["softmax_rows_scaled"], shape_of(0)),
        # out[r] = softmax(x[r] * c + mask[m[r]]) (or x[r] / c): (x, c, div, mask [mask rows, n], m int64 [rows], out)
        softmax_rows_masked=_entry(k["softmax_rows_masked"], shape_of(0)),
        # out[r] = softmax_grad(y, dy)[r] * c (or / c): (y, dy, c, div, out); out may be dy
        softmax_grad_scaled=_entry(k["softmax_grad_scaled"], shape_of(0)),
        # the sparse softmax cross-entropy's rows but its log: (x [rows, n], labels int64 [rows], backprop,
        # sums [rows], picked [rows]); labels in [0, n)
        sparse_xent_rows=_entry(k["sparse_xent_rows"], shape_of(0)),
        # out = exp(x) elementwise, np.exp's bits where exp_is_numpys says so: (x, out), any shape
        np_exp=_entry(k["np_exp"], lambda a: (a[0].size,)),
        # out[r] = (dy[r] - sum(dy[r] * y[r])) * y[r]; out may be dy: (y, dy, out)
        softmax_grad=_entry(k["softmax_grad"], shape_of(0)),
        scatter_add_rows=scatter_add_rows,
        # a = gates * scale per column; the f block (f + fb) / 2: (gates, scale, fb, a)
        lstm_pre=_entry(k["lstm_pre"], shape_of(0)),
        # the sigmoid blocks from their tanh; c = sf c_prev + si tj: (a, c_prev, c)
        lstm_post=_entry(k["lstm_post"], shape_of(2)),
        # float32 only: the whole step in one pass, tanh as lstm_ops.TANH_F32's rational (coef):
        # (gates, scale, shift, fb, c_prev, coef, act, c, h, tc)
        lstm_step=_entry(k["lstm_step"], shape_of(7)),
        # (a, tc, c_prev, dc, dh, dg, dcp)
        lstm_grad=_entry(k["lstm_grad"], shape_of(2)),
        # (x, gamma, beta, eps, y, mean, rstd), x as [rows, n]
        layer_norm=_entry(k["layer_norm"], lambda a: (*a[0].shape, a[1].size)),
        # the same statistics, y as tf.nn.batch_normalization computes it from them: the same arguments
        layer_norm_bn=_entry(k["layer_norm_bn"], lambda a: (*a[0].shape, a[1].size)),
        # the same statistics, y = (x - mean) / sqrt(var + eps) * gamma + beta, the sqrt in rstd's place
        layer_norm_div=_entry(k["layer_norm_div"], lambda a: (*a[0].shape, a[1].size)),
        # (dy, x, gamma, mean, rstd, dx, dgamma, dbeta)
        layer_norm_grad=_entry(k["layer_norm_grad"], lambda a: (*a[1].shape, a[2].size)),
    )
