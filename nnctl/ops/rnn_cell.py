"""TF1's recurrent cells (``tf.nn.rnn_cell``) on graph ops: BasicRNNCell, BasicLSTMCell, LSTMCell,
GRUCell, MultiRNNCell, DropoutWrapper and LSTMStateTuple.

A cell maps (inputs [batch, depth], state) to (output, new state). It creates its variables with
``tf.get_variable`` the first time it is called, inside ``tf.variable_scope(scope or its name)``,
so the names are TF1's (``rnn/basic_lstm_cell/kernel``, ``rnn/multi_rnn_cell/cell_0/gru_cell/
gates/bias`` ...), and later calls reuse the same variables. Gate layouts are TF's, so weights
trained by TensorFlow load unchanged:

- BasicRNNCell: h' = act([x, h] @ W + b), W [depth + units, units];
- BasicLSTMCell / LSTMCell: [i, j, f, o] = split([x, h] @ W + b, 4) with W [depth + units, 4 units],
  c' = c sigmoid(f + forget_bias) + sigmoid(i) act(j), h' = act(c') sigmoid(o); LSTMCell adds
  optional peepholes (w_i_diag, w_f_diag, w_o_diag), cell_clip, and a projection h' @ P
  (``projection/kernel`` [units, num_proj]) with proj_clip;
- GRUCell: [r, u] = sigmoid([x, h] @ Wg + bg) (``gates/``, bias initialised to 1),
  c = act([x, r h] @ Wc + bc) (``candidate/``), h' = u h + (1 - u) c.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import Tensor, name_scope
from nnctl.ops import array_ops, lstm_ops, nn_ops
from nnctl.ops import math_ops as m
from nnctl.ops.core import convert_to_tensor


def _tf() -> Any:
    import nnctl as tf
    return tf


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The (c, h) state of an LSTM cell: c the memory, h the output."""

    __slots__ = ()

    @property
    def dtype(self) -> Any:
        if self.c.dtype != self.h.dtype:
            raise TypeError(f"Inconsistent internal state: {self.c.dtype} vs {self.h.dtype}")
        return self.c.dtype


def map_structure(fn: Any, *structs: Any) -> Any:
    """Apply ``fn`` leafwise over matching nests of tuples / namedtuples / lists (leaves: Tensors, ints)."""
    first = structs[0]
    if isinstance(first, (tuple, list)):
        parts = [map_structure(fn, *items) for items in zip(*structs)]
        if hasattr(first, "_fields"):
            return type(first)(*parts)
        return type(first)(parts)
    return fn(*structs)


def flatten(struct: Any) -> list:
    if isinstance(struct, (tuple, list)):
        return [leaf for item in struct for leaf in flatten(item)]
    return [struct]


def _depth(x: Tensor, what: str) -> int:
    s = x.static_shape
    if s is None or len(s) != 2 or s[1] is None:
        raise ValueError(f"{what}: inputs must be 2-D [batch, depth] with a known depth, got shape "
                         f"{None if s is None else list(s)} ({x.name})")
    return int(s[1])


def _zeros(batch_size: Any, size: int, dtype: Any) -> Tensor:
    """A [batch_size, size] zero tensor; batch_size an int, or a scalar int Tensor (tf.shape(x)[0])."""
    dt = dtypes.as_dtype(dtype)
    if isinstance(batch_size, Tensor):
        tf = _tf()
        return tf.zeros(tf.stack([batch_size, size]), dtype=dt)
    return array_ops.zeros([int(batch_size), size], dtype=dt)


def zeros_for_batch(like: Tensor, size: int, dtype: Any) -> Tensor:
    """Zeros [batch, size] with the batch of the 2-D tensor ``like`` (known or not)."""
    dt = dtypes.as_dtype(dtype)
    s = like.static_shape
    if s is not None and s[0] is not None:
        return array_ops.zeros([int(s[0]), size], dtype=dt)
    col = m.cast(array_ops.zeros_like(like[:, :1]), dt)  # [batch, 1] of zeros, whatever like holds
    return m.add(col, array_ops.zeros([1, size], dtype=dt))


