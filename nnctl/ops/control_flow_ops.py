"""Control flow: ``tf.cond``, ``tf.case``, ``tf.while_loop``, ``tf.map_fn``.

The mechanism (docs/architecture.md, "Control flow"): a branch or loop body is an ordinary piece of
the graph, built by calling the Python function once, as TF1 does. The ops it created form a
*subgraph* that only its control-flow op can run: the ``Cond`` op's inputs are the predicate and
the tensors the branches read from outside (their *captures*), never the branch ops themselves, so
the plan compiler's pruning leaves the branch ops out of the main plan. At run time the Cond
kernel runs exactly one branch's subgraph (allocating kernels, on the plan's context, so the dry
run works on copies as everywhere else) and returns its outputs. ``While`` does the same with a
condition and a body subgraph, fed with the loop variables, until the condition is false.

Gradients stay symbol to symbol. The gradient of a Cond is another Cond on the same predicate whose
branches are the gradient graphs of the forward branches. Those gradient graphs read tensors from
inside the forward branch (an activation, a dropout mask); they are not recomputed: every Cond
*stashes* the values its branch produced in the session's context, and a subgraph that reads a
tensor owned by another control-flow op takes it from that op's stash (with a control dependency
that orders the two). The gradient of a While is a ``WhileGrad`` op that runs the body's gradient
graph once per iteration, in reverse, on the per-iteration stashes the forward loop recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.errors import InvalidArgumentError
from nnctl.graph import registry
from nnctl.graph.graph import Graph, Operation, Tensor, get_default_graph
from nnctl.graph.tensor_shape import TensorShape, as_shape_tuple, fmt_shape, shapes_compatible
from nnctl.ops.core import convert_to_tensor
from nnctl.runtime.context import Uninitialized

# --- nested structures (lists, tuples, dicts, namedtuples of tensors) ---------------------------


def _flatten(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flatten(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flatten(item)]
    return [x]


def _pack(structure: Any, flat: list[Any]) -> Any:
    it = iter(flat)

    def rebuild(s: Any) -> Any:
        if isinstance(s, dict):
            return {k: rebuild(s[k]) for k in sorted(s)} if type(s) is dict else type(s)(
                (k, rebuild(s[k])) for k in sorted(s))
        if isinstance(s, (list, tuple)):
            vals = [rebuild(v) for v in s]
            if isinstance(s, list):
                return vals
            return type(s)(*vals) if hasattr(s, "_fields") else tuple(vals)
        return next(it)
    return rebuild(structure)


# --- subgraphs ---------------------------------------------------------------------------------

def _owners(graph: Graph) -> dict[int, Operation]:
    """op id -> the control-flow op whose subgraph it belongs to."""
    d = getattr(graph, "_cf_owner", None)
    if d is None:
        d = graph._cf_owner = {}
    return d


class Subgraph:
    """Ops that compute ``outputs`` from ``feeds`` (loop variables) and outside tensors.

    ``captures``: outside tensors the control-flow op takes as inputs. ``stashed``: tensors owned
    by another control-flow op, read from that op's stash. ``order``: the ops to run, in creation
    order (which is topological)."""

    def __init__(self, graph: Graph, created: Sequence[Operation], outputs: Sequence[Tensor],
                 feeds: Sequence[Tensor] = (), targets: Sequence[Operation] = ()) -> None:
        feed_ops = {id(t.op) for t in feeds}
        created_ids = {id(op) for op in created if id(op) not in feed_ops}
        owners = _owners(graph)
        needed: dict[int, Operation] = {}
        stack = [t.op for t in outputs if id(t.op) in created_ids] + [op for op in targets if id(op) in created_ids]
        while stack:
            op = stack.pop()
            if id(op) in needed:
                continue
            needed[id(op)] = op
            for t in op.inputs:
                if id(t.op) in created_ids:
                    stack.append(t.op)
            for c in op.control_inputs:
                if id(c) in created_ids:
                    stack.append(c)
        self.order = sorted(needed.values(), key=lambda op: op._id)
        self.outputs = list(outputs)
        self.feeds = list(feeds)
        feed_ids = {id(t) for t in feeds}
        self.captures: list[Tensor] = []
        self.stashed: dict[int, Operation] = {}   # tensor id -> owning control-flow op
        self.outer_control: list[Operation] = []
        seen: set[int] = set()

        def outside(t: Tensor) -> None:
            if id(t) in feed_ids or id(t.op) in needed or id(t) in seen:
                return
            seen.add(id(t))
            owner = owners.get(id(t.op))
            if owner is not None:
                self.stashed[id(t)] = owner
            else:
                self.captures.append(t)
        for op in self.order:
            for t in op.inputs:
                outside(t)
            for c in op.control_inputs:
                if id(c) not in needed and c not in self.outer_control:
                    self.outer_control.append(c)
        for t in self.outputs:
            outside(t)
        self.ops = needed

    def stash_owners(self) -> list[Operation]:
        out: list[Operation] = []
        for o in self.stashed.values():
            if o not in out:
                out.append(o)
        return out


def _stash(ctx: Any) -> dict[str, Any]:
    s = getattr(ctx, "_cf_stash", None)
    if s is None:
        s = ctx._cf_stash = {}
    return s


def run_subgraph(sub: Subgraph, ctx: Any, kernels: dict[int, Any], values: dict[int, Any]) -> dict[int, Any]:
    """Run ``sub`` with ``values`` (captures and feeds, by tensor id) on ``ctx``; returns every value."""
    from nnctl.runtime.plan import Plan, _op_failure, check_initialized, kernel_outputs
    stash = _stash(ctx)
    for tid, owner in sub.stashed.items():
        if tid in values:  # given by the caller (WhileGrad passes each iteration's values)
            continue
        src = stash.get(owner.name)
        if src is None or tid not in src:
            raise InvalidArgumentError(None, owner, f"{owner.type} '{owner.name}' has not run in this session.run, "
                                                    "but a gradient reads the values it computed; fetch the "
                                                    "forward op too")
        values[tid] = src[tid]
    for op in sub.order:
        ins = [values[id(t)] for t in op.inputs]
        check_initialized(op, ins)
        fn = kernels.get(id(op))
        if fn is None:
            fn = kernels[id(op)] = Plan._make_kernel(op, ctx)
        try:
            res = fn(*ins)
        except InvalidArgumentError:
            raise
        except Exception as e:
            from nnctl.errors import OpError
            if isinstance(e, OpError):
                raise
            raise _op_failure(op, e) from None
        for t, v in zip(op.outputs, kernel_outputs(op, res)):
            values[id(t)] = v
    return values


def stash_values(sub: Subgraph, values: dict[int, Any], ctx: Any) -> dict[int, Any]:
    """The values a gradient may read later in the same run: the subgraph's own outputs and feeds.

    Views (reshape, identity, a variable read) may alias buffers the main plan reuses or updates
    after this op, so they are copied; everything else was freshly allocated by the subgraph."""
    out: dict[int, Any] = {}
    for t in sub.feeds:
        out[id(t)] = values[id(t)]
    for op in sub.order:
        d = registry.op_def(op.type)
        view = d is None or d.view or d.mutates is not None
        for t in op.outputs:
            v = values.get(id(t))
            if v is not None and not isinstance(v, Uninitialized):
                out[id(t)] = ctx.xp.array(v, copy=True) if view else v
    return out


def _register(graph: Graph, op: Operation, subs: Sequence[Subgraph]) -> None:
    owners = _owners(graph)
    for s in subs:
        for o in s.order:
            owners.setdefault(id(o), op)
        for t in s.feeds:
            owners.setdefault(id(t.op), op)


def _merge_shapes(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _build(fn: Callable[[], Any], graph: Graph, scope: str) -> tuple[list[Operation], Any, list[Tensor]]:
    start = len(graph._ops)
    with graph.name_scope(scope):
        result = fn()
        flat = [convert_to_tensor(v) if not isinstance(v, Operation) else v for v in _flatten(result)]
        if any(isinstance(v, Operation) for v in flat):
            from nnctl.ops.array_ops import identity
            from nnctl.ops.state_ops import constant
            # an Operation as a branch result (TF1 allows it): run it, return nothing useful for it
            fixed = []
            for v in flat:
                if isinstance(v, Operation):
                    with graph.control_dependencies([v]):
                        fixed.append(identity(constant(True)))
                else:
                    fixed.append(v)
            flat = fixed
    return graph._ops[start:], result, flat


# --- tf.cond -------------------------------------------------------------------------------------

def cond(pred: Any, true_fn: Callable[[], Any] | None = None, false_fn: Callable[[], Any] | None = None,
         strict: bool = False, name: str | None = None, fn1: Callable | None = None,
         fn2: Callable | None = None) -> Any:
    """``tf.cond``: ``true_fn()`` if ``pred`` else ``false_fn()``; only the taken branch runs."""
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("tf.cond: true_fn and false_fn must be callables")
    if isinstance(pred, (bool, int)) and not isinstance(pred, Tensor):
        return true_fn() if pred else false_fn()  # TF's smart_cond on a Python bool
    p = convert_to_tensor(pred)
    if p.dtype != dtypes.bool or p.static_shape not in ((), None):
        raise TypeError(f"tf.cond: pred must be a scalar bool tensor, got {p.dtype.name} {fmt_shape(p.static_shape)}"
                        f" ({p.name})")
    graph = p.graph
    with graph.name_scope(name or "cond") as scope:
        t_ops, t_res, t_flat = _build(true_fn, graph, "true")
        f_ops, f_res, f_flat = _build(false_fn, graph, "false")
        return _make_cond(graph, p, t_ops, t_res, t_flat, f_ops, f_flat, scope)


def _make_cond(graph: Graph, p: Tensor, t_ops: list, t_res: Any, t_flat: list, f_ops: list, f_flat: list,
               scope: str, grad_of: Operation | None = None) -> Any:
    if len(t_flat) != len(f_flat):
        raise ValueError(f"tf.cond: true_fn returned {len(t_flat)} tensors and false_fn {len(f_flat)}; both "
                         "branches must return the same structure")
    outs = []
    for a, b in zip(t_flat, f_flat):
        if a.dtype != b.dtype:
            raise TypeError(f"tf.cond: the branches return {a.dtype.name} ({a.name}) and {b.dtype.name} "
                            f"({b.name}) at the same position")
        outs.append((_merge_shapes(a.static_shape, b.static_shape), a.dtype))
    subs = [Subgraph(graph, t_ops, t_flat), Subgraph(graph, f_ops, f_flat)]
    caps: list[Tensor] = []
    for s in subs:
        for t in s.captures:
            if t not in caps:
                caps.append(t)
    ctrl = [c for s in subs for c in s.outer_control + s.stash_owners()]
    op = graph.create_op("Cond", [p] + caps, {"subgraphs": subs, "grad_of": grad_of}, outs,
                         name=scope[:-1] + "/" if scope else None, control_inputs=ctrl)
    _register(graph, op, subs)
    if not op.outputs:
        return op
    flat = list(op.outputs)
    if len(flat) == 1 and not isinstance(t_res, (list, tuple, dict)):
        return flat[0]
    return _pack(t_res, flat)


@registry.register_kernel("Cond", stateful=True, out=False)
def _cond_kernel(op: Operation, ctx: Any) -> Any:
    subs: list[Subgraph] = op.attrs["subgraphs"]
    caps = op.inputs[1:]
    kernels: list[dict[int, Any]] = [{}, {}]
    name = op.name
    host = ctx.backend.to_host  # the predicate is read on the host, also on a GPU backend

    def run(pred: Any, *cap_values: Any, out: Any = None) -> Any:
        which = 0 if bool(host(pred)) else 1
        sub = subs[which]
        values = {id(t): v for t, v in zip(caps, cap_values)}
        values = run_subgraph(sub, ctx, kernels[which], values)
        _stash(ctx)[name] = stash_values(sub, values, ctx)
        res = [values[id(t)] for t in sub.outputs]
        res = [r.copy() if not isinstance(r, Uninitialized) else r for r in res]
        if len(res) == 1:
            return res[0]
        return tuple(res)
    return run


def case(pred_fn_pairs: Any, default: Callable[[], Any] | None = None, exclusive: bool = False,
         strict: bool = False, name: str = "case") -> Any:
    """``tf.case``: the function of the first true predicate (all must be exclusive if ``exclusive``),
    else ``default()``; built as nested tf.cond, so only one function's ops run."""
    pairs = list(pred_fn_pairs.items()) if isinstance(pred_fn_pairs, dict) else list(pred_fn_pairs)
    if not pairs:
        if default is None:
            raise ValueError("tf.case: pred_fn_pairs is empty and there is no default")
        return default()
    if default is None:
        pairs, (_, default) = pairs[:-1], pairs[-1]  # TF: the last function is the default
    graph = get_default_graph()
    with graph.name_scope(name):
        preds = [convert_to_tensor(p) for p, _ in pairs]
        if exclusive and len(pairs) > 1:
            from nnctl.ops.array_ops import stack
            check = graph.create_op("CaseExclusive", [stack(preds)], {}, [((), dtypes.bool)],
                                    name="exclusive").outputs[0]
            preds[0] = _and(preds[0], check)  # the first cond waits for the check

        def chain(i: int) -> Any:
            if i == len(pairs):
                return default()
            return cond(preds[i], pairs[i][1], lambda: chain(i + 1))
        return chain(0)


