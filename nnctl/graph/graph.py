"""The graph: Operations (nodes) producing Tensors (edges), name scopes, control dependencies.

Every public op builder (``nnctl.add``, ``nnctl.nn.conv2d`` ...) calls :meth:`Graph.create_op`, which
records a node with its op type, inputs, attributes, a unique name and the static shape and dtype
of each output. Nothing is computed here; a Session compiles the part of the graph it is asked for.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from nnctl import dtypes
from nnctl.graph.tensor_shape import TensorShape, fmt_shape

_VALID_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")

# Roles tag what created a node, so `nnctl graph` can draw the backward graph and `freeze` can drop
# everything training added.
FORWARD, GRADIENT, OPTIMIZER, INIT = "forward", "gradient", "optimizer", "init"


class Tensor:
    """One output of an Operation: a symbolic handle, computed only by ``Session.run``."""

    __array_priority__ = 100  # so ``ndarray + tensor`` dispatches to Tensor.__radd__

    def __init__(self, op: Operation, value_index: int, dtype: dtypes.DType, shape: tuple | None) -> None:
        self._op = op
        self._value_index = value_index
        self._dtype = dtype
        self._shape = shape
        self._consumers: list[Operation] = []

    @property
    def op(self) -> Operation:
        return self._op

    @property
    def graph(self) -> Graph:
        return self._op.graph

    @property
    def value_index(self) -> int:
        return self._value_index

    @property
    def dtype(self) -> dtypes.DType:
        return self._dtype

    @property
    def name(self) -> str:
        return f"{self._op.name}:{self._value_index}"

    @property
    def shape(self) -> TensorShape:
        return TensorShape(self._shape)

    def get_shape(self) -> TensorShape:
        return TensorShape(self._shape)

    @property
    def static_shape(self) -> tuple | None:
        """The shape as a plain tuple (None entries unknown), or None for an unknown rank."""
        return self._shape

    def set_shape(self, shape: Any) -> None:
        from nnctl.graph.tensor_shape import as_shape_tuple, merge_shapes, shapes_compatible
        new = as_shape_tuple(shape)
        if not shapes_compatible(self._shape, new):
            raise ValueError(f"set_shape on {self.name}: shape {fmt_shape(self._shape)} is not compatible "
                             f"with {fmt_shape(new)}")
        self._shape = merge_shapes(self._shape, new)

    def consumers(self) -> list[Operation]:
        return list(self._consumers)

    def eval(self, feed_dict: dict | None = None, session: Any = None) -> Any:
        from nnctl.runtime.session import get_default_session
        sess = session or get_default_session()
        if sess is None:
            raise ValueError("Tensor.eval() needs a default session: use `with tf.Session():` or pass session=")
        return sess.run(self, feed_dict)

    def __repr__(self) -> str:
        return f"<tf.Tensor '{self.name}' shape={fmt_shape(self._shape)} dtype={self._dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:  # TF1: identity, so tensors can key dicts
        return self is other

    def __bool__(self) -> bool:
        raise TypeError("Using a tf.Tensor as a Python bool is not allowed; compute the condition as a tensor "
                        "and select with tf.where")

    def __len__(self) -> int:
        if self._shape is None or not self._shape or self._shape[0] is None:
            raise TypeError(f"len() is not supported for {self!r}: its first dimension is unknown")
        return self._shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        n = len(self)
        for i in range(n):
            yield self[i]

    # Operator overloads are attached in nnctl/ops/overloads.py once the op modules exist.


class Operation:
    """A graph node: op type, inputs, attributes, outputs, control inputs."""

    def __init__(self, graph: Graph, op_type: str, name: str, inputs: Sequence[Tensor],
                 attrs: dict[str, Any], outputs: Sequence[tuple[tuple | None, dtypes.DType]],
                 control_inputs: Sequence[Operation], role: str) -> None:
        self.graph = graph
        self.type = op_type
        self.name = name
        self.inputs: list[Tensor] = list(inputs)
        self.attrs = attrs
        self.control_inputs: list[Operation] = list(control_inputs)
        self.role = role
        self.outputs: list[Tensor] = [Tensor(self, i, dt, sh) for i, (sh, dt) in enumerate(outputs)]
        self._id = graph._next_id()
        for t in self.inputs:
            t._consumers.append(self)

    def get_attr(self, name: str) -> Any:
        try:
            return self.attrs[name]
        except KeyError:
            raise ValueError(f"operation {self.name} ({self.type}) has no attr named {name!r}") from None

    @property
    def node_def(self) -> dict:
        return {"name": self.name, "op": self.type, "input": [t.name for t in self.inputs]}

    def run(self, feed_dict: dict | None = None, session: Any = None) -> None:
        from nnctl.runtime.session import get_default_session
        sess = session or get_default_session()
        if sess is None:
            raise ValueError("Operation.run() needs a default session: use `with tf.Session():`")
        sess.run(self, feed_dict)

    def describe(self) -> str:
        ins = ", ".join(f"{t.name} {fmt_shape(t.static_shape)}" for t in self.inputs)
        return f"{self.type} '{self.name}'" + (f" (inputs: {ins})" if ins else "")

    def __repr__(self) -> str:
        return f"<tf.Operation '{self.name}' type={self.type}>"


class Graph:
    """A TensorFlow-1-style dataflow graph."""

    def __init__(self) -> None:
        self._ops: list[Operation] = []
        self._ops_by_name: dict[str, Operation] = {}
        self._names_in_use: dict[str, int] = {}
        self._name_stack = ""
        self._control_stack: list[list[Operation]] = []
        self._role_stack: list[str] = [FORWARD]
        self._collections: dict[str, list[Any]] = {}
        self._id_counter = 0
        self._finalized = False
        self.seed: int | None = None
        self._lock = threading.Lock()

    # --- identity -------------------------------------------------------------------------
    def _next_id(self) -> int:
        self._id_counter += 1
        return self._id_counter

    @property
    def version(self) -> int:
        return self._id_counter

    def finalize(self) -> None:
        self._finalized = True

    @property
    def finalized(self) -> bool:
        return self._finalized

    # --- defaults ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self) -> Iterator[Graph]:
        _graph_stack.append(self)
        try:
            yield self
        finally:
            _graph_stack.pop()

    # --- names --------------------------------------------------------------------------------
    def unique_name(self, name: str, mark_as_used: bool = True) -> str:
        if self._name_stack:
            name = f"{self._name_stack}/{name}"
        key = name.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._names_in_use[key] = count + 1
        if count > 0:
            base = name
            while True:
                name = f"{base}_{count}"
                if name.lower() not in self._names_in_use:
                    break
                count += 1
            if mark_as_used:
                self._names_in_use[name.lower()] = 1
        return name

    def get_name_scope(self) -> str:
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        old = self._name_stack
        if not name:
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            if not _VALID_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid scope name")
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # --- roles (forward / gradient / optimizer / init) -------------------------------------
    @contextlib.contextmanager
    def role(self, role: str) -> Iterator[None]:
        self._role_stack.append(role)
        try:
            yield
        finally:
            self._role_stack.pop()

    # --- control dependencies -----------------------------------------------------------------
    @contextlib.contextmanager
    def control_dependencies(self, control_inputs: Sequence[Any] | None) -> Iterator[None]:
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        ops = []
        for c in control_inputs:
            c = getattr(c, "_as_graph_element", lambda c=c: c)()
            if isinstance(c, Tensor):
                c = c.op
            if not isinstance(c, Operation):
                raise TypeError(f"control input must be an Operation or Tensor, got {c!r}")
            ops.append(c)
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    # --- devices ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def device(self, device_name_or_function: Any) -> Iterator[None]:
        """``with g.device("/gpu:0"):`` places nothing: a session's backend runs every op."""
        yield

    def colocate_with(self, op: Any, ignore_existing: bool = False) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    # --- creation ------------------------------------------------------------------------------
    def create_op(self, op_type: str, inputs: Sequence[Tensor], attrs: dict[str, Any] | None = None,
                  outputs: Sequence[tuple[tuple | None, dtypes.DType]] = (), name: str | None = None,
                  control_inputs: Sequence[Operation] = ()) -> Operation:
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{op_type}: input {t!r} is not a Tensor")
            if t.graph is not self:
                raise ValueError(f"{op_type}: input {t.name} is from a different graph")
        base = name if name else op_type
        if name and not _VALID_NAME.match(name):
            raise ValueError(f"'{name}' is not a valid op name")
        if base.endswith("/"):
            full = base[:-1]
        else:
            full = self.unique_name(base)
        ctrl = [c for level in self._control_stack for c in level] + list(control_inputs)
        seen: set[int] = set()
        ctrl = [c for c in ctrl if not (id(c) in seen or seen.add(id(c)))]  # type: ignore[func-returns-value]
        op = Operation(self, op_type, full, inputs, dict(attrs or {}), outputs, ctrl, self._role_stack[-1])
        self._ops.append(op)
        self._ops_by_name[full] = op
        return op

    # --- lookup --------------------------------------------------------------------------------
    def get_operations(self) -> list[Operation]:
        return list(self._ops)

    def get_operation_by_name(self, name: str) -> Operation:
        try:
            return self._ops_by_name[name]
        except KeyError:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.") from None

    def get_tensor_by_name(self, name: str) -> Tensor:
        if ":" not in name:
            raise ValueError(f"The name '{name}' looks like an Operation name; a Tensor name is 'op:index'")
        op_name, idx = name.rsplit(":", 1)
        op = self.get_operation_by_name(op_name)
        try:
            return op.outputs[int(idx)]
        except (ValueError, IndexError):
            raise KeyError(f"The name '{name}' refers to a Tensor which does not exist.") from None

    def as_graph_element(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        return obj

    # --- collections ---------------------------------------------------------------------------
    def add_to_collection(self, name: str, value: Any) -> None:
        self._collections.setdefault(name, []).append(value)

    def get_collection(self, name: str, scope: str | None = None) -> list[Any]:
        items = list(self._collections.get(name, []))
        if scope is None:
            return items
        pat = re.compile(scope)
        return [v for v in items if hasattr(v, "name") and pat.match(v.name)]

    def get_collection_ref(self, name: str) -> list[Any]:
        return self._collections.setdefault(name, [])


class GraphKeys:
    GLOBAL_VARIABLES = "variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    UPDATE_OPS = "update_ops"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    SUMMARIES = "summaries"


_default_graph = Graph()
_graph_stack: list[Graph] = []


def get_default_graph() -> Graph:
    return _graph_stack[-1] if _graph_stack else _default_graph


def reset_default_graph() -> None:
    global _default_graph
    if _graph_stack:
        raise AssertionError("Do not use tf.reset_default_graph() inside a `with graph.as_default()` block")
    _default_graph = Graph()


def name_scope(name: str | None, default_name: str | None = None, values: Any = None):
    """``tf.name_scope(name)``; TF1's (name, default_name, values) form is accepted too."""
    g = get_default_graph()
    if values:
        for v in values:
            if isinstance(v, Tensor):
                g = v.graph
                break
    return g.name_scope(name if name is not None else default_name)


def control_dependencies(control_inputs: Sequence[Any] | None):
    return get_default_graph().control_dependencies(control_inputs)


def add_to_collection(name: str, value: Any) -> None:
    get_default_graph().add_to_collection(name, value)


def get_collection(name: str, scope: str | None = None) -> list[Any]:
    return get_default_graph().get_collection(name, scope)


def device(device_name_or_function: Any) -> contextlib.AbstractContextManager:
    """``tf.device``: accepted and ignored (nnctl runs a graph on its session's backend)."""
    return get_default_graph().device(device_name_or_function)
