"""Per-session state that kernels see: the backend, the variable store and the random streams."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnctl.backends import Backend
from nnctl.errors import FailedPreconditionError
from nnctl.graph.graph import Operation


class Uninitialized:
    """What reading a variable yields before it is initialized; only Assign may consume it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class VariableStore:
    """Variable values of one session, keyed by the variable op's name.

    Values are updated in place (plans bind the arrays themselves); ``version`` increases whenever
    an array object is created or replaced, which makes compiled plans rebind.
    """

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.values: dict[str, Any] = {}
        self.version = 0

    def read(self, name: str) -> Any:
        v = self.values.get(name)
        return Uninitialized(name) if v is None else v

    def assign(self, name: str, value: Any) -> Any:
        cur = self.values.get(name)
        if cur is not None and cur.shape == value.shape and cur.dtype == value.dtype:
            if cur is not value:
                self._backend.xp.copyto(cur, value)
            return cur
        arr = self._backend.xp.array(value, copy=True)
        self.values[name] = arr
        self.version += 1
        return arr



class RuntimeContext:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.xp = backend.xp
        self.variables = VariableStore(backend)
        self._rngs: dict[str, np.random.Generator] = {}
        # (first row, global rows) of the batch this process feeds, in data-parallel training: random
        # ops draw for the global batch and keep these rows, so results do not depend on the rank count
        self.batch_shard: tuple[int, int] | None = None

    def rng(self, op: Operation) -> np.random.Generator:
        """The random stream of a random op: seeded from (graph seed, op seed) as in TF1."""
        g = self._rngs.get(op.name)
        if g is None:
            seed, seed2 = op.attrs.get("seed"), op.attrs.get("seed2")
            if seed is None and seed2 is None:
                g = np.random.default_rng()
            else:
                g = np.random.default_rng([int(seed or 0), int(seed2 or 0)])
            self._rngs[op.name] = g
        return g

    def rng_states(self) -> dict[str, Any]:
        return {name: g.bit_generator.state for name, g in self._rngs.items()}

    def set_rng_states(self, states: dict[str, Any], graph: Any) -> None:
        for name, state in states.items():
            try:
                op = graph.get_operation_by_name(name)
            except KeyError:
                continue
            self.rng(op).bit_generator.state = state


def uninitialized_error(op: Operation, name: str) -> FailedPreconditionError:
    return FailedPreconditionError(None, op, f"Attempting to use uninitialized value {name} "
                                             f"(read by {op.type} '{op.name}'); run "
                                             "tf.global_variables_initializer() first")


class _ShadowStore:
    """Copies of a VariableStore's values, made on first read; writes stay in the copies."""

    def __init__(self, real: VariableStore) -> None:
        self._real = real
        self._backend = real._backend
        self.values: dict[str, Any] = {}
        self.version = real.version

    def read(self, name: str) -> Any:
        v = self.values.get(name)
        if v is None:
            r = self._real.values.get(name)
            if r is None:
                return Uninitialized(name)
            v = self.values[name] = r.copy()
        return v

    def assign(self, name: str, value: Any) -> Any:
        cur = self.read(name)
        if isinstance(cur, Uninitialized) or cur.shape != value.shape:
            self.values[name] = self._backend.xp.array(value, copy=True)
            return self.values[name]
        self._backend.xp.copyto(cur, value)
        return cur


class ShadowContext:
    """A RuntimeContext look-alike for a dry run: same backend, copied variables and random streams."""

    def __init__(self, real: RuntimeContext) -> None:
        self.backend = real.backend
        self.xp = real.xp
        self.variables = _ShadowStore(real.variables)
        self._real = real
        self._rngs: dict[str, np.random.Generator] = {}

    @property
    def batch_shard(self) -> tuple[int, int] | None:
        return self._real.batch_shard

    def rng(self, op: Operation) -> np.random.Generator:
        g = self._rngs.get(op.name)
        if g is None:
            real = self._real.rng(op)
            g = np.random.Generator(type(real.bit_generator)())
            g.bit_generator.state = real.bit_generator.state
            self._rngs[op.name] = g
        return g
