"""``tf.train.ExponentialMovingAverage``: shadow variables that track a decaying average.

``apply(var_list)`` creates, for each variable, a non-trainable shadow ``<var>/ExponentialMovingAverage``
starting at the variable's initial value, and returns an op that updates every shadow by
``shadow -= (1 - decay) * (shadow - value)``. With ``num_updates`` the decay used is
``min(decay, (1 + num_updates) / (10 + num_updates))``, which lets the average move quickly early on.
"""

from __future__ import annotations

from typing import Any

from nnctl.graph.graph import GraphKeys, Operation, get_default_graph
from nnctl.ops import math_ops as M
from nnctl.ops import state_ops
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.variables import Variable

MOVING_AVERAGE_VARIABLES = "moving_average_variables"


class ExponentialMovingAverage:
    def __init__(self, decay: float, num_updates: Any = None, zero_debias: bool = False,
                 name: str = "ExponentialMovingAverage") -> None:
        if zero_debias:
            raise NotImplementedError("ExponentialMovingAverage(zero_debias=True) is not supported by nnctl yet")
        self._decay = decay
        self._num_updates = num_updates
        self._name = name
        self._averages: dict[int, Variable] = {}

    @property
    def name(self) -> str:
        return self._name

    def apply(self, var_list: Any = None) -> Operation:
        """Create the shadow variables (once per variable) and return the op that updates them."""
        g = get_default_graph()
        if var_list is None:
            var_list = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(var_list)
        for v in var_list:
            if not v.dtype.is_floating:
                raise TypeError(f"ExponentialMovingAverage: {v.name} must be float, is {v.dtype.name}")
            if id(v) not in self._averages:
                init = v.initial_value if isinstance(v, Variable) else convert_to_tensor(v)
                with g.name_scope(None):
                    avg = Variable(init, trainable=False, name=self.average_name(v),
                                   collections=[GraphKeys.GLOBAL_VARIABLES])
                self._averages[id(v)] = avg
                if isinstance(v, Variable):
                    g.add_to_collection(MOVING_AVERAGE_VARIABLES, v)
        with g.name_scope(self._name):
            decay = convert_to_tensor(self._decay, dtype="float32")
            if self._num_updates is not None:
                n = M.cast(convert_to_tensor(self._num_updates), decay.dtype)
                decay = M.minimum(decay, M.divide(M.add(n, 1.0), M.add(n, 10.0)))
            updates = []
            for v in var_list:
                avg = self._averages[id(v)]
                d = decay if decay.dtype == v.dtype else M.cast(decay, v.dtype)
                value = v.value() if isinstance(v, Variable) else convert_to_tensor(v)
                delta = M.multiply(M.subtract(1.0, d), M.subtract(avg.value(), value))
                updates.append(state_ops.assign_sub_ref(avg._ref_tensor(), delta))
            return state_ops.group(*updates, name=self._name)

    def average(self, var: Any) -> Variable | None:
        return self._averages.get(id(var))

    def average_name(self, var: Any) -> str:
        return f"{var.op.name}/{self._name}"

    def variables_to_restore(self, moving_avg_variables: Any = None) -> dict[str, Any]:
        """{checkpoint name: variable} that restores each averaged variable from its shadow (for
        tf.train.Saver), and every other variable from itself."""
        g = get_default_graph()
        avg_vars = list(moving_avg_variables) if moving_avg_variables is not None else \
            g.get_collection(MOVING_AVERAGE_VARIABLES) + g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        shadows = {id(a) for a in self._averages.values()}
        out: dict[str, Any] = {}
        for v in avg_vars:
            if id(v) in shadows:
                continue
            out[self.average_name(v)] = v
        for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES):
            if id(v) not in shadows and all(x is not v for x in out.values()):
                out[v.op.name] = v
        return out

