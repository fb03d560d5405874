"""Config -> graph: layers, the loss, the optimizer's update nodes, and an inference branch.

The training branch (dropout active, batch norm on batch statistics) and the inference branch
(no dropout, batch norm on moving averages) share the same Variables, as in a TF1 program that
builds its model function twice. Evaluation and freezing use only the inference branch.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nnctl as tf
from nnctl.distributed.ranks import world
from nnctl.errors import ConfigError
from nnctl.graph.graph import Tensor
from nnctl.graph.tensor_shape import fmt_shape


@dataclass
class LayerInfo:
    name: str
    type: str
    output_shape: tuple
    params: int
    variables: list = field(default_factory=list)
    key: str = ""


@dataclass
class Head:
    """How the last layer's output is read: the loss, the labels and the predictions."""

    loss: str            # sum_squares | mse | cross_entropy | binary_cross_entropy
    label_type: str      # class | onehot | real
    units: int           # size of the last layer's output
    num_classes: int | None
    final_activation: str

    @property
    def classification(self) -> bool:
        return self.label_type in ("class", "onehot")

    @property
    def uses_logits(self) -> bool:
        return self.loss in ("cross_entropy", "binary_cross_entropy")

    def to_dict(self) -> dict:
        return {"loss": self.loss, "label_type": self.label_type, "units": self.units,
                "num_classes": self.num_classes, "final_activation": self.final_activation}

    @classmethod
    def from_dict(cls, d: dict) -> Head:
        return cls(d["loss"], d["label_type"], int(d["units"]), d.get("num_classes"), d["final_activation"])


