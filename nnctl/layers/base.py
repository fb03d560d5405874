"""The layer base class, the schema keys a layer declares, and the registry keyed by config name.

A layer type is one class::

    @register
    class Dense(Layer):
        type = "dense"                       # the config name (`type: dense`)
        doc = "y = activation(x @ kernel + bias) on the last axis"
        schema = {"units": Key("int", lo=1, doc="output width"), ...}

        def build(self, shapes):             # variables from the input shapes -> output shape
            ...
        def call(self, xs, training, masks): # graph ops; returns the output (before `activation`)
            ...

The schema feeds the config validator (nnctl/config/schema.py reads ``schema`` through
:func:`layer_types`), the docs test (every key is documented in docs/config.md) and
``config_to_dict``. ``build`` runs once, with static shapes whose first dimension is the batch
(None); ``call`` may run several times (the builder's training and inference branches) and reuses
the variables. This module imports neither numpy nor the op modules, so loading a config stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

REQUIRED: Any = object()

# Key kinds: int, float, bool, choice, pair (int or [h, w]), initializer, activation,
# ints (a list of integers), int_or_none
KINDS = ("int", "float", "bool", "choice", "pair", "initializer", "activation", "ints", "int_or_none")


@dataclass(frozen=True)
class Key:
    """One config key of a layer type: its kind, default, range and a line of documentation."""

    kind: str
    default: Any = REQUIRED
    doc: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    same_as: str | None = None      # default: the value of another key (a pool's stride is its size)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and self.same_as is None


class LayerError(Exception):
    """A layer cannot be built on the shapes it was given; the builder adds where (file:line, key)."""


VariableMaker = Callable[..., Any]   # (layer, what, shape, initializer, trainable) -> Variable


class Context:
    """What a layer needs from whoever builds it: variables, a dropout seed, update ops.

    The config builder draws initial values from the config's seed; ``tf.layers`` uses
    ``tf.get_variable`` inside a variable scope and the UPDATE_OPS collection."""

    def __init__(self, make_variable: VariableMaker, seed: int | None = None,
                 add_update: Callable[[Any], None] | None = None) -> None:
        self.make_variable = make_variable
        self.seed = seed
        self.updates: list = []
        self._add_update = add_update

    def add_update(self, op: Any) -> None:
        self.updates.append(op)
        if self._add_update is not None:
            self._add_update(op)


class Layer:
    """Base class of every layer type (see the module docstring)."""

    type: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    schema: ClassVar[dict[str, Key]] = {}
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    # masks (batch, time) of padded steps flow through layers that keep the time axis
    mask_passthrough: ClassVar[bool] = True
    # whether the base class applies the `activation` key to the output (a recurrent cell's
    # activation is internal)
    output_activation: ClassVar[bool] = True

    def __init__(self, name: str, params: Mapping[str, Any], ctx: Context) -> None:
        self.name = name
        self.p = dict(params)
        self.ctx = ctx
        self.variables: list = []        # this layer's own, in creation order (sub-layers' included)
        self.regularized: list = []      # kernels that the L2 penalty applies to
        self.input_names: list[str] = []  # for messages: which layers feed this one
        self.input_shapes: list[tuple] = []
        self.output_shape: tuple | None = None
        self.built = False
        self.init_overrides: dict[str, Any] = {}   # variable -> initializer (tf.layers' gamma_initializer ...)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_params(cls, name: str, ctx: Context, **params: Any) -> Layer:
        """A layer from Python keyword arguments, filling schema defaults (tf.layers, sub-layers)."""
        unknown = set(params) - set(cls.schema)
        if unknown:
            raise TypeError(f"{cls.type}: unexpected argument(s) {', '.join(sorted(unknown))}")
        full = {}
        for k, key in cls.schema.items():
            if k in params:
                full[k] = params[k]
            elif key.same_as is not None:
                full[k] = params.get(key.same_as, full.get(key.same_as))
            elif key.default is REQUIRED:
                raise TypeError(f"{cls.type}: missing required argument {k!r}")
            else:
                full[k] = key.default
        from nnctl.layers.initializers import as_initializer
        for k, key in cls.schema.items():
            if key.kind == "pair" and isinstance(full[k], int):
                full[k] = (full[k], full[k])
            elif key.kind == "initializer" and full[k] is not None:
                full[k] = as_initializer(full[k])
        return cls(name, full, ctx)

    def sublayer(self, cls: type[Layer], what: str, **params: Any) -> Layer:
        """A layer inside this one (an attention block's projections); variables '<name>/<what>/...'."""
        return cls.from_params(f"{self.name}/{what}", self.ctx, **params)

    def add_weight(self, what: str, shape: Sequence[int], init: Any, trainable: bool = True,
                   regularize: bool = False) -> Any:
        init = self.init_overrides.get(what, init)
        v = self.ctx.make_variable(self, what, tuple(int(d) for d in shape), init, trainable)
        self.variables.append(v)
        if regularize:
            self.regularized.append(v)
        return v

    def adopt(self, sub: Layer) -> None:
        """Count a built sub-layer's variables as this layer's."""
        self.variables.extend(sub.variables)
        self.regularized.extend(sub.regularized)

    # --- what subclasses implement ------------------------------------------------------------

    def build(self, shapes: list[tuple]) -> tuple:
        """Create the variables for inputs of these static shapes; return the output shape."""
        return shapes[0]

    def call(self, xs: list, training: Any, masks: list) -> Any:
        """Add the graph ops; ``training`` is a Python bool or a bool tensor. Returns the output
        before the layer's ``activation`` (the base class applies it)."""
        raise NotImplementedError(f"layer type {self.type!r} has no call()")

    def output_mask(self, xs: list, masks: list) -> Any:
        """The (batch, time) mask of the output: by default the first input mask, while the output
        still has that time axis."""
        if not self.mask_passthrough or self.output_shape is None or len(self.output_shape) < 3:
            return None
        for m in masks:
            if m is not None:
                ms = m.get_shape().as_list()
                if len(ms) == 2 and ms[1] == self.output_shape[1]:
                    return m
        return None

    # --- used by the builder and tf.layers ----------------------------------------------------

    def build_once(self, shapes: list[tuple], names: Sequence[str] | None = None) -> tuple:
        if self.built:
            return self.output_shape  # type: ignore[return-value]
        n = len(shapes)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = (f"{self.min_inputs}" if self.min_inputs == self.max_inputs else
                    f"at least {self.min_inputs}" if self.max_inputs is None else
                    f"{self.min_inputs} to {self.max_inputs}")
            raise LayerError(f"takes {want} input(s), got {n}")
        self.input_names = list(names) if names is not None else [f"input {i}" for i in range(n)]
        self.input_shapes = [tuple(s) for s in shapes]
        out = tuple(self.build(self.input_shapes))
        if any(d is not None and d < 1 for d in out):
            raise LayerError(f"produces an empty output {fmt(out)}")
        self.output_shape = out
        self.built = True
        return out

    def apply(self, xs: list, training: Any, masks: list | None = None) -> tuple[Any, Any, Any]:
        """(pre-activation, output, output mask) for input tensors ``xs``."""
        masks = list(masks) if masks is not None else [None] * len(xs)
        if not self.built:
            self.build_once([tuple(x.get_shape().as_list()) for x in xs])
        pre = self.call(list(xs), training, masks)
        out = pre
        act = self.final_activation(self.p)
        if act is not None:
            from nnctl.layers.activations import activate
            out = activate(pre, act)
        return pre, out, self.output_mask(xs, masks)

    @classmethod
    def final_activation(cls, params: Mapping[str, Any]) -> str | None:
        """The activation this layer applies to its output (None: it has no `activation` key)."""
        if cls.output_activation and "activation" in cls.schema:
            return params.get("activation") or "none"
        return None

    @property
    def params(self) -> int:
        """Trainable parameter count."""
        return sum(math.prod(v.static_shape) for v in self.variables if v.trainable)

    def describe_inputs(self) -> str:
        return ", ".join(f"'{n}' {fmt(s)}" for n, s in zip(self.input_names, self.input_shapes))


def fmt(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


_REGISTRY: dict[str, type[Layer]] = {}


def register(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make ``cls`` the layer type for config name ``cls.type``."""
    if not cls.type:
        raise ValueError(f"{cls.__name__} has no config name (type)")
    if cls.type in _REGISTRY and _REGISTRY[cls.type] is not cls:
        raise ValueError(f"layer type {cls.type!r} is registered twice ({_REGISTRY[cls.type].__name__}, "
                         f"{cls.__name__})")
    for k, key in cls.schema.items():
        if key.kind not in KINDS:
            raise ValueError(f"{cls.__name__}.schema[{k!r}]: unknown kind {key.kind!r}")
    _REGISTRY[cls.type] = cls
    return cls


def layer_types() -> dict[str, type[Layer]]:
    """Every registered layer type by config name (importing the family modules registers them)."""
    import nnctl.layers  # noqa: F401  (the package imports every family module)
    return dict(_REGISTRY)


def layer_class(type_name: str) -> type[Layer]:
    return layer_types()[type_name]


# --- keys that several layer types share --------------------------------------------------------

def activation_key(default: Any = "none", doc: str = "activation applied to the output") -> Key:
    return Key("activation", default, doc)


KERNEL_INIT = Key("initializer", "glorot_uniform", "kernel initializer (a name or {name:, ...})")
BIAS_INIT = Key("initializer", "zeros", "bias initializer")
USE_BIAS = Key("bool", True, "add a learned bias")
PADDINGS = ("same", "valid")


def padding_key(default: str) -> Key:
    return Key("choice", default, "'same' (output size ceil(n / stride)) or 'valid' (no padding)",
               choices=PADDINGS)


def out_size(n: int | None, k: int, s: int, padding: str, dilation: int = 1) -> int | None:
    """TF's rule: SAME -> ceil(n / s); VALID -> ceil((n - (k - 1) * d) / s)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // s)
    return -(-(n - (k - 1) * dilation) // s)
