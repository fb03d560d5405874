"""A Keras-style model summary: layers, output shapes, parameter counts and totals."""

from __future__ import annotations

from typing import Any

from nnctl.graph.tensor_shape import fmt_shape


def summary_rows(model: Any) -> list[tuple[str, str, str, int]]:
    rows = [("input", "Input", fmt_shape((None, *model.input_shape)), 0)]
    for li in model.layers:
        rows.append((li.name, li.type, fmt_shape(li.output_shape), li.params))
    return rows


def summary_table(model: Any, title: str | None = None) -> Any:
    from rich.table import Table
    t = Table(title=title or "Model summary", show_footer=True)
    rows = summary_rows(model)
    total = sum(r[3] for r in rows)
    # a layer's own non-trainable variables (batch-norm statistics), not the optimizer's slots
    non_trainable = sum(_size(v) for li in model.layers for v in li.variables if not v.trainable)
    t.add_column("Layer", footer="Total")
    t.add_column("Type")
    t.add_column("Output shape", footer=f"non-trainable: {non_trainable:,}")
    t.add_column("Params", justify="right", footer=f"{total:,}")
    for name, typ, shape, params in rows:
        t.add_row(name, typ, shape, f"{params:,}")
    return t


def summary_text(model: Any) -> str:
    rows = summary_rows(model)
    w = max(len(r[0]) for r in rows) + 2
    lines = [f"{'Layer':<{w}}{'Type':<12}{'Output shape':<20}{'Params':>10}"]
    for name, typ, shape, params in rows:
        lines.append(f"{name:<{w}}{typ:<12}{shape:<20}{params:>10,}")
    lines.append(f"{'Total':<{w}}{'':<12}{'':<20}{sum(r[3] for r in rows):>10,}")
    return "\n".join(lines)


def _size(v: Any) -> int:
    n = 1
    for d in v.static_shape:
        n *= d
    return n
