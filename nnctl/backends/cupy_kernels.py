"""Fused device kernels: the CuPy backend's ``kernel_overrides``.

The generic kernels issue one launch per ufunc: an Adam update is ~17 launches per variable, the
sparse softmax cross-entropy ~13. Here each optimizer update is one ``ElementwiseKernel`` that
reads and writes the variable and its slots once, and the sparse softmax cross-entropy (loss and
backprop together) is four launches: the row max, ``exp(x - max)``, the row sum, and one kernel that
writes the backprop and the loss; the dense one (label distributions) six instead of ~14; the
float32 LSTM step one instead of ~40.

The formulas are the numpy kernels' (nnctl/train/optimizers.py, nnctl/ops/nn_ops.py), operation for
operation in the same order, each rounded to the variable's dtype; the kernels are compiled with
``--fmad=false`` so that no multiply-add is contracted into one rounding, which keeps the fused
update's float32 arithmetic the numpy kernel's. Scalars come as 0-d arrays of the variable's dtype
(broadcast by ElementwiseKernel), so no hyper-parameter is read back to the host.

Each kernel is declared once, as data (:data:`UPDATES`, :data:`SPARSE_CE`, :data:`DENSE_CE`): the
backend builds it with ``xp.ElementwiseKernel``; the tests (tests/test_cupy_kernels.py) generate its
source with CuPy's own code generator and compile it with NVRTC and ``nvcc`` where no GPU is
present, and run its body on the host against the numpy kernel. Not yet run on a GPU:
``bench/gpu.py --parts kernels`` is that check.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPTIONS = ("--fmad=false",)   # each * and + rounds on its own, as numpy's ufuncs do


@dataclass(frozen=True)
class Elementwise:
    """One ``ElementwiseKernel``: parameters in CuPy's syntax and the CUDA C body of its loop."""

    name: str
    in_params: str
    out_params: str
    operation: str


@dataclass(frozen=True)
class FusedUpdate:
    """An ``Apply*`` op as one kernel. ``inputs`` names the op's inputs in order; the ``mutated``
    ones (the variable and its slots) are the kernel's outputs, updated in place."""

    op_type: str
    inputs: tuple[str, ...]
    mutated: tuple[str, ...]
    operation: str
    variant: str = ""

    @property
    def kernel(self) -> Elementwise:
        ins = ", ".join(f"T {n}" for n in self.inputs if n not in self.mutated)
        outs = ", ".join(f"T {n}" for n in self.inputs if n in self.mutated)
        name = "nnctl_" + self.op_type.lower() + (f"_{self.variant}" if self.variant else "")
        return Elementwise(name, ins, outs, self.operation)

    @property
    def order(self) -> tuple[int, ...]:
        """Op input positions in the kernel's call order: its inputs, then its outputs."""
        pos = {n: i for i, n in enumerate(self.inputs)}
        return (tuple(pos[n] for n in self.inputs if n not in self.mutated)
                + tuple(pos[n] for n in self.inputs if n in self.mutated))


# The bodies state the numpy kernels' steps in their order (comments: the numpy code they mirror).
_ADAM = """
const T one = T(1);
const T lr_t = sqrt(one - b2p) * lr / (one - b1p);  // lr * sqrt(1 - beta2^t) / (1 - beta1^t)
m = m + (grad - m) * (one - beta1);                 // m += (g - m)(1 - beta1)
v = v + (grad * grad - v) * (one - beta2);          // v += (g^2 - v)(1 - beta2)
var = var - m / (sqrt(v) + eps) * lr_t;             // var -= lr_t m / (sqrt(v) + eps)
"""
_RMS = """
const T c = T(1) - rho;
ms = ms + (grad * grad - ms) * c;                   // ms += (g^2 - ms)(1 - rho)
"""
_RMS_TAIL = """
mom = mom * momentum + grad / sqrt(DENOM) * lr;     // mom = momentum mom + lr g / sqrt(...)
var = var - mom;
"""
_ADAM_IN = ("var", "m", "v", "b1p", "b2p", "lr", "beta1", "beta2", "eps")

