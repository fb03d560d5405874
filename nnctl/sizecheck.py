"""The memory a config's model will take, checked before anything is allocated.

Every variable (weights, optimizer slots, statistics) has a static shape once the graph is built,
so its bytes are known before the session creates it. A model whose variables need more than the
memory budget (:func:`nnctl.fileio.memory_budget`) is a config mistake: ConfigError (exit 2) at the
key of the layer with the largest variable, naming its shape, the total and the budget.
"""

from __future__ import annotations

from typing import Any

from nnctl.fileio import fmt_bytes, memory_budget


def variable_bytes(v: Any) -> int:
    n = v.dtype.np.itemsize
    for d in v.static_shape or ():
        n *= max(int(d or 1), 0)
    return n


def check_model_memory(graph: Any, cfg: Any) -> None:
    """ConfigError at the layer key with the largest variable when all variables exceed the budget."""
    variables = graph.get_collection("variables")
    sizes = [(variable_bytes(v), v) for v in variables]
    total = sum(n for n, _ in sizes)
    budget = memory_budget()
    if total <= budget or not sizes:
        return
    n, big = max(sizes, key=lambda s: s[0])
    scope = big.op.name.split("/")[0]
    layer = next((li for li in getattr(cfg.model, "layers", []) if li.name == scope), None)
    key = "model"
    if layer is not None:
        width = next((k for k in ("units", "filters") if getattr(layer, k, None) is not None), None)
        key = f"{layer.key}.{width}" if width else layer.key
    raise cfg.error(key, f"the model's variables need {fmt_bytes(total)}, more than the memory budget of "
                         f"{fmt_bytes(budget)} (set NNCTL_MEMORY_BUDGET to change it); the largest is "
                         f"{big.op.name} {list(big.static_shape)} ({fmt_bytes(n)})")
