"""Compiled (numba) row loops for the sequence models' ops: softmax and its gradient, the row
scatter-add of gather's gradient, the LSTM cell's elementwise step and its gradient, and the fused
layer norm and its gradient.

On host memory these ops are memory-bound: the xp code makes one pass over the data per ufunc
(softmax: max, subtract, exp, sum, divide; its gradient: multiply, sum, subtract, multiply; an
LSTM step: some twenty on [batch, units] slices), and numpy's reductions over a short last axis
are slow. Here each is a loop over rows that reads a
row while it is in cache (serial: see _build). Every output element is written by exactly one
iteration in an order fixed by the compiled code, so every run gives the same bits (bit-exact
resume holds). The row sums follow numpy's own summation order and no product is fused into an
add, so the results are bit-identical to the xp code's (the strict-device tests compare them).

The xp code stays the reference and the fallback: ``kernels()`` returns None when numba cannot be
imported, ``NNCTL_JIT=0`` is set (runtime/jit.py's switch), the arrays are not host memory or they
are small (runtime/jit.py's MIN_ELEMENTS: numba is imported only when one of these ops runs on an
array that big). Functions compile lazily on first use, once per dtype (float32, float64), and
``cache=True`` keeps the machine code on disk across processes.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nnctl.runtime.jit import JIT_DTYPES, MIN_ELEMENTS, compiled, enabled


def load() -> Any:
    """The compiled kernels (a namespace), or None: NNCTL_JIT=0, or numba not importable."""
    return compiled("seq", _build)


def kernels(ctx: Any, big: Any) -> Any:
    """The compiled kernels for an op over ``big`` (its largest array), or None: only on host memory
    (asked of the backend) and from runtime.jit's MIN_ELEMENTS on, so that a small program never
    imports numba."""
    if not ctx.backend.host_memory or big.size < MIN_ELEMENTS or not enabled():
        return None
    return load()


# Row sums reproduce numpy's pairwise summation, which is one block of eight partial sums for rows
# of up to 128 elements (longer rows take the xp path).
MAX_ROW = 128


def host_ok(jit: Any, *arrays: Any) -> bool:
    """The compiled path applies: kernels loaded, every array a C-contiguous numpy array of one
    float32/float64 dtype."""
    if jit is None:
        return False
    dt = arrays[0].dtype
    return dt in JIT_DTYPES and all(isinstance(a, np.ndarray) and a.dtype == dt and a.flags.c_contiguous
                                    for a in arrays)


def rows_ok(jit: Any, *arrays: Any) -> bool:
    """host_ok, and one shape for all (viewed as [rows, last axis]) with 1..MAX_ROW columns: the row
    sums' condition."""
    a0 = arrays[0]
    return host_ok(jit, *arrays) and a0.ndim >= 1 and 0 < a0.shape[-1] <= MAX_ROW and all(
        a.shape == a0.shape for a in arrays)


def softmax_rows(jit: Any, xp: Any, x: Any, out: Any) -> None:
    """out = softmax(x) over the last axis of [rows, n] arrays (out may be x): max-subtract, numpy's
    SIMD exp (numba has no vectorised exp without SVML), normalise; three passes where the xp code
    makes five, with the same arithmetic."""
    jit.sub_row_max(x, out)
    xp.exp(out, out=out)
    jit.div_row_sum(out)


def as_rows(a: Any) -> Any:
    """A C-contiguous array as [rows, last axis] (a view)."""
    n = a.shape[-1] if a.ndim else 1
    return a.reshape(-1, n)


