"""Merge layers: several inputs into one (add, multiply, concat)."""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.base import Key, Layer, LayerError, fmt, register


class _Elementwise(Layer):
    schema: dict[str, Key] = {}
    min_inputs, max_inputs = 2, None

    def build(self, shapes: list[tuple]) -> tuple:
        first = shapes[0]
        for name, s in zip(self.input_names[1:], shapes[1:]):
            if tuple(s) != tuple(first):
                every = f" (inputs: {self.describe_inputs()})" if len(shapes) > 2 else ""
                raise LayerError(f"input shapes differ: '{self.input_names[0]}' {fmt(first)} vs '{name}' {fmt(s)}"
                                 f"{every}; {self.type} needs inputs of one shape")
        return first


@register
class Add(_Elementwise):
    type = "add"
    doc = "Elementwise sum of two or more inputs of the same shape (a residual connection)"

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.add_n(xs)


@register
class Multiply(_Elementwise):
    type = "multiply"
    doc = "Elementwise product of two or more inputs of the same shape (gating)"

    def call(self, xs: list, training: Any, masks: list) -> Any:
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


@register
class Concat(Layer):
    type = "concat"
    doc = "Joins two or more inputs along `axis`; every other axis must agree"
    schema = {"axis": Key("int", -1, "the axis to join along (-1: the last; 0, the batch axis, is not allowed)")}
    min_inputs, max_inputs = 2, None

    def build(self, shapes: list[tuple]) -> tuple:
        rank = len(shapes[0])
        ax = self.p["axis"] + rank if self.p["axis"] < 0 else self.p["axis"]
        if not 1 <= ax < rank:
            raise LayerError(f"axis {self.p['axis']} is out of range for inputs of rank {rank} "
                             f"(inputs: {self.describe_inputs()})")
        for name, s in zip(self.input_names[1:], shapes[1:]):
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax):
                raise LayerError(f"inputs must agree on every axis but {ax}: '{self.input_names[0]}' "
                                 f"{fmt(shapes[0])} vs '{name}' {fmt(s)}")
        self.ax = ax
        return (*shapes[0][:ax], sum(s[ax] for s in shapes), *shapes[0][ax + 1:])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        return tf.concat(xs, self.ax)
