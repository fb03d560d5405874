"""The workloads written against nnctl's TensorFlow-1 API, exactly as a TF1 user would.

``import nnctl as tf`` by default. With ``NNCTL_BENCH_BACKEND=tf`` the same code runs on real
TensorFlow (``tensorflow.compat.v1`` with v2 behaviour disabled, or a TF 1.x ``tensorflow``),
which is how the TF1 semantics of this file can be checked against the original.

Every step is ``_, l = sess.run([train, loss], feed_dict={x: xb, y: yb}); float(l)``; the XOR
batch is fed through placeholders too, like every other batch. Layers that own their variables
(``tf.layers.batch_normalization``, ``tf.nn.rnn_cell.LSTMCell``) get the shared initial values
through ``tf.constant_initializer``; the batch-norm moving averages are updated through
``tf.GraphKeys.UPDATE_OPS`` as control dependencies of the train op, the TF1 idiom.

    python bench/nnctl_bench.py --workload cnn --steps 50 --json
    NNCTL_BENCH_BACKEND=tf python bench/nnctl_bench.py --workload cnn
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import harness
import numpy as np
from workloads import BN_EPSILON, BN_MOMENTUM, LN_EPSILON, LSTM_FEATURES, LSTM_STEPS, N_HEADS, SEQ_LEN

# Run from a checkout, the working tree's nnctl is found even when the package is not installed
# (an installed nnctl, e.g. the editable install `make bench` makes, comes first on sys.path).
sys.path.append(str(Path(__file__).resolve().parent.parent))

BACKEND = os.environ.get("NNCTL_BENCH_BACKEND", "nnctl").strip().lower() or "nnctl"


# The TF1 API this file uses, per workload: missing names mean "nnctl not ready" (unavailable),
# which the runner reports without failing the other implementations.
COMMON_API = "float32 int64 placeholder Variable Session matmul set_random_seed global_variables_initializer"
API = {
    "xor": f"{COMMON_API} sigmoid square reduce_sum train.GradientDescentOptimizer",
    "mlp": f"{COMMON_API} nn.relu reduce_mean nn.sparse_softmax_cross_entropy_with_logits"
    " train.AdamOptimizer",
    "cnn": f"{COMMON_API} nn.relu nn.conv2d nn.bias_add nn.max_pool2d reshape reduce_mean"
    " nn.sparse_softmax_cross_entropy_with_logits train.MomentumOptimizer",
    "resnet": f"{COMMON_API} nn.relu nn.conv2d layers.batch_normalization constant_initializer"
    " GraphKeys.UPDATE_OPS get_collection control_dependencies reduce_mean"
    " nn.sparse_softmax_cross_entropy_with_logits train.MomentumOptimizer",
    "lstm": f"{COMMON_API} nn.rnn_cell.LSTMCell nn.dynamic_rnn constant_initializer reduce_mean"
    " nn.sparse_softmax_cross_entropy_with_logits train.AdamOptimizer",
    "transformer": f"{COMMON_API} nn.embedding_lookup nn.moments rsqrt reshape transpose nn.softmax"
    " nn.relu reduce_mean nn.sparse_softmax_cross_entropy_with_logits train.AdamOptimizer",
}
API["mlp1024"] = API["mlp"]


def _missing_api(tf, workload: str) -> list[str]:
    missing = []
    for dotted in API[workload].split():
        obj = tf
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                missing.append(f"tf.{dotted}")
                break
    return missing


def load_tf(workload: str):
    """The TF1-style module under test: nnctl, or real TensorFlow for a cross-check."""
    if BACKEND == "nnctl":
        try:
            import nnctl as tf
        except Exception as e:  # noqa: BLE001 - any import failure means "unavailable"
            raise harness.Unavailable(f"import nnctl: {type(e).__name__}: {e}") from e
        if getattr(tf, "__file__", None) is None:
            raise harness.Unavailable("nnctl not ready: the package has no __init__.py yet")
        missing = _missing_api(tf, workload)
        if missing:
            raise harness.Unavailable(f"nnctl not ready: no {', '.join(missing)}")
        return tf
    if BACKEND in ("tf", "tensorflow", "tf1"):
        try:
            import tensorflow.compat.v1 as tf

            tf.disable_v2_behavior()
        except ImportError:
            try:
                import tensorflow as tf  # a TensorFlow 1.x install
            except Exception as e:  # noqa: BLE001
                raise harness.Unavailable(f"import tensorflow: {type(e).__name__}: {e}") from e
        except Exception as e:  # noqa: BLE001
            raise harness.Unavailable(f"import tensorflow: {type(e).__name__}: {e}") from e
        return tf
    raise harness.Unavailable(f"unknown NNCTL_BENCH_BACKEND={BACKEND!r} (use nnctl or tf)")


def build_xor(tf, wl):
    w = wl["weights"]
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    y = tf.placeholder(tf.float32, [None, 1], name="y")
    w1 = tf.Variable(w["w1"], name="w1", dtype=tf.float32)
    b1 = tf.Variable(w["b1"], name="b1", dtype=tf.float32)
    w2 = tf.Variable(w["w2"], name="w2", dtype=tf.float32)
    b2 = tf.Variable(w["b2"], name="b2", dtype=tf.float32)
    h = tf.sigmoid(tf.matmul(x, w1) + b1)
    y_out = tf.sigmoid(tf.matmul(h, w2) + b2)
    loss = tf.reduce_sum(tf.square(y - y_out))
    return x, y, loss


def build_mlp(tf, wl):
    w = wl["weights"]
    x = tf.placeholder(tf.float32, [None, 784], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    w1 = tf.Variable(w["w1"], name="w1", dtype=tf.float32)
    b1 = tf.Variable(w["b1"], name="b1", dtype=tf.float32)
    w2 = tf.Variable(w["w2"], name="w2", dtype=tf.float32)
    b2 = tf.Variable(w["b2"], name="b2", dtype=tf.float32)
    w3 = tf.Variable(w["w3"], name="w3", dtype=tf.float32)
    b3 = tf.Variable(w["b3"], name="b3", dtype=tf.float32)
    h1 = tf.nn.relu(tf.matmul(x, w1) + b1)
    h2 = tf.nn.relu(tf.matmul(h1, w2) + b2)
    logits = tf.matmul(h2, w3) + b3
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss


def build_cnn(tf, wl):
    w = wl["weights"]
    flat_dim = w["w3"].shape[0]  # 5 * 5 * 64 = 1600
    x = tf.placeholder(tf.float32, [None, 28, 28, 1], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    c1 = tf.Variable(w["c1"], name="c1", dtype=tf.float32)  # HWIO [3, 3, 1, 32]
    cb1 = tf.Variable(w["cb1"], name="cb1", dtype=tf.float32)
    c2 = tf.Variable(w["c2"], name="c2", dtype=tf.float32)  # HWIO [3, 3, 32, 64]
    cb2 = tf.Variable(w["cb2"], name="cb2", dtype=tf.float32)
    w3 = tf.Variable(w["w3"], name="w3", dtype=tf.float32)
    b3 = tf.Variable(w["b3"], name="b3", dtype=tf.float32)
    w4 = tf.Variable(w["w4"], name="w4", dtype=tf.float32)
    b4 = tf.Variable(w["b4"], name="b4", dtype=tf.float32)
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, c1, strides=1, padding="VALID"), cb1))  # 26x26x32
    h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")  # 13x13x32
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, c2, strides=1, padding="VALID"), cb2))  # 11x11x64
    h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")  # 5x5x64
    h = tf.reshape(h, [-1, flat_dim])  # NHWC order
    h = tf.nn.relu(tf.matmul(h, w3) + b3)
    logits = tf.matmul(h, w4) + b4
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss


def build_resnet(tf, wl):
    """Convs SAME without bias, each followed by tf.layers.batch_normalization in training mode
    (batch statistics; moving averages updated through UPDATE_OPS)."""
    w = wl["weights"]
    x = tf.placeholder(tf.float32, [None, 32, 32, 3], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")

    def conv(h, key: str, stride: int):
        k = tf.Variable(w[key], name=key.replace("/", "_"), dtype=tf.float32)  # HWIO
        return tf.nn.conv2d(h, k, strides=stride, padding="SAME")

    def bn(h, prefix: str):
        return tf.layers.batch_normalization(
            h, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, training=True, name=prefix.replace("/", "_"),
            gamma_initializer=tf.constant_initializer(w[prefix + "/gamma"]),
            beta_initializer=tf.constant_initializer(w[prefix + "/beta"]),
        )  # fmt: skip

    h = tf.nn.relu(bn(conv(x, "stem/conv", 1), "stem/bn"))
    for prefix, _cin, _cout, stride in wl["blocks"]:
        r = tf.nn.relu(bn(conv(h, f"{prefix}/conv1", stride), f"{prefix}/bn1"))
        r = bn(conv(r, f"{prefix}/conv2", 1), f"{prefix}/bn2")
        if f"{prefix}/proj" in w:  # downsampling shortcut: conv1x1 stride 2 + BN
            h = bn(conv(h, f"{prefix}/proj", stride), f"{prefix}/bnp")
        h = tf.nn.relu(h + r)
    h = tf.reduce_mean(h, axis=[1, 2])  # global average pool
    dw = tf.Variable(w["dense/w"], name="dense_w", dtype=tf.float32)
    db = tf.Variable(w["dense/b"], name="dense_b", dtype=tf.float32)
    logits = tf.matmul(h, dw) + db
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss


def build_lstm(tf, wl):
    """tf.nn.dynamic_rnn over an LSTMCell (forget_bias 0: the shared weights are the whole
    story); the last step's h feeds the dense layer."""
    w = wl["weights"]
    (hidden,) = wl["hidden"]
    if np.any(w["bias"]):
        raise ValueError("LSTMCell's bias starts at zero (zeros_initializer); the workload's must too")
    x = tf.placeholder(tf.float32, [None, LSTM_STEPS, LSTM_FEATURES], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    cell = tf.nn.rnn_cell.LSTMCell(hidden, forget_bias=0.0, initializer=tf.constant_initializer(w["kernel"]))
    _outputs, state = tf.nn.dynamic_rnn(cell, x, dtype=tf.float32)
    dw = tf.Variable(w["w"], name="dense_w", dtype=tf.float32)
    db = tf.Variable(w["b"], name="dense_b", dtype=tf.float32)
    logits = tf.matmul(state.h, dw) + db
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss


def build_transformer(tf, wl):
    """Pre-norm transformer encoder: layer norm from tf.nn.moments, attention from tf.matmul and
    tf.nn.softmax; dense layers on the [batch * time, width] reshape, as TF1 code did."""
    w = wl["weights"]
    (d,) = wl["hidden"]
    n_blocks = sum(1 for k in w if k.endswith("/ln1/gamma"))
    dh = d // N_HEADS
    ids = tf.placeholder(tf.int64, [None, SEQ_LEN], name="ids")
    y = tf.placeholder(tf.int64, [None], name="y")

    def var(key: str):
        return tf.Variable(w[key], name=key.replace("/", "_"), dtype=tf.float32)

    def layer_norm(h, prefix: str):
        mean, variance = tf.nn.moments(h, axes=[2], keep_dims=True)
        return (h - mean) * tf.rsqrt(variance + LN_EPSILON) * var(prefix + "/gamma") + var(prefix + "/beta")

    def dense(h2, prefix: str):  # h2: [batch * time, width]
        return tf.matmul(h2, var(prefix + "/w")) + var(prefix + "/b")

    def heads(h2):  # [batch * time, d] -> [batch, heads, time, dh]
        return tf.transpose(tf.reshape(h2, [-1, SEQ_LEN, N_HEADS, dh]), [0, 2, 1, 3])

    h = tf.nn.embedding_lookup(var("tok_emb"), ids) + var("pos_emb")  # [batch, time, d]
    for i in range(n_blocks):
        a = tf.reshape(layer_norm(h, f"b{i}/ln1"), [-1, d])
        q, k, v = (heads(dense(a, f"b{i}/{p}")) for p in ("q", "k", "v"))
        att = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(dh)))  # [b, heads, t, t]
        o = tf.reshape(tf.transpose(tf.matmul(att, v), [0, 2, 1, 3]), [-1, d])
        h = h + tf.reshape(dense(o, f"b{i}/o"), [-1, SEQ_LEN, d])
        f = tf.reshape(layer_norm(h, f"b{i}/ln2"), [-1, d])
        f = dense(tf.nn.relu(dense(f, f"b{i}/ffn1")), f"b{i}/ffn2")
        h = h + tf.reshape(f, [-1, SEQ_LEN, d])
    pooled = tf.reduce_mean(layer_norm(h, "lnf"), axis=1)  # mean over positions
    logits = dense(pooled, "out")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return ids, y, loss


