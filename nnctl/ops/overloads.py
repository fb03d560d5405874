"""Python operators on Tensors and Variables: ``+ - * / ** @``, unary ``-``, comparisons, indexing.

As in TF1, ``==`` and ``!=`` compare identity (so tensors can key dicts); use ``tf.equal`` for values.
"""

from __future__ import annotations

from typing import Any

from nnctl.graph.graph import Tensor
from nnctl.ops import array_ops, math_ops
from nnctl.ops.variables import Variable


def _binary(fn, reverse: bool = False, name: str | None = None):
    """An operator; ``name`` is the op name TF gives it (``a + b`` is named "add", of type AddV2)."""
    kw = {} if name is None else {"name": name}
    if reverse:
        def op(self: Any, other: Any) -> Tensor:
            return fn(other, self, **kw)
    else:
        def op(self: Any, other: Any) -> Tensor:
            return fn(self, other, **kw)
    return op


def _by_dtype(logical, bitwise):
    """TF's ``& | ^``: logical on bool tensors, bitwise on integer ones."""
    def fn(x: Any, y: Any, name: str | None = None) -> Tensor:
        t = x if isinstance(x, Tensor) or hasattr(x, "_as_graph_element") else y
        t = t._as_graph_element() if hasattr(t, "_as_graph_element") else t
        return (bitwise if t.dtype.is_integer else logical)(x, y, name=name)
    return fn


_and = _by_dtype(math_ops.logical_and, math_ops.bitwise_and)
_or = _by_dtype(math_ops.logical_or, math_ops.bitwise_or)
_xor = _by_dtype(math_ops.logical_xor, math_ops.bitwise_xor)


def _invert(self: Any) -> Tensor:
    t = self._as_graph_element() if hasattr(self, "_as_graph_element") else self
    return math_ops.invert(t) if t.dtype.is_integer else math_ops.logical_not(t)


_OPS = {
    "__add__": _binary(math_ops.add, name="add"), "__radd__": _binary(math_ops.add, True, "add"),
    "__sub__": _binary(math_ops.subtract, name="sub"), "__rsub__": _binary(math_ops.subtract, True, "sub"),
    "__mul__": _binary(math_ops.multiply, name="mul"), "__rmul__": _binary(math_ops.multiply, True, "mul"),
    "__truediv__": _binary(math_ops.divide, name="truediv"),
    "__rtruediv__": _binary(math_ops.divide, True, "truediv"),
    "__floordiv__": _binary(math_ops.floordiv, name="floordiv"),
    "__rfloordiv__": _binary(math_ops.floordiv, True, "floordiv"),
    "__mod__": _binary(math_ops.floormod, name="mod"), "__rmod__": _binary(math_ops.floormod, True, "mod"),
    "__pow__": _binary(math_ops.pow, name="pow"), "__rpow__": _binary(math_ops.pow, True, "pow"),
    "__matmul__": _binary(math_ops.matmul, name="matmul"), "__rmatmul__": _binary(math_ops.matmul, True, "matmul"),
    "__lt__": _binary(math_ops.less), "__le__": _binary(math_ops.less_equal),
    "__gt__": _binary(math_ops.greater), "__ge__": _binary(math_ops.greater_equal),
    "__and__": _binary(_and, name="and"), "__rand__": _binary(_and, True, "and"),
    "__or__": _binary(_or, name="or"), "__ror__": _binary(_or, True, "or"),
    "__xor__": _binary(_xor, name="xor"), "__rxor__": _binary(_xor, True, "xor"),
    "__neg__": lambda self: math_ops.negative(self),
    "__abs__": lambda self: math_ops.abs(self),
    "__invert__": _invert,
    "__getitem__": lambda self, item: array_ops.strided_slice_index(self, item),
}

for _cls in (Tensor, Variable):
    for _name, _fn in _OPS.items():
        setattr(_cls, _name, _fn)
