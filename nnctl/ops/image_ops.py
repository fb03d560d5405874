"""Image resizing (``tf.image``): nearest-neighbour and bilinear, with TF1's coordinate rules.

Both resizes are linear and separable: out[n] = Rh @ x[n] @ Rw^T per channel, with interpolation
matrices Rh [out_h, in_h] and Rw [out_w, in_w] built once per shape on the host. The kernel is two
batched GEMMs; the gradient (TF's ResizeBilinearGrad / ResizeNearestNeighborGrad) is the same
kernel with the transposed matrices, and the gradient of the gradient is the resize again.

The source coordinate of output pixel i follows TF1 (nearest in float32 as TF computes it, since
rounding decides which pixel is copied; bilinear in float64, where TF's float32 only adds rounding):

- scale = (in - 1) / (out - 1) with ``align_corners`` (and out > 1), else in / out;
- bilinear: src = (i + 0.5) * scale - 0.5 with ``half_pixel_centers``, else i * scale; it blends
  rows lower = max(floor(src), 0) and upper = min(ceil(src), in - 1) with weight src - floor(src);
- nearest: src = (i + 0.5) * scale with ``half_pixel_centers``, else i * scale; the row is
  min(round(src) if align_corners else floor(src), in - 1), and at least 0 (round: half away from 0).

``align_corners`` and ``half_pixel_centers`` together are an error, as in TF.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor, name_scope
from nnctl.graph.tensor_shape import fmt_shape
from nnctl.ops import array_ops
from nnctl.ops import nn_ops as nn
from nnctl.ops.core import convert_to_tensor, make_op

_KINDS = {"ResizeBilinear": "bilinear", "ResizeNearestNeighbor": "nearest"}


def _scale(n_in: int, n_out: int, align_corners: bool) -> np.float32:
    if align_corners and n_out > 1:
        return np.float32(n_in - 1) / np.float32(n_out - 1)
    return np.float32(n_in) / np.float32(n_out)


def interpolation_matrix(kind: str, n_in: int, n_out: int, align_corners: bool,
                         half_pixel_centers: bool) -> np.ndarray:
    """R [n_out, n_in] (float64) with out = R @ in along one axis, by TF1's rules (module docstring)."""
    r = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if kind == "bilinear":
        # float64 here (TF: float32): the blend is continuous in src, so this only removes rounding
        if align_corners and n_out > 1:
            scale = (n_in - 1) / (n_out - 1)
        else:
            scale = n_in / n_out
        i = np.arange(n_out, dtype=np.float64)
        src = (i + 0.5) * scale - 0.5 if half_pixel_centers else i * scale
        fl = np.floor(src)
        lower = np.maximum(fl, 0).astype(np.int64)
        upper = np.minimum(np.ceil(src), n_in - 1).astype(np.int64)
        lerp = src - fl
        np.add.at(r, (rows, lower), 1.0 - lerp)
        np.add.at(r, (rows, upper), lerp)
        return r
    # nearest: a discontinuous choice, so float32 exactly as TF computes it
    scale = _scale(n_in, n_out, align_corners)
    i = np.arange(n_out, dtype=np.float32)
    src = (i + np.float32(0.5)) * scale if half_pixel_centers else i * scale
    idx = np.floor(src + np.float32(0.5)) if align_corners else np.floor(src)
    idx = np.minimum(idx, n_in - 1)
    if half_pixel_centers:
        idx = np.maximum(idx, 0)
    r[rows, idx.astype(np.int64)] = 1.0
    return r


def _size_arg(size: Any, desc: str) -> tuple[int, int]:
    if isinstance(size, Tensor) or hasattr(size, "_as_graph_element"):
        t = convert_to_tensor(size)
        if t.op.type != "Const":
            raise TypeError(f"{desc}: size must be known when the graph is built (a list [height, width] or a "
                            f"constant), got {t.name} ({t.op.type})")
        size = t.op.attrs["value"]
    vals = [int(v) for v in np.asarray(size).reshape(-1)]
    if len(vals) != 2 or min(vals) < 1:
        raise ValueError(f"{desc}: size must be [new_height, new_width] with positive entries, got {vals}")
    return vals[0], vals[1]


def _resize(op_type: str, images: Any, size: Any, align_corners: bool, half_pixel_centers: bool,
            name: str | None) -> Tensor:
    desc = nn._desc(op_type, name)
    x = nn._float_input(images, op_type, name, "images")
    xs = x.static_shape
    if xs is not None and len(xs) not in (3, 4):
        raise ValueError(f"{desc}: images must be 4-D [batch, height, width, channels] or 3-D [height, width, "
                         f"channels], got shape {fmt_shape(xs)} ({x.name})")
    if align_corners and half_pixel_centers:
        raise ValueError(f"{desc}: if half_pixel_centers is True, align_corners must be False")
    oh, ow = _size_arg(size, desc)
    attrs = {"size": (oh, ow), "align_corners": bool(align_corners), "half_pixel_centers": bool(half_pixel_centers)}
    if xs is not None and len(xs) == 3:
        with name_scope(name or op_type):
            return array_ops.squeeze(resize_op(op_type, array_ops.expand_dims(x, 0), attrs), [0])
    return resize_op(op_type, x, attrs, name)


