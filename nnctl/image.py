"""``tf.image``: the resize ops (nearest-neighbour and bilinear, TF1's coordinate rules)."""

from __future__ import annotations

from nnctl.ops import image_grad as _image_grad  # noqa: F401  (registers the gradient rules)
from nnctl.ops.image_ops import ResizeMethod, resize_bilinear, resize_images, resize_nearest_neighbor

__all__ = ["ResizeMethod", "resize_bilinear", "resize_images", "resize_nearest_neighbor"]
