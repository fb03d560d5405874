"""Recurrent layers over fixed-length sequences: simple_rnn, gru, lstm.

The loop is unrolled over the static number of steps, from ops that all have gradient rules, so
backpropagation through time (and second derivatives) needs no new kernels. The input projection
of every step is one matmul, (batch * steps, features) @ kernel; each step then adds h @ U. A mask
(batch, steps) of padded steps keeps the state unchanged across them (h_t = m h'_t + (1 - m) h_{t-1}),
so post-padded sequences end with the state of their last real step, in both directions.
"""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.activations import activate
from nnctl.layers.base import BIAS_INIT, KERNEL_INIT, USE_BIAS, Key, Layer, LayerError, fmt, register


class _Recurrent(Layer):
    gates: int = 1
    output_activation = False        # `activation` is the cell's, not applied to the output
    common = {
        "units": Key("int", doc="state size", lo=1),
        "return_sequences": Key("bool", False, "output every step (batch, steps, units) instead of the last "
                                               "state (batch, units)"),
        "bidirectional": Key("bool", False, "also run the sequence backwards and join both directions"),
        "merge": Key("choice", "concat", "how the two directions join: concat (2 * units) or sum",
                     choices=("concat", "sum")),
        "activation": Key("activation", "tanh", "the cell's activation"),
        "initializer": KERNEL_INIT,
        "recurrent_initializer": Key("initializer", "orthogonal", "initializer of the recurrent kernel"),
        "bias_initializer": BIAS_INIT,
        "use_bias": USE_BIAS,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 3 or s[1] is None or s[2] is None:
            raise LayerError(f"needs a sequence input (batch, steps, features), got {fmt(s)}; reshape flat "
                             "features with model.input_shape [steps, features] or a reshape layer")
        u = self.p["units"]
        self.dirs = ["forward", "backward"] if self.p["bidirectional"] else [""]
        self.w: dict[str, dict[str, Any]] = {}
        for d in self.dirs:
            pre = f"{d}/" if d else ""
            w = {"kernel": self.add_weight(pre + "kernel", (s[2], self.gates * u), self.p["initializer"],
                                           regularize=True),
                 "recurrent_kernel": self.add_weight(pre + "recurrent_kernel", (u, self.gates * u),
                                                     self.p["recurrent_initializer"], regularize=True)}
            if self.p["use_bias"]:
                w["bias"] = self.add_weight(pre + "bias", self.bias_shape(u), self.p["bias_initializer"])
            self.w[d] = w
        width = u * (2 if self.p["bidirectional"] and self.p["merge"] == "concat" else 1)
        return (s[0], s[1], width) if self.p["return_sequences"] else (s[0], width)

    def bias_shape(self, u: int) -> tuple:
        return (self.gates * u,)

    # a cell: (projected input of one step, state) -> (output h, new state)
    def initial_state(self, batch_zeros: Any) -> Any:
        return batch_zeros

    def step(self, xw: Any, state: Any, w: dict) -> tuple[Any, Any]:
        raise NotImplementedError

    def output_of(self, state: Any) -> Any:
        return state

    def project(self, x: Any, w: dict) -> Any:
        """x @ kernel (+ input bias) for every step at once: (batch, steps, gates * units)."""
        s = self.input_shapes[0]
        xw = tf.reshape(tf.matmul(tf.reshape(x, [-1, s[2]]), w["kernel"]), [-1, s[1], self.gates * self.p["units"]])
        if "bias" in w:
            xw = xw + self.input_bias(w)
        return xw

    def input_bias(self, w: dict) -> Any:
        return w["bias"]

    def run(self, x: Any, mask: Any, w: dict, backwards: bool) -> tuple[list, Any]:
        steps = self.input_shapes[0][1]
        xw = self.project(x, w)
        zeros = tf.zeros_like(xw[:, 0, :self.p["units"]])       # (batch, units)
        state = self.initial_state(zeros)
        outs: list = [None] * steps
        order = range(steps - 1, -1, -1) if backwards else range(steps)
        for t in order:
            new = self.step(xw[:, t, :], state, w)
            if mask is not None:
                m = tf.cast(mask[:, t:t + 1], xw.dtype)
                new = _keep(m, new, state)
            state = new
            outs[t] = self.output_of(state)
        return outs, self.output_of(state)

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x, mask = xs[0], masks[0]
        results = [self.run(x, mask, self.w[d], backwards=(d == "backward")) for d in self.dirs]
        if self.p["return_sequences"]:
            seqs = [tf.stack(outs, axis=1) for outs, _ in results]
            return self._join(seqs, axis=2)
        return self._join([last for _, last in results], axis=1)

    def _join(self, parts: list, axis: int) -> Any:
        if len(parts) == 1:
            return parts[0]
        return tf.concat(parts, axis) if self.p["merge"] == "concat" else parts[0] + parts[1]


def _keep(m: Any, new: Any, old: Any) -> Any:
    """m * new + (1 - m) * old, for a state or a tuple of states."""
    if isinstance(new, tuple):
        return tuple(_keep(m, a, b) for a, b in zip(new, old))
    return old + m * (new - old)


@register
class SimpleRNN(_Recurrent):
    type = "simple_rnn"
    doc = ("Elman RNN, h_t = activation(x_t W + h_{t-1} U + b): (batch, steps, features) -> (batch, units), "
           "or (batch, steps, units) with `return_sequences`; bidirectional doubles the width with concat")
    gates = 1
    schema = dict(_Recurrent.common)

    def step(self, xw: Any, h: Any, w: dict) -> tuple:
        return activate(xw + tf.matmul(h, w["recurrent_kernel"]), self.p["activation"])


@register
class LSTM(_Recurrent):
    type = "lstm"
    doc = ("Long short-term memory (Hochreiter & Schmidhuber 1997; gates i, f, g, o as Keras): "
           "(batch, steps, features) -> (batch, units), or every step with `return_sequences`")
    gates = 4
    schema = {**_Recurrent.common,
              "recurrent_activation": Key("activation", "sigmoid", "activation of the gates"),
              "forget_bias": Key("float", 1.0, "added to the forget gate (TF1's BasicLSTMCell; Keras' "
                                               "unit_forget_bias)")}

    def initial_state(self, zeros: Any) -> Any:
        return (zeros, zeros)       # (c, h)

    def output_of(self, state: Any) -> Any:
        return state[1]

    def step(self, xw: Any, state: Any, w: dict) -> tuple:
        c, h = state
        u = self.p["units"]
        z = xw + tf.matmul(h, w["recurrent_kernel"])
        ra = self.p["recurrent_activation"]
        i = activate(z[:, :u], ra)
        f = activate(z[:, u:2 * u] + self.p["forget_bias"], ra)
        g = activate(z[:, 2 * u:3 * u], self.p["activation"])
        o = activate(z[:, 3 * u:], ra)
        c = f * c + i * g                              # c_t = f c_{t-1} + i g
        return (c, o * activate(c, self.p["activation"]))  # h_t = o tanh(c_t)


@register
class GRU(_Recurrent):
    type = "gru"
    doc = ("Gated recurrent unit (Cho et al. 2014; gates z, r, candidate h as Keras): "
           "(batch, steps, features) -> (batch, units), or every step with `return_sequences`")
    gates = 3
    schema = {**_Recurrent.common,
              "recurrent_activation": Key("activation", "sigmoid", "activation of the gates"),
              "reset_after": Key("bool", True, "apply the reset gate after the recurrent matmul (Keras' default, "
                                               "two biases) or before it (the original GRU and TF1's GRUCell)")}

    def bias_shape(self, u: int) -> tuple:
        return (2, 3 * u) if self.p["reset_after"] else (3 * u,)

    def input_bias(self, w: dict) -> Any:
        return w["bias"][0] if self.p["reset_after"] else w["bias"]

    def step(self, xw: Any, h: Any, w: dict) -> Any:
        u, ra = self.p["units"], self.p["recurrent_activation"]
        U = w["recurrent_kernel"]
        if self.p["reset_after"]:
            hu = tf.matmul(h, U)
            if "bias" in w:
                hu = hu + w["bias"][1]
            z = activate(xw[:, :u] + hu[:, :u], ra)
            r = activate(xw[:, u:2 * u] + hu[:, u:2 * u], ra)
            hh = activate(xw[:, 2 * u:] + r * hu[:, 2 * u:], self.p["activation"])
        else:
            hu = tf.matmul(h, U[:, :2 * u])
            z = activate(xw[:, :u] + hu[:, :u], ra)
            r = activate(xw[:, u:2 * u] + hu[:, u:], ra)
            hh = activate(xw[:, 2 * u:] + tf.matmul(r * h, U[:, 2 * u:]), self.p["activation"])
        return z * h + (1.0 - z) * hh                  # h_t = z h_{t-1} + (1 - z) h~


@register
class Masking(Layer):
    type = "masking"
    doc = ("Marks the steps of a sequence whose features all equal `mask_value` as padding (a mask for the "
           "layers after it) and sets them to zero: (batch, steps, features) -> the same")
    schema = {"mask_value": Key("float", 0.0, "the value of every feature of a padded step")}

    def build(self, shapes: list[tuple]) -> tuple:
        if len(shapes[0]) != 3:
            raise LayerError(f"needs a sequence input (batch, steps, features), got {fmt(shapes[0])}")
        return shapes[0]

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x = xs[0]
        # a step is real when some feature differs from mask_value
        keep = tf.cast(tf.reduce_max(tf.abs(x - self.p["mask_value"]), axis=-1) > 0, x.dtype)
        self._mask = keep
        return x * tf.expand_dims(keep, -1)

    def output_mask(self, xs: list, masks: list) -> Any:
        return self._mask
