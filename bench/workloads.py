"""Shared, fixed workloads for the benchmark suite.

Every implementation (nnctl, PyTorch, numpy) gets its data and its initial weights from
`make_workload`, so all of them start from bit-identical float32 arrays and step through the
same batches in the same order. Nothing here depends on the framework being benchmarked.

Layouts are TensorFlow's: images NHWC, conv filters HWIO ``[kh, kw, in, out]``, dense weights
``[in, out]`` (used as ``x @ W``). Flattening before the first dense layer of the CNN is in
NHWC order (h, w, c); an NCHW implementation must permute to NHWC before it flattens.

Labels come from a fixed random linear teacher: ``argmax((x_flat - 0.5) @ W_teacher)`` with
``W_teacher`` standard normal. The inputs are centred before the teacher sees them; without it
the teacher's column sums dominate and almost every label is the same class, which would make
the loss curves (and the cross-implementation loss check) much less informative.
"""

from __future__ import annotations

import math

import numpy as np

WORKLOADS = ("xor", "mlp", "cnn")
N_BATCHES = 10

XOR_X = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [0], [1], [1]], dtype=np.float32)

DEFAULT_BATCH = {"xor": 4, "mlp": 128, "cnn": 64}
DEFAULT_HIDDEN = {"mlp": (256, 128), "cnn": (128,)}

# Per-workload default step counts: (warmup, timed). Every implementation runs warmup + timed
# steps (xor 1000, mlp 100, cnn 50 by default) and reports as its final loss the mean loss over
# the last pass through the batches (the last 10 steps; xor: the last step), so the losses are
# compared at the same step everywhere and single-batch noise does not dominate the comparison.
DEFAULT_STEPS = {"xor": (50, 950), "mlp": (10, 90), "cnn": (5, 45)}
QUICK_STEPS = {"xor": (10, 190), "mlp": (3, 17), "cnn": (2, 8)}


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Keras/TF ``glorot_uniform``: U(-l, l), l = sqrt(6 / (fan_in + fan_out)), float32."""
    if len(shape) == 2:
        fan_in, fan_out = shape
    else:  # conv filter HWIO: receptive field times channels
        receptive = int(np.prod(shape[:-2]))
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Independent streams for weights, inputs and the teacher, so that changing the batch size
    (bench/scaling.py) changes neither the initial weights nor the teacher."""
    return (
        np.random.default_rng([seed, 1]),
        np.random.default_rng([seed, 2]),
        np.random.default_rng([seed, 3]),
    )


def _teacher_batches(
    rng_data: np.random.Generator,
    rng_teacher: np.random.Generator,
    n_batches: int,
    batch_size: int,
    x_shape: tuple[int, ...],
    n_classes: int = 10,
) -> list[tuple[np.ndarray, np.ndarray]]:
    n_in = int(np.prod(x_shape))
    w_teacher = rng_teacher.standard_normal((n_in, n_classes)).astype(np.float32)
    batches = []
    for _ in range(n_batches):
        x = rng_data.random((batch_size, *x_shape), dtype=np.float32)
        y = np.argmax((x.reshape(batch_size, n_in) - 0.5) @ w_teacher, axis=1).astype(np.int64)
        batches.append((x, y))
    return batches


def make_workload(
    name: str,
    seed: int = 0,
    batch_size: int | None = None,
    hidden: tuple[int, ...] | None = None,
    n_batches: int = N_BATCHES,
) -> dict:
    """Build one workload.

    Returns a dict with:
      name, batch_size, loss ("sse" or "sparse_softmax_ce"),
      optimizer: {"name": "sgd"|"adam"|"momentum", "lr": ..., ...},
      batches: list of (x, y) numpy arrays (x float32; y float32 [N,1] for xor, int64 [N] else),
      weights: dict name -> float32 array, in the fixed order the model uses them,
      hidden: hidden widths (mlp, cnn).
    """
    rng_w, rng_data, rng_teacher = _rngs(seed)
    if name == "xor":
        weights = {
            "w1": rng_w.uniform(0.1, 0.9, size=(2, 3)).astype(np.float32),
            "b1": rng_w.uniform(0.1, 0.9, size=(3,)).astype(np.float32),
            "w2": rng_w.uniform(0.1, 0.9, size=(3, 1)).astype(np.float32),
            "b2": rng_w.uniform(0.1, 0.9, size=(1,)).astype(np.float32),
        }
        # Full batch: the same 4 rows every step (one batch, cycled).
        return {
            "name": "xor",
            "batch_size": 4,
            "loss": "sse",
            "optimizer": {"name": "sgd", "lr": 1.0},
            "batches": [(XOR_X.copy(), XOR_Y.copy())],
            "weights": weights,
            "hidden": (3,),
        }
    if name == "mlp":
        bs = batch_size or DEFAULT_BATCH["mlp"]
        h1, h2 = hidden or DEFAULT_HIDDEN["mlp"]
        dims = [(784, h1), (h1, h2), (h2, 10)]
        weights = {}
        for i, (d_in, d_out) in enumerate(dims, start=1):
            weights[f"w{i}"] = glorot_uniform(rng_w, (d_in, d_out))
            weights[f"b{i}"] = np.zeros((d_out,), np.float32)
        return {
            "name": "mlp",
            "batch_size": bs,
            "loss": "sparse_softmax_ce",
            "optimizer": {"name": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
            "batches": _teacher_batches(rng_data, rng_teacher, n_batches, bs, (784,)),
            "weights": weights,
            "hidden": (h1, h2),
        }
    if name == "cnn":
        bs = batch_size or DEFAULT_BATCH["cnn"]
        (dense,) = hidden or DEFAULT_HIDDEN["cnn"]
        weights = {
            "c1": glorot_uniform(rng_w, (3, 3, 1, 32)),
            "cb1": np.zeros((32,), np.float32),
            "c2": glorot_uniform(rng_w, (3, 3, 32, 64)),
            "cb2": np.zeros((64,), np.float32),
            "w3": glorot_uniform(rng_w, (5 * 5 * 64, dense)),
            "b3": np.zeros((dense,), np.float32),
            "w4": glorot_uniform(rng_w, (dense, 10)),
            "b4": np.zeros((10,), np.float32),
        }
        return {
            "name": "cnn",
            "batch_size": bs,
            "loss": "sparse_softmax_ce",
            "optimizer": {"name": "momentum", "lr": 0.01, "momentum": 0.9},
            "batches": _teacher_batches(rng_data, rng_teacher, n_batches, bs, (28, 28, 1)),
            "weights": weights,
            "hidden": (dense,),
        }
    raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(WORKLOADS)}")


def fingerprint(wl: dict) -> str:
    """A short checksum of a workload's weights and data, to show all implementations agree."""
    import hashlib

    h = hashlib.sha256()
    for k, v in wl["weights"].items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes())
    for x, y in wl["batches"]:
        h.update(np.ascontiguousarray(x).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:12]


if __name__ == "__main__":
    for wname in WORKLOADS:
        w = make_workload(wname)
        x0, y0 = w["batches"][0]
        shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in w["weights"].items())
        print(f"{wname}: x{list(x0.shape)} y{list(y0.shape)} {y0.dtype} | {shapes} | {fingerprint(w)}")
        if w["loss"] == "sparse_softmax_ce":
            counts = np.bincount(np.concatenate([b[1] for b in w["batches"]]), minlength=10)
            print(f"  label counts over all batches: {counts.tolist()}")
