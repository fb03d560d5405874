"""The layer library: one class per layer type, registered under its config name.

Importing this package imports every family module, which registers its classes; the builder
(nnctl/builder.py), the config validator, the model summary and ``tf.layers`` all look layer
types up with :func:`layer_types` / :func:`layer_class`. See docs/architecture.md, "Adding a layer".
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

__all__ = ["Context", "Key", "Layer", "LayerError", "layer_class", "layer_types", "register"]
