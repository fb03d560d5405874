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

WORKLOADS = ("xor", "mlp", "cnn", "mlp1024", "resnet", "lstm", "transformer")
N_BATCHES = 10

XOR_X = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=np.float32)
XOR_Y = np.array([[0], [0], [1], [1]], dtype=np.float32)

DEFAULT_BATCH = {"xor": 4, "mlp": 128, "cnn": 64, "mlp1024": 1024, "resnet": 128, "lstm": 64, "transformer": 32}
# hidden: mlp/mlp1024 the two dense widths; cnn the dense width; resnet the three stage widths;
# lstm the hidden size; transformer the model width (the FFN is 4x, 4 heads). bench/scaling.py varies it.
DEFAULT_HIDDEN = {
    "mlp": (256, 128),
    "mlp1024": (256, 128),
    "cnn": (128,),
    "resnet": (16, 32, 64),
    "lstm": (128,),
    "transformer": (128,),
}
# The model a workload trains (mlp1024 is the mlp at batch 1024); implementations dispatch on it.
MODEL = {"mlp1024": "mlp"}

# Sequence workloads: lstm reads LSTM_STEPS x LSTM_FEATURES floats; transformer SEQ_LEN token ids
# in [0, VOCAB). Fixed (not varied by bench/scaling.py).
LSTM_STEPS, LSTM_FEATURES = 64, 32
SEQ_LEN, VOCAB, N_HEADS = 64, 256, 4
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99  # tf.layers.batch_normalization's defaults
LN_EPSILON = 1e-5  # torch.nn.LayerNorm's default; written out in every implementation

# Per-workload default step counts: (warmup, timed). Every implementation runs warmup + timed
# steps (xor 1000, mlp 100, cnn 50 by default) and reports as its final loss the mean loss over
# the last pass through the batches (the last 10 steps; xor: the last step), so the losses are
# compared at the same step everywhere and single-batch noise does not dominate the comparison.
DEFAULT_STEPS = {
    "xor": (50, 950),
    "mlp": (10, 90),
    "cnn": (5, 45),
    "mlp1024": (5, 45),
    "resnet": (2, 18),
    "lstm": (5, 35),
    "transformer": (5, 35),
}
QUICK_STEPS = {
    "xor": (10, 190),
    "mlp": (3, 17),
    "cnn": (2, 8),
    "mlp1024": (2, 4),
    "resnet": (1, 2),
    "lstm": (1, 3),
    "transformer": (1, 3),
}


