"""The workloads in JAX, the whole training step (forward, backward, update) under one ``jax.jit``.

Written as a JAX user without optax would: pure functions of a parameter dict, ``jax.grad``
through them, and the optimizers written out with TF1's formulas so the losses agree with the
TF1 programs (and torch's within the 2% rule):

  GradientDescent  w -= lr * g
  Momentum         a = m * a + g;  w -= lr * a                          (TF1 MomentumOptimizer)
  Adam             m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
                   w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)   (TF1 AdamOptimizer)

Layouts are TF's (NHWC images, HWIO filters through ``lax.conv_general_dilated``, SAME padding
computed the way TF does). Batch norm: batch statistics in the step; the moving averages are
updated in the same jitted step (momentum 0.99, the variance with Bessel's correction as TF's
fused kernel does; they do not enter the loss). LSTM: ``lax.scan`` over time, TF's fused
kernel and gate order i, j, f, o; the input projection ``x @ kernel[:features]`` is one matmul
for all steps before the scan. The state buffers are donated, so XLA may update in place.

    /work/venvs/jax/bin/python bench/jax_bench.py --workload resnet --steps 10 --json
"""

from __future__ import annotations

import math

import harness
import numpy as np
from workloads import BN_EPSILON, BN_MOMENTUM, LN_EPSILON, LSTM_FEATURES, N_HEADS


