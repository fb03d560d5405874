"""Attention layers: multi_head_attention (self or cross, causal and padding masks) and a
transformer_block (attention + MLP, each with a residual connection and layer norm).

Scaled dot-product attention (Vaswani et al. 2017): softmax(Q K^T / sqrt(d_k) + M) V per head,
where M is 0 where a query may attend and -1e9 where it may not (a later step for a causal
layer, a padded key step from the input's mask). Built from batched matmuls, reshapes, transposes
and softmax, whose gradient rules exist, so no new kernels are needed.
"""

from __future__ import annotations

from typing import Any

import nnctl as tf
from nnctl.layers.base import KERNEL_INIT, USE_BIAS, Key, Layer, LayerError, fmt, register
from nnctl.layers.core import Dense, Dropout
from nnctl.layers.normalization import LayerNorm

_NEG = -1e9


@register
class MultiHeadAttention(Layer):
    type = "multi_head_attention"
    doc = ("Multi-head scaled dot-product attention: inputs [query] (self-attention) or [query, context] "
           "(cross-attention; keys and values from the context): (batch, steps, dim) -> (batch, steps, output_dim)")
    schema = {
        "heads": Key("int", doc="number of heads", lo=1),
        "key_dim": Key("int_or_none", None, "size of each head's queries and keys (null: dim / heads)", lo=1),
        "output_dim": Key("int_or_none", None, "output width (null: the query's width)", lo=1),
        "causal": Key("bool", False, "a step attends only to itself and earlier steps"),
        "dropout": Key("float", 0.0, "dropout rate on the attention weights while training", lo=0.0, hi=1.0,
                       hi_open=True),
        "initializer": KERNEL_INIT,
        "use_bias": USE_BIAS,
    }
    max_inputs = 2

    def build(self, shapes: list[tuple]) -> tuple:
        q = shapes[0]
        kv = shapes[-1]
        for s in (q, kv):
            if len(s) != 3 or s[1] is None or s[2] is None:
                raise LayerError(f"needs sequence inputs (batch, steps, dim), got {self.describe_inputs()}")
        h = self.p["heads"]
        dk = self.p["key_dim"] or q[2] // h
        if dk < 1:
            raise LayerError(f"heads {h} is more than the query width {q[2]}; set key_dim")
        if self.p["causal"] and q[1] != kv[1]:
            raise LayerError(f"causal attention needs as many query as key steps, got {fmt(q)} and {fmt(kv)}")
        out = self.p["output_dim"] or q[2]
        self.dk, self.out_dim = dk, out
        kw = {"initializer": self.p["initializer"], "use_bias": self.p["use_bias"]}
        self.proj = {}
        for what, width, src in (("query", h * dk, q), ("key", h * dk, kv), ("value", h * dk, kv),
                                 ("output", out, (None, q[1], h * dk))):
            d = self.sublayer(Dense, what, units=width, **kw)
            d.build_once([src])
            self.adopt(d)
            self.proj[what] = d
        self.drop = self.sublayer(Dropout, "dropout", rate=self.p["dropout"])
        self.drop.build_once([(None, h, q[1], kv[1])])
        return (q[0], q[1], out)

    def _heads(self, t: Any, steps: int) -> Any:
        # (batch, steps, heads * dk) -> (batch, heads, steps, dk)
        return tf.transpose(tf.reshape(t, [-1, steps, self.p["heads"], self.dk]), [0, 2, 1, 3])

    def call(self, xs: list, training: Any, masks: list) -> Any:
        import numpy as np
        q_in, kv_in = xs[0], xs[-1]
        tq, tk = self.input_shapes[0][1], self.input_shapes[-1][1]
        q = self._heads(self.proj["query"].call([q_in], training, [None]), tq)
        k = self._heads(self.proj["key"].call([kv_in], training, [None]), tk)
        v = self._heads(self.proj["value"].call([kv_in], training, [None]), tk)
        dt = q.dtype
        scores = tf.matmul(q, k, transpose_b=True) * (1.0 / np.sqrt(self.dk))   # (b, h, tq, tk)
        if self.p["causal"]:
            # -1e9 above the diagonal: step i may not attend to step j > i
            scores = scores + tf.constant(np.triu(np.full((tq, tk), _NEG), 1).astype(dt.as_numpy_dtype))
        key_mask = masks[-1]
        if key_mask is not None:
            scores = scores + tf.reshape((1.0 - tf.cast(key_mask, dt)) * _NEG, [-1, 1, 1, tk])
        weights = self.drop.call([tf.nn.softmax(scores)], training, [None])
        ctx = tf.reshape(tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3]), [-1, tq, self.p["heads"] * self.dk])
        return self.proj["output"].call([ctx], training, [None])

    def output_mask(self, xs: list, masks: list) -> Any:
        return masks[0]


