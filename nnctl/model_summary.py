"""A Keras-style model summary: layers, output shapes, parameter counts and totals.

The rows come from the built layer objects (the builder's LayerInfo per layer of the registry).
When the model is not a plain chain (a layer reads something other than the layer before it, or
the model has several inputs), a "Reads" column names each layer's inputs, as Keras' "Connected to".
"""

from __future__ import annotations

from typing import Any

from nnctl.graph.tensor_shape import fmt_shape


def _input_rows(model: Any) -> list[tuple[str, str, str, int]]:
    cfg_inputs = getattr(model, "inputs", None) or {}
    if cfg_inputs:
        return [(name, "Input", fmt_shape(tuple(t.get_shape().as_list())), 0) for name, t in cfg_inputs.items()]
    return [("input", "Input", fmt_shape((None, *model.input_shape)), 0)]


def summary_rows(model: Any) -> list[tuple[str, str, str, int]]:
    rows = _input_rows(model)
    for li in model.layers:
        rows.append((li.name, li.type, fmt_shape(li.output_shape), li.params))
    return rows


def connections(model: Any) -> list[str] | None:
    """Per summary row, the names a layer reads; None for a plain chain (nothing to show)."""
    inputs = _input_rows(model)
    out = ["" for _ in inputs] + [", ".join(getattr(li, "inputs", []) or []) for li in model.layers]
    prev = inputs[0][0]
    chain = len(inputs) == 1
    for li in model.layers:
        chain = chain and list(getattr(li, "inputs", [prev]) or [prev]) == [prev]
        prev = li.name
    return None if chain else out


def summary_table(model: Any, title: str | None = None) -> Any:
    from rich.table import Table
    t = Table(title=title or "Model summary", show_footer=True)
    rows = summary_rows(model)
    links = connections(model)
    total = sum(r[3] for r in rows)
    # a layer's own non-trainable variables (batch-norm statistics), not the optimizer's slots
    non_trainable = sum(_size(v) for li in model.layers for v in li.variables if not v.trainable)
    t.add_column("Layer", footer="Total")
    t.add_column("Type")
    t.add_column("Output shape", footer=f"non-trainable: {non_trainable:,}")
    t.add_column("Params", justify="right", footer=f"{total:,}")
    if links is not None:
        t.add_column("Reads")
    for i, (name, typ, shape, params) in enumerate(rows):
        t.add_row(name, typ, shape, f"{params:,}", *([links[i]] if links is not None else []))
    return t


def summary_text(model: Any) -> str:
    rows = summary_rows(model)
    links = connections(model)
    w = max(len(r[0]) for r in rows) + 2
    tw = max(12, max(len(r[1]) for r in rows) + 2)
    sw = max(20, max(len(r[2]) for r in rows) + 2)
    head = f"{'Layer':<{w}}{'Type':<{tw}}{'Output shape':<{sw}}{'Params':>10}"
    lines = [head + ("  Reads" if links is not None else "")]
    for i, (name, typ, shape, params) in enumerate(rows):
        line = f"{name:<{w}}{typ:<{tw}}{shape:<{sw}}{params:>10,}"
        lines.append(line + (f"  {links[i]}" if links is not None and links[i] else ""))
    lines.append(f"{'Total':<{w}}{'':<{tw}}{'':<{sw}}{sum(r[3] for r in rows):>10,}")
    return "\n".join(lines)


def _size(v: Any) -> int:
    n = 1
    for d in v.static_shape:
        n *= d
    return n