@dataclass
class Model:
    graph: Any
    x: Tensor
    y: Tensor
    lr: Tensor
    logits: Tensor            # inference branch: last layer before a softmax/sigmoid
    outputs: Tensor           # inference branch: last layer's output
    train_logits: Tensor
    train_outputs: Tensor
    loss: Tensor              # training loss (data term + L2)
    data_loss: Tensor
    grad_norm: Tensor
    train_op: Any
    global_step: Any
    head: Head
    layers: list[LayerInfo]
    weights: list             # kernels that L2 applies to
    optimizer: Any
    input_shape: tuple
    data_parallel: Any = None  # nnctl.distributed.allreduce.DataParallel when several ranks train

    @property
    def trainable_params(self) -> int:
        return sum(li.params for li in self.layers)

    def variable_specs(self) -> dict[str, tuple[list, str]]:
        return {v.op.name: (list(v.static_shape), v.dtype.name) for v in self.graph.get_collection("variables")}

    def fingerprint(self) -> str:
        """A hash of every variable's name, shape and dtype: what a checkpoint must match."""
        blob = json.dumps(sorted(self.variable_specs().items()), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


# --- initializers ---------------------------------------------------------------------------

def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:  # HWIO
        rf = shape[0] * shape[1]
        return rf * shape[2], rf * shape[3]
    n = int(np.prod(shape)) if shape else 1
    return n, n


def _truncated(rng: np.random.Generator, shape: tuple, mean: float, stddev: float) -> np.ndarray:
    v = rng.standard_normal(shape)
    bad = np.abs(v) > 2
    while bad.any():
        v[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(v) > 2
    return mean + stddev * v


def initial_value(init: Any, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Draw an initial value (float32) for an initializer config."""
    name, p = init.name, dict(init.params)
    fan_in, fan_out = _fans(shape)
    if name == "zeros":
        v = np.zeros(shape)
    elif name == "ones":
        v = np.ones(shape)
    elif name == "constant":
        v = np.full(shape, float(p.get("value", 0.0)))
    elif name == "uniform":
        v = rng.uniform(float(p.get("min", -0.05)), float(p.get("max", 0.05)), size=shape)
    elif name == "normal":
        v = float(p.get("mean", 0.0)) + float(p.get("stddev", 0.05)) * rng.standard_normal(shape)
    elif name == "truncated_normal":
        v = _truncated(rng, shape, float(p.get("mean", 0.0)), float(p.get("stddev", 0.05)))
    elif name == "glorot_uniform":
        lim = math.sqrt(6.0 / (fan_in + fan_out))
        v = rng.uniform(-lim, lim, size=shape)
    elif name == "glorot_normal":
        v = _truncated(rng, shape, 0.0, math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978)
    elif name == "he_normal":
        v = _truncated(rng, shape, 0.0, math.sqrt(2.0 / fan_in) / 0.87962566103423978)
    elif name == "he_uniform":
        lim = math.sqrt(6.0 / fan_in)
        v = rng.uniform(-lim, lim, size=shape)
    else:
        raise ValueError(f"unknown initializer {name!r}")
    return np.asarray(v, dtype=np.float32)


# --- layers ---------------------------------------------------------------------------------

def _activate(x: Tensor, name: str | None) -> Tensor:
    a = name or "none"
    if a in ("none", "linear"):
        return x
    if a == "sigmoid":
        return tf.sigmoid(x)
    if a == "tanh":
        return tf.tanh(x)
    if a == "softmax":
        return tf.nn.softmax(x)
    return getattr(tf.nn, a)(x)


class _Builder:
    def __init__(self, cfg: Any, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        self.vars: dict[str, list] = {}
        self.weights: list = []
        self.bn_updates: list = []

    def err(self, key: str, message: str) -> ConfigError:
        return self.cfg.error(key, message)

    def variable(self, layer: Any, what: str, init: Any, shape: tuple, trainable: bool = True) -> Any:
        v = tf.Variable(initial_value(init, shape, self.rng), name=f"{layer.name}/{what}", trainable=trainable)
        self.vars.setdefault(layer.name, []).append(v)
        return v

    def create_variables(self, layers: list, input_shape: tuple) -> list[LayerInfo]:
        """Create each layer's variables once (walking static shapes), checking shapes per layer."""
        infos = []
        shape = (None, *input_shape)
        for i, L in enumerate(layers):
            key = f"model.layers[{i}]"
            t = L.type
            if t == "dense":
                if len(shape) != 2:
                    raise self.err(key, f"dense layer '{L.name}' needs a flat input, but its input has shape "
                                        f"{fmt_shape(shape)}; add a 'flatten' layer before it")
                w = self.variable(L, "kernel", L.initializer, (shape[1], L.units))
                self.weights.append(w)
                if L.use_bias:
                    self.variable(L, "bias", L.bias_initializer, (L.units,))
                shape = (None, L.units)
            elif t == "conv2d":
                if len(shape) != 4:
                    raise self.err(key, f"conv2d layer '{L.name}' needs an image input [height, width, channels], "
                                        f"but its input has shape {fmt_shape(shape)}; set model.input_shape to "
                                        "[h, w, c]")
                kh, kw = L.kernel
                sh, sw = L.stride
                if L.padding == "valid" and (kh > shape[1] or kw > shape[2]):
                    raise self.err(key, f"conv2d layer '{L.name}': kernel {kh}x{kw} is larger than its input "
                                        f"{shape[1]}x{shape[2]} with padding 'valid'")
                w = self.variable(L, "kernel", L.initializer, (kh, kw, shape[3], L.filters))
                self.weights.append(w)
                if L.use_bias:
                    self.variable(L, "bias", L.bias_initializer, (L.filters,))
                shape = (None, _out(shape[1], kh, sh, L.padding), _out(shape[2], kw, sw, L.padding), L.filters)
            elif t in ("max_pool", "avg_pool"):
                if len(shape) != 4:
                    raise self.err(key, f"{t} layer '{L.name}' needs an image input, but its input has shape "
                                        f"{fmt_shape(shape)}")
                (ph, pw), (sh, sw) = L.size, L.stride
                if L.padding == "valid" and (ph > shape[1] or pw > shape[2]):
                    raise self.err(key, f"{t} layer '{L.name}': window {ph}x{pw} is larger than its input "
                                        f"{shape[1]}x{shape[2]}")
                shape = (None, _out(shape[1], ph, sh, L.padding), _out(shape[2], pw, sw, L.padding), shape[3])
            elif t == "flatten":
                shape = (None, int(np.prod(shape[1:])))
            elif t == "batch_norm":
                c = shape[-1]
                one = _Init("ones")
                zero = _Init("zeros")
                self.variable(L, "gamma", one, (c,))
                self.variable(L, "beta", zero, (c,))
                self.variable(L, "moving_mean", zero, (c,), trainable=False)
                self.variable(L, "moving_variance", one, (c,), trainable=False)
            elif t not in ("dropout", "activation"):  # those two change neither shape nor parameters
                raise self.err(key + ".type", f"unknown layer type {t!r}")
            if any(d is not None and d < 1 for d in shape):
                raise self.err(key, f"layer '{L.name}' produces an empty output {fmt_shape(shape)}")
            params = sum(int(np.prod(v.static_shape)) for v in self.vars.get(L.name, []) if v.trainable)
            infos.append(LayerInfo(L.name, t, shape, params, self.vars.get(L.name, []), key))
        return infos

    def forward(self, layers: list, x: Tensor, training: bool) -> tuple[Tensor, Tensor]:
        """Apply the layers; returns (pre-activation of the last layer, output)."""
        pre = h = x
        for L in layers:
            v = {var.op.name.split("/")[-1]: var for var in self.vars.get(L.name, [])}
            t = L.type
            with tf.name_scope(L.name + ("" if training else "_infer")):
                pre = None
                if t == "dense":
                    pre = tf.matmul(h, v["kernel"])
                    if "bias" in v:
                        pre = tf.nn.bias_add(pre, v["bias"])
                    h = _activate(pre, L.activation)
                elif t == "conv2d":
                    pre = tf.nn.conv2d(h, v["kernel"], strides=list(L.stride), padding=L.padding.upper())
                    if "bias" in v:
                        pre = tf.nn.bias_add(pre, v["bias"])
                    h = _activate(pre, L.activation)
                elif t == "max_pool":
                    h = tf.nn.max_pool2d(h, ksize=list(L.size), strides=list(L.stride), padding=L.padding.upper())
                elif t == "avg_pool":
                    h = tf.nn.avg_pool2d(h, ksize=list(L.size), strides=list(L.stride), padding=L.padding.upper())
                elif t == "flatten":
                    h = tf.reshape(h, [-1, int(np.prod(h.get_shape().as_list()[1:]))])
                elif t == "dropout":
                    if training and L.rate > 0:
                        h = tf.nn.dropout(h, rate=L.rate, seed=self.cfg.seed)
                elif t == "batch_norm":
                    axes = list(range(len(h.get_shape()) - 1))
                    if training:
                        mean, var = tf.nn.moments(h, axes)
                        m = L.momentum
                        self.bn_updates.append(tf.assign(v["moving_mean"], v["moving_mean"] * m + mean * (1 - m)))
                        self.bn_updates.append(
                            tf.assign(v["moving_variance"], v["moving_variance"] * m + var * (1 - m)))
                    else:
                        mean, var = v["moving_mean"].value(), v["moving_variance"].value()
                    h = tf.nn.batch_normalization(h, mean, var, v["beta"], v["gamma"], L.epsilon)
                elif t == "activation":
                    pre = h
                    h = _activate(h, L.activation)
            if pre is None:
                pre = h
        return pre, h


@dataclass(frozen=True)
class _Init:
    name: str
    params: dict = field(default_factory=dict)


def _out(n: int, k: int, s: int, padding: str) -> int:
    # TF: SAME -> ceil(n / s); VALID -> ceil((n - k + 1) / s)
    return -(-n // s) if padding == "same" else -(-(n - k + 1) // s)


def _make_optimizer(o: Any, lr: Tensor) -> Any:
    T = tf.train
    if o.name == "sgd":
        return T.GradientDescentOptimizer(lr)
    if o.name in ("momentum", "nesterov"):
        return T.MomentumOptimizer(lr, o.momentum, use_nesterov=o.name == "nesterov")
    if o.name == "adam":
        return T.AdamOptimizer(lr, beta1=o.beta1, beta2=o.beta2, epsilon=o.epsilon)
    if o.name == "adamw":
        # PyTorch's convention (the config's): the decay is scaled by the (scheduled) learning rate.
        return T.AdamWOptimizer(lr * np.float32(o.weight_decay), learning_rate=lr, beta1=o.beta1, beta2=o.beta2,
                                epsilon=o.epsilon)
    if o.name == "rmsprop":
        return T.RMSPropOptimizer(lr, decay=o.rho, momentum=o.momentum or 0.0, epsilon=o.epsilon)
    if o.name == "adagrad":
        return T.AdagradOptimizer(lr, initial_accumulator_value=o.initial_accumulator_value)
    raise ValueError(f"unknown optimizer {o.name!r}")


def _lr_schedule(o: Any, gs: Any) -> Tensor:
    """The learning rate as a graph tensor of the global step (the step before the update)."""
    s = o.schedule
    lr = np.float32(o.lr)
    if s.type == "step":
        t = tf.train.exponential_decay(lr, gs, s.step_size, s.gamma, staircase=True)
    elif s.type == "exponential":
        t = tf.train.exponential_decay(lr, gs, s.decay_steps, s.decay_rate, staircase=bool(s.staircase))
    elif s.type == "cosine":
        t = tf.train.cosine_decay(lr, gs, s.decay_steps, alpha=s.alpha or 0.0)
    else:
        t = tf.constant(lr)
    if s.warmup_steps:
        t = tf.train.linear_warmup(t, gs, s.warmup_steps)
    return t


def check_against_data(cfg: Any, example_shape: tuple, num_classes: int | None, label_width: int) -> None:
    """Shape problems between the config and its data, reported at the config key."""
    want = tuple(cfg.model.input_shape)
    if tuple(example_shape) != want and int(np.prod(example_shape)) != int(np.prod(want)):
        raise cfg.error("model.input_shape", f"model.input_shape is {list(want)} but the training data has "
                                             f"{int(np.prod(example_shape))} feature(s) per example "
                                             f"(shape {list(example_shape)})")


def build_model(cfg: Any, example_shape: tuple | None = None, num_classes: int | None = None,
                label_width: int = 1) -> Model:
    """Build the graph of ``cfg`` in a new Graph. ``example_shape`` is the data's per-example shape."""
    input_shape = tuple(cfg.model.input_shape)
    if example_shape is not None:
        check_against_data(cfg, example_shape, num_classes, label_width)
    layers = cfg.model.layers
    graph = tf.Graph()
    rng = np.random.default_rng(cfg.seed)
    with graph.as_default():
        tf.set_random_seed(cfg.seed)
        b = _Builder(cfg, rng)
        infos = b.create_variables(layers, input_shape)
        last = infos[-1]
        if len(last.output_shape) != 2:
            raise cfg.error(f"model.layers[{len(layers) - 1}]",
                            f"the last layer '{last.name}' outputs shape {fmt_shape(last.output_shape)}; "
                            "the model must end with a flat output (add flatten and dense layers)")
        units = last.output_shape[1]
        head = _head(cfg, units, num_classes, label_width, layers)
        feat_shape = tuple(example_shape) if example_shape is not None else input_shape
        x = tf.placeholder(tf.float32, (None, *feat_shape), name="x")
        xin = x if feat_shape == input_shape else tf.reshape(x, [-1, *input_shape], name="x_reshaped")
        if head.label_type == "real":
            y = tf.placeholder(tf.float32, (None, units), name="y")
        else:
            y = tf.placeholder(tf.int64, (None,), name="y")
        with tf.name_scope("inference"):
            logits, outputs = b.forward(layers, xin, training=False)
        if head.final_activation not in ("softmax", "sigmoid") or not head.uses_logits:
            logits = outputs
        tr_logits, tr_outputs = b.forward(layers, xin, training=True)
        if head.final_activation not in ("softmax", "sigmoid") or not head.uses_logits:
            tr_logits = tr_outputs
        with tf.name_scope("loss"):
            data_loss = _loss_graph(head, y, tr_logits, tr_outputs)
            loss = data_loss
            if cfg.loss.l2 > 0 and b.weights:
                loss = loss + np.float32(cfg.loss.l2) * tf.add_n([tf.nn.l2_loss(w) for w in b.weights])
        global_step = tf.train.get_or_create_global_step()
        with tf.name_scope("learning_rate"):
            lr = _lr_schedule(cfg.optimizer, global_step)
        opt = _make_optimizer(cfg.optimizer, lr)
        gv = opt.compute_gradients(loss)
        grads = [g for g, _ in gv]
        missing = [v.op.name for g, v in gv if g is None]
        if missing:
            raise cfg.error("model", "these parameters have no path to the loss: " + ", ".join(missing))
        dp = None
        if world().size > 1:  # data-parallel: sum the shard-weighted gradients over the ranks
            from nnctl.distributed.allreduce import allreduce_gradients
            grads, dp = allreduce_gradients(grads, loss)
            gv = list(zip(grads, [v for _, v in gv]))
        with tf.name_scope("grad_norm"):
            grad_norm = tf.train.global_norm(grads)
        if cfg.optimizer.clip_norm:
            grads, _ = tf.train.clip_by_global_norm(grads, np.float32(cfg.optimizer.clip_norm), use_norm=grad_norm)
            gv = list(zip(grads, [v for _, v in gv]))
        train_op = opt.apply_gradients(gv, global_step=global_step)
        if b.bn_updates:
            train_op = tf.group(train_op, *b.bn_updates, name="train")
    return Model(graph=graph, x=x, y=y, lr=lr, logits=logits, outputs=outputs, train_logits=tr_logits,
                 train_outputs=tr_outputs, loss=loss, data_loss=data_loss, grad_norm=grad_norm, train_op=train_op,
                 global_step=global_step, head=head, layers=infos, weights=b.weights, optimizer=opt,
                 input_shape=feat_shape, data_parallel=dp)


def _head(cfg: Any, units: int, num_classes: int | None, label_width: int, layers: list) -> Head:
    lt = cfg.data.label_type
    loss = cfg.loss.type
    last_key = f"model.layers[{len(layers) - 1}]"
    final = "none"
    for L in reversed(layers):
        if L.type in ("dense", "conv2d", "activation"):
            final = L.activation or "none"
            break
    name = layers[-1].name
    if lt in ("class", "onehot"):
        if loss == "cross_entropy":
            if units < 2:
                raise cfg.error(last_key, f"loss cross_entropy needs one output unit per class, but the last layer "
                                          f"'{name}' has {units}; use binary_cross_entropy for one unit")
            if num_classes is not None and units != num_classes:
                raise cfg.error(last_key, f"the last layer '{name}' has {units} units but the data has "
                                          f"{num_classes} classes")
        elif units == 1:
            if num_classes is not None and num_classes > 2:
                raise cfg.error(last_key, f"the last layer '{name}' has 1 unit, which can only separate 2 "
                                          f"classes, but the data has {num_classes}")
        elif num_classes is not None and units != num_classes:
            raise cfg.error(last_key, f"the last layer '{name}' has {units} units but the data has "
                                      f"{num_classes} classes")
    else:
        if loss == "cross_entropy":
            raise cfg.error("loss.type", "cross_entropy needs class labels (data.label_type: class or onehot)")
        if units != label_width:
            raise cfg.error(last_key, f"the last layer '{name}' has {units} units but the data has {label_width} "
                                      "target column(s)")
    return Head(loss, lt, units, num_classes, final)


def _targets(head: Head, y: Tensor) -> Tensor:
    """Labels as float targets shaped like the output."""
    if head.label_type == "real":
        return y
    if head.units == 1:
        return tf.expand_dims(tf.cast(y, tf.float32), 1)
    return tf.one_hot(y, head.units, dtype=tf.float32)


def _loss_graph(head: Head, y: Tensor, logits: Tensor, outputs: Tensor) -> Tensor:
    if head.loss == "cross_entropy":
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    t = _targets(head, y)
    if head.loss == "binary_cross_entropy":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t, logits=logits))
    if head.loss == "sum_squares":
        return tf.reduce_sum(tf.square(t - outputs))
    return tf.reduce_mean(tf.square(t - outputs))
