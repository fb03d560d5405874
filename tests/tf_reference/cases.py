"""The table of cases that tests/tf_reference/record.py runs on real TensorFlow and test_tf_reference.py
runs on nnctl.

A case is a function of ``(tf, *inputs)`` written against TF1's API, so the same code runs with
``tf = tensorflow.compat.v1`` and with ``import nnctl as tf``, plus its inputs: numpy values that are
fed through placeholders (of a given static shape, ``None`` dims allowed) or built in as constants.
What is compared: every output's value, dtype and static shape; the gradient of
``sum(w * output)`` with respect to each floating-point input, and its second order (the gradient of
``sum(u * gradient)``); or that both refuse the program (at construction or at run time).

This module imports only numpy, so it loads in the throwaway TensorFlow environment too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class In:
    value: Any
    dtype: str = "float64"
    shape: Any = "value"        # "value": the value's shape; a list with None dims; None: unknown rank
    const: bool = False         # a tf.constant instead of a fed placeholder

    def array(self) -> np.ndarray:
        return np.asarray(self.value, dtype=self.dtype)

    def static_shape(self) -> Any:
        return list(self.array().shape) if self.shape == "value" else self.shape


@dataclass
class Case:
    name: str
    fn: Callable[..., Any]
    inputs: list[In] = field(default_factory=list)
    grad: bool = True           # record first-order gradients for the floating-point inputs
    order2: bool = True         # and second order
    rtol: float | None = None   # default from the dtypes involved
    train_steps: int = 0        # fn returns (outputs, train_op): run train_op this often, then the outputs


CASES: list[Case] = []


def case(name: str, fn: Callable[..., Any], *inputs: In, **kw: Any) -> None:
    assert all(c.name != name for c in CASES), name
    CASES.append(Case(name, fn, list(inputs), **kw))


_G = np.random.default_rng(20260)


def u(*shape: int, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return np.round(_G.uniform(lo, hi, size=shape), 3)


def ints(*shape: int, lo: int = -5, hi: int = 6) -> np.ndarray:
    return _G.integers(lo, hi, size=shape)


F64, F32, F16 = "float64", "float32", "float16"
I8, I16, I32, I64, U8, BOOL = "int8", "int16", "int32", "int64", "uint8", "bool"

# --- unary math ------------------------------------------------------------------------------------

_EDGES = [-3.7, -2.5, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5]
_POSITIVE = [0.25, 0.5, 1.0, 2.0, 4.0, 9.5]
_DOMAIN = [-1.0, 0.0, 0.5, 1.0]  # log, sqrt ... at and outside the edge of their domain
_UNARY = {
    "negative": (lambda tf, x: tf.negative(x), _EDGES, True),
    "neg_operator": (lambda tf, x: -x, _EDGES, True),
    "abs": (lambda tf, x: tf.abs(x), _EDGES, True),
    "abs_operator": (lambda tf, x: abs(x), _EDGES, True),
    "sign": (lambda tf, x: tf.sign(x), _EDGES, True),
    "square": (lambda tf, x: tf.square(x), _EDGES, True),
    "reciprocal": (lambda tf, x: tf.reciprocal(x), [-2.5, -0.5, 0.5, 1.5, 4.0], True),
    "floor": (lambda tf, x: tf.floor(x), _EDGES, True),
    "ceil": (lambda tf, x: tf.ceil(x), _EDGES, True),
    "round": (lambda tf, x: tf.round(x), _EDGES, True),
    "sqrt": (lambda tf, x: tf.sqrt(x), _POSITIVE, True),
    "rsqrt": (lambda tf, x: tf.rsqrt(x), _POSITIVE, True),
    "exp": (lambda tf, x: tf.exp(x), _EDGES, True),
    "expm1": (lambda tf, x: tf.expm1(x), _EDGES, True),
    "log": (lambda tf, x: tf.log(x), _POSITIVE, True),
    "log1p": (lambda tf, x: tf.log1p(x), [-0.5, 0.0, 0.5, 2.0, 9.0], True),
    "sin": (lambda tf, x: tf.sin(x), _EDGES, True),
    "cos": (lambda tf, x: tf.cos(x), _EDGES, True),
    "sigmoid": (lambda tf, x: tf.sigmoid(x), _EDGES + [30.0, -30.0], True),
    "tanh": (lambda tf, x: tf.tanh(x), _EDGES + [20.0, -20.0], True),
    "relu": (lambda tf, x: tf.nn.relu(x), _EDGES, True),
    "relu6": (lambda tf, x: tf.nn.relu6(x), _EDGES + [6.0, 7.0, 5.5], True),
    "elu": (lambda tf, x: tf.nn.elu(x), _EDGES, True),
    "selu": (lambda tf, x: tf.nn.selu(x), _EDGES, True),
    "softplus": (lambda tf, x: tf.nn.softplus(x), _EDGES + [40.0, -40.0], True),
    "softsign": (lambda tf, x: tf.nn.softsign(x), _EDGES, False),
    "leaky_relu": (lambda tf, x: tf.nn.leaky_relu(x), _EDGES, True),
    "leaky_relu_alpha": (lambda tf, x: tf.nn.leaky_relu(x, alpha=0.05), _EDGES, True),
    "sigmoid_nn": (lambda tf, x: tf.nn.sigmoid(x), _EDGES, True),
    "tanh_nn": (lambda tf, x: tf.nn.tanh(x), _EDGES, True),
    "identity": (lambda tf, x: tf.identity(x), _EDGES, True),
    "stop_gradient": (lambda tf, x: tf.stop_gradient(x) * x, _EDGES, True),
    "l2_loss": (lambda tf, x: tf.nn.l2_loss(x), _EDGES, True),
    "zeros_like": (lambda tf, x: tf.zeros_like(x), _EDGES, True),
    "ones_like": (lambda tf, x: tf.ones_like(x), _EDGES, True),
}
for _n, (_f, _vals, _o2) in _UNARY.items():
    case(f"{_n}_f64", _f, In(_vals), order2=_o2)
    case(f"{_n}_f32_2d", _f, In(np.reshape(_vals[: len(_vals) // 2 * 2], (2, -1)), F32, shape=[None, None]),
         order2=False)
    case(f"{_n}_f16", _f, In(_vals, F16), grad=False)
    case(f"{_n}_i32", _f, In(np.round(_vals), I32), grad=False)
    case(f"{_n}_scalar", _f, In(1.5), order2=_o2)
for _n in ("sqrt", "rsqrt", "log", "log1p", "reciprocal"):
    case(f"{_n}_domain_edge", _UNARY[_n][0], In(_DOMAIN), grad=False)
for _n in ("negative", "abs", "sign", "square", "relu"):
    for _dt in (I8, I64, U8):
        case(f"{_n}_{_dt}", _UNARY[_n][0], In([0, 1, 2, 7], _dt), grad=False)
case("invert_int", lambda tf, x: ~x, In([0, 1, -3, 7], I32), grad=False)
case("invert_bool", lambda tf, x: ~x, In([True, False], BOOL), grad=False)
case("logical_not", lambda tf, x: tf.logical_not(x), In([True, False], BOOL), grad=False)
case("logical_not_int", lambda tf, x: tf.logical_not(x), In([1, 0], I32), grad=False)

# --- binary math, every broadcasting direction -------------------------------------------------------

_PAIRS = {"same": ((2, 3), (2, 3)), "row": ((2, 3), (3,)), "col": ((2, 3), (2, 1)), "outer": ((3, 1), (1, 4)),
          "rscalar": ((2, 3), ()), "lscalar": ((), (2, 3)), "lead": ((4,), (2, 3, 4)), "rev_row": ((3,), (2, 3))}
_BINARY = {
    "add": lambda tf, a, b: tf.add(a, b),
    "subtract": lambda tf, a, b: tf.subtract(a, b),
    "multiply": lambda tf, a, b: tf.multiply(a, b),
    "divide": lambda tf, a, b: tf.divide(a, b),
    "truediv": lambda tf, a, b: tf.truediv(a, b),
    "realdiv": lambda tf, a, b: tf.realdiv(a, b),
    "div": lambda tf, a, b: tf.div(a, b),
    "floordiv": lambda tf, a, b: tf.floordiv(a, b),
    "mod": lambda tf, a, b: tf.mod(a, b),
    "pow": lambda tf, a, b: tf.pow(a, b),
    "maximum": lambda tf, a, b: tf.maximum(a, b),
    "minimum": lambda tf, a, b: tf.minimum(a, b),
    "squared_difference": lambda tf, a, b: tf.squared_difference(a, b),
    "equal": lambda tf, a, b: tf.equal(a, b),
    "not_equal": lambda tf, a, b: tf.not_equal(a, b),
    "less": lambda tf, a, b: tf.less(a, b),
    "less_equal": lambda tf, a, b: tf.less_equal(a, b),
    "greater": lambda tf, a, b: tf.greater(a, b),
    "greater_equal": lambda tf, a, b: tf.greater_equal(a, b),
    "op_add": lambda tf, a, b: a + b,
    "op_sub": lambda tf, a, b: a - b,
    "op_mul": lambda tf, a, b: a * b,
    "op_div": lambda tf, a, b: a / b,
    "op_floordiv": lambda tf, a, b: a // b,
    "op_mod": lambda tf, a, b: a % b,
    "op_pow": lambda tf, a, b: a ** b,
    "op_lt": lambda tf, a, b: a < b,
    "op_ge": lambda tf, a, b: a >= b,
}
_SMOOTH = {"add", "subtract", "multiply", "divide", "truediv", "realdiv", "div", "pow", "squared_difference",
           "op_add", "op_sub", "op_mul", "op_div", "op_pow"}
for _n, _f in _BINARY.items():
    for _p, (_sa, _sb) in _PAIRS.items():
        _a = u(*_sa, lo=0.5, hi=2.0) if "pow" in _n else u(*_sa)
        _b = u(*_sb, lo=-1.5, hi=1.5) if "pow" in _n else np.where(np.abs(u(*_sb)) < 0.3, 0.7, u(*_sb))
        case(f"{_n}_{_p}", _f, In(_a), In(_b), order2=_n in _SMOOTH)
    case(f"{_n}_f32_unknown_dims", _f, In(u(2, 3), F32, shape=[None, 3]), In(u(3), F32, shape=[None]),
         order2=False)
    case(f"{_n}_int32", _f, In(ints(2, 3), I32), In(np.array([3, -2, 4]), I32), grad=False)
    case(f"{_n}_int64_scalar", _f, In(ints(2, 3), I64), In(np.array(3), I64), grad=False)
    case(f"{_n}_f16", _f, In(u(2, 3, lo=0.5, hi=2.0), F16), In(u(3, lo=0.5, hi=2.0), F16), grad=False)
    case(f"{_n}_const_python_float", lambda tf, a, f=_f: f(tf, a, 2.0), In(u(2, 3, lo=0.5, hi=2.0)),
         order2=False)
    case(f"{_n}_python_int_left", lambda tf, a, f=_f: f(tf, 3, a), In(ints(2, 3, lo=1, hi=5), I32), grad=False)
# ties and kinks: the gradient conventions of maximum/minimum/abs at equality
case("maximum_ties", lambda tf, a, b: tf.maximum(a, b), In([1.0, 2.0, 3.0]), In([1.0, 1.0, 4.0]), order2=False)
case("minimum_ties", lambda tf, a, b: tf.minimum(a, b), In([1.0, 2.0, 3.0]), In([1.0, 1.0, 4.0]), order2=False)
case("pow_zero_base", lambda tf, a, b: tf.pow(a, b), In([0.0, 0.0, 2.0, -2.0]), In([2.0, 0.5, 3.0, 2.0]),
     order2=False)
case("pow_int", lambda tf, a, b: tf.pow(a, b), In([2, 3, -2], I32), In([3, 0, 2], I32), grad=False)
for _dt in (U8, I8, I16, I32, I64):
    case(f"divide_dtype_{_dt}", lambda tf, a, b: tf.divide(a, b), In([7, 9, 200 if _dt == U8 else -9], _dt),
         In([2, 4, 7], _dt), grad=False)
    case(f"op_div_{_dt}_by_python_int", lambda tf, a: a / 255, In([7, 9, 100], _dt), grad=False)
    case(f"floordiv_{_dt}_by_zero", lambda tf, a, b: tf.floordiv(a, b), In([7, 9, 1], _dt), In([2, 0, 1], _dt),
         grad=False)
    case(f"mod_{_dt}_by_zero", lambda tf, a, b: tf.mod(a, b), In([7, 9, 1], _dt), In([2, 0, 1], _dt), grad=False)
case("floordiv_negative", lambda tf, a, b: tf.floordiv(a, b), In([-7, 7, -7], I32), In([2, -2, -2], I32),
     grad=False)
case("mod_negative", lambda tf, a, b: tf.mod(a, b), In([-7, 7, -7], I32), In([2, -2, -2], I32), grad=False)
case("mod_float_negative", lambda tf, a, b: tf.mod(a, b), In([-7.5, 7.5, -7.5]), In([2.0, -2.0, -2.0]),
     grad=False)
case("floordiv_float", lambda tf, a, b: tf.floordiv(a, b), In([-7.5, 7.5, -7.5]), In([2.0, -2.0, -2.0]),
     grad=False)
case("uint8_image_scaled_meets_float32", lambda tf, img: tf.matmul(img / 255, tf.ones([3, 2])),
     In([[10, 20, 255]], U8, shape=[None, 3]), grad=False)
case("logical_and", lambda tf, a, b: tf.logical_and(a, b), In([True, True, False], BOOL),
     In([True, False, False], BOOL), grad=False)
case("logical_or_broadcast", lambda tf, a, b: tf.logical_or(a, b), In([[True], [False]], BOOL),
     In([True, False, False], BOOL), grad=False)
case("op_and_bool", lambda tf, a, b: a & b, In([True, False], BOOL), In([True, True], BOOL), grad=False)
case("op_or_bool", lambda tf, a, b: a | b, In([True, False], BOOL), In([False, False], BOOL), grad=False)
case("op_xor_bool", lambda tf, a, b: a ^ b, In([True, False, True], BOOL), In([True, True, False], BOOL),
     grad=False)
case("add_bool", lambda tf, a, b: a + b, In([True, False], BOOL), In([True, True], BOOL), grad=False)
case("add_mixed_dtypes", lambda tf, a, b: a + b, In([1.0, 2.0], F32), In([1.0, 2.0], F64), grad=False)
case("add_float_to_int", lambda tf, a: a + 1.5, In([1, 2], I32), grad=False)
case("add_int_to_float", lambda tf, a: a + 1, In([1.0, 2.0], F32), grad=False)
case("add_broadcast_error", lambda tf, a, b: a + b, In(u(2, 3)), In(u(2, 4)), grad=False)
case("matmul_op", lambda tf, a, b: a @ b, In(u(2, 3)), In(u(3, 4)))

# --- matmul --------------------------------------------------------------------------------------

for _ta in (False, True):
    for _tb in (False, True):
        _sa = (3, 2) if _ta else (2, 3)
        _sb = (4, 3) if _tb else (3, 4)
        case(f"matmul_t{int(_ta)}{int(_tb)}", lambda tf, a, b, ta=_ta, tb=_tb: tf.matmul(a, b, transpose_a=ta,
                                                                                         transpose_b=tb),
             In(u(*_sa)), In(u(*_sb)))
case("matmul_batch", lambda tf, a, b: tf.matmul(a, b), In(u(2, 2, 3)), In(u(2, 3, 4)))
case("matmul_batch_broadcast", lambda tf, a, b: tf.matmul(a, b), In(u(2, 1, 2, 3)), In(u(3, 3, 2)))
case("matmul_rank3_by_matrix", lambda tf, a, b: tf.matmul(a, b), In(u(2, 2, 3)), In(u(3, 4)))
case("matmul_unknown_batch", lambda tf, a, b: tf.matmul(a, b), In(u(2, 3), F32, shape=[None, 3]),
     In(u(3, 4), F32), order2=False)
case("matmul_int32", lambda tf, a, b: tf.matmul(a, b), In(ints(2, 3), I32), In(ints(3, 2), I32), grad=False)
case("matmul_inner_mismatch", lambda tf, a, b: tf.matmul(a, b), In(u(2, 3)), In(u(4, 2)), grad=False)
case("matmul_vector", lambda tf, a, b: tf.matmul(a, b), In(u(3)), In(u(3, 2)), grad=False)
case("matmul_adjoint", lambda tf, a, b: tf.matmul(a, b, adjoint_a=True), In(u(3, 2)), In(u(3, 4)))

# --- reductions ----------------------------------------------------------------------------------

_REDUCE = {"sum": "reduce_sum", "mean": "reduce_mean", "max": "reduce_max", "min": "reduce_min",
           "prod": "reduce_prod"}
_AXES = {"all": {}, "a0": {"axis": 0}, "a1": {"axis": 1}, "neg": {"axis": -1}, "list": {"axis": [0, 2]},
         "empty_list": {"axis": []}, "keep": {"axis": 1, "keepdims": True},
         "all_keep": {"keepdims": True}, "keep_dims": {"axis": 1, "keep_dims": True},
         "reduction_indices": {"reduction_indices": [1]}, "dup": {"axis": [1, -2]}}
_X3 = np.array([[[1.5, -2.0, 0.5, 3.0], [0.25, 2.0, -1.0, 1.0], [2.0, 0.5, -0.5, -3.0]],
                [[-1.0, 1.0, 2.5, 0.75], [0.0, -2.5, 1.25, 2.0], [1.0, 3.5, -0.25, 0.5]]])
for _n, _fname in _REDUCE.items():
    for _a, _kw in _AXES.items():
        case(f"reduce_{_n}_{_a}", lambda tf, x, fn=_fname, kw=_kw: getattr(tf, fn)(x, **kw), In(_X3),
             order2=_n in ("sum", "mean", "prod"))
    case(f"reduce_{_n}_f32_unknown", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0),
         In(_X3, F32, shape=[None, 3, None]), order2=False)
    case(f"reduce_{_n}_unknown_rank_all", lambda tf, x, fn=_fname: getattr(tf, fn)(x), In(_X3, shape=None),
         order2=False)
    case(f"reduce_{_n}_unknown_rank_axis", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=1),
         In(_X3, shape=None), order2=False)
    case(f"reduce_{_n}_int32", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0),
         In([[-1, 4, 7], [-2, 5, -8]], I32), grad=False)
    case(f"reduce_{_n}_uint8", lambda tf, x, fn=_fname: getattr(tf, fn)(x), In([200, 200, 255], U8), grad=False)
    case(f"reduce_{_n}_int8", lambda tf, x, fn=_fname: getattr(tf, fn)(x), In([100, 100, -7], I8), grad=False)
    case(f"reduce_{_n}_bool", lambda tf, x, fn=_fname: getattr(tf, fn)(x), In([True, False], BOOL), grad=False)
    case(f"reduce_{_n}_empty_axis_fed", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0),
         In(np.zeros((0, 3)), F32, shape=[None, 3]), grad=False)
    case(f"reduce_{_n}_empty_axis_const", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0),
         In(np.zeros((0, 3)), F32, const=True), grad=False)
    case(f"reduce_{_n}_int_empty", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=1),
         In(np.zeros((2, 0)), I32, shape=[2, None]), grad=False)
    case(f"reduce_{_n}_axis_out_of_range", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=3), In(_X3),
         grad=False)
    case(f"reduce_{_n}_ties", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=1),
         In([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), order2=False)
case("reduce_prod_zeros", lambda tf, x: tf.reduce_prod(x), In([0.0, 2.0, 3.0]))
case("reduce_prod_two_zeros", lambda tf, x: tf.reduce_prod(x, axis=1), In([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]))
case("reduce_prod_zeros_axes", lambda tf, x: tf.reduce_prod(x, axis=[0, 2]),
     In(np.where(_X3 > 1.5, 0.0, _X3)))
case("reduce_mean_int_trunc", lambda tf, x: tf.reduce_mean(x), In([-1, -2], I32), grad=False)
case("reduce_mean_f16", lambda tf, x: tf.reduce_mean(x), In(np.full(1000, 3.1), F16), grad=False)
case("reduce_sum_f16", lambda tf, x: tf.reduce_sum(x), In(np.full(100, 0.1), F16), grad=False)
for _n in ("argmax", "argmin"):
    case(f"{_n}_a0", lambda tf, x, n=_n: getattr(tf, n)(x, 0), In(_X3), grad=False)
    case(f"{_n}_a1", lambda tf, x, n=_n: getattr(tf, n)(x, axis=1), In(_X3), grad=False)
    case(f"{_n}_neg", lambda tf, x, n=_n: getattr(tf, n)(x, axis=-1), In(_X3), grad=False)
    case(f"{_n}_dimension", lambda tf, x, n=_n: getattr(tf, n)(x, dimension=1), In(_X3), grad=False)
    case(f"{_n}_int32_out", lambda tf, x, n=_n: getattr(tf, n)(x, 1, output_type=tf.int32), In(_X3), grad=False)
    case(f"{_n}_ties", lambda tf, x, n=_n: getattr(tf, n)(x, 1), In([[3.0, 1.0, 3.0], [1.0, 1.0, 2.0]]),
         grad=False)
    case(f"{_n}_nan", lambda tf, x, n=_n: getattr(tf, n)(x, 0), In([1.0, np.nan, 3.0, -3.0]), grad=False)
    case(f"{_n}_int", lambda tf, x, n=_n: getattr(tf, n)(x, 0), In([[1, 5], [7, -2]], I32), grad=False)
    case(f"{_n}_unknown", lambda tf, x, n=_n: getattr(tf, n)(x, 1), In(_X3, F32, shape=[None, None, 4]),
         grad=False)
    case(f"{_n}_none_axis", lambda tf, x, n=_n: getattr(tf, n)(x), In([[3.0, 1.0], [0.0, 5.0]]), grad=False)

# --- casts, clipping, where, add_n -------------------------------------------------------------------

for _src, _dst, _vals in [(F64, I32, [-2.7, -0.5, 0.5, 2.7]), (F32, I64, [1.9, -1.9, 0.0]),
                          (F32, U8, [0.0, 1.5, 255.0]), (I32, F32, [1, -3, 2**24 + 1]), (F64, F16, [0.1, 70000.0]),
                          (BOOL, F32, [True, False]), (F32, BOOL, [0.0, 0.5, -2.0]), (I32, BOOL, [0, 3]),
                          (I64, I32, [2**40 + 5, -1]), (I32, U8, [257, 3]), (F64, F32, [1e-50, 3.3])]:
    case(f"cast_{_src}_to_{_dst}", lambda tf, x, d=_dst: tf.cast(x, d), In(_vals, _src), grad=_src == F64 and
         _dst in (F32, F16), order2=False)
case("cast_f32_f64_grad", lambda tf, x: tf.cast(x, tf.float64) * 2.0, In([1.5, -2.0], F32), order2=False)
case("to_float", lambda tf, x: tf.to_float(x), In([1, 2], I32), grad=False)
case("clip_by_value", lambda tf, x: tf.clip_by_value(x, -1.0, 1.5), In(_EDGES))
case("clip_by_value_min_above_max", lambda tf, x: tf.clip_by_value(x, 6.0, 2.0), In([1.0, 5.0, 9.0]))
case("clip_by_value_at_bounds", lambda tf, x: tf.clip_by_value(x, -1.0, 1.0), In([-1.0, 1.0, 0.0]))
case("clip_by_value_tensor_bounds", lambda tf, x, lo, hi: tf.clip_by_value(x, lo, hi), In(u(2, 3)),
     In([-0.5, 0.0, -1.0]), In([0.5, 1.0, 0.2]))
case("clip_by_value_int", lambda tf, x: tf.clip_by_value(x, 0, 3), In([-2, 1, 5], I32), grad=False)
case("clip_by_value_broadcast_grows", lambda tf, x, lo: tf.clip_by_value(x, lo, 1.0), In(u(3)), In(u(2, 3)),
     grad=False)
case("clip_by_norm", lambda tf, x: tf.clip_by_norm(x, 1.0), In(u(2, 3)))
case("clip_by_norm_axes", lambda tf, x: tf.clip_by_norm(x, 0.5, axes=[1]), In(u(2, 3)))
case("clip_by_norm_small", lambda tf, x: tf.clip_by_norm(x, 100.0), In(u(2, 3)))
case("global_norm", lambda tf, a, b: tf.global_norm([a, b]), In(u(2, 3)), In(u(4)))
case("clip_by_global_norm", lambda tf, a, b: list(tf.clip_by_global_norm([a, b], 1.0)[0]) +
     [tf.clip_by_global_norm([a, b], 1.0)[1]], In(u(2, 3)), In(u(4)))
case("clip_by_global_norm_mixed", lambda tf, a, b: tf.clip_by_global_norm([a, b], 1.0)[0], In(u(2), F32),
     In(u(2)), grad=False)
case("global_norm_empty", lambda tf: tf.global_norm([]), grad=False)
case("where", lambda tf, c, a, b: tf.where(c, a, b), In([True, False, True], BOOL), In(u(3)), In(u(3)))
case("where_rows", lambda tf, c, a, b: tf.where(c, a, b), In([True, False], BOOL), In(u(2, 3)), In(u(2, 3)))
case("where_int", lambda tf, c, a, b: tf.where(c, a, b), In([True, False], BOOL), In([1, 2], I32),
     In([3, 4], I32), grad=False)
case("add_n", lambda tf, a, b, c: tf.add_n([a, b, c]), In(u(2, 3)), In(u(2, 3)), In(u(2, 3)))
case("add_n_single", lambda tf, a: tf.add_n([a]), In(u(2, 3)))
case("add_n_int", lambda tf, a, b: tf.add_n([a, b]), In([1, 2], I32), In([3, 4], I32), grad=False)
case("add_n_tensor", lambda tf, a: tf.add_n(a), In(u(2, 3)), grad=False)
case("add_n_shape_mismatch", lambda tf, a, b: tf.add_n([a, b]), In(u(2, 3)), In(u(3)), grad=False)
case("cumsum", lambda tf, x: tf.cumsum(x, axis=1), In(u(2, 3)))
case("cumsum_exclusive_reverse", lambda tf, x: tf.cumsum(x, exclusive=True, reverse=True), In(u(3, 2)))
case("cumprod", lambda tf, x: tf.cumprod(x, axis=1), In(u(2, 3, lo=0.5, hi=2.0)))
case("cumprod_zeros_exclusive", lambda tf, x: tf.cumprod(x, axis=0, exclusive=True), In([1.5, 0.0, 2.0, 3.0]))
case("div_no_nan", lambda tf, a, b: tf.div_no_nan(a, b), In([1.0, 2.0, -3.0]), In([0.0, 4.0, 0.5]))

# --- arrays ----------------------------------------------------------------------------------------

_A = u(2, 3, 4)
case("reshape", lambda tf, x: tf.reshape(x, [3, -1]), In(_A))
case("reshape_unknown_batch", lambda tf, x: tf.reshape(x, [-1, 4]), In(_A, shape=[None, 3, 4]))
case("reshape_bad", lambda tf, x: tf.reshape(x, [5, -1]), In(_A), grad=False)
case("reshape_scalar", lambda tf, x: tf.reshape(x, []), In([2.5]))
case("expand_dims", lambda tf, x: tf.expand_dims(x, 1), In(u(2, 3)))
case("expand_dims_neg", lambda tf, x: tf.expand_dims(x, -1), In(u(2, 3)))
case("expand_dims_dim", lambda tf, x: tf.expand_dims(x, dim=0), In(u(2, 3)))
case("expand_dims_unknown_rank", lambda tf, x: tf.expand_dims(x, 0), In(u(2, 3), shape=None))
case("squeeze", lambda tf, x: tf.squeeze(x), In(u(1, 3, 1)))
case("squeeze_axis", lambda tf, x: tf.squeeze(x, axis=[2]), In(u(1, 3, 1)))
case("squeeze_unknown_dim", lambda tf, x: tf.squeeze(x, axis=1), In(u(2, 1, 3), shape=[None, 1, 3]))
case("squeeze_unknown_all", lambda tf, x: tf.squeeze(x), In(u(2, 1, 3), shape=[None, 1, 3]))
case("squeeze_axis_out_of_range", lambda tf, x: tf.squeeze(x, axis=5), In(u(1, 3, 1)), grad=False)
case("squeeze_not_one", lambda tf, x: tf.squeeze(x, axis=1), In(u(1, 3, 1)), grad=False)
case("squeeze_dims", lambda tf, x: tf.squeeze(x, squeeze_dims=[0]), In(u(1, 3, 1)))
case("transpose", lambda tf, x: tf.transpose(x), In(_A))
case("transpose_perm", lambda tf, x: tf.transpose(x, [1, 0, 2]), In(_A))
case("transpose_negative_perm", lambda tf, x: tf.transpose(x, [-1, 0, 1]), In(_A))
case("transpose_unknown", lambda tf, x: tf.transpose(x, [2, 0, 1]), In(_A, F32, shape=[None, 3, None]),
     order2=False)
case("concat", lambda tf, a, b: tf.concat([a, b], 0), In(u(2, 3)), In(u(1, 3)))
case("concat_axis1", lambda tf, a, b: tf.concat([a, b], axis=1), In(u(2, 3)), In(u(2, 2)))
case("concat_neg_axis", lambda tf, a, b: tf.concat([a, b], -1), In(u(2, 3)), In(u(2, 2)))
case("concat_unknown", lambda tf, a, b: tf.concat([a, b], 0), In(u(2, 3), shape=[None, 3]), In(u(1, 3)))
case("concat_numpy_f64_with_f32", lambda tf, a: tf.concat([a, np.ones((1, 3))], 0), In(u(2, 3), F32),
     grad=False)
case("concat_mismatch", lambda tf, a, b: tf.concat([a, b], 0), In(u(2, 3)), In(u(2, 2)), grad=False)
case("concat_single", lambda tf, a: tf.concat([a], 0), In(u(2, 3)))
case("stack", lambda tf, a, b: tf.stack([a, b]), In(u(2, 3)), In(u(2, 3)))
case("stack_axis", lambda tf, a, b: tf.stack([a, b], axis=-1), In(u(2, 3)), In(u(2, 3)))
case("stack_unknown", lambda tf, a, b: tf.stack([a, b], axis=1), In(u(2, 3), shape=[None, 3]),
     In(u(2, 3), shape=[2, None]))
case("stack_python", lambda tf, a: tf.stack([a, 2.0 * a, 1.0]), In(1.5))
case("unstack", lambda tf, x: tf.unstack(x), In(u(3, 2)))
case("unstack_axis", lambda tf, x: tf.unstack(x, axis=1), In(u(3, 2)))
case("split", lambda tf, x: tf.split(x, 2, axis=1), In(u(2, 4)))
case("split_sizes", lambda tf, x: tf.split(x, [1, 3], 1), In(u(2, 4)))
case("split_sizes_infer", lambda tf, x: tf.split(x, [1, -1], 1), In(u(2, 4)))
case("split_uneven", lambda tf, x: tf.split(x, 3, axis=1), In(u(2, 4)), grad=False)
case("slice", lambda tf, x: tf.slice(x, [0, 1, 1], [2, 1, -1]), In(_A))
case("slice_unknown", lambda tf, x: tf.slice(x, [1, 0], [1, 2]), In(u(3, 3), shape=[None, None]))
case("gather", lambda tf, x, i: tf.gather(x, i), In(u(4, 3)), In([3, 0, 3], I32))
case("gather_axis1", lambda tf, x, i: tf.gather(x, i, axis=1), In(u(4, 3)), In([[2, 0], [1, 1]], I64))
case("gather_out_of_range", lambda tf, x, i: tf.gather(x, i), In(u(4, 3)), In([4], I32), grad=False)
case("gather_int_params", lambda tf, x, i: tf.gather(x, i), In([5, 6, 7], I32), In([2, 2], I32), grad=False)
case("one_hot", lambda tf, i: tf.one_hot(i, 4), In([0, 3, 1, -1, 4], I32), grad=False)
case("one_hot_values", lambda tf, i: tf.one_hot(i, 3, on_value=5, off_value=-1), In([0, 2], I32), grad=False)
case("one_hot_axis0", lambda tf, i: tf.one_hot(i, 3, axis=0, dtype=tf.float64), In([0, 2], I64), grad=False)
case("one_hot_tensor_values", lambda tf, i, on, off: tf.one_hot(i, 3, on_value=on, off_value=off),
     In([0, 2], I32), In(2.0, F32), In(0.5, F32), grad=False)
case("tile", lambda tf, x: tf.tile(x, [2, 1]), In(u(2, 3)))
case("tile_unknown", lambda tf, x: tf.tile(x, [1, 3]), In(u(2, 3), shape=[None, 3]))
case("pad", lambda tf, x: tf.pad(x, [[1, 0], [2, 1]]), In(u(2, 3)))
case("pad_reflect", lambda tf, x: tf.pad(x, [[1, 1], [2, 2]], mode="REFLECT"), In(u(3, 4)))
case("pad_symmetric", lambda tf, x: tf.pad(x, [[1, 1], [2, 1]], mode="SYMMETRIC"), In(u(3, 4)))
case("pad_lowercase", lambda tf, x: tf.pad(x, [[1, 1], [0, 0]], mode="reflect"), In(u(3, 4)))
case("pad_constant_values", lambda tf, x: tf.pad(x, [[1, 1]], constant_values=2.5), In(u(3)))
case("pad_int_float_value", lambda tf, x: tf.pad(x, [[1, 1]], constant_values=1.5), In([1, 2], I32),
     grad=False)
case("pad_int", lambda tf, x: tf.pad(x, [[1, 1]], constant_values=7), In([1, 2], I32), grad=False)
case("reverse", lambda tf, x: tf.reverse(x, [1]), In(u(2, 3)))
case("reverse_neg", lambda tf, x: tf.reverse(x, [-1, 0]), In(u(2, 3)))
case("broadcast_to", lambda tf, x: tf.broadcast_to(x, [2, 3]), In(u(3)))
case("broadcast_to_col", lambda tf, x: tf.broadcast_to(x, [2, 2, 3]), In(u(2, 1)))
case("shape", lambda tf, x: tf.shape(x), In(u(2, 3), shape=[None, 3]), grad=False)
case("shape_int64", lambda tf, x: tf.shape(x, out_type=tf.int64), In(u(2, 3)), grad=False)
case("size", lambda tf, x: tf.size(x), In(u(2, 3), shape=[None, 3]), grad=False)
case("rank", lambda tf, x: tf.rank(x), In(u(2, 3)), grad=False)
case("fill_int", lambda tf: tf.fill([2], 3), grad=False)
case("fill_float", lambda tf: tf.fill([2, 2], 1.5), grad=False)
case("fill_tensor_value", lambda tf, v: tf.fill([2, 3], v), In(2.5))
case("fill_bool", lambda tf: tf.fill([2], True), grad=False)
case("zeros", lambda tf: tf.zeros([2, 3]), grad=False)
case("zeros_int", lambda tf: tf.zeros([2], tf.int32), grad=False)
case("ones_f64", lambda tf: tf.ones([2, 1], dtype=tf.float64), grad=False)
case("zeros_like_dtype", lambda tf, x: tf.zeros_like(x, dtype=tf.int32), In(u(2)), grad=False)
case("ones_like_bool", lambda tf, x: tf.ones_like(x), In([True, False], BOOL), grad=False)
case("constant_float_to_int", lambda tf: tf.constant([1.0, 2.0], dtype=tf.int32), grad=False)
case("constant_numpy_float_to_int", lambda tf: tf.constant(np.array([1.0, 2.7, -2.7]), dtype=tf.int32), grad=False)
case("constant_python_float_scalar_to_int", lambda tf: tf.constant(3.0, dtype=tf.int64), grad=False)
case("constant_fractional_to_int", lambda tf: tf.constant([1.5, 2.0], dtype=tf.int32), grad=False)
case("constant_short_list", lambda tf: tf.constant([1.0, 2.0], shape=[2, 3]), grad=False)
case("constant_scalar_fill", lambda tf: tf.constant(7, shape=[2, 2]), grad=False)
case("constant_python_int", lambda tf: tf.constant(3), grad=False)
case("constant_python_big_int", lambda tf: tf.constant(2**40), grad=False)
case("constant_python_float", lambda tf: tf.constant(2.5), grad=False)
case("constant_mixed_list", lambda tf: tf.constant([1, 2.5]), grad=False)
case("constant_bool", lambda tf: tf.constant([True]), grad=False)
case("constant_f64_array", lambda tf: tf.constant(np.array([1.5, 2.0])), grad=False)
case("constant_i64_array", lambda tf: tf.constant(np.array([1, 2], dtype=np.int64)), grad=False)
case("constant_dtype_f16", lambda tf: tf.constant([1, 2], dtype=tf.float16), grad=False)
case("convert_to_tensor_list", lambda tf: tf.convert_to_tensor([[1.0, 2.0]]), grad=False)
case("convert_to_tensor_dtype", lambda tf: tf.convert_to_tensor([1, 2], dtype=tf.float32), grad=False)
case("index_int", lambda tf, x: x[1], In(_A))
case("index_neg", lambda tf, x: x[-1, :, 2], In(_A))
case("index_slice_step", lambda tf, x: x[:, ::2, 1:], In(_A))
case("index_reverse", lambda tf, x: x[::-1], In(u(4, 2)))
case("index_newaxis", lambda tf, x: x[:, None, 1], In(u(3, 2)))
case("index_ellipsis", lambda tf, x: x[..., 0], In(_A))
case("index_unknown", lambda tf, x: x[1:, 0], In(u(3, 2), shape=[None, 2]))
case("index_list", lambda tf, x: x[[0, 1]], In(u(3, 2)), grad=False)
case("index_out_of_range", lambda tf, x: x[5], In(u(3, 2)), grad=False)
case("placeholder_with_default", lambda tf, x: tf.placeholder_with_default(x, [None, 2]) * 2.0, In(u(3, 2)))

# --- nn ----------------------------------------------------------------------------------------------

_L = u(3, 4)
_Z = np.array([[0.2, 0.3, 0.4, 0.1], [0.0, 0.0, 1.0, 0.0], [0.5, 0.2, 0.1, 0.0]])  # the last sums to 0.8
for _n in ("softmax", "log_softmax"):
    case(f"{_n}", lambda tf, x, n=_n: getattr(tf.nn, n)(x), In(_L))
    case(f"{_n}_axis0", lambda tf, x, n=_n: getattr(tf.nn, n)(x, axis=0), In(_L))
    case(f"{_n}_dim", lambda tf, x, n=_n: getattr(tf.nn, n)(x, dim=0), In(_L))
    case(f"{_n}_rank3", lambda tf, x, n=_n: getattr(tf.nn, n)(x, axis=1), In(u(2, 3, 2)))
    case(f"{_n}_f32_unknown", lambda tf, x, n=_n: getattr(tf.nn, n)(x), In(_L, F32, shape=[None, 4]),
         order2=False)
    case(f"{_n}_large", lambda tf, x, n=_n: getattr(tf.nn, n)(x), In([[1000.0, 0.0, -1000.0]]))
    case(f"{_n}_int", lambda tf, x, n=_n: getattr(tf.nn, n)(x), In([[1, 2]], I32), grad=False)
case("softmax_ce_v2", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x), In(_Z),
     In(_L))
case("softmax_ce_v1", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits(labels=z, logits=x), In(_Z),
     In(_L))
case("softmax_ce_v2_axis0", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x,
                                                                                           axis=0),
     In(_Z.T), In(_L.T))
case("softmax_ce_f32_unknown", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x),
     In(_Z, F32, shape=[None, 4]), In(_L, F32, shape=[None, 4]), order2=False)
case("softmax_ce_f64_labels_f32_logits", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(
    labels=z, logits=x), In(_Z, F64), In(_L, F32), grad=False)
case("softmax_ce_int_labels", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x),
     In([[0, 1, 0, 0]], I32), In(_L[:1], F32), grad=False)
case("softmax_ce_broadcast_labels", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(
    labels=z, logits=x), In(_Z[:1]), In(_L))
case("softmax_ce_rank1", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x),
     In(_Z[0]), In(_L[0]))
case("sparse_softmax_ce", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
     In([0, 3, 1], I32), In(_L))
case("sparse_softmax_ce_int64_rank3", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=x), In([[0, 1], [2, 0]], I64), In(u(2, 2, 3)))
case("sparse_softmax_ce_out_of_range", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=x), In([0, 4, 1], I32), In(_L), grad=False)
case("sigmoid_ce", lambda tf, z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
     In([0.3, 1.0, 0.0, 0.5, 0.2]), In([0.0, 0.0, 2.0, -3.0, 40.0]))
case("sigmoid_ce_f32", lambda tf, z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
     In([[0.3, 1.0]], F32, shape=[None, 2]), In([[0.0, -1.5]], F32, shape=[None, 2]), order2=False)
case("weighted_ce", lambda tf, z, x: tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=2.0),
     In([0.3, 1.0, 0.0, 0.5]), In([0.0, 1.0, 2.0, -3.0]))
case("weighted_ce_targets", lambda tf, z, x: tf.nn.weighted_cross_entropy_with_logits(targets=z, logits=x,
                                                                                       pos_weight=0.5),
     In([0.3, 1.0]), In([0.5, -1.0]))
case("bias_add", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(2, 3)), In(u(3)))
case("bias_add_rank4", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(2, 2, 2, 3)), In(u(3)))
case("bias_add_nchw", lambda tf, x, b: tf.nn.bias_add(x, b, data_format="NCHW"), In(u(2, 3, 2, 2)), In(u(3)))
case("bias_add_unknown", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(2, 3), F32, shape=[None, None]),
     In(u(3), F32), order2=False)
case("bias_add_unknown_bias", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(2, 3), F32, shape=[None, 3]),
     In(u(3), F32, shape=[None]), order2=False)
case("bias_add_int", lambda tf, x, b: tf.nn.bias_add(x, b), In([[1, 2]], I32), In([3, 4], I32), grad=False)
case("bias_add_mismatch", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(2, 3)), In(u(4)), grad=False)
case("xw_plus_b", lambda tf, x, w, b: tf.nn.xw_plus_b(x, w, b), In(u(2, 3)), In(u(3, 4)), In(u(4)))
case("relu_layer", lambda tf, x, w, b: tf.nn.relu_layer(x, w, b), In(u(2, 3)), In(u(3, 4)), In(u(4)))
case("l2_normalize", lambda tf, x: tf.nn.l2_normalize(x, axis=1), In(_L))
case("l2_normalize_all", lambda tf, x: tf.nn.l2_normalize(x), In(_L))
case("l2_normalize_zero", lambda tf, x: tf.nn.l2_normalize(x, axis=0), In([0.0, 0.0]), order2=False)
case("l2_normalize_dim", lambda tf, x: tf.nn.l2_normalize(x, dim=0), In(_L))
case("moments", lambda tf, x: list(tf.nn.moments(x, axes=[0])), In(_L))
case("moments_keep", lambda tf, x: list(tf.nn.moments(x, axes=[0, 1], keep_dims=True)), In(u(2, 3, 2)))
case("moments_f32_unknown", lambda tf, x: list(tf.nn.moments(x, axes=[0])), In(_L, F32, shape=[None, 4]),
     order2=False)
case("moments_int", lambda tf, x: list(tf.nn.moments(x, axes=[0])), In([[1, 2], [4, 7]], I32), grad=False)
case("moments_f16", lambda tf, x: list(tf.nn.moments(x, axes=[0])), In(_L, F16), grad=False)
case("batch_normalization", lambda tf, x, m, v, o, s: tf.nn.batch_normalization(x, m, v, o, s, 1e-3),
     In(_L), In(u(4)), In(u(4, lo=0.5, hi=2.0)), In(u(4)), In(u(4)))
case("batch_normalization_python_floats", lambda tf, x: tf.nn.batch_normalization(x, 0.5, 2.0, 0.1, 1.5, 1e-3),
     In(_L, F32))
case("batch_normalization_none", lambda tf, x, m, v: tf.nn.batch_normalization(x, m, v, None, None, 1e-3),
     In(_L), In(u(4)), In(u(4, lo=0.5, hi=2.0)))
case("dropout_keep_one", lambda tf, x: tf.nn.dropout(x, keep_prob=1.0), In(_L))
case("dropout_rate_zero", lambda tf, x: tf.nn.dropout(x, rate=0.0), In(_L))
case("dropout_bad_rate", lambda tf, x: tf.nn.dropout(x, rate=1.5), In(_L), grad=False)
_IMG = u(2, 5, 5, 3)
for _pad in ("SAME", "VALID"):
    for _s in (1, 2):
        case(f"conv2d_{_pad}_s{_s}", lambda tf, x, w, p=_pad, s=_s: tf.nn.conv2d(x, w, [1, s, s, 1], p),
             In(_IMG), In(u(3, 2, 3, 2)))
        case(f"max_pool_{_pad}_s{_s}", lambda tf, x, p=_pad, s=_s: tf.nn.max_pool(x, [1, 2, 2, 1], [1, s, s, 1], p),
             In(_IMG))
        case(f"avg_pool_{_pad}_s{_s}", lambda tf, x, p=_pad, s=_s: tf.nn.avg_pool(x, [1, 3, 3, 1], [1, s, s, 1], p),
             In(_IMG))
case("conv2d_unknown", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"),
     In(_IMG, F32, shape=[None, None, None, 3]), In(u(3, 3, 3, 2), F32), order2=False)
case("conv2d_dilated", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID", dilations=[1, 2, 2, 1]),
     In(_IMG), In(u(2, 2, 3, 1)))
case("conv2d_explicit_padding", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], [[0, 0], [1, 0], [0, 2], [0, 0]]),
     In(_IMG), In(u(2, 2, 3, 1)))
case("conv2d_int", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID"), In(np.ones((1, 3, 3, 1)), I32),
     In(np.ones((2, 2, 1, 1)), I32), grad=False)
case("conv2d_lowercase_padding", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "same"), In(_IMG),
     In(u(2, 2, 3, 1)), grad=False)
case("conv2d_depth_mismatch", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), In(_IMG),
     In(u(2, 2, 2, 1)), grad=False)
case("max_pool_int", lambda tf, x: tf.nn.max_pool(x, [1, 2, 2, 1], [1, 1, 1, 1], "VALID"),
     In(np.arange(9).reshape(1, 3, 3, 1), I32), grad=False)
case("avg_pool_int", lambda tf, x: tf.nn.avg_pool(x, [1, 2, 2, 1], [1, 1, 1, 1], "VALID"),
     In(np.arange(9).reshape(1, 3, 3, 1), I32), grad=False)
case("max_pool_ties", lambda tf, x: tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "VALID"),
     In(np.ones((1, 4, 4, 1))))
case("max_pool_unknown", lambda tf, x: tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"),
     In(_IMG, F32, shape=[None, 5, 5, 3]), order2=False)
case("max_pool_lowercase", lambda tf, x: tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "same"), In(_IMG),
     grad=False)

# --- more dtypes, unknown shapes, gradients API ------------------------------------------------------

for _n in ("sigmoid", "tanh", "exp", "log1p", "softplus", "elu", "selu", "relu", "square", "abs", "sqrt",
           "reciprocal", "sin", "leaky_relu"):
    _vals = _POSITIVE if _n in ("sqrt",) else [-2.5, -1.0, -0.25, 0.5, 1.5, 3.0]
    case(f"{_n}_f32_grad2", _UNARY[_n][0], In(_vals, F32))
    case(f"{_n}_f16_grad", _UNARY[_n][0], In(_vals, F16), order2=False)
    case(f"{_n}_unknown_rank", _UNARY[_n][0], In(np.reshape(_vals, (2, 3)), shape=None), order2=False)
for _n in ("add", "multiply", "maximum", "squared_difference", "divide", "pow", "subtract"):
    case(f"{_n}_f32_grad2", _BINARY[_n], In(u(2, 3, lo=0.5, hi=2.0), F32), In(u(3, lo=0.5, hi=1.5), F32))
    case(f"{_n}_unknown_rank", _BINARY[_n], In(u(2, 3, lo=0.5, hi=2.0), shape=None), In(u(3, lo=0.5, hi=1.5)),
         order2=False)
    case(f"{_n}_both_unknown_dims", _BINARY[_n], In(u(2, 3, lo=0.5, hi=2.0), shape=[None, None]),
         In(u(2, 1, lo=0.5, hi=1.5), shape=[None, 1]), order2=False)
    case(f"{_n}_int8", _BINARY[_n], In([3, 4, 5], I8), In([2, 1, 2], I8), grad=False)
    case(f"{_n}_uint8", _BINARY[_n], In([3, 4, 5], U8), In([2, 1, 2], U8), grad=False)
    case(f"{_n}_int16", _BINARY[_n], In([3, 4, 5], I16), In([2, 1, 2], I16), grad=False)
for _n, _fname in _REDUCE.items():
    case(f"reduce_{_n}_f32_grad2", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=[0, 1]),
         In(u(2, 3, 2, lo=0.5, hi=1.5), F32))
    case(f"reduce_{_n}_keep_unknown_rank", lambda tf, x, fn=_fname: getattr(tf, fn)(x, keepdims=True),
         In(u(2, 3), shape=None), order2=False)
    case(f"reduce_{_n}_int64", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=1), In([[2, -3], [4, 5]], I64),
         grad=False)
    case(f"reduce_{_n}_f16_axis0", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0), In(u(3, 2), F16),
         grad=False)
    case(f"reduce_{_n}_both_spellings", lambda tf, x, fn=_fname: getattr(tf, fn)(x, axis=0, reduction_indices=0),
         In(u(3, 2)), grad=False)
    case(f"reduce_{_n}_scalar", lambda tf, x, fn=_fname: getattr(tf, fn)(x), In(2.5))
case("gradients_grad_ys", lambda tf, x: tf.gradients(x * x, x, grad_ys=tf.constant([1.0, -2.0, 0.5],
                                                                                 dtype=tf.float64))[0],
     In([1.0, 2.0, 3.0]))
case("gradients_stop", lambda tf, x: tf.gradients(tf.square(x * 2.0) + x, x, stop_gradients=[x * 2.0])[0],
     In([1.0, 2.0]), grad=False)
case("gradients_of_gradients", lambda tf, x: tf.gradients(tf.gradients(tf.reduce_sum(x ** 3.0), x)[0], x)[0],
     In([1.0, -2.0]))
case("hessians", lambda tf, x: tf.hessians(tf.reduce_sum(x * x * x), x)[0], In([1.0, -2.0]), grad=False)
case("hessians_matmul", lambda tf, x: tf.hessians(tf.reduce_sum(tf.matmul(x, x)), x)[0], In(u(2, 2)),
     grad=False)
case("gradients_unconnected_int", lambda tf, x: tf.gradients(tf.cast(tf.cast(x, tf.int32), tf.float64), x)[0]
     is None and tf.constant(1.0) or tf.constant(0.0), In([1.5]), grad=False)
case("where_broadcast_scalar", lambda tf, c, a: tf.where(c, a, 0.0 * a), In([True, False, True], BOOL), In(u(3)))
case("where_shape_mismatch", lambda tf, c, a, b: tf.where(c, a, b), In([True, False], BOOL), In(u(2, 3)),
     In(u(3)), grad=False)
case("one_hot_unknown", lambda tf, i: tf.one_hot(i, 3), In([[0, 2]], I32, shape=[None, None]), grad=False)
case("one_hot_float_indices", lambda tf, i: tf.one_hot(i, 3), In([0.0, 2.0], F32), grad=False)
case("gather_negative_axis", lambda tf, x, i: tf.gather(x, i, axis=-1), In(u(3, 4)), In([0, 3], I32))
case("gather_unknown", lambda tf, x, i: tf.gather(x, i), In(u(4, 3), shape=[None, 3]),
     In([1, 0], I32, shape=[None]))
case("gather_scalar_index", lambda tf, x, i: tf.gather(x, i), In(u(4, 3)), In(2, I32))
case("tile_int", lambda tf, x: tf.tile(x, [2]), In([1, 2], I32), grad=False)
case("tile_bad_rank", lambda tf, x: tf.tile(x, [2]), In(u(2, 3)), grad=False)
case("split_num_unknown", lambda tf, x: tf.split(x, 2, axis=0), In(u(4, 2), shape=[None, 2]), grad=False)
case("split_neg_axis", lambda tf, x: tf.split(x, 2, axis=-1), In(u(2, 4)))
case("unstack_num", lambda tf, x: tf.unstack(x, num=2, axis=0), In(u(2, 3), shape=[None, 3]))
case("slice_size_minus_one", lambda tf, x: tf.slice(x, [1, 0], [-1, -1]), In(u(3, 3)))
case("slice_out_of_range", lambda tf, x: tf.slice(x, [2, 0], [2, 1]), In(u(3, 3)), grad=False)
case("reshape_unknown_rank", lambda tf, x: tf.reshape(x, [-1]), In(u(2, 3), shape=None))
case("reshape_int", lambda tf, x: tf.reshape(x, [2, 2]), In([1, 2, 3, 4], I32), grad=False)
case("expand_dims_out_of_range", lambda tf, x: tf.expand_dims(x, 4), In(u(2, 3)), grad=False)
case("transpose_bad_perm", lambda tf, x: tf.transpose(x, [0, 0]), In(u(2, 3)), grad=False)
case("transpose_int", lambda tf, x: tf.transpose(x), In([[1, 2]], I32), grad=False)
case("concat_int", lambda tf, a, b: tf.concat([a, b], 0), In([1, 2], I32), In([3], I32), grad=False)
case("concat_python_list_value", lambda tf, a: tf.concat([a, [[9.0, 9.0, 9.0]]], 0), In(u(2, 3)))
case("stack_int", lambda tf, a, b: tf.stack([a, b], 1), In([1, 2], I32), In([3, 4], I32), grad=False)
case("stack_mismatch", lambda tf, a, b: tf.stack([a, b]), In(u(2)), In(u(3)), grad=False)
case("pad_unknown", lambda tf, x: tf.pad(x, [[1, 0], [0, 2]]), In(u(2, 3), shape=[None, 3]))
case("pad_reflect_too_big", lambda tf, x: tf.pad(x, [[3, 0]], mode="REFLECT"), In(u(3)), grad=False)
case("pad_bad_mode", lambda tf, x: tf.pad(x, [[1, 0]], mode="WRAP"), In(u(3)), grad=False)
case("broadcast_to_bad", lambda tf, x: tf.broadcast_to(x, [2, 4]), In(u(3)), grad=False)
case("broadcast_to_unknown", lambda tf, x: tf.broadcast_to(x, [2, 3]), In(u(3), shape=[None]))
case("reverse_int", lambda tf, x: tf.reverse(x, [0]), In([1, 2, 3], I32), grad=False)
case("cast_grad_f16", lambda tf, x: tf.cast(x, tf.float16), In([1.5, -2.0]), order2=False)
case("cast_int_grad_none", lambda tf, x: tf.cast(tf.cast(x, tf.int32), tf.float64) + x, In([1.5, -2.0]))
case("l2_loss_f32", lambda tf, x: tf.nn.l2_loss(x), In(u(2, 3), F32))
case("sigmoid_ce_shape_mismatch", lambda tf, z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
     In(u(2)), In(u(3)), grad=False)
case("sigmoid_ce_int_labels", lambda tf, z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
     In([1, 0], I32), In(u(2)), grad=False)
case("sparse_softmax_ce_unknown", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=x), In([0, 2], I32, shape=[None]), In(u(2, 3), F32, shape=[None, 3]), order2=False)
case("sparse_softmax_ce_float_labels", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=x), In([0.0, 2.0], F32), In(u(2, 3), F32), grad=False)
case("sparse_softmax_ce_rank_mismatch", lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=x), In([[0, 2]], I32), In(u(2, 3)), grad=False)
case("softmax_ce_shape_mismatch", lambda tf, z, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x),
     In(u(2, 4)), In(u(2, 3)), grad=False)
case("softmax_f16", lambda tf, x: tf.nn.softmax(x), In(u(2, 3), F16), grad=False)
case("log_softmax_f32_grad2", lambda tf, x: tf.nn.log_softmax(x), In(u(2, 3), F32))
case("softmax_scalar", lambda tf, x: tf.nn.softmax(x), In(1.0), grad=False)
case("dropout_keep_tensor_one", lambda tf, x, k: tf.nn.dropout(x, keep_prob=k), In(u(2, 3)), In(1.0))
case("bias_add_rank1", lambda tf, x, b: tf.nn.bias_add(x, b), In(u(3)), In(u(3)), grad=False)
case("bias_add_f32_grad2", lambda tf, x, b: tf.nn.bias_add(x, b) * tf.nn.bias_add(x, b), In(u(2, 3), F32),
     In(u(3), F32))
case("moments_axes_int", lambda tf, x: list(tf.nn.moments(x, axes=0)), In(u(3, 2)), grad=False)
case("l2_normalize_f32", lambda tf, x: tf.nn.l2_normalize(x, 1), In(u(2, 3), F32))
case("conv2d_strides_hw", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 2, 1, 1], "SAME"), In(_IMG), In(u(2, 3, 3, 2)))
case("conv2d_f32", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "VALID"), In(_IMG, F32),
     In(u(2, 2, 3, 2), F32))
case("conv2d_bad_strides", lambda tf, x, w: tf.nn.conv2d(x, w, [2, 1, 1, 1], "VALID"), In(_IMG),
     In(u(2, 2, 3, 2)), grad=False)
case("conv2d_filters_kw", lambda tf, x, w: tf.nn.conv2d(x, filters=w, strides=1, padding="VALID"), In(_IMG),
     In(u(2, 2, 3, 2)), grad=False)
case("max_pool_f32", lambda tf, x: tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"), In(_IMG, F32))
case("avg_pool_f32", lambda tf, x: tf.nn.avg_pool(x, [1, 2, 2, 1], [1, 1, 1, 1], "VALID"), In(_IMG, F32))
case("max_pool_bad_ksize", lambda tf, x: tf.nn.max_pool(x, [2, 2, 2, 1], [1, 1, 1, 1], "VALID"), In(_IMG),
     grad=False)
case("max_pool2d", lambda tf, x: tf.nn.max_pool2d(x, 2, 2, "VALID"), In(_IMG), grad=False)
case("clip_by_norm_f32", lambda tf, x: tf.clip_by_norm(x, 1.0), In(u(2, 3), F32))
case("clip_by_norm_int", lambda tf, x: tf.clip_by_norm(x, 1), In([[3, 4]], I32), grad=False)
case("clip_by_value_f32_grad2", lambda tf, x: tf.clip_by_value(x * x, 0.5, 2.0), In(u(2, 3), F32))
case("argmax_bool", lambda tf, x: tf.argmax(x), In([True, False], BOOL), grad=False)
case("argmax_axis_out_of_range", lambda tf, x: tf.argmax(x, 2), In(u(2, 3)), grad=False)
case("argmax_both_spellings", lambda tf, x: tf.argmax(x, axis=0, dimension=0), In(u(2, 3)), grad=False)
case("cumsum_int", lambda tf, x: tf.cumsum(x), In([1, 2, 3], I32), grad=False)
case("cumprod_reverse", lambda tf, x: tf.cumprod(x, reverse=True), In([1.5, 2.0, -1.0]))
case("matmul_f32_grad2", lambda tf, a, b: tf.matmul(a, b) * tf.matmul(a, b), In(u(2, 3), F32), In(u(3, 2), F32))
case("matmul_f16", lambda tf, a, b: tf.matmul(a, b), In(u(2, 3), F16), In(u(3, 2), F16), grad=False)
case("matmul_mixed", lambda tf, a, b: tf.matmul(a, b), In(u(2, 3), F32), In(u(3, 2)), grad=False)
case("matmul_bool", lambda tf, a, b: tf.matmul(a, b), In([[True]], BOOL), In([[True]], BOOL), grad=False)
case("add_n_mixed", lambda tf, a, b: tf.add_n([a, b]), In(u(2), F32), In(u(2)), grad=False)
case("add_n_broadcast", lambda tf, a, b: tf.add_n([a, b]), In(u(2, 3)), In(u(1, 3)), grad=False)
case("add_n_unknown", lambda tf, a, b: tf.add_n([a, b]), In(u(2, 3), shape=[None, 3]), In(u(2, 3), shape=[2, None]))
case("add_n_python", lambda tf, a: tf.add_n([a, [1.0, 2.0]]), In(u(2)), grad=False)
case("identity_int", lambda tf, x: tf.identity(x), In([1, 2], I32), grad=False)
case("placeholder_with_default_shape_bad", lambda tf, x: tf.placeholder_with_default(x, [3]), In(u(2)),
     grad=False)
case("zeros_like_int", lambda tf, x: tf.zeros_like(x), In([1, 2], I32), grad=False)
case("ones_like_unknown", lambda tf, x: tf.ones_like(x), In(u(2, 3), shape=[None, 3]))
case("fill_unknown_value_dtype_int64", lambda tf, v: tf.fill([2], v), In(3, I64), grad=False)
case("fill_nonscalar", lambda tf, v: tf.fill([2], v), In([3.0, 4.0]), grad=False)
case("truediv_bool", lambda tf, a, b: a / b, In([True], BOOL), In([True], BOOL), grad=False)
case("pow_negative_int_exponent", lambda tf, a, b: tf.pow(a, b), In([2, 3], I32), In([-1, 2], I32), grad=False)
case("sqrt_negative_grad", lambda tf, x: tf.sqrt(x), In([-1.0, 0.0, 4.0]), order2=False)
case("log_zero_grad", lambda tf, x: tf.log(x), In([0.0, 1.0]), order2=False)
case("reciprocal_zero", lambda tf, x: tf.reciprocal(x), In([0.0, -0.0, 2.0]), order2=False)
case("divide_by_zero_float", lambda tf, a, b: a / b, In([1.0, -1.0, 0.0]), In([0.0, 0.0, 0.0]), order2=False)
case("exp_overflow", lambda tf, x: tf.exp(x), In([1000.0, -1000.0], F32), order2=False)
case("tanh_nan", lambda tf, x: tf.tanh(x), In([np.nan, np.inf, -np.inf]), order2=False)
case("relu_nan", lambda tf, x: tf.nn.relu(x), In([np.nan, 1.0]), order2=False)
case("maximum_nan", lambda tf, a, b: tf.maximum(a, b), In([np.nan, 1.0]), In([0.0, np.nan]), order2=False)
case("reduce_max_nan", lambda tf, x: tf.reduce_max(x), In([1.0, np.nan, 3.0]), order2=False)
case("sign_nan", lambda tf, x: tf.sign(x), In([np.nan, -0.0, 0.0]), grad=False)
case("round_half", lambda tf, x: tf.round(x), In([0.5, 1.5, 2.5, -0.5, -1.5]), grad=False)
case("floor_f32", lambda tf, x: tf.floor(x), In([-1.5, 1.5], F32))

# --- indexing, slicing and shape edge cases; small models ------------------------------------------

_B = u(4, 3, 5)
_NEW: list[str] = []


def new_case(name: str, fn: Callable[..., Any], *inputs: In, **kw: Any) -> None:
    case(name, fn, *inputs, **kw)
    _NEW.append(name)


for _i, _ix in enumerate([
        (slice(None, None, -1),), (slice(-1, None),), (slice(1, -1), 0), (Ellipsis, slice(None, None, 2)),
        (0, Ellipsis, -1), (slice(None), None, slice(1, 3)), (slice(10, 20),), (slice(-10, 2),),
        (slice(3, 0, -1), slice(None), 4), (None, Ellipsis, None), (-4,), (slice(None, None, 3), 1, slice(None, 2)),
        (Ellipsis,), (1, 2, 3), (slice(2, 2),)]):
    new_case(f"index_{_i}", lambda tf, x, ix=_ix: x[ix], In(_B))
    new_case(f"index_{_i}_unknown", lambda tf, x, ix=_ix: x[ix], In(_B, shape=[None, 3, None]), order2=False)
new_case("index_int_tensor_value", lambda tf, x: x[1:3] * 2, In([1, 2, 3, 4], I32), grad=False)
new_case("reshape_zero_dim", lambda tf, x: tf.reshape(x, [0, 3]), In(np.zeros((0, 3))), grad=False)
new_case("reshape_to_same", lambda tf, x: tf.reshape(x, [4, 3, 5]), In(_B))
new_case("tile_zero", lambda tf, x: tf.tile(x, [0, 2]), In(u(2, 3)))
new_case("tile_rank3", lambda tf, x: tf.tile(x, [1, 2, 2]), In(u(2, 1, 3)))
new_case("concat_axis_neg_rank", lambda tf, a, b: tf.concat([a, b], -2), In(u(2, 3)), In(u(1, 3)))
new_case("concat_three", lambda tf, a, b, c: tf.concat([a, b, c], 1), In(u(2, 1)), In(u(2, 2)), In(u(2, 3)))
new_case("concat_axis_out_of_range", lambda tf, a, b: tf.concat([a, b], 2), In(u(2, 3)), In(u(1, 3)), grad=False)
new_case("split_list_unknown", lambda tf, x: tf.split(x, [1, -1], axis=0), In(u(3, 2), shape=[None, 2]))
new_case("split_axis0_three", lambda tf, x: tf.split(x, 3), In(u(3, 2)))
new_case("split_bad_sizes", lambda tf, x: tf.split(x, [1, 1], axis=1), In(u(2, 3)), grad=False)
new_case("gather_rank3_axis1", lambda tf, x, i: tf.gather(x, i, axis=1), In(_B), In([2, 0, 2], I64))
new_case("gather_2d_indices", lambda tf, x, i: tf.gather(x, i), In(u(4, 2)), In([[0, 1], [3, 3]], I32))
new_case("gather_negative_index", lambda tf, x, i: tf.gather(x, i), In(u(4, 2)), In([-1], I32), grad=False)
new_case("gather_float_indices", lambda tf, x, i: tf.gather(x, i), In(u(4, 2)), In([1.0], F32), grad=False)
new_case("one_hot_depth_zero", lambda tf, i: tf.one_hot(i, 0), In([0, 1], I32), grad=False)
new_case("one_hot_int64_dtype", lambda tf, i: tf.one_hot(i, 2, dtype=tf.int64), In([0, 1], I32), grad=False)
new_case("one_hot_bool_values", lambda tf, i: tf.one_hot(i, 2, on_value=True, off_value=False), In([0, 1], I32),
         grad=False)
new_case("one_hot_mixed_values", lambda tf, i: tf.one_hot(i, 2, on_value=1, off_value=0.5), In([0, 1], I32),
         grad=False)
new_case("pad_rank3", lambda tf, x: tf.pad(x, [[0, 0], [1, 1], [2, 0]]), In(u(2, 2, 2)))
new_case("pad_numpy_paddings", lambda tf, x: tf.pad(x, np.array([[1, 2]])), In(u(3)))
new_case("pad_symmetric_full", lambda tf, x: tf.pad(x, [[3, 3]], mode="SYMMETRIC"), In(u(3)))
new_case("pad_negative", lambda tf, x: tf.pad(x, [[-1, 0]]), In(u(3)), grad=False)
new_case("reverse_empty_axes", lambda tf, x: tf.reverse(x, []), In(u(2, 3)))
new_case("reverse_dup_axes", lambda tf, x: tf.reverse(x, [0, 0]), In(u(2, 3)), grad=False)
new_case("transpose_rank1", lambda tf, x: tf.transpose(x), In(u(3)))
new_case("transpose_scalar", lambda tf, x: tf.transpose(x), In(2.0))
new_case("expand_dims_scalar", lambda tf, x: tf.expand_dims(x, 0), In(2.0))
new_case("squeeze_scalar", lambda tf, x: tf.squeeze(x), In(2.0))
new_case("squeeze_neg_axis", lambda tf, x: tf.squeeze(x, -1), In(u(3, 1)))
new_case("stack_scalars", lambda tf, a, b: tf.stack([a, b]), In(1.0), In(2.0))
new_case("stack_neg_axis_out_of_range", lambda tf, a, b: tf.stack([a, b], axis=-4), In(u(2, 3)), In(u(2, 3)),
         grad=False)
new_case("unstack_neg_axis", lambda tf, x: tf.unstack(x, axis=-1), In(u(2, 3)))
new_case("unstack_unknown_error", lambda tf, x: tf.unstack(x), In(u(2, 3), shape=[None, 3]), grad=False)
new_case("slice_begin_negative", lambda tf, x: tf.slice(x, [-1, 0], [1, 1]), In(u(3, 3)), grad=False)
new_case("broadcast_to_same", lambda tf, x: tf.broadcast_to(x, [2, 3]), In(u(2, 3)))
new_case("broadcast_to_rank_up", lambda tf, x: tf.broadcast_to(x, [2, 1, 3]), In(u(1, 3)))
new_case("shape_unknown_rank", lambda tf, x: tf.shape(x), In(u(2, 3), shape=None), grad=False)
new_case("size_int64", lambda tf, x: tf.size(x, out_type=tf.int64), In(u(2, 3)), grad=False)
new_case("rank_unknown", lambda tf, x: tf.rank(x), In(u(2, 3), shape=None), grad=False)
new_case("where_scalar_cond", lambda tf, c, a, b: tf.where(c, a, b), In(True, BOOL), In(u(2)), In(u(2)),
         grad=False)
new_case("where_int_cond", lambda tf, c, a, b: tf.where(c, a, b), In([1, 0], I32), In(u(2)), In(u(2)), grad=False)
new_case("where_python_values", lambda tf, c: tf.where(c, [1.0, 2.0], [3.0, 4.0]), In([True, False], BOOL),
         grad=False)
new_case("add_int32_overflow", lambda tf, a, b: a + b, In([2**31 - 1], I32), In([1], I32), grad=False)
new_case("multiply_uint8_wrap", lambda tf, a, b: a * b, In([200], U8), In([2], U8), grad=False)
new_case("cast_negative_to_uint8", lambda tf, x: tf.cast(x, tf.uint8), In([-1, 256], I32), grad=False)
new_case("cast_big_float_to_f16", lambda tf, x: tf.cast(x, tf.float16), In([1e5, -1e5, 1e-8]), grad=False)
new_case("cast_bool_to_int", lambda tf, x: tf.cast(x, tf.int32), In([True, False], BOOL), grad=False)
new_case("cast_same", lambda tf, x: tf.cast(x, tf.float64), In(u(3)))
new_case("equal_bool", lambda tf, a, b: tf.equal(a, b), In([True, False], BOOL), In([True, True], BOOL), grad=False)
new_case("less_bool", lambda tf, a, b: tf.less(a, b), In([True, False], BOOL), In([True, True], BOOL), grad=False)
new_case("equal_python", lambda tf, a: tf.equal(a, 2), In([1, 2, 3], I32), grad=False)
new_case("equal_mixed", lambda tf, a, b: tf.equal(a, b), In([1.0], F32), In([1.0]), grad=False)
new_case("maximum_python_left", lambda tf, a: tf.maximum(0.5, a), In(u(3)))
new_case("pow_scalar_exponent_tensor", lambda tf, a: tf.pow(a, 2), In(u(3)))
new_case("pow_python_base", lambda tf, b: tf.pow(2.0, b), In(u(3)))
new_case("rpow_operator", lambda tf, b: 2.0 ** b, In(u(3)))
new_case("rsub_operator", lambda tf, b: 1.0 - b, In(u(3)))
new_case("rdiv_operator", lambda tf, b: 1.0 / b, In([0.5, -2.0, 4.0]))
new_case("rfloordiv_operator", lambda tf, b: 7 // b, In([2, -3, 4], I32), grad=False)
new_case("rmod_operator", lambda tf, b: 7 % b, In([2, -3, 4], I32), grad=False)
new_case("neg_bool", lambda tf, x: -x, In([True], BOOL), grad=False)
new_case("abs_int8_min", lambda tf, x: tf.abs(x), In([-128, 5], I8), grad=False)
new_case("square_int_overflow", lambda tf, x: tf.square(x), In([100000], I32), grad=False)
# small models: the chain rule through common compositions
new_case("mlp_softmax_ce", lambda tf, x, w1, w2, z: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
    labels=z, logits=tf.matmul(tf.nn.relu(tf.matmul(x, w1)), w2))), In(u(4, 3)), In(u(3, 5)), In(u(5, 2)),
    In(np.eye(2)[[0, 1, 1, 0]]))
new_case("mlp_sparse_ce_bias", lambda tf, x, w, b, y: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
    labels=y, logits=tf.nn.bias_add(tf.matmul(tf.tanh(x), w), b))), In(u(4, 3)), In(u(3, 3)), In(u(3)),
    In([0, 2, 1, 2], I64))
new_case("logistic_regression", lambda tf, x, w, z: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
    labels=z, logits=tf.matmul(x, w))), In(u(5, 2)), In(np.zeros((2, 1))), In([[1.0], [0.0], [1.0], [1.0], [0.0]]))
new_case("conv_pool_dense", lambda tf, x, k, w: tf.reduce_sum(tf.matmul(tf.reshape(tf.nn.max_pool(
    tf.nn.relu(tf.nn.conv2d(x, k, [1, 1, 1, 1], "SAME")), [1, 2, 2, 1], [1, 2, 2, 1], "VALID"), [2, -1]), w)),
    In(u(2, 4, 4, 1)), In(u(3, 3, 1, 2)), In(u(8, 1)), order2=False)
new_case("batchnorm_moments_net", lambda tf, x, g, b: tf.reduce_sum(tf.square(tf.nn.batch_normalization(
    x, *tf.nn.moments(x, [0]), b, g, 1e-3))), In(u(6, 3)), In(u(3)), In(u(3)))
new_case("l2_regularised", lambda tf, w, x: tf.reduce_sum(tf.square(tf.matmul(x, w))) + 0.01 * tf.nn.l2_loss(w),
         In(u(3, 2)), In(u(4, 3)))
new_case("huber_like", lambda tf, e: tf.reduce_mean(tf.where(tf.abs(e) < 1.0, 0.5 * tf.square(e),
                                                             tf.abs(e) - 0.5)), In([-2.0, -0.5, 0.25, 1.5]))
new_case("log_softmax_nll", lambda tf, x, y: -tf.reduce_mean(tf.reduce_sum(tf.one_hot(y, 3, dtype=tf.float64) *
                                                                          tf.nn.log_softmax(x), 1)),
         In(u(4, 3)), In([0, 2, 1, 1], I32))
new_case("clip_grad_model", lambda tf, w: tf.reduce_sum(tf.clip_by_value(w * 3.0, -1.0, 1.0) * w), In(u(2, 3)))
new_case("gelu_free_elu_mix", lambda tf, x: tf.reduce_sum(tf.nn.elu(x) * tf.nn.softplus(x) + tf.nn.selu(x)),
         In(u(2, 3)))

# --- optimizers and schedules: TF1's update formulas ------------------------------------------------

_W0 = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]])
_X0 = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 1.5]])


def _train(make_opt: Callable[[Any], Any]) -> Callable[..., Any]:
    def fn(tf: Any, x: Any) -> Any:
        w = tf.Variable(_W0, name="w")
        loss = tf.reduce_sum(tf.square(tf.matmul(x, w) - 1.0)) + tf.reduce_sum(tf.abs(w))
        opt = make_opt(tf)
        step = opt.minimize(loss)
        return [w.value() if hasattr(w, "value") else w, loss], step
    return fn


for _n, _mk in {
        "sgd": lambda tf: tf.train.GradientDescentOptimizer(0.05),
        "momentum": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9),
        "nesterov": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
        "adam": lambda tf: tf.train.AdamOptimizer(0.1),
        "adam_eps": lambda tf: tf.train.AdamOptimizer(0.01, beta1=0.5, beta2=0.9, epsilon=1e-3),
        "rmsprop": lambda tf: tf.train.RMSPropOptimizer(0.01),
        "rmsprop_momentum_centered": lambda tf: tf.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5,
                                                                           centered=True),
        "adagrad": lambda tf: tf.train.AdagradOptimizer(0.1),
        "adagrad_init": lambda tf: tf.train.AdagradOptimizer(0.1, initial_accumulator_value=0.5)}.items():
    for _steps in (1, 4):
        new_case(f"optimizer_{_n}_{_steps}", _train(_mk), In(_X0), grad=False, train_steps=_steps)

_SCHED = {
    "exponential": lambda tf, s: tf.train.exponential_decay(0.1, s, 10, 0.5),
    "exponential_staircase": lambda tf, s: tf.train.exponential_decay(0.1, s, 10, 0.5, staircase=True),
    "inverse_time": lambda tf, s: tf.train.inverse_time_decay(0.1, s, 10, 0.5),
    "inverse_time_staircase": lambda tf, s: tf.train.inverse_time_decay(0.1, s, 10, 0.5, staircase=True),
    "natural_exp": lambda tf, s: tf.train.natural_exp_decay(0.1, s, 10, 0.5),
    "polynomial": lambda tf, s: tf.train.polynomial_decay(0.1, s, 10, 0.01, power=2.0),
    "polynomial_cycle": lambda tf, s: tf.train.polynomial_decay(0.1, s, 10, 0.01, cycle=True),
    "piecewise": lambda tf, s: tf.train.piecewise_constant(s, [5, 15], [0.1, 0.05, 0.01]),
    "cosine": lambda tf, s: tf.train.cosine_decay(0.1, s, 20),
    "cosine_alpha": lambda tf, s: tf.train.cosine_decay(0.1, s, 20, alpha=0.1),
}
for _n, _f in _SCHED.items():
    for _st in (0, 5, 15, 25):
        new_case(f"schedule_{_n}_{_st}", lambda tf, s, f=_f: f(tf, s), In(_st, I64), grad=False)
