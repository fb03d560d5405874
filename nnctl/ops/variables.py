"""``tf.Variable`` and the variable collections and initializers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import INIT, GraphKeys, Operation, Tensor, get_default_graph
from nnctl.graph.tensor_shape import TensorShape
from nnctl.ops import state_ops
from nnctl.ops.core import convert_to_tensor, make_op


class Variable:
    """A TF1 variable: a named, mutable tensor whose value lives in each Session.

    The graph holds a ``VariableV2`` node (the reference that assignments write), a ``read``
    Identity that every consumer uses, and an ``Assign`` initializer.
    """

    def __init__(self, initial_value: Any = None, trainable: bool = True, collections: Any = None,
                 validate_shape: bool = True, caching_device: Any = None, name: str | None = None,
                 variable_def: Any = None, dtype: Any = None, expected_shape: Any = None,
                 import_scope: Any = None, constraint: Any = None, use_resource: Any = None,
                 synchronization: Any = None, aggregation: Any = None, shape: Any = None) -> None:
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        graph = get_default_graph()
        with graph.name_scope(name or "Variable") as scope:
            with graph.role(INIT), graph.control_dependencies(None):
                if callable(initial_value):
                    initial_value = initial_value()
                init = convert_to_tensor(initial_value, dtype=None, name="initial_value")
                if dtype is not None and init.dtype != dtypes.as_dtype(dtype):
                    from nnctl.ops.math_ops import cast
                    if not isinstance(initial_value, Tensor):
                        init = convert_to_tensor(np.asarray(initial_value), dtype=dtype, name="initial_value")
                    else:
                        init = cast(init, dtype)
            shp = init.static_shape if validate_shape else None
            if shape is not None:
                shp = TensorShape(shape).dims
            self._ref = make_op("VariableV2", [], attrs={"dtype": init.dtype, "shape": shp}, shape=shp,
                                dtype=init.dtype, name=scope)
            with graph.role(INIT):
                self._initializer = state_ops.assign_ref(self._ref, init, name="Assign",
                                                         validate_shape=validate_shape).op
            from nnctl.ops.array_ops import identity
            with graph.control_dependencies(None):
                self._value = identity(self._ref, name="read")
        self._initial_value = init
        self._trainable = trainable
        self._graph = graph
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        for c in collections:
            graph.add_to_collection(c, self)

    # --- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._ref.name

    @property
    def op(self) -> Operation:
        return self._ref.op

    @property
    def graph(self) -> Any:
        return self._graph

    @property
    def dtype(self) -> dtypes.DType:
        return self._ref.dtype

    @property
    def shape(self) -> TensorShape:
        return self._ref.shape

    def get_shape(self) -> TensorShape:
        return self._ref.shape

    @property
    def static_shape(self) -> tuple | None:
        return self._ref.static_shape

    @property
    def trainable(self) -> bool:
        return self._trainable

    @property
    def initializer(self) -> Operation:
        return self._initializer

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def value(self) -> Tensor:
        return self._value

    def read_value(self) -> Tensor:
        return self._value

    def _as_graph_element(self) -> Tensor:
        return self._value

    def _ref_tensor(self) -> Tensor:
        return self._ref

    # --- updates ----------------------------------------------------------------------------
    def assign(self, value: Any, use_locking: bool = False, name: str | None = None,
               read_value: bool = True) -> Tensor:
        return state_ops.assign_ref(self._ref, value, name=name)

    def assign_add(self, delta: Any, use_locking: bool = False, name: str | None = None,
                   read_value: bool = True) -> Tensor:
        return state_ops.assign_add_ref(self._ref, delta, name=name)

    def assign_sub(self, delta: Any, use_locking: bool = False, name: str | None = None,
                   read_value: bool = True) -> Tensor:
        return state_ops.assign_sub_ref(self._ref, delta, name=name)

    def eval(self, session: Any = None) -> Any:
        return self._value.eval(session=session)

    def load(self, value: Any, session: Any = None) -> None:
        from nnctl.runtime.session import get_default_session
        sess = session or get_default_session()
        if sess is None:
            raise ValueError("Variable.load() needs a session")
        sess.context.variables.assign(self.op.name, sess.backend.asarray(np.asarray(value, dtype=self.dtype.np)))

    def __repr__(self) -> str:
        return f"<tf.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __bool__(self) -> bool:
        raise TypeError("Using a tf.Variable as a Python bool is not allowed")


def global_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


def trainable_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope: str | None = None) -> list[Variable]:
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def variables_initializer(var_list: list[Variable], name: str = "init") -> Operation:
    with get_default_graph().role(INIT):
        return state_ops.group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer() -> Operation:
    return variables_initializer(global_variables(), name="init")


def local_variables_initializer() -> Operation:
    return variables_initializer(local_variables(), name="init_local")


initialize_all_variables: Callable[[], Operation] = global_variables_initializer


def assign(ref: Any, value: Any, validate_shape: Any = None, use_locking: Any = None,
           name: str | None = None) -> Tensor:
    return state_ops.assign_ref(_ref_of(ref, "assign"), value, name=name)


def assign_add(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Tensor:
    return state_ops.assign_add_ref(_ref_of(ref, "assign_add"), value, name=name)


def assign_sub(ref: Any, value: Any, use_locking: Any = None, name: str | None = None) -> Tensor:
    return state_ops.assign_sub_ref(_ref_of(ref, "assign_sub"), value, name=name)


def _ref_of(ref: Any, what: str) -> Any:
    if isinstance(ref, Variable):
        return ref._ref
    if isinstance(ref, Tensor) and ref.op.type == "VariableV2":
        return ref
    raise TypeError(f"tf.{what}: the first argument must be a Variable, got {ref!r}")
