"""Config -> graph: layers, the loss, the optimizer's update nodes, and an inference branch.

The training branch (dropout active, batch norm on batch statistics) and the inference branch
(no dropout, batch norm on moving averages) share the same Variables, as in a TF1 program that
builds its model function twice. Evaluation and freezing use only the inference branch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import nnctl as tf
from nnctl.distributed.ranks import world
from nnctl.graph.graph import Tensor
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.layers import Context, Layer, LayerError, layer_class
from nnctl.layers.initializers import initial_value
from nnctl.sizecheck import check_model_memory


@dataclass
class LayerInfo:
    name: str
    type: str
    output_shape: tuple
    params: int
    variables: list = field(default_factory=list)
    key: str = ""
    inputs: list = field(default_factory=list)


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
    inputs: dict = field(default_factory=dict)   # model input name -> tensor (from x)

    @property
    def trainable_params(self) -> int:
        return sum(li.params for li in self.layers)

    def variable_specs(self) -> dict[str, tuple[list, str]]:
        return {v.op.name: (list(v.static_shape), v.dtype.name) for v in self.graph.get_collection("variables")}

    def fingerprint(self) -> str:
        """A hash of every variable's name, shape and dtype: what a checkpoint must match."""
        blob = json.dumps(sorted(self.variable_specs().items()), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


# --- the network: layer objects wired by name ------------------------------------------------------

class Network:
    """The config's layers as layer objects (nnctl/layers/), wired by their ``inputs``.

    ``build`` creates every variable once, walking static shapes in the config's order (each layer's
    inputs come before it); ``forward`` adds one branch of graph ops (training or inference) that
    reuses them."""

    def __init__(self, cfg: Any, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        self.ctx = Context(self._make_variable, seed=cfg.seed)
        self.layers: dict[str, Layer] = {}
        self.shapes: dict[str, tuple] = {}
        self.infos: list[LayerInfo] = []

    def _make_variable(self, layer: Layer, what: str, shape: tuple, init: Any, trainable: bool) -> Any:
        return tf.Variable(initial_value(init, shape, self.rng), name=f"{layer.name}/{what}", trainable=trainable)

    @property
    def weights(self) -> list:
        """The kernels that the L2 penalty applies to."""
        return [w for layer in self.layers.values() for w in layer.regularized]

    @property
    def updates(self) -> list:
        return self.ctx.updates

    def build(self) -> list[LayerInfo]:
        mc = self.cfg.model
        for inp in mc.inputs:
            self.shapes[inp.name] = (None, *inp.shape)
        for la in mc.layers:
            layer = layer_class(la.type)(la.name, la.params, self.ctx)
            shapes = [self.shapes[i] for i in la.inputs]
            try:
                out = layer.build_once(shapes, la.inputs)
            except LayerError as e:
                raise self.cfg.error(la.where, f"{la.type} layer '{la.name}'{_origin(la)}: {e}") from None
            self.layers[la.name] = layer
            self.shapes[la.name] = out
            self.infos.append(LayerInfo(la.name, la.type, out, layer.params, list(layer.variables), la.where,
                                        list(la.inputs)))
        return self.infos

    def forward(self, inputs: dict[str, Tensor], training: bool) -> tuple[Tensor, Tensor]:
        """Apply the layers; returns (pre-activation of the output layer, its output)."""
        vals: dict[str, tuple[Tensor, Tensor, Any]] = {n: (t, t, None) for n, t in inputs.items()}
        for la in self.cfg.model.layers:
            layer = self.layers[la.name]
            xs = [vals[i][1] for i in la.inputs]
            masks = [vals[i][2] for i in la.inputs]
            with tf.name_scope(la.name + ("" if training else "_infer")):
                vals[la.name] = layer.apply(xs, training, masks)
        pre, out, _ = vals[self.cfg.model.output]
        return pre, out


def _origin(la: Any) -> str:
    if la.repetition is None:
        return ""
    return f" (repetition {la.repetition} of the block layer at {la.key})"


def _model_inputs(cfg: Any, x: Tensor, feat_shape: tuple) -> dict[str, Tensor]:
    """The named model inputs from the one feature placeholder ``x``: a reshape for a single input,
    the configured feature columns of the flattened features for several."""
    mc = cfg.model
    out = {}
    n = int(np.prod(feat_shape))
    for inp in mc.inputs:
        if inp.columns is None:
            out[inp.name] = x if tuple(feat_shape) == inp.shape else tf.reshape(x, [-1, *inp.shape],
                                                                                 name=f"{inp.name}_reshaped")
            continue
        with tf.name_scope(f"input_{inp.name}"):
            flat = x if len(feat_shape) == 1 else tf.reshape(x, [-1, n])
            cols = list(inp.columns)
            if cols == list(range(cols[0], cols[0] + len(cols))):
                t = flat[:, cols[0]:cols[0] + len(cols)]
            else:
                t = tf.gather(flat, np.asarray(cols, dtype=np.int64), axis=1)
            out[inp.name] = t if len(inp.shape) == 1 else tf.reshape(t, [-1, *inp.shape])
    return out


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
    mc = cfg.model
    n = int(np.prod(example_shape))
    if mc.multi_input and any(i.columns is not None for i in mc.inputs):
        for inp in mc.inputs:
            if inp.columns is not None and max(inp.columns) >= n:
                raise cfg.error(f"{inp.key}.columns", f"input '{inp.name}' reads feature column {max(inp.columns)} "
                                                      f"but the training data has {n} feature(s) per example "
                                                      f"(columns 0..{n - 1})")
        return
    want = tuple(mc.input_shape)
    if tuple(example_shape) != want and n != int(np.prod(want)):
        key = mc.inputs[0].key + ".shape" if mc.multi_input else "model.input_shape"
        raise cfg.error(key, f"model.input_shape is {list(want)} but the training data has "
                             f"{n} feature(s) per example (shape {list(example_shape)})")


def build_model(cfg: Any, example_shape: tuple | None = None, num_classes: int | None = None,
                label_width: int = 1) -> Model:
    """Build the graph of ``cfg`` in a new Graph. ``example_shape`` is the data's per-example shape."""
    input_shape = tuple(cfg.model.input_shape)
    if example_shape is not None:
        check_against_data(cfg, example_shape, num_classes, label_width)
    graph = tf.Graph()
    rng = np.random.default_rng(cfg.seed)
    with graph.as_default():
        tf.set_random_seed(cfg.seed)
        net = Network(cfg, rng)
        infos = net.build()
        out_info = next(li for li in infos if li.name == cfg.model.output)
        if len(out_info.output_shape) != 2:
            raise cfg.error(out_info.key,
                            f"the output layer '{out_info.name}' outputs shape {fmt_shape(out_info.output_shape)}; "
                            "the model must end with a flat output (add flatten and dense layers)")
        units = out_info.output_shape[1]
        head = _head(cfg, units, num_classes, label_width, out_info)
        feat_shape = tuple(example_shape) if example_shape is not None else input_shape
        x = tf.placeholder(tf.float32, (None, *feat_shape), name="x")
        if head.label_type == "real":
            y = tf.placeholder(tf.float32, (None, units), name="y")
        else:
            y = tf.placeholder(tf.int64, (None,), name="y")
        xin = _model_inputs(cfg, x, feat_shape)
        with tf.name_scope("inference"):
            logits, outputs = net.forward(xin, training=False)
        if head.final_activation not in ("softmax", "sigmoid") or not head.uses_logits:
            logits = outputs
        tr_logits, tr_outputs = net.forward(xin, training=True)
        if head.final_activation not in ("softmax", "sigmoid") or not head.uses_logits:
            tr_logits = tr_outputs
        with tf.name_scope("loss"):
            data_loss = _loss_graph(head, y, tr_logits, tr_outputs)
            loss = data_loss
            if cfg.loss.l2 > 0 and net.weights:
                loss = loss + np.float32(cfg.loss.l2) * tf.add_n([tf.nn.l2_loss(w) for w in net.weights])
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
        if net.updates:
            train_op = tf.group(train_op, *net.updates, name="train")
    check_model_memory(graph, cfg)  # static shapes only: nothing is allocated yet
    return Model(graph=graph, x=x, y=y, lr=lr, logits=logits, outputs=outputs, train_logits=tr_logits,
                 train_outputs=tr_outputs, loss=loss, data_loss=data_loss, grad_norm=grad_norm, train_op=train_op,
                 global_step=global_step, head=head, layers=infos, weights=net.weights, optimizer=opt,
                 input_shape=feat_shape, data_parallel=dp, inputs=xin)


def _head(cfg: Any, units: int, num_classes: int | None, label_width: int, out_info: LayerInfo) -> Head:
    lt = cfg.data.label_type
    loss = cfg.loss.type
    last_key = out_info.key
    # the activation that produced the output: the output layer's, or the nearest one before it
    # through single-input layers without one (dropout after a softmax dense)
    final = "none"
    la = cfg.model.layer(out_info.name)
    while la is not None:
        act = layer_class(la.type).final_activation(la.params)
        if act is not None:
            final = act
            break
        la = cfg.model.layer(la.inputs[0]) if len(la.inputs) == 1 else None
    name = out_info.name
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
