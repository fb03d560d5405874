"""The three workloads hand-written in numpy: forward, backward and update, float32 throughout.

This is the honest "no framework" reference: dense layers are single BLAS matmuls, the conv is
im2col (``sliding_window_view`` + one matmul) with a per-tap col2im for the input gradient,
max-pool 2x2/2 is a reshape + max, optimizer state lives in preallocated buffers updated in
place. Gradients follow TF1 semantics exactly (relu'(0) = 0, sparse softmax CE averaged over
the batch, TF1's Adam with the bias correction folded into the learning rate).

    python bench/numpy_bench.py --workload cnn --steps 50 --json
"""

from __future__ import annotations

import math

import harness
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

F32 = np.float32


# --------------------------------------------------------------------------------- optimizers
class SGD:
    def __init__(self, params: dict[str, np.ndarray], lr: float):
        self.params, self.lr = params, F32(lr)
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}

    def apply(self, grads: dict[str, np.ndarray]) -> None:
        for k, w in self.params.items():
            t = np.multiply(grads[k], self.lr, out=self.tmp[k])
            w -= t


class Momentum:
    """TF1 MomentumOptimizer (use_nesterov=False): accum = m*accum + g; w -= lr*accum."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float):
        self.params, self.lr, self.m = params, F32(lr), F32(momentum)
        self.accum = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}

    def apply(self, grads: dict[str, np.ndarray]) -> None:
        for k, w in self.params.items():
            a = self.accum[k]
            a *= self.m
            a += grads[k]
            w -= np.multiply(a, self.lr, out=self.tmp[k])


class Adam:
    """TF1 AdamOptimizer: lr_t = lr*sqrt(1-b2^t)/(1-b1^t); m = b1 m + (1-b1) g;
    v = b2 v + (1-b2) g^2; w -= lr_t * m / (sqrt(v) + eps)."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, beta1, beta2, F32(epsilon)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.tmp = {k: np.empty_like(v) for k, v in params.items()}
        self.t = 0

    def apply(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.b1, self.b2
        lr_t = F32(self.lr * math.sqrt(1.0 - b2**self.t) / (1.0 - b1**self.t))
        c1, c2 = F32(1.0 - b1), F32(1.0 - b2)
        b1f, b2f = F32(b1), F32(b2)
        for k, w in self.params.items():
            g, m, v, tmp = grads[k], self.m[k], self.v[k], self.tmp[k]
            m *= b1f
            m += np.multiply(g, c1, out=tmp)
            v *= b2f
            np.square(g, out=tmp)
            tmp *= c2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= lr_t
            w -= tmp


def make_optimizer(spec: dict, params: dict[str, np.ndarray]):
    if spec["name"] == "sgd":
        return SGD(params, spec["lr"])
    if spec["name"] == "momentum":
        return Momentum(params, spec["lr"], spec["momentum"])
    if spec["name"] == "adam":
        return Adam(params, spec["lr"], spec["beta1"], spec["beta2"], spec["epsilon"])
    raise ValueError(spec["name"])


# ------------------------------------------------------------------------------------ pieces
def softmax_ce(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean sparse softmax cross-entropy and its gradient w.r.t. the logits."""
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, labels]))
    e /= s
    e[rows, labels] -= F32(1.0)
    e *= F32(1.0 / n)
    return loss, e


def im2col3x3(x: np.ndarray) -> np.ndarray:
    """[N,H,W,C] -> [N*Ho*Wo, 9*C] patches in (kh, kw, c) order (matches HWIO.reshape(9C, O))."""
    n, h, w, c = x.shape
    win = sliding_window_view(x, (3, 3), axis=(1, 2))  # [N, Ho, Wo, C, 3, 3] (a view)
    return win.transpose(0, 1, 2, 4, 5, 3).reshape(n * (h - 2) * (w - 2), 9 * c)


def conv3x3_input_grad(dz: np.ndarray, k: np.ndarray, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Gradient of a VALID 3x3 conv w.r.t. its [N,H,W,C] input, from dz [N*Ho*Wo, O] and the
    [9*C, O] filter: col2im done per tap (one small matmul per tap, added into a shifted
    window), which keeps the adds contiguous instead of reading a 9x-strided dcols matrix."""
    n, h, w, c = shape
    ho, wo = h - 2, w - 2
    taps = k.reshape(3, 3, c, k.shape[1])
    dx = np.zeros(shape, F32)
    for i in range(3):
        for j in range(3):
            dx[:, i : i + ho, j : j + wo, :] += (dz @ taps[i, j].T).reshape(n, ho, wo, c)
    return dx


def maxpool2x2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VALID 2x2 stride-2 max pool on NHWC (an odd trailing row/column is dropped, as in TF).
    Returns the pooled map and the 6-D ``[N, Ho, 2, Wo, 2, C]`` view of the pooled region
    (for the backward pass). Two pairwise maxima over contiguous halves beat a 2-axis max()."""
    n, h, w, c = a.shape
    ho, wo = h // 2, w // 2
    r = a[:, : 2 * ho, : 2 * wo, :].reshape(n, ho, 2, wo, 2, c)  # a view unless rows were cut
    rows = np.maximum(r[:, :, 0], r[:, :, 1])  # [N, Ho, Wo, 2, C]
    return np.maximum(rows[:, :, :, 0], rows[:, :, :, 1]), r


def maxpool2x2_grad(r: np.ndarray, pooled: np.ndarray, dpooled: np.ndarray, shape) -> np.ndarray:
    """Route each pooled gradient to the max of its window. (Ties between real-valued conv
    outputs do not happen in practice; TF would pick the first, this would share the gradient.)"""
    n, ho, _, wo, _, c = r.shape
    mask = r == pooled[:, :, None, :, None, :]
    g = np.multiply(mask, dpooled[:, :, None, :, None, :], dtype=F32)
    if shape[1] == 2 * ho and shape[2] == 2 * wo:
        return g.reshape(shape)
    da = np.zeros(shape, F32)
    da[:, : 2 * ho, : 2 * wo, :] = g.reshape(n, 2 * ho, 2 * wo, c)
    return da


def conv3x3_bias(x: np.ndarray, k: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VALID 3x3 stride-1 conv + bias on NHWC with an HWIO filter reshaped to [9*C, O].
    Returns the output [N, H-2, W-2, O] and the im2col matrix (kept for the backward pass)."""
    n, h, w, _ = x.shape
    cols = im2col3x3(x)
    z = cols @ k
    z += b
    return z.reshape(n, h - 2, w - 2, k.shape[1]), cols


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return F32(1.0) / (F32(1.0) + np.exp(-z))


# ---------------------------------------------------------------------------------- models
def xor_step(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    h = _sigmoid(x @ p["w1"] + p["b1"])
    out = _sigmoid(h @ p["w2"] + p["b2"])
    diff = y - out
    loss = float(np.sum(np.square(diff)))
    dz2 = F32(-2.0) * diff * out * (F32(1.0) - out)
    dh = dz2 @ p["w2"].T
    dz1 = dh * h * (F32(1.0) - h)
    grads = {"w1": x.T @ dz1, "b1": dz1.sum(0), "w2": h.T @ dz2, "b2": dz2.sum(0)}
    return loss, grads


def mlp_step(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    a1 = x @ p["w1"]
    a1 += p["b1"]
    np.maximum(a1, F32(0.0), out=a1)
    a2 = a1 @ p["w2"]
    a2 += p["b2"]
    np.maximum(a2, F32(0.0), out=a2)
    logits = a2 @ p["w3"]
    logits += p["b3"]
    loss, d3 = softmax_ce(logits, y)
    d2 = d3 @ p["w3"].T
    d2 *= a2 > 0
    d1 = d2 @ p["w2"].T
    d1 *= a1 > 0
    grads = {
        "w1": x.T @ d1, "b1": d1.sum(0),
        "w2": a1.T @ d2, "b2": d2.sum(0),
        "w3": a2.T @ d3, "b3": d3.sum(0),
    }  # fmt: skip
    return loss, grads


def cnn_step(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    """relu and max-pool commute (both monotone), so each block pools the conv output first
    and applies the relu to the 4x smaller map: same values, same gradients as TF's
    conv -> relu -> pool (windows whose max is <= 0 get a zero gradient either way)."""
    n = x.shape[0]
    c1, c2 = p["c1"], p["c2"]
    k1, k2 = c1.reshape(-1, c1.shape[-1]), c2.reshape(-1, c2.shape[-1])  # [9*C, O]
    # block 1: [N,28,28,1] -conv-> [N,26,26,32] -pool-> [N,13,13,32] -relu
    z1, cols1 = conv3x3_bias(x, k1, p["cb1"])
    m1, r1 = maxpool2x2(z1)
    a1 = np.maximum(m1, F32(0.0))
    # block 2: -conv-> [N,11,11,64] -pool-> [N,5,5,64] -relu
    z2, cols2 = conv3x3_bias(a1, k2, p["cb2"])
    m2, r2 = maxpool2x2(z2)
    a2 = np.maximum(m2, F32(0.0))
    flat = a2.reshape(n, -1)  # NHWC order (h, w, c), as tf.reshape
    h3 = flat @ p["w3"]
    h3 += p["b3"]
    a3 = np.maximum(h3, F32(0.0), out=h3)
    logits = a3 @ p["w4"]
    logits += p["b4"]
    loss, d4 = softmax_ce(logits, y)

    d3 = d4 @ p["w4"].T
    d3 *= a3 > 0
    dm2 = (d3 @ p["w3"].T).reshape(a2.shape)
    dm2 *= a2 > 0
    dz2 = maxpool2x2_grad(r2, m2, dm2, z2.shape).reshape(-1, k2.shape[1])
    dm1 = conv3x3_input_grad(dz2, k2, a1.shape)
    dm1 *= a1 > 0
    dz1 = maxpool2x2_grad(r1, m1, dm1, z1.shape).reshape(-1, k1.shape[1])
    grads = {
        "c1": (cols1.T @ dz1).reshape(c1.shape), "cb1": dz1.sum(0),
        "c2": (cols2.T @ dz2).reshape(c2.shape), "cb2": dz2.sum(0),
        "w3": flat.T @ d3, "b3": d3.sum(0),
        "w4": a3.T @ d4, "b4": d4.sum(0),
    }  # fmt: skip
    return loss, grads


MODELS = {"xor": xor_step, "mlp": mlp_step, "cnn": cnn_step}


def build(wl: dict):
    model = MODELS.get(wl["model"])
    if model is None:  # reported as "unavailable", the other implementations still run
        raise harness.Unavailable(f"no hand-written numpy {wl['model']} (numpy covers {', '.join(MODELS)})")
    params = {k: np.array(v, dtype=F32, copy=True) for k, v in wl["weights"].items()}
    opt = make_optimizer(wl["optimizer"], params)
    batches = wl["batches"]
    nb = len(batches)

    def step(i: int) -> float:
        x, y = batches[i % nb]
        loss, grads = model(params, x, y)
        opt.apply(grads)
        return float(loss)

    info = {"numpy": np.__version__, "blas": blas_info()}
    return step, info, None


def blas_info() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older numpy: no dict mode
        return "unknown"


if __name__ == "__main__":
    harness.main("numpy", build)
