"""Gradient rules of the control-flow ops (see control_flow_ops.py for the mechanism)."""

from __future__ import annotations

from typing import Any

from nnctl.graph.gradients import gradients
from nnctl.graph.graph import Operation, Tensor
from nnctl.graph.registry import register_gradient
from nnctl.ops import control_flow_ops as cf
from nnctl.ops.array_ops import zeros_like


def _float(t: Tensor) -> bool:
    return t.dtype.is_floating


def _branch_grads(sub: cf.Subgraph, dys: tuple, xs: list[Tensor]) -> list[Tensor]:
    """d(sub's outputs . dys)/dx for each x, built now (inside the gradient branch being recorded);
    zeros where x does not reach the outputs."""
    ys, gys = [], []
    for o, dy in zip(sub.outputs, dys):
        if dy is not None and _float(o):
            ys.append(o)
            gys.append(dy)
    gs = gradients(ys, xs, grad_ys=gys) if ys and xs else [None] * len(xs)
    return [g if g is not None else zeros_like(x) for g, x in zip(gs, xs)]


@register_gradient("Cond")
def _cond_grad(op: Operation, *dys: Any) -> list:
    # The gradient of cond(p, f, g) is cond(p, df, dg): the same predicate picks the gradient graph
    # of the branch that ran, which reads that branch's stashed forward values.
    pred, caps = op.inputs[0], op.inputs[1:]
    xs = [c for c in caps if _float(c)]
    if not xs:
        return [None] * len(op.inputs)
    true_sub, false_sub = op.attrs["subgraphs"]
    graph = op.graph
    with graph.name_scope("cond_grad") as scope:
        t_ops, _, t_flat = cf._build(lambda: _branch_grads(true_sub, dys, xs), graph, "true")
        f_ops, _, f_flat = cf._build(lambda: _branch_grads(false_sub, dys, xs), graph, "false")
        outs = cf._make_cond(graph, pred, t_ops, list(t_flat), t_flat, f_ops, f_flat, scope, grad_of=op)
    outs = outs if isinstance(outs, list) else [outs]
    it = iter(outs)
    return [None] + [next(it) if _float(c) else None for c in caps]


@register_gradient("While")
def _while_grad(op: Operation, *dys: Any) -> list:
    # Reverse-mode through the loop: with v_{k+1} = body(v_k, caps), the gradient w.r.t. v_k is
    # (d body / d v_k)^T . g_{k+1}, and the captures collect the sum over all iterations.
    from nnctl.ops.state_ops import placeholder
    n_vars, n_caps = op.attrs["n_vars"], op.attrs["n_caps"]
    if not op.attrs["back_prop"]:
        return [None] * len(op.inputs)
    body: cf.Subgraph = op.attrs["body"]
    caps = op.inputs[n_vars:n_vars + n_caps]
    var_idx = [i for i in range(n_vars) if _float(op.outputs[i])]
    cap_xs = [c for c in caps if _float(c)]
    graph = op.graph
    with graph.name_scope("while_grad") as scope:
        start = len(graph._ops)
        g_phs = [placeholder(op.outputs[i].dtype, body.feeds[i].static_shape, name=f"grad_{i}") for i in var_idx]
        all_dys = [None] * n_vars
        for i, ph in zip(var_idx, g_phs):
            all_dys[i] = ph
        xs = [body.feeds[i] for i in var_idx] + cap_xs
        gs = _branch_grads(body, tuple(all_dys), xs)
        created = graph._ops[start:]
        sub = cf.Subgraph(graph, created, gs, feeds=g_phs)
        init = [dys[i] if dys[i] is not None else zeros_like(op.outputs[i]) for i in var_idx]
        ctrl = [op] + [c for c in sub.outer_control + sub.stash_owners() if c is not op]
        outs = [(op.inputs[i].static_shape, op.inputs[i].dtype) for i in var_idx] + \
               [(c.static_shape, c.dtype) for c in cap_xs]
        gop = graph.create_op("WhileGrad", init + sub.captures + cap_xs, {"forward": op, "grad_body": sub,
                                                                  "n_vars": len(var_idx), "n_caps": len(cap_xs),
                                                                  "n_sub_caps": len(sub.captures)},
                              outs, name=scope[:-1] + "/", control_inputs=ctrl)
        cf._register(graph, gop, [sub])
    it = iter(gop.outputs[:len(var_idx)])
    cit = iter(gop.outputs[len(var_idx):])
    grads: list = [next(it) if i in var_idx else None for i in range(n_vars)]
    grads += [next(cit) if _float(c) else None for c in caps]
    if op.attrs["has_max"]:
        grads.append(None)
    return grads


@register_gradient("WhileGrad")
def _while_grad_grad(op: Operation, *dys: Any) -> list:
    raise NotImplementedError(f"second-order gradients through tf.while_loop ('{op.attrs['forward'].name}') are "
                              "not supported by nnctl yet; unroll the loop in Python for Hessians")
