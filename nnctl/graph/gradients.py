"""Symbol-to-symbol reverse-mode differentiation: ``tf.gradients``.

Walks the graph backwards from ``ys``. For each operation on a path from ``xs`` to ``ys`` it sums the
gradients arriving at its outputs and calls the op type's gradient rule, which *adds graph nodes*
(dz/dy, dy/dx, dx/dw in the seed's figure). The results are ordinary tensors, so they can be fetched,
drawn, or differentiated again. Checks live here, not in each rule: arity, static shapes, and a
missing rule (LookupError naming the op).
"""

from __future__ import annotations

from typing import Any

from nnctl.graph import registry
from nnctl.graph.graph import GRADIENT, Operation, Tensor
from nnctl.graph.tensor_shape import fmt_shape, shapes_compatible


def _as_list(x: Any) -> tuple[list, bool]:
    if isinstance(x, (list, tuple)):
        return list(x), True
    return [x], False


def _differentiable_dtype(t: Tensor) -> bool:
    return t.dtype.is_floating


def gradients(ys: Any, xs: Any, grad_ys: Any = None, name: str = "gradients",
              colocate_gradients_with_ops: bool = False, gate_gradients: bool = False,
              aggregation_method: Any = None, stop_gradients: Any = None) -> list[Tensor | None]:
    """Return d(sum(ys))/dx for each x in xs, as graph tensors (None where unconnected)."""
    from nnctl.ops import array_ops, math_ops
    from nnctl.ops.state_ops import as_tensor_like

    ys, _ = _as_list(ys)
    xs, _ = _as_list(xs)
    ys = [as_tensor_like(y) for y in ys]
    xs = [as_tensor_like(x) for x in xs]
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    else:
        grad_ys, _ = _as_list(grad_ys)
        if len(grad_ys) != len(ys):
            raise ValueError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    stops = {id(as_tensor_like(s)) for s in (_as_list(stop_gradients)[0] if stop_gradients is not None else [])}
    if not ys:
        return [None] * len(xs)
    graph = ys[0].graph

    # Ops reachable forward from xs, and backward from ys: the ones whose gradients we need.
    x_ids = {id(x) for x in xs}
    reach_fwd: set[int] = set()
    stack = [c for x in xs for c in x._consumers]
    while stack:
        op = stack.pop()
        if id(op) in reach_fwd:
            continue
        reach_fwd.add(id(op))
        for t in op.outputs:
            if id(t) in stops:
                continue
            stack.extend(t._consumers)
    between: dict[int, Operation] = {}
    stack = [y.op for y in ys]
    seen: set[int] = set()
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if id(op) in reach_fwd:
            between[id(op)] = op
            for t in op.inputs:
                if id(t) not in x_ids and id(t) not in stops:
                    stack.append(t.op)

    y_ids = {id(y) for y in ys}
    # pending[op] = number of consuming edges (from ops in `between`) not yet processed
    pending: dict[int, int] = {}
    for op in between.values():
        for t in op.inputs:
            if id(t.op) in between and id(t) not in x_ids and id(t) not in stops:
                pending[id(t.op)] = pending.get(id(t.op), 0) + 1

    grads: dict[int, list[Tensor]] = {}
    joined: dict[tuple, Tensor] = {}
    # gradient term id -> creation index of the forward op whose backprop made it: the sum rules
    # stack their terms in the forward order of those ops (an unrolled RNN's steps in time),
    # whatever order the backprop visited them in
    origin: dict[int, int] = {}
    visiting: list[int] = [0]

    def concat(ts: list[Tensor], axis: int) -> Tensor:
        key = (tuple(id(t) for t in ts), axis)
        if key not in joined:
            joined[key] = array_ops.concat(ts, axis)
        return joined[key]

    def add_grad(t: Tensor, g: Tensor | None) -> None:
        if g is not None:
            grads.setdefault(id(t), []).append(g)
            origin.setdefault(id(g), visiting[0])

    def aggregate(t: Tensor) -> Tensor | None:
        gs = grads.get(id(t))
        if not gs:
            return None
        if len(gs) == 1:
            return gs[0]
        g = _combined_sum(gs, concat, origin)
        if g is None:
            g = math_ops.add_n(gs)
        grads[id(t)] = [g]
        return g

    with graph.role(GRADIENT), graph.name_scope(name):
        for y, gy in zip(ys, grad_ys):
            if gy is None:
                if not _differentiable_dtype(y):
                    raise TypeError(f"gradients: ys must be floating point, got {y.name} of {y.dtype.name}")
                gy = array_ops.ones_like(y, name=f"grad_ys_{len(grads)}")
            else:
                gy = as_tensor_like(gy, dtype=y.dtype)
            add_grad(y, gy)

        ready = [op for op in {id(y.op): y.op for y in ys}.values() if pending.get(id(op), 0) == 0]
        done: set[int] = set()
        while ready:
            op = ready.pop()
            if id(op) in done:
                continue
            done.add(id(op))
            if id(op) in between:
                visiting[0] = op._id
                _backprop_op(op, aggregate, add_grad, x_ids, stops, between, y_ids)
            for t in op.inputs:
                src = t.op
                if id(src) in between and id(t) not in x_ids and id(t) not in stops:
                    pending[id(src)] -= 1
                    if pending[id(src)] == 0:
                        ready.append(src)

        return [aggregate(x) for x in xs]


# Below this many terms AddN is kept: joining the operands costs copies that only pay off when they
# replace many small products (an unrolled RNN's per-step weight gradients).
MIN_COMBINED_TERMS = 4