def build(wl: dict):
    try:
        import jax
        import jax.numpy as jnp
        from jax import lax
    except Exception as e:  # noqa: BLE001 - any import failure means "unavailable"
        raise harness.Unavailable(f"{type(e).__name__}: {e}") from e

    model = wl["model"]
    params = {k: jnp.asarray(v) for k, v in wl["weights"].items()}
    # Batch-norm moving averages (resnet): not trained, updated inside the step.
    bn_state = {
        k[: -len("/gamma")] + suffix: jnp.full(v.shape, init, jnp.float32)
        for k, v in wl["weights"].items()
        if model == "resnet" and k.endswith("/gamma")
        for suffix, init in (("/moving_mean", 0.0), ("/moving_variance", 1.0))
    }

    def dense(h, w, b):
        return h @ w + b

    def sparse_ce(logits, y):
        return jnp.mean(jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])

    def conv(x, k, stride: int, padding):
        return lax.conv_general_dilated(x, k, (stride, stride), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))

    # ------------------------------------------------------------------ models: loss(params, state, x, y)
    def xor_loss(p, s, x, y):
        h = jax.nn.sigmoid(dense(x, p["w1"], p["b1"]))
        out = jax.nn.sigmoid(dense(h, p["w2"], p["b2"]))
        return jnp.sum(jnp.square(y - out)), s

    def mlp_loss(p, s, x, y):
        h = jax.nn.relu(dense(x, p["w1"], p["b1"]))
        h = jax.nn.relu(dense(h, p["w2"], p["b2"]))
        return sparse_ce(dense(h, p["w3"], p["b3"]), y), s

    def pool2(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def cnn_loss(p, s, x, y):
        h = pool2(jax.nn.relu(conv(x, p["c1"], 1, "VALID") + p["cb1"]))
        h = pool2(jax.nn.relu(conv(h, p["c2"], 1, "VALID") + p["cb2"]))
        h = h.reshape(h.shape[0], -1)  # NHWC order, as TF
        h = jax.nn.relu(dense(h, p["w3"], p["b3"]))
        return sparse_ce(dense(h, p["w4"], p["b4"]), y), s

    def same_pads(n: int, k: int, stride: int) -> list[tuple[int, int]]:
        """TF's SAME: total = max((ceil(n / s) - 1) * s + k - n, 0), the smaller half before."""
        total = max((-(-n // stride) - 1) * stride + k - n, 0)
        return [(total // 2, total - total // 2)] * 2

    def resnet_loss(p, s, x, y):
        new_s = dict(s)

        def bn(h, prefix):
            mean = jnp.mean(h, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(h - mean), axis=(0, 1, 2))
            n = h.shape[0] * h.shape[1] * h.shape[2]
            mm, mv = prefix + "/moving_mean", prefix + "/moving_variance"
            new_s[mm] = BN_MOMENTUM * s[mm] + (1.0 - BN_MOMENTUM) * lax.stop_gradient(mean)
            new_s[mv] = BN_MOMENTUM * s[mv] + (1.0 - BN_MOMENTUM) * lax.stop_gradient(var * (n / (n - 1)))
            return (h - mean) * lax.rsqrt(var + BN_EPSILON) * p[prefix + "/gamma"] + p[prefix + "/beta"]

        def sconv(h, key, stride):
            k = p[key]
            return conv(h, k, stride, same_pads(h.shape[1], k.shape[0], stride))

        h = jax.nn.relu(bn(sconv(x, "stem/conv", 1), "stem/bn"))
        for prefix, _cin, _cout, stride in wl["blocks"]:
            r = jax.nn.relu(bn(sconv(h, f"{prefix}/conv1", stride), f"{prefix}/bn1"))
            r = bn(sconv(r, f"{prefix}/conv2", 1), f"{prefix}/bn2")
            if f"{prefix}/proj" in p:
                h = bn(sconv(h, f"{prefix}/proj", stride), f"{prefix}/bnp")
            h = jax.nn.relu(h + r)
        h = jnp.mean(h, axis=(1, 2))  # global average pool
        return sparse_ce(dense(h, p["dense/w"], p["dense/b"]), y), new_s

    def lstm_loss(p, s, x, y):
        (hid,) = wl["hidden"]
        kx, kh = p["kernel"][:LSTM_FEATURES], p["kernel"][LSTM_FEATURES:]
        xz = jnp.swapaxes(x @ kx + p["bias"], 0, 1)  # [time, batch, 4h]: the input part of every step

        def cell(carry, z_x):
            c, h = carry
            i, j, f, o = jnp.split(z_x + h @ kh, 4, axis=1)
            c = c * jax.nn.sigmoid(f) + jax.nn.sigmoid(i) * jnp.tanh(j)  # forget_bias 0
            h = jnp.tanh(c) * jax.nn.sigmoid(o)
            return (c, h), None

        zeros = jnp.zeros((x.shape[0], hid), x.dtype)
        (_c, h), _ = lax.scan(cell, (zeros, zeros), xz)
        return sparse_ce(dense(h, p["w"], p["b"]), y), s

    def transformer_loss(p, s, ids, y):
        (d,) = wl["hidden"]
        dh = d // N_HEADS
        n_blocks = sum(1 for k in p if k.endswith("/ln1/gamma"))
        b, t = ids.shape

        def ln(h, prefix):
            mean = jnp.mean(h, axis=-1, keepdims=True)
            var = jnp.mean(jnp.square(h - mean), axis=-1, keepdims=True)
            return (h - mean) * lax.rsqrt(var + LN_EPSILON) * p[prefix + "/gamma"] + p[prefix + "/beta"]

        def lin(h, prefix):
            return dense(h, p[prefix + "/w"], p[prefix + "/b"])

        h = p["tok_emb"][ids] + p["pos_emb"]
        for i in range(n_blocks):
            a = ln(h, f"b{i}/ln1")
            q, k, v = (lin(a, f"b{i}/{n}").reshape(b, t, N_HEADS, dh).transpose(0, 2, 1, 3) for n in "qkv")
            att = jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) * (1.0 / math.sqrt(dh)), axis=-1)
            h = h + lin((att @ v).transpose(0, 2, 1, 3).reshape(b, t, d), f"b{i}/o")
            h = h + lin(jax.nn.relu(lin(ln(h, f"b{i}/ln2"), f"b{i}/ffn1")), f"b{i}/ffn2")
        return sparse_ce(lin(jnp.mean(ln(h, "lnf"), axis=1), "out"), y), s

    losses = {
        "xor": xor_loss, "mlp": mlp_loss, "cnn": cnn_loss,
        "resnet": resnet_loss, "lstm": lstm_loss, "transformer": transformer_loss,
    }  # fmt: skip
    loss_fn = losses[model]

    # -------------------------------------------------------------- optimizers (TF1's formulas)
    spec = wl["optimizer"]
    zeros = {k: jnp.zeros_like(v) for k, v in params.items()}
    if spec["name"] == "sgd":
        opt_state: dict = {}

        def update(p, g, o):
            return {k: p[k] - spec["lr"] * g[k] for k in p}, o
    elif spec["name"] == "momentum":
        opt_state = {"accum": zeros}

        def update(p, g, o):
            acc = {k: spec["momentum"] * o["accum"][k] + g[k] for k in p}
            return {k: p[k] - spec["lr"] * acc[k] for k in p}, {"accum": acc}
    elif spec["name"] == "adam":
        b1, b2, eps = spec["beta1"], spec["beta2"], spec["epsilon"]
        opt_state = {"m": zeros, "v": {k: jnp.zeros_like(v) for k, v in params.items()},
                     "b1p": jnp.float32(1.0), "b2p": jnp.float32(1.0)}  # fmt: skip

        def update(p, g, o):
            b1p, b2p = o["b1p"] * b1, o["b2p"] * b2  # beta^t
            lr_t = spec["lr"] * jnp.sqrt(1.0 - b2p) / (1.0 - b1p)
            m = {k: b1 * o["m"][k] + (1.0 - b1) * g[k] for k in p}
            v = {k: b2 * o["v"][k] + (1.0 - b2) * jnp.square(g[k]) for k in p}
            new_p = {k: p[k] - lr_t * m[k] / (jnp.sqrt(v[k]) + eps) for k in p}
            return new_p, {"m": m, "v": v, "b1p": b1p, "b2p": b2p}
    else:
        raise ValueError(spec["name"])

    def train_step(p, o, s, x, y):
        (loss, new_s), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
        new_p, new_o = update(p, g, o)
        return new_p, new_o, new_s, loss

    jstep = jax.jit(train_step, donate_argnums=(0, 1, 2))
    def on_device(a: np.ndarray):  # int64 ids/labels as int32: JAX's default (x64 off)
        return jax.device_put(a.astype(np.int32) if a.dtype == np.int64 else a)

    batches = [(on_device(x), on_device(y)) for x, y in wl["batches"]]
    nb = len(batches)
    state = [params, opt_state, bn_state]

    def step(i: int) -> float:
        x, y = batches[i % nb]
        state[0], state[1], state[2], loss = jstep(state[0], state[1], state[2], x, y)
        return float(loss)

    info = {"jax": jax.__version__, "devices": ",".join(str(d) for d in jax.devices())}
    return step, info, None


if __name__ == "__main__":
    harness.main("jax", build)
