"""The layer reference of docs/config.md, written from the registry's schemas.

``python -m nnctl.layers.reference`` prints one ``#### `type` `` section per layer type (its shapes,
a table of its keys, an example); docs/config.md holds that text between the markers
``<!-- layers:begin -->`` and ``<!-- layers:end -->``, and tests/test_layers.py checks that it is
current. After adding a layer type, ``python -m nnctl.layers.reference --write docs/config.md``.
"""

from __future__ import annotations

from nnctl.layers.base import REQUIRED, Key, layer_types


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _kind(key: Key) -> str:
    if key.kind in ("int", "float"):
        word = "int" if key.kind == "int" else "number"
        if key.lo is not None and key.hi is not None:
            return (f"{word} in {'(' if key.lo_open else '['}{_num(key.lo)}, {_num(key.hi)}"
                    f"{')' if key.hi_open else ']'}")
        if key.lo is not None:
            return f"{word} {'>' if key.lo_open else '>='} {_num(key.lo)}"
        return word
    return {"bool": "bool", "choice": " \\| ".join(f"`{c}`" for c in key.choices), "pair": "int or `[h, w]`",
            "initializer": "initializer", "activation": "activation", "ints": "list of ints",
            "int_or_none": "int or null"}[key.kind]


def _default(key: Key) -> str:
    if key.same_as is not None:
        return f"= `{key.same_as}`"
    if key.default is REQUIRED:
        return "req."
    d = key.default
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    if isinstance(d, tuple) and len(set(d)) == 1:
        d = d[0]
    if d is None:
        return "`null`"
    return f"`{list(d) if isinstance(d, tuple) else d}`"


def _example(name: str, cls: type) -> str:
    ex = getattr(cls, "example", None)
    if ex:
        return ex
    parts = [f"type: {name}"]
    for k, key in cls.schema.items():
        if key.default is REQUIRED and key.same_as is None:
            sample = {"int": 8, "float": 0.1, "activation": "relu", "ints": "[2, 1]", "bool": "true"}
            parts.append(f"{k}: {sample.get(key.kind, 1)}")
    if cls.min_inputs > 1:
        parts.append("inputs: [a, b]")
    return "- {" + ", ".join(parts) + "}"


def section(name: str, cls: type) -> str:
    lines = [f"#### `{name}`", "", cls.doc + ".", ""]
    if cls.min_inputs != 1 or cls.max_inputs != 1:
        most = "any number" if cls.max_inputs is None else str(cls.max_inputs)
        lines += [f"Inputs: {cls.min_inputs} to {most} (list them in `inputs`).", ""]
    if cls.schema:
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for k, key in cls.schema.items():
            lines.append(f"| `{k}` | {_kind(key)} | {_default(key)} | {key.doc[0].upper() + key.doc[1:]}. |")
    else:
        lines.append("No keys besides `type`, `name` and `inputs`.")
    lines += ["", "```yaml", _example(name, cls), "```", ""]
    return "\n".join(lines)


FAMILIES = ("core", "conv", "pooling", "normalization", "merge", "embedding", "recurrent", "attention")


def _family(cls: type) -> int:
    mod = cls.__module__.rsplit(".", 1)[-1]
    return FAMILIES.index(mod) if mod in FAMILIES else len(FAMILIES)


def reference() -> str:
    types = sorted(layer_types().items(), key=lambda kv: _family(kv[1]))   # stable: registration order within
    return "\n".join(section(n, c) for n, c in types)


def write_into(path: str) -> None:
    """Replace the text between the layer markers of ``path`` (docs/config.md) with the reference."""
    import re
    from pathlib import Path

    from nnctl.fileio import atomic_write_text
    p = Path(path)
    text = p.read_text()
    new, n = re.subn(r"(<!-- layers:begin -->\n).*?(<!-- layers:end -->)",
                     lambda m: m.group(1) + reference() + m.group(2), text, flags=re.S)
    if n != 1:
        raise SystemExit(f"{path}: expected one <!-- layers:begin --> ... <!-- layers:end --> block")
    atomic_write_text(p, new)


if __name__ == "__main__":
    import sys
    if sys.argv[1:2] == ["--write"]:
        write_into(sys.argv[2] if len(sys.argv) > 2 else "docs/config.md")
    else:
        print(reference(), end="")
