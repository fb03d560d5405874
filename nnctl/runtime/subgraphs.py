"""Subgraph kernels: a bound plan's subgraph that a registry rule recognizes, run as one step.

A TF1 layer norm is written with tf.nn.moments:

    mean, var = tf.nn.moments(h, axes=[-1], keep_dims=True)
    y = (h - mean) * tf.rsqrt(var + eps) * gamma + beta

ten ops, five passes over h (two means, a squared difference, the rsqrt's row values, the affine
chain). Its rule (``OpDef.subgraph_kernel`` of the root op type, registered in
ops/layer_norm_ops.py) matches that subgraph and binds one compiled row loop computing y, mean and
rsqrt: one pass, the same bits as the ops run one by one (the tests compare them with the
allocating first run, which always runs op by op).

A match becomes a region of the bound plan (``plan``) when it is safe to run all of it at the
root's place:

- every interior op is in the plan and in no other region (or CSE merged it into another interior
  op: a hand-written layer norm's x - mean written twice);
- an interior tensor other than the rule's outputs is read by interior ops only (or, after the
  root, for its shape only) and not fetched; the outputs are read elsewhere only by ops after the
  root;
- no variable update or side effect runs between the region's first op and its root (their reads
  must not move past it), no output is a folded constant, and the inputs the rule reads at bind
  time (``const_inputs``) are folded constants.

Where the bound buffers do not suit the rule's kernel (``bind`` gives None) the plan binds the ops
one by one at the root's place instead. It applies on host memory with compiled kernels enabled
(NNCTL_JIT=0 turns it off, as every compiled loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nnctl.graph.registry import SubgraphKernel
from nnctl.runtime.native import enabled


@dataclass
class Region:
    """A matched subgraph of a plan: its execs in plan order (the root last), the tensors it reads
    and writes as the plan names them (after CSE), and the interior tensors that ops outside read
    for their shape only (the bind gives them a placeholder of their shape)."""
    rule: SubgraphKernel
    execs: list[Any]
    inputs: list[Any]
    outputs: list[Any]
    shaped: list[Any]


def available(backend: Any) -> bool:
    """Regions may be bound for this backend's arrays."""
    return bool(backend.host_memory) and enabled()


def plan(execs: list[Any], constvals: dict[int, Any], fetch_ids: set[int], alias: dict[int, Any]
         ) -> dict[int, Region]:
    """The regions of a plan about to be bound: id(root op) -> Region (see the module doc)."""
    position = {id(ex.op): i for i, ex in enumerate(execs)}
    readers: dict[int, list[int]] = {}
    for i, ex in enumerate(execs):
        for t in ex.ins:
            readers.setdefault(id(t), []).append(i)
    barriers = [i for i, ex in enumerate(execs) if ex.kind in ("mutate", "effect")]
    taken: set[int] = set()
    regions: dict[int, Region] = {}
    for hi, ex in enumerate(execs):
        matcher = ex.d.subgraph_kernel if ex.d is not None else None
        rule = matcher(ex.op) if matcher is not None else None
        if rule is None:
            continue
        region = _region(rule, hi, execs, position, readers, barriers, taken, constvals, fetch_ids, alias)
        if region is not None:
            regions[id(ex.op)] = region
            taken.update(id(e.op) for e in region.execs)
    return regions


def _region(rule: SubgraphKernel, hi: int, execs: list[Any], position: dict[int, int],
            readers: dict[int, list[int]], barriers: list[int], taken: set[int], constvals: dict[int, Any],
            fetch_ids: set[int], alias: dict[int, Any]) -> Region | None:
    members = {id(op) for op in rule.interior}
    # an interior op that CSE merged into another interior op (x - mean written twice) is that op
    for op in rule.interior:
        if id(op) not in position and all(
                id(alias.get(id(t), t).op) in members and id(alias.get(id(t), t).op) in position for t in op.outputs):
            members.discard(id(op))
    if any(m not in position or m in taken for m in members) or id(execs[hi].op) not in members:
        return None
    where = sorted(position[m] for m in members)
    if where[-1] != hi or any(where[0] < b < hi for b in barriers):
        return None
    outputs = [alias.get(id(t), t) for t in rule.outputs]
    out_ids = {id(t) for t in outputs}
    shaped = []
    for i in where:
        ex = execs[i]
        if ex.kind not in ("compute", "view"):
            return None
        for t in ex.op.outputs:
            outside = [r for r in readers.get(id(t), ()) if id(execs[r].op) not in members]
            if id(t) in out_ids:
                if id(t) in constvals or any(r < hi for r in outside):
                    return None
            elif id(t) in fetch_ids or any(r < hi or not _shape_only(execs[r], t) for r in outside):
                return None
            elif outside:
                shaped.append(t)
    if not out_ids <= {id(t) for i in where for t in execs[i].op.outputs}:
        return None
    inputs = [alias.get(id(t), t) for t in rule.inputs]
    if any(id(inputs[j]) not in constvals for j in rule.const_inputs):
        return None
    return Region(rule, [execs[i] for i in where], inputs, outputs, shaped)


def _shape_only(ex: Any, t: Any) -> bool:
    """``ex`` reads ``t`` for its shape only (its registry entry's shape_inputs)."""
    skip = ex.d.shape_inputs if ex.d is not None else ()
    return all(j in skip for j, u in enumerate(ex.ins) if u is t)
