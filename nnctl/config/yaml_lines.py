"""YAML loading that remembers the line of every key.

PyYAML's ``safe_load`` throws positions away and silently keeps the last of two equal keys. Here a
``SafeLoader`` only *composes* the node tree; we turn nodes into plain Python values ourselves so
that we can (a) record ``{dotted_key: line}`` for every mapping key and list item, (b) reject
duplicate keys, (c) accept nothing but plain data (mappings, lists, null, bool, int, float, str):
an unknown tag such as ``!!python/object`` is an error, never a constructor call.

Dotted keys look like ``model.layers[1].units``; the root mapping is ``""``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from nnctl.errors import ConfigError

__all__ = ["describe_value", "join_key", "index_key", "parent_key", "load_yaml", "read_text_file"]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp")}
# Aliases let a 1 KB file expand to gigabytes ("billion laughs"); real configs are small.
_MAX_NODES = 200_000
_MAX_DEPTH = 100


def join_key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index_key(path: str, index: int) -> str:
    return f"{path}[{index}]"


def parent_key(key: str) -> str | None:
    """``a.b[2].c`` -> ``a.b[2]`` -> ``a.b`` -> ``a`` -> ``""`` -> None."""
    if key == "":
        return None
    cut = max(key.rfind("."), key.rfind("["))
    return key[:cut] if cut > 0 else ""


def describe_value(value: Any) -> str:
    """How a value reads in an error message, YAML-flavoured: ``string 'three'``, ``boolean true``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        if math.isnan(value):
            return "number .nan"
        return f"number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"string {text!r}"
    if isinstance(value, list):
        return f"a list ({len(value)} item{'' if len(value) == 1 else 's'})"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def read_text_file(path: str | Path, display: str) -> str:
    """Read a config file as UTF-8 text, turning every OS/encoding failure into a ConfigError."""
    from nnctl.errors import InputError
    from nnctl.fileio import read_file_bytes
    p = Path(path)
    if str(path) == "":
        raise ConfigError("empty path given for the config file", file="<config>")
    try:
        if not p.exists():
            raise ConfigError(f"config file not found (looked for {p.absolute()})", file=display)
        # regular files only: a FIFO or a device is refused without blocking, a huge file by the budget
        raw = read_file_bytes(p, "YAML config file", InputError)
    except InputError as e:
        msg = str(e)
        if msg.startswith(f"{p}: "):
            msg = msg[len(f"{p}: "):]
        raise ConfigError(msg.replace("expected a YAML", "expected a YAML"), file=display) from None
    except OSError as e:
        raise ConfigError(f"cannot read the config file: {e.strerror or e}", file=display) from None
    try:
        # utf-8-sig: editors on Windows like to prepend a byte-order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); "
                          "save the file with UTF-8 encoding", file=display, line=line) from None


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader used to compose nodes and to construct plain scalars, nothing else."""


# PyYAML's pure-Python scanner takes about a millisecond per list item: a 100,000-name class_names
# list took 48 s. Large documents are composed by libyaml (the same safe nodes, with line marks),
# small ones keep the pure-Python loader's error messages.
_FAST_ABOVE = 64 * 1024
_FastLoader: Any = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        """libyaml's safe loader, used like _LineLoader for large documents."""


def load_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """Parse one YAML document; return ``(value, {dotted_key: 1-based line})``.

    ``value`` is None for an empty document. Errors are ConfigErrors naming ``source`` and a line.
    """
    loader = None
    try:
        # The reader rejects control characters already while it is constructed.
        loader = _FastLoader(text) if _FastLoader is not None and len(text) > _FAST_ABOVE else _LineLoader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        raise _yaml_error(e, source) from None
    except yaml.YAMLError as e:
        # ReaderError (control characters) carries an offset into the text instead of a mark.
        pos = getattr(e, "position", None)
        line = text[:pos].count("\n") + 1 if isinstance(pos, int) else None
        raise ConfigError(f"invalid YAML: {e}", file=source, line=line) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, {}
    conv = _Converter(loader, source)
    conv.lines[""] = node.start_mark.line + 1
    return conv.convert(node, "", 0), conv.lines


