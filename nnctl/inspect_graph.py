"""``nnctl graph``: the forward graph (ops, shapes, parameters) and, on request, the backward graph.

The backward view follows the seed's figure: for each trainable variable w, the forward path from w
to the loss, the gradient nodes that ``gradients()`` added on the way back (grouped under the forward
op each one differentiates: gradient ops are named ``gradients/<forward op>_grad/...``), the tensor
dloss/dw, and the update op that the optimizer added for w. Variables with no path to the loss and
``stop_gradient`` cuts on a path between a variable and the loss are flagged.

Text output is a rich tree (plus the Keras-style summary table for a model); ``dot`` output is a
Graphviz digraph with one cluster each for the forward, backward and update nodes.
"""

from __future__ import annotations

import io
import os
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import InputError
from nnctl.graph.graph import FORWARD, GRADIENT, OPTIMIZER, Graph, Operation, Tensor
from nnctl.graph.registry import op_def
from nnctl.graph.tensor_shape import fmt_shape

_GRAD_NAME = re.compile(r"^(?:[^/]+/)*?gradients(?:_\d+)?/(.+?)_grad(?:/|$)")


# --- the analysis -------------------------------------------------------------------------------

@dataclass
class VariableReport:
    """What the backward graph does for one trainable variable."""

    name: str
    shape: tuple
    params: int
    path_to_loss: list[str]                    # forward op names from the variable to the loss
    grad: Tensor | None                        # dloss/dw
    chain: list[tuple[str, list[Operation]]]   # (forward op differentiated, its gradient ops), loss first
    updates: list[Operation]
    stop_gradients: list[str]                  # StopGradient ops on a path from w to the loss
    connected: bool                            # some path to the loss avoids every stop_gradient


@dataclass
class GraphView:
    graph: Graph
    title: str
    loss: Tensor | None = None
    model: Any = None
    forward: list[Operation] = field(default_factory=list)
    backward: list[Operation] = field(default_factory=list)
    updates: list[Operation] = field(default_factory=list)
    variables: list[VariableReport] = field(default_factory=list)
    note: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def unconnected(self) -> list[str]:
        return [v.name for v in self.variables if not v.connected]

    @property
    def cuts(self) -> list[str]:
        return sorted({c for v in self.variables for c in v.stop_gradients})


def _ancestors(starts: Iterable[Operation], follow: Callable[[Operation], bool] = lambda op: True) -> set[int]:
    seen: set[int] = set()
    stack = list(starts)
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if not follow(op):
            continue
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return seen


def _var_ops(graph: Graph, trainable_only: bool = True) -> list[Any]:
    return list(graph.get_collection("trainable_variables" if trainable_only else "variables"))


def _size(shape: tuple | None) -> int:
    if not shape or any(d is None for d in shape):
        return 0 if shape is None or any(d is None for d in shape) else 1
    return int(np.prod(shape))


def grad_group(op: Operation) -> str | None:
    """The forward op a gradient node differentiates, from its name (``gradients/<op>_grad/...``)."""
    m = _GRAD_NAME.match(op.name)
    return m.group(1) if m else None


def _group_label(op: Operation) -> str:
    fwd = grad_group(op)
    if fwd is not None:
        return f"gradient of {fwd}"
    if "grad_ys" in op.name.rsplit("/", 1)[-1]:
        return "dloss/dloss = 1"
    if op.type == "AddN":
        return "sum of the gradients from several consumers"
    return op.name


def _update_ops(graph: Graph, var_op: Operation) -> list[Operation]:
    out = []
    for op in graph.get_operations():
        if op.role != OPTIMIZER:
            continue
        d = op_def(op.type)
        if d is not None and d.mutates is not None and len(op.inputs) > d.mutates \
                and op.inputs[d.mutates].op is var_op:
            out.append(op)
    return out


def _find_grad(update: Operation, var_op: Operation) -> Tensor | None:
    """dloss/dw feeding ``update``: the nearest gradient-node tensor shaped like w (breadth first)."""
    want = var_op.outputs[0].static_shape
    q: deque[Tensor] = deque(t for t in update.inputs)
    seen: set[int] = set()
    while q:
        t = q.popleft()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.op.role == GRADIENT and t.static_shape == want:
            return t
        if t.op.type == "VariableV2":
            continue
        q.extend(t.op.inputs)
    return None


