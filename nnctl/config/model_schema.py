"""The ``model:`` section: inputs, layers (a chain or a graph of named layers), reusable blocks and
the output layer, validated into :class:`ModelConfig`.

Layer keys come from the layer registry (each class's ``schema``, nnctl/layers/); this module
turns those declarations into the config readers of nnctl/config/schema.py, resolves every
``inputs:`` reference (unknown and forward references, cycles and unused layers are errors at the
YAML line), and expands ``{block: NAME, repeat: N}`` into N copies of the block's layers with their
own names (``<use>_<r>/<layer>``) and so their own variables.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nnctl.config.yaml_lines import describe_value, index_key, join_key
from nnctl.layers.base import REQUIRED, Key, layer_types
from nnctl.layers.initializers import Initializer

BLOCK_INPUT = "in"          # inside a block, the block's input
DEFAULT_INPUT = "input"     # the one model input of `input_shape:`
_LAYER_COMMON = ("type", "name", "inputs")
_BLOCK_USE_KEYS = ("block", "repeat", "name", "inputs")
_INPUT_KEYS = ("name", "shape", "columns")
_MODEL_KEYS = ("input_shape", "inputs", "layers", "blocks", "output")


@dataclass(frozen=True)
class LayerConfig:
    """One layer: its type, name, the schema-checked ``params`` and the names of its inputs.

    ``key`` is where it is written (``model.layers[2]`` or ``model.blocks.res[1]``); a layer from a
    repeated block also records the block use (``use_key``) and its repetition. Params read as
    attributes (``layer.units``); a key the type does not have reads as None."""

    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    index: int = field(default=0, compare=False)
    key: str = field(default="", compare=False)
    use_key: str | None = field(default=None, compare=False)
    repetition: int | None = None
    explicit_inputs: bool = field(default=False, compare=False)

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        return self.__dict__.get("params", {}).get(item)

    @property
    def where(self) -> str:
        """Where to point errors: the block use for a repeated layer, with the template named."""
        return self.use_key or self.key


@dataclass(frozen=True)
class InputConfig:
    """A named model input: its shape and which feature columns (indices) feed it (None: all)."""

    name: str
    shape: tuple[int, ...]
    columns: tuple[int, ...] | None = None
    key: str = field(default="model.input_shape", compare=False)


@dataclass(frozen=True)
class BlockUse:
    """``{block: NAME, repeat: N}`` as written in model.layers (kept for writing the config back)."""

    block: str
    name: str
    repeat: int
    inputs: tuple[str, ...] | None
    key: str = field(compare=False)
    explicit_inputs: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class ModelConfig:
    input_shape: tuple[int, ...]            # the single input's shape; with several inputs (features,)
    layers: list[LayerConfig]               # every layer, blocks expanded, in an order where inputs come first
    inputs: tuple[InputConfig, ...] = ()
    output: str = ""
    blocks: dict[str, tuple[LayerConfig, ...]] = field(default_factory=dict)
    entries: tuple[Any, ...] = ()           # model.layers as written: LayerConfig or BlockUse
    multi_input: bool = False

    def layer(self, name: str) -> LayerConfig | None:
        for la in self.layers:
            if la.name == name:
                return la
        return None


# --- reading one layer -----------------------------------------------------------------------------

def _reader(key: Key) -> Any:
    from nnctl.config import schema as S
    from nnctl.layers.activations import ACTIVATIONS
    # a size (an int key with a lower bound) without its own upper bound gets the largest nnctl builds
    hi = int(key.hi) if key.hi is not None else (S.MAX_UNITS if key.lo is not None and key.lo >= 0 else None)
    if key.kind == "int":
        return S._Int(None if key.lo is None else int(key.lo), hi)
    if key.kind == "int_or_none":
        return S._Nullable(S._Int(None if key.lo is None else int(key.lo), hi))
    if key.kind == "float":
        return S._Float(key.lo, key.hi, lo_open=key.lo_open, hi_open=key.hi_open)
    if key.kind == "bool":
        return S._Bool()
    if key.kind == "choice":
        return S._Choice(key.choices)
    if key.kind == "activation":
        return S._Choice(ACTIVATIONS, "activation")
    if key.kind == "pair":
        return S._Pair()
    if key.kind == "initializer":
        return S._InitReader()
    if key.kind == "ints":
        return _Ints()
    raise ValueError(f"unknown key kind {key.kind!r}")


class _Ints:
    expected = "a list of integers"

    def __call__(self, v: Any, value: Any, key: str) -> tuple[int, ...]:
        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, int):
                raise v.error(index_key(key, i) if isinstance(value, list) else key,
                              f"expected an integer, got {describe_value(item)}")
            out.append(item)
        if not out:
            raise v.error(key, "expected a non-empty list of integers")
        return tuple(out)


def _default(key: Key) -> Any:
    d = key.default
    if isinstance(d, str) and key.kind == "initializer":
        return Initializer(d)
    return d


def _names(v: Any, value: Any, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise v.error(key, "expected a layer or input name, or a list of them, got an empty list")
    out = []
    for i, item in enumerate(items):
        k = index_key(key, i) if isinstance(value, list) else key
        if not isinstance(item, str) or not item.strip():
            raise v.error(k, f"expected a layer or input name, got {describe_value(item)}")
        out.append(item.strip())
    return tuple(out)


def _layer(v: Any, value: Any, path: str, index: int, default_name: str) -> LayerConfig | BlockUse:
    from nnctl.config import schema as S
    types = layer_types()
    table = {t: tuple(c.schema) for t, c in types.items()}
    # `- flatten` is shorthand for `- {type: flatten}`.
    m = {"type": value} if isinstance(value, str) else S._section(
        v, value, path, "a layer: a mapping with a `type` key (or `block:`)")
    if "block" in m and "type" not in m:
        S._check_keys(v, m, path, _BLOCK_USE_KEYS, owner="a block use")
        block = S._Name()(v, m["block"], join_key(path, "block"))
        name = S._get(v, m, path, "name", S._Name(), f"{block}_{index}")
        repeat = S._get(v, m, path, "repeat", S._Int(1), 1)
        inputs = _names(v, m["inputs"], join_key(path, "inputs")) if "inputs" in m else None
        return BlockUse(block, name, repeat, inputs, path, "inputs" in m)
    every = (*_LAYER_COMMON, *sorted({k for ks in table.values() for k in ks}))
    if "type" not in m:
        S._check_keys(v, m, path, (*every, "block", "repeat"))
        raise v.error(path, f"missing required key 'type' (one of {', '.join(types)}) or 'block'")
    kind = S._Choice(types, "layer type")(v, m["type"], join_key(path, "type"))
    cls = types[kind]
    S._check_keys(v, m, path, (*_LAYER_COMMON, *cls.schema), owner=f"a {kind} layer",
                  elsewhere=S._users({t: ks for t, ks in table.items() if t != kind}))
    name = S._get(v, m, path, "name", S._Name(), default_name.format(kind=kind))
    params: dict[str, Any] = {}
    for k, spec in cls.schema.items():
        if spec.same_as is not None and k not in m:
            params[k] = params[spec.same_as]
        elif spec.default is REQUIRED:
            params[k] = S._get(v, m, path, k, _reader(spec))
        else:
            params[k] = S._get(v, m, path, k, _reader(spec), _default(spec))
    check = getattr(cls, "check_params", None)
    if check is not None:
        problem = check(params)
        if problem:
            bad_key, message = problem
            raise v.error(join_key(path, bad_key), message)
    inputs = _names(v, m["inputs"], join_key(path, "inputs")) if "inputs" in m else ()
    return LayerConfig(type=kind, name=name, params=params, inputs=inputs, index=index, key=path,
                       explicit_inputs="inputs" in m)


# --- inputs ------------------------------------------------------------------------------------

def _shape(v: Any, raw: Any, key: str) -> tuple[int, ...]:
    from nnctl.config import schema as S
    dims = raw if isinstance(raw, list) else [raw]
    if not dims or not (isinstance(raw, list) or isinstance(raw, int)) or isinstance(raw, bool):
        raise v.error(key, f"expected a non-empty list of integers >= 1, got {describe_value(raw)}")
    return tuple(S._Int(1, S.MAX_COLUMNS)(v, d, index_key(key, i) if isinstance(raw, list) else key)
                 for i, d in enumerate(dims))


def _columns(v: Any, raw: Any, key: str) -> tuple[int, ...]:
    """Feature columns: a list of integer indices, or a slice text 'start:stop' (stop exclusive)."""
    if isinstance(raw, str):
        a, colon, b = raw.partition(":")
        try:
            start, stop = int(a or 0), int(b)
        except ValueError:
            start = stop = -1
        if not colon or start < 0 or stop <= start:
            raise v.error(key, f"expected 'start:stop' with 0 <= start < stop (feature indices, stop exclusive) "
                               f"or a list of indices, got {raw!r}")
        return tuple(range(start, stop))
    items = raw if isinstance(raw, list) else None
    if not items:
        raise v.error(key, f"expected a list of feature indices or 'start:stop', got {describe_value(raw)}")
    out: list[int] = []
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise v.error(index_key(key, i), f"expected a feature index >= 0, got {describe_value(item)}")
        if item in out:
            raise v.error(index_key(key, i), f"feature index {item} is listed twice")
        out.append(item)
    return tuple(out)


def _inputs(v: Any, m: Mapping[str, Any]) -> tuple[tuple[InputConfig, ...], bool]:
    from nnctl.config import schema as S
    if "inputs" in m and "input_shape" in m:
        raise v.error("model.inputs", "'inputs' and 'input_shape' are mutually exclusive: input_shape is "
                                      "the shorthand for one input")
    if "inputs" not in m:
        if "input_shape" not in m:
            raise v.error("model.input_shape", "missing required key 'input_shape' (a list of integers >= 1, "
                                               "e.g. [2] or [8, 8, 1]) or 'inputs' (named inputs)")
        return (InputConfig(DEFAULT_INPUT, _shape(v, m["input_shape"], "model.input_shape")),), False
    raw = m["inputs"]
    if not isinstance(raw, list) or not raw:
        raise v.error("model.inputs", f"expected a non-empty list of inputs {{name:, shape:, columns:}}, "
                                      f"got {describe_value(raw)}")
    out: list[InputConfig] = []
    for i, item in enumerate(raw):
        path = index_key("model.inputs", i)
        d = S._section(v, item, path, "an input: a mapping {name:, shape:, columns:}")
        S._check_keys(v, d, path, _INPUT_KEYS)
        name = S._get(v, d, path, "name", S._Name())
        if "shape" not in d:
            raise v.error(join_key(path, "shape"), "missing required key 'shape' (a list of integers >= 1)")
        shape = _shape(v, d["shape"], join_key(path, "shape"))
        cols = _columns(v, d["columns"], join_key(path, "columns")) if "columns" in d else None
        if cols is None and len(raw) > 1:
            raise v.error(path, f"input '{name}': a model with several inputs reads each from its own feature "
                                "columns: add columns: [indices] or columns: 'start:stop'")
        if cols is not None and len(cols) != math.prod(shape):
            raise v.error(join_key(path, "columns"), f"input '{name}' has shape {list(shape)} "
                                                     f"({math.prod(shape)} values) but {len(cols)} column(s)")
        if any(o.name == name for o in out):
            raise v.error(join_key(path, "name"), f"input name '{name}' is used twice")
        out.append(InputConfig(name, shape, cols, path))
    return tuple(out), True


# --- references ----------------------------------------------------------------------------------

def _unknown(v: Any, key: str, ref: str, known: list[str], owner: str) -> Any:
    close = difflib.get_close_matches(ref, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return v.error(key, f"{owner} reads unknown layer or input '{ref}'{hint} (known: {', '.join(known)})")


def _cycle(start: str, edges: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A cycle through ``start`` in name -> inputs edges, as [start, ..., start], if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in edges.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _resolve(v: Any, items: list[Any], scope: list[str], first: str | None, owner: str) -> list[Any]:
    """Fill in implicit inputs (the previous item) and check every reference in ``items``.

    ``scope`` holds the names visible before the first item; ``first`` is the implicit input of the
    first item (None: it must name its inputs)."""
    import dataclasses
    positions = {it.name: it.key for it in items}
    edges = {it.name: it.inputs or () for it in items}
    seen = list(scope)
    prev = first
    out = []
    for it in items:
        if it.name in seen:
            raise v.error(join_key(it.key, "name") if not isinstance(it, BlockUse) else it.key,
                          f"name '{it.name}' is already used by an earlier layer or input; rename one of them")
        refs = it.inputs
        if not refs:
            if prev is None:
                raise v.error(it.key, f"{owner}'{it.name}' must name its `inputs` (the model has several inputs: "
                                      f"{', '.join(scope)})")
            refs = (prev,)
        for j, ref in enumerate(refs):
            key = join_key(it.key, "inputs")
            if isinstance(getattr(it, "inputs", None), tuple) and len(it.inputs or ()) > 1:
                key = index_key(key, j)
            if ref in seen:
                continue
            if ref in positions:
                cyc = _cycle(it.name, edges)
                if cyc is not None:
                    raise v.error(key, f"{owner}'{it.name}' reads '{ref}' and that makes a cycle: "
                                       f"{' -> '.join(cyc)} (a layer may only read earlier layers and inputs)")
                raise v.error(key, f"{owner}'{it.name}' reads '{ref}', which is defined later at {positions[ref]}; "
                                   "a layer may only read earlier layers and inputs (move it above)")
            raise _unknown(v, key, ref, seen, f"{owner}'{it.name}'")
        out.append(dataclasses.replace(it, inputs=tuple(refs)))
        seen.append(it.name)
        prev = it.name
    return out


def _check_arity(v: Any, la: LayerConfig) -> None:
    cls = layer_types()[la.type]
    n = len(la.inputs)
    if n < cls.min_inputs or (cls.max_inputs is not None and n > cls.max_inputs):
        want = (f"{cls.min_inputs}" if cls.min_inputs == cls.max_inputs else
                f"at least {cls.min_inputs}" if cls.max_inputs is None else f"{cls.min_inputs} to {cls.max_inputs}")
        raise v.error(join_key(la.key, "inputs") if la.explicit_inputs else la.key,
                      f"{la.type} layer '{la.name}' takes {want} input(s), got {n}: {', '.join(la.inputs)}"
                      + ("" if la.explicit_inputs else "; list them with inputs: [a, b]"))


# --- the section ---------------------------------------------------------------------------------

def read_model(v: Any, value: Any) -> ModelConfig:
    from nnctl.config import schema as S
    m = S._section(v, value, "model", "a mapping with input_shape: (or inputs:) and layers:")
    S._check_keys(v, m, "model", _MODEL_KEYS)
    inputs, multi = _inputs(v, m)
    blocks: dict[str, tuple[LayerConfig, ...]] = {}
    if m.get("blocks") is not None:
        raw_blocks = S._section(v, m["blocks"], "model.blocks", "a mapping of block name -> list of layers")
        for bname, body in raw_blocks.items():
            bkey = join_key("model.blocks", str(bname))
            S._Name()(v, bname, bkey)
            if not isinstance(body, list) or not body:
                raise v.error(bkey, f"block '{bname}': expected a non-empty list of layers, got "
                                    f"{describe_value(body)}")
            tmpl = []
            for i, item in enumerate(body):
                la = _layer(v, item, index_key(bkey, i), i, "{kind}_" + str(i))
                if isinstance(la, BlockUse):
                    raise v.error(la.key, f"block '{bname}' uses block '{la.block}': blocks cannot be nested")
                if la.name == BLOCK_INPUT:
                    raise v.error(join_key(la.key, "name"), f"'{BLOCK_INPUT}' names the block's input; "
                                                            "give this layer another name")
                tmpl.append(la)
            tmpl = _resolve(v, tmpl, [BLOCK_INPUT], BLOCK_INPUT, f"block '{bname}': layer ")
            for la in tmpl:
                _check_arity(v, la)
            _check_unused(v, tmpl, [BLOCK_INPUT], tmpl[-1].name, f"block '{bname}': ")
            blocks[str(bname)] = tuple(tmpl)
    if "layers" not in m:
        raise v.error("model.layers", "missing required key 'layers' (a list of layers)")
    raw_layers = m["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        got = "an empty list" if raw_layers == [] else describe_value(raw_layers)
        raise v.error("model.layers", f"expected a non-empty list of layers, got {got}")
    entries = [_layer(v, item, index_key("model.layers", i), i, "{kind}_" + str(i))
               for i, item in enumerate(raw_layers)]
    for e in entries:
        if isinstance(e, BlockUse) and e.block not in blocks:
            close = difflib.get_close_matches(e.block, list(blocks), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise v.error(join_key(e.key, "block"), f"unknown block '{e.block}'{hint} (defined in model.blocks: "
                                                    f"{', '.join(blocks) or 'none'})")
    in_names = [i.name for i in inputs]
    _check_default_names(v, entries, raw_layers)
    entries = _resolve(v, entries, in_names, in_names[0] if len(in_names) == 1 else None, "layer ")
    import dataclasses
    # a block use's name stands for the last layer of its last repetition
    alias = {e.name: layers_of(e, blocks)[-1] for e in entries if isinstance(e, BlockUse)}
    layers: list[LayerConfig] = []
    for e in entries:
        if isinstance(e, BlockUse):
            e = dataclasses.replace(e, inputs=tuple(alias.get(i, i) for i in e.inputs or ()))
            layers.extend(_expand(v, e, blocks[e.block]))
        else:
            _check_arity(v, e)
            layers.append(dataclasses.replace(e, inputs=tuple(alias.get(i, i) for i in e.inputs)))
    output = m.get("output")
    if output is None:
        out_name = entries[-1].name
    else:
        out_name = S._Str()(v, output, "model.output").strip()
        known = [*in_names, *(e.name for e in entries)]
        if out_name not in known:
            raise _unknown(v, "model.output", out_name, known, "model.output")
        if out_name in in_names:
            raise v.error("model.output", f"model.output '{out_name}' is a model input; name a layer")
    _check_unused(v, entries, in_names, out_name, "")
    if multi:
        width = max(max(i.columns) + 1 for i in inputs if i.columns) if any(i.columns for i in inputs) else None
        input_shape = (width,) if width is not None and len(inputs) > 1 else inputs[0].shape
    else:
        input_shape = inputs[0].shape
    # the output of a block use is its last layer's output
    final = out_name
    for e in entries:
        if isinstance(e, BlockUse) and e.name == out_name:
            final = layers_of(e, blocks)[-1]
    return ModelConfig(input_shape=tuple(input_shape), layers=layers, inputs=inputs, output=final, blocks=blocks,
                       entries=tuple(entries), multi_input=multi)


def _check_default_names(v: Any, entries: list[Any], raw: list[Any]) -> None:
    owner: dict[str, int] = {}
    for e in entries:
        idx = int(e.key.rsplit("[", 1)[1].rstrip("]"))
        if e.name in owner:
            given = isinstance(raw[idx], dict) and "name" in raw[idx]
            what = f"name '{e.name}'" if given else f"default name '{e.name}'"
            fix = "rename one of them" if given else "give this layer a `name`"
            raise v.error(join_key(e.key, "name") if given else e.key,
                          f"{what} is already used by model.layers[{owner[e.name]}]; {fix}")
        owner[e.name] = idx


def layers_of(use: BlockUse, blocks: Mapping[str, tuple[LayerConfig, ...]]) -> list[str]:
    tmpl = blocks[use.block]
    return [f"{use.name}_{r}/{la.name}" for r in range(1, use.repeat + 1) for la in tmpl]


def _expand(v: Any, use: BlockUse, tmpl: tuple[LayerConfig, ...]) -> list[LayerConfig]:
    out = []
    prev_out = use.inputs[0] if use.inputs else None
    if use.inputs and len(use.inputs) > 1:
        raise v.error(join_key(use.key, "inputs"), f"block use '{use.name}' reads {len(use.inputs)} inputs; "
                                                   "a block has one input ('in')")
    assert prev_out is not None
    for r in range(1, use.repeat + 1):
        prefix = f"{use.name}_{r}/"
        for la in tmpl:
            ins = tuple(prev_out if i == BLOCK_INPUT else prefix + i for i in la.inputs)
            out.append(_replace(la, name=prefix + la.name, inputs=ins, use_key=use.key, repetition=r))
        prev_out = prefix + tmpl[-1].name
    # layers that read the block use by its name read its last layer
    return out


def _replace(obj: Any, **kw: Any) -> Any:
    import dataclasses
    return dataclasses.replace(obj, **kw)


def _check_unused(v: Any, items: list[Any], in_names: list[str], output: str, owner: str) -> None:
    used = {r for it in items for r in it.inputs} | {output}
    for name in in_names:
        if name not in used and name != BLOCK_INPUT:
            key = next((k for k in ("model.inputs",)), "model.inputs")
            raise v.error(key, f"{owner}model input '{name}' is not used: no layer reads it")
    for it in items:
        if it.name not in used:
            raise v.error(it.key, f"{owner}layer '{it.name}' is not used: no layer reads its output and it is not "
                                  f"the output ({output}); remove it or add it to a layer's inputs")


def model_to_dict(mc: ModelConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if mc.multi_input:
        out["inputs"] = [{"name": i.name, "shape": list(i.shape),
                          **({"columns": list(i.columns)} if i.columns is not None else {})} for i in mc.inputs]
    else:
        out["input_shape"] = list(mc.input_shape)
    if mc.blocks:
        out["blocks"] = {b: [_layer_to_dict(la) for la in t] for b, t in mc.blocks.items()}
    out["layers"] = [_layer_to_dict(e) if isinstance(e, LayerConfig) else
                     {"block": e.block, "name": e.name, "repeat": e.repeat,
                      **({"inputs": list(e.inputs)} if e.explicit_inputs else {})} for e in mc.entries]
    out["output"] = next((e.name for e in mc.entries if e.name == mc.output or
                          (isinstance(e, BlockUse) and mc.output.startswith(e.name + "_"))), mc.output)
    return out


def _init_to_dict(init: Initializer) -> str | dict[str, Any]:
    return {"name": init.name, **init.params} if init.params else init.name


def _layer_to_dict(layer: LayerConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"type": layer.type, "name": layer.name}
    for key, val in layer.params.items():
        if isinstance(val, Initializer):
            val = _init_to_dict(val)
        elif isinstance(val, tuple):
            val = list(val)
        out[key] = val
    if layer.explicit_inputs:
        out["inputs"] = list(layer.inputs)
    return out
