"""``tf.contrib.rnn``: the TF1 cells of ``tf.nn.rnn_cell`` and the static RNNs, under their contrib names."""

from __future__ import annotations

from nnctl.ops.rnn import static_bidirectional_rnn, static_rnn
from nnctl.ops.rnn_cell import (
    BasicLSTMCell,
    BasicRNNCell,
    DropoutWrapper,
    GRUCell,
    LSTMCell,
    LSTMStateTuple,
    MultiRNNCell,
    RNNCell,
)

__all__ = ["BasicLSTMCell", "BasicRNNCell", "DropoutWrapper", "GRUCell", "LSTMCell", "LSTMStateTuple",
           "MultiRNNCell", "RNNCell", "static_bidirectional_rnn", "static_rnn"]
