"""Histogram summaries are encoded as TensorFlow encodes them (tf.summary.histogram)."""

from __future__ import annotations

import bisect
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboardX")

from nnctl.events.writer import histogram_summary  # noqa: E402

DBL_MAX = sys.float_info.max


def _tf_limits() -> list[float]:
    """tensorflow/core/lib/histogram/histogram.cc, InitDefaultBuckets."""
    pos = []
    v = 1.0e-12
    while v < 1.0e20:
        pos.append(v)
        v *= 1.1
    pos.append(DBL_MAX)
    return [-x for x in reversed(pos)] + [0.0] + pos


def _tf_encode(values: list[float]) -> tuple[list[float], list[float]]:
    """Histogram::Add (upper_bound) then EncodeToProto(preserve_zero_buckets=false), line by line."""
    limits = _tf_limits()
    buckets = [0.0] * len(limits)
    for x in values:
        buckets[bisect.bisect_right(limits, x)] += 1.0
    out_l, out_c = [], []
    i = 0
    while i < len(buckets):
        end, count = limits[i], buckets[i]
        i += 1
        if count <= 0.0:  # collapse a run of empty buckets into one
            while i < len(buckets) and buckets[i] <= 0.0:
                end, count = limits[i], buckets[i]
                i += 1
        out_l.append(end)
        out_c.append(count)
    if not out_l:
        out_l, out_c = [DBL_MAX], [0.0]
    return out_l, out_c


@pytest.mark.parametrize("case", ["zero", "empty", "edges", "normal", "wide", "mixed"])
def test_histogram_buckets_match_tensorflow(case):
    rng = np.random.default_rng(0)
    values = {
        "zero": [0.0],
        "empty": [],
        "edges": [1e-12, -1e-12, 1.1e-12, 0.0, 0.0, 1.0],      # values exactly on bucket limits
        "normal": list(rng.normal(size=200)),
        "wide": list(rng.normal(size=300) * 10.0 ** rng.integers(-9, 6, size=300)),
        "mixed": [0.25, 0.5, 0.5, -3.0, 7e5, 0.0],
    }[case]
    h = histogram_summary("t", np.asarray(values, dtype=np.float32 if case == "normal" else np.float64)).value[0].histo
    want_l, want_c = _tf_encode([float(np.float32(x)) if case == "normal" else x for x in values])
    assert list(h.bucket_limit) == want_l
    assert list(h.bucket) == want_c
    assert h.num == len(values)


def test_small_histograms_stay_small():
    # 9 weights spread over six orders of magnitude: one entry per value or empty run, not ~300 buckets
    w = np.array([1e-6, -2e-5, 3e-4, 0.004, -0.05, 0.6, 0.7, 0.8, 0.9])
    assert len(histogram_summary("w", w).value[0].histo.bucket) <= 2 * len(w) + 1
