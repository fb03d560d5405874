"""``tf.layers``: TF1's layer functions and classes, backed by the layer library.

``tf.layers.dense(x, 10)`` creates the library's Dense layer inside ``tf.variable_scope`` (default
name ``dense``, ``dense_1`` ...; ``name=`` and ``reuse=`` as in TF1) and makes its variables with
``tf.get_variable``, so they are named as TF names them (``dense/kernel:0``, ``dense/bias:0``) and
``reuse=True`` shares them. Argument names and defaults are TF 1.15's. ``activation`` is a
callable (``tf.nn.relu``) as in TF; ``training`` may be a Python bool or a bool tensor.
Batch normalization adds its moving-average updates to ``tf.GraphKeys.UPDATE_OPS``, to be run
with the train op (``with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS))``).
"""

from __future__ import annotations

from typing import Any

from nnctl.layers.base import Context, Layer, layer_class


def _pair(v: Any, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(d) for d in v)
    if len(t) != 2:
        raise ValueError(f"{what} must be an int or a tuple of 2 ints, got {v!r}")
    return t  # type: ignore[return-value]


def _channels_last(data_format: str) -> None:
    if data_format not in ("channels_last", "NHWC"):
        raise NotImplementedError(f"data_format {data_format!r}: nnctl's tf.layers support channels_last (NHWC)")


class TFLayer:
    """A TF1 layer object: built on its first call, sharing its variables on later calls."""

    _type = ""
    _base_name = ""

    def __init__(self, trainable: bool = True, name: str | None = None, _reuse: Any = None, **kwargs: Any) -> None:
        self.trainable = trainable
        self._given_name = name
        self._reuse = _reuse
        self._scope: Any = None
        self._layer: Layer | None = None
        self._params: dict[str, Any] = {}
        self._regularizers: dict[str, Any] = {}
        self._inits: dict[str, Any] = {}
        self._seed: int | None = None
        self.activation: Any = None

    # --- what subclasses set ---------------------------------------------------------------
    def _library_params(self) -> dict[str, Any]:
        return self._params

    # --- TF1's attributes ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._scope.name if self._scope is not None else (self._given_name or self._base_name)

    @property
    def variables(self) -> list:
        return list(self._layer.variables) if self._layer is not None else []

    weights = variables

    @property
    def trainable_variables(self) -> list:
        return [v for v in self.variables if v.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self) -> list:
        return [v for v in self.variables if not v.trainable]

    non_trainable_weights = non_trainable_variables

    @property
    def updates(self) -> list:
        return list(self._layer.ctx.updates) if self._layer is not None else []

    def _make_variable(self, layer: Layer, what: str, shape: tuple, init: Any, trainable: bool) -> Any:
        from nnctl.layers.initializers import Initializer
        from nnctl.ops import init_ops
        from nnctl.ops.variable_scope import get_variable
        if isinstance(init, Initializer):
            init = init_ops.from_config(init)
        return get_variable(what, shape, initializer=init, trainable=trainable and self.trainable,
                            regularizer=self._regularizers.get(what))

    def __call__(self, inputs: Any, *args: Any, training: Any = False, **kwargs: Any) -> Any:
        from nnctl.graph.graph import GraphKeys, get_default_graph
        from nnctl.ops.core import convert_to_tensor
        from nnctl.ops.variable_scope import variable_scope
        x = convert_to_tensor(inputs)
        if self._layer is None:
            g = get_default_graph()
            ctx = Context(self._make_variable, seed=self._seed,
                          add_update=lambda op: g.add_to_collection(GraphKeys.UPDATE_OPS, op))
            with variable_scope(self._given_name, default_name=self._base_name, reuse=self._reuse) as scope:
                self._scope = scope
                layer = layer_class(self._type).from_params(scope.name, ctx, **self._library_params())
                layer.init_overrides.update(self._inits)
                self._configure(layer)
                self._layer = layer
                return self._activate(layer.apply([x], training)[1])
        with variable_scope(self._scope, reuse=True):
            return self._activate(self._layer.apply([x], training)[1])

    def _configure(self, layer: Any) -> None:
        """Set what the layer takes beyond its config parameters (nothing here; see BatchNormalization)."""

    def _activate(self, out: Any) -> Any:
        return self.activation(out) if self.activation is not None else out

    apply = __call__


