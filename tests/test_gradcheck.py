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