def _combined_sum(gs: list[Tensor], concat: Any, origin: dict[int, int]) -> Tensor | None:
    """The sum of ``gs`` as one op where every term is the first output of an op of one type whose
    registry entry has a ``sum_rule`` and nothing reads the terms yet (else None: AddN). An
    unrolled RNN's weight gradient sum_t x_t^T dy_t becomes one product of the stacked x_t and dy_t
    (one large GEMM in place of T small ones and a T-way AddN)."""
    if len(gs) < MIN_COMBINED_TERMS:
        return None
    ops = [g.op for g in gs]
    d = registry.op_def(ops[0].type)
    if d is None or d.sum_rule is None:
        return None
    if any(o.type != ops[0].type or g is not o.outputs[0] or g._consumers for g, o in zip(gs, ops)):
        return None
    if len({id(o) for o in ops}) != len(ops):
        return None
    # the terms in the forward order of the ops whose backprop made them (``origin``: an unrolled
    # RNN's steps forward in time), for every rule alike: the stacked operands are then the same
    # concatenation as the other gradients of those steps (the bias's, the hoisted input
    # projection's), which a bound plan computes once, in place (runtime/plan.py)
    order = sorted(range(len(ops)), key=lambda i: origin.get(id(gs[i]), 0))
    return d.sum_rule([ops[i] for i in order], concat)


def _subgraph(op: Operation, d: Any, x_ids: set[int], stops: set[int], between: dict[int, Operation],
              y_ids: set[int]) -> Any:
    """The op's subgraph rule where it applies here: the root has one output, and the interior's
    values are differentiated by nothing but the interior (no interior tensor is an x, a y, a stop
    or read by another op on a path to ys) while every tensor the interior reads from outside,
    other than the rule's inputs, needs no gradient (its op is on no path from xs)."""
    if d.subgraph_grad is None or len(op.outputs) != 1:
        return None
    sub = d.subgraph_grad(op)
    if sub is None:
        return None
    inner = {id(o) for o in sub.interior}
    if any(id(o) not in between for o in sub.interior):
        return None
    wrt = {id(t) for t in sub.inputs}
    for o in sub.interior:
        for t in o.outputs:
            if o is not op and (id(t) in x_ids or id(t) in y_ids or id(t) in stops
                                or any(id(c) in between and id(c) not in inner for c in t._consumers)):
                return None
        for t in o.inputs:
            if id(t.op) not in inner and id(t) not in wrt and (id(t) in x_ids or id(t.op) in between
                                                                and id(t) not in stops):
                return None
    return sub


def _backprop_op(op: Operation, aggregate, add_grad, x_ids: set[int], stops: set[int],
                 between: dict[int, Operation], y_ids: set[int]) -> None:
    out_grads = [aggregate(t) if _differentiable_dtype(t) else None for t in op.outputs]
    if all(g is None for g in out_grads):
        return
    d = registry.op_def(op.type)
    if d is not None and not d.differentiable:
        return
    if d is None or d.grad is None:
        raise LookupError(f"No gradient defined for operation '{op.name}' (op type: {op.type})")
    from nnctl.ops import array_ops
    graph = op.graph
    sub = _subgraph(op, d, x_ids, stops, between, y_ids)
    if sub is not None:
        # one rule for the subgraph: its interior ops then get no gradient and add nothing
        targets = sub.inputs
        with graph.name_scope(op.name + "_grad"):
            in_grads = sub.rule(out_grads[0])
    else:
        targets = op.inputs
        dys = out_grads if d.grad_takes_none else [
            g if g is not None else (array_ops.zeros_like(t) if _differentiable_dtype(t) else None)
            for g, t in zip(out_grads, op.outputs)]
        with graph.name_scope(op.name + "_grad"):
            in_grads = d.grad(op, *dys)
        if not isinstance(in_grads, (list, tuple)):
            in_grads = [in_grads]
    if len(in_grads) != len(targets):
        raise ValueError(f"gradient rule of {op.type} returned {len(in_grads)} gradients for "
                         f"{len(targets)} inputs of {op.name}")
    for t, g in zip(targets, in_grads):
        if g is None or not _differentiable_dtype(t) or id(t) in stops:
            continue
        if not shapes_compatible(t.static_shape, g.static_shape):
            raise ValueError(f"gradient of {op.type} '{op.name}' for input {t.name}: shape "
                             f"{fmt_shape(g.static_shape)} does not match input shape {fmt_shape(t.static_shape)}")
        if g.dtype != t.dtype:
            raise TypeError(f"gradient of {op.type} '{op.name}' for input {t.name}: dtype {g.dtype.name} "
                            f"does not match input dtype {t.dtype.name}")
        add_grad(t, g)


def hessians(ys: Any, xs: Any, name: str = "hessians") -> list[Tensor]:
    """Hessian of sum(ys) w.r.t. each x (x flattened), built as gradients of gradients."""
    from nnctl.ops import array_ops
    xs, _ = _as_list(xs)
    out = []
    for x in xs:
        (g,) = gradients(ys, [x], name=name)
        if g is None:
            raise ValueError(f"hessians: {x.name} does not affect ys")
        n = 1
        for dim in x.static_shape or ():
            if dim is None:
                raise ValueError("hessians needs fully defined shapes")
            n *= dim
        flat = array_ops.reshape(g, [n])
        rows = []
        for i in range(n):
            (h,) = gradients(flat[i], [x], name=name)
            rows.append(array_ops.reshape(h if h is not None else array_ops.zeros_like(x), [n]))
        out.append(array_ops.reshape(array_ops.stack(rows), list(x.static_shape) * 2))
    return out
