"""``tf.summary``: TensorFlow 1's summary API on nnctl's graph, written as TensorBoard event files.

Summary ops are graph nodes: ``tf.summary.scalar("loss", loss)`` adds a ``ScalarSummary`` op whose
value, when run, is a serialized ``Summary`` protocol buffer (``bytes``, dtype ``tf.string``), and
records it in the ``summaries`` collection. ``merge`` / ``merge_all`` combine serialized summaries
into one. ``FileWriter(logdir, graph=...)`` writes them (``add_summary(bytes_or_proto, step)``),
and the graph (``add_graph``) for TensorBoard's graph dashboard. So a TF1 program such as::

    tf.summary.scalar("loss", loss)
    tf.summary.histogram("w", w)
    merged = tf.summary.merge_all()
    writer = tf.summary.FileWriter("logs", sess.graph)
    for step in ...:
        s, _ = sess.run([merged, train_op], feed)
        writer.add_summary(s, step)
    writer.close()

runs unchanged. Summary ops are stateful (never folded or merged by CSE) and not differentiable.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.events.tbx import tbx
from nnctl.graph import registry
from nnctl.graph.graph import GraphKeys, get_default_graph
from nnctl.ops.core import convert_to_tensor, make_op

__all__ = ["FileWriter", "FileWriterCache", "Summary", "histogram", "image", "merge", "merge_all", "scalar", "text"]


def _proto_bytes(s: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = s.SerializeToString()
    return out


def _tag(name: str, family: str | None) -> str:
    """The summary tag: the op's name scope + name (TF1 prefixes the enclosing scopes)."""
    scope = get_default_graph().get_name_scope() if hasattr(get_default_graph(), "get_name_scope") else ""
    base = f"{family}/{name}" if family else name
    return f"{scope}/{base}" if scope else base


def _add(op_type: str, name: str, inputs: list, attrs: dict, collections: list[str] | None) -> Any:
    t = make_op(op_type, inputs, shape=(), dtype=dtypes.string, attrs=attrs, name=name)
    for c in (collections if collections is not None else [GraphKeys.SUMMARIES]):
        get_default_graph().add_to_collection(c, t)
    return t


def scalar(name: str, tensor: Any, collections: list[str] | None = None, family: str | None = None) -> Any:
    """A Summary with one ``simple_value``: ``tensor`` must hold a single number."""
    x = convert_to_tensor(tensor)
    return _add("ScalarSummary", name, [x], {"tag": _tag(name, family)}, collections)


def histogram(name: str, values: Any, collections: list[str] | None = None, family: str | None = None) -> Any:
    """A histogram of every element of ``values`` (TensorFlow's default buckets)."""
    x = convert_to_tensor(values)
    return _add("HistogramSummary", name, [x], {"tag": _tag(name, family)}, collections)


def image(name: str, tensor: Any, max_outputs: int = 3, collections: list[str] | None = None,
          family: str | None = None) -> Any:
    """PNG images from ``tensor`` [batch, height, width, 1|3|4] (floats in [0, 1], or uint8)."""
    x = convert_to_tensor(tensor)
    shp = x.static_shape
    if shp is not None and (len(shp) != 4 or shp[-1] not in (1, 3, 4, None)):
        raise ValueError(f"tf.summary.image {name!r}: expected a 4-D tensor [batch, height, width, 1|3|4], got "
                         f"shape {list(shp)}")
    return _add("ImageSummary", name, [x], {"tag": _tag(name, family), "max_images": int(max_outputs)},
                collections)


def text(name: str, tensor: Any, collections: list[str] | None = None) -> Any:
    """A text summary (TensorBoard's text dashboard) of a Python string or of a tensor's values."""
    if isinstance(tensor, (str, bytes)):
        value = tensor.decode("utf-8", errors="replace") if isinstance(tensor, bytes) else tensor
        return _add("TensorSummary", name, [], {"tag": _tag(name, None), "text": value}, collections)
    return _add("TensorSummary", name, [convert_to_tensor(tensor)], {"tag": _tag(name, None)}, collections)


def merge(inputs: list, collections: list[str] | None = None, name: str | None = None) -> Any:
    """One serialized Summary holding the values of every summary in ``inputs``."""
    ts = [convert_to_tensor(t) for t in inputs]
    for t in ts:
        if t.dtype != dtypes.string:
            raise TypeError(f"tf.summary.merge: {t.name} is not a summary (dtype {t.dtype.name}, expected string)")
    t = make_op("MergeSummary", ts, shape=(), dtype=dtypes.string, name=name or "Merge/MergeSummary")
    for c in collections or []:
        get_default_graph().add_to_collection(c, t)
    return t


def merge_all(key: str = GraphKeys.SUMMARIES, scope: str | None = None, name: str | None = None) -> Any:
    """``merge`` of the collection ``key`` (default: every summary op), or None when it is empty."""
    items = get_default_graph().get_collection(key)
    if scope:
        items = [t for t in items if t.op.name.startswith(scope)]
    if not items:
        return None
    return merge(items, name=name)


# --- kernels ---------------------------------------------------------------------------------------

