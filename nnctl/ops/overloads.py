"""Python operators on Tensors and Variables: ``+ - * / ** @``, unary ``-``, comparisons, indexing.

As in TF1, ``==`` and ``!=`` compare identity (so tensors can key dicts); use ``tf.equal`` for values.
"""

from __future__ import annotations

from typing import Any

from nnctl.graph.graph import Tensor
from nnctl.ops import array_ops, math_ops
from nnctl.ops.variables import Variable


def _binary(fn, reverse: bool = False):
    if reverse:
        def op(self: Any, other: Any) -> Tensor:
            return fn(other, self)
    else:
        def op(self: Any, other: Any) -> Tensor:
            return fn(self, other)
    return op


_OPS = {
    "__add__": _binary(math_ops.add), "__radd__": _binary(math_ops.add, True),
    "__sub__": _binary(math_ops.subtract), "__rsub__": _binary(math_ops.subtract, True),
    "__mul__": _binary(math_ops.multiply), "__rmul__": _binary(math_ops.multiply, True),
    "__truediv__": _binary(math_ops.divide), "__rtruediv__": _binary(math_ops.divide, True),
    "__floordiv__": _binary(math_ops.floordiv), "__rfloordiv__": _binary(math_ops.floordiv, True),
    "__mod__": _binary(math_ops.floormod), "__rmod__": _binary(math_ops.floormod, True),
    "__pow__": _binary(math_ops.pow), "__rpow__": _binary(math_ops.pow, True),
    "__matmul__": _binary(math_ops.matmul), "__rmatmul__": _binary(math_ops.matmul, True),
    "__lt__": _binary(math_ops.less), "__le__": _binary(math_ops.less_equal),
    "__gt__": _binary(math_ops.greater), "__ge__": _binary(math_ops.greater_equal),
    "__and__": _binary(math_ops.logical_and), "__rand__": _binary(math_ops.logical_and, True),
    "__or__": _binary(math_ops.logical_or), "__ror__": _binary(math_ops.logical_or, True),
    "__neg__": lambda self: math_ops.negative(self),
    "__abs__": lambda self: math_ops.abs(self),
    "__invert__": lambda self: math_ops.logical_not(self),
    "__getitem__": lambda self, item: array_ops.strided_slice_index(self, item),
}

for _cls in (Tensor, Variable):
    for _name, _fn in _OPS.items():
        setattr(_cls, _name, _fn)
