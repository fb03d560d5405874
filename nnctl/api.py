"""The TF1 graph-mode API that ``import nnctl as tf`` exposes (see docs/api.md).

``nnctl/__init__.py`` loads this module on first attribute access, so the command line starts
without importing numpy and every op module."""

from __future__ import annotations

from typing import Any

from nnctl import app, dtypes, errors, flags, losses, nn, summary, train
from nnctl import gfile as gfile
from nnctl import ops as _ops  # registers every op
from nnctl import tf_logging as logging
from nnctl.dtypes import (
    DType,
    as_dtype,
    bool,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
)
from nnctl.graph.gradients import gradients, hessians
from nnctl.graph.graph import (
    Graph,
    GraphKeys,
    Operation,
    Tensor,
    add_to_collection,
    control_dependencies,
    device,
    get_collection,
    get_default_graph,
    name_scope,
    reset_default_graph,
)
from nnctl.graph.registry import RegisterGradient
from nnctl.graph.registry import not_differentiable as NotDifferentiable
from nnctl.graph.tensor_shape import TensorShape
from nnctl.ops.array_ops import (
    broadcast_to,
    concat,
    expand_dims,
    fill,
    gather,
    identity,
    one_hot,
    ones,
    ones_like,
    pad,
    rank,
    reshape,
    reverse,
    reverse_v2,
    shape,
    size,
    slice,
    split,
    squeeze,
    stack,
    stop_gradient,
    tile,
    transpose,
    unstack,
    zeros,
    zeros_like,
)
from nnctl.ops.control_flow_ops import case, cond, map_fn, while_loop
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.init_ops import (
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    orthogonal_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variance_scaling_initializer,
    zeros_initializer,
)
from nnctl.ops.math_extra_ops import (
    count_nonzero,
    einsum,
    eye,
    is_finite,
    is_inf,
    is_nan,
    linspace,
    log_sigmoid,
    norm,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
)
from nnctl.ops.math_ops import (
    abs,
    add,
    add_n,
    argmax,
    argmin,
    cast,
    ceil,
    clip_by_value,
    cos,
    cumprod,
    cumsum,
    div,
    div_no_nan,
    divide,
    equal,
    exp,
    expm1,
    floor,
    floordiv,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    matmul,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    pow,
    realdiv,
    reciprocal,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    squared_difference,
    subtract,
    tanh,
    to_double,
    to_float,
    to_int32,
    to_int64,
    truediv,
    where,
)
from nnctl.ops.metric_ops import in_top_k
from nnctl.ops.random_ops import random_normal, random_uniform, set_random_seed, truncated_normal
from nnctl.ops.range_ops import range, sequence_mask
from nnctl.ops.rnn import reverse_sequence
from nnctl.ops.selection_ops import random_shuffle
from nnctl.ops.state_ops import constant, group, no_op, placeholder, placeholder_with_default
from nnctl.ops.variable_scope import AUTO_REUSE, VariableScope, get_variable, get_variable_scope, variable_scope
from nnctl.ops.variables import (
    Variable,
    assign,
    assign_add,
    assign_sub,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    trainable_variables,
    variables_initializer,
)
from nnctl.runtime.session import (
    ConfigProto,
    GPUOptions,
    InteractiveSession,
    RunMetadata,
    RunOptions,
    Session,
    get_default_session,
)
from nnctl.train.clipping import clip_by_global_norm, clip_by_norm, global_norm

newaxis = None


# --- TF1 sub-namespaces and compatibility switches ---------------------------------------------
def disable_v2_behavior() -> None:
    """``tf.disable_v2_behavior()``: nnctl is TF1 graph mode already; nothing to switch."""


def enable_v2_behavior() -> None:
    raise _missing("tf", "enable_v2_behavior")


def disable_eager_execution() -> None:
    """``tf.compat.v1.disable_eager_execution()``: nnctl always builds graphs; nothing to switch."""


def executing_eagerly() -> bool:
    return False


def arg_max(input: Any, dimension: Any = None, output_type: Any = int64, name: str | None = None) -> Tensor:
    """``tf.arg_max`` (TF1's older spelling of argmax with ``dimension``)."""
    return argmax(input, axis=dimension, output_type=output_type, name=name)


def arg_min(input: Any, dimension: Any = None, output_type: Any = int64, name: str | None = None) -> Tensor:
    """``tf.arg_min`` (TF1's older spelling of argmin with ``dimension``)."""
    return argmin(input, axis=dimension, output_type=output_type, name=name)


# Loaded on first use (PEP 562): the frozen-model reader imports the feature pipeline, the
# preprocessors and the evaluation helpers, which graph building does not need.
_LAZY = {"load_frozen": "nnctl.export.frozen"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nnctl.api' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _build_namespaces() -> None:
    import sys

    from nnctl.namespaces import MATH_NAMES, Namespace, pick
    g = globals()
    g["random"] = Namespace("tf.random", pick(g, "", normal=random_normal, uniform=random_uniform,
                                              truncated_normal=truncated_normal, set_seed=set_random_seed,
                                              set_random_seed=set_random_seed, shuffle=random_shuffle))
    g["math"] = Namespace("tf.math", pick({**vars(nn), **g}, MATH_NAMES))
    g["io"] = Namespace("tf.io", {"gfile": gfile})
    g["compat"] = Namespace("tf.compat", {"v1": sys.modules["nnctl"]})


from nnctl.unsupported import missing as _missing  # noqa: E402

_build_namespaces()

# tf.initializers.*: the same classes under TF1's short names
from types import SimpleNamespace as _NS  # noqa: E402

from nnctl.ops import init_ops as _init  # noqa: E402

initializers = _NS(zeros=_init.Zeros, ones=_init.Ones, constant=_init.Constant, random_uniform=_init.RandomUniform,
                   random_normal=_init.RandomNormal, truncated_normal=_init.TruncatedNormal,
                   variance_scaling=_init.VarianceScaling, glorot_uniform=_init.GlorotUniform,
                   glorot_normal=_init.GlorotNormal, orthogonal=_init.Orthogonal, he_normal=_init.he_normal,
                   he_uniform=_init.he_uniform, lecun_normal=_init.lecun_normal, lecun_uniform=_init.lecun_uniform,
                   global_variables=global_variables_initializer, local_variables=local_variables_initializer,
                   variables=variables_initializer)