@register
class TransformerBlock(Layer):
    type = "transformer_block"
    doc = ("A transformer encoder block: x + attention(norm(x)), then + MLP(norm(.)) with `norm: pre` (GPT-2); "
           "norm(x + attention(x)), then norm(. + MLP(.)) with `norm: post` (Vaswani et al.): "
           "(batch, steps, dim) -> the same")
    schema = {
        "heads": Key("int", doc="attention heads; must divide the width (dim)", lo=1),
        "mlp_units": Key("int_or_none", None, "hidden width of the MLP (null: 4 * dim)", lo=1),
        "mlp_activation": Key("activation", "gelu", "activation of the MLP's hidden layer"),
        "dropout": Key("float", 0.0, "dropout after the attention and the MLP (and on the attention weights) "
                                     "while training", lo=0.0, hi=1.0, hi_open=True),
        "norm": Key("choice", "pre", "where the layer norms sit: pre or post", choices=("pre", "post")),
        "causal": Key("bool", False, "causal self-attention (a step sees only earlier steps)"),
        "epsilon": Key("float", 1e-5, "layer norm epsilon", lo=0.0, lo_open=True),
        "initializer": KERNEL_INIT,
    }

    def build(self, shapes: list[tuple]) -> tuple:
        s = shapes[0]
        if len(s) != 3 or s[2] is None:
            raise LayerError(f"needs a sequence input (batch, steps, dim), got {fmt(s)}")
        d, h = s[2], self.p["heads"]
        if d % h:
            raise LayerError(f"heads {h} must divide the width {d} of its input {fmt(s)}")
        hidden = self.p["mlp_units"] or 4 * d
        init, rate = self.p["initializer"], self.p["dropout"]
        self.attn = self.sublayer(MultiHeadAttention, "attention", heads=h, causal=self.p["causal"], dropout=rate,
                                  initializer=init)
        self.norm1 = self.sublayer(LayerNorm, "norm1", epsilon=self.p["epsilon"])
        self.norm2 = self.sublayer(LayerNorm, "norm2", epsilon=self.p["epsilon"])
        self.mlp1 = self.sublayer(Dense, "mlp1", units=hidden, activation=self.p["mlp_activation"], initializer=init)
        self.mlp2 = self.sublayer(Dense, "mlp2", units=d, initializer=init)
        self.drop1 = self.sublayer(Dropout, "dropout1", rate=rate)
        self.drop2 = self.sublayer(Dropout, "dropout2", rate=rate)
        for layer, shape in ((self.norm1, s), (self.attn, s), (self.norm2, s), (self.mlp1, s),
                             (self.mlp2, (None, s[1], hidden)), (self.drop1, s), (self.drop2, s)):
            layer.build_once([shape])
            self.adopt(layer)
        return s

    def call(self, xs: list, training: Any, masks: list) -> Any:
        x, m = xs[0], masks[0]

        def attend(t: Any) -> Any:
            return self.drop1.apply([self.attn.apply([t], training, [m])[1]], training)[1]

        def mlp(t: Any) -> Any:
            return self.drop2.apply([self.mlp2.apply([self.mlp1.apply([t], training)[1]], training)[1]], training)[1]

        def norm(layer: Layer, t: Any) -> Any:
            return layer.apply([t], training)[1]

        if self.p["norm"] == "pre":
            x = x + attend(norm(self.norm1, x))
            return x + mlp(norm(self.norm2, x))
        x = norm(self.norm1, x + attend(x))
        return norm(self.norm2, x + mlp(x))