def _and(a: Tensor, b: Tensor) -> Tensor:
    from nnctl.ops.math_ops import logical_and
    return logical_and(a, b)


@registry.register_kernel("CaseExclusive", stateful=True)
def _case_exclusive_kernel(op: Operation, ctx: Any) -> Any:
    xp, host = ctx.xp, ctx.backend.to_host

    def run(preds: Any, out: Any = None) -> Any:
        preds = np.asarray(host(preds))
        n = int(np.count_nonzero(preds))
        if n > 1:
            raise InvalidArgumentError(None, op, f"tf.case '{op.name}': {n} predicates are true but exclusive=True "
                                                 f"(predicates: {[bool(p) for p in preds]})")
        res = xp.asarray(True)
        if out is None:
            return res
        out[...] = True
        return out
    return run


registry.not_differentiable("CaseExclusive")


# --- tf.while_loop ------------------------------------------------------------------------------

def while_loop(cond: Callable[..., Any], body: Callable[..., Any], loop_vars: Any, shape_invariants: Any = None,
               parallel_iterations: int = 10, back_prop: bool = True, swap_memory: bool = False,
               name: str | None = None, maximum_iterations: Any = None, return_same_structure: bool = False) -> Any:
    """``tf.while_loop``: repeat ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``.

    The loop runs in one op; its gradient (``WhileGrad``) replays the body's gradient once per
    iteration in reverse, on values stashed by the forward loop."""
    from nnctl.ops.state_ops import placeholder
    graph = get_default_graph()
    flat0 = [convert_to_tensor(v) for v in _flatten(loop_vars)]
    invariants = _flatten(shape_invariants) if shape_invariants is not None else [None] * len(flat0)
    if len(invariants) != len(flat0):
        raise ValueError("tf.while_loop: shape_invariants must match loop_vars")
    with graph.name_scope(name or "while") as scope:
        feeds = []
        for i, (v, inv) in enumerate(zip(flat0, invariants)):
            shp = v.static_shape if inv is None else as_shape_tuple(inv)
            if not shapes_compatible(v.static_shape, shp):
                raise ValueError(f"tf.while_loop: loop variable {i} has shape {fmt_shape(v.static_shape)}, not "
                                 f"compatible with its shape invariant {fmt_shape(shp)}")
            ph = placeholder(v.dtype, shp, name=f"loop_var_{i}")
            feeds.append(ph)
        structured = _pack(loop_vars, feeds)
        args = structured if isinstance(loop_vars, (list, tuple)) and not hasattr(loop_vars, "_fields") \
            else [structured]
        start = len(graph._ops)
        with graph.name_scope("cond"):
            c = convert_to_tensor(cond(*args))
        c_ops = graph._ops[start:]
        if c.dtype != dtypes.bool or c.static_shape not in ((), None):
            raise TypeError(f"tf.while_loop: cond must return a scalar bool tensor, got {c.dtype.name} "
                            f"{fmt_shape(c.static_shape)}")
        start = len(graph._ops)
        with graph.name_scope("body"):
            new = body(*args)
            new_flat = [convert_to_tensor(v) for v in _flatten(new)]
        b_ops = graph._ops[start:]
        if len(new_flat) != len(feeds):
            raise ValueError(f"tf.while_loop: body returned {len(new_flat)} values for {len(feeds)} loop variables")
        for i, (ph, nv) in enumerate(zip(feeds, new_flat)):
            if nv.dtype != ph.dtype:
                raise TypeError(f"tf.while_loop: body changes the dtype of loop variable {i} from {ph.dtype.name} "
                                f"to {nv.dtype.name}")
            if not shapes_compatible(ph.static_shape, nv.static_shape):
                raise ValueError(f"tf.while_loop: loop variable {i} enters with shape {fmt_shape(ph.static_shape)} "
                                 f"but the body returns {fmt_shape(nv.static_shape)}; pass shape_invariants")
        c_sub = Subgraph(graph, c_ops, [c], feeds)
        b_sub = Subgraph(graph, b_ops, new_flat, feeds)
        caps: list[Tensor] = []
        for s in (c_sub, b_sub):
            for t in s.captures:
                if t not in caps:
                    caps.append(t)
        max_it = None
        if maximum_iterations is not None:
            max_it = convert_to_tensor(maximum_iterations, dtype=dtypes.int32) \
                if not isinstance(maximum_iterations, Tensor) else maximum_iterations
        inputs = flat0 + caps + ([max_it] if max_it is not None else [])
        ctrl = [x for s in (c_sub, b_sub) for x in s.outer_control + s.stash_owners()]
        op = graph.create_op("While", inputs, {"cond": c_sub, "body": b_sub, "n_vars": len(feeds),
                                               "n_caps": len(caps), "has_max": max_it is not None,
                                               "back_prop": back_prop},
                             [(ph.static_shape, ph.dtype) for ph in feeds], name=scope[:-1] + "/",
                             control_inputs=ctrl)
        _register(graph, op, [c_sub, b_sub])
    out = list(op.outputs)
    if return_same_structure or isinstance(loop_vars, (list, tuple, dict)):
        return _pack(loop_vars, out)
    return out[0]


