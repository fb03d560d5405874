"""The layer library: one class per layer type, registered under its config name.

Importing this package imports every family module, which registers its classes; the builder
(nnctl/builder.py), the config validator, the model summary and ``tf.layers`` all look layer
types up with :func:`layer_types` / :func:`layer_class`. See docs/architecture.md, "Adding a layer".
The package is also ``tf.layers`` (``import nnctl as tf; tf.layers.dense(...)``): it exports TF1's
layer functions and classes from :mod:`nnctl.layers.tf1`.
"""

from nnctl.layers import (  # noqa: F401  (importing a family module registers its layers)
    attention,
    conv,
    core,
    embedding,
    merge,
    normalization,
    pooling,
    recurrent,
)
from nnctl.layers.base import Context, Key, Layer, LayerError, layer_class, layer_types, register

# `tf.layers` is this package: TF1's layer functions and classes, on the same layer objects
from nnctl.layers.tf1 import (
    AveragePooling1D,
    AveragePooling2D,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Dense,
    Dropout,
    Flatten,
    MaxPooling1D,
    MaxPooling2D,
    SeparableConv2D,
    average_pooling1d,
    average_pooling2d,
    batch_normalization,
    conv1d,
    conv2d,
    conv2d_transpose,
    dense,
    dropout,
    flatten,
    max_pooling1d,
    max_pooling2d,
    separable_conv2d,
)

__all__ = ["Context", "Key", "Layer", "LayerError", "layer_class", "layer_types", "register",
           "AveragePooling2D", "BatchNormalization", "Conv2D", "Dense", "Dropout", "Flatten", "MaxPooling2D",
           "average_pooling2d", "batch_normalization", "conv2d", "dense", "dropout", "flatten", "max_pooling2d",
           "AveragePooling1D", "Conv1D", "Conv2DTranspose", "MaxPooling1D", "SeparableConv2D", "average_pooling1d",
           "conv1d", "conv2d_transpose", "max_pooling1d", "separable_conv2d"]
