"""Gradient-check rows for the array ops (see gradcheck_util.py).

Most array ops are linear, so their second-order check only means something when a nonlinearity
sits around them: many rows square the result, which sends the Hessian-vector product back through
the op's gradient rule and through the rule of that rule (GatherGrad, TileGrad, PadGrad ...).
"""

from __future__ import annotations

import numpy as np
from gradcheck_util import GradRow

import nnctl as tf
from nnctl.ops import array_ops as A
from nnctl.ops.core import make_op

_r = np.random.default_rng(2)


def _u(*shape, lo=-1.0, hi=1.0):
    return _r.uniform(lo, hi, size=shape)


def _as_shape(t, shape):
    """``t`` through an Identity that declares static ``shape``: with None entries it hides known
    dimensions (to test the run-time-shape paths); with ints it restores them for the objective."""
    return make_op("Identity", [t], shape=shape, dtype=t.dtype)


def _sq(t):
    return tf.square(t)


_IDX = np.array([2, 0, 2, 3, 2])  # repeated indices: the scatter-add must accumulate
_IDX2 = np.array([[1, 0], [1, 3], [2, 1]])

ROWS = [
    GradRow("identity", ("Identity",), lambda a: _sq(tf.identity(a)), [_u(3, 4)]),
    GradRow("reshape_minus_one", ("Reshape", "ReshapeLike"), lambda a: _sq(tf.reshape(a, [-1, 2])),
            [_u(3, 4)]),
    GradRow("reshape_like_direct", ("ReshapeLike",), lambda a, b: _sq(A.reshape_like(a, b)),
            [_u(3, 4), _u(2, 6)], wrt=(0,)),
    GradRow("expand_dims", ("ExpandDims",), lambda a: _sq(tf.expand_dims(a, -1)), [_u(3, 4)]),
    GradRow("squeeze", ("Squeeze",), lambda a: _sq(tf.squeeze(a, axis=[1])), [_u(3, 1, 4)]),
    GradRow("stack_axis1", ("Pack",), lambda a, b: _sq(tf.stack([a, b], axis=1)), [_u(3, 4), _u(3, 4)]),
    GradRow("unstack", ("StridedSlice", "Squeeze"), lambda a: [_sq(t) for t in tf.unstack(a, axis=1)],
            [_u(3, 4)]),
    GradRow("index_int", ("StridedSlice", "StridedSliceGrad"), lambda a: _sq(a[1]), [_u(3, 4)]),
    GradRow("index_slice", ("StridedSlice",), lambda a: _sq(a[:, 1:3]), [_u(3, 4)]),
    GradRow("index_newaxis_ellipsis", ("StridedSlice",), lambda a: _sq(a[..., None]) * a[None, 0],
            [_u(3, 4)]),
    GradRow("index_negative_step", ("StridedSlice",), lambda a: _sq(a[::-2, -3:]), [_u(5, 4)]),
    GradRow("strided_slice_grad_direct", ("StridedSliceGrad",),
            lambda dy, x: _sq(A.strided_slice_grad(dy, x, A._norm_index((slice(None), slice(1, 3))))),
            [_u(3, 2), _u(3, 4)], wrt=(0,)),
    GradRow("transpose_default", ("Transpose",), lambda a: _sq(A.transpose(a)), [_u(2, 3, 4)]),
    GradRow("transpose_perm", ("Transpose",), lambda a: _sq(A.transpose(a, [1, 2, 0])), [_u(2, 3, 4)]),
    GradRow("reverse", ("ReverseV2",), lambda a: _sq(A.reverse(a, [0, -1])), [_u(2, 3, 4)]),
    GradRow("slice", ("Slice",), lambda a: _sq(A.slice(a, [1, 0, 1], [-1, 2, 2])), [_u(3, 4, 5)]),
    GradRow("slice_unknown_dims", ("Slice",),
            lambda a: _sq(_as_shape(A.slice(_as_shape(a, (None, 4)), [1, 1], [-1, 2]), (2, 2))), [_u(3, 4)]),
    GradRow("concat_negative_axis", ("ConcatV2", "SplitV"), lambda a, b: _sq(A.concat([a, b, a * 2.0], -1)),
            [_u(3, 2), _u(3, 1)]),
    GradRow("concat_axis0", ("ConcatV2",), lambda a, b: _sq(A.concat([a, b], 0)), [_u(2, 3), _u(1, 3)]),
    GradRow("concat_one_unknown", ("ConcatV2", "SplitV"),
            lambda a, b: _sq(_as_shape(A.concat([_as_shape(a, (None, 3)), b], 0), (3, 3))),
            [_u(2, 3), _u(1, 3)]),
    GradRow("concat_unknown", ("ConcatV2", "SplitLike"),
            lambda a, b: _sq(_as_shape(A.concat([_as_shape(a, (None, 3)), _as_shape(b, (None, 3))], 0),
                                       (3, 3))),
            [_u(2, 3), _u(1, 3)]),
    GradRow("split_like_direct", ("SplitLike",), lambda v, p, q: [_sq(t) for t in A.split_like(v, [p, q], 1)],
            [_u(2, 5), _u(2, 2), _u(2, 3)], wrt=(0,)),
    GradRow("split_num", ("Split",), lambda a: [_sq(t) for t in A.split(a, 3, axis=1)], [_u(2, 6)]),
    GradRow("split_num_one_piece_used", ("Split",), lambda a: _sq(A.split(a, 3, axis=-1)[1]), [_u(2, 6)]),
    GradRow("split_sizes", ("SplitV",), lambda a: [_sq(t) for t in A.split(a, [1, -1, 2], axis=0)],
            [_u(6, 2)]),
    GradRow("split_sizes_unknown_dim", ("SplitV",),
            lambda a: [_sq(_as_shape(t, s)) for t, s in zip(A.split(_as_shape(a, (None, 2)), [1, -1], axis=0),
                                                             [(1, 2), (3, 2)])], [_u(4, 2)]),
    GradRow("gather_axis0_repeated", ("GatherV2", "GatherGrad"), lambda p: _sq(A.gather(p, _IDX)),
            [_u(4, 3)]),
    GradRow("gather_axis1_matrix_indices", ("GatherV2",), lambda p: _sq(A.gather(p, _IDX2, axis=1)),
            [_u(2, 4, 3)]),
    GradRow("gather_int64_indices", ("GatherV2",), lambda p: _sq(A.gather(p, _IDX.astype(np.int64), axis=-1)),
            [_u(2, 4)]),
    GradRow("gather_fed_indices", ("GatherV2",), lambda p, i: _sq(A.gather(p, i)),
            [_u(4, 3), np.array([3, 3, 1], dtype=np.int32)]),
    GradRow("gather_grad_direct", ("GatherGrad",),
            lambda dy, p: _sq(A.gather_grad(dy, tf.constant(_IDX), p, 0)), [_u(5, 3), _u(4, 3)], wrt=(0,)),
    GradRow("tile", ("Tile", "TileGrad"), lambda a: _sq(A.tile(a, [2, 1, 3])), [_u(2, 3, 2)]),
    GradRow("tile_unknown_dim", ("Tile",), lambda a: _sq(_as_shape(A.tile(_as_shape(a, (None, 3)), [3, 2]),
                                                                       (6, 6))), [_u(2, 3)]),
    GradRow("tile_grad_direct", ("TileGrad",), lambda dy, x: _sq(A.tile_grad(dy, x, (2, 3))),
            [_u(4, 6), _u(2, 2)], wrt=(0,)),
    GradRow("broadcast_to", ("BroadcastTo",), lambda a: _sq(A.broadcast_to(a, [2, 3, 4])), [_u(3, 1)]),
    GradRow("broadcast_to_same_size", ("BroadcastTo",), lambda a: _sq(A.broadcast_to(a, [1, 3, 4])),
            [_u(3, 4)]),
    GradRow("placeholder_with_default", ("PlaceholderWithDefault",),
            lambda a: _sq(tf.placeholder_with_default(a * 1.5, [3, 4])), [_u(3, 4)]),
]

_PADS = [[1, 2], [0, 3], [2, 1]]
for _mode in ("CONSTANT", "REFLECT", "SYMMETRIC"):
    _m = _mode.lower()
    ROWS += [
        GradRow(f"pad_{_m}", ("Pad", "PadGrad"),
                lambda a, m=_mode: _sq(A.pad(a, _PADS, m, constant_values=0.5)), [_u(3, 4, 4)]),
        GradRow(f"pad_{_m}_unknown_dim", ("Pad",),
                lambda a, m=_mode: _sq(_as_shape(A.pad(_as_shape(a, (None, 4)), [[2, 2], [1, 3]], m),
                                                 (8, 8))),
                [_u(4, 4)]),
        GradRow(f"pad_grad_{_m}_direct", ("PadGrad",),
                lambda dy, x, m=_mode: _sq(A.pad_grad(dy, x, tuple(map(tuple, _PADS)), m)),
                [_u(6, 7, 7), _u(3, 4, 4)], wrt=(0,)),
    ]

# fill with a tensor value: every element is the value, so its gradient is sum(dy)
ROWS.append(GradRow("fill_tensor_value", ("Fill",), lambda v: _sq(tf.fill([2, 3], v) * v), [np.array(0.7)]))