@registry.register_kernel("While", stateful=True, out=False)
def _while_kernel(op: Operation, ctx: Any) -> Any:
    c_sub: Subgraph = op.attrs["cond"]
    b_sub: Subgraph = op.attrs["body"]
    n_vars, n_caps, has_max = op.attrs["n_vars"], op.attrs["n_caps"], op.attrs["has_max"]
    caps = op.inputs[n_vars:n_vars + n_caps]
    kc: dict[int, Any] = {}
    kb: dict[int, Any] = {}
    name = op.name
    keep = op.attrs["back_prop"]
    host = ctx.backend.to_host

    def run(*ins: Any, out: Any = None) -> Any:
        vars_ = [ctx.xp.array(v, copy=True) for v in ins[:n_vars]]  # never a view of a plan buffer
        cap_vals = {id(t): v for t, v in zip(caps, ins[n_vars:n_vars + n_caps])}
        limit = int(host(ins[-1])) if has_max else None
        history: list[dict[int, Any]] = []
        it = 0
        while limit is None or it < limit:
            vals = dict(cap_vals)
            vals.update({id(ph): v for ph, v in zip(c_sub.feeds, vars_)})
            if not bool(host(run_subgraph(c_sub, ctx, kc, vals)[id(c_sub.outputs[0])])):
                break
            vals = dict(cap_vals)
            vals.update({id(ph): v for ph, v in zip(b_sub.feeds, vars_)})
            vals = run_subgraph(b_sub, ctx, kb, vals)
            if keep:
                history.append(stash_values(b_sub, vals, ctx))
            vars_ = [vals[id(t)] for t in b_sub.outputs]
            it += 1
        _stash(ctx)[name] = history
        res = [ctx.xp.array(v, copy=True) for v in vars_]
        return res[0] if len(res) == 1 else tuple(res)
    return run


