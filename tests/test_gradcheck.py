"""Every differentiable op has a row in the gradient-check table; every row passes."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from gradcheck_util import check_row  # noqa: E402

import nnctl  # noqa: E402,F401
from nnctl.graph import registry  # noqa: E402


def _all_rows():
    rows = []
    here = Path(__file__).parent
    for info in pkgutil.iter_modules([str(here)]):
        if info.name.startswith("grad_rows_"):
            rows.extend(importlib.import_module(info.name).ROWS)
    return rows


ROWS = _all_rows()


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_gradient_row(row):
    check_row(row)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_gradient_row_on_the_strict_device(row):
    """The same row on the stand-in device: a kernel that leaks a host array or reads one fails here."""
    from strict_device import StrictBackend
    check_row(row, backend=StrictBackend())


def test_every_differentiable_op_has_a_row():
    covered = {t for r in ROWS for t in r.ops}
    missing = sorted(t for t, d in registry.all_op_defs().items()
                     if d.differentiable and d.grad is not None and t not in covered)
    assert not missing, f"ops with a gradient rule but no gradient-check row: {missing}"


def test_every_kernel_op_is_classified():
    """An op with a kernel must either have a gradient rule or be declared not differentiable."""
    unclassified = sorted(t for t, d in registry.all_op_defs().items()
                          if d.kernel is not None and d.differentiable and d.grad is None)
    assert not unclassified, f"ops with a kernel but neither a gradient nor not_differentiable: {unclassified}"


def _scaled(rule, factor):
    """A gradient rule that returns ``factor`` times what ``rule`` returns: a wrong rule on purpose."""
    from nnctl.ops import math_ops

    def wrong(op, *dys):
        gs = rule(op, *dys)
        gs = gs if isinstance(gs, (list, tuple)) else [gs]
        return [None if g is None else math_ops.multiply(g, math_ops.scalar_like(factor, g)) for g in gs]
    return wrong


# sign's rule returns zeros (a piecewise constant), which no scaling changes
_STRICT_ROWS = [r for r in ROWS if r.rtol <= 1e-7 and r.name != "sign_times_x"]


@pytest.mark.parametrize("row", _STRICT_ROWS, ids=[r.name for r in _STRICT_ROWS])
def test_a_gradient_off_by_one_part_in_a_million_fails(row, monkeypatch):
    """Every row (at its declared tolerance) catches a rule of one of its ops scaled by 1 + 1e-6.

    Each op type the row covers is perturbed in turn; at least one of them must make the check fail
    (ops such as SumToShape only appear inside another op's gradient)."""
    caught = []
    for t in row.ops:
        d = registry.op_def(t)
        if d is None or d.grad is None:
            continue
        with monkeypatch.context() as mp:
            mp.setattr(d, "grad", _scaled(d.grad, 1.0 + 1e-6))
            try:
                check_row(row)
            except AssertionError:
                caught.append(t)
    assert caught, f"{row.name}: no perturbed rule among {row.ops} was detected"


def test_a_perturbed_second_order_rule_fails(monkeypatch):
    """SigmoidGrad's own rule only enters the Hessian-vector product: the second-order check sees it."""
    row = next(r for r in ROWS if r.name == "sigmoid")
    d = registry.op_def("SigmoidGrad")
    monkeypatch.setattr(d, "grad", _scaled(d.grad, 1.0 + 1e-6))
    with pytest.raises(AssertionError, match="second-order"):
        check_row(row)
