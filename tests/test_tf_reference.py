"""nnctl against TensorFlow 2.21's recorded answers (tests/tf_reference/tf_2_21.json).

Each case of tests/tf_reference/cases.py was run on real TensorFlow by tests/tf_reference/record.py;
here the same case runs on nnctl, observed by the same harness. Compared: that both accept or both
refuse the program, every output's dtype, static shape and value, and the first- and second-order
gradients (None where TF gives None). A case in ``DIFFERENCES`` is a deliberate difference listed in
docs/api.md; it must still differ (so the list stays true).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "tf_reference"
sys.path.insert(0, str(HERE))

from cases import CASES  # noqa: E402
from harness import run_case  # noqa: E402

import nnctl as tf  # noqa: E402

_FIXTURE = HERE / "tf_2_21.json"
_RECORDED = json.loads(_FIXTURE.read_text())["cases"] if _FIXTURE.exists() else {}

# case name -> why nnctl differs from TF on purpose (each is listed in docs/api.md)
DIFFERENCES: dict[str, str] = {
    "transpose_negative_perm": "TF's gradient of a transpose with a negative perm fails at run time "
                               "(InvalidPermutation); nnctl normalises the perm, so the gradient works",
    "conv2d_dilated": "TF's CPU kernels cannot backpropagate a dilated conv2d; nnctl's can",
    "where_shape_mismatch": "nnctl's tf.where broadcasts x, y and the condition like numpy (TF's where_v2 "
                            "rule); TF1's where requires equal shapes",
    "gather_negative_index": "nnctl's gather wraps negative indices like numpy; TF raises on the CPU",
    "maximum_python_left": "a Python number as the first argument of tf.maximum (tf.add, tf.pow ...) takes the "
                           "other argument's dtype in nnctl; TF converts it alone (to float32) and raises",
    "pow_python_base": "as maximum_python_left",
    "softmax_ce_broadcast_labels": "TF's gradient rule cannot handle labels broadcast against the logits "
                                   "(ValueError); nnctl's sums the labels' gradient back to their shape",
}

_RTOL = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-9}


def _close(ours: dict, theirs: dict, what: str) -> list[str]:
    if ours["dtype"] != theirs["dtype"]:
        return [f"{what}: dtype {ours['dtype']} vs TF {theirs['dtype']}"]
    if ours["shape"] != theirs["shape"]:
        return [f"{what}: shape {ours['shape']} vs TF {theirs['shape']}"]
    a, b = np.asarray(ours["value"], dtype=ours["dtype"]), np.asarray(theirs["value"], dtype=theirs["dtype"])
    if a.dtype.kind == "f":
        rtol = _RTOL[a.dtype.name]
        ok = np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.isposinf(a), np.isposinf(b)) and \
            np.array_equal(np.isneginf(a), np.isneginf(b))
        fin = np.isfinite(a) & np.isfinite(b)
        ok = ok and np.allclose(a[fin], b[fin], rtol=rtol, atol=rtol)
    else:
        ok = np.array_equal(a, b)
    return [] if ok else [f"{what}: value {a.tolist()} vs TF {b.tolist()}"]


def compare(ours: dict, theirs: dict) -> list[str]:
    """The disagreements between two observations of one case (empty when they agree)."""
    t_err = theirs.get("build_error") or theirs.get("run_error")
    o_err = ours.get("build_error") or ours.get("run_error")
    if t_err or o_err:
        if t_err and o_err:
            return []
        return [f"TF {'refuses (' + t_err + ')' if t_err else 'accepts'}, nnctl "
                f"{'refuses (' + o_err + ')' if o_err else 'accepts'}"]
    out: list[str] = []
    if len(ours["outs"]) != len(theirs["outs"]):
        return [f"{len(ours['outs'])} outputs vs TF {len(theirs['outs'])}"]
    for k, (o, t) in enumerate(zip(ours["outs"], theirs["outs"])):
        if o["static_shape"] != t["static_shape"]:
            out.append(f"output {k}: static shape {o['static_shape']} vs TF {t['static_shape']}")
        out += _close(o, t, f"output {k}")
    for key in ("grad_error", "hvp_error"):
        if bool(ours.get(key)) != bool(theirs.get(key)):
            out.append(f"{key}: nnctl {ours.get(key)} vs TF {theirs.get(key)}")
    for key in ("grads", "hvps"):
        og, tg = ours.get(key), theirs.get(key)
        if og is None or tg is None:
            if (og is None) != (tg is None) and not (ours.get("grad_error") or theirs.get("grad_error")):
                out.append(f"{key}: nnctl {'none' if og is None else 'some'} vs TF {'none' if tg is None else 'some'}")
            continue
        for k, (a, b) in enumerate(zip(og, tg)):
            if (a is None) != (b is None):
                out.append(f"{key}[{k}]: nnctl {'None' if a is None else 'a tensor'} vs TF "
                           f"{'None' if b is None else 'a tensor'}")
            elif a is not None:
                out += _close(a, b, f"{key}[{k}]")
    return out


@pytest.mark.skipif(not _RECORDED, reason="tests/tf_reference/tf_2_21.json is missing")
def test_the_fixture_covers_every_case():
    missing = [c.name for c in CASES if c.name not in _RECORDED]
    assert not missing, f"cases without a TF record (run tests/tf_reference/record.py): {missing[:20]}"


@pytest.mark.parametrize("case", [c for c in CASES if c.name in _RECORDED], ids=lambda c: c.name)
def test_nnctl_agrees_with_tensorflow(case):
    with np.errstate(all="ignore"):
        ours = run_case(tf, case)
    problems = compare(ours, _RECORDED[case.name])
    if case.name in DIFFERENCES:
        assert problems, f"{case.name} now agrees with TF: remove it from DIFFERENCES and docs/api.md"
        return
    assert not problems, f"{case.name}: " + "; ".join(problems)


def test_every_difference_is_a_case():
    names = {c.name for c in CASES}
    assert not [n for n in DIFFERENCES if n not in names]
