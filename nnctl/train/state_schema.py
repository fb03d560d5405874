"""Validation of the state files a run writes: checkpoint manifest and state.json, best.json,
summary.json.

A matching SHA-256 only proves a file is what was written; a hand-edited or damaged run with its
checksums recomputed still lands here. Every field is checked for type, range and consistency
(with the manifest, the checkpoint's arrays, the config and metrics.jsonl) with the readers of the
config schema (:mod:`nnctl.config.schema`), and every error is a :class:`FileFormatError` that names
the file and the dotted field, so a damaged checkpoint is skipped like a bit flip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.config.schema import _V, _Float, _Int, _Reader, _Str
from nnctl.config.yaml_lines import describe_value
from nnctl.errors import ConfigError, FileFormatError

# Steps are counted in int64 (the global step variable); JSON integers beyond it are refused.
MAX_STEP = 2**62
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class _Num(_Float):
    """A JSON number (never a numeric string, which the config reader would accept)."""

    def __call__(self, v: _V, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(v, value, key)
        return super().__call__(v, value, key)


class _Ctx(_V):
    """A validation context for one state file: errors name the file and the dotted field."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(str(path), {}, Path("."), [])

    def error(self, key: str, message: str) -> ConfigError:  # type: ignore[override]
        return ConfigError(message, file=self.source, key=key)


def _fail(e: ConfigError) -> FileFormatError:
    return FileFormatError(f"{e} (damaged or hand-edited state)")


def _map(v: _Ctx, value: Any, key: str, required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise v.error(key, f"expected a JSON object, got {describe_value(value)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise v.error(key, f"missing field(s) {', '.join(missing)}")
    return value


def _field(v: _Ctx, m: Mapping[str, Any], key: str, name: str, reader: _Reader) -> Any:
    return reader(v, m.get(name), f"{key}.{name}" if key else name)


def _best(v: _Ctx, value: Any, key: str, step: int | None) -> dict[str, Any] | None:
    if value is None:
        return None
    m = _map(v, value, key, ("step", "value", "metric"))
    hi = step if step is not None else MAX_STEP
    s = _field(v, m, key, "step", _Int(0, hi))
    val = _field(v, m, key, "value", _Num())
    metric = _field(v, m, key, "metric", _Str())
    return {**m, "step": s, "value": val, "metric": metric}


def validate_manifest(manifest: Any, path: str | Path) -> None:
    """Fields of a checkpoint manifest beyond format, version and checksum (checked by the loader)."""
    v = _Ctx(path)
    try:
        m = _map(v, manifest, "", ("step", "files", "config_fingerprint", "graph_fingerprint", "arrays"))
        _field(v, m, "", "step", _Int(0, MAX_STEP))
        for k in ("config_fingerprint", "graph_fingerprint"):
            _field(v, m, "", k, _Str())
        files = m["files"]
        if not isinstance(files, dict) or not all(isinstance(d, str) and _HEX64.match(d) for d in files.values()):
            raise v.error("files", "expected an object of file name -> SHA-256")
        arrays = m["arrays"]
        if not isinstance(arrays, list) or not all(isinstance(a, str) for a in arrays) \
                or len(set(arrays)) != len(arrays):
            raise v.error("arrays", "expected a list of distinct array names")
    except ConfigError as e:
        raise _fail(e) from None


def validate_state(state: Any, path: str | Path, step: int, arrays: Mapping[str, np.ndarray] | None = None
                   ) -> None:
    """Every field of a checkpoint's state.json, and its agreement with the manifest's step and the
    checkpoint's arrays (the global step variable, the recorded variable shapes)."""
    v = _Ctx(path)
    try:
        s = _map(v, state, "", ("batcher", "rng", "trainer", "variables"))
        t = _map(v, s["trainer"], "trainer", ("step", "elapsed", "best", "wait", "loss_acc", "metrics_bytes"))
        tstep = _field(v, t, "trainer", "step", _Int(0, MAX_STEP))
        if tstep != step:
            raise v.error("trainer.step", f"is {tstep} but the manifest's step is {step}")
        _field(v, t, "trainer", "elapsed", _Num(0.0))
        _best(v, t["best"], "trainer.best", step)
        _field(v, t, "trainer", "wait", _Int(0, MAX_STEP))
        _field(v, t, "trainer", "metrics_bytes", _Int(0, 2**62))
        acc = t["loss_acc"]
        if not isinstance(acc, list) or len(acc) != 2:
            raise v.error("trainer.loss_acc", f"expected [sum of losses, count], got {describe_value(acc)}")
        _Num()(v, acc[0], "trainer.loss_acc[0]")
        _Int(0, step)(v, acc[1], "trainer.loss_acc[1]")
        rng = s["rng"]
        if not isinstance(rng, dict):
            raise v.error("rng", f"expected an object of op name -> generator state, got {describe_value(rng)}")
        for name, st in rng.items():
            g = _map(v, st, f"rng.{name}", ("bit_generator", "state"))
            if g["bit_generator"] != "PCG64" or not isinstance(g["state"], dict):
                raise v.error(f"rng.{name}", "expected a PCG64 generator state")
            for k in ("state", "inc"):
                x = g["state"].get(k)
                if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**128:
                    raise v.error(f"rng.{name}.state.{k}", f"expected a 128-bit integer, got {describe_value(x)}")
        variables = s["variables"]
        if not isinstance(variables, dict):
            raise v.error("variables", f"expected an object of variable -> [shape, dtype], got "
                                       f"{describe_value(variables)}")
        for name, spec in variables.items():
            ok = (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], list)
                  and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in spec[0])
                  and isinstance(spec[1], str))
            if not ok:
                raise v.error(f"variables.{name}", f"expected [shape, dtype], got {describe_value(spec)}")
            if arrays is not None and name in arrays and list(arrays[name].shape) != list(spec[0]):
                raise v.error(f"variables.{name}", f"records shape {spec[0]} but arrays.npz holds "
                                                   f"{list(arrays[name].shape)}")
        if arrays is not None:
            gs = arrays.get("global_step")
            if gs is not None and gs.ndim == 0 and gs.dtype.kind in "iu" and int(gs) != step:
                raise v.error("trainer.step", f"is {step} but the checkpoint's global_step variable is {int(gs)}")
    except ConfigError as e:
        raise _fail(e) from None


def validate_best(best: Any, path: str | Path) -> dict[str, Any]:
    """best.json: {step, metric, value}."""
    v = _Ctx(path)
    try:
        b = _best(v, best, "", None)
        if b is None:
            raise v.error("", "expected a JSON object, got null")
        return b
    except ConfigError as e:
        raise _fail(e) from None


def validate_summary(summary: Any, path: str | Path) -> dict[str, Any]:
    """summary.json: the fields nnctl reads back (status, steps, total steps, best, wall time)."""
    v = _Ctx(path)
    try:
        s = _map(v, summary, "", ("status", "steps", "total_steps"))
        _field(v, s, "", "status", _Str())
        steps = _field(v, s, "", "steps", _Int(0, MAX_STEP))
        _field(v, s, "", "total_steps", _Int(0, MAX_STEP))
        _best(v, s.get("best"), "best", steps)
        wt = s.get("wall_time")
        if wt is not None:
            _Num(0.0)(v, wt, "wall_time")
        if "params" in s:
            _field(v, s, "", "params", _Int(0))
        if "final" in s and not isinstance(s["final"], dict):
            raise v.error("final", f"expected an object, got {describe_value(s['final'])}")
        return dict(s)
    except ConfigError as e:
        raise _fail(e) from None