UPDATES: tuple[FusedUpdate, ...] = (
    FusedUpdate("ApplyGradientDescent", ("var", "lr", "grad"), ("var",),
                "var = var - grad * lr;"),
    FusedUpdate("ApplyMomentum", ("var", "accum", "lr", "momentum", "grad"), ("var", "accum"),
                "accum = accum * momentum + grad;\nvar = var - accum * lr;", "plain"),
    FusedUpdate("ApplyMomentum", ("var", "accum", "lr", "momentum", "grad"), ("var", "accum"),
                "accum = accum * momentum + grad;\nvar = var - (accum * momentum + grad) * lr;", "nesterov"),
    FusedUpdate("ApplyAdam", (*_ADAM_IN, "grad"), ("var", "m", "v"), _ADAM),
    FusedUpdate("ApplyAdamW", (*_ADAM_IN, "wd", "grad"), ("var", "m", "v"),
                "var = var - var * wd;  // decoupled decay first\n" + _ADAM),
    FusedUpdate("ApplyRMSProp", ("var", "ms", "mom", "lr", "rho", "momentum", "eps", "grad"), ("var", "ms", "mom"),
                _RMS + _RMS_TAIL.replace("DENOM", "ms + eps")),
    FusedUpdate("ApplyCenteredRMSProp", ("var", "mg", "ms", "mom", "lr", "rho", "momentum", "eps", "grad"),
                ("var", "mg", "ms", "mom"),
                _RMS + "mg = mg + (grad - mg) * c;                         // mg += (g - mg)(1 - rho)\n"
                + _RMS_TAIL.replace("DENOM", "ms - mg * mg + eps")),
    FusedUpdate("ApplyAdagrad", ("var", "accum", "lr", "grad"), ("var", "accum"),
                "accum = accum + grad * grad;\nvar = var - grad / sqrt(accum) * lr;"),
)


def update_for(op: Any) -> FusedUpdate:
    """The fused kernel of an ``Apply*`` op (the variant its attributes select)."""
    variant = ("nesterov" if op.attrs.get("use_nesterov") else "plain") if op.type == "ApplyMomentum" else ""
    return next(u for u in UPDATES if u.op_type == op.type and u.variant == variant)


# Sparse softmax cross-entropy over rows of c classes, with s = x - max(x), S = sum(exp s):
#   loss = log S - s[label],  backprop = exp(s) / S - onehot(label);
# a label outside [0, c) makes its row's loss and backprop NaN (as TF's GPU kernel; no read-back).
SPARSE_CE = (
    Elementwise("nnctl_softmax_exp", "T x, raw T r, int64 c", "T b",
                "b = exp(x - r[i / c]);"),
    Elementwise("nnctl_sparse_xent", "T x, raw T r, raw T s, raw L lab, int64 c", "T b, raw T loss", """
const long long row = i / c;
const long long col = i - row * c;
const long long k = (long long)lab[row];
const bool valid = k >= 0 && k < c;
T g = b / s[row];
if (col == k) g = g - T(1);
b = valid ? g : T(CUDART_NAN);
if (col == (valid ? k : 0)) {   // one element of each row writes the row's loss
  T l = T(CUDART_NAN);
  if (valid) l = T(log(s[row])) - (x - r[row]);
  loss[row] = l;
}
"""),
)


# Softmax cross-entropy with label distributions z over the last axis, with s, S as above and
# Z = sum(z):  loss = Z log S - sum(z s),  backprop = exp(s) / S - z   (the numpy kernel's formulas).
DENSE_CE = (
    Elementwise("nnctl_softmax_exp_zs", "T x, T z, raw T r, int64 c", "T b, T t", """
const T sh = x - r[i / c];
b = exp(sh);
t = z * sh;
"""),
    Elementwise("nnctl_dense_xent", "T z, raw T s, raw T zs, raw T lk, int64 c", "T b, raw T loss", """
const long long row = i / c;
b = b * (T(1) / s[row]) - z;
if (i - row * c == 0) loss[row] = T(log(s[row])) * zs[row] - lk[row];
"""),
)