def resize_op(op_type: str, x: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """The ResizeBilinear / ResizeNearestNeighbor op on a 4-D tensor; attrs size, align_corners,
    half_pixel_centers."""
    xs = x.static_shape
    shape = None if xs is None else (xs[0], attrs["size"][0], attrs["size"][1], xs[3])
    return make_op(op_type, [x], attrs=dict(attrs), shape=shape, dtype=x.dtype, name=name)


def resize_grad(op_type: str, dy: Tensor, x_like: Tensor, attrs: dict, name: str | None = None) -> Tensor:
    """ResizeBilinearGrad / ResizeNearestNeighborGrad(dy, x_like): the adjoint resize (x_like: its shape)."""
    return make_op(op_type + "Grad", [dy, x_like], attrs=dict(attrs), shape=x_like.static_shape, dtype=dy.dtype,
                   name=name)


def resize_bilinear(images: Any, size: Any, align_corners: bool = False, name: str | None = None,
                    half_pixel_centers: bool = False) -> Tensor:
    """``tf.image.resize_bilinear`` (TF1): bilinear interpolation to ``size`` = [new_height, new_width]."""
    return _resize("ResizeBilinear", images, size, align_corners, half_pixel_centers, name)


def resize_nearest_neighbor(images: Any, size: Any, align_corners: bool = False, name: str | None = None,
                            half_pixel_centers: bool = False) -> Tensor:
    """``tf.image.resize_nearest_neighbor`` (TF1): each output pixel copies one input pixel."""
    return _resize("ResizeNearestNeighbor", images, size, align_corners, half_pixel_centers, name)


class ResizeMethod:
    """TF1's ``tf.image.ResizeMethod`` constants (the two nnctl implements)."""

    BILINEAR = 0
    NEAREST_NEIGHBOR = 1


def resize_images(images: Any, size: Any, method: Any = ResizeMethod.BILINEAR, align_corners: bool = False,
                  preserve_aspect_ratio: bool = False, name: str | None = None) -> Tensor:
    """``tf.image.resize_images`` (TF1) for the bilinear and nearest-neighbour methods."""
    kinds = {0: resize_bilinear, "bilinear": resize_bilinear, 1: resize_nearest_neighbor,
             "nearest": resize_nearest_neighbor}
    fn = kinds.get(method)
    if fn is None:
        raise ValueError(f"resize_images: method {method!r} is not supported; use ResizeMethod.BILINEAR or "
                         "ResizeMethod.NEAREST_NEIGHBOR")
    if preserve_aspect_ratio:
        raise ValueError("resize_images: preserve_aspect_ratio=True is not supported")
    return fn(images, size, align_corners=align_corners, name=name)


def _make_resize_kernel(op: Operation, ctx: Any, adjoint: bool) -> Any:
    """out = Rh @ x @ Rw^T (adjoint: Rh^T @ dy @ Rw) as two batched GEMMs over [N, H, W*C] and [N, OH, W, C]."""
    xp = ctx.xp
    kind = _KINDS[op.type[:-4] if adjoint else op.type]
    a = op.attrs
    mats: dict[tuple, tuple] = {}

    def matrices(in_hw: tuple, dtype: Any) -> tuple:
        key = (in_hw, np.dtype(dtype))
        m = mats.get(key)
        if m is None:
            rh = interpolation_matrix(kind, in_hw[0], a["size"][0], a["align_corners"], a["half_pixel_centers"])
            rw = interpolation_matrix(kind, in_hw[1], a["size"][1], a["align_corners"], a["half_pixel_centers"])
            if adjoint:
                rh, rw = rh.T, rw.T
            m = mats[key] = (xp.asarray(np.ascontiguousarray(rh), dtype=dtype),
                             xp.asarray(np.ascontiguousarray(rw), dtype=dtype))
        return m

    def run(x: Any, like: Any = None, out: Any = None) -> Any:
        n, h, w, c = x.shape
        in_hw = (like.shape[1], like.shape[2]) if adjoint else (h, w)
        rh, rw = matrices(in_hw, x.dtype)
        oh = rh.shape[0]
        t = xp.matmul(rh, xp.ascontiguousarray(x).reshape(n, h, w * c)).reshape(n, oh, w, c)
        if out is not None and out.flags.c_contiguous:
            xp.matmul(rw, t, out=out)
            return out
        r = xp.matmul(rw, t)
        if out is None:
            return r
        xp.copyto(out, r)
        return out
    return run


def _resize_factory(op: Operation, ctx: Any) -> Any:
    kernel = _make_resize_kernel(op, ctx, False)

    def run(x: Any, out: Any = None) -> Any:
        return kernel(x, out=out)
    return run


def _resize_grad_factory(op: Operation, ctx: Any) -> Any:
    return _make_resize_kernel(op, ctx, True)


for _t in _KINDS:
    registry.register_kernel(_t)(_resize_factory)
    registry.register_kernel(_t + "Grad", shape_inputs=(1,))(_resize_grad_factory)
