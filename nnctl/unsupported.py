"""What ``tf.<name>`` says when nnctl does not have ``name``.

A TF1 program that reaches a name nnctl lacks gets an :class:`UnsupportedError` (an AttributeError,
so ``hasattr`` and ``getattr(tf, name, default)`` keep working) that says nnctl does not support it
yet and, where nnctl has something close, what to use instead. Python's "did you mean" guess is not
offered: it would point at an unrelated nnctl name.
"""

from __future__ import annotations

# Names with a close nnctl equivalent, or a reason. Keys are full TF paths without "tf.".
ALTERNATIVES: dict[str, str] = {
    "contrib": "the TF1 core API (tf.layers, tf.nn, tf.train); tf.contrib is not part of nnctl",
    "keras": "tf.layers for layers, or an nnctl YAML config for a whole model (`nnctl train`)",
    "estimator": "a Session loop, or `nnctl train CONFIG`",
    "data": "feed numpy batches through feed_dict (or use nnctl's YAML data section)",
    "enable_eager_execution": "graph mode: nnctl is a TF1 graph engine (build, then Session.run)",
    "py_func": "compute in numpy between Session.run calls",
    "numpy_function": "compute in numpy between Session.run calls",
    "string": "numeric dtypes (float16/32/64, int8/16/32/64, uint8, bool)",
    "sparse": "dense tensors",
    "SparseTensor": "dense tensors",
    "feature_column": "nnctl's YAML data section (per-column preprocessing)",
    "saved_model": "tf.train.Saver, or `nnctl freeze` for a deployable file",
    "lite": "`nnctl export` (ONNX)",
    "image": "numpy preprocessing before feeding",
    "distribute": "`nnctl train` (data-parallel training is configured in YAML)",
    "tpu": "the numpy or cupy backend (tf.Session(backend=...))",
    "FIFOQueue": "feed_dict",
    "train.string_input_producer": "feed_dict",
    "train.shuffle_batch": "feed_dict with numpy shuffling",
    "train.batch": "feed_dict",
    "train.start_queue_runners": "feed_dict",
    "train.Coordinator": "feed_dict (no queue runners in nnctl)",
    "train.MonitoredTrainingSession": "tf.Session with a loop, tf.train.Saver for checkpoints",
    "train.Supervisor": "tf.Session with a loop, tf.train.Saver for checkpoints",
    "nn.ctc_loss": "no CTC in nnctl yet",
}


class UnsupportedError(AttributeError):
    """``tf.<name>`` that nnctl does not provide (yet)."""


def missing(namespace: str, name: str) -> UnsupportedError:
    """The error for ``<namespace>.<name>`` (namespace like ``"tf"`` or ``"tf.nn"``)."""
    path = f"{namespace}.{name}"
    key = path[3:] if path.startswith("tf.") else path
    alt = ALTERNATIVES.get(key) or ALTERNATIVES.get(key.split(".")[0] if "." in key else "")
    msg = f"{path} is not supported by nnctl (yet)"
    if alt:
        msg += f"; use {alt}" if not alt.startswith(("no ", "graph mode")) else f"; {alt}"
    msg += ". The supported API is listed in docs/api.md"
    return UnsupportedError(msg)
