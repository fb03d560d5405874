"""``tf.Session``: runs the part of the graph that its fetches need, through cached plans."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from nnctl.backends import Backend, get_backend
from nnctl.errors import InvalidArgumentError
from nnctl.graph.graph import Graph, Operation, Tensor, get_default_graph
from nnctl.graph.tensor_shape import fmt_shape, shapes_compatible
from nnctl.runtime.context import RuntimeContext
from nnctl.runtime.plan import Plan

_session_stack: list[Session] = []
_LEAVES = (Tensor, Operation)
_FLAT_LIST = ("flat list",)
_MAX_PLANS = 32


def get_default_session() -> Session | None:
    return _session_stack[-1] if _session_stack else None


def _graph_element(x: Any, graph: Graph) -> Any:
    if isinstance(x, (Tensor, Operation)):
        return x
    if isinstance(x, str):
        return graph.as_graph_element(x)
    conv = getattr(x, "_as_graph_element", None)
    if conv is not None:
        return conv()
    raise TypeError(f"Fetch argument {x!r} has invalid type {type(x).__name__}, must be a string, Tensor or "
                    "Operation (or a list, tuple or dict of them)")


class Session:
    """A TF1 Session. ``backend`` picks the array backend (default numpy)."""

    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None,
                 backend: str | Backend | None = None) -> None:
        self._graph = graph if graph is not None else get_default_graph()
        self._ctx = RuntimeContext(get_backend(backend))
        self._plans: OrderedDict[Any, Plan] = OrderedDict()
        self._closed = False
        self.check_numerics = False
        # run every op in allocating mode (the dry run's path: no bound buffers, views or folding), to
        # compare the two paths in tests and to debug; check_numerics implies it
        self.allocating = False
        self._entered: list[Any] = []
        self._checked_feeds: set[tuple[int, tuple, Any]] = set()

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def backend(self) -> Backend:
        return self._ctx.backend

    @property
    def context(self) -> RuntimeContext:
        return self._ctx

    # --- running ---------------------------------------------------------------------------
    def run(self, fetches: Any, feed_dict: dict | None = None, options: Any = None,
            run_metadata: Any = None, *, download: bool = True) -> Any:
        """TF1's ``Session.run``. ``download=False`` (nnctl) returns fetched values as arrays of the
        session's backend, copied on the device, so a step that does not need them on the host does
        not wait for the device (the trainer's loss between two log lines)."""
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        ft = type(fetches)
        if ft is list and all(type(f) in _LEAVES for f in fetches):
            flat, structure = fetches, _FLAT_LIST  # the common case, without the recursive walk
        elif ft in _LEAVES:
            flat, structure = [fetches], None
        else:
            flat = []
            structure = self._flatten(fetches, flat)
        feed_tensors, feed_values = self._convert_feeds(feed_dict) if feed_dict else ((), ())
        key = (tuple(map(id, flat)), tuple(map(id, feed_tensors)), tuple([v.shape for v in feed_values]))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._compile(flat, feed_tensors)
            self._plans[key] = plan
            if len(self._plans) > _MAX_PLANS:
                self._plans.popitem(last=False)
        values = plan.run(feed_values, self.check_numerics, download, self.allocating)
        if plan.slots is None:
            results = values
        else:
            results = [values[s] if s >= 0 else None for s in plan.slots]
        if structure is None:
            return results[0]
        if structure is _FLAT_LIST:
            return results
        return self._rebuild(structure, iter(results))

    def _compile(self, flat: list[Any], feed_tensors: Any) -> Plan:
        tensors: list[Tensor] = []
        targets: list[Operation] = []
        slots: list[int] = []
        for e in flat:
            if isinstance(e, Tensor):
                if e.graph is not self._graph:
                    raise ValueError(f"Tensor {e.name} is not an element of this session's graph.")
                slots.append(len(tensors))
                tensors.append(e)
            else:
                if e.graph is not self._graph:
                    raise ValueError(f"Operation {e.name} is not an element of this session's graph.")
                slots.append(-1)
                targets.append(e)
        plan = Plan(self._ctx, tensors, targets, list(feed_tensors))
        plan.slots = None if all(s >= 0 for s in slots) and slots == list(range(len(slots))) else slots
        return plan

    def _flatten(self, fetches: Any, flat: list[Any]) -> Any:
        if isinstance(fetches, (Tensor, Operation)):
            flat.append(fetches)
            return None
        if isinstance(fetches, (list, tuple)):
            return (type(fetches), [self._flatten(f, flat) for f in fetches])
        if isinstance(fetches, dict):
            return (dict, [(k, self._flatten(v, flat)) for k, v in fetches.items()])
        flat.append(_graph_element(fetches, self._graph))
        return None

    def _rebuild(self, structure: Any, it: Iterator[Any]) -> Any:
        if structure is None:
            return next(it)
        kind, items = structure
        if kind is dict:
            return {k: self._rebuild(s, it) for k, s in items}
        vals = [self._rebuild(s, it) for s in items]
        if kind is list:
            return vals
        if kind is tuple:
            return tuple(vals)
        try:
            return kind(*vals)  # namedtuple
        except TypeError:
            return kind(vals)

    def _convert_feeds(self, feed_dict: dict) -> tuple[list[Tensor], list[Any]]:
        # Host values stay on the host here: the plan uploads each one straight into its bound buffer.
        tensors, values = [], []
        device_type = self._ctx.backend.array_type
        checked = self._checked_feeds
        for k, v in feed_dict.items():
            if type(k) is Tensor and (type(v) is np.ndarray or isinstance(v, device_type)) \
                    and (id(k), v.shape, v.dtype) in checked:
                tensors.append(k)  # seen before with this shape and dtype: nothing to check
                values.append(v)
                continue
            t = k if type(k) is Tensor else _graph_element(k, self._graph)
            if isinstance(t, Operation):
                if len(t.outputs) != 1:
                    raise TypeError(f"Cannot feed operation {t.name}: it has {len(t.outputs)} outputs")
                t = t.outputs[0]
            if not isinstance(t, Tensor) or t.graph is not self._graph:
                raise ValueError(f"Cannot feed {t!r}: it is not an element of this session's graph")
            if not isinstance(v, np.ndarray) and isinstance(v, device_type) and v.dtype == t.dtype.np:
                arr = v    # already on the device (a CuPy array fed to a CuPy session)
            else:
                arr = v if type(v) is np.ndarray and v.dtype == t.dtype.np else self._cast_feed(t, v)
            if not shapes_compatible(t.static_shape, arr.shape):
                raise InvalidArgumentError(None, t.op, f"Cannot feed value of shape {fmt_shape(arr.shape)} for "
                                                       f"Tensor '{t.name}', which has shape "
                                                       f"{fmt_shape(t.static_shape)}")
            if t is k:
                checked.add((id(t), arr.shape, arr.dtype))
            tensors.append(t)
            values.append(arr)
        return tensors, values

    @staticmethod
    def _cast_feed(t: Tensor, v: Any) -> np.ndarray:
        np_dtype = t.dtype.np
        if hasattr(v, "_as_graph_element") or isinstance(v, (Tensor, Operation)):
            raise TypeError(f"The value of a feed cannot be a tf.Tensor object (feeding {t.name}); feed a numpy "
                            "array or Python value")
        try:
            arr = np.asarray(v)
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(None, t.op, f"Cannot feed value for Tensor '{t.name}': {e}") from None
        if arr.dtype.kind in "OUSV":
            raise InvalidArgumentError(None, t.op, f"Cannot feed value of dtype {arr.dtype} to Tensor "
                                                   f"'{t.name}' of dtype {t.dtype.name}")
        if arr.dtype.kind == "f" and np_dtype.kind in "iub" and arr.size and not np.all(np.mod(arr, 1) == 0):
            raise InvalidArgumentError(None, t.op, f"Cannot feed non-integer values of dtype {arr.dtype} "
                                                   f"to Tensor '{t.name}' of dtype {t.dtype.name}")
        return arr.astype(np_dtype, copy=False)

    # --- state --------------------------------------------------------------------------
    def variable_values(self) -> dict[str, np.ndarray]:
        """Host copies of every initialized variable's value, keyed by variable name."""
        be = self._ctx.backend
        return {name: np.array(be.to_host(v)) for name, v in self._ctx.variables.values.items()}

    def load_variable_values(self, values: dict[str, Any]) -> None:
        for name, v in values.items():
            self._ctx.variables.assign(name, self._ctx.backend.asarray(v))

    # --- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._plans.clear()

    @contextlib.contextmanager
    def as_default(self) -> Iterator[Session]:
        _session_stack.append(self)
        try:
            with self._graph.as_default():
                yield self
        finally:
            _session_stack.pop()

    def __enter__(self) -> Session:
        cm = self.as_default()
        cm.__enter__()
        self._entered.append(cm)
        return self

    def __exit__(self, *exc: Any) -> None:
        cm = self._entered.pop()
        cm.__exit__(*exc)
        self.close()


class InteractiveSession(Session):
    def __init__(self, target: str = "", graph: Graph | None = None, config: Any = None,
                 backend: str | Backend | None = None) -> None:
        super().__init__(target, graph, config, backend)
        _session_stack.append(self)

    def close(self) -> None:
        super().close()
        if self in _session_stack:
            _session_stack.remove(self)


class ConfigProto:
    """``tf.ConfigProto``: accepted so TF1 programs run unchanged; nnctl reads none of its fields
    (threads come from the BLAS library; there are no devices to place ops on)."""

    def __init__(self, **fields: Any) -> None:
        if type(self) is ConfigProto:  # the sub-messages programs set fields on
            self.gpu_options = GPUOptions()
            self.graph_options = ConfigProto.__new__(ConfigProto)
            self.allow_soft_placement = False
            self.log_device_placement = False
            self.intra_op_parallelism_threads = 0
            self.inter_op_parallelism_threads = 0
        self.__dict__.update(fields)


class GPUOptions(ConfigProto):
    """``tf.GPUOptions``: accepted and ignored, like ConfigProto."""

    def __init__(self, **fields: Any) -> None:
        self.allow_growth = False
        self.per_process_gpu_memory_fraction = 0.0
        self.visible_device_list = ""
        super().__init__(**fields)


class RunOptions(ConfigProto):
    """``tf.RunOptions``: accepted by ``Session.run(options=)`` and ignored."""


class RunMetadata(ConfigProto):
    """``tf.RunMetadata``: accepted by ``Session.run(run_metadata=)`` and left empty."""
