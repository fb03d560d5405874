"""The three workloads written against nnctl's TensorFlow-1 API, exactly as a TF1 user would.

``import nnctl as tf`` by default. With ``NNCTL_BENCH_BACKEND=tf`` the same code runs on real
TensorFlow (``tensorflow.compat.v1`` with v2 behaviour disabled, or a TF 1.x ``tensorflow``),
which is how the TF1 semantics of this file can be checked against the original.

Every step is ``_, l = sess.run([train, loss], feed_dict={x: xb, y: yb}); float(l)``; the XOR
batch is fed through placeholders too, like every other batch.

    python bench/nnctl_bench.py --workload cnn --steps 50 --json
    NNCTL_BENCH_BACKEND=tf python bench/nnctl_bench.py --workload cnn
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import harness

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
}


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


MODELS = {"xor": build_xor, "mlp": build_mlp, "cnn": build_cnn}


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
    x, y, loss = MODELS[wl["name"]](tf, wl)
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
