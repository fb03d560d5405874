"""Gradient averaging for data-parallel training: an ``MpiAllreduce`` graph op and the wiring around it.

Each rank computes the gradient of its own shard's mean loss. With shard weights
``w_r = n_r / n`` (``sum_r w_r = 1``), the gradient of the global batch's mean loss is

    dL/dθ = sum_r w_r · dL_r/dθ,

so every rank feeds ``w_r``, scales its gradients by it, and an MPI Allreduce (sum) gives all
ranks the same gradient; the optimizer then applies the same update everywhere, so weights and
optimizer slots stay identical without ever being broadcast. The L2 term is the same on every
rank and sums back to itself (``sum_r w_r = 1``).

Gradients travel in flat buckets (``concat`` of the flattened, weighted gradients, up to
``BUCKET_BYTES`` each, last layers first — the order the backward pass produces them), one
Allreduce per bucket, then ``split`` and ``reshape`` restore them. The last bucket also carries the
weighted loss (so every rank logs the global batch's loss) and a stop flag: a rank that received
SIGINT/SIGTERM feeds 1, and all ranks see the sum after the same step, so they stop together
instead of one waiting forever in the next Allreduce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnctl.graph import registry
from nnctl.graph.graph import Operation, Tensor

BUCKET_BYTES = 25 * 2**20   # PyTorch DDP's default bucket size


@registry.register_kernel("MpiAllreduce", stateful=True)
def _allreduce_kernel(op: Operation, ctx: Any) -> Any:
    from mpi4py import MPI

    from nnctl.distributed.ranks import world
    comm = world().comm
    be = ctx.backend

    # sum over ranks; the host buffer is the backend array itself on the CPU (to_host makes no copy)
    def run(x: Any, out: Any = None) -> Any:
        send = np.ascontiguousarray(be.to_host(x))
        if out is not None:
            host_out = be.to_host(out)
            if host_out is out and out.flags.c_contiguous:
                comm.Allreduce(send, out, op=MPI.SUM)
                return out
        recv = np.empty_like(send)
        comm.Allreduce(send, recv, op=MPI.SUM)
        if out is None:
            return be.asarray(recv)
        be.copyto(out, be.asarray(recv))
        return out
    return run


registry.not_differentiable("MpiAllreduce")


def allreduce_sum(x: Tensor, name: str | None = None) -> Tensor:
    """The elementwise sum of ``x`` over every rank of the job (a stateful op: never folded)."""
    from nnctl.ops.core import make_op
    return make_op("MpiAllreduce", [x], shape=x.static_shape, dtype=x.dtype, name=name or "MpiAllreduce")


@dataclass
class DataParallel:
    """What the trainer feeds and fetches in a data-parallel step."""
    shard_weight: Tensor   # placeholder: this rank's share n_r / n of the global batch
    stop_in: Tensor        # placeholder: 1.0 when this rank wants to stop (a signal arrived)
    stop_out: Tensor       # the sum of stop_in over ranks, after the step's Allreduce
    loss: Tensor           # the global batch's loss (identical on every rank)
    buckets: int


def _buckets(grads: list[Tensor]) -> list[list[int]]:
    """Indices of ``grads`` grouped into buckets of one dtype, last gradients first."""
    out: list[list[int]] = []
    cur: list[int] = []
    size = 0
    dtype = None
    for i in reversed(range(len(grads))):
        g = grads[i]
        nbytes = int(np.prod(g.static_shape)) * g.dtype.np.itemsize
        if cur and (size + nbytes > BUCKET_BYTES or g.dtype != dtype):
            out.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += nbytes
        dtype = g.dtype
    if cur:
        out.append(cur)
    return out


def allreduce_gradients(grads: list[Tensor], loss: Tensor) -> tuple[list[Tensor], DataParallel]:
    """Weighted gradients summed over ranks (see the module doc); returns new gradients and the feeds."""
    import nnctl as tf
    for g in grads:
        if g.static_shape is None or None in g.static_shape:
            raise ValueError(f"data-parallel training needs gradients of known shape; {g.name} has "
                             f"{g.static_shape}")
    with tf.name_scope("data_parallel"):
        w = tf.placeholder(tf.float32, (), name="shard_weight")
        stop_in = tf.placeholder(tf.float32, (), name="stop")
        out: list[Tensor | None] = [None] * len(grads)
        groups = _buckets(grads)
        loss_sum = stop_sum = None
        for b, idx in enumerate(groups):
            dt = grads[idx[0]].dtype
            wd = w if dt == tf.float32 else tf.cast(w, dt)
            parts = [tf.reshape(grads[i] * wd, [-1]) for i in idx]
            last = b == len(groups) - 1
            if last:
                parts += [tf.reshape(tf.cast(loss, dt) * wd, [1]), tf.reshape(tf.cast(stop_in, dt), [1])]
            flat = tf.concat(parts, 0, name=f"bucket_{b}")
            summed = allreduce_sum(flat, name=f"allreduce_{b}")
            sizes = [int(np.prod(grads[i].static_shape)) for i in idx] + ([1, 1] if last else [])
            pieces = tf.split(summed, sizes, axis=0)
            for i, piece in zip(idx, pieces):
                out[i] = tf.reshape(piece, list(grads[i].static_shape))
            if last:
                loss_sum = tf.cast(tf.reshape(pieces[-2], []), loss.dtype, name="loss")
                stop_sum = tf.cast(tf.reshape(pieces[-1], []), tf.float32, name="stop_sum")
    return list(out), DataParallel(w, stop_in, stop_sum, loss_sum, len(groups))