class Dense(TFLayer):
    _type, _base_name = "dense", "dense"

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True, kernel_initializer: Any = None,
                 bias_initializer: Any = None, kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
                 trainable: bool = True, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        from nnctl.ops import init_ops
        self.units, self.activation = int(units), activation
        self._params = {"units": self.units, "use_bias": use_bias,
                        "initializer": kernel_initializer if kernel_initializer is not None else
                        init_ops.GlorotUniform(),
                        "bias_initializer": bias_initializer if bias_initializer is not None else init_ops.Zeros()}
        self._regularizers = {"kernel": kernel_regularizer, "bias": bias_regularizer}

    @property
    def kernel(self) -> Any:
        return self._layer.kernel if self._layer is not None else None

    @property
    def bias(self) -> Any:
        return self._layer.bias if self._layer is not None else None


class Conv2D(TFLayer):
    _type, _base_name = "conv2d", "conv2d"

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str = "channels_last", dilation_rate: Any = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = None, bias_initializer: Any = None,
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, trainable: bool = True,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        from nnctl.ops import init_ops
        _channels_last(data_format)
        self.filters, self.activation = int(filters), activation
        self._params = {"filters": self.filters, "kernel": _pair(kernel_size, "kernel_size"),
                        "stride": _pair(strides, "strides"), "padding": padding.lower(), "use_bias": use_bias,
                        "initializer": kernel_initializer if kernel_initializer is not None else
                        init_ops.GlorotUniform(),
                        "bias_initializer": bias_initializer if bias_initializer is not None else init_ops.Zeros()}
        dil = _pair(dilation_rate, "dilation_rate")
        if dil != (1, 1):
            schema = layer_class("conv2d").schema
            if "dilation" not in schema:
                raise NotImplementedError("conv2d: dilation_rate other than 1 is not supported yet")
            self._params["dilation"] = dil
        self._regularizers = {"kernel": kernel_regularizer, "bias": bias_regularizer}

    @property
    def kernel(self) -> Any:
        return self._layer.kernel if self._layer is not None else None

    @property
    def bias(self) -> Any:
        return self._layer.bias if self._layer is not None else None