def _build(numba: Any) -> SimpleNamespace:
    # Serial loops: these kernels are memory-bound, and on a loaded 2-core machine a parallel
    # region waits for its slowest thread (measured: softmax over [8192, 64] 0.6 ms serial, 7-30 ms
    # with two numba threads while other processes held the cores).
    njit = numba.njit(cache=True, nogil=True, error_model="numpy")

    # Row sums in exactly numpy's order for n <= 128 (PW_BLOCKSIZE of numpy's pairwise_sum: eight
    # interleaved partial sums, combined as ((0+1)+(2+3))+((4+5)+(6+7)), then the remainder), so
    # they equal xp.sum's bits. row_dot sums the products a*b, each rounded before it is added
    # (no fused multiply-add), as xp.sum(xp.multiply(a, b)) does.
    @njit
    def row_sum(a, r, n):
        if n < 8:
            res = a.dtype.type(0)
            for j in range(n):
                res += a[r, j]
            return res
        r0, r1, r2, r3 = a[r, 0], a[r, 1], a[r, 2], a[r, 3]
        r4, r5, r6, r7 = a[r, 4], a[r, 5], a[r, 6], a[r, 7]
        m = n - n % 8
        j = 8
        while j < m:
            r0 += a[r, j]
            r1 += a[r, j + 1]
            r2 += a[r, j + 2]
            r3 += a[r, j + 3]
            r4 += a[r, j + 4]
            r5 += a[r, j + 5]
            r6 += a[r, j + 6]
            r7 += a[r, j + 7]
            j += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while j < n:
            res += a[r, j]
            j += 1
        return res

    @njit
    def row_dot(a, b, r, n):
        if n < 8:
            res = a.dtype.type(0)
            for j in range(n):
                res += a[r, j] * b[r, j]
            return res
        r0, r1, r2, r3 = a[r, 0] * b[r, 0], a[r, 1] * b[r, 1], a[r, 2] * b[r, 2], a[r, 3] * b[r, 3]
        r4, r5, r6, r7 = a[r, 4] * b[r, 4], a[r, 5] * b[r, 5], a[r, 6] * b[r, 6], a[r, 7] * b[r, 7]
        m = n - n % 8
        j = 8
        while j < m:
            r0 += a[r, j] * b[r, j]
            r1 += a[r, j + 1] * b[r, j + 1]
            r2 += a[r, j + 2] * b[r, j + 2]
            r3 += a[r, j + 3] * b[r, j + 3]
            r4 += a[r, j + 4] * b[r, j + 4]
            r5 += a[r, j + 5] * b[r, j + 5]
            r6 += a[r, j + 6] * b[r, j + 6]
            r7 += a[r, j + 7] * b[r, j + 7]
            j += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while j < n:
            res += a[r, j] * b[r, j]
            j += 1
        return res

    @njit
    def sub_row_max(x, out):
        # out[r] = x[r] - max(x[r]); out may be x
        rows, n = x.shape
        for r in range(rows):
            m = x[r, 0]
            for j in range(1, n):
                v = x[r, j]
                if v > m or v != v:
                    m = v
            for j in range(n):
                out[r, j] = x[r, j] - m

    @njit
    def div_row_sum(e):
        # e[r] /= sum(e[r])
        rows, n = e.shape
        for r in range(rows):
            s = row_sum(e, r, n)
            for j in range(n):
                e[r, j] = e[r, j] / s

    @njit
    def softmax_grad(y, dy, out):
        # out[r] = (dy[r] - sum(dy[r] * y[r])) * y[r]; out may be dy
        rows, n = y.shape
        for r in range(rows):
            s = row_dot(dy, y, r, n)
            for j in range(n):
                out[r, j] = (dy[r, j] - s) * y[r, j]

    @njit
    def scatter_add_rows(out, idx, vals):
        # out[idx[i], :] += vals[i, :] in the order i = 0, 1, ... (np.add.at's order)
        n, k = vals.shape
        for i in range(n):
            row = idx[i]
            for c in range(k):
                out[row, c] += vals[i, c]

    @njit
    def lstm_pre(gates, scale, fb, a):
        # a = gates * scale per column ([i | j | f | o]: 1/2, 1, 1/2, 1/2); the f block (f + fb) / 2
        rows, n4 = gates.shape
        n = n4 // 4
        half = a.dtype.type(0.5)
        for r in range(rows):
            for k in range(n4):
                a[r, k] = gates[r, k] * scale[k]
            if fb != 0:
                for k in range(2 * n, 3 * n):
                    a[r, k] = (gates[r, k] + fb) * half

    @njit
    def lstm_post(a, c_prev, c):
        # a holds tanh of lstm_pre's values: the sigmoid blocks become t / 2 + 1/2 (sigmoid as
        # (1 + tanh(x/2)) / 2, the Sigmoid kernel's formula); c = sf c_prev + si tj
        rows, n = c.shape
        half = a.dtype.type(0.5)
        for r in range(rows):
            for k in range(n):
                si = a[r, k] * half + half
                sf = a[r, 2 * n + k] * half + half
                a[r, k] = si
                a[r, 2 * n + k] = sf
                a[r, 3 * n + k] = a[r, 3 * n + k] * half + half
                c[r, k] = sf * c_prev[r, k] + si * a[r, n + k]

    @njit
    def lstm_grad(a, tc, c_prev, dc, dh, dg, dcp):
        # the LSTMGatesGrad kernel's arithmetic, operation for operation, in one pass
        rows, n = c_prev.shape
        one = a.dtype.type(1)
        for r in range(rows):
            for k in range(n):
                si = a[r, k]
                tj = a[r, n + k]
                sf = a[r, 2 * n + k]
                so = a[r, 3 * n + k]
                t = tc[r, k]
                d = dh[r, k]
                dct = dc[r, k] + (one - t * t) * (d * so)
                dg[r, k] = ((one - si) * si) * (dct * tj)
                dg[r, n + k] = (one - tj * tj) * (dct * si)
                dg[r, 2 * n + k] = ((one - sf) * sf) * (dct * c_prev[r, k])
                dg[r, 3 * n + k] = ((one - so) * so) * (d * t)
                dcp[r, k] = dct * sf

    @njit
    def layer_norm(x, gamma, beta, eps, y, mean, rstd):
        # the LayerNorm kernel's xp arithmetic per row of x [rows, n] (layer_norm_ops.py):
        # mean = sum(x) / n, xc = x - mean, rstd = 1 / sqrt(sum(xc * xc) / n + eps),
        # y = (xc * rstd) * gamma + beta with gamma, beta repeating every len(gamma) columns
        rows, n = x.shape
        p = gamma.size
        dn = x.dtype.type(n)
        one = x.dtype.type(1)
        for r in range(rows):
            mu = row_sum(x, r, n) / dn
            for j in range(n):
                y[r, j] = x[r, j] - mu
            rs = one / np.sqrt(row_dot(y, y, r, n) / dn + eps)
            mean[r] = mu
            rstd[r] = rs
            for b in range(0, n, p):   # blocks of p columns, so no index needs a modulo
                for q in range(p):
                    y[r, b + q] = (y[r, b + q] * rs) * gamma[q] + beta[q]

    @njit
    def layer_norm_grad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta):
        # the LayerNormGrad kernel's xp arithmetic per row: xhat = (x - mean) rstd, g = dy gamma,
        # dx = rstd ((g - sum(g)/n) - xhat sum(g xhat)/n); dgamma, dbeta summed over the rows (and
        # the repeats of gamma within a row) in order, as numpy's sum over axis 0 adds them
        rows, n = x.shape
        p = gamma.size
        dn = x.dtype.type(n)
        xh = np.empty((1, n), x.dtype)
        g = np.empty((1, n), x.dtype)
        for j in range(p):
            dgamma[j] = 0
            dbeta[j] = 0
        for r in range(rows):
            mu = mean[r]
            rs = rstd[r]
            for j in range(n):
                xh[0, j] = (x[r, j] - mu) * rs
            for b in range(0, n, p):
                for q in range(p):
                    g[0, b + q] = dy[r, b + q] * gamma[q]
            mg = row_sum(g, 0, n) / dn
            mgx = row_dot(g, xh, 0, n) / dn
            for j in range(n):
                dx[r, j] = rs * ((g[0, j] - mg) - xh[0, j] * mgx)
            for b in range(0, n, p):
                for q in range(p):
                    dgamma[q] += dy[r, b + q] * xh[0, b + q]
                    dbeta[q] += dy[r, b + q]

    return SimpleNamespace(sub_row_max=sub_row_max, div_row_sum=div_row_sum, softmax_grad=softmax_grad,
                           scatter_add_rows=scatter_add_rows, lstm_pre=lstm_pre, lstm_post=lstm_post,
                           lstm_grad=lstm_grad, layer_norm=layer_norm, layer_norm_grad=layer_norm_grad)