MODELS = {
    "xor": build_xor,
    "mlp": build_mlp,
    "cnn": build_cnn,
    "resnet": build_resnet,
    "lstm": build_lstm,
    "transformer": build_transformer,
}


def make_optimizer(tf, spec: dict):
    if spec["name"] == "sgd":
        return tf.train.GradientDescentOptimizer(spec["lr"])
    if spec["name"] == "momentum":
        return tf.train.MomentumOptimizer(spec["lr"], spec["momentum"])
    if spec["name"] == "adam":
        return tf.train.AdamOptimizer(
            spec["lr"], beta1=spec["beta1"], beta2=spec["beta2"], epsilon=spec["epsilon"]
        )
    raise ValueError(spec["name"])


def build(wl: dict):
    tf = load_tf(wl["name"])
    tf.set_random_seed(0)
    x, y, loss = MODELS[wl["model"]](tf, wl)
    # Batch-norm moving averages (resnet) run with every step, before the update: the TF1 idiom.
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train = make_optimizer(tf, wl["optimizer"]).minimize(loss)
    device = os.environ.get("NNCTL_BENCH_DEVICE", "").strip()  # e.g. cupy (bench/gpu.py)
    sess = tf.Session(backend=device) if device and BACKEND == "nnctl" else tf.Session()
    sess.run(tf.global_variables_initializer())
    batches = wl["batches"]
    nb = len(batches)

    def step(i: int) -> float:
        xb, yb = batches[i % nb]
        _, l = sess.run([train, loss], feed_dict={x: xb, y: yb})
        return float(l)

    info = {"backend": BACKEND, "version": getattr(tf, "__version__", None) or _dist_version(BACKEND)}
    return step, info, sess.close


def _dist_version(backend: str) -> str | None:
    try:
        from importlib.metadata import version

        return version("nnctl" if backend == "nnctl" else "tensorflow")
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    harness.main("nnctl" if BACKEND == "nnctl" else "tf1", build)