class RNNCell:
    """The abstract cell: ``state_size``, ``output_size``, ``zero_state`` and ``__call__``."""

    _default_name = "rnn_cell"

    def __init__(self, reuse: Any = None, name: str | None = None, dtype: Any = None) -> None:
        self._name = name or self._default_name
        self._dtype = dtype
        self._vars: dict[str, Any] | None = None

    @property
    def state_size(self) -> Any:
        raise NotImplementedError

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    @property
    def trainable_variables(self) -> list:
        return list((self._vars or {}).values())

    @property
    def variables(self) -> list:
        return self.trainable_variables

    weights = variables

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        """Zeros shaped like ``state_size`` for ``batch_size`` rows (an int or a scalar int Tensor)."""
        with name_scope(type(self).__name__ + "ZeroState"):
            return map_structure(lambda n: _zeros(batch_size, int(n), dtype), self.state_size)

    def zero_state_like(self, x: Tensor, dtype: Any) -> Any:
        """Zeros shaped like ``state_size`` with the batch of the 2-D input ``x``."""
        with name_scope(type(self).__name__ + "ZeroState"):
            return map_structure(lambda n: zeros_for_batch(x, int(n), dtype), self.state_size)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        tf = _tf()
        x = convert_to_tensor(inputs)
        with tf.variable_scope(scope or self._name):
            self._ensure_built(x)
            return self.call(x, state)

    def _ensure_built(self, x: Tensor) -> None:
        if self._vars is None:
            self._vars = {}
            self.build(_depth(x, type(self).__name__), x.dtype)

    # Cells whose step is ``_step([x, h] @ kernel + bias, state)`` (h = ``_recurrent_input(state)``)
    # set this: the unrolled drivers then hoist the input half of the product (project_inputs).
    _concat_kernel = False

    def project_inputs(self, steps: list) -> list | None:
        """The input half of every step's product, x_t @ kernel[:depth], for all steps at once (one
        [batch, width] tensor per step, one GEMM over the stacked steps, as Keras and cuDNN do), or
        None where the cell has no such split. [x_t, h] @ kernel = x_t @ kernel[:depth] + h @
        kernel[depth:], so each step keeps only the product with the recurrent half
        (``call_projected``); the bias is added to the hoisted half too. The unrolled drivers
        (rnn.py) use it when it is offered."""
        if not self._concat_kernel:
            return None
        found = self._hoist_inputs(steps, lambda: [(self._kernel, self._bias)])
        if found is None:
            return None
        (self._recurrent_kernel,), (per_step,) = found
        return per_step

    def _hoist_inputs(self, steps: list, weights: Any) -> tuple[list, list] | None:
        """For each (kernel, bias) of ``weights()`` (called once the cell is built): the kernel's
        recurrent half kernel[depth:] and every step's x_t @ kernel[:depth] + bias, computed as one
        GEMM and one BiasAdd over the stacked steps (None for fewer than two steps)."""
        if len(steps) < 2:
            return None
        tf = _tf()
        x0 = convert_to_tensor(steps[0])
        with tf.variable_scope(self._name):
            self._ensure_built(x0)
            depth = _depth(x0, type(self).__name__)
            recurrent, per_step = [], []
            with name_scope("input_projection"):
                xs = array_ops.concat([convert_to_tensor(x) for x in steps], 0)
                for kernel, bias in weights():
                    # one split of the kernel: its gradient is the concat of the halves' gradients
                    w_x, w_h = array_ops.split(kernel, [depth, int(kernel.static_shape[0]) - depth], axis=0)
                    recurrent.append(w_h)
                    # the bias joins the hoisted half: one BiasAdd over all steps instead of one a step
                    per_step.append(array_ops.split(nn_ops.bias_add(m.matmul(xs, w_x), bias), len(steps), axis=0))
            return recurrent, per_step

    def call_projected(self, xw: Tensor, state: Any) -> tuple[Any, Any]:
        """One step from its projected input ``xw`` (project_inputs: x_t @ kernel[:depth] + bias)."""
        tf = _tf()
        with tf.variable_scope(self._name):
            h = self._recurrent_input(state)
            return self._step(m.add(xw, m.matmul(h, self._recurrent_kernel)), state)

    def call(self, x: Tensor, state: Any) -> tuple[Any, Any]:
        if not self._concat_kernel:
            raise NotImplementedError(f"{type(self).__name__}: an RNNCell subclass defines call(inputs, state)")
        return self._step(_linear([x, self._recurrent_input(state)], self._kernel, self._bias), state)

    def _recurrent_input(self, state: Any) -> Tensor:
        raise NotImplementedError

    def _step(self, gates: Tensor, state: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def add_variable(self, name: str, shape: list, dtype: Any, initializer: Any = None) -> Any:
        v = _tf().get_variable(name, shape=shape, dtype=dtype, initializer=initializer)
        assert self._vars is not None
        self._vars[name] = v
        return v

    def build(self, depth: int, dtype: Any) -> None:
        raise NotImplementedError


def _act(activation: Any) -> Any:
    return m.tanh if activation is None else activation


def _linear(parts: list, kernel: Any, bias: Any) -> Tensor:
    return nn_ops.bias_add(m.matmul(array_ops.concat(parts, 1), kernel), bias)


def _zeros_init() -> Any:
    return _tf().zeros_initializer()


class BasicRNNCell(RNNCell):
    """h' = activation([x, h] @ kernel + bias) (tanh by default)."""

    _default_name = "basic_rnn_cell"

    def __init__(self, num_units: int, activation: Any = None, reuse: Any = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(reuse, name, dtype)
        self._num_units = int(num_units)
        self._activation = _act(activation)

    @property
    def state_size(self) -> int:
        return self._num_units

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, depth: int, dtype: Any) -> None:
        self._kernel = self.add_variable("kernel", [depth + self._num_units, self._num_units], dtype)
        self._bias = self.add_variable("bias", [self._num_units], dtype, _zeros_init())

    _concat_kernel = True

    def _recurrent_input(self, state: Any) -> Tensor:
        return convert_to_tensor(state)

    def _step(self, gates: Tensor, state: Any) -> tuple[Any, Any]:
        h = self._activation(gates)
        return h, h


class BasicLSTMCell(RNNCell):
    """The LSTM of Zaremba et al. (2014) with ``forget_bias`` added to the forget gate."""

    _default_name = "basic_lstm_cell"

    def __init__(self, num_units: int, forget_bias: float = 1.0, state_is_tuple: bool = True,
                 activation: Any = None, reuse: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(reuse, name, dtype)
        self._num_units = int(num_units)
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = _act(activation)

    @property
    def state_size(self) -> Any:
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, depth: int, dtype: Any) -> None:
        n = self._num_units
        self._kernel = self.add_variable("kernel", [depth + n, 4 * n], dtype)
        self._bias = self.add_variable("bias", [4 * n], dtype, _zeros_init())

    def _split_state(self, state: Any) -> tuple[Tensor, Tensor]:
        if self._state_is_tuple:
            c, h = state
            return convert_to_tensor(c), convert_to_tensor(h)
        c, h = array_ops.split(state, 2, axis=1)
        return c, h

    def _pack_state(self, c: Tensor, h: Tensor) -> Any:
        return LSTMStateTuple(c, h) if self._state_is_tuple else array_ops.concat([c, h], 1)

    _concat_kernel = True

    def _recurrent_input(self, state: Any) -> Tensor:
        return self._split_state(state)[1]

    def _step(self, gates: Tensor, state: Any) -> tuple[Any, Any]:
        c, _ = self._split_state(state)
        if self._activation is m.tanh:  # the elementwise part as one op (the same arithmetic: lstm_ops.py)
            new_c, new_h, _, _ = lstm_ops.lstm_gates(gates, c, self._forget_bias)
            return new_h, self._pack_state(new_c, new_h)
        i, j, f, o = array_ops.split(gates, 4, axis=1)
        fb = m.scalar_like(self._forget_bias, f)
        new_c = m.add(m.multiply(c, m.sigmoid(m.add(f, fb))), m.multiply(m.sigmoid(i), self._activation(j)))
        new_h = m.multiply(self._activation(new_c), m.sigmoid(o))
        return new_h, self._pack_state(new_c, new_h)


class LSTMCell(BasicLSTMCell):
    """TF1's LSTMCell: BasicLSTMCell plus optional peepholes, cell clipping and an output projection."""

    _default_name = "lstm_cell"

    def __init__(self, num_units: int, use_peepholes: bool = False, cell_clip: float | None = None,
                 initializer: Any = None, num_proj: int | None = None, proj_clip: float | None = None,
                 num_unit_shards: Any = None, num_proj_shards: Any = None, forget_bias: float = 1.0,
                 state_is_tuple: bool = True, activation: Any = None, reuse: Any = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(num_units, forget_bias, state_is_tuple, activation, reuse, name, dtype)
        if num_unit_shards is not None or num_proj_shards is not None:
            raise ValueError("LSTMCell: num_unit_shards / num_proj_shards (partitioned variables) are not supported")
        self._use_peepholes = bool(use_peepholes)
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = None if num_proj is None else int(num_proj)
        self._proj_clip = proj_clip

    @property
    def state_size(self) -> Any:
        n, p = self._num_units, self._num_proj or self._num_units
        return LSTMStateTuple(n, p) if self._state_is_tuple else n + p

    @property
    def output_size(self) -> int:
        return self._num_proj or self._num_units

    def _split_state(self, state: Any) -> tuple[Tensor, Tensor]:
        if self._state_is_tuple:
            return super()._split_state(state)
        n = self._num_units
        return state[:, :n], state[:, n:]

    def build(self, depth: int, dtype: Any) -> None:
        n, p = self._num_units, self._num_proj or self._num_units
        self._kernel = self.add_variable("kernel", [depth + p, 4 * n], dtype, self._initializer)
        self._bias = self.add_variable("bias", [4 * n], dtype, _zeros_init())
        if self._use_peepholes:
            self._w_f = self.add_variable("w_f_diag", [n], dtype, self._initializer)
            self._w_i = self.add_variable("w_i_diag", [n], dtype, self._initializer)
            self._w_o = self.add_variable("w_o_diag", [n], dtype, self._initializer)
        if self._num_proj is not None:
            tf = _tf()
            with tf.variable_scope("projection"):
                v = tf.get_variable("kernel", shape=[n, self._num_proj], dtype=dtype, initializer=self._initializer)
            assert self._vars is not None
            self._vars["projection/kernel"] = v
            self._proj = v

    def _step(self, gates: Tensor, state: Any) -> tuple[Any, Any]:
        """The cell after its product: gates [batch, 4 units] = [i, j, f, o] pre-activations."""
        c_prev, _ = self._split_state(state)
        if self._activation is m.tanh and not self._use_peepholes and self._cell_clip is None:
            c, h, _, _ = lstm_ops.lstm_gates(gates, c_prev, self._forget_bias)
            return self._project(c, h)
        i, j, f, o = array_ops.split(gates, 4, axis=1)
        fb = m.scalar_like(self._forget_bias, f)
        if self._use_peepholes:
            f = m.add(f, m.multiply(self._w_f, c_prev))
            i = m.add(i, m.multiply(self._w_i, c_prev))
        c = m.add(m.multiply(m.sigmoid(m.add(f, fb)), c_prev), m.multiply(m.sigmoid(i), self._activation(j)))
        if self._cell_clip is not None:
            c = m.clip_by_value(c, -float(self._cell_clip), float(self._cell_clip))
        if self._use_peepholes:
            o = m.add(o, m.multiply(self._w_o, c))
        h = m.multiply(m.sigmoid(o), self._activation(c))
        return self._project(c, h)

    def _project(self, c: Tensor, h: Tensor) -> tuple[Any, Any]:
        if self._num_proj is not None:
            h = m.matmul(h, self._proj)
            if self._proj_clip is not None:
                h = m.clip_by_value(h, -float(self._proj_clip), float(self._proj_clip))
        return h, self._pack_state(c, h)


class GRUCell(RNNCell):
    """The GRU of Cho et al. (2014) in TF1's layout (reset and update gates, then the candidate)."""

    _default_name = "gru_cell"

    def __init__(self, num_units: int, activation: Any = None, reuse: Any = None, kernel_initializer: Any = None,
                 bias_initializer: Any = None, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(reuse, name, dtype)
        self._num_units = int(num_units)
        self._activation = _act(activation)
        self._kernel_init = kernel_initializer
        self._bias_init = bias_initializer

    @property
    def state_size(self) -> int:
        return self._num_units

    @property
    def output_size(self) -> int:
        return self._num_units

    def build(self, depth: int, dtype: Any) -> None:
        tf = _tf()
        n = self._num_units
        assert self._vars is not None
        with tf.variable_scope("gates"):
            self._gk = tf.get_variable("kernel", shape=[depth + n, 2 * n], dtype=dtype,
                                       initializer=self._kernel_init)
            # TF starts the gates open-ish: bias 1 unless bias_initializer is given
            self._gb = tf.get_variable("bias", shape=[2 * n], dtype=dtype,
                                       initializer=self._bias_init or tf.constant_initializer(1.0))
        with tf.variable_scope("candidate"):
            self._ck = tf.get_variable("kernel", shape=[depth + n, n], dtype=dtype, initializer=self._kernel_init)
            self._cb = tf.get_variable("bias", shape=[n], dtype=dtype, initializer=self._bias_init or _zeros_init())
        self._vars.update({"gates/kernel": self._gk, "gates/bias": self._gb, "candidate/kernel": self._ck,
                           "candidate/bias": self._cb})

    def call(self, x: Tensor, state: Any) -> tuple[Any, Any]:
        h = convert_to_tensor(state)
        r, u = array_ops.split(m.sigmoid(_linear([x, h], self._gk, self._gb)), 2, axis=1)
        c = self._activation(_linear([x, m.multiply(r, h)], self._ck, self._cb))
        return self._blend(u, h, c)

    def _blend(self, u: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        new_h = m.add(m.multiply(u, h), m.multiply(m.subtract(m.scalar_like(1.0, u), u), c))
        return new_h, new_h

    def project_inputs(self, steps: list) -> list | None:
        """Both products' input halves for every step at once (see RNNCell.project_inputs): [x_t, h]
        @ gates_kernel and [x_t, r h] @ candidate_kernel split into x_t @ kernel[:depth] + bias, one
        GEMM and one BiasAdd each over the stacked steps, and the recurrent halves per step
        (``call_projected``); no step concatenates [x_t, h] or [x_t, r h] or splits their gradients."""
        found = self._hoist_inputs(steps, lambda: [(self._gk, self._gb), (self._ck, self._cb)])
        if found is None:
            return None
        recurrent, (gates, candidate) = found
        self._recurrent_kernels = tuple(recurrent)
        return list(zip(gates, candidate))

    def call_projected(self, xw: Any, state: Any) -> tuple[Any, Any]:
        """One step from its projected inputs ``xw`` = (x_t gates_kernel[:depth] + gates_bias, x_t
        candidate_kernel[:depth] + candidate_bias) (project_inputs)."""
        tf = _tf()
        xg, xc = xw
        gk_h, ck_h = self._recurrent_kernels
        with tf.variable_scope(self._name):
            h = convert_to_tensor(state)
            r, u = array_ops.split(m.sigmoid(m.add(xg, m.matmul(h, gk_h))), 2, axis=1)
            c = self._activation(m.add(xc, m.matmul(m.multiply(r, h), ck_h)))
            return self._blend(u, h, c)


class MultiRNNCell(RNNCell):
    """Cells stacked in depth: cell k reads cell k-1's output; state is the tuple of their states."""

    _default_name = "multi_rnn_cell"

    def __init__(self, cells: list, state_is_tuple: bool = True) -> None:
        super().__init__(None, None, None)
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not state_is_tuple:
            raise ValueError("MultiRNNCell: state_is_tuple=False is not supported (it is deprecated in TF1)")
        if len({id(c) for c in cells}) != len(cells):
            # TF1 would silently share the variables of a cell listed twice; almost always a bug
            raise ValueError("MultiRNNCell: the same cell object appears more than once; create one cell per "
                             "layer ([BasicLSTMCell(n) for _ in range(k)])")
        self._cells = list(cells)

    @property
    def state_size(self) -> tuple:
        return tuple(c.state_size for c in self._cells)

    @property
    def output_size(self) -> int:
        return self._cells[-1].output_size

    @property
    def trainable_variables(self) -> list:
        return [v for c in self._cells for v in c.trainable_variables]

    def zero_state(self, batch_size: Any, dtype: Any) -> tuple:
        return tuple(c.zero_state(batch_size, dtype) for c in self._cells)

    def zero_state_like(self, x: Tensor, dtype: Any) -> tuple:
        return tuple(c.zero_state_like(x, dtype) for c in self._cells)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        tf = _tf()
        if not isinstance(state, (tuple, list)) or len(state) != len(self._cells):
            raise ValueError(f"MultiRNNCell: expected a tuple of {len(self._cells)} states, got {state!r}")
        cur = convert_to_tensor(inputs)
        new_states = []
        with tf.variable_scope(scope or self._name):
            for k, (cell, s) in enumerate(zip(self._cells, state)):
                with tf.variable_scope(f"cell_{k}"):
                    cur, ns = cell(cur, s)
                new_states.append(ns)
        return cur, tuple(new_states)


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs, outputs and (new) state, with keep probabilities (floats or
    scalar tensors such as a placeholder fed 1.0 at evaluation). The wrapped cell keeps its own
    variable names."""

    def __init__(self, cell: RNNCell, input_keep_prob: Any = 1.0, output_keep_prob: Any = 1.0,
                 state_keep_prob: Any = 1.0, variational_recurrent: bool = False, input_size: Any = None,
                 dtype: Any = None, seed: int | None = None, dropout_state_filter_visitor: Any = None) -> None:
        super().__init__(None, None, dtype)
        if variational_recurrent:
            raise ValueError("DropoutWrapper: variational_recurrent=True is not supported yet")
        for what, p in (("input_keep_prob", input_keep_prob), ("output_keep_prob", output_keep_prob),
                        ("state_keep_prob", state_keep_prob)):
            if isinstance(p, (int, float, np.floating)) and not 0.0 < float(p) <= 1.0:
                raise ValueError(f"Parameter {what} must be between 0 and 1: {float(p):g}")
        self._cell = cell
        self._in, self._out, self._state = input_keep_prob, output_keep_prob, state_keep_prob
        self._seed = seed
        self._filter = dropout_state_filter_visitor

    @property
    def wrapped_cell(self) -> RNNCell:
        return self._cell

    @property
    def state_size(self) -> Any:
        return self._cell.state_size

    @property
    def output_size(self) -> int:
        return self._cell.output_size

    @property
    def trainable_variables(self) -> list:
        return self._cell.trainable_variables

    def zero_state(self, batch_size: Any, dtype: Any) -> Any:
        return self._cell.zero_state(batch_size, dtype)

    def zero_state_like(self, x: Tensor, dtype: Any) -> Any:
        return self._cell.zero_state_like(x, dtype)

    @staticmethod
    def _off(p: Any) -> bool:
        return isinstance(p, (int, float, np.floating)) and float(p) == 1.0

    def _drop(self, x: Any, p: Any) -> Any:
        return x if self._off(p) else nn_ops.dropout(x, keep_prob=p, seed=self._seed)

    def __call__(self, inputs: Any, state: Any, scope: Any = None) -> tuple[Any, Any]:
        out, new_state = self._cell(self._drop(inputs, self._in), state, scope=scope)
        if not self._off(self._state):
            # TF's default filter keeps an LSTM's memory c and drops only h
            def drop_state(s: Any) -> Any:
                if isinstance(s, LSTMStateTuple) and self._filter is None:
                    return LSTMStateTuple(s.c, self._drop(s.h, self._state))
                if isinstance(s, (tuple, list)):
                    return type(s)(drop_state(t) for t in s)
                return self._drop(s, self._state)
            new_state = drop_state(new_state)
        return self._drop(out, self._out), new_state


__all__ = ["BasicLSTMCell", "BasicRNNCell", "DropoutWrapper", "GRUCell", "LSTMCell", "LSTMStateTuple",
           "MultiRNNCell", "RNNCell"]
