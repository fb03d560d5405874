"""The optimizers. Each update is one fused op per variable (``Apply*``), so a step takes one pass
over each variable and its slots; the update formulas are TensorFlow 1's."""

from __future__ import annotations

from typing import Any

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.ops.core import make_op
from nnctl.ops.variables import Variable
from nnctl.train.optimizer import Optimizer


def _apply(op_type: str, var: Variable, inputs: list[Tensor], attrs: dict | None = None) -> Tensor:
    return make_op(op_type, [var._ref_tensor(), *inputs], attrs=attrs or {}, shape=var.static_shape,
                   dtype=var.dtype, name=op_type)


class GradientDescentOptimizer(Optimizer):
    """var -= lr * grad"""

    def __init__(self, learning_rate: Any, use_locking: bool = False, name: str = "GradientDescent") -> None:
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _apply_dense(self, grad: Tensor, var: Variable) -> Tensor:
        return _apply("ApplyGradientDescent", var, [self._lr(self._learning_rate, var), grad])


@registry.register_kernel("ApplyGradientDescent", mutates=0, stateful=True)
def _apply_gd_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    mul, sub = xp.multiply, xp.subtract

    def run(var: Any, lr: Any, grad: Any, out: Any = None) -> Any:
        return sub(var, mul(grad, lr), out=var)

    def bind(var: Any, lr: Any, grad: Any, out: Any = None) -> Any:
        s = xp.empty_like(var)

        def step() -> None:
            mul(grad, lr, out=s)
            sub(var, s, out=var)
        return step
    run.bind = bind  # type: ignore[attr-defined]
    return run


registry.not_differentiable("ApplyGradientDescent")
