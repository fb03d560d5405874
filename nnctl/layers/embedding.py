"""Embedding layers: integer ids -> vectors (with a padding id that masks), positional embeddings."""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.base import Key, Layer, LayerError, fmt, register


@register
class Embedding(Layer):
    type = "embedding"
    doc = ("Integer ids -> learned vectors: (batch, steps) -> (batch, steps, output_dim). Ids arrive as numbers "
           "(the data's features) and are cast to integers; ids equal to `padding_id` mask their step")
    schema = {
        "input_dim": Key("int", doc="vocabulary size: ids are 0 .. input_dim - 1", lo=1),
        "output_dim": Key("int", doc="vector size", lo=1),
        "padding_id": Key("int_or_none", None, "an id that marks padding: its steps are masked (null: none)", lo=0),
        "initializer": Key("initializer", "uniform", "initializer of the embedding matrix"),
    }
    mask_passthrough = False

    def build(self, shapes: list[tuple]) -> tuple:
        pid = self.p["padding_id"]
        if pid is not None and pid >= self.p["input_dim"]:
            raise LayerError(f"padding_id {pid} is not below input_dim {self.p['input_dim']}")
        self.table = self.add_weight("embeddings", (self.p["input_dim"], self.p["output_dim"]),
                                     self.p["initializer"])
        return (*shapes[0], self.p["output_dim"])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x = xs[0]
        ids = x if x.dtype.is_integer else tf.cast(tf.round(x), tf.int64)
        # ids outside the table are clipped into it, so a stray value cannot index past the end
        ids = tf.clip_by_value(ids, tf.constant(0, ids.dtype), tf.constant(self.p["input_dim"] - 1, ids.dtype))
        self._ids = ids
        return tf.gather(self.table, ids)

    def output_mask(self, xs: list, masks: list) -> Any:
        pid = self.p["padding_id"]
        if pid is None or len(self.input_shapes[0]) != 2:
            return None
        return tf.cast(tf.not_equal(self._ids, tf.constant(pid, self._ids.dtype)), tf.float32)


@register
class PositionalEmbedding(Layer):
    type = "positional_embedding"
    doc = ("Adds a position vector to every step: (batch, steps, dim) -> (batch, steps, dim); `learned` "
           "(a trained (steps, dim) table) or `sinusoidal` (Vaswani et al. 2017, fixed)")
    schema = {
        "kind": Key("choice", "learned", "learned or sinusoidal", choices=("learned", "sinusoidal")),
        "initializer": Key("initializer", "uniform", "initializer of the learned table"),
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 3 or s[1] is None:
            raise LayerError(f"needs a sequence input (batch, steps, dim), got {fmt(s)}")
        steps, dim = s[1], s[2]
        if self.p["kind"] == "learned":
            self.table = self.add_weight("embeddings", (steps, dim), self.p["initializer"])
        else:
            import numpy as np
            pos = np.arange(steps)[:, None]
            i = np.arange(dim)[None, :]
            # PE(p, 2k) = sin(p / 10000^(2k/d)), PE(p, 2k+1) = cos(p / 10000^(2k/d))
            angle = pos / np.power(10000.0, (2 * (i // 2)) / dim)
            table = np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)
            self._fixed = table
            self.table = None
        return s

    def call(self, xs: list, training: Any, masks: list) -> Any:
        table = self.table if self.table is not None else tf.constant(self._fixed.astype(xs[0].dtype.as_numpy_dtype))
        return xs[0] + table