class _Pooling2D(TFLayer):
    def __init__(self, pool_size: Any, strides: Any, padding: str = "valid", data_format: str = "channels_last",
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(True, name)
        _channels_last(data_format)
        self._params = {"size": _pair(pool_size, "pool_size"), "stride": _pair(strides, "strides"),
                        "padding": padding.lower()}


class MaxPooling2D(_Pooling2D):
    _type, _base_name = "max_pool", "max_pooling2d"


class AveragePooling2D(_Pooling2D):
    _type, _base_name = "avg_pool", "average_pooling2d"


class Flatten(TFLayer):
    _type, _base_name = "flatten", "flatten"

    def __init__(self, data_format: str = "channels_last", name: str | None = None, **kwargs: Any) -> None:
        super().__init__(True, name)
        _channels_last(data_format)


class Dropout(TFLayer):
    _type, _base_name = "dropout", "dropout"

    def __init__(self, rate: float = 0.5, noise_shape: Any = None, seed: int | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(True, name)
        if noise_shape is not None:
            raise NotImplementedError("tf.layers.dropout: noise_shape is not supported")
        self.rate = float(rate)
        self._params = {"rate": self.rate}
        self._seed = seed


class BatchNormalization(TFLayer):
    _type, _base_name = "batch_norm", "batch_normalization"

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = None, gamma_initializer: Any = None,
                 moving_mean_initializer: Any = None, moving_variance_initializer: Any = None,
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, renorm: bool = False, fused: Any = None, trainable: bool = True,
                 virtual_batch_size: Any = None, adjustment: Any = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        from nnctl.ops import init_ops
        if renorm or virtual_batch_size is not None or adjustment is not None:
            raise NotImplementedError("batch_normalization: renorm, virtual_batch_size and adjustment are not "
                                      "supported")
        self.axis = axis
        self._params = {"momentum": float(momentum), "epsilon": float(epsilon), "center": center, "scale": scale}
        self._inits = {"gamma": gamma_initializer or init_ops.Ones(), "beta": beta_initializer or init_ops.Zeros(),
                       "moving_mean": moving_mean_initializer or init_ops.Zeros(),
                       "moving_variance": moving_variance_initializer or init_ops.Ones()}
        self._regularizers = {"gamma": gamma_regularizer, "beta": beta_regularizer}
        self._fused = None if fused is None else bool(fused)

    def _configure(self, layer: Any) -> None:
        layer.fused = self._fused

    def __call__(self, inputs: Any, *args: Any, training: Any = False, **kwargs: Any) -> Any:
        from nnctl.ops.bn_ops import fusable
        from nnctl.ops.core import convert_to_tensor
        x = convert_to_tensor(inputs)
        rank = len(x.get_shape().as_list())
        if self.axis not in (-1, rank - 1):
            raise NotImplementedError(f"batch_normalization: axis {self.axis}: only the last axis (channels_last) "
                                      "is supported")
        if self._fused and not fusable(x):   # TF refuses fused=True where its fused kernel does not apply
            raise ValueError(f"batch_normalization: fused=True needs a rank-4 float32/float64 input, got "
                             f"{x.name} of shape {x.get_shape()} and dtype {x.dtype.name}")
        return super().__call__(x, training=training)

    @property
    def moving_mean(self) -> Any:
        return self._layer.moving_mean if self._layer is not None else None

    @property
    def moving_variance(self) -> Any:
        return self._layer.moving_variance if self._layer is not None else None

    @property
    def gamma(self) -> Any:
        return self._layer.gamma if self._layer is not None else None

    @property
    def beta(self) -> Any:
        return self._layer.beta if self._layer is not None else None


class _ConvBase(TFLayer):
    """Shared argument handling of the convolution classes below (TF 1.15's names and defaults)."""

    def _conv_params(self, filters: Any, use_bias: bool, kernel_initializer: Any, bias_initializer: Any,
                     kernel_regularizer: Any, bias_regularizer: Any, activation: Any) -> None:
        from nnctl.ops import init_ops
        self.activation = activation
        if filters is not None:
            self.filters = int(filters)
            self._params["filters"] = self.filters
        self._params.update({
            "use_bias": use_bias,
            "initializer": kernel_initializer if kernel_initializer is not None else init_ops.GlorotUniform(),
            "bias_initializer": bias_initializer if bias_initializer is not None else init_ops.Zeros()})
        self._regularizers = {"kernel": kernel_regularizer, "bias": bias_regularizer}

    @property
    def kernel(self) -> Any:
        return self._layer.kernel if self._layer is not None else None

    @property
    def bias(self) -> Any:
        return self._layer.bias if self._layer is not None else None


def _int1(v: Any, what: str) -> int:
    if isinstance(v, int):
        return v
    t = tuple(int(d) for d in v)
    if len(t) != 1:
        raise ValueError(f"{what} must be an int or a tuple of 1 int, got {v!r}")
    return t[0]


def _channels_last_1d(data_format: str) -> None:
    if data_format not in ("channels_last", "NWC"):
        raise NotImplementedError(f"data_format {data_format!r}: nnctl's tf.layers support channels_last (NWC)")


class Conv1D(_ConvBase):
    _type, _base_name = "conv1d", "conv1d"

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str = "channels_last", dilation_rate: Any = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = None, bias_initializer: Any = None,
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, trainable: bool = True,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        _channels_last_1d(data_format)
        self._params = {"kernel": _int1(kernel_size, "kernel_size"), "stride": _int1(strides, "strides"),
                        "dilation": _int1(dilation_rate, "dilation_rate"), "padding": padding.lower()}
        self._conv_params(filters, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                          bias_regularizer, activation)


class Conv2DTranspose(_ConvBase):
    _type, _base_name = "conv2d_transpose", "conv2d_transpose"

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str = "channels_last", activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = None, bias_initializer: Any = None, kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, trainable: bool = True, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        _channels_last(data_format)
        self._params = {"kernel": _pair(kernel_size, "kernel_size"), "stride": _pair(strides, "strides"),
                        "padding": padding.lower()}
        self._conv_params(filters, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                          bias_regularizer, activation)


class SeparableConv2D(_ConvBase):
    _type, _base_name = "separable_conv2d", "separable_conv2d"

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str = "channels_last", dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True, depthwise_initializer: Any = None,
                 pointwise_initializer: Any = None, bias_initializer: Any = None, depthwise_regularizer: Any = None,
                 pointwise_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 depthwise_constraint: Any = None, pointwise_constraint: Any = None, bias_constraint: Any = None,
                 trainable: bool = True, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(trainable, name, kwargs.pop("_reuse", None))
        from nnctl.ops import init_ops
        _channels_last(data_format)
        self._params = {"kernel": _pair(kernel_size, "kernel_size"), "stride": _pair(strides, "strides"),
                        "dilation": _pair(dilation_rate, "dilation_rate"), "padding": padding.lower(),
                        "multiplier": int(depth_multiplier)}
        self._conv_params(filters, use_bias, None, bias_initializer, None, bias_regularizer, activation)
        self._inits = {"depthwise_kernel": depthwise_initializer or init_ops.GlorotUniform(),
                       "pointwise_kernel": pointwise_initializer or init_ops.GlorotUniform()}
        self._regularizers = {"depthwise_kernel": depthwise_regularizer, "pointwise_kernel": pointwise_regularizer,
                              "bias": bias_regularizer}

    @property
    def depthwise_kernel(self) -> Any:
        return self._layer.depthwise if self._layer is not None else None

    @property
    def pointwise_kernel(self) -> Any:
        return self._layer.pointwise if self._layer is not None else None


class _Pooling1D(TFLayer):
    def __init__(self, pool_size: Any, strides: Any, padding: str = "valid", data_format: str = "channels_last",
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(True, name)
        _channels_last_1d(data_format)
        self._params = {"size": _int1(pool_size, "pool_size"), "stride": _int1(strides, "strides"),
                        "padding": padding.lower()}


class MaxPooling1D(_Pooling1D):
    _type, _base_name = "max_pool1d", "max_pooling1d"


class AveragePooling1D(_Pooling1D):
    _type, _base_name = "avg_pool1d", "average_pooling1d"


# --- the functional forms ---------------------------------------------------------------------

def dense(inputs: Any, units: int, activation: Any = None, use_bias: bool = True, kernel_initializer: Any = None,
          bias_initializer: Any = None, kernel_regularizer: Any = None, bias_regularizer: Any = None,
          activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
          trainable: bool = True, name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.dense``: ``activation(inputs @ kernel + bias)`` on the last axis."""
    return Dense(units, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                 bias_regularizer, activity_regularizer, trainable=trainable, name=name, _reuse=reuse)(inputs)


def conv2d(inputs: Any, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
           data_format: str = "channels_last", dilation_rate: Any = (1, 1), activation: Any = None,
           use_bias: bool = True, kernel_initializer: Any = None, bias_initializer: Any = None,
           kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
           kernel_constraint: Any = None, bias_constraint: Any = None, trainable: bool = True,
           name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.conv2d`` (NHWC, HWIO kernel ``conv2d/kernel``)."""
    return Conv2D(filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                  kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                  trainable=trainable, name=name, _reuse=reuse)(inputs)


def max_pooling2d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                  data_format: str = "channels_last", name: str | None = None) -> Any:
    return MaxPooling2D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling2d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                      data_format: str = "channels_last", name: str | None = None) -> Any:
    return AveragePooling2D(pool_size, strides, padding, data_format, name)(inputs)


def flatten(inputs: Any, name: str | None = None, data_format: str = "channels_last") -> Any:
    return Flatten(data_format, name)(inputs)


def dropout(inputs: Any, rate: float = 0.5, noise_shape: Any = None, seed: int | None = None, training: Any = False,
            name: str | None = None) -> Any:
    """``tf.layers.dropout``: the identity unless ``training`` (a bool or a bool tensor) is true."""
    return Dropout(rate, noise_shape, seed, name)(inputs, training=training)


def batch_normalization(inputs: Any, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                        center: bool = True, scale: bool = True, beta_initializer: Any = None,
                        gamma_initializer: Any = None, moving_mean_initializer: Any = None,
                        moving_variance_initializer: Any = None, beta_regularizer: Any = None,
                        gamma_regularizer: Any = None, beta_constraint: Any = None, gamma_constraint: Any = None,
                        training: Any = False, trainable: bool = True, name: str | None = None, reuse: Any = None,
                        renorm: bool = False, renorm_clipping: Any = None, renorm_momentum: float = 0.99,
                        fused: Any = None, virtual_batch_size: Any = None, adjustment: Any = None) -> Any:
    """``tf.layers.batch_normalization``: batch statistics when ``training``, moving averages otherwise;
    the moving-average updates go to ``tf.GraphKeys.UPDATE_OPS``."""
    return BatchNormalization(axis, momentum, epsilon, center, scale, beta_initializer, gamma_initializer,
                              moving_mean_initializer, moving_variance_initializer, beta_regularizer,
                              gamma_regularizer, renorm=renorm, fused=fused, trainable=trainable,
                              virtual_batch_size=virtual_batch_size, adjustment=adjustment, name=name,
                              _reuse=reuse)(inputs, training=training)


def conv1d(inputs: Any, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
           data_format: str = "channels_last", dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
           kernel_initializer: Any = None, bias_initializer: Any = None, kernel_regularizer: Any = None,
           bias_regularizer: Any = None, activity_regularizer: Any = None, kernel_constraint: Any = None,
           bias_constraint: Any = None, trainable: bool = True, name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.conv1d`` (NWC input, WIO kernel ``conv1d/kernel``)."""
    return Conv1D(filters, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                  kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                  trainable=trainable, name=name, _reuse=reuse)(inputs)


def conv2d_transpose(inputs: Any, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                     data_format: str = "channels_last", activation: Any = None, use_bias: bool = True,
                     kernel_initializer: Any = None, bias_initializer: Any = None, kernel_regularizer: Any = None,
                     bias_regularizer: Any = None, activity_regularizer: Any = None, kernel_constraint: Any = None,
                     bias_constraint: Any = None, trainable: bool = True, name: str | None = None,
                     reuse: Any = None) -> Any:
    """``tf.layers.conv2d_transpose``: kernel ``[kh, kw, filters, in_channels]``; output height
    ``h * stride`` ('same') or ``h * stride + max(kernel - stride, 0)`` ('valid')."""
    return Conv2DTranspose(filters, kernel_size, strides, padding, data_format, activation, use_bias,
                           kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                           trainable=trainable, name=name, _reuse=reuse)(inputs)


def separable_conv2d(inputs: Any, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                     data_format: str = "channels_last", dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                     activation: Any = None, use_bias: bool = True, depthwise_initializer: Any = None,
                     pointwise_initializer: Any = None, bias_initializer: Any = None,
                     depthwise_regularizer: Any = None, pointwise_regularizer: Any = None,
                     bias_regularizer: Any = None, activity_regularizer: Any = None, depthwise_constraint: Any = None,
                     pointwise_constraint: Any = None, bias_constraint: Any = None, trainable: bool = True,
                     name: str | None = None, reuse: Any = None) -> Any:
    """``tf.layers.separable_conv2d``: depthwise (``depthwise_kernel``) then 1x1 (``pointwise_kernel``)."""
    return SeparableConv2D(filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                           activation, use_bias, depthwise_initializer, pointwise_initializer, bias_initializer,
                           depthwise_regularizer, pointwise_regularizer, bias_regularizer, trainable=trainable,
                           name=name, _reuse=reuse)(inputs)


def max_pooling1d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                  data_format: str = "channels_last", name: str | None = None) -> Any:
    return MaxPooling1D(pool_size, strides, padding, data_format, name)(inputs)


def average_pooling1d(inputs: Any, pool_size: Any, strides: Any, padding: str = "valid",
                      data_format: str = "channels_last", name: str | None = None) -> Any:
    return AveragePooling1D(pool_size, strides, padding, data_format, name)(inputs)


__all__ = ["AveragePooling1D", "Conv1D", "Conv2DTranspose", "MaxPooling1D", "SeparableConv2D",
           "average_pooling1d", "conv1d", "conv2d_transpose", "max_pooling1d", "separable_conv2d",
           "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten", "MaxPooling2D",
           "average_pooling2d", "batch_normalization", "conv2d", "dense", "dropout", "flatten", "max_pooling2d"]