@registry.register_kernel("WhileGrad", stateful=True, out=False)
def _while_grad_kernel(op: Operation, ctx: Any) -> Any:
    fwd, sub = op.attrs["forward"], op.attrs["grad_body"]
    nv, nc, nsc = op.attrs["n_vars"], op.attrs["n_caps"], op.attrs["n_sub_caps"]
    sub_caps = op.inputs[nv:nv + nsc]
    kernels: dict[int, Any] = {}
    xp = ctx.xp

    def run(*ins: Any, out: Any = None) -> Any:
        g = list(ins[:nv])
        capv = {id(t): v for t, v in zip(sub_caps, ins[nv:nv + nsc])}
        cap_inputs = ins[nv + nsc:]
        history = _stash(ctx).get(fwd.name)
        if history is None:
            raise InvalidArgumentError(None, op, f"the gradient of tf.while_loop '{fwd.name}' needs the loop to "
                                                 "run in the same session.run")
        acc: list[Any] = [None] * nc
        for vals_k in reversed(history):  # iteration n-1 first: reverse mode
            vals = dict(vals_k)
            vals.update(capv)
            vals.update({id(ph): gv for ph, gv in zip(sub.feeds, g)})
            vals = run_subgraph(sub, ctx, kernels, vals)
            res = [vals[id(t)] for t in sub.outputs]
            g = res[:nv]
            for j, r in enumerate(res[nv:]):
                acc[j] = xp.array(r, copy=True) if acc[j] is None else acc[j] + r
        acc = [a if a is not None else xp.zeros_like(c) for a, c in zip(acc, cap_inputs)]
        res = [xp.array(v, copy=True) for v in g] + acc
        return res[0] if len(res) == 1 else tuple(res)
    return run


