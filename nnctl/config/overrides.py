"""``--set KEY=VALUE`` overrides, applied to the raw YAML data before validation.

KEY is a dotted path (``optimizer.lr``, ``model.layers[0].units`` or ``model.layers.0.units``);
VALUE is read as YAML, so ``0.5`` is a number, ``[8, 8, 1]`` a list and ``null`` clears a key.
Whether the path names a real setting is decided by the schema afterwards, which knows that
``train.log_every`` is valid even when the file does not mention it; errors it raises inside an
overridden path are reported against ``--set`` rather than the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nnctl.config.yaml_lines import describe_value, index_key, join_key, load_yaml
from nnctl.errors import ConfigError

__all__ = ["Override", "parse_override", "apply_overrides", "SOURCE"]

SOURCE = "--set"
_NAME = re.compile(r"[^.\[\]\s=]+")
_INDEX = re.compile(r"\[(\d+)\]")
# Two ways to say how long to train: overriding one replaces the other from the file.
_EXCLUSIVE_PAIRS = {("train", "steps"): "epochs", ("train", "epochs"): "steps"}


@dataclass(frozen=True)
class Override:
    text: str                       # as the user typed it, for messages
    path: str                       # canonical dotted key, e.g. model.layers[0].units
    parts: tuple[str | int, ...]    # ("model", "layers", 0, "units")
    value: Any


def _parse_path(key: str, text: str) -> tuple[tuple[str | int, ...], str]:
    parts: list[str | int] = []
    for segment in key.split("."):
        m = _NAME.match(segment)
        if m is None:
            if segment.isdigit():
                parts.append(int(segment))
                continue
            raise ConfigError(f"malformed key {key!r} in {text!r}: expected a dotted path such as "
                              "optimizer.lr or model.layers[0].units", file=SOURCE, key=key or None)
        name, rest = m.group(), segment[m.end():]
        parts.append(int(name) if name.isdigit() else name)
        while rest:
            im = _INDEX.match(rest)
            if im is None:
                raise ConfigError(f"malformed key {key!r} in {text!r}: expected [N] after {name!r}",
                                  file=SOURCE, key=key)
            parts.append(int(im.group(1)))
            rest = rest[im.end():]
    if isinstance(parts[0], int):
        raise ConfigError(f"malformed key {key!r} in {text!r}: a path starts with a name",
                          file=SOURCE, key=key)
    canon = ""
    for p in parts:
        canon = index_key(canon, p) if isinstance(p, int) else join_key(canon, p)
    return tuple(parts), canon


def parse_override(text: str) -> Override:
    """Parse one ``KEY=VALUE`` string (the value is YAML, read safely)."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"malformed override {text!r}: expected KEY=VALUE, e.g. optimizer.lr=0.01",
                          file=SOURCE)
    key, _, value_text = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"malformed override {text!r}: the key before '=' is empty", file=SOURCE)
    parts, path = _parse_path(key, text)
    try:
        value, _ = load_yaml(value_text, SOURCE)
    except ConfigError as e:
        raise ConfigError(f"cannot read the value {value_text!r} in {text!r}: {e.message}",
                          file=SOURCE, key=path) from None
    return Override(text=text, path=path, parts=parts, value=value)


def apply_overrides(data: dict[str, Any], lines: dict[str, int], overrides: Iterable[str]) -> list[Override]:
    """Apply overrides in order (a later one wins), editing ``data`` and ``lines`` in place."""
    if isinstance(overrides, str):
        # A lone string would otherwise be applied character by character.
        overrides = [overrides]
    applied = [parse_override(t) for t in overrides]
    from_set: set[str] = set()
    for ov in applied:
        _apply(data, ov)
        from_set.add(ov.path)
        other = _EXCLUSIVE_PAIRS.get(ov.parts) if len(ov.parts) == 2 else None
        if other is not None and ov.value is not None and f"train.{other}" not in from_set:
            train = data.get("train")
            if isinstance(train, dict):
                train.pop(other, None)
        # The file's lines below a replaced value describe text that no longer applies.
        for k in [k for k in lines if k.startswith(ov.path + ".") or k.startswith(ov.path + "[")]:
            del lines[k]
    return applied


def _apply(data: dict[str, Any], ov: Override) -> None:
    cur: Any = data
    where = ""
    for i, part in enumerate(ov.parts):
        last = i == len(ov.parts) - 1
        if isinstance(part, int):
            if not isinstance(cur, list):
                raise ConfigError(f"cannot index {where or 'the config'} with [{part}]: it is "
                                  f"{describe_value(cur)}, not a list (in {ov.text!r})",
                                  file=SOURCE, key=ov.path)
            if part >= len(cur):
                raise ConfigError(f"index {part} is out of range: {where} has {len(cur)} item"
                                  f"{'' if len(cur) == 1 else 's'} (in {ov.text!r})",
                                  file=SOURCE, key=ov.path)
            where = index_key(where, part)
        else:
            if not isinstance(cur, dict):
                hint = f"; use {where}[N].{part}" if isinstance(cur, list) else ""
                raise ConfigError(f"cannot set {part!r} inside {where}: it is {describe_value(cur)}, "
                                  f"not a mapping{hint} (in {ov.text!r})", file=SOURCE, key=ov.path)
            where = join_key(where, part)
        if last:
            cur[part] = ov.value
        elif isinstance(cur, dict) and cur.get(part) is None:
            # Absent or null sections are created, so `--set data.val.csv=v.csv` works on its own.
            cur[part] = {}
            cur = cur[part]
        else:
            cur = cur[part]