# The float32 LSTMGates step (nnctl/ops/lstm_ops.py) as one kernel over [batch, units]: the xp code
# computes it in ~40 launches, about 30 of them the rational tanh (lstm_ops.TANH_F32, coefficients
# in k) of the gates and of c. The same operations in the same order as that code and as
# csrc/seq.c's one-pass step, so all three give the same bits.
LSTM_GATES = Elementwise("nnctl_lstm_gates", "raw T gates, raw T scale, raw T shift, T fb, T c_prev, raw T k, int64 n",
                         "raw T act, T c, T h, T tc", """
auto th = [&](T x) -> T {   // lstm_ops.tanh_f32
  const T hi = k[0];
  const T lo = T(0) - hi;
  if (x < lo) x = lo;   // NaN passes: both comparisons are false
  if (x > hi) x = hi;
  const T x2 = x * x;
  T p = x2 * k[1];
  p = p + k[2];
  for (int q = 3; q <= 7; q++) { p = p * x2; p = p + k[q]; }
  p = p * x;
  T d = x2 * k[8];
  d = d + k[9];
  for (int q = 10; q <= 11; q++) { d = d * x2; d = d + k[q]; }
  return p / d;
};
const long long row = i / n;
const long long j = i - row * n;
const long long g = row * 4 * n + j;
const T pf = fb != T(0) ? (gates[g + 2 * n] + fb) * T(0.5) : gates[g + 2 * n] * scale[2 * n + j];
const T si = th(gates[g] * scale[j]) * scale[j] + shift[j];
const T tj = th(gates[g + n] * scale[n + j]) * scale[n + j] + shift[n + j];
const T sf = th(pf) * scale[2 * n + j] + shift[2 * n + j];
const T so = th(gates[g + 3 * n] * scale[3 * n + j]) * scale[3 * n + j] + shift[3 * n + j];
act[g] = si;
act[g + n] = tj;
act[g + 2 * n] = sf;
act[g + 3 * n] = so;
const T u = sf * c_prev;
const T w = si * tj;
const T ce = u + w;
const T t = th(ce);
c = ce;
tc = t;
h = so * t;
""")


def all_kernels() -> list[Elementwise]:
    return [u.kernel for u in UPDATES] + list(SPARSE_CE) + list(DENSE_CE) + [LSTM_GATES]


# array module -> kernel name -> ElementwiseKernel (weak: a module the tests make goes with its kernels)
_built: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def build(xp: Any, k: Elementwise) -> Any:
    """``xp.ElementwiseKernel`` for ``k``, once per array module (CuPy compiles it per dtype on first use)."""
    table = _built.setdefault(xp, {})
    fn = table.get(k.name)
    if fn is None:
        fn = table[k.name] = xp.ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name,
                                                  options=OPTIONS, no_return=True)
    return fn


def built(xp: Any) -> set[str]:
    """The names of the kernels built for ``xp`` so far."""
    return set(_built.get(xp, {}))


def _update_factory(op: Any, ctx: Any) -> Any:
    u = update_for(op)
    kern = build(ctx.xp, u.kernel)
    order = u.order

    def run(*args: Any, out: Any = None) -> Any:
        kern(*[args[i] for i in order])
        return args[0]   # the variable, updated in place (as the numpy kernel's out=var)
    return run


def _sparse_ce_factory(op: Any, ctx: Any) -> Any:
    xp = ctx.xp
    exp_k, fin_k = (build(xp, k) for k in SPARSE_CE)
    rows: dict[tuple, Any] = {}

    def scratch(n: int, dtype: Any) -> tuple[Any, Any]:
        key = (n, dtype)
        if key not in rows:
            rows[key] = (xp.empty(n, dtype=dtype), xp.empty(n, dtype=dtype))
        return rows[key]

    def run(x: Any, labels: Any, out: Any = None) -> Any:
        c = x.shape[-1]
        if out is None:
            loss = xp.empty(x.shape[:-1], dtype=x.dtype)
            b = xp.empty(x.shape, dtype=x.dtype)
        else:
            loss, b = out
        lab = labels.reshape(-1)
        n = lab.size
        if n == 0:
            return loss, b
        x2, b2 = x.reshape(n, c), b.reshape(n, c)
        r, s = scratch(n, x.dtype)
        xp.amax(x2, axis=1, out=r)
        exp_k(x2, r, c, b2)
        xp.sum(b2, axis=1, out=s)
        fin_k(x2, r, s, lab, c, b2, loss.reshape(n))
        return loss, b
    return run


