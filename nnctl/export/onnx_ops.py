"""nnctl op types -> ONNX nodes, one converter per op type.

A converter ``conv(e, op, ins) -> [output names]`` receives the :class:`Emitter` (which adds nodes
and initializers to the ONNX graph under construction), the nnctl :class:`Operation` and the ONNX
value names of its inputs, and returns one ONNX value name per output of ``op``. Converters read
the op's attributes and static shapes only; values never flow through them (constant subgraphs are
folded by nnctl before conversion, see :mod:`nnctl.export.onnx_export`).

Layout: nnctl is NHWC like TensorFlow, ONNX's Conv and pooling are NCHW. The converters keep NHWC
everywhere and wrap each Conv/pool in Transposes (onnxruntime's optimizer cancels adjacent pairs),
so every other op keeps its axis attributes unchanged. Opset 17: ReduceSum/Squeeze/Unsqueeze/
Split take their axes as inputs, ReduceMean/Max/Min/Prod as attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

OPSET = 17
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

Converter = Callable[["Emitter", Any, list[str]], list[str]]
CONVERTERS: dict[str, Converter] = {}
# op types that can only be exported when nnctl folds them to a constant (their value is fixed)
UNSUPPORTED_REASON: dict[str, str] = {
    "DropoutMask": "a random op (dropout in training mode); export the inference graph",
    "RandomUniform": "a random op: its values differ on every run",
    "RandomStandardNormal": "a random op: its values differ on every run",
    "TruncatedNormal": "a random op: its values differ on every run",
    "VariableV2": "a variable that was not folded to a constant",
    "Pad/SYMMETRIC": "ONNX Pad has no SYMMETRIC mode",
}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    def deco(fn: Converter) -> Converter:
        for t in op_types:
            CONVERTERS[t] = fn
        return fn
    return deco


class UnsupportedOp(Exception):
    """An op (or an attribute value) with no ONNX equivalent; the exporter names the op and layer."""


class Emitter:
    """Collects ONNX nodes and initializers; hands out unique value names."""

    def __init__(self) -> None:
        from onnx import helper
        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = set()
        self.op: Any = None   # the nnctl op being converted (names its helper nodes)

    def fresh(self, hint: str) -> str:
        base = hint.replace(":", "_")
        name, i = base, 1
        while name in self._names:
            name = f"{base}_{i}"
            i += 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        if name in self._names:
            raise ValueError(f"ONNX value name {name!r} used twice")
        self._names.add(name)
        return name

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        from onnx import numpy_helper
        arr = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def i64(self, values: Any, hint: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), hint, np.int64)

    def scalar_like(self, v: float, op: Any, hint: str = "c") -> str:
        dt = op.outputs[0].dtype.np if op is not None else np.float32
        return self.const(np.asarray(v, dtype=dt), hint)

    def node(self, op_type: str, inputs: list[str], n_out: int = 1, out: list[str] | None = None,
             **attrs: Any) -> list[str]:
        base = self.op.name if self.op is not None else op_type
        outs = out if out is not None else [self.fresh(f"{base}/{op_type}") for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=self.fresh(f"{base}/{op_type}_node"),
                                                **attrs))
        return outs

    def one(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        return self.node(op_type, inputs, **attrs)[0]


def onnx_dtype(np_dtype: Any) -> int:
    from onnx import helper
    return int(helper.np_dtype_to_tensor_dtype(np.dtype(np_dtype)))


def _shape(t: Any) -> tuple | None:
    return None if t.static_shape is None else tuple(t.static_shape)


def _rank(t: Any, op: Any) -> int:
    s = _shape(t)
    if s is None:
        raise UnsupportedOp(f"needs a known rank for its input {t.name}")
    return len(s)


def _np(op: Any, i: int = 0) -> Any:
    return op.outputs[i].dtype.np


# --- elementwise ---------------------------------------------------------------------------------

_SAME_NAME = {"AddV2": "Add", "Add": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max",
              "Minimum": "Min", "Pow": "Pow", "Neg": "Neg", "Abs": "Abs", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
              "Reciprocal": "Reciprocal", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round", "Sign": "Sign",
              "Sin": "Sin", "Cos": "Cos", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Relu": "Relu",
              "Softplus": "Softplus", "Equal": "Equal", "Greater": "Greater", "GreaterEqual": "GreaterOrEqual",
              "Less": "Less", "LessEqual": "LessOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
              "LogicalNot": "Not", "Select": "Where", "AddN": "Sum", "Identity": "Identity",
              "StopGradient": "Identity", "PlaceholderWithDefault": "Identity"}


@converter(*_SAME_NAME)
def _same(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    t = _SAME_NAME[op.type]
    if t in ("Div",) and op.outputs[0].dtype.is_integer:
        raise UnsupportedOp("integer RealDiv has no ONNX equivalent with TF's semantics")
    return [e.one(t, ins)]


@converter("Square")
def _square(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Mul", [ins[0], ins[0]])]


@converter("SquaredDifference")
def _sqdiff(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    d = e.one("Sub", ins)
    return [e.one("Mul", [d, d])]


@converter("Rsqrt")
def _rsqrt(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Reciprocal", [e.one("Sqrt", ins)])]


@converter("Log1p")
def _log1p(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Log", [e.one("Add", [ins[0], e.scalar_like(1.0, op, "one")])])]


@converter("Expm1")
def _expm1(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Sub", [e.one("Exp", ins), e.scalar_like(1.0, op, "one")])]


@converter("NotEqual")
def _not_equal(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Not", [e.one("Equal", ins)])]


@converter("FloorDiv")
def _floordiv(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    if op.outputs[0].dtype.is_integer:
        raise UnsupportedOp("integer FloorDiv (ONNX Div truncates towards zero)")
    return [e.one("Floor", [e.one("Div", ins)])]


@converter("FloorMod")
def _floormod(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    if op.outputs[0].dtype.is_integer:
        return [e.one("Mod", ins, fmod=0)]  # ONNX integer Mod with fmod=0 has the divisor's sign, as TF
    # x - floor(x / y) * y
    q = e.one("Floor", [e.one("Div", ins)])
    return [e.one("Sub", [ins[0], e.one("Mul", [q, ins[1]])])]


@converter("Relu6")
def _relu6(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Clip", [ins[0], e.scalar_like(0.0, op, "zero"), e.scalar_like(6.0, op, "six")])]


@converter("LeakyRelu")
def _leaky(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("LeakyRelu", ins, alpha=float(op.attrs["alpha"]))]


@converter("Elu")
def _elu(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Elu", ins, alpha=1.0)]


@converter("Gelu")
def _gelu(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    x = ins[0]
    half = e.scalar_like(0.5, op, "half")
    one = e.scalar_like(1.0, op, "one")
    if op.attrs.get("approximate"):
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = e.one("Mul", [e.one("Mul", [x, x]), x])
        inner = e.one("Add", [x, e.one("Mul", [x3, e.scalar_like(0.044715, op, "k")])])
        t = e.one("Tanh", [e.one("Mul", [inner, e.scalar_like(math.sqrt(2.0 / math.pi), op, "s")])])
    else:
        # 0.5 x (1 + erf(x / sqrt(2)))
        t = e.one("Erf", [e.one("Mul", [x, e.scalar_like(1.0 / math.sqrt(2.0), op, "r2")])])
    return [e.one("Mul", [e.one("Mul", [x, half]), e.one("Add", [one, t])])]


@converter("Softmax", "LogSoftmax")
def _softmax(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one(op.type, ins, axis=int(op.attrs["axis"]))]


@converter("Cast")
def _cast(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Cast", ins, to=onnx_dtype(_np(op)))]


@converter("BiasAdd")
def _bias_add(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    r = _rank(op.inputs[0], op)
    ch = int(op.attrs["channel_axis"]) % r
    b = ins[1]
    if ch != r - 1:
        b = e.one("Reshape", [b, e.i64([-1] + [1] * (r - ch - 1))])
    return [e.one("Add", [ins[0], b])]


# --- matrix products -------------------------------------------------------------------------------

def _swap_last(e: Emitter, x: str, rank: int) -> str:
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return e.one("Transpose", [x], perm=perm)


@converter("MatMul", "BatchMatMul")
def _matmul(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    a, b = ins
    if op.attrs.get("transpose_a"):
        a = _swap_last(e, a, _rank(op.inputs[0], op))
    if op.attrs.get("transpose_b"):
        b = _swap_last(e, b, _rank(op.inputs[1], op))
    return [e.one("MatMul", [a, b])]



@converter("Einsum")
def _einsum(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    # the op keeps its equation with '...' spelled out as letters: ONNX Einsum takes it as it is
    return [e.one("Einsum", ins, equation=op.attrs["equation"])]


@converter("LayerNorm")
def _layer_norm(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    # nnctl's fused layer norm as primitive nodes, its kernel's formula: over axes k..R-1,
    # mean = mean(x), xc = x - mean, rstd = 1 / sqrt(mean(xc xc) + epsilon), y = (xc rstd) gamma + beta
    axes = list(range(op.attrs["begin_norm_axis"], _rank(op.inputs[0], op)))
    x, gamma, beta = ins
    mean = e.one("ReduceMean", [x], axes=axes, keepdims=1)
    xc = e.one("Sub", [x, mean])
    var = e.one("ReduceMean", [e.one("Mul", [xc, xc])], axes=axes, keepdims=1)
    rstd = e.one("Reciprocal", [e.one("Sqrt", [e.one("Add", [var, e.scalar_like(op.attrs["epsilon"], op, "eps")])])])
    y = e.one("Add", [e.one("Mul", [e.one("Mul", [xc, rstd]), gamma]), beta])
    return [y, mean, rstd]

# --- reductions ------------------------------------------------------------------------------------

_REDUCE = {"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd"}


@converter(*_REDUCE)
def _reduce(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    axes = op.attrs["axis"]
    keep = int(bool(op.attrs["keepdims"]))
    if axes is None:
        axes = tuple(range(_rank(op.inputs[0], op)))
    axes = [int(a) for a in axes]
    if not axes:  # reducing over no axis is the identity (ONNX would reduce over all of them)
        return [e.one("Identity", ins)]
    t = _REDUCE[op.type]
    if t == "ReduceSum":
        return [e.one(t, [ins[0], e.i64(axes, "axes")], keepdims=keep)]
    return [e.one(t, ins, axes=axes, keepdims=keep)]


@converter("ArgMax", "ArgMin")
def _arg(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    y = e.one(op.type, ins, axis=int(op.attrs["axis"]), keepdims=0)
    if _np(op) != np.int64:
        y = e.one("Cast", [y], to=onnx_dtype(_np(op)))
    return [y]


# --- shapes ----------------------------------------------------------------------------------------

@converter("Reshape")
def _reshape(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    target = [int(d) for d in op.attrs["shape"]]
    return [e.one("Reshape", [ins[0], e.i64(target)], allowzero=1 if 0 in target else 0)]


@converter("ReshapeLike")
def _reshape_like(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Reshape", [ins[0], e.one("Shape", [ins[1]])])]


@converter("BroadcastLike")
def _broadcast_like(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Expand", [ins[0], e.one("Shape", [ins[1]])])]


@converter("BroadcastTo")
def _broadcast_to(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Expand", [ins[0], e.i64([int(d) for d in op.attrs["shape"]])])]


@converter("Shape", "Size", "Rank")
def _shape_op(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    y = e.one(op.type, ins) if op.type != "Rank" else e.one("Size", [e.one("Shape", ins)])
    if _np(op) != np.int64:
        y = e.one("Cast", [y], to=onnx_dtype(_np(op)))
    return [y]


@converter("ZerosLike", "OnesLike")
def _fill_like(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    from onnx import numpy_helper
    v = numpy_helper.from_array(np.asarray([0 if op.type == "ZerosLike" else 1], dtype=_np(op)), "value")
    return [e.one("ConstantOfShape", [e.one("Shape", ins)], value=v)]


@converter("Transpose")
def _transpose(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Transpose", ins, perm=[int(p) for p in op.attrs["perm"]])]


@converter("ExpandDims")
def _expand_dims(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    rank = len(_shape(op.outputs[0]))
    return [e.one("Unsqueeze", [ins[0], e.i64([int(op.attrs["axis"]) % rank], "axes")])]


@converter("Squeeze")
def _squeeze(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    axes = op.attrs["axis"]
    s = _shape(op.inputs[0])
    if axes is None or len(axes) == 0:
        if s is None or any(d is None for d in s):
            raise UnsupportedOp("Squeeze without axes needs a fully known input shape")
        axes = [i for i, d in enumerate(s) if d == 1]
    r = _rank(op.inputs[0], op)
    axes = sorted(int(a) % r for a in axes)
    if not axes:
        return [e.one("Identity", ins)]
    return [e.one("Squeeze", [ins[0], e.i64(axes, "axes")])]


@converter("Pack")
def _pack(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    rank = len(_shape(op.outputs[0]))
    ax = int(op.attrs["axis"]) % rank
    parts = [e.one("Unsqueeze", [x, e.i64([ax], "axes")]) for x in ins]
    return [e.one("Concat", parts, axis=ax)]


@converter("ConcatV2")
def _concat(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Concat", ins, axis=int(op.attrs["axis"]))]


@converter("Split", "SplitV")
def _split(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    ax = int(op.attrs["axis"])
    sizes = [int(t.static_shape[ax]) if t.static_shape and t.static_shape[ax] is not None else None
             for t in op.outputs]
    if any(s is None for s in sizes):
        raise UnsupportedOp("Split along a dimension of unknown size")
    return e.node("Split", [ins[0], e.i64(sizes, "split")], n_out=len(op.outputs), axis=ax)


@converter("GatherV2")
def _gather(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Gather", ins, axis=int(op.attrs["axis"]))]


@converter("OneHot")
def _one_hot(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    a = op.attrs
    values = e.const(np.asarray([a["off"], a["on"]], dtype=_np(op)), "onehot_values")
    return [e.one("OneHot", [ins[0], e.i64([int(a["depth"])], "depth"), values], axis=int(a["axis"]))]


@converter("Tile")
def _tile(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Tile", [ins[0], e.i64([int(m) for m in op.attrs["multiples"]], "repeats")])]


@converter("Pad")
def _pad(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    mode = str(op.attrs["mode"]).upper()
    if mode == "SYMMETRIC":
        raise UnsupportedOp(UNSUPPORTED_REASON["Pad/SYMMETRIC"])
    pads = [tuple(p) for p in op.attrs["paddings"]]
    flat = [int(p[0]) for p in pads] + [int(p[1]) for p in pads]
    args = [ins[0], e.i64(flat, "pads")]
    if mode == "CONSTANT":
        args.append(e.const(np.asarray(op.attrs["constant_values"], dtype=_np(op)), "pad_value"))
    return [e.one("Pad", args, mode=mode.lower())]


@converter("Slice")
def _slice(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    begin = [int(b) for b in op.attrs["begin"]]
    size = [int(s) for s in op.attrs["size"]]
    ends = [INT64_MAX if s == -1 else b + s for b, s in zip(begin, size)]
    return [e.one("Slice", [ins[0], e.i64(begin, "starts"), e.i64(ends, "ends"),
                            e.i64(list(range(len(begin))), "axes")])]


@converter("ReverseV2")
def _reverse(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    axes = [int(a) for a in op.attrs["axis"]]
    if not axes:
        return [e.one("Identity", ins)]
    n = len(axes)
    return [e.one("Slice", [ins[0], e.i64([-1] * n, "starts"), e.i64([INT64_MIN] * n, "ends"),
                            e.i64(axes, "axes"), e.i64([-1] * n, "steps")])]


@converter("StridedSlice")
def _strided_slice(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    """numpy basic indexing: Slice over the sliced/indexed axes, Squeeze the int-indexed ones,
    Unsqueeze where the spec has None (np.newaxis)."""
    spec = list(op.attrs["spec"])
    rank = _rank(op.inputs[0], op)
    n_real = sum(1 for o in spec if o[0] in "si")
    expanded: list[tuple] = []
    for o in spec:
        if o[0] == "e":
            expanded.extend([("s", None, None, None)] * (rank - n_real))
        else:
            expanded.append(tuple(o))
    starts, ends, axes, steps, squeeze, new = [], [], [], [], [], []
    d = o_pos = 0
    for o in expanded:
        if o[0] == "n":
            new.append(o_pos)
            o_pos += 1
            continue
        if o[0] == "i":
            k = int(o[1])
            starts.append(k)
            ends.append(INT64_MAX if k == -1 else k + 1)
            axes.append(d)
            steps.append(1)
            squeeze.append(d)
        else:
            start, stop, step = o[1], o[2], o[3] if o[3] is not None else 1
            if start is not None or stop is not None or step != 1:
                starts.append(int(start) if start is not None else (0 if step > 0 else INT64_MAX))
                ends.append(int(stop) if stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
                axes.append(d)
                steps.append(int(step))
            o_pos += 1
        d += 1
    y = ins[0]
    if axes:
        y = e.one("Slice", [y, e.i64(starts, "starts"), e.i64(ends, "ends"), e.i64(axes, "axes"),
                            e.i64(steps, "steps")])
    if squeeze:
        y = e.one("Squeeze", [y, e.i64(squeeze, "axes")])
    if new:
        y = e.one("Unsqueeze", [y, e.i64(new, "axes")])
    if y == ins[0]:
        y = e.one("Identity", [y])
    return [y]


# --- convolution and pooling (NHWC outside, NCHW inside) ----------------------------------------

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _pads_2d(op: Any, kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int],
             padding: Any) -> dict:
    """ONNX pads [top, left, bottom, right] by TF's rules (SAME puts the odd pixel after)."""
    from nnctl.ops.conv_kernels import out_size
    s = _shape(op.inputs[0])
    if isinstance(padding, str) and padding == "VALID":
        return {"pads": [0, 0, 0, 0]}
    pad_h, pad_w = (padding, padding) if isinstance(padding, str) else padding
    h, w = (s[1], s[2]) if s is not None else (None, None)
    if isinstance(padding, str) and (h is None or w is None):
        return {"auto_pad": "SAME_UPPER"}  # TF's SAME: the extra pixel at the end
    _, t, b = out_size(h, kernel[0], strides[0], dilations[0], pad_h)
    _, l, r = out_size(w, kernel[1], strides[1], dilations[1], pad_w)
    return {"pads": [int(t), int(l), int(b), int(r)]}


