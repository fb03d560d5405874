"""``tf.variable_scope``, ``tf.get_variable`` and TF1's variable naming.

Each graph keeps a variable store: full name -> Variable, for the variables made by
``get_variable``. A variable scope prefixes those names (``dense/kernel``); its ``reuse`` decides
whether ``get_variable`` creates (reuse False/None: an existing name is an error), looks up
(reuse True: a missing name is an error) or does either (``tf.AUTO_REUSE``). Reuse is inherited by
nested scopes. Entering a variable scope also opens a name scope of the same name for the ops
inside (uniquified as name scopes are: a second ``variable_scope("s", reuse=True)`` puts its ops
under ``s_1/`` while its variables stay ``s/...``), as TF1 does. ``tf.name_scope`` alone does not
change variable names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from nnctl import dtypes
from nnctl.graph.graph import GraphKeys, Tensor, get_default_graph
from nnctl.ops import init_ops


class _AutoReuse:
    def __repr__(self) -> str:
        return "tf.AUTO_REUSE"


AUTO_REUSE: Any = _AutoReuse()


class VariableScope:
    """A variable scope: its name and the defaults it gives ``get_variable``."""

    def __init__(self, reuse: Any, name: str = "", initializer: Any = None, regularizer: Any = None,
                 dtype: Any = dtypes.float32, name_scope: str = "") -> None:
        self._reuse = reuse
        self._name = name
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtypes.as_dtype(dtype)
        self.original_name_scope = name_scope

    @property
    def name(self) -> str:
        return self._name

    @property
    def reuse(self) -> Any:
        return self._reuse

    def reuse_variables(self) -> None:
        self._reuse = True

    def set_initializer(self, initializer: Any) -> None:
        self.initializer = initializer

    def set_regularizer(self, regularizer: Any) -> None:
        self.regularizer = regularizer

    def get_variable(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with variable_scope(self):
            return get_variable(name, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<tf.VariableScope '{self._name}' reuse={self._reuse}>"


class _Store:
    def __init__(self) -> None:
        self.vars: dict[str, Any] = {}
        self.scope = VariableScope(False)
        self.scope_counts: dict[str, int] = {}   # default_name uniquing, per full scope name


def _store() -> _Store:
    g = get_default_graph()
    st = getattr(g, "_variable_store", None)
    if st is None:
        st = _Store()
        g._variable_store = st
    return st


def get_variable_scope() -> VariableScope:
    return _store().scope


def _unique_scope(st: _Store, parent: str, base: str) -> str:
    full = f"{parent}/{base}" if parent else base
    n = st.scope_counts.get(full, 0)
    st.scope_counts[full] = n + 1
    return base if n == 0 else f"{base}_{n}"


@contextlib.contextmanager
def variable_scope(name_or_scope: Any = None, default_name: str | None = None, values: Any = None,
                   initializer: Any = None, regularizer: Any = None, caching_device: Any = None,
                   partitioner: Any = None, custom_getter: Any = None, reuse: Any = None, dtype: Any = None,
                   use_resource: Any = None, constraint: Any = None,
                   auxiliary_name_scope: bool = True) -> Iterator[VariableScope]:
    """``tf.variable_scope``: see the module docstring."""
    if name_or_scope is None and default_name is None:
        raise TypeError("If default_name is None then name_or_scope is required")
    if reuse is False:
        reuse = None   # TF1: False means "inherit", as None does
    st = _store()
    g = get_default_graph()
    parent = st.scope
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        base = full.rsplit("/", 1)[-1]
        inherit = name_or_scope
    else:
        if name_or_scope is not None:
            base = str(name_or_scope)
            st.scope_counts[f"{parent.name}/{base}" if parent.name else base] = \
                st.scope_counts.get(f"{parent.name}/{base}" if parent.name else base, 0) + 1
        else:
            base = _unique_scope(st, parent.name, str(default_name))
        full = f"{parent.name}/{base}" if parent.name else base
        inherit = parent
    if reuse is None:
        new_reuse = parent.reuse if not isinstance(name_or_scope, VariableScope) else \
            (name_or_scope.reuse or parent.reuse)
    else:
        new_reuse = reuse
    if parent.reuse is True:
        new_reuse = True         # reuse=True is inherited and cannot be switched off inside
    elif parent.reuse is AUTO_REUSE and new_reuse is not True:
        new_reuse = AUTO_REUSE
    scope = VariableScope(new_reuse, full,
                          initializer if initializer is not None else inherit.initializer,
                          regularizer if regularizer is not None else inherit.regularizer,
                          dtype if dtype is not None else inherit.dtype)
    ns = contextlib.nullcontext("") if not auxiliary_name_scope else g.name_scope(base)
    with ns as ns_name:
        scope.original_name_scope = ns_name or ""
        st.scope = scope
        try:
            yield scope
        finally:
            st.scope = parent


def _is_auto(reuse: Any) -> bool:
    return reuse is AUTO_REUSE


def get_variable(name: str, shape: Any = None, dtype: Any = None, initializer: Any = None, regularizer: Any = None,
                 trainable: bool | None = None, collections: Any = None, caching_device: Any = None,
                 partitioner: Any = None, validate_shape: bool = True, use_resource: Any = None,
                 custom_getter: Any = None, constraint: Any = None, synchronization: Any = None,
                 aggregation: Any = None) -> Any:
    """``tf.get_variable``: the variable ``<scope>/<name>``, created or reused per the scope's reuse."""
    from nnctl.ops.variables import Variable
    st = _store()
    scope = st.scope
    full = f"{scope.name}/{name}" if scope.name else name
    reuse = scope.reuse
    want_shape = None if shape is None else tuple(shape.as_list() if hasattr(shape, "as_list") else shape)
    if full in st.vars:
        if reuse is None or reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                             f"reuse=tf.AUTO_REUSE in VarScope?")
        v = st.vars[full]
        if want_shape is not None and tuple(v.static_shape) != want_shape:
            raise ValueError(f"Trying to share variable {full}, but specified shape {list(want_shape)} and found "
                             f"shape {list(v.static_shape)}.")
        if dtype is not None and dtypes.as_dtype(dtype) != v.dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype {dtypes.as_dtype(dtype).name} "
                             f"and found dtype {v.dtype.name}.")
        return v
    if reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with tf.get_variable(). Did you mean "
                         f"to set reuse=tf.AUTO_REUSE in VarScope?")
    dt = dtypes.as_dtype(dtype) if dtype is not None else scope.dtype
    init = initializer if initializer is not None else scope.initializer
    if isinstance(init, (Tensor, np.ndarray, list, float, int)) and not callable(init):
        if isinstance(init, Tensor):
            value: Any = init
        else:
            arr = np.asarray(init, dtype=dt.as_numpy_dtype)
            if want_shape is not None and arr.shape != want_shape:
                if arr.size == 1:
                    arr = np.full(want_shape, arr.reshape(()), dt.as_numpy_dtype)
                else:
                    raise ValueError(f"get_variable {full}: initializer of shape {list(arr.shape)} does not match "
                                     f"shape {list(want_shape)}")
            value = arr
        if isinstance(init, Tensor) and shape is not None and validate_shape:
            got = tuple(init.static_shape or ())
            if got != want_shape:
                raise ValueError(f"If initializer is a constant, do not specify shape (get_variable {full}: "
                                 f"{list(want_shape or ())} vs {list(got)})")
    else:
        if want_shape is None:
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but instead was None.")
        if init is None:
            # TF1: glorot_uniform for floating variables, zeros for the others
            init = init_ops.GlorotUniform() if dt.is_floating else init_ops.Zeros(dt)

        def value() -> Any:   # noqa: F811  (called by Variable inside its init name scope)
            return init(want_shape, dtype=dt)
    g = get_default_graph()
    with g.name_scope(None):   # variables are named by their variable scope, not the name scope
        v = Variable(value, trainable=True if trainable is None else trainable, collections=collections,
                     validate_shape=validate_shape, name=full, dtype=dt)
    if v.op.name != full:
        raise ValueError(f"get_variable: the name {full} is taken by another op ({v.op.name} was made); "
                         "name the op or the scope differently")
    st.vars[full] = v
    reg = regularizer if regularizer is not None else scope.regularizer
    if reg is not None:
        with g.name_scope(f"{full}/Regularizer/"):
            loss = reg(v.value())
        if loss is not None:
            g.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return v