def _forward_path(start: Operation, goal: Operation, allowed: set[int], blocked: Callable[[Operation], bool]
                  ) -> list[Operation] | None:
    """A shortest consumer path start -> goal through ``allowed`` ops, not passing a blocked op."""
    prev: dict[int, Operation | None] = {id(start): None}
    q = deque([start])
    while q:
        op = q.popleft()
        if op is goal:
            path = []
            cur: Operation | None = op
            while cur is not None:
                path.append(cur)
                cur = prev[id(cur)]
            return path[::-1]
        for t in op.outputs:
            for c in t.consumers():
                if id(c) in allowed and id(c) not in prev and not blocked(c):
                    prev[id(c)] = op
                    q.append(c)
    return None


def analyse(graph: Graph, loss: Tensor | None, title: str = "graph", model: Any = None) -> GraphView:
    """The forward ops the loss needs, and for each trainable variable its backward chain and update."""
    view = GraphView(graph, title, loss, model)
    ops = graph.get_operations()
    if loss is None:
        view.forward = [op for op in ops if op.role == FORWARD]
        return view
    in_loss = _ancestors([loss.op])
    view.forward = [op for op in ops if id(op) in in_loss and op.role == FORWARD]
    chain_ids: set[int] = set()
    update_ids: set[int] = set()
    for v in _var_ops(graph):
        var_op = v.op
        shape = tuple(var_op.outputs[0].static_shape or ())
        reach: set[int] = set()
        stack = [var_op]
        while stack:
            op = stack.pop()
            if id(op) in reach:
                continue
            reach.add(id(op))
            for t in op.outputs:
                stack.extend(c for c in t.consumers() if c.role == FORWARD)
        between = reach & in_loss
        cuts = [op.name for op in ops if id(op) in between and op.type == "StopGradient"]
        path = _forward_path(var_op, loss.op, between, lambda op: op.type == "StopGradient")
        updates = _update_ops(graph, var_op)
        grad = None
        for u in updates:
            grad = _find_grad(u, var_op)
            if grad is not None:
                break
        chain: list[tuple[str, list[Operation]]] = []
        if grad is not None:
            mine = _ancestors([grad.op], follow=lambda op: op.role == GRADIENT)
            gops = [op for op in ops if id(op) in mine and op.role == GRADIENT]
            chain_ids |= {id(op) for op in gops}
            groups: dict[str, list[Operation]] = {}
            for op in gops:
                groups.setdefault(_group_label(op), []).append(op)
            chain = list(groups.items())
        update_ids |= {id(u) for u in updates}
        view.variables.append(VariableReport(
            name=var_op.name, shape=shape, params=_size(shape),
            path_to_loss=[op.name for op in path] if path else [], grad=grad, chain=chain, updates=updates,
            stop_gradients=cuts, connected=path is not None))
    view.backward = [op for op in ops if id(op) in chain_ids]
    view.updates = [op for op in ops if id(op) in update_ids]
    return view


# --- building the graph of a config, a run or a frozen file ------------------------------------