# --- tf.map_fn --------------------------------------------------------------------------------

def map_fn(fn: Callable[[Any], Any], elems: Any, dtype: Any = None, parallel_iterations: int | None = None,
           back_prop: bool = True, swap_memory: bool = False, infer_shape: bool = True,
           name: str | None = None) -> Any:
    """``tf.map_fn``: ``fn`` applied to each slice ``elems[i]`` along axis 0, results stacked.

    With a known leading dimension the calls are laid out in the graph one per element (each
    differentiable like any op); otherwise a tf.while_loop walks the elements."""
    from nnctl.ops.array_ops import stack, unstack
    flat = [convert_to_tensor(e) for e in _flatten(elems)]
    n = flat[0].static_shape[0] if flat[0].static_shape else None
    graph = get_default_graph()
    with graph.name_scope(name or "map"):
        if n is not None:
            per = [unstack(e, num=n) for e in flat]
            if n == 0:
                raise ValueError("tf.map_fn: elems has no elements")
            results = []
            first_structure = None
            for i in range(n):
                args = _pack(elems, [p[i] for p in per])
                out = fn(args)
                first_structure = out if first_structure is None else first_structure
                results.append([convert_to_tensor(r) for r in _flatten(out)])
            stacked = [stack([r[j] for r in results]) for j in range(len(results[0]))]
            return _pack(first_structure, stacked)
        return _map_fn_loop(fn, elems, flat, dtype)


