"""Sub-namespaces of the TF1 API that are views onto names defined elsewhere (``tf.random``,
``tf.math``, ``tf.io``, ``tf.compat``): one list of members each, no copies of the functions."""

from __future__ import annotations

import types
from typing import Any

from nnctl.unsupported import missing


class Namespace(types.ModuleType):
    """A module object whose unknown attributes raise nnctl's "not supported yet" error."""

    def __init__(self, path: str, members: dict[str, Any]) -> None:
        super().__init__(path)
        self.__dict__.update(members)
        self.__all__ = sorted(members)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise missing(self.__name__, name)

    def __dir__(self) -> list[str]:
        return list(self.__all__)


def pick(source: dict[str, Any], names: str, **renamed: Any) -> dict[str, Any]:
    """``{name: source[name]}`` for the space-separated ``names`` that exist, plus ``renamed``."""
    out = {n: source[n] for n in names.split() if n in source}
    out.update(renamed)
    return out


# tf.math: TF 1.15's tf.math members that nnctl has (the rest raise "not supported yet").
MATH_NAMES = """abs add add_n argmax argmin ceil cos cumsum divide equal erf exp expm1 floor floordiv floormod
greater greater_equal in_top_k is_finite is_inf is_nan l2_normalize less less_equal log log1p log_sigmoid
log_softmax logical_and logical_not logical_or logical_xor maximum minimum mod multiply negative not_equal pow
reciprocal reduce_all reduce_any reduce_logsumexp reduce_max reduce_mean reduce_min reduce_prod reduce_std
reduce_sum reduce_variance round rsqrt sigmoid sign sin softmax softplus softsign sqrt square
squared_difference subtract tanh top_k truediv count_nonzero"""

RANDOM_NAMES = "set_random_seed"
