"""The layer library: one row per registered layer type, built and run on small inputs.

Each row gives the layer's params, its input shapes (without the batch axis), the expected output
shape and trainable parameter count. The test builds the layer, runs it forward in float32, and
checks the shape, the parameter count, finite values, and that every trainable variable gets a
gradient. A layer type registered without a row fails ``test_every_layer_type_has_a_row``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nnctl as tf
from nnctl.layers import Context, layer_class, layer_types
from nnctl.layers.initializers import initial_value

ROOT = Path(__file__).resolve().parents[1]

# type (or "type:variant") -> (params, input shapes, output shape, trainable params)
ROWS: dict[str, tuple[dict, list[tuple], tuple, int]] = {
    "dense": ({"units": 3}, [(4,)], (3,), 4 * 3 + 3),
    "flatten": ({}, [(2, 3, 4)], (24,), 0),
    "dropout": ({"rate": 0.5}, [(5,)], (5,), 0),
    "activation": ({"activation": "tanh"}, [(5,)], (5,), 0),
    "reshape": ({"shape": [4, -1]}, [(8,)], (4, 2), 0),
    "permute": ({"dims": [2, 1]}, [(3, 4)], (4, 3), 0),
    "repeat": ({"times": 3}, [(4,)], (3, 4), 0),
    "conv2d": ({"filters": 4, "kernel": 3}, [(6, 6, 2)], (6, 6, 4), 3 * 3 * 2 * 4 + 4),
    "conv2d:dilated_grouped": ({"filters": 4, "kernel": 3, "dilation": 2, "groups": 2, "padding": "valid"},
                               [(7, 7, 4)], (3, 3, 4), 3 * 3 * 2 * 4 + 4),
    "conv1d": ({"filters": 4, "kernel": 3, "stride": 2}, [(7, 3)], (4, 4), 3 * 3 * 4 + 4),
    "depthwise_conv2d": ({"multiplier": 2, "stride": 2}, [(5, 5, 3)], (3, 3, 6), 3 * 3 * 3 * 2 + 6),
    "separable_conv2d": ({"filters": 5, "padding": "valid"}, [(5, 6, 3)], (3, 4, 5), 3 * 3 * 3 + 3 * 5 + 5),
    "conv2d_transpose": ({"filters": 2, "kernel": 3, "stride": 2}, [(3, 4, 3)], (6, 8, 2), 3 * 3 * 2 * 3 + 2),
    "conv2d_transpose:valid": ({"filters": 2, "kernel": 3, "stride": 2, "padding": "valid"}, [(3, 3, 1)],
                               (7, 7, 2), 3 * 3 * 2 + 2),
    "upsample": ({"size": [2, 3]}, [(3, 2, 2)], (6, 6, 2), 0),
    "upsample:bilinear": ({"method": "bilinear"}, [(3, 3, 2)], (6, 6, 2), 0),
    "zero_pad": ({"padding": [1, 2, 0, 3]}, [(3, 3, 2)], (6, 6, 2), 0),
    "zero_pad:sequence": ({"padding": [2, 1]}, [(4, 3)], (7, 3), 0),
    "crop": ({"cropping": [1, 2]}, [(5, 6, 2)], (3, 2, 2), 0),
    "max_pool1d": ({"size": 2}, [(7, 3)], (3, 3), 0),
    "avg_pool1d": ({"size": 3, "stride": 1, "padding": "same"}, [(5, 2)], (5, 2), 0),
    "max_pool": ({}, [(6, 6, 2)], (3, 3, 2), 0),
    "avg_pool": ({"size": 3, "stride": 1, "padding": "same"}, [(5, 5, 2)], (5, 5, 2), 0),
    "global_avg_pool": ({}, [(4, 4, 3)], (3,), 0),
    "global_max_pool": ({}, [(6, 3)], (3,), 0),
    "batch_norm": ({}, [(4, 4, 3)], (4, 4, 3), 6),
    "layer_norm": ({}, [(5, 6)], (5, 6), 12),
    "group_norm": ({"groups": 2}, [(4, 4, 6)], (4, 4, 6), 12),
    "add": ({}, [(3, 4), (3, 4)], (3, 4), 0),
    "multiply": ({}, [(4,), (4,), (4,)], (4,), 0),
    "concat": ({"axis": -1}, [(3, 4), (3, 2)], (3, 6), 0),
    "embedding": ({"input_dim": 7, "output_dim": 3, "padding_id": 0}, [(4,)], (4, 3), 21),
    "positional_embedding": ({}, [(4, 6)], (4, 6), 24),
    # parameter counts as Keras: LSTM 4 * (u * (f + u) + u) per direction, GRU (reset_after) 3 * (u * (f + u) + 2u)
    "lstm": ({"units": 5, "bidirectional": True, "return_sequences": True}, [(4, 3)], (4, 10), 360),
    "gru": ({"units": 5}, [(4, 3)], (5,), 150),
    "simple_rnn": ({"units": 5, "bidirectional": True, "merge": "sum"}, [(4, 3)], (5,), 90),
    "masking": ({}, [(4, 3)], (4, 3), 0),
    # q, k, v, output projections: 4 * (6 * 6 + 6)
    "multi_head_attention": ({"heads": 2, "causal": True}, [(4, 6)], (4, 6), 168),
    "transformer_block": ({"heads": 2, "dropout": 0.1, "mlp_units": 12}, [(4, 6)], (4, 6), 168 + 2 * 12 + 84 + 78),
}


def _ctx(seed: int = 0) -> Context:
    rng = np.random.default_rng(seed)

    def make(layer, what, shape, init, trainable):
        return tf.Variable(initial_value(init, shape, rng), name=f"{layer.name}/{what}", trainable=trainable)
    return Context(make, seed=seed)


def test_every_layer_type_has_a_row():
    assert sorted(layer_types()) == sorted({k.split(':')[0] for k in ROWS})  # 'type:variant' rows too


@pytest.mark.parametrize("type_name", sorted(ROWS))
def test_layer_row(type_name, fresh_graph):
    params, in_shapes, out_shape, n_params = ROWS[type_name]
    cls = layer_class(type_name.split(":")[0])
    layer = cls.from_params("L", _ctx(), **params)
    rng = np.random.default_rng(1)
    xs = [tf.placeholder(tf.float32, (None, *s), name=f"x{i}") for i, s in enumerate(in_shapes)]
    feeds = {x: rng.integers(0, 7, (3, *s)).astype(np.float32) for x, s in zip(xs, in_shapes)}
    _, y, _ = layer.apply(xs, training=True)
    assert tuple(y.get_shape().as_list()) == (None, *out_shape)
    assert layer.output_shape == (None, *out_shape)
    assert layer.params == n_params
    trainable = [v for v in layer.variables if v.trainable]
    grads = tf.gradients(tf.reduce_sum(tf.square(y)), trainable + xs) if trainable or xs else []
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        out = sess.run(y, feeds)
        assert out.shape == (3, *out_shape) and np.isfinite(out).all()
        for v, g in zip(trainable, grads):
            assert g is not None, f"{type_name}: no gradient for {v.op.name}"
            assert np.isfinite(sess.run(g, feeds)).all()
    # the inference branch reuses the variables
    n_vars = len(tf.global_variables())
    layer.apply(xs, training=False)
    assert len(tf.global_variables()) == n_vars


def test_every_layer_type_and_key_is_documented():
    text = (ROOT / "docs" / "config.md").read_text()
    for name, cls in layer_types().items():
        m = re.search(rf"^#### `{name}`$(.*?)(?=^####? |\Z)", text, re.M | re.S)
        assert m, f"docs/config.md has no '#### `{name}`' section"
        for key in cls.schema:
            assert f"`{key}`" in m.group(1), f"docs/config.md: `{name}` does not document key `{key}`"


def test_merge_shape_mismatch_names_both_inputs(fresh_graph):
    from nnctl.layers import LayerError
    layer = layer_class("add").from_params("sum", _ctx())
    with pytest.raises(LayerError, match=r"'a' \(\?, 3\) vs 'b' \(\?, 4\)"):
        layer.build_once([(None, 3), (None, 4)], ["a", "b"])


def test_config_md_layer_reference_is_current():
    from nnctl.layers.reference import reference
    text = (ROOT / "docs" / "config.md").read_text()
    m = re.search(r"<!-- layers:begin -->\n(.*)<!-- layers:end -->", text, re.S)
    assert m and m.group(1) == reference(), "run: python -m nnctl.layers.reference --write docs/config.md"


def test_padding_id_masks_pooling_and_attention(fresh_graph):
    """An embedding's padding id masks its steps: the masked mean ignores them, and attention gives
    them no weight, so appending padding changes nothing."""
    emb = layer_class("embedding").from_params("E", _ctx(), input_dim=5, output_dim=4, padding_id=0)
    att = layer_class("multi_head_attention").from_params("A", _ctx(1), heads=2)
    pool = layer_class("global_avg_pool").from_params("P", _ctx())
    ids = tf.placeholder(tf.float32, (None, 6))
    _, e, m = emb.apply([ids], False)
    _, a, m2 = att.apply([e], False, [m])
    _, y, _ = pool.apply([a], False, [m2])
    short = np.array([[3, 1, 4, 0, 0, 0]], np.float32)
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        mv, av, yv = s.run([m, a, y], {ids: short})
        table = s.run(emb.table)
    assert mv.tolist() == [[1, 1, 1, 0, 0, 0]]
    np.testing.assert_allclose(yv[0], av[0, :3].mean(0), rtol=1e-5)
    # the real steps' attention output does not depend on what the padded steps hold
    g = tf.Graph()
    with g.as_default():
        emb2 = layer_class("embedding").from_params("E", _ctx(), input_dim=5, output_dim=4, padding_id=0)
        att2 = layer_class("multi_head_attention").from_params("A", _ctx(1), heads=2)
        x = tf.placeholder(tf.float32, (None, 3))
        _, e2, m3 = emb2.apply([x], False)
        _, a2, _ = att2.apply([e2], False, [m3])
        with tf.Session() as s:
            s.run(tf.global_variables_initializer())
            assert np.array_equal(s.run(emb2.table), table)
            np.testing.assert_allclose(s.run(a2, {x: short[:, :3]})[0], av[0, :3], rtol=1e-5, atol=1e-6)
