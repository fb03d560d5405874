"""Gradient-check rows for the math ops (see gradcheck_util.py).

Inputs stay away from kinks (Abs at 0, ties of Maximum/Minimum/Max/Min) and from the edges of each
function's domain (Log, Sqrt, Rsqrt, Pow's base at <= 0, Prod's zeros).
"""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

import nnctl as tf
from nnctl.ops import math_ops as M
from nnctl.ops.core import make_op

_r = np.random.default_rng(1)


def _u(*shape, lo=-1.0, hi=1.0):
    return _r.uniform(lo, hi, size=shape)


def _away(*shape, lo=0.3, hi=1.5):
    """Uniform in [lo, hi] with a random sign: no values near zero."""
    return _r.uniform(lo, hi, size=shape) * _r.choice([-1.0, 1.0], size=shape)


def _distinct(*shape):
    """A random permutation of well separated values: no ties, no near-ties."""
    n = int(np.prod(shape)) if shape else 1
    return (_r.permutation(n) * 0.37 - 0.1 * n).reshape(shape)


ROWS = [
    GradRow("add_broadcast", ("AddV2", "SumToShape", "BroadcastLike"), lambda a, b: a + b, [_u(3, 4), _u(4)]),
    GradRow("sub_broadcast", ("Sub", "Neg"), lambda a, b: a - b, [_u(3, 1), _u(1, 4)]),
    GradRow("mul", ("Mul",), lambda a, b: a * b, [_u(2, 3), _u(2, 3)]),
    GradRow("sigmoid", ("Sigmoid", "SigmoidGrad"), lambda a: tf.sigmoid(a), [_u(3, 4, lo=-3, hi=3)]),
    GradRow("square", ("Square",), lambda a: tf.square(a), [_u(3, 4)]),
    GradRow("matmul", ("MatMul",), lambda a, b: tf.matmul(a, b), [_u(3, 4), _u(4, 2)]),
    GradRow("reduce_sum_axis", ("Sum",), lambda a: tf.reduce_sum(a, axis=1), [_u(3, 4)]),
]

# --- binary elementwise ops: every broadcasting pattern -------------------------------------------

# op type -> (builder, first input sampler, second input sampler, smooth)
_BINARY = {
    "AddV2": (tf.add, _u, _u, True),
    "Sub": (tf.subtract, _u, _u, True),
    "Mul": (tf.multiply, _u, _u, True),
    "RealDiv": (tf.realdiv, _u, _away, True),
    "Pow": (tf.pow, lambda *s: _u(*s, lo=0.5, hi=2.0), lambda *s: _u(*s, lo=-1.5, hi=1.5), True),
    "Maximum": (tf.maximum, _u, _u, False),
    "Minimum": (tf.minimum, _u, _u, False),
    "SquaredDifference": (tf.squared_difference, _u, _u, True),
}
_PAIRS = {"same": ((2, 3), (2, 3)), "row": ((3, 4), (4,)), "outer": ((3, 1), (1, 4)),
          "scalar_right": ((3, 4), ()), "scalar_left": ((), (2, 3)), "lead": ((4,), (2, 3, 4))}

for _t, (_fn, _sa, _sb, _smooth) in _BINARY.items():
    for _case, (_s1, _s2) in _PAIRS.items():
        ROWS.append(GradRow(f"{_t.lower()}_{_case}", (_t,), lambda a, b, f=_fn: f(a, b),
                            [_sa(*_s1), _sb(*_s2)], second_order=_smooth))

ROWS += [
    GradRow("pow_operator_scalar_exponent", ("Pow",), lambda a: a ** 3.0, [_u(3, 4, lo=0.5, hi=2.0)]),
    GradRow("div_operator", ("RealDiv",), lambda a, b: a / b, [_u(3, 4), _away(3, 4)]),
]

# --- unary elementwise ops --------------------------------------------------------------------------

