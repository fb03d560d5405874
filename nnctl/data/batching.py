"""Deterministic mini-batching with a checkpointable state for bit-exact resume."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from nnctl.errors import DataError

STATE_FORMAT = "nnctl.batcher/1"


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _crc(perm: np.ndarray) -> str:
    return f"{zlib.crc32(np.ascontiguousarray(perm, dtype='<i8').tobytes()):08x}"


class Batcher:
    """Index batches over ``n_examples``, reshuffled at the start of every epoch.

    The permutation comes from the Batcher's own ``np.random.Generator(PCG64(seed))``, so no other
    use of randomness shifts it. ``epoch`` and ``position`` advance eagerly: right after the last
    batch of an epoch, ``epoch`` is already the next one and ``position`` is 0. With
    ``drop_last`` the final short batch of each epoch is skipped; otherwise it is returned short.
    """

    def __init__(self, n_examples: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        self.n_examples = _check_int("n_examples", n_examples, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.seed = _check_int("seed", seed, 0)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if self.drop_last and self.batch_size > self.n_examples:
            raise DataError(f"batch_size {self.batch_size} is larger than the {self.n_examples} examples "
                            "and drop_last is set, so no batch would ever be produced")
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self.epoch = 0
        self.position = 0
        self._start_epoch()

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_last:
            return self.n_examples // self.batch_size
        return -(-self.n_examples // self.batch_size)

    @property
    def _epoch_end(self) -> int:
        return self.steps_per_epoch * self.batch_size if self.drop_last else self.n_examples

    def _start_epoch(self) -> None:
        # The generator state *before* drawing the permutation is all a checkpoint needs: replaying
        # the draw rebuilds the permutation and leaves the generator exactly where it was.
        self._epoch_rng_state = self._rng.bit_generator.state
        if self.shuffle:
            self._perm = self._rng.permutation(self.n_examples).astype(np.int64)
        else:
            self._perm = np.arange(self.n_examples, dtype=np.int64)

    def next(self) -> np.ndarray:
        """The int64 indices of the next batch."""
        perm, start, end = self.next_span()
        return perm[start:end].copy()

    def next_span(self) -> tuple[np.ndarray, int, int]:
        """The next batch as ``(perm, start, end)``: its indices are ``perm[start:end]``.

        ``perm`` is the epoch's permutation, a new array every epoch and never written to, so a
        caller may keep a copy of it (on a device) for as long as the same object comes back."""
        perm, start = self._perm, self.position
        end = min(start + self.batch_size, self.n_examples)
        self.position = end
        if self.position >= self._epoch_end:
            self.epoch += 1
            self.position = 0
            self._start_epoch()
        return perm, start, end

    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (128-bit generator words are stored as decimal strings)."""
        rng = self._epoch_rng_state
        return {
            "format": STATE_FORMAT,
            "n_examples": self.n_examples, "batch_size": self.batch_size, "shuffle": self.shuffle,
            "drop_last": self.drop_last, "seed": self.seed,
            "epoch": self.epoch, "position": self.position,
            "epoch_rng_state": {
                "bit_generator": rng["bit_generator"],
                "state": {"state": str(rng["state"]["state"]), "inc": str(rng["state"]["inc"])},
                "has_uint32": int(rng["has_uint32"]), "uinteger": int(rng["uinteger"]),
            },
            "permutation_crc32": _crc(self._perm),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot; the following ``next()`` calls equal the uninterrupted run's."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise DataError(f"batcher state: expected format {STATE_FORMAT!r}, got {found!r}")
        for key in ("n_examples", "batch_size", "shuffle", "drop_last"):
            if state.get(key) != getattr(self, key):
                raise DataError(f"batcher state was saved with {key}={state.get(key)!r} but this run has "
                                f"{key}={getattr(self, key)!r}; resume needs the same data and batching")
        epoch = _check_int("batcher state epoch", state.get("epoch"), 0)
        position = _check_int("batcher state position", state.get("position"), 0)
        if position >= self._epoch_end or position % self.batch_size:
            raise DataError(f"batcher state position {position} is not a batch start inside an epoch "
                            f"of {self._epoch_end} examples")
        try:
            raw = state["epoch_rng_state"]
            rng_state = {
                "bit_generator": raw["bit_generator"],
                "state": {"state": int(raw["state"]["state"]), "inc": int(raw["state"]["inc"])},
                "has_uint32": int(raw["has_uint32"]), "uinteger": int(raw["uinteger"]),
            }
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = rng_state
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"batcher state: malformed epoch_rng_state ({type(e).__name__}: {e})") from None
        self._rng = rng
        self.seed = _check_int("batcher state seed", state.get("seed", self.seed), 0)
        self.epoch, self.position = epoch, position
        self._start_epoch()
        crc = state.get("permutation_crc32")
        if crc is not None and crc != _crc(self._perm):
            raise DataError("batcher state: the replayed shuffle differs from the saved one (was the "
                            "checkpoint written with another numpy version?); an exact resume is impossible")

    def __repr__(self) -> str:
        return (f"Batcher(n_examples={self.n_examples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
                f"epoch={self.epoch}, position={self.position})")