def _map_fn_loop(fn: Callable, elems: Any, flat: list[Tensor], dtype: Any) -> Any:
    from nnctl.ops.array_ops import concat, expand_dims, gather, shape, zeros
    from nnctl.ops.math_ops import less
    from nnctl.ops.state_ops import constant
    count = shape(flat[0])[0]
    probe_graph = Graph()
    # the output's per-element shape and dtype: call fn once on placeholders in a scratch graph
    from nnctl.ops.state_ops import placeholder
    with probe_graph.as_default():
        probe = _pack(elems, [placeholder(e.dtype, (e.static_shape or (None,))[1:]) for e in flat])
        pr = [convert_to_tensor(r) for r in _flatten(fn(probe))]
    if len(pr) != 1:
        raise NotImplementedError("tf.map_fn over an unknown number of elements supports one output tensor")
    elem_shape, elem_dtype = pr[0].static_shape, pr[0].dtype
    if elem_shape is None or None in elem_shape:
        raise ValueError("tf.map_fn over an unknown number of elements needs fn's output shape to be static")
    init = zeros([0] + list(elem_shape), dtype=elem_dtype)

    def body(i: Tensor, acc: Tensor) -> list:
        args = _pack(elems, [gather(e, i) for e in flat])
        r = convert_to_tensor(_flatten(fn(args))[0])
        return [i + 1, concat([acc, expand_dims(r, 0)], axis=0)]
    _, out = while_loop(lambda i, acc: less(i, count), body, [constant(0), init],
                        shape_invariants=[TensorShape([]), TensorShape([None] + list(elem_shape))])
    return out
