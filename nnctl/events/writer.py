"""Summary protos and the event-file writer (tensorboardX's FileWriter underneath, imported without
torch: see nnctl.events.tbx)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from nnctl.events.tbx import tbx


def scalar_summary(tag: str, value: float) -> Any:
    Summary = tbx("proto.summary_pb2").Summary
    return Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])


def histogram_summary(tag: str, values: Any) -> Any:
    """A histogram of ``values`` encoded as tf.summary.histogram does (TensorFlow's Histogram::Add and
    EncodeToProto with preserve_zero_buckets=false, as its HistogramSummary kernel calls it).

    Value x counts in bucket i, the first whose limit is > x (``upper_bound``: limits[i-1] <= x <
    limits[i]), over TF's default limits (-DBL_MAX .. -1e-12, 0, 1e-12 .. DBL_MAX, ratio 1.1). The
    proto lists every non-empty bucket and, for each run of empty buckets, one empty bucket whose
    limit is the run's last: a 13-weight layer's histogram is a few entries, not the ~500 that the
    empty buckets between 1e-6 and 1 would take."""
    _m = tbx("proto.summary_pb2")
    HistogramProto, Summary = _m.HistogramProto, _m.Summary
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    edges = _tf_buckets()
    n = len(edges)
    counts = np.bincount(np.minimum(np.searchsorted(edges, v, side="right"), n - 1), minlength=n)
    full = counts > 0
    keep = full | np.append(full[1:], True)   # non-empty buckets, and the last bucket of each empty run
    limits, counts = edges[keep], counts[keep]
    h = HistogramProto(min=float(v.min()) if v.size else 0.0, max=float(v.max()) if v.size else 0.0,
                       num=float(v.size), sum=float(v.sum()), sum_squares=float(np.dot(v, v)),
                       bucket_limit=[float(x) for x in limits], bucket=[float(c) for c in counts])
    return Summary(value=[Summary.Value(tag=tag, histo=h)])


_BUCKETS: np.ndarray | None = None


def _tf_buckets() -> np.ndarray:
    """TensorFlow's histogram bucket limits: +-1e-12 * 1.1^k up to 1e20, with 0 and +-DBL_MAX."""
    global _BUCKETS
    if _BUCKETS is None:
        pos = []
        v = 1e-12
        while v < 1e20:
            pos.append(v)
            v *= 1.1
        pos.append(np.finfo(np.float64).max)
        _BUCKETS = np.array([-x for x in reversed(pos)] + [0.0] + pos)
    return _BUCKETS


def image_summary(tag: str, images: Any, max_outputs: int = 3) -> Any:
    """PNG images from a batch [n, h, w, c] (c = 1, 3 or 4): floats in [0, 1] scaled to 0..255,
    as tf.summary.image; tags ``tag/image/0`` ... (``tag/image`` for a single image)."""
    Summary = tbx("proto.summary_pb2").Summary
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image summary {tag!r}: expected [batch, height, width, 1|3|4], got shape {list(x.shape)}")
    if x.dtype != np.uint8:
        x = np.clip(np.asarray(x, np.float64), 0.0, 1.0)
        x = (x * 255.0 + 0.5).astype(np.uint8)
    n = min(int(max_outputs), x.shape[0])
    vals = []
    for i in range(n):
        name = f"{tag}/image" if n == 1 else f"{tag}/image/{i}"
        vals.append(Summary.Value(tag=name, image=Summary.Image(
            height=x.shape[1], width=x.shape[2], colorspace=x.shape[3], encoded_image_string=_png(x[i]))))
    return Summary(value=vals)


def _png(img: np.ndarray) -> bytes:
    import io

    from PIL import Image
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[img.shape[-1]]
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def text_summary(tag: str, text: Any) -> Any:
    tbx_text = tbx("summary").text
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return tbx_text(tag, str(text))


class EventWriter:
    """One event file in ``logdir``: summaries (protos or their serialized bytes) and graphs."""

    def __init__(self, logdir: str | os.PathLike, flush_secs: float = 30.0, filename_suffix: str = "") -> None:
        FileWriter = tbx("writer").FileWriter
        os.makedirs(logdir, exist_ok=True)
        self.logdir = str(logdir)
        self._w = FileWriter(self.logdir, max_queue=100, flush_secs=flush_secs, filename_suffix=filename_suffix)
        self._closed = False

    def add_summary(self, summary: Any, step: int | None = None, walltime: float | None = None) -> None:
        Summary = tbx("proto.summary_pb2").Summary
        if isinstance(summary, (bytes, bytearray, np.bytes_)):
            s = Summary()
            s.ParseFromString(bytes(summary))
            summary = s
        elif isinstance(summary, np.ndarray) and summary.dtype == object:
            return self.add_summary(summary[()], step, walltime)
        self._w.add_summary(summary, None if step is None else int(step), walltime)

    def add_graph_def(self, gdef: Any, walltime: float | None = None) -> None:
        Event = tbx("proto.event_pb2").Event
        self._w.add_event(Event(graph_def=gdef.SerializeToString()), None, walltime or time.time())

    def flush(self) -> None:
        if not self._closed:
            self._w.flush()

    def close(self) -> None:
        if not self._closed:
            self._w.close()
            self._closed = True
