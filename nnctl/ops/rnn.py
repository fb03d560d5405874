"""Running a cell over a sequence: ``tf.nn.static_rnn``, ``dynamic_rnn``, ``bidirectional_dynamic_rnn``
and ``tf.reverse_sequence``.

The time axis must be known when the graph is built: every RNN is unrolled into one cell call per
step (the variables are shared across steps), so gradients are ordinary backpropagation through
time over graph ops. With ``sequence_length`` (int [batch]) steps t >= length[b] of example b are
masked as TensorFlow does: their outputs are zero and the state is copied through unchanged, so the
final state is the state after each example's last real step:

    keep = [t < length]         output_t = keep * cell_output_t
    state_t = keep * new_state_t + (1 - keep) * state_{t-1}
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import Tensor, name_scope
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops
from nnctl.ops import math_ops as m
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.rnn_cell import RNNCell, map_structure


def _tf() -> Any:
    import nnctl as tf
    return tf


def _check_cell(cell: Any, what: str) -> None:
    if not isinstance(cell, RNNCell) and not callable(cell):
        raise TypeError(f"{what}: cell must be an RNNCell, got {type(cell).__name__}")


def _lengths(sequence_length: Any, what: str) -> Tensor | None:
    if sequence_length is None:
        return None
    t = convert_to_tensor(sequence_length)
    if not t.dtype.is_integer:
        raise TypeError(f"{what}: sequence_length must be an int32/int64 vector [batch], got dtype {t.dtype.name}")
    if t.static_shape is not None and len(t.static_shape) != 1:
        raise ValueError(f"{what}: sequence_length must be a vector [batch], got shape {fmt_shape(t.static_shape)}")
    return t


def _initial_state(cell: Any, first: Tensor, initial_state: Any, dtype: Any, what: str) -> Any:
    if initial_state is not None:
        return map_structure(convert_to_tensor, initial_state)
    if dtype is None:
        raise ValueError(f"{what}: if there is no initial_state, you must give a dtype.")
    return cell.zero_state_like(first, dtype)


def _blend(keep: Tensor, stay: Tensor, new: Tensor, old: Tensor) -> Tensor:
    return m.add(m.multiply(keep, new), m.multiply(stay, old))


def _run_steps(cell: Any, steps: list, state: Any, lengths: Tensor | None) -> tuple[list, Any]:
    """One cell call per step; masking as in the module docstring."""
    outputs = []
    # the input half of the cell's product for every step at once, where the cell offers it
    projected = cell.project_inputs(steps) if isinstance(cell, RNNCell) else None
    for t, x in enumerate(steps):
        out, new_state = cell(x, state) if projected is None else cell.call_projected(projected[t], state)
        if lengths is not None:
            with name_scope(f"mask_{t}"):
                keep = m.cast(array_ops.expand_dims(m.less(m.scalar_like(t, lengths), lengths), 1), out.dtype)
                stay = m.subtract(m.scalar_like(1.0, keep), keep)
                out = m.multiply(keep, out)
                new_state = map_structure(partial(_blend, keep, stay), new_state, state)
        outputs.append(out)
        state = new_state
    return outputs, state


def static_rnn(cell: Any, inputs: Any, initial_state: Any = None, dtype: Any = None, sequence_length: Any = None,
               scope: Any = None) -> tuple[list, Any]:
    """``inputs``: a list of T tensors [batch, depth]; returns (T outputs [batch, output_size], final state)."""
    what = "static_rnn"
    _check_cell(cell, what)
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{what}: inputs must be a list of [batch, depth] tensors (one per time step); for a "
                        "[batch, time, depth] tensor use tf.nn.dynamic_rnn or tf.unstack(x, axis=1)")
    if not inputs:
        raise ValueError(f"{what}: inputs must not be empty")
    steps = [convert_to_tensor(x) for x in inputs]
    tf = _tf()
    with tf.variable_scope(scope or "rnn"):
        lengths = _lengths(sequence_length, what)
        state = _initial_state(cell, steps[0], initial_state, dtype, what)
        return _run_steps(cell, steps, state, lengths)


def _time_axis_steps(x: Tensor, time_major: bool, what: str) -> list:
    s = x.static_shape
    if s is None or len(s) < 3:
        raise ValueError(f"{what}: inputs must be [batch, time, depth] (time_major=False) or [time, batch, depth], "
                         f"got shape {fmt_shape(s)} ({x.name})")
    axis = 0 if time_major else 1
    if s[axis] is None:
        raise ValueError(f"{what}: nnctl unrolls the RNN, so the number of time steps must be known when the graph "
                         f"is built; inputs have shape {fmt_shape(s)} (give the placeholder a fixed time length)")
    return array_ops.unstack(x, axis=axis)


def dynamic_rnn(cell: Any, inputs: Any, sequence_length: Any = None, initial_state: Any = None, dtype: Any = None,
                parallel_iterations: Any = None, swap_memory: bool = False, time_major: bool = False,
                scope: Any = None) -> tuple[Tensor, Any]:
    """``inputs`` [batch, time, depth] (or [time, batch, depth] with ``time_major``) with a static time
    length; returns (outputs [batch, time, output_size], final state). Unrolled (see module doc)."""
    what = "dynamic_rnn"
    _check_cell(cell, what)
    x = convert_to_tensor(inputs)
    tf = _tf()
    with tf.variable_scope(scope or "rnn"):
        return _dynamic_in_scope(cell, x, sequence_length, initial_state, dtype, time_major, what)


def reverse_sequence(input: Any, seq_lengths: Any, seq_axis: int | None = None,  # noqa: A002
                     batch_axis: int | None = None, name: str | None = None, seq_dim: int | None = None,
                     batch_dim: int | None = None) -> Tensor:
    """Reverse the first seq_lengths[b] entries of example b along ``seq_axis``; the rest stay.

    Built as a batched product with 0/1 permutation matrices P[b, t, s] = [s = len_b - 1 - t] for
    t < len_b, [s = t] otherwise, so the gradient is P^T dy through MatMul (time must be static).
    """
    seq_axis = seq_dim if seq_axis is None else seq_axis
    batch_axis = (batch_dim if batch_dim is not None else 0) if batch_axis is None else batch_axis
    x = convert_to_tensor(input)
    lengths = _lengths(seq_lengths, "reverse_sequence")
    s = x.static_shape
    desc = f"ReverseSequence '{name or 'ReverseSequence'}'"
    if s is None or seq_axis is None:
        raise ValueError(f"{desc}: needs a known input rank and seq_axis")
    rank = len(s)
    seq_axis, batch_axis = int(seq_axis) % rank, int(batch_axis) % rank
    if seq_axis == batch_axis:
        raise ValueError(f"{desc}: seq_axis and batch_axis must differ, both are {seq_axis}")
    steps = s[seq_axis]
    if steps is None:
        raise ValueError(f"{desc}: the sequence axis {seq_axis} of {fmt_shape(s)} must be known when the graph "
                         "is built")
    rest = tuple(d for i, d in enumerate(s) if i not in (batch_axis, seq_axis))
    if None in rest:
        raise ValueError(f"{desc}: the dimensions of {fmt_shape(s)} other than batch and time must be known")
    with name_scope(name or "ReverseSequence"):
        # to [batch, time, rest...], then [batch, time, features]
        perm = [batch_axis, seq_axis] + [a for a in range(rank) if a not in (batch_axis, seq_axis)]
        xt = x if perm == list(range(rank)) else array_ops.transpose(x, perm)
        feat = int(np.prod(rest)) if rest else 1
        flat = array_ops.reshape(xt, [-1, steps, feat])
        ts = np.arange(steps, dtype=np.int64)
        lens = array_ops.reshape(m.cast(lengths, dtypes.int64), [-1, 1, 1])       # [B, 1, 1]
        inside = m.less(_const(ts.reshape(1, -1, 1)), lens)                       # [B, T, 1]: t < len_b
        flipped = m.equal(_const((ts[:, None] + ts[None, :] + 1)[None]), lens)    # [B, T, T]: s = len_b - 1 - t
        keep = _const(np.eye(steps, dtype=bool)[None])                           # s = t
        p = m.cast(m.logical_or(m.logical_and(inside, flipped), m.logical_and(m.logical_not(inside), keep)),
                   xt.dtype)
        y = array_ops.reshape(m.matmul(p, flat), [-1, steps, *rest])
        if perm != list(range(rank)):
            y = array_ops.transpose(y, [int(i) for i in np.argsort(perm)])
        return y


def _const(v: np.ndarray) -> Tensor:
    from nnctl.ops.state_ops import constant
    return constant(v)


def bidirectional_dynamic_rnn(cell_fw: Any, cell_bw: Any, inputs: Any, sequence_length: Any = None,
                              initial_state_fw: Any = None, initial_state_bw: Any = None, dtype: Any = None,
                              parallel_iterations: Any = None, swap_memory: bool = False, time_major: bool = False,
                              scope: Any = None) -> tuple[tuple, tuple]:
    """((outputs_fw, outputs_bw), (state_fw, state_bw)); the backward cell reads each sequence reversed
    within its length (``reverse_sequence``) and its outputs are reversed back, as TF."""
    what = "bidirectional_dynamic_rnn"
    _check_cell(cell_fw, what)
    _check_cell(cell_bw, what)
    x = convert_to_tensor(inputs)
    tf = _tf()
    t_axis, b_axis = (0, 1) if time_major else (1, 0)
    with tf.variable_scope(scope or "bidirectional_rnn"):
        with tf.variable_scope("fw"):
            out_fw, st_fw = _dynamic_in_scope(cell_fw, x, sequence_length, initial_state_fw, dtype, time_major, what)
        with tf.variable_scope("bw"):
            def rev(t: Tensor) -> Tensor:
                if sequence_length is None:
                    return array_ops.reverse(t, [t_axis])
                return reverse_sequence(t, sequence_length, seq_axis=t_axis, batch_axis=b_axis)
            tmp, st_bw = _dynamic_in_scope(cell_bw, rev(x), sequence_length, initial_state_bw, dtype, time_major,
                                           what)
            out_bw = rev(tmp)
    return (out_fw, out_bw), (st_fw, st_bw)


def static_bidirectional_rnn(cell_fw: Any, cell_bw: Any, inputs: Any, initial_state_fw: Any = None,
                             initial_state_bw: Any = None, dtype: Any = None, sequence_length: Any = None,
                             scope: Any = None) -> tuple[list, Any, Any]:
    """(outputs, state_fw, state_bw) for a list of T inputs [batch, depth]; each output is the forward and
    the backward output concatenated on the last axis (TF's static_bidirectional_rnn)."""
    what = "static_bidirectional_rnn"
    _check_cell(cell_fw, what)
    _check_cell(cell_bw, what)
    if isinstance(inputs, Tensor) or not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError(f"{what}: inputs must be a non-empty list of [batch, depth] tensors (one per time step)")
    steps = [convert_to_tensor(x) for x in inputs]
    tf = _tf()
    lengths = _lengths(sequence_length, what)
    with tf.variable_scope(scope or "bidirectional_rnn"):
        with tf.variable_scope("fw"):
            out_fw, st_fw = _run_steps(cell_fw, steps, _initial_state(cell_fw, steps[0], initial_state_fw, dtype,
                                                                       what), lengths)
        with tf.variable_scope("bw"):
            if lengths is None:
                rev = steps[::-1]
            else:
                rev = array_ops.unstack(reverse_sequence(array_ops.stack(steps, axis=1), lengths, seq_axis=1,
                                                         batch_axis=0), axis=1)
            tmp, st_bw = _run_steps(cell_bw, rev, _initial_state(cell_bw, rev[0], initial_state_bw, dtype, what),
                                    lengths)
            if lengths is None:
                out_bw = tmp[::-1]
            else:
                out_bw = array_ops.unstack(reverse_sequence(array_ops.stack(tmp, axis=1), lengths, seq_axis=1,
                                                            batch_axis=0), axis=1)
    outputs = [array_ops.concat([f, b], 1) for f, b in zip(out_fw, out_bw)]
    return outputs, st_fw, st_bw


def _dynamic_in_scope(cell: Any, x: Tensor, sequence_length: Any, initial_state: Any, dtype: Any,
                      time_major: bool, what: str) -> tuple[Tensor, Any]:
    """dynamic_rnn's body in the current variable scope (TF passes the fw/bw scope as dynamic_rnn's)."""
    steps = _time_axis_steps(x, time_major, what)
    lengths = _lengths(sequence_length, what)
    state = _initial_state(cell, steps[0], initial_state, dtype, what)
    outputs, state = _run_steps(cell, steps, state, lengths)
    return array_ops.stack(outputs, axis=0 if time_major else 1), state


__all__ = ["bidirectional_dynamic_rnn", "dynamic_rnn", "reverse_sequence", "static_bidirectional_rnn", "static_rnn"]