def _yaml_error(e: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = e.problem_mark or e.context_mark
    msg = f"invalid YAML: {e.problem or 'syntax error'}"
    if e.context:
        msg += f" ({e.context})"
    if mark is not None:
        msg += f" at column {mark.column + 1}"
    if "'\\t'" in msg:
        msg += "; indent with spaces, YAML does not allow tabs"
    return ConfigError(msg, file=source, line=mark.line + 1 if mark is not None else None)


def _tag(node: yaml.Node) -> str:
    return "!!" + node.tag[len(_TAG):] if node.tag.startswith(_TAG) else repr(node.tag)


class _Converter:
    def __init__(self, loader: Any, source: str) -> None:
        self.loader, self.source = loader, source
        self.lines: dict[str, int] = {}
        self.count = 0
        self.active: set[int] = set()  # node ids on the current path: an alias back into one is a cycle

    def error(self, node: yaml.Node, message: str, key: str | None) -> ConfigError:
        return ConfigError(message, file=self.source, line=node.start_mark.line + 1, key=key or None)

    def convert(self, node: yaml.Node, path: str, depth: int) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise self.error(node, f"document too large (more than {_MAX_NODES} values after "
                                   "expanding aliases)", path)
        if depth > _MAX_DEPTH:
            raise self.error(node, f"nested more than {_MAX_DEPTH} levels deep", path)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            raise self.error(node, "an alias refers to a mapping or list that contains it", path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                if node.tag != _TAG + "seq":
                    raise self.error(node, f"unsupported YAML tag {_tag(node)}; configs are plain data", path)
                out = []
                for i, item in enumerate(node.value):
                    key = index_key(path, i)
                    self.lines[key] = item.start_mark.line + 1
                    out.append(self.convert(item, key, depth + 1))
                return out
            if node.tag != _TAG + "map":
                raise self.error(node, f"unsupported YAML tag {_tag(node)}; configs are plain data", path)
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, path: str) -> Any:
        if node.tag not in _SCALAR_TAGS:
            raise self.error(node, f"unsupported YAML tag {_tag(node)}; configs are plain data", path)
        if node.tag == _TAG + "timestamp":
            # No config value is a date; keeping the text lets `name: 2024-01-01` stay a name.
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as e:
            raise self.error(node, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {e}",
                             path) from None

    def mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(key_node, "a key must be a plain name, not a list or mapping", path)
            key = self.scalar(key_node, path)
            if not isinstance(key, str):
                raise self.error(key_node, f"a key must be a name, but YAML reads {key_node.value!r} as "
                                           f"{describe_value(key)}; put it in quotes", path)
            line = key_node.start_mark.line + 1
            kpath = join_key(path, key)
            if key in first_line:
                raise self.error(key_node, f"duplicate key '{key}' (first on line {first_line[key]}); "
                                           "YAML would silently keep only the last one", kpath)
            first_line[key] = line
            self.lines[kpath] = line
            out[key] = self.convert(value_node, kpath, depth + 1)
        if not merges:
            return out
        # `<<: *base` merge keys: keys written in this mapping win, then earlier merge sources win.
        merged: dict[str, Any] = {}
        own_lines, self.lines = self.lines, {}
        try:
            for m in merges:
                sources = m.value if isinstance(m, yaml.SequenceNode) else [m]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        raise self.error(src, "'<<' (merge) needs a mapping or a list of mappings", path)
                    for k, v in self.convert(src, path, depth + 1).items():
                        merged.setdefault(k, v)
        finally:
            merge_lines, self.lines = self.lines, own_lines
        for k, line in merge_lines.items():
            self.lines.setdefault(k, line)
        for k, v in out.items():
            merged[k] = v
        return merged