def model_of(name: str) -> str:
    """The model a workload trains: its own name, except mlp1024 (the mlp at batch 1024)."""
    return MODEL.get(name, name)


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
      hidden: hidden widths (mlp, cnn), stage widths (resnet), hidden size (lstm), width (transformer),
      model: the model to build (``model_of(name)``),
      blocks (resnet only): [(prefix, in_channels, out_channels, stride)] of the residual blocks.
    """
    wl = _make(name, seed, batch_size, hidden, n_batches)
    wl["name"] = name
    wl["model"] = model_of(name)
    return wl


def _make(name: str, seed: int, batch_size: int | None, hidden: tuple[int, ...] | None, n_batches: int) -> dict:
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
    if name in ("mlp", "mlp1024"):
        bs = batch_size or DEFAULT_BATCH[name]
        h1, h2 = hidden or DEFAULT_HIDDEN[name]
        dims = [(784, h1), (h1, h2), (h2, 10)]
        weights = {}
        for i, (d_in, d_out) in enumerate(dims, start=1):
            weights[f"w{i}"] = glorot_uniform(rng_w, (d_in, d_out))
            weights[f"b{i}"] = np.zeros((d_out,), np.float32)
        return {
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
    if name == "resnet":
        return _resnet(rng_w, rng_data, rng_teacher, batch_size or DEFAULT_BATCH["resnet"],
                       hidden or DEFAULT_HIDDEN["resnet"], n_batches)
    if name == "lstm":
        bs = batch_size or DEFAULT_BATCH["lstm"]
        (h,) = hidden or DEFAULT_HIDDEN["lstm"]
        weights = {
            # TF's fused LSTM kernel: rows [x; h], columns the gates i, j, f, o (j: the candidate).
            "kernel": glorot_uniform(rng_w, (LSTM_FEATURES + h, 4 * h)),
            "bias": np.zeros((4 * h,), np.float32),
            "w": glorot_uniform(rng_w, (h, 10)),
            "b": np.zeros((10,), np.float32),
        }
        return {
            "batch_size": bs,
            "loss": "sparse_softmax_ce",
            "optimizer": _ADAM,
            "batches": _teacher_batches(rng_data, rng_teacher, n_batches, bs, (LSTM_STEPS, LSTM_FEATURES)),
            "weights": weights,
            "hidden": (h,),
        }
    if name == "transformer":
        bs = batch_size or DEFAULT_BATCH["transformer"]
        (d,) = hidden or DEFAULT_HIDDEN["transformer"]
        if d % N_HEADS:
            raise ValueError(f"transformer width {d} is not a multiple of {N_HEADS} heads")
        return {
            "batch_size": bs,
            "loss": "sparse_softmax_ce",
            "optimizer": _ADAM,
            "batches": _token_batches(rng_data, rng_teacher, n_batches, bs),
            "weights": _transformer_weights(rng_w, d),
            "hidden": (d,),
        }
    raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(WORKLOADS)}")


_ADAM = {"name": "adam", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
TRANSFORMER_BLOCKS = 2


def _resnet(rng_w, rng_data, rng_teacher, bs: int, widths: tuple[int, ...], n_batches: int) -> dict:
    """A CIFAR-style ResNet: stem conv3x3 + BN + relu; stage 1 two basic blocks at widths[0];
    each further stage one block whose first conv has stride 2 and whose shortcut is conv1x1
    stride 2 + BN; global average pool; dense 10. Convs carry no bias (BN follows)."""
    c1, c2, c3 = widths
    blocks = [("s1b1", c1, c1, 1), ("s1b2", c1, c1, 1), ("s2b1", c1, c2, 2), ("s3b1", c2, c3, 2)]
    weights: dict[str, np.ndarray] = {}

    def bn(prefix: str, c: int) -> None:
        weights[f"{prefix}/gamma"] = np.ones((c,), np.float32)
        weights[f"{prefix}/beta"] = np.zeros((c,), np.float32)

    weights["stem/conv"] = glorot_uniform(rng_w, (3, 3, 3, c1))
    bn("stem/bn", c1)
    for prefix, cin, cout, stride in blocks:
        weights[f"{prefix}/conv1"] = glorot_uniform(rng_w, (3, 3, cin, cout))
        bn(f"{prefix}/bn1", cout)
        weights[f"{prefix}/conv2"] = glorot_uniform(rng_w, (3, 3, cout, cout))
        bn(f"{prefix}/bn2", cout)
        if stride != 1 or cin != cout:
            weights[f"{prefix}/proj"] = glorot_uniform(rng_w, (1, 1, cin, cout))
            bn(f"{prefix}/bnp", cout)
    weights["dense/w"] = glorot_uniform(rng_w, (c3, 10))
    weights["dense/b"] = np.zeros((10,), np.float32)
    return {
        "batch_size": bs,
        "loss": "sparse_softmax_ce",
        "optimizer": {"name": "momentum", "lr": 0.05, "momentum": 0.9},
        "batches": _teacher_batches(rng_data, rng_teacher, n_batches, bs, (32, 32, 3)),
        "weights": weights,
        "hidden": tuple(widths),
        "blocks": blocks,
    }


def _transformer_weights(rng_w, d: int) -> dict[str, np.ndarray]:
    """Token and learned position embeddings, TRANSFORMER_BLOCKS pre-norm blocks (LN, 4-head
    self-attention with q/k/v/o projections, LN, FFN d-4d-d relu; all dense layers with bias),
    a final LN and the dense 10 head. LN scales start at 1, offsets and biases at 0."""
    w: dict[str, np.ndarray] = {
        "tok_emb": glorot_uniform(rng_w, (VOCAB, d)),
        "pos_emb": glorot_uniform(rng_w, (SEQ_LEN, d)),
    }

    def ln(prefix: str) -> None:
        w[f"{prefix}/gamma"] = np.ones((d,), np.float32)
        w[f"{prefix}/beta"] = np.zeros((d,), np.float32)

    def dense(prefix: str, d_in: int, d_out: int) -> None:
        w[f"{prefix}/w"] = glorot_uniform(rng_w, (d_in, d_out))
        w[f"{prefix}/b"] = np.zeros((d_out,), np.float32)

    for i in range(TRANSFORMER_BLOCKS):
        ln(f"b{i}/ln1")
        for proj in ("q", "k", "v", "o"):
            dense(f"b{i}/{proj}", d, d)
        ln(f"b{i}/ln2")
        dense(f"b{i}/ffn1", d, 4 * d)
        dense(f"b{i}/ffn2", 4 * d, d)
    ln("lnf")
    dense("out", d, 10)
    return w


def _token_batches(
    rng_data: np.random.Generator, rng_teacher: np.random.Generator, n_batches: int, batch_size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Token ids uniform in [0, VOCAB), int64 [batch, SEQ_LEN]; label = argmax of the sum over the
    sequence of a fixed standard-normal teacher row per token (a bag-of-tokens teacher). The
    teacher's columns are centred over the vocabulary, for the reason the inputs are centred
    for the linear teacher: otherwise the class with the largest column sum labels most rows."""
    teacher = rng_teacher.standard_normal((VOCAB, 10)).astype(np.float32)
    teacher -= teacher.mean(axis=0, keepdims=True)
    batches = []
    for _ in range(n_batches):
        ids = rng_data.integers(0, VOCAB, size=(batch_size, SEQ_LEN), dtype=np.int64)
        y = np.argmax(teacher[ids].sum(axis=1), axis=1).astype(np.int64)
        batches.append((ids, y))
    return batches


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