@converter("Conv2D")
def _conv2d(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    a = op.attrs
    ws = _shape(op.inputs[1])
    if ws is None or any(d is None for d in ws):
        raise UnsupportedOp("Conv2D needs a filter of known shape")
    strides, dil = tuple(a["strides"]), tuple(a["dilations"])
    x = e.one("Transpose", [ins[0]], perm=TO_NCHW)
    w = e.one("Transpose", [ins[1]], perm=[3, 2, 0, 1])  # HWIO -> OIHW (folded by onnxruntime)
    y = e.one("Conv", [x, w], kernel_shape=[int(ws[0]), int(ws[1])], strides=list(strides),
              dilations=list(dil), **_pads_2d(op, (ws[0], ws[1]), strides, dil, a["padding"]))
    return [e.one("Transpose", [y], perm=TO_NHWC)]


@converter("MaxPool", "AvgPool")
def _pool(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    a = op.attrs
    k, strides = tuple(a["ksize"]), tuple(a["strides"])
    x = e.one("Transpose", [ins[0]], perm=TO_NCHW)
    extra: dict = {}
    if op.type == "AvgPool":
        extra["count_include_pad"] = 0  # TF's SAME average pool divides by the valid pixels only
    y = e.one("MaxPool" if op.type == "MaxPool" else "AveragePool", [x], kernel_shape=list(k),
              strides=list(strides), **_pads_2d(op, k, strides, (1, 1), a["padding"]), **extra)
    return [e.one("Transpose", [y], perm=TO_NHWC)]


def _known(t: Any, what: str) -> tuple:
    s = _shape(t)
    if s is None or any(d is None for d in s[1:]):
        raise UnsupportedOp(f"needs a {what} of known shape, got {s}")
    return s


@converter("DepthwiseConv2dNative")
def _depthwise(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    """TF's depthwise filter [kh, kw, C, M] (output channel c*M + m) is ONNX's grouped Conv with
    group C and weight [C*M, 1, kh, kw]."""
    a = op.attrs
    kh, kw, c, m = _known(op.inputs[1], "filter")
    strides, dil = tuple(a["strides"]), tuple(a["dilations"])
    w = e.one("Reshape", [ins[1], e.i64([kh, kw, 1, c * m])])
    w = e.one("Transpose", [w], perm=[3, 2, 0, 1])
    x = e.one("Transpose", [ins[0]], perm=TO_NCHW)
    y = e.one("Conv", [x, w], kernel_shape=[int(kh), int(kw)], strides=list(strides), dilations=list(dil),
              group=int(c), **_pads_2d(op, (kh, kw), strides, dil, a["padding"]))
    return [e.one("Transpose", [y], perm=TO_NHWC)]


@converter("Conv2DTranspose")
def _conv_transpose(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    """The adjoint of conv2d with filter [kh, kw, out, in] -> ONNX ConvTranspose (weight [in, out, kh, kw]):
    the pads are those of the forward conv from the output size; output_padding adds the rows and
    columns that the forward conv never reads (they receive nothing, as in TF)."""
    from nnctl.ops.conv_kernels import out_size
    a = op.attrs
    kh, kw, _, _ = _known(op.inputs[1], "filter")
    _, h, w_, _ = _known(op.inputs[0], "input")
    (sh, sw), (dh, dw) = tuple(a["strides"]), tuple(a["dilations"])
    oh, ow, _ = (int(v) for v in a["output_shape"])
    pad = a["padding"]
    pad_h, pad_w = (pad, pad) if isinstance(pad, str) else pad
    _, t, b = out_size(oh, kh, sh, dh, pad_h)
    _, l, r = out_size(ow, kw, sw, dw, pad_w)
    extra_h = oh - (sh * (h - 1) + (kh - 1) * dh + 1 - t - b)
    extra_w = ow - (sw * (w_ - 1) + (kw - 1) * dw + 1 - l - r)
    if extra_h < 0 or extra_w < 0 or extra_h >= max(sh, dh) or extra_w >= max(sw, dw):
        raise UnsupportedOp(f"output_shape {a['output_shape']} does not fit ConvTranspose's output padding")
    x = e.one("Transpose", [ins[0]], perm=TO_NCHW)
    wt = e.one("Transpose", [ins[1]], perm=[3, 2, 0, 1])
    y = e.one("ConvTranspose", [x, wt], kernel_shape=[int(kh), int(kw)], strides=[int(sh), int(sw)],
              dilations=[int(dh), int(dw)], pads=[int(t), int(l), int(b), int(r)],
              output_padding=[int(extra_h), int(extra_w)])
    return [e.one("Transpose", [y], perm=TO_NHWC)]


@converter("ResizeBilinear", "ResizeNearestNeighbor")
def _resize(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    """TF1's resize rules as ONNX Resize modes: align_corners -> align_corners (nearest: round half
    up); half_pixel_centers -> half_pixel (nearest: floor((i + 0.5) * in / out), which is ONNX's
    round_prefer_ceil of (i + 0.5) * in / out - 0.5); neither -> asymmetric (nearest: floor)."""
    a = op.attrs
    oh, ow = (int(v) for v in a["size"])
    bilinear = op.type == "ResizeBilinear"
    if a.get("align_corners"):
        mode = "align_corners"
    elif a.get("half_pixel_centers"):
        mode = "half_pixel"
    else:
        mode = "asymmetric"
    x = e.one("Transpose", [ins[0]], perm=TO_NCHW)
    nc = e.one("Slice", [e.one("Shape", [x]), e.i64([0], "starts"), e.i64([2], "ends"), e.i64([0], "axes")])
    sizes = e.one("Concat", [nc, e.i64([oh, ow], "hw")], axis=0)
    rounding = "floor" if mode == "asymmetric" else "round_prefer_ceil"
    extra = {} if bilinear else {"nearest_mode": rounding}
    y = e.one("Resize", [x, "", "", sizes], mode="linear" if bilinear else "nearest",
              coordinate_transformation_mode=mode, **extra)
    return [e.one("Transpose", [y], perm=TO_NHWC)]


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@converter("Selu")
def _selu(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    return [e.one("Selu", ins, alpha=_SELU_ALPHA, gamma=_SELU_SCALE)]


@converter("DivNoNan")
def _div_no_nan(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    # where(y == 0, 0, x / y)
    zero = e.scalar_like(0.0, op, "zero")
    return [e.one("Where", [e.one("Equal", [ins[1], zero]), zero, e.one("Div", ins)])]


@converter("L2Loss")
def _l2_loss(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    # sum(x^2) / 2 over every axis
    s = e.one("ReduceSum", [e.one("Mul", [ins[0], ins[0]])], keepdims=0)
    return [e.one("Mul", [s, e.scalar_like(0.5, op, "half")])]


@converter("Cumsum")
def _cumsum(e: Emitter, op: Any, ins: list[str]) -> list[str]:
    rank = _rank(op.inputs[0], op)
    ax = e.const(np.asarray(int(op.attrs["axis"]) % rank, dtype=np.int64), "axis")
    return [e.one("CumSum", [ins[0], ax], exclusive=int(bool(op.attrs["exclusive"])),
                  reverse=int(bool(op.attrs["reverse"])))]


UNSUPPORTED_REASON.update({
    "Cumprod": "ONNX has no cumulative product",
    "SoftmaxCrossEntropyWithLogits": "a training loss; export the model's outputs instead",
    "SparseSoftmaxCrossEntropyWithLogits": "a training loss; export the model's outputs instead",
})