def _dense_ce_factory(op: Any, ctx: Any) -> Any:
    from nnctl.graph import registry
    xp = ctx.xp
    exp_k, fin_k = (build(xp, k) for k in DENSE_CE)
    generic = registry.op_def(op.type).kernel(op, ctx)   # another axis, or broadcast labels
    rows: dict[tuple, Any] = {}

    def run(x: Any, z: Any, out: Any = None) -> Any:
        if op.attrs["axis"] % x.ndim != x.ndim - 1 or z.shape != x.shape or x.size == 0:
            return generic(x, z, out=out)
        c = x.shape[-1]
        n = x.size // c
        if out is None:
            loss = xp.empty(x.shape[:-1], dtype=x.dtype)
            b = xp.empty(x.shape, dtype=x.dtype)
        else:
            loss, b = out
        key = (n, c, x.dtype)
        if key not in rows:
            rows[key] = (xp.empty(n, dtype=x.dtype), xp.empty(n, dtype=x.dtype), xp.empty(n, dtype=x.dtype),
                         xp.empty(n, dtype=x.dtype), xp.empty((n, c), dtype=x.dtype))
        r, s, zs, lk, t = rows[key]
        x2, z2, b2 = x.reshape(n, c), z.reshape(n, c), b.reshape(n, c)
        xp.amax(x2, axis=1, out=r)
        exp_k(x2, z2, r, c, b2, t)
        xp.sum(t, axis=1, out=lk)
        xp.sum(b2, axis=1, out=s)
        xp.sum(z2, axis=1, out=zs)
        fin_k(z2, s, zs, lk, c, b2, loss.reshape(n))
        return loss, b
    return run


def _lstm_gates_factory(op: Any, ctx: Any) -> Any:
    import numpy as np

    from nnctl.graph import registry
    from nnctl.ops import lstm_ops
    generic = registry.op_def(op.type).kernel(op, ctx)
    dt = np.dtype(op.outputs[0].dtype.np)
    if dt != np.float32:
        return generic   # float64: xp.tanh, as the numpy kernel
    xp = ctx.xp
    kern = build(xp, LSTM_GATES)
    fb = xp.asarray(op.attrs["forget_bias"], dtype=dt)
    coef = xp.asarray(np.asarray(lstm_ops.TANH_F32, dtype=dt))
    factors = lstm_ops.step_factors(xp, dt)

    def run(gates: Any, c_prev: Any, out: Any = None) -> Any:
        n = c_prev.shape[1]
        c, h, act, tc = lstm_ops.step_buffers(xp, c_prev, dt, out)
        if not (gates.flags.c_contiguous and act.flags.c_contiguous and c_prev.shape == c.shape == h.shape == tc.shape):
            return generic(gates, c_prev, out=out)
        scale, shift = factors(n)
        kern(gates, scale, shift, fb, c_prev, coef, n, act, c, h, tc)
        return c, h, act, tc
    return run


def overrides() -> dict[str, Callable[..., Any]]:
    """Op type -> kernel factory, for ``Backend.kernel_overrides``."""
    table: dict[str, Callable[..., Any]] = {u.op_type: _update_factory for u in UPDATES}
    table["SparseSoftmaxCrossEntropyWithLogits"] = _sparse_ce_factory
    table["SoftmaxCrossEntropyWithLogits"] = _dense_ce_factory
    table["LSTMGates"] = _lstm_gates_factory
    return table