_POS = dict(lo=0.3, hi=2.0)
ROWS += [
    GradRow("neg", ("Neg",), lambda a: -tf.square(a), [_u(3, 4)]),
    GradRow("abs", ("Abs",), lambda a: tf.abs(a), [_away(3, 4)], second_order=False),
    GradRow("abs_of_square_chain", ("Abs",), lambda a: tf.abs(a) * a, [_away(3, 4)], second_order=False),
    GradRow("sqrt", ("Sqrt",), tf.sqrt, [_u(3, 4, **_POS)]),
    GradRow("rsqrt", ("Rsqrt",), tf.rsqrt, [_u(3, 4, **_POS)]),
    GradRow("exp", ("Exp",), tf.exp, [_u(3, 4)]),
    GradRow("expm1", ("Expm1",), tf.expm1, [_u(3, 4)]),
    GradRow("log", ("Log",), tf.log, [_u(3, 4, **_POS)]),
    GradRow("log1p", ("Log1p",), tf.log1p, [_u(3, 4, lo=-0.5, hi=2.0)]),
    GradRow("tanh", ("Tanh", "TanhGrad"), tf.tanh, [_u(3, 4, lo=-2, hi=2)]),
    GradRow("tanh_grad_direct", ("TanhGrad",), lambda y, dy: M.tanh_grad(y, dy),
            [_u(3, 4, lo=-0.9, hi=0.9), _u(3, 4)]),
    GradRow("sigmoid_grad_direct", ("SigmoidGrad",), lambda y, dy: M.sigmoid_grad(y, dy),
            [_u(3, 4, lo=0.1, hi=0.9), _u(3, 4)]),
    GradRow("reciprocal", ("Reciprocal",), tf.reciprocal, [_away(3, 4)]),
    GradRow("sin", ("Sin",), tf.sin, [_u(3, 4, lo=-3, hi=3)]),
    GradRow("cos", ("Cos",), tf.cos, [_u(3, 4, lo=-3, hi=3)]),
    # float64 -> float32 -> float64: the float32 rounding needs a wide step and a loose tolerance
    GradRow("cast_roundtrip", ("Cast",), lambda a: tf.cast(tf.cast(a, tf.float32), tf.float64) * a,
            [_u(3, 4)], eps=1e-3, rtol=1e-4, second_order=False),
    GradRow("add_n", ("AddN",), lambda a, b: tf.add_n([a, b * b, a * b]), [_u(3, 4), _u(3, 4)]),
    GradRow("select", ("Select",), lambda c, a, b: tf.where(c, a * a, b),
            [_r.uniform(size=(3, 4)) > 0.5, _u(3, 4), _u(3, 4)], wrt=(1, 2)),
    GradRow("select_broadcast", ("Select",), lambda c, a, b: tf.where(c, a, b * b),
            [_r.uniform(size=(3, 4)) > 0.5, _u(4), _u(3, 1)], wrt=(1, 2)),
    GradRow("clip_by_value", ("Maximum", "Minimum"), lambda a: tf.clip_by_value(a, -0.5, 0.5),
            [np.array([[-0.9, -0.3, 0.2, 0.8], [0.1, -0.7, 0.6, -0.2]])], second_order=False),
]

# --- matmul ------------------------------------------------------------------------------------------

for _ta in (False, True):
    for _tb in (False, True):
        _sa = (4, 3) if _ta else (3, 4)
        _sb = (2, 4) if _tb else (4, 2)
        ROWS.append(GradRow(f"matmul_ta{int(_ta)}_tb{int(_tb)}", ("MatMul",),
                            lambda a, b, ta=_ta, tb=_tb: tf.matmul(a, b, transpose_a=ta, transpose_b=tb),
                            [_u(*_sa), _u(*_sb)]))
        _ba = (2, 1, 4, 3) if _ta else (2, 1, 3, 4)
        _bb = (5, 2, 4) if _tb else (5, 4, 2)
        ROWS.append(GradRow(f"batch_matmul_broadcast_ta{int(_ta)}_tb{int(_tb)}", ("BatchMatMul",),
                            lambda a, b, ta=_ta, tb=_tb: tf.matmul(a, b, transpose_a=ta, transpose_b=tb),
                            [_u(*_ba), _u(*_bb)]))
ROWS += [
    GradRow("batch_matmul", ("BatchMatMul",), lambda a, b: tf.matmul(a, b), [_u(2, 3, 4), _u(2, 4, 5)]),
    GradRow("batch_matmul_rank3_by_matrix", ("BatchMatMul",), lambda a, b: tf.matmul(a, b),
            [_u(2, 3, 4), _u(4, 5)]),
    GradRow("matmul_squared", ("MatMul",), lambda a, b: tf.square(tf.matmul(a, b)), [_u(3, 4), _u(4, 2)]),
]

# --- reductions --------------------------------------------------------------------------------------

_AXES = {"all": dict(axis=None), "int": dict(axis=1), "list": dict(axis=[0, 2]), "neg": dict(axis=-1),
         "keepdims": dict(axis=[1], keepdims=True), "all_keepdims": dict(axis=None, keepdims=True)}
_REDUCE = {
    "Sum": (tf.reduce_sum, _u, True),
    "Mean": (tf.reduce_mean, _u, True),
    "Max": (tf.reduce_max, _distinct, False),
    "Min": (tf.reduce_min, _distinct, False),
    "Prod": (tf.reduce_prod, lambda *s: _away(*s, lo=0.5, hi=1.5), True),
}
for _t, (_fn, _sample, _smooth) in _REDUCE.items():
    for _case, _kw in _AXES.items():
        ROWS.append(GradRow(f"reduce_{_t.lower()}_{_case}", (_t,), lambda a, f=_fn, kw=_kw: f(a, **kw),
                            [_sample(2, 3, 4)], second_order=_smooth))
