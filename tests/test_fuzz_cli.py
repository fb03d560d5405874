"""Fuzzing the front door: mutated shipped configs through ``nnctl validate`` and ``nnctl train``.

Every outcome must be a clean one: exit 0, exit 2 with a message naming a config line or key, or
exit 1 for a non-finite loss; never a traceback or an "internal error". ``validate`` and ``train``
must agree on whether a config is usable.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
# keep every run tiny; when a mutation makes these invalid the run must still fail cleanly
CAPS = ["train.steps=2", "train.eval_every=1", "train.checkpoint_every=1", "train.log_every=1"]
NEW_VALUES: list[Any] = ["abc", [1, "x"], {"zz": 1}, None, True, -1, 0.5, ""]
STRUCT = ("drop_key", "change_type", "unknown_key")
TEXT = ("delete_char", "delete_line", "insert_tab", "unbalance")
TOP_KEYS = ("name", "seed", "backend", "data", "model", "loss", "optimizer", "train", "metrics")
NAMES_A_KEY = re.compile(r"\b(" + "|".join(TOP_KEYS) + r")(\.\w|\[\d+\]|:)")
NAMES_A_LINE = re.compile(r":\d+:")




def base_text(path: Path) -> str:
    # data paths are relative to the config's folder; the mutated copy lives elsewhere
    return path.read_text().replace("../datasets/", f"{ROOT / 'datasets'}/")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out: list[tuple] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def _node(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


def mutate(text: str, kind: str, a: int, b: int) -> str:
    if kind in STRUCT:
        data = copy.deepcopy(yaml.safe_load(text))
        paths = _paths(data)
        path = paths[a % len(paths)]
        parent = _node(data, path[:-1])
        if kind == "drop_key":
            del parent[path[-1]]
        elif kind == "change_type":
            parent[path[-1]] = NEW_VALUES[b % len(NEW_VALUES)]
        else:
            maps = [()] + [p for p in paths if isinstance(_node(data, p), dict)]
            _node(data, maps[a % len(maps)])[f"bogus_{b}"] = 1
        return yaml.safe_dump(data, sort_keys=False)
    if kind == "delete_char":
        i = a % len(text)
        return text[:i] + text[i + 1:]
    lines = text.splitlines(keepends=True)
    if kind == "delete_line":
        del lines[a % len(lines)]
        return "".join(lines)
    if kind == "insert_tab":
        i = a % len(lines)
        j = b % (len(lines[i]) + 1)
        lines[i] = lines[i][:j] + "\t" + lines[i][j:]
        return "".join(lines)
    # unbalance: drop a closing bracket, or add an opening one
    closers = [i for i, c in enumerate(text) if c in "]}"]
    if closers and b % 2:
        i = closers[a % len(closers)]
        return text[:i] + text[i + 1:]
    i = a % len(text)
    return text[:i] + "[{"[b % 2] + text[i:]


def check_outcome(code: int, out: str, err: str, what: str) -> None:
    assert "Traceback" not in out + err, f"{what}: traceback\n{err}"
    assert "internal error" not in err, f"{what}: {err}"
    assert code in (0, 1, 2), f"{what}: exit {code}\n{err}"
    if code == 1:
        assert re.search(r"became (nan|inf|-inf)|non-finite", err), f"{what}: exit 1 without a non-finite loss\n{err}"
    if code == 2:
        line = next((ln for ln in err.splitlines() if ln.startswith("error:")), "")
        assert line, f"{what}: exit 2 without an error line\n{err}"
        assert NAMES_A_LINE.search(line) or NAMES_A_KEY.search(line) or "--set" in line, \
            f"{what}: exit 2 message names neither a line nor a key: {line}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.sampled_from(CONFIGS), kind=st.sampled_from(STRUCT + TEXT),
       a=st.integers(0, 10_000), b=st.integers(0, 100))
def test_mutated_configs_fail_cleanly(config: Path, kind: str, a: int, b: int) -> None:
    text = mutate(base_text(config), kind, a, b)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / config.name
        path.write_text(text)
        caps = [x for c in CAPS for x in ("--set", c)]
        v = run_cli("validate", path, *caps)
        check_outcome(*v, f"validate {config.name} after {kind}")
        t = run_cli("train", path, "--run-dir", Path(tmp) / "run", "--quiet", *caps)
        check_outcome(*t, f"train {config.name} after {kind}")
        # validate is the dry run of train: they agree on whether the config can be used
        assert (v[0] == 2) == (t[0] == 2), f"validate exit {v[0]} but train exit {t[0]}\n{v[2]}\n{t[2]}\n{text}"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_unmutated_configs_pass(config: Path) -> None:
    """The baseline is valid, so every failure above comes from its mutation."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / config.name
        path.write_text(base_text(config))
        code, _, err = run_cli("validate", path)
        assert code == 0, err