@registry.register_kernel("ScalarSummary", stateful=True, out=False)
def _scalar_kernel(op: Any, ctx: Any) -> Any:
    from nnctl.events import scalar_summary
    tag = op.attrs["tag"]

    def run(x: Any, out: Any = None) -> Any:
        v = np.asarray(x)
        if v.size != 1:
            from nnctl.errors import InvalidArgumentError
            raise InvalidArgumentError(None, op, f"tf.summary.scalar {tag!r}: expected a single value, got shape "
                                                 f"{list(v.shape)}")
        return _proto_bytes(scalar_summary(tag, float(v.reshape(-1)[0])))
    return run


@registry.register_kernel("HistogramSummary", stateful=True, out=False)
def _histogram_kernel(op: Any, ctx: Any) -> Any:
    from nnctl.events import histogram_summary
    tag = op.attrs["tag"]

    def run(x: Any, out: Any = None) -> Any:
        return _proto_bytes(histogram_summary(tag, np.asarray(x)))
    return run


@registry.register_kernel("ImageSummary", stateful=True, out=False)
def _image_kernel(op: Any, ctx: Any) -> Any:
    from nnctl.events import image_summary
    tag, k = op.attrs["tag"], op.attrs["max_images"]

    def run(x: Any, out: Any = None) -> Any:
        return _proto_bytes(image_summary(tag, np.asarray(x), k))
    return run


@registry.register_kernel("TensorSummary", stateful=True, out=False)
def _text_kernel(op: Any, ctx: Any) -> Any:
    from nnctl.events import text_summary
    tag, fixed = op.attrs["tag"], op.attrs.get("text")

    def run(*xs: Any, out: Any = None) -> Any:
        if fixed is not None:
            return _proto_bytes(text_summary(tag, fixed))
        v = np.asarray(xs[0])
        value = v[()] if v.ndim == 0 else " ".join(str(e) for e in v.reshape(-1))
        return _proto_bytes(text_summary(tag, value))
    return run


@registry.register_kernel("MergeSummary", stateful=True, out=False)
def _merge_kernel(op: Any, ctx: Any) -> Any:
    Summary = tbx("proto.summary_pb2").Summary

    def run(*xs: Any, out: Any = None) -> Any:
        merged = Summary()
        for x in xs:
            s = Summary()
            s.ParseFromString(bytes(np.asarray(x)[()]))
            merged.value.extend(s.value)
        return _proto_bytes(merged)
    return run


for _t in ("ScalarSummary", "HistogramSummary", "ImageSummary", "TensorSummary", "MergeSummary"):
    registry.not_differentiable(_t)


# --- writing ---------------------------------------------------------------------------------------

def _summary_class() -> Any:
    return tbx("proto.summary_pb2").Summary


class _SummaryProxy:
    """``tf.summary.Summary``: the protocol buffer class (``Summary(value=[Summary.Value(...)])``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_summary_class(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _summary_class()(*args, **kwargs)


Summary = _SummaryProxy()


class FileWriter:
    """``tf.summary.FileWriter``: an event file in ``logdir`` for summaries and the graph."""

    def __init__(self, logdir: str | os.PathLike, graph: Any = None, max_queue: int = 10, flush_secs: float = 120,
                 graph_def: Any = None, filename_suffix: str | None = None, session: Any = None) -> None:
        from nnctl.events import EventWriter
        self._logdir = str(logdir)
        self._w = EventWriter(self._logdir, flush_secs=flush_secs, filename_suffix=filename_suffix or "")
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self) -> str:
        return self._logdir

    def add_summary(self, summary: Any, global_step: int | None = None) -> None:
        """``summary``: the bytes a summary op returned, or a Summary proto."""
        if summary is None:
            raise TypeError("FileWriter.add_summary: summary is None (tf.summary.merge_all() returns None when the "
                            "graph has no summary ops)")
        self._w.add_summary(summary, None if global_step is None else int(global_step))

    def add_graph(self, graph: Any, global_step: int | None = None, graph_def: Any = None) -> None:
        """The graph (a tf.Graph, or a Session's ``sess.graph``) for TensorBoard's graph dashboard."""
        from nnctl.events import graph_def as to_graph_def
        if graph_def is None:
            g = getattr(graph, "graph", graph)  # a Session passed by mistake still works, as in TF1
            graph_def = to_graph_def(g)
        self._w.add_graph_def(graph_def)

    def add_event(self, event: Any) -> None:
        self._w._w.add_event(event)

    def add_session_log(self, session_log: Any, global_step: int | None = None) -> None:
        Event = tbx("proto.event_pb2").Event
        self._w._w.add_event(Event(session_log=session_log), global_step)

    def flush(self) -> None:
        self._w.flush()

    def close(self) -> None:
        self._w.close()

    def reopen(self) -> None:
        self._w._w.reopen()
        self._w._closed = False

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class FileWriterCache:
    """``tf.summary.FileWriterCache``: one FileWriter per logdir."""

    _cache: dict[str, FileWriter] = {}

    @classmethod
    def get(cls, logdir: str | os.PathLike) -> FileWriter:
        key = str(logdir)
        if key not in cls._cache:
            cls._cache[key] = FileWriter(key)
        return cls._cache[key]

    @classmethod
    def clear(cls) -> None:
        for w in cls._cache.values():
            w.close()
        cls._cache.clear()