def _looks_like_config(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in (".yaml", ".yml")


def graph_view(target: str | os.PathLike, overrides: Iterable[str] = (),
               warn: Callable[[str], None] | None = None) -> GraphView:
    """Build the model of a CONFIG (or of a run dir / checkpoint folder), or load a frozen file, and analyse it."""
    from nnctl.config import load_config
    from nnctl.fileio import check_path_length, user_path
    from nnctl.train.rundir import build_for_config, resolve_target
    warn = warn or (lambda m: None)
    p = user_path(target, "graph target")
    check_path_length(p, "graph target")
    if not p.exists():
        raise InputError(f"{p}: no such file or directory (expected a config file, a run directory, a checkpoint "
                         "folder or a frozen model file)")
    if _looks_like_config(p):
        cfg_path = p
    else:
        t = resolve_target(p)
        if t.kind == "frozen":
            from nnctl.export.frozen import load_frozen
            fm = load_frozen(p)
            fm.close()
            view = analyse(fm.graph, None, f"frozen model {p}")
            view.note = (f"inputs: {', '.join(f'{s.name} {fmt_shape(s.shape)} {s.dtype}' for s in fm.signature.inputs)}"
                         f"; outputs: "
                         + ", ".join(f"{s.name} = {s.tensor} {fmt_shape(s.shape)}" for s in fm.signature.outputs))
            return view
        cfg_path = t.run_dir / "config.yaml"
    cfg = load_config(cfg_path, list(overrides))
    _, model = build_for_config(cfg, data_required=False, warn=warn)
    view = analyse(model.graph, model.loss, f"{cfg.name} ({cfg_path})", model)
    n_inf = sum(1 for op in model.graph.get_operations() if op.name.startswith("inference/"))
    view.note = (f"the inference branch (inference/, {n_inf} ops) shares these variables; without dropout and "
                 "with batch norm on moving averages, it is what `nnctl freeze` keeps")
    return view


# --- text -----------------------------------------------------------------------------------

def _ins(op: Operation) -> str:
    parts = [t.op.name if t.value_index == 0 else t.name for t in op.inputs]
    return ", ".join(parts)


def _out_shapes(op: Operation) -> str:
    if not op.outputs:
        return "-"
    return ", ".join(fmt_shape(t.static_shape) for t in op.outputs)


def _params_of(op: Operation) -> int:
    """Parameters an op holds: a variable's elements, or a frozen variable's (a Const named */read)."""
    if op.type == "VariableV2" or (op.type == "Const" and op.name.endswith("/read")):
        return _size(op.outputs[0].static_shape)
    return 0


def _n(params: int) -> str:
    return f"{params:,} param" + ("" if params == 1 else "s")


def _scope(name: str) -> str:
    return name.split("/", 1)[0]


def forward_tree(view: GraphView) -> Any:
    from rich.markup import escape
    from rich.tree import Tree
    total = sum(_params_of(op) for op in view.forward)
    head = f"[bold]Forward graph[/bold] of {escape(view.title)}: {len(view.forward)} ops, {total:,} parameters"
    if view.loss is not None:
        head += f", loss {view.loss.name}"
    tree = Tree(head)
    groups: dict[str, list[Operation]] = {}
    for op in view.forward:
        groups.setdefault(_scope(op.name), []).append(op)
    cut = set(view.cuts)
    for scope, ops in groups.items():
        params = sum(_params_of(op) for op in ops)
        if len(ops) == 1 and ops[0].name == scope:
            node = tree
        else:
            node = tree.add(f"[bold]{scope}[/bold]" + (f"  ({_n(params)})" if params else ""))
        for op in ops:
            short = op.name[len(scope) + 1:] if op.name != scope else op.name
            line = f"{short}  [cyan]{op.type}[/cyan] {_out_shapes(op)}"
            if _params_of(op):
                line += f"  [magenta]{_n(_params_of(op))}[/magenta]"
            if op.inputs:
                line += f"  [dim]<- {_ins(op)}[/dim]"
            if op.name in cut:
                line += "  [red]stop_gradient cut[/red]"
            node.add(line)
    return tree


def backward_tree(view: GraphView) -> Any:
    from rich.markup import escape
    from rich.tree import Tree
    tree = Tree(f"[bold]Backward graph[/bold]: {len(view.backward)} gradient nodes, {len(view.updates)} update "
                "nodes (added by minimize)")
    if not view.variables:
        tree.add("no trainable variables" if view.loss is not None else "no loss: a frozen graph has no backward "
                 "part")
        return tree
    for v in view.variables:
        label = f"[bold]{v.name}[/bold] {fmt_shape(v.shape)}  {_n(v.params)}"
        if not v.connected:
            label += "  [red bold]NO PATH TO THE LOSS[/red bold]"
        node = tree.add(label)
        if v.path_to_loss:
            node.add("forward path: " + " -> ".join(v.path_to_loss))
        for c in v.stop_gradients:
            node.add(f"[red]stop_gradient cut at {c}[/red]")
        if v.chain:
            ch = node.add(f"gradient chain (loss -> {v.name}): {sum(len(g) for _, g in v.chain)} nodes")
            for fwd, gops in v.chain:
                last = gops[-1]
                types = ", ".join(dict.fromkeys(op.type for op in gops))
                ch.add(f"{escape(fwd)}: [cyan]{types}[/cyan] -> {_out_shapes(last)}  [dim]({len(gops)} node"
                       f"{'s' if len(gops) != 1 else ''})[/dim]")
        if v.grad is not None:
            node.add(f"dloss/dw = [green]{v.grad.name}[/green] {fmt_shape(v.grad.static_shape)}")
        elif v.connected:
            node.add("[yellow]no gradient tensor found for this variable[/yellow]")
        for u in v.updates:
            node.add(f"update: [green]{u.name}[/green] ([cyan]{u.type}[/cyan]) <- {_ins(u)}")
        if not v.updates:
            node.add("[yellow]no update op[/yellow]")
    return tree


def text_renderables(view: GraphView, backward: bool = False) -> list[Any]:
    from rich.markup import escape
    out: list[Any] = []
    if view.model is not None:
        from nnctl.model_summary import summary_table
        out.append(summary_table(view.model))
    out.append(forward_tree(view))
    if view.note:
        out.append(f"[dim]{escape(view.note)}[/dim]")
    if backward:
        out.append(backward_tree(view))
    flags = []
    if view.unconnected:
        flags.append("parameters with no path to the loss: " + ", ".join(view.unconnected))
    if view.cuts:
        flags.append("stop_gradient cuts between a variable and the loss: " + ", ".join(view.cuts))
    for f in flags:
        out.append(f"[yellow]warning:[/yellow] {escape(f)}")
    return out


def render_text(view: GraphView, backward: bool = False, width: int = 120) -> str:
    """The text view as plain text (no colour), e.g. for ``-o FILE``."""
    from rich.console import Console
    buf = io.StringIO()
    con = Console(file=buf, width=width, color_system=None, highlight=False, force_terminal=False)
    for r in text_renderables(view, backward):
        con.print(r)
    return buf.getvalue()


# --- dot ------------------------------------------------------------------------------------

def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(view: GraphView, backward: bool = False) -> str:
    """A Graphviz digraph: clusters forward / backward / update; edges labelled with shapes."""
    fwd = list(view.forward)
    bwd = list(view.backward) if backward else []
    upd = list(view.updates) if backward else []
    declared = {id(op) for op in fwd + bwd + upd}
    bad = {n for n in view.unconnected}
    cuts = set(view.cuts)
    lines = ["digraph nnctl {", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", fillcolor=white, '
             'fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=8];',
             f"  label={_q(view.title)};"]

    def node(op: Operation) -> str:
        label = f"{op.name}\n{op.type} {_out_shapes(op)}"
        attrs = [f"label={_q(label)}"]
        p = _params_of(op)
        if p:
            attrs.append("shape=box3d")
            label += f"\n{_n(p)}"
            attrs[0] = f"label={_q(label)}"
        if op.name in bad:
            attrs.append('fillcolor="#f4cccc"')
            attrs.append(f"xlabel={_q('no path to the loss')}")
        elif op.name in cuts:
            attrs.append('fillcolor="#fce5cd"')
            attrs.append(f"xlabel={_q('stop_gradient cut')}")
        elif op.role == GRADIENT:
            attrs.append('fillcolor="#d9ead3"')
        elif op.role == OPTIMIZER:
            attrs.append('fillcolor="#cfe2f3"')
        return f"    {_q(op.name)} [{', '.join(attrs)}];"

    for cname, label, group in (("cluster_forward", "forward", fwd), ("cluster_backward", "backward (gradients)", bwd),
                                ("cluster_update", "update (optimizer)", upd)):
        if not group:
            continue
        lines.append(f"  subgraph {cname} {{")
        lines.append(f"    label={_q(label)};")
        for op in group:
            lines.append(node(op))
        lines.append("  }")
    for op in fwd + bwd + upd:
        for t in op.inputs:
            if id(t.op) in declared:
                lines.append(f"  {_q(t.op.name)} -> {_q(op.name)} [label={_q(fmt_shape(t.static_shape))}];")
        d = op_def(op.type)
        if op in upd and d is not None and d.mutates is not None:
            ref = op.inputs[d.mutates].op
            if id(ref) in declared:
                lines.append(f"  {_q(op.name)} -> {_q(ref.name)} [style=dashed, label=\"writes\", "
                             "constraint=false];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_output(path: str | os.PathLike, text: str) -> None:
    from nnctl.fileio import write_output as write_user_output
    write_user_output(path, text, "graph output")
