"""Math ops: elementwise arithmetic and functions, matmul, reductions, casts, comparisons.

Kernels are written against the array module ``xp`` so the CuPy backend reuses them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.backends import blas_threads
from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.tensor_shape import broadcast_static, fmt_shape
from nnctl.ops import matmul_jit
from nnctl.ops.core import binary_operands, convert_to_tensor, make_op, static_axes
from nnctl.runtime import jit

# --- elementwise binary -------------------------------------------------------------------------

# op type -> (xp ufunc name, output is bool, allowed kinds)
_BINARY = {
    "AddV2": ("add", False), "Add": ("add", False), "Sub": ("subtract", False), "Mul": ("multiply", False),
    "RealDiv": ("divide", False), "Pow": ("power", False), "Maximum": ("maximum", False),
    "Minimum": ("minimum", False), "FloorDiv": ("floor_divide", False), "FloorMod": ("mod", False),
    "SquaredDifference": (None, False),
    "Equal": ("equal", True), "NotEqual": ("not_equal", True), "Less": ("less", True),
    "LessEqual": ("less_equal", True), "Greater": ("greater", True), "GreaterEqual": ("greater_equal", True),
    "LogicalAnd": ("logical_and", True), "LogicalOr": ("logical_or", True),
    "BitwiseAnd": ("bitwise_and", False), "BitwiseOr": ("bitwise_or", False), "BitwiseXor": ("bitwise_xor", False),
}
# "Add" is the type TF1 graphs (and older nnctl frozen files) used before "AddV2"; both run


def _binary(op_type: str, x: Any, y: Any, name: str | None) -> Tensor:
    x, y = binary_operands(x, y)
    shape = broadcast_static(x.static_shape, y.static_shape, f"{op_type} '{name or op_type}'")
    out_dtype = dtypes.bool if _BINARY[op_type][1] else x.dtype
    if op_type in ("LogicalAnd", "LogicalOr") and not x.dtype.is_bool:
        raise TypeError(f"{op_type} '{name or op_type}': needs bool inputs, got {x.name} of {x.dtype.name}")
    if op_type.startswith("Bitwise") and not x.dtype.is_integer:
        raise TypeError(f"{op_type} '{name or op_type}': needs integer inputs, got {x.name} of {x.dtype.name}")
    if x.dtype.name in _NO_KERNEL.get(op_type, ()):
        raise TypeError(f"{op_type} '{name or op_type}': input {x.name} of dtype {x.dtype.name} is not accepted "
                        f"(TF has no {op_type} for {x.dtype.name})")
    if x.dtype.is_bool and op_type not in _BOOL_OK:
        raise TypeError(f"{op_type} '{name or op_type}': input {x.name} is bool, which {op_type} does not "
                        "accept (cast it first)")
    if op_type in ("FloorDiv", "FloorMod") and x.dtype.is_integer:
        attrs = {"integer": True}
        return make_op(op_type, [x, y], shape=shape, dtype=out_dtype, name=name, attrs=attrs)
    return make_op(op_type, [x, y], shape=shape, dtype=out_dtype, name=name)


_BOOL_OK = {"Equal", "NotEqual", "LogicalAnd", "LogicalOr"}
# dtypes TF 2.21 has no kernel for (checked with tests/tf_reference)
_NO_KERNEL = {"Pow": ("uint8",), "SquaredDifference": ("int8", "int16", "uint8")}


def _ufunc_kernel(ufunc_name: str):
    def factory(op: Operation, ctx: Any) -> Any:
        return getattr(ctx.xp, ufunc_name)
    return factory


# x * 1 = 1 * x = x / 1 = x + 0 = 0 + x = x - 0 = x exactly (IEEE), so a bound plan aliases such an
# output to x when the other operand folds to that constant: rows are (kept input, constant input, unit)
_IDENTITY = {"Mul": ((0, 1, 1), (1, 0, 1)), "RealDiv": ((0, 1, 1),), "AddV2": ((0, 1, 0), (1, 0, 0)),
             "Add": ((0, 1, 0), (1, 0, 0)), "Sub": ((0, 1, 0),)}
# the ops a bound plan may fuse into one elementwise pass (runtime/fusion.py's instructions)
_FUSION = {"AddV2": "add", "Add": "add", "Sub": "sub", "Mul": "mul", "RealDiv": "div", "Neg": "neg",
           "Square": "square", "Sqrt": "sqrt"}
for _t, (_uf, _is_bool) in _BINARY.items():
    if _uf is not None and _t not in ("FloorDiv", "FloorMod"):
        registry.register_kernel(_t, inplace=() if _is_bool else (0, 1), elementwise=True,
                                 identity=_IDENTITY.get(_t, ()), fusion=_FUSION.get(_t))(_ufunc_kernel(_uf))


def _floor_kernel(ufunc_name: str):
    """FloorDiv/FloorMod: integer division by zero is an error, as in TF (numpy would give 0)."""
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        f = getattr(xp, ufunc_name)
        if not op.attrs.get("integer"):
            return f

        def run(x: Any, y: Any, out: Any = None) -> Any:
            if not xp.all(y):
                from nnctl.errors import InvalidArgumentError
                raise InvalidArgumentError(None, op, f"{op.type} '{op.name}': Integer division by zero")
            return f(x, y, out=out)
        return run
    return factory


registry.register_kernel("FloorDiv", inplace=(0, 1), elementwise=True)(_floor_kernel("floor_divide"))
registry.register_kernel("FloorMod", inplace=(0, 1), elementwise=True)(_floor_kernel("mod"))


@registry.register_kernel("SquaredDifference", inplace=(0, 1), elementwise=True, fusion="sqdiff")
def _sqdiff_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(x: Any, y: Any, out: Any = None) -> Any:
        out = xp.subtract(x, y, out=out)
        return xp.multiply(out, out, out=out)
    return run


registry.not_differentiable("Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
                            "LogicalAnd", "LogicalOr", "FloorDiv", "BitwiseAnd", "BitwiseOr",
                            "BitwiseXor")


def add(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("AddV2", x, y, name or "Add")


def subtract(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Sub", x, y, name)


def multiply(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Mul", x, y, name)


_TRUEDIV_FLOAT = {"int8": dtypes.float32, "int16": dtypes.float32, "uint8": dtypes.float32,
                  "int32": dtypes.float64, "int64": dtypes.float64}


def divide(x: Any, y: Any, name: str | None = None) -> Tensor:
    """True division, named ``truediv`` as in TF. Integers are cast first, as TF does: 8- and 16-bit
    ones to float32 (so ``uint8_image / 255`` is float32), 32- and 64-bit ones to float64."""
    x, y = binary_operands(x, y)
    if x.dtype.is_bool:
        raise TypeError(f"truediv: x and y must not be bool ({x.name}, {y.name})")
    if x.dtype.is_integer:
        ft = _TRUEDIV_FLOAT[x.dtype.name]
        x, y = cast(x, ft), cast(y, ft)
    return _binary("RealDiv", x, y, name or "truediv")


def realdiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    x, y = binary_operands(x, y)
    if not x.dtype.is_floating:
        raise TypeError(f"realdiv needs floating-point inputs, got {x.dtype.name}; use tf.divide or tf.floordiv")
    return _binary("RealDiv", x, y, name)


truediv = divide


def div(x: Any, y: Any, name: str | None = None) -> Tensor:
    """TF1's ``tf.div``: floor division for integers, real division for floats."""
    x, y = binary_operands(x, y)
    if x.dtype.is_integer:
        return _binary("FloorDiv", x, y, name or "div")
    return _binary("RealDiv", x, y, name or "div")


def floordiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("FloorDiv", x, y, name or "floordiv")


def floormod(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("FloorMod", x, y, name)


mod = floormod


def pow(x: Any, y: Any, name: str | None = None) -> Tensor:  # noqa: A001 - TF's name
    return _binary("Pow", x, y, name)


def maximum(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Maximum", x, y, name)


def minimum(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Minimum", x, y, name)


def squared_difference(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("SquaredDifference", x, y, name)


def equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Equal", x, y, name)


def not_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("NotEqual", x, y, name)


def less(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Less", x, y, name)


def less_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LessEqual", x, y, name)


def greater(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("Greater", x, y, name)


def greater_equal(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("GreaterEqual", x, y, name)


def logical_and(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LogicalAnd", x, y, name)


def logical_or(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("LogicalOr", x, y, name)


def logical_xor(x: Any, y: Any, name: str | None = "LogicalXor") -> Tensor:
    """(x | y) & ~(x & y), as TF builds it."""
    return logical_and(logical_or(x, y), logical_not(logical_and(x, y)), name=name)


def bitwise_and(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("BitwiseAnd", x, y, name)


def bitwise_or(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("BitwiseOr", x, y, name)


def bitwise_xor(x: Any, y: Any, name: str | None = None) -> Tensor:
    return _binary("BitwiseXor", x, y, name)


def invert(x: Any, name: str | None = None) -> Tensor:
    """Bitwise not of an integer tensor."""
    x = convert_to_tensor(x)
    if not x.dtype.is_integer:
        raise TypeError(f"Invert '{name or 'Invert'}': needs an integer input, got {x.name} of {x.dtype.name}")
    return make_op("Invert", [x], shape=x.static_shape, dtype=x.dtype, name=name)


# --- elementwise unary --------------------------------------------------------------------------

_UNARY_UFUNC = {
    "Neg": "negative", "Square": "square", "Sqrt": "sqrt", "Exp": "exp", "Log": "log", "Log1p": "log1p",
    "Abs": "abs", "Sign": "sign", "Tanh": "tanh", "Reciprocal": "reciprocal", "Floor": "floor",
    "Ceil": "ceil", "Round": "rint", "LogicalNot": "logical_not", "Sin": "sin", "Cos": "cos",
    "Expm1": "expm1", "Invert": "invert",
}
for _t, _uf in _UNARY_UFUNC.items():
    registry.register_kernel(_t, inplace=(0,), elementwise=True, fusion=_FUSION.get(_t))(_ufunc_kernel(_uf))
registry.not_differentiable("Floor", "Ceil", "Round", "LogicalNot", "Invert")


def _unary(op_type: str, x: Any, name: str | None, float_only: bool = False) -> Tensor:
    x = convert_to_tensor(x)
    if float_only and not x.dtype.is_floating:
        raise TypeError(f"{op_type} needs a floating-point input, got {x.name} of {x.dtype.name}")
    return make_op(op_type, [x], shape=x.static_shape, dtype=x.dtype, name=name)


def _signed(op_type: str, x: Any, name: str | None) -> Tensor:
    """Neg, Abs, Sign: TF has no kernels for unsigned or bool inputs."""
    x = convert_to_tensor(x)
    if x.dtype.is_bool or x.dtype.np.kind == "u":
        raise TypeError(f"{op_type} '{name or op_type}': input {x.name} of dtype {x.dtype.name} is not accepted "
                        "(signed integers and floats only)")
    return _unary(op_type, x, name)


def negative(x: Any, name: str | None = None) -> Tensor:
    return _signed("Neg", x, name)


neg = negative


def square(x: Any, name: str | None = None) -> Tensor:
    return _unary("Square", x, name)


def sqrt(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sqrt", x, name, True)


def rsqrt(x: Any, name: str | None = None) -> Tensor:
    return _unary("Rsqrt", x, name, True)


def exp(x: Any, name: str | None = None) -> Tensor:
    return _unary("Exp", x, name, True)


def expm1(x: Any, name: str | None = None) -> Tensor:
    return _unary("Expm1", x, name, True)


def log(x: Any, name: str | None = None) -> Tensor:
    return _unary("Log", x, name, True)


def log1p(x: Any, name: str | None = None) -> Tensor:
    return _unary("Log1p", x, name, True)


def abs(x: Any, name: str | None = None) -> Tensor:  # noqa: A001 - TF's name
    return _signed("Abs", x, name)


def sign(x: Any, name: str | None = None) -> Tensor:
    return _signed("Sign", x, name)


def sigmoid(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sigmoid", x, name, True)


def tanh(x: Any, name: str | None = None) -> Tensor:
    return _unary("Tanh", x, name, True)


def reciprocal(x: Any, name: str | None = None) -> Tensor:
    return _unary("Reciprocal", x, name, True)


def sin(x: Any, name: str | None = None) -> Tensor:
    return _unary("Sin", x, name, True)


def cos(x: Any, name: str | None = None) -> Tensor:
    return _unary("Cos", x, name, True)


def floor(x: Any, name: str | None = None) -> Tensor:
    return _unary("Floor", x, name, True)


def ceil(x: Any, name: str | None = None) -> Tensor:
    return _unary("Ceil", x, name, True)


def round(x: Any, name: str | None = None) -> Tensor:  # noqa: A001 - TF's name
    """Half to even; an integer tensor is returned unchanged (as TF)."""
    x = convert_to_tensor(x)
    if x.dtype.is_integer:
        return make_op("Identity", [x], shape=x.static_shape, dtype=x.dtype, name=name or "Round")
    return _unary("Round", x, name, True)


def logical_not(x: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    if not x.dtype.is_bool:
        raise TypeError(f"LogicalNot '{name or 'LogicalNot'}': needs a bool input, got {x.name} of {x.dtype.name}")
    return _unary("LogicalNot", x, name)


@registry.register_kernel("Rsqrt", inplace=(0,), elementwise=True, fusion="rsqrt")
def _rsqrt_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(x: Any, out: Any = None) -> Any:
        out = xp.sqrt(x, out=out)
        return xp.reciprocal(out, out=out)
    return run


@registry.register_kernel("Sigmoid", inplace=(0,), elementwise=True)
def _sigmoid_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    half = xp.asarray(0.5, dtype=op.outputs[0].dtype.np)  # 0-d arrays: cheaper ufunc calls than floats
    mul, tanh, add = xp.multiply, xp.tanh, xp.add

    # sigmoid(x) = (1 + tanh(x/2)) / 2: no overflow for large |x|, unlike 1/(1+exp(-x)).
    def run(x: Any, out: Any = None) -> Any:
        out = mul(x, half, out=out)
        tanh(out, out=out)
        mul(out, half, out=out)
        return add(out, half, out=out)
    return run


def _scratch(xp: Any) -> Any:
    cache: dict[tuple, Any] = {}

    def get(shape: tuple, dtype: Any) -> Any:
        key = (shape, dtype)
        a = cache.get(key)
        if a is None:
            a = cache[key] = xp.empty(shape, dtype=dtype)
        return a
    return get


@registry.register_kernel("SigmoidGrad", inplace=(0, 1), elementwise=True)
def _sigmoid_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    one = xp.asarray(1, dtype=op.outputs[0].dtype.np)
    sub, mul = xp.subtract, xp.multiply

    # d/dx sigmoid = y (1 - y), from the forward output y
    def run(y: Any, dy: Any, out: Any = None) -> Any:
        s = xp.asarray(sub(one, y))  # an array even for 0-d inputs
        mul(s, y, out=s)
        return mul(s, dy, out=out)

    def bind(y: Any, dy: Any, out: Any) -> Any:
        fused = jit.for_arrays(ctx, out, y, dy)  # one pass over memory instead of three
        if fused is not None and (step := jit.binary_step(fused.sigmoid_grad, y, dy, out)) is not None:
            return step
        s = xp.empty_like(y)

        def step() -> None:
            sub(one, y, out=s)
            mul(s, y, out=s)
            mul(s, dy, out=out)
        return step
    run.bind = bind  # type: ignore[attr-defined]
    return run


@registry.register_kernel("TanhGrad", inplace=(0, 1), elementwise=True)
def _tanh_grad_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    one = xp.asarray(1, dtype=op.outputs[0].dtype.np)
    sub, mul = xp.subtract, xp.multiply

    # d/dx tanh = 1 - y^2
    def run(y: Any, dy: Any, out: Any = None) -> Any:
        s = xp.asarray(mul(y, y))
        sub(one, s, out=s)
        return mul(s, dy, out=out)

    def bind(y: Any, dy: Any, out: Any) -> Any:
        fused = jit.for_arrays(ctx, out, y, dy)  # one pass over memory instead of three
        if fused is not None and (step := jit.binary_step(fused.tanh_grad, y, dy, out)) is not None:
            return step
        s = xp.empty_like(y)

        def step() -> None:
            mul(y, y, out=s)
            sub(one, s, out=s)
            mul(s, dy, out=out)
        return step
    run.bind = bind  # type: ignore[attr-defined]
    return run


def sigmoid_grad(y: Tensor, dy: Tensor, name: str | None = None) -> Tensor:
    return make_op("SigmoidGrad", [y, dy], shape=y.static_shape, dtype=y.dtype, name=name)


def tanh_grad(y: Tensor, dy: Tensor, name: str | None = None) -> Tensor:
    return make_op("TanhGrad", [y, dy], shape=y.static_shape, dtype=y.dtype, name=name)


# --- cast, add_n, clip, where -----------------------------------------------------------------

def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    x = convert_to_tensor(x)
    dt = dtypes.as_dtype(dtype)
    if x.dtype == dt:
        return x
    return make_op("Cast", [x], attrs={"DstT": dt}, shape=x.static_shape, dtype=dt, name=name)


def to_float(x: Any, name: str = "ToFloat") -> Tensor:
    return cast(x, dtypes.float32, name=name)


def to_double(x: Any, name: str = "ToDouble") -> Tensor:
    return cast(x, dtypes.float64, name=name)


def to_int32(x: Any, name: str = "ToInt32") -> Tensor:
    return cast(x, dtypes.int32, name=name)


def to_int64(x: Any, name: str = "ToInt64") -> Tensor:
    return cast(x, dtypes.int64, name=name)


@registry.register_kernel("Cast")
def _cast_kernel(op: Operation, ctx: Any) -> Any:
    xp, dt = ctx.xp, op.attrs["DstT"].np

    def run(x: Any, out: Any = None) -> Any:
        if out is None:
            return x.astype(dt)
        xp.copyto(out, x, casting="unsafe")
        return out
    return run


def add_n(inputs: list, name: str | None = None) -> Tensor:
    if isinstance(inputs, Tensor) or hasattr(inputs, "_as_graph_element") or not isinstance(inputs, (list, tuple)):
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype and shape")
    ts = [convert_to_tensor(t) for t in inputs]
    if not ts:
        raise ValueError("add_n needs at least one input")
    if len(ts) == 1:
        return ts[0]
    shape = ts[0].static_shape
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(f"add_n: all inputs must have dtype {ts[0].dtype.name}, {t.name} has {t.dtype.name}")
        if shape is not None and t.static_shape is not None and len(shape) != len(t.static_shape):
            raise ValueError(f"add_n: shapes {fmt_shape(shape)} and {fmt_shape(t.static_shape)} differ")
        shape = broadcast_static(shape, t.static_shape, "add_n")
        if t.static_shape is not None and shape != t.static_shape and None not in t.static_shape and \
                None not in (shape or ()):
            raise ValueError(f"add_n: shapes {fmt_shape(ts[0].static_shape)} and {fmt_shape(t.static_shape)} differ")
    return make_op("AddN", ts, shape=shape, dtype=ts[0].dtype, name=name)


@registry.register_kernel("AddN", inplace=(0, 1), fusion="add_n")
def _add_n_kernel(op: Operation, ctx: Any) -> Any:
    add = ctx.xp.add

    def run(*xs: Any, out: Any = None) -> Any:
        out = add(xs[0], xs[1], out=out)
        if not isinstance(out, ctx.xp.ndarray):  # a numpy scalar from 0-d inputs
            out = ctx.xp.asarray(out)
        for x in xs[2:]:
            add(out, x, out=out)
        return out
    return run


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Tensor:
    """TF's order: ``maximum(minimum(t, max), min)``, so ``min > max`` gives ``min`` everywhere. The
    bounds may broadcast against ``t`` but not make the result bigger than ``t`` (ValueError, as TF)."""
    t = convert_to_tensor(t)
    out = maximum(minimum(t, clip_value_max), clip_value_min, name=name or "clip_by_value")
    if t.static_shape is not None and out.static_shape is not None and (
            len(out.static_shape) != len(t.static_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(out.static_shape, t.static_shape))):
        raise ValueError(f"clip_by_value: the clip bounds broadcast {t.name} of shape {fmt_shape(t.static_shape)} "
                         f"to shape {fmt_shape(out.static_shape)}; they must not change its shape")
    return out


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """``tf.where(cond, x, y)``: elementwise select (the one-argument form is not supported)."""
    if x is None or y is None:
        raise NotImplementedError("tf.where(condition) with one argument (indices) has a data-dependent "
                                  "shape and is not supported by nnctl; pass x and y")
    c = convert_to_tensor(condition)
    if not c.dtype.is_bool:
        raise TypeError(f"where: condition must be bool, got {c.dtype.name}")
    x, y = binary_operands(x, y)
    cs, xs = c.static_shape, x.static_shape
    if cs is not None and xs is not None and len(cs) == 1 and len(xs) > 1:
        # TF1: a vector condition picks whole rows of x or y
        from nnctl.ops.array_ops import reshape
        c = reshape(c, [-1] + [1] * (len(xs) - 1))
    shape = broadcast_static(broadcast_static(c.static_shape, x.static_shape, "Select"), y.static_shape, "Select")
    return make_op("Select", [c, x, y], shape=shape, dtype=x.dtype, name=name)


where_v2 = where


@registry.register_kernel("Select", inplace=(1, 2), elementwise=True)
def _select_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(c: Any, x: Any, y: Any, out: Any = None) -> Any:
        if out is None:
            return xp.where(c, x, y)
        if out is y:
            xp.copyto(out, x, where=xp.broadcast_to(c, out.shape))
        elif out is x:  # the plan reused x's buffer: fill in y where c is false
            xp.copyto(out, y, where=xp.logical_not(xp.broadcast_to(c, out.shape)))
        else:
            xp.copyto(out, y)
            xp.copyto(out, x, where=xp.broadcast_to(c, out.shape))
        return out
    return run


# --- matmul -----------------------------------------------------------------------------------

def matmul(a: Any, b: Any, transpose_a: bool = False, transpose_b: bool = False, adjoint_a: bool = False,
           adjoint_b: bool = False, a_is_sparse: bool = False, b_is_sparse: bool = False,
           name: str | None = None) -> Tensor:
    """``tf.matmul``: (batched) matrix product; inner dimensions must agree."""
    a, b = binary_operands(a, b)
    if a.dtype.is_bool:
        raise TypeError(f"MatMul '{name or 'MatMul'}': bool inputs ({a.name}, {b.name}) are not accepted")
    ta, tb = transpose_a or adjoint_a, transpose_b or adjoint_b
    sa, sb = a.static_shape, b.static_shape
    desc = f"MatMul '{name or 'MatMul'}'"
    shape = None
    if sa is not None and sb is not None:
        if len(sa) < 2 or len(sb) < 2:
            raise ValueError(f"{desc}: both inputs must have rank >= 2, got {fmt_shape(sa)} and {fmt_shape(sb)}")
        m, ka = (sa[-1], sa[-2]) if ta else (sa[-2], sa[-1])
        kb, n = (sb[-1], sb[-2]) if tb else (sb[-2], sb[-1])
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"{desc}: inner dimensions do not match: {fmt_shape(sa)}"
                             f"{' (transposed)' if ta else ''} x {fmt_shape(sb)}{' (transposed)' if tb else ''} "
                             f"({ka} vs {kb})")
        batch = broadcast_static(sa[:-2], sb[:-2], desc)
        shape = tuple(batch) + (m, n)
    op_type = "MatMul" if (sa is not None and sb is not None and len(sa) == 2 and len(sb) == 2) else "BatchMatMul"
    return make_op(op_type, [a, b], attrs={"transpose_a": ta, "transpose_b": tb}, shape=shape,
                   dtype=a.dtype, name=name)


def _matmul_factory(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    ta, tb = op.attrs["transpose_a"], op.attrs["transpose_b"]
    matmul_, dot = xp.matmul, xp.dot

    def run(a: Any, b: Any, out: Any = None) -> Any:
        if ta:
            a = xp.swapaxes(a, -1, -2)
        if tb:
            b = xp.swapaxes(b, -1, -2)
        if not ctx.backend.host_blas:
            return matmul_(a, b, out=out)
        if a.ndim > 2 and a.shape[:-2] == b.shape[:-2]:
            # batched small matrices: the compiled loop where the bound step takes it (same bits)
            dst = out if out is not None else xp.empty(a.shape[:-1] + b.shape[-1:], dtype=a.dtype)
            fast = matmul_jit.step(a, b, dst)
            if fast is not None:
                fast()
                return dst
        # the bound step's thread count for this shape: the same bits in every mode (traced,
        # --debug-nans, bound)
        return blas_threads.serial(partial(matmul_, a, b, out=out), a.shape[-2] * a.shape[-1] * b.shape[-1])()

    def bind(a: Any, b: Any, out: Any) -> Any:
        if ta:
            a = xp.swapaxes(a, -1, -2)
        if tb:
            b = xp.swapaxes(b, -1, -2)
        if a.ndim == 2 and b.ndim == 2 and out.flags.c_contiguous:
            step = partial(dot, a, b, out)  # 2-D: BLAS gemm with the least call overhead
        else:
            step = partial(matmul_, a, b, out=out)
        if not ctx.backend.host_blas:
            return step
        per_matrix = a.shape[-2] * a.shape[-1] * b.shape[-1]
        fast = matmul_jit.step(a, b, out) if out.ndim > 2 else None
        if fast is not None:
            return fast
        if out.ndim > 2 and a.shape[:-2] == b.shape[:-2] == out.shape[:-2]:
            # a batch of small products: blocks of the leading axis on several threads (blas_threads.py)
            split = blas_threads.split_batch(
                lambda lo, hi: partial(matmul_, a[lo:hi], b[lo:hi], out=out[lo:hi]), out.shape[0], per_matrix,
                per_matrix * (out.size // (out.shape[-2] * out.shape[-1])))
            if split is not None:
                return split
        # numpy's BLAS: a small product (per BLAS call; batched ones make one call per matrix) runs
        # on one thread (backends/blas_threads.py)
        return blas_threads.serial(step, per_matrix)
    run.bind = bind  # type: ignore[attr-defined]
    return run


# --- attention's heads joined: reshape(transpose(q @ k), ...) written in place ---------------------
#
# tf.reshape(tf.transpose(tf.matmul(att, v), [0, 2, 1, 3]), [-1, heads * depth]) (and the gradient of
# the heads' split, a ReshapeLike of the transposed gradient) computes the batched product, then
# copies its transposed view into the reshaped layout: a pass over the activations each time. Where
# the product takes the compiled batched loop (bgemm.c, which writes rows through strides) and
# nothing else reads the product or its transpose, the region (runtime/subgraphs.py) writes the
# product straight into the reshape's buffer, seen as the transpose: the same values, no copy.

def _heads_join_kernel(root: Operation) -> registry.SubgraphKernel | None:
    tr = root.inputs[0].op
    if tr.type != "Transpose" or tr.attrs.get("perm") is None:
        return None
    perm = tuple(tr.attrs["perm"])
    sums, mm = [], tr.inputs[0].op
    while mm.type == "SumToShape":  # a gradient's reduction to the product's own shape: nothing to sum
        sums.append(mm)
        mm = mm.inputs[0].op
    if mm.type != "BatchMatMul" or len(perm) < 3 or perm[-1] != len(perm) - 1:
        return None
    ta, tb = mm.attrs["transpose_a"], mm.attrs["transpose_b"]
    inv = tuple(perm.index(i) for i in range(len(perm)))

    def bind(ctx: Any, ins: list[Any]) -> Any:
        if not ctx.backend.host_blas:
            return None
        a, b = ins[:2]
        a = np.swapaxes(a, -1, -2) if ta else a
        b = np.swapaxes(b, -1, -2) if tb else b
        shape = a.shape[:-1] + b.shape[-1:]
        t_shape = tuple(shape[i] for i in perm)
        probe = np.empty(t_shape, dtype=a.dtype).transpose(inv)  # the layout the step will write
        if (a.shape[:-2] != b.shape[:-2] or any(like.shape != shape for like in ins[2:])
                or matmul_jit.step(a, b, probe) is None):
            return None

        def make(outs: list[Any]) -> Any:
            return matmul_jit.step(a, b, outs[0].reshape(t_shape).transpose(inv))
        return make
    return registry.SubgraphKernel(interior=[root, tr, *sums, mm], inputs=[*mm.inputs, *(s.inputs[1] for s in sums)],
                                   outputs=[root.outputs[0]], bind=bind)


registry.register_subgraph_kernel("Reshape")(_heads_join_kernel)
registry.register_subgraph_kernel("ReshapeLike")(_heads_join_kernel)


registry.register_kernel("MatMul")(_matmul_factory)
registry.register_kernel("BatchMatMul")(_matmul_factory)


# --- reductions -------------------------------------------------------------------------------

def _reduce(op_type: str, x: Any, axis: Any, keepdims: bool, name: str | None,
            out_dtype: Any = None) -> Tensor:
    x = convert_to_tensor(x)
    if x.dtype.is_bool:
        raise TypeError(f"{op_type} '{name or op_type}': input {x.name} is bool; reductions need a numeric "
                        "tensor (cast it first)")
    s = x.static_shape
    rank = None if s is None else len(s)
    axes = static_axes(axis, rank, op_type, unique=True)
    if s is None:
        shape = () if axis is None and not keepdims else None  # everything reduced: a scalar
    elif keepdims:
        shape = tuple(1 if i in axes else d for i, d in enumerate(s))
    else:
        shape = tuple(d for i, d in enumerate(s) if i not in axes)
    return make_op(op_type, [x], attrs={"axis": axes, "keepdims": bool(keepdims)}, shape=shape,
                   dtype=out_dtype or x.dtype, name=name)


def _one_of(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """TF's deprecated argument spellings: either one, never both."""
    if new is not None and old is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'")
    return new if new is not None else old


def _reduction(op_type: str, input_tensor: Any, axis: Any, keepdims: Any, name: str | None,
               reduction_indices: Any, keep_dims: Any) -> Tensor:
    axis = _one_of(axis, reduction_indices, "axis", "reduction_indices")
    keep = _one_of(keepdims, keep_dims, "keepdims", "keep_dims")
    return _reduce(op_type, input_tensor, axis, bool(keep), name)


def reduce_sum(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    return _reduction("Sum", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_mean(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
                reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    return _reduction("Mean", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_max(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    return _reduction("Max", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_min(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
               reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    return _reduction("Min", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


def reduce_prod(input_tensor: Any, axis: Any = None, keepdims: Any = None, name: str | None = None,
                reduction_indices: Any = None, keep_dims: Any = None) -> Tensor:
    return _reduction("Prod", input_tensor, axis, keepdims, name, reduction_indices, keep_dims)


_REDUCE_UFUNC = {"Sum": "add", "Max": "maximum", "Min": "minimum", "Prod": "multiply", "Mean": "add"}


def _extreme(dt: np.dtype, lowest: bool) -> Any:
    if dt.kind == "f":
        return -np.inf if lowest else np.inf
    info = np.iinfo(dt)
    return info.min if lowest else info.max


def _reduce_kernel(op_type: str, fname: str):
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        f = getattr(xp, fname)
        axes, keep = op.attrs["axis"], op.attrs["keepdims"]
        dt = op.outputs[0].dtype.np
        integer_mean = op_type == "Mean" and dt.kind in "iu"
        # sums and products keep the input's dtype (numpy would widen int32 to int64)
        kw = {"dtype": dt} if op_type in ("Sum", "Prod") else {}
        ufunc_reduce = getattr(getattr(xp, _REDUCE_UFUNC[op_type]), "reduce", None)

        def run(x: Any, out: Any = None) -> Any:
            ax = axes if axes is not None else tuple(range(x.ndim))
            if integer_mean:
                # TF accumulates integers in a wide type and truncates the quotient toward zero
                # (mean([-1, -2]) = -1, uint8 mean([200, 200, 255]) = 218); an empty mean is 0
                n = 1
                for a in ax:
                    n *= x.shape[a]
                wide = xp.uint64 if dt.kind == "u" else xp.int64
                total = xp.sum(x, axis=ax, keepdims=keep, dtype=wide)
                if dt.kind == "u":
                    q = total // max(n, 1)
                else:
                    q = xp.sign(total) * (xp.abs(total) // max(n, 1))
                r = xp.asarray(q).astype(dt)
                if out is None:
                    return r
                xp.copyto(out, r)
                return out
            if op_type in ("Mean", "Max", "Min") and any(x.shape[a] == 0 for a in ax):
                # TF's values for a reduction over nothing: the mean is 0 / 0 = NaN, the max the
                # lowest value of the dtype (-inf), the min the highest (numpy warns or raises)
                shape = tuple(1 if i in ax else d for i, d in enumerate(x.shape)) if keep else \
                    tuple(d for i, d in enumerate(x.shape) if i not in ax)
                fill = np.nan if op_type == "Mean" else _extreme(dt, op_type == "Max")
                if out is None:
                    return xp.full(shape, fill, dtype=dt)
                out.fill(fill)
                return out
            r = f(x, axis=ax, keepdims=keep, out=out, **kw)
            if out is None and not hasattr(r, "shape"):
                r = xp.asarray(r)
            return r

        def bind(x: Any, out: Any) -> Any:
            ax = axes if axes is not None else tuple(range(x.ndim))
            if op_type == "Mean" and dt == np.float16:
                # np.mean sums a float16 array in float32 and divides there, but rounds the sum to
                # float16 first when given out=: the allocating path's call (no out=), then a copy
                return lambda: xp.copyto(out, run(x))
            if ufunc_reduce is None or xp.__name__ != "numpy" or integer_mean or any(x.shape[a] == 0 for a in ax):
                return partial(run, x, out=out)
            red = partial(ufunc_reduce, x, axis=ax, keepdims=keep, out=out, **kw)
            if op_type != "Mean":
                return red
            n = 1
            for a in ax:
                n *= x.shape[a]
            # sum / n as np.mean divides (by the count in float64, cast back): the same bits as the
            # allocating path, and TF's mean; a product with 1/n rounds differently. A count exact in
            # the output's dtype divides there: a float64 quotient rounded to float32 is the float32
            # quotient (53 >= 2 * 24 + 2 bits), and the same-dtype ufunc call is the cheaper one
            exact = float(out.dtype.type(n)) == n
            count = xp.asarray(n, dtype=out.dtype) if exact else xp.asarray(float(n), dtype=np.float64)
            div = partial(xp.divide, out, count, out=out) if exact else \
                partial(xp.divide, out, count, out=out, casting="unsafe")

            def step() -> None:
                red()
                div()
            return step
        run.bind = bind  # type: ignore[attr-defined]
        return run
    return factory


for _t, _f in (("Sum", "sum"), ("Mean", "mean"), ("Max", "amax"), ("Min", "amin"), ("Prod", "prod")):
    registry.register_kernel(_t)(_reduce_kernel(_t, _f))


def argmax(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,
           output_type: Any = dtypes.int64) -> Tensor:
    return _arg("ArgMax", input, _one_of(axis, dimension, "axis", "dimension"), name, output_type)


def argmin(input: Any, axis: Any = None, name: str | None = None, dimension: Any = None,
           output_type: Any = dtypes.int64) -> Tensor:
    return _arg("ArgMin", input, _one_of(axis, dimension, "axis", "dimension"), name, output_type)


def _arg(op_type: str, x: Any, axis: Any, name: str | None, output_type: Any) -> Tensor:
    x = convert_to_tensor(x)
    s = x.static_shape
    ax = 0 if axis is None else int(axis)
    if s is not None:
        if not -len(s) <= ax < len(s):
            raise ValueError(f"{op_type}: axis {ax} out of range for rank {len(s)}")
        ax %= len(s)
        shape = tuple(d for i, d in enumerate(s) if i != ax)
    else:
        shape = None
    return make_op(op_type, [x], attrs={"axis": ax}, shape=shape, dtype=output_type, name=name)


def _arg_kernel(fname: str):
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        f = getattr(xp, fname)
        ax = op.attrs["axis"]
        dt = op.outputs[0].dtype.np

        # TF's kernel compares with > (<), so a NaN never wins: argmax([1, nan, 3]) = 2
        fill = -np.inf if fname == "argmax" else np.inf

        def run(x: Any, out: Any = None) -> Any:
            if x.dtype.kind == "f":
                nan = xp.isnan(x)
                if nan.any():
                    x = xp.where(nan, xp.asarray(fill, dtype=x.dtype), x)
            r = f(x, axis=ax)
            if out is None:
                return r.astype(dt, copy=False)
            out[...] = r
            return out
        return run
    return factory


registry.register_kernel("ArgMax")(_arg_kernel("argmax"))
registry.register_kernel("ArgMin")(_arg_kernel("argmin"))
registry.not_differentiable("ArgMax", "ArgMin")


# --- cumulative sums and products, div_no_nan ---------------------------------------------------

def _cumulative(op_type: str, x: Any, axis: Any, exclusive: bool, reverse: bool, name: str | None) -> Tensor:
    x = convert_to_tensor(x)
    if isinstance(axis, Tensor):
        raise TypeError(f"{op_type}: axis must be a Python int, not a Tensor")
    if x.dtype.is_bool:
        raise TypeError(f"{op_type} '{name or op_type}': input {x.name} must be numeric, got bool")
    s = x.static_shape
    ax = int(axis)
    if s is not None:
        if len(s) == 0 or not -len(s) <= ax < len(s):
            raise ValueError(f"{op_type} '{name or op_type}': axis {ax} is out of range for {x.name} of shape "
                             f"{fmt_shape(s)}")
        ax %= len(s)
    return make_op(op_type, [x], attrs={"axis": ax, "exclusive": bool(exclusive), "reverse": bool(reverse)},
                   shape=s, dtype=x.dtype, name=name)


def cumsum(x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
           name: str | None = None) -> Tensor:
    """Running sums along ``axis``; ``exclusive`` leaves out the element itself, ``reverse`` runs backwards."""
    return _cumulative("Cumsum", x, axis, exclusive, reverse, name)


def cumprod(x: Any, axis: Any = 0, exclusive: bool = False, reverse: bool = False,
            name: str | None = None) -> Tensor:
    """Running products along ``axis`` (``exclusive``, ``reverse`` as in ``cumsum``)."""
    return _cumulative("Cumprod", x, axis, exclusive, reverse, name)


def _cumulative_kernel(fname: str, identity: int):
    def factory(op: Operation, ctx: Any) -> Any:
        xp = ctx.xp
        excl, rev = op.attrs["exclusive"], op.attrs["reverse"]
        dt = op.outputs[0].dtype.np

        def run(x: Any, out: Any = None) -> Any:
            ax = op.attrs["axis"] % x.ndim
            v = xp.flip(x, ax) if rev else x
            r = getattr(xp, fname)(v, axis=ax, dtype=dt)
            if excl:  # shift by one: [identity, r_0, ..., r_{n-2}]
                shifted = xp.empty_like(r)
                head = [slice(None)] * x.ndim
                head[ax] = slice(0, 1)
                shifted[tuple(head)] = identity
                dst, src = list(head), list(head)
                dst[ax], src[ax] = slice(1, None), slice(0, -1)
                shifted[tuple(dst)] = r[tuple(src)]
                r = shifted
            if rev:
                r = xp.flip(r, ax)
            if out is None:
                return xp.ascontiguousarray(r)
            xp.copyto(out, r)
            return out
        return run
    return factory


registry.register_kernel("Cumsum")(_cumulative_kernel("cumsum", 0))
registry.register_kernel("Cumprod")(_cumulative_kernel("cumprod", 1))


def div_no_nan(x: Any, y: Any, name: str | None = None) -> Tensor:
    """x / y, and 0 where y is 0 (floating-point inputs)."""
    x, y = binary_operands(x, y)
    if not x.dtype.is_floating:
        raise TypeError(f"div_no_nan needs floating-point inputs, got {x.name} of {x.dtype.name}")
    shape = broadcast_static(x.static_shape, y.static_shape, f"DivNoNan '{name or 'div_no_nan'}'")
    return make_op("DivNoNan", [x, y], shape=shape, dtype=x.dtype, name=name or "div_no_nan")


@registry.register_kernel("DivNoNan")
def _div_no_nan_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp
    dt = op.outputs[0].dtype.np

    def run(x: Any, y: Any, out: Any = None) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = xp.where(y == 0, xp.asarray(0, dtype=dt), xp.divide(x, y))
        if out is None:
            return xp.asarray(r, dtype=dt)
        xp.copyto(out, r)
        return out
    return run


# --- broadcasting helpers used by gradients ---------------------------------------------------

def sum_to_shape(x: Tensor, like: Tensor, name: str | None = None) -> Tensor:
    """Sum ``x`` over the axes along which ``like`` was broadcast to ``x``'s shape."""
    return make_op("SumToShape", [x, like], shape=like.static_shape, dtype=x.dtype, name=name)


def broadcast_like(x: Tensor, like: Tensor, name: str | None = None) -> Tensor:
    """Broadcast ``x`` to the (run-time) shape of ``like``."""
    broadcast_static(x.static_shape, like.static_shape, "BroadcastLike")
    return make_op("BroadcastLike", [x, like], shape=like.static_shape, dtype=x.dtype, name=name)


def _sum_axes(src_shape: tuple, dst_shape: tuple) -> tuple[tuple[int, ...], tuple]:
    lead = len(src_shape) - len(dst_shape)
    axes = list(range(lead))
    for i, d in enumerate(dst_shape):
        if d == 1 and src_shape[lead + i] != 1:
            axes.append(lead + i)
    keep_shape = (1,) * lead + tuple(dst_shape)
    return tuple(axes), keep_shape


@registry.register_kernel("SumToShape", view=True, shape_inputs=(1,))
def _sum_to_shape_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def leading_rows(x: Any, axes: tuple) -> int:
        # rows of x when exactly its leading axes are summed (a bias broadcast over the batch) and
        # it is C-contiguous, else 0: that sum is ones[1, rows] @ x[rows, rest], one BLAS gemm, as
        # BiasAddGrad does (about 3x faster than the reduction on [2048, 128])
        k = len(axes)
        rows = 1
        for d in x.shape[:k]:
            rows *= d
        return rows if axes == tuple(range(k)) and rows > 1 and x.flags.c_contiguous else 0

    def run(x: Any, like: Any, out: Any = None) -> Any:
        if x.shape == like.shape and out is None:
            return x
        if out is None:
            out = xp.empty(like.shape, dtype=x.dtype)
        bind(x, like, out)()   # the bound step's arithmetic, so every mode gives the same bits
        return out

    def bind(x: Any, like: Any, out: Any) -> Any:
        axes, keep_shape = _sum_axes(x.shape, like.shape)
        if not axes:
            return partial(xp.copyto, out, x.reshape(like.shape))
        rows = leading_rows(x, axes)
        if rows and out.flags.c_contiguous:
            ones = xp.ones((1, rows), dtype=x.dtype)
            return partial(xp.dot, ones, x.reshape(rows, -1), out.reshape(1, -1))
        return partial(xp.sum, x, axis=axes, keepdims=True, out=out.reshape(keep_shape))
    def alias(x: Any, like: Any) -> Any:
        return x if x.shape == like.shape else None  # a view only when nothing is summed
    run.bind = bind  # type: ignore[attr-defined]
    run.alias = alias  # type: ignore[attr-defined]
    return run


@registry.register_kernel("BroadcastLike", view=True, shape_inputs=(1,), fusion="broadcast")
def _broadcast_like_kernel(op: Operation, ctx: Any) -> Any:
    xp = ctx.xp

    def run(x: Any, like: Any, out: Any = None) -> Any:
        if out is None:
            if x.shape == like.shape:
                return x
            return xp.broadcast_to(x, like.shape).copy()
        xp.copyto(out, x)
        return out

    def bind(x: Any, like: Any, out: Any) -> Any:
        return partial(xp.copyto, out, x)
    run.bind = bind  # type: ignore[attr-defined]
    return run




def scalar_like(value: float, like: Tensor) -> Tensor:
    from nnctl.ops.state_ops import constant
    return constant(np.asarray(value, dtype=like.dtype.np), dtype=like.dtype)
