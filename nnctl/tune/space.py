"""Search spaces for ``nnctl tune``: a YAML file that maps config keys to distributions.

Each top-level key is a dotted config key, as ``--set`` takes it; each value names a distribution::

    optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}
    model.layers[0].units: {int: [16, 256], step: 16}
    model.layers[1].rate: {uniform: [0.0, 0.5]}
    optimizer.name: {choice: [adam, momentum, sgd]}
    train.batch_size: [16, 32, 64]          # a plain list is a categorical choice

Distributions map one to one onto Optuna's (FloatDistribution, IntDistribution with ``log``/``step``,
CategoricalDistribution). Every problem is a ConfigError naming the space file, the line and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.config.overrides import parse_override
from nnctl.config.yaml_lines import describe_value, load_yaml, read_text_file
from nnctl.errors import ConfigError

__all__ = ["Param", "Space", "load_space", "parse_space_text"]

# name -> (value kind, log scale); ``float``/``int`` also take ``log: true`` and ``step``.
_KINDS: dict[str, tuple[str, bool]] = {
    "uniform": ("float", False), "float": ("float", False), "loguniform": ("float", True),
    "int": ("int", False), "logint": ("int", True), "choice": ("choice", False),
}
_OPTIONS = ("log", "step")


@dataclass(frozen=True)
class Param:
    key: str                    # canonical dotted config key, e.g. model.layers[0].units
    kind: str                   # "float" | "int" | "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    line: int | None = None

    def distribution(self) -> Any:
        """The Optuna distribution for this parameter."""
        import optuna.distributions as d
        if self.kind == "float":
            return d.FloatDistribution(float(self.low), float(self.high), log=self.log,
                                       step=None if self.step is None else float(self.step))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return d.CategoricalDistribution(self.choices)

    def extremes(self) -> list[Any]:
        """Values that bound the parameter's range (used to validate the space against the config)."""
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this parameter can take (for enqueuing the config's own value)."""
        if self.kind == "choice":
            return any(type(value) is type(c) and value == c for c in self.choices)
        if not _number(value) or (self.kind == "int" and not isinstance(value, int)):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None and not self.log:
            k = (value - self.low) / self.step
            return abs(k - round(k)) < 1e-9
        return True

    def describe(self) -> str:
        if self.kind == "choice":
            return f"choice of {list(self.choices)}"
        scale = "log-" if self.log else ""
        step = f", step {self.step}" if self.step is not None else ""
        return f"{scale}{self.kind} in [{self.low}, {self.high}]{step}"


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored with the study so a resume can tell if the space changed."""
        return {p.key: {"kind": p.kind, "low": p.low, "high": p.high, "log": p.log, "step": p.step,
                        "choices": list(p.choices)} for p in self.params}

    def overrides(self, values: dict[str, Any]) -> list[str]:
        """``--set`` strings for one trial's values (JSON is YAML, so every value reads back exactly)."""
        import json
        return [f"{k}={json.dumps(values[k])}" for k in (p.key for p in self.params)]


def _err(msg: str, source: str, lines: dict[str, int], key: str) -> ConfigError:
    return ConfigError(msg, file=source, line=lines.get(key), key=key)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param(key: str, value: Any, source: str, lines: dict[str, int]) -> Param:
    try:
        canon = parse_override(f"{key}=0").path
    except ConfigError as e:
        raise _err(e.message, source, lines, key) from None
    line = lines.get(key)
    if isinstance(value, list):
        value = {"choice": value}
    if not isinstance(value, dict):
        raise _err(f"expected a distribution such as {{uniform: [low, high]}}, {{int: [low, high]}} or "
                   f"{{choice: [a, b]}}, got {describe_value(value)}", source, lines, key)
    names = [k for k in value if k in _KINDS]
    unknown = [k for k in value if k not in _KINDS and k not in _OPTIONS]
    if unknown or len(names) != 1:
        what = f"unknown entry {unknown[0]!r}" if unknown else (
            "no distribution" if not names else f"two distributions ({', '.join(names)})")
        raise _err(f"{what}; give exactly one of {', '.join(_KINDS)} (options: log, step)", source, lines, key)
    name = names[0]
    kind, log = _KINDS[name]
    args = value[name]
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise _err(f"{name} takes a non-empty list of values, got {describe_value(args)}", source, lines, key)
        bad = [c for c in args if not (c is None or isinstance(c, (bool, int, float, str)))]
        if bad:
            raise _err(f"choices must be numbers, strings, booleans or null (got {describe_value(bad[0])}); "
                       "list-valued settings cannot be searched", source, lines, key)
        if len({repr(c) for c in args}) != len(args):
            raise _err("choices repeat a value", source, lines, key)
        if any(k in value for k in _OPTIONS):
            raise _err("choice takes no log or step", source, lines, key)
        return Param(canon, "choice", choices=tuple(args), line=line)
    if not (isinstance(args, list) and len(args) == 2 and all(_number(a) for a in args)):
        raise _err(f"{name} takes [low, high] as two finite numbers, got {describe_value(args)}", source, lines, key)
    low, high = args
    log = bool(value.get("log", log))
    if not isinstance(value.get("log", False), bool):
        raise _err(f"log must be true or false, got {describe_value(value['log'])}", source, lines, key)
    step = value.get("step")
    if kind == "int":
        if not all(isinstance(a, int) for a in args):
            raise _err(f"{name} bounds must be whole numbers, got {args}", source, lines, key)
        if step is not None and not (isinstance(step, int) and not isinstance(step, bool) and step >= 1):
            raise _err(f"step must be a whole number >= 1, got {describe_value(step)}", source, lines, key)
    elif step is not None and not (_number(step) and step > 0):
        raise _err(f"step must be a positive number, got {describe_value(step)}", source, lines, key)
    if low >= high:
        raise _err(f"low ({low}) must be below high ({high})", source, lines, key)
    if log and low <= 0:
        raise _err(f"a log scale needs low > 0, got {low}", source, lines, key)
    if log and step is not None and step != 1:
        raise _err("log and step cannot be combined (Optuna samples a log scale continuously)", source, lines, key)
    return Param(canon, kind, low=low, high=high, log=log, step=step, line=line)


def parse_space_text(text: str, source: str = "<space>") -> Space:
    data, lines = load_yaml(text, source)
    if not isinstance(data, dict) or not data:
        raise ConfigError("a search space is a mapping of config keys to distributions, e.g. "
                          "'optimizer.lr: {loguniform: [1.0e-4, 1.0e-1]}'", file=source, line=lines.get(""))
    params = [_param(str(k), v, source, lines) for k, v in data.items()]
    seen: dict[str, Param] = {}
    for p in params:
        if p.key in seen:
            raise ConfigError(f"the key is searched twice (also at line {seen[p.key].line})", file=source,
                              line=p.line, key=p.key)
        seen[p.key] = p
    return Space(tuple(params), source)


def load_space(path: str | Path) -> Space:
    return parse_space_text(read_text_file(path, str(path)), str(path))
