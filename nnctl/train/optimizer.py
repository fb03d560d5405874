"""``tf.train.Optimizer``: compute_gradients (adds gradient nodes), apply_gradients (adds update
nodes), minimize (both). Slots (momentum, Adam's m and v ...) are Variables, so checkpoints hold them."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from nnctl.graph.gradients import gradients
from nnctl.graph.graph import OPTIMIZER, GraphKeys, Operation, Tensor, get_default_graph
from nnctl.ops import array_ops, math_ops, state_ops
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.variables import Variable


class Optimizer(abc.ABC):
    """Base class. Subclasses implement ``_create_slots``, ``_prepare`` and ``_apply_dense``."""

    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2

    def __init__(self, use_locking: bool, name: str) -> None:
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._slots: dict[str, dict[str, Variable]] = {}
        self._non_slot: dict[str, Variable] = {}

    def get_name(self) -> str:
        return self._name

    # --- gradients ------------------------------------------------------------------------
    def compute_gradients(self, loss: Any, var_list: list | None = None, gate_gradients: int = GATE_OP,
                          aggregation_method: Any = None, colocate_gradients_with_ops: bool = False,
                          grad_loss: Any = None) -> list[tuple[Tensor | None, Variable]]:
        loss = convert_to_tensor(loss)
        if var_list is None:
            var_list = get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(var_list)
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"var_list entries must be tf.Variable, got {v!r}")
        grads = gradients(loss, [v.value() for v in var_list], grad_ys=grad_loss)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars: Any, global_step: Variable | None = None,
                        name: str | None = None) -> Operation:
        pairs = [(g, v) for g, v in grads_and_vars]
        if not pairs:
            raise ValueError("No variables provided.")
        live = [(g, v) for g, v in pairs if g is not None]
        if not live:
            raise ValueError("No gradients provided for any variable: "
                             + ", ".join(v.name for _, v in pairs)
                             + ". Check that the loss depends on the variables.")
        graph = get_default_graph()
        with graph.role(OPTIMIZER), graph.name_scope(name or self._name) as scope:
            self._create_slots([v for _, v in live])
            self._prepare()
            updates = []
            for g, v in live:
                with graph.name_scope("update_" + v.op.name):
                    updates.append(self._apply_dense(g, v))
            # As TF: the returned op is named like the scope ("Adam", or minimize's name=), so
            # graph.get_operation_by_name("train") finds it after an import_meta_graph.
            if global_step is None:
                return self._finish(updates, scope)
            finish = self._finish(updates, "update")
            with graph.control_dependencies([finish]):
                return state_ops.assign_add_ref(global_step._ref_tensor(), _one_like(global_step),
                                                name=scope).op

    def minimize(self, loss: Any, global_step: Variable | None = None, var_list: list | None = None,
                 gate_gradients: int = GATE_OP, aggregation_method: Any = None,
                 colocate_gradients_with_ops: bool = False, name: str | None = None,
                 grad_loss: Any = None) -> Operation:
        gv = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        return self.apply_gradients(gv, global_step=global_step, name=name)

    # --- slots ----------------------------------------------------------------------------
    def _zeros_slot(self, var: Variable, slot_name: str, op_name: str) -> Variable:
        return self._slot_with(var, slot_name, lambda: array_ops.zeros(var.static_shape, dtype=var.dtype))

    def _slot_with(self, var: Variable, slot_name: str, init: Any) -> Variable:
        slots = self._slots.setdefault(slot_name, {})
        key = var.op.name
        if key not in slots:
            graph = get_default_graph()
            with graph.name_scope(None), graph.control_dependencies(None):
                slots[key] = Variable(init, trainable=False, name=f"{var.op.name}/{self._name}_{slot_name}"
                                      if slot_name else f"{var.op.name}/{self._name}")
        return slots[key]

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        return self._slots.get(name, {}).get(var.op.name)

    def get_slot_names(self) -> list[str]:
        return sorted(self._slots)

    def _non_slot_variable(self, name: str, initial: float, dtype: Any) -> Variable:
        if name not in self._non_slot:
            graph = get_default_graph()
            with graph.name_scope(None), graph.control_dependencies(None):
                self._non_slot[name] = Variable(initial, trainable=False, name=name, dtype=dtype)
        return self._non_slot[name]

    def variables(self) -> list[Variable]:
        out = [v for s in self._slots.values() for v in s.values()]
        return out + list(self._non_slot.values())

    # --- hooks ----------------------------------------------------------------------------
    def _create_slots(self, var_list: list[Variable]) -> None:  # noqa: B027 - optional hook
        """Create the slot variables the update needs (none by default)."""

    def _prepare(self) -> None:  # noqa: B027 - optional hook
        """Convert hyper-parameters to tensors once per apply_gradients (nothing by default)."""

    @abc.abstractmethod
    def _apply_dense(self, grad: Tensor, var: Variable) -> Any:
        """Add the op that updates ``var`` from ``grad``."""

    def _finish(self, update_ops: list, name_scope: str) -> Operation:
        return state_ops.group(*update_ops, name=name_scope)

    def _lr(self, lr: Any, var: Variable) -> Tensor:
        """The learning rate as a tensor of the variable's dtype (lr may itself be a tensor)."""
        if isinstance(lr, (Tensor, Variable)):
            t = convert_to_tensor(lr)
            return t if t.dtype == var.dtype else math_ops.cast(t, var.dtype)
        if isinstance(lr, float):
            # TF converts a Python float hyperparameter to a float32 tensor and casts that to the
            # variable's dtype, so a float64 variable sees float32(0.05), not 0.05
            lr = float(np.float32(lr))
        return convert_to_tensor(lr, dtype=var.dtype)


def _one_like(var: Variable) -> Tensor:
    return convert_to_tensor(1, dtype=var.dtype)