ROWS += [
    # the reduction's gradient feeding a nonlinearity exercises its rule in second order too
    GradRow("reduce_mean_squared", ("Mean",), lambda a: tf.square(tf.reduce_mean(a, axis=0)), [_u(3, 4)]),
    GradRow("reduce_sum_squared", ("Sum",), lambda a: tf.square(tf.reduce_sum(a, axis=[0, 1])),
            [_u(3, 4, 2)]),
    GradRow("reduce_max_times_x", ("Max",), lambda a: tf.reduce_max(a, axis=1, keepdims=True) * a,
            [_distinct(3, 4)], second_order=False),
]

# --- reduce_prod with zeros, cumulative sums and products, div_no_nan, sign -------------------------

_ZEROS = np.array([[0.0, 0.7, -1.2, 0.9], [1.1, 0.0, 0.0, -0.8], [0.6, -1.3, 0.8, 1.4]])
ROWS += [
    # exclusive cumulative products make the gradient exact at zeros (prod / x would be NaN); the
    # second order goes through Cumprod's rule, which (as TF's) divides with div_no_nan and is exact
    # only away from zeros, so rows with zeros check the first order
    GradRow("reduce_prod_one_zero_all", ("Prod", "Cumprod"), lambda a: tf.reduce_prod(a),
            [np.array([[0.9, 0.0, -1.2], [1.1, 0.7, -0.8]])], second_order=False),
    GradRow("reduce_prod_zeros_axis1", ("Prod", "Cumprod"), lambda a: tf.reduce_prod(a, axis=1), [_ZEROS],
            second_order=False),
    GradRow("reduce_prod_zeros_axis0_keepdims", ("Prod", "Cumprod"),
            lambda a: tf.reduce_prod(a, axis=0, keepdims=True), [_ZEROS], second_order=False),
    GradRow("reduce_prod_axes_02", ("Prod",), lambda a: tf.reduce_prod(a, axis=[0, 2]),
            [_away(2, 3, 2, lo=0.5, hi=1.5)]),
    GradRow("reduce_prod_axes_02_zeros", ("Prod",), lambda a: tf.reduce_prod(a, axis=[0, 2]),
            [np.where(_r.uniform(size=(2, 3, 2)) < 0.3, 0.0, _away(2, 3, 2, lo=0.5, hi=1.5))],
            second_order=False),
    GradRow("cumsum", ("Cumsum",), lambda a: tf.square(tf.cumsum(a, axis=1)), [_u(3, 4)]),
    GradRow("cumsum_exclusive_reverse", ("Cumsum",),
            lambda a: tf.square(tf.cumsum(a, axis=0, exclusive=True, reverse=True)), [_u(3, 4)]),
    GradRow("cumprod", ("Cumprod", "DivNoNan"), lambda a: tf.cumprod(a, axis=1), [_away(3, 4, lo=0.5, hi=1.5)]),
    GradRow("cumprod_exclusive", ("Cumprod",), lambda a: tf.cumprod(a, axis=0, exclusive=True),
            [_away(3, 4, lo=0.5, hi=1.5)]),
    GradRow("cumprod_exclusive_reverse", ("Cumprod",),
            lambda a: tf.cumprod(a, axis=-1, exclusive=True, reverse=True), [_away(3, 4, lo=0.5, hi=1.5)]),
    GradRow("div_no_nan", ("DivNoNan",), lambda a, b: tf.div_no_nan(a, b), [_u(3, 4), _away(4)]),
    # sign is piecewise constant: its gradient is a zeros tensor (as TF), so abs has a second order
    GradRow("sign_times_x", ("Sign",), lambda a: tf.sign(a) * tf.square(a), [_away(3, 4)]),
]

# "Add" (the op type of older graphs and frozen files) runs and differentiates like AddV2
ROWS.append(GradRow("legacy_add_op", ("Add",), lambda a, b: make_op("Add", [a, b], shape=(3, 4)),
                    [_u(3, 4), _u(4)]))

# floor mod: d/dx = 1, d/dy = -floor(x / y), away from the jumps where x / y is an integer
ROWS.append(GradRow("floormod", ("FloorMod",), lambda a, b: tf.mod(a, b),
                    [np.array([[2.3, -1.7, 4.1], [0.6, -3.3, 5.2]]), np.array([1.3, 0.9, -1.6])],
                    second_order=False))

# --- einsum: matmul-like, batched, outer, trace-free reductions, a letter only one operand has, a
# size-1 dimension that broadcasts, ellipsis, three operands -----------------------------------------
_EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ijk,k->i", [(2, 3, 4), (4,)]),
    ("ij,kj->ik", [(1, 4), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 3, 4)]),
]
for _k, (_eq, _shapes) in enumerate(_EINSUM):
    ROWS.append(GradRow(f"einsum_{_k}", ("Einsum",), lambda *xs, eq=_eq: tf.einsum(eq, *xs),
                        [_u(*s) for s in _shapes]))
