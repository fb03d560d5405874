"""``tf.contrib.layers``: ``layer_norm`` (TF1's contrib layer norm, on the fused LayerNorm op)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.graph.graph import GraphKeys, Tensor, add_to_collection
from nnctl.ops import init_ops
from nnctl.ops.core import convert_to_tensor
from nnctl.ops.layer_norm_ops import layer_norm_op
from nnctl.ops.state_ops import constant
from nnctl.ops.variable_scope import get_variable, variable_scope

# TF1's contrib layer_norm adds 1e-12 to the variance (layers.py: ``variance_epsilon = 1e-12``)
EPSILON = 1e-12


def _collections(variables_collections: Any, name: str) -> list[str]:
    """TF1's model_variable collections: global and model variables, plus the caller's (a list, or a
    dict keyed by variable name)."""
    extra = variables_collections.get(name) if isinstance(variables_collections, dict) else variables_collections
    extra = [] if extra is None else ([extra] if isinstance(extra, str) else list(extra))
    return [GraphKeys.GLOBAL_VARIABLES, GraphKeys.MODEL_VARIABLES, *extra]


def layer_norm(inputs: Any, center: bool = True, scale: bool = True, activation_fn: Any = None, reuse: Any = None,
               variables_collections: Any = None, outputs_collections: Any = None, trainable: bool = True,
               begin_norm_axis: int = 1, begin_params_axis: int = -1, scope: Any = None) -> Tensor:
    """``tf.contrib.layers.layer_norm``: normalise over axes ``begin_norm_axis..R-1`` (mean 0,
    variance 1, epsilon 1e-12 as in TF1), then scale by ``gamma`` and shift by ``beta``, variables
    ``<scope>/LayerNorm/{gamma,beta}`` of shape ``inputs.shape[begin_params_axis:]``."""
    with variable_scope(scope, "LayerNorm", [inputs], reuse=reuse):
        x = convert_to_tensor(inputs)
        s = x.static_shape
        if s is None:
            raise ValueError(f"Inputs {x.name} has undefined rank.")
        r = len(s)
        if not x.dtype.is_floating:
            raise TypeError(f"layer_norm: inputs {x.name} must be a float tensor, got {x.dtype.name}")
        if begin_norm_axis < 0:
            begin_norm_axis = r + begin_norm_axis
        if begin_params_axis >= r or begin_norm_axis >= r or begin_norm_axis < 0 or begin_params_axis < -r:
            raise ValueError(f"begin_params_axis ({begin_params_axis}) and begin_norm_axis ({begin_norm_axis}) "
                             f"must be < rank(inputs) ({r})")
        params_shape = tuple(s[begin_params_axis:])
        if None in params_shape:
            raise ValueError(f"Inputs {x.name}: shape(inputs)[{begin_params_axis}:] is not fully defined: "
                             f"{list(s)}")
        beta = gamma = None
        if center:
            beta = get_variable("beta", shape=params_shape, dtype=x.dtype, initializer=init_ops.zeros_initializer(),
                                collections=_collections(variables_collections, "beta"), trainable=trainable)
        if scale:
            gamma = get_variable("gamma", shape=params_shape, dtype=x.dtype,
                                 initializer=init_ops.ones_initializer(),
                                 collections=_collections(variables_collections, "gamma"), trainable=trainable)
        g = gamma if gamma is not None else constant(np.ones(params_shape, x.dtype.np), name="gamma_one")
        b = beta if beta is not None else constant(np.zeros(params_shape, x.dtype.np), name="beta_zero")
        out = layer_norm_op(x, g, b, begin_norm_axis, EPSILON, name="LayerNorm")[0]
        if activation_fn is not None:
            out = activation_fn(out)
        for c in ([outputs_collections] if isinstance(outputs_collections, str) else (outputs_collections or [])):
            add_to_collection(c, out)
        return out


__all__ = ["layer_norm"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise AttributeError(f"tf.contrib.layers.{name} is not supported by nnctl; of tf.contrib.layers only "
                         "layer_norm is offered (the rest of the supported API is listed in docs/api.md)")
