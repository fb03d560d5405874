"""The process group of a data-parallel run: which rank this is, of how many, and its MPI communicator.

nnctl runs on MPI (mpi4py over MPICH, the ``nnctl[mpi]`` extra) rather than a home-made transport:
``mpiexec -n N nnctl train CONFIG`` starts N copies of the same command, and each finds its rank
here. A single process never imports mpi4py: the launcher's environment variables (MPICH/Hydra's
``PMI_SIZE``, Open MPI's ``OMPI_COMM_WORLD_SIZE``, Slurm's ``PMI_SIZE`` too) say whether we run
under ``mpiexec`` at all, and with one rank there is nothing to reduce.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nnctl.errors import InputError, NnctlError

__all__ = ["World", "world", "launched_size", "abort"]

class ReplicatedError(NnctlError):
    """An error rank 0 met and reported; the other ranks leave with its exit code, silently."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def share_cores_between_ranks() -> None:
    """Under mpiexec, give each rank its share of this machine's cores for BLAS threads.

    N ranks that each start one BLAS thread per core oversubscribe the machine N times over, and MPI's
    busy-waiting makes that worse: digits-mlp at N=2 on 2 cores ran 8x slower than N=1 before this.
    Must run before numpy is imported; a thread count the user set is left alone."""
    n = launched_size()
    if n <= 1 or any(v in os.environ for v in _THREAD_VARS):
        return
    local = next((int(os.environ[v]) for v in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")
                  if os.environ.get(v, "").isdigit()), n)
    share = str(max(1, (os.cpu_count() or 1) // max(local, 1)))
    for v in _THREAD_VARS:
        os.environ[v] = share


def launched_size() -> int:
    """How many processes the MPI launcher started (1 when not under mpiexec)."""
    for var in _SIZE_VARS:
        v = os.environ.get(var)
        if v and v.isdigit():
            return int(v)
    return 1


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    comm: Any = None   # mpi4py.MPI.Comm, None for a single process

    @property
    def writer(self) -> bool:
        """Rank 0 alone writes the run directory."""
        return self.rank == 0

    def shard(self, n: int) -> tuple[int, int]:
        """This rank's contiguous rows [lo, hi) of a global batch of ``n`` rows.

        The first ``n % size`` ranks take one row more, so shards differ by at most one row; the
        gradient of each shard is weighted by its share ``(hi - lo) / n`` before the sum over ranks,
        which makes the reduced gradient the gradient of the global batch's mean loss exactly."""
        base, extra = divmod(n, self.size)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def agree(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on rank 0 only and give every rank its result, or its error.

        For the steps only the writer may take (creating the run directory): the other ranks must
        not wait forever in the next collective when rank 0 fails."""
        if self.comm is None:
            return fn()
        if self.rank == 0:
            try:
                res = fn()
            except BaseException as e:
                self.comm.bcast(("err", str(e), getattr(e, "exit_code", 1)), root=0)
                raise
            self.comm.bcast(("ok", res), root=0)
            return res
        out = self.comm.bcast(None, root=0)
        if out[0] == "err":
            raise ReplicatedError(out[1], out[2])
        return out[1]

    def launch_prefix(self) -> str:
        """How to start this job again: ``mpiexec -n N `` (empty for one process)."""
        return f"mpiexec -n {self.size} " if self.size > 1 else ""

    def bcast(self, obj: Any) -> Any:
        return obj if self.comm is None else self.comm.bcast(obj, root=0)

    def allgather(self, obj: Any) -> list[Any]:
        return [obj] if self.comm is None else self.comm.allgather(obj)

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()


_WORLD: World | None = None


def world() -> World:
    """The process group of this process (created on first use)."""
    global _WORLD
    if _WORLD is None:
        n = launched_size()
        if n <= 1:
            _WORLD = World(0, 1)
        else:
            try:
                from mpi4py import MPI
            except ImportError:
                raise InputError(f"this process was started by an MPI launcher with {n} ranks, but mpi4py is not "
                                 "installed: pip install 'nnctl[mpi]'") from None
            comm = MPI.COMM_WORLD
            _WORLD = World(comm.Get_rank(), comm.Get_size(), comm if comm.Get_size() > 1 else None)
    return _WORLD


def abort(message: str, code: int) -> None:
    """End every rank of the job now (another rank may be blocked in a collective and would hang)."""
    w = world()
    if w.comm is None:
        return
    print(f"error: rank {w.rank} of {w.size}: {message}", file=sys.stderr, flush=True)
    w.comm.Abort(code)


def rank_report(e: BaseException) -> str | None:
    """The message this rank prints for ``e``, or None when rank 0 reports it for every rank.

    Errors from the inputs (exit 2), a signal, and a non-finite loss (the loss is reduced over the
    ranks) happen on every rank alike, so only rank 0 speaks; anything else is this rank's own and is
    named with the rank. Only called on the way out; with one process it is the message itself."""
    if _WORLD is None or _WORLD.size == 1:
        return str(e)
    from nnctl.errors import NonFiniteError
    if _WORLD.rank == 0:
        return str(e)
    if isinstance(e, (ReplicatedError, InputError, NonFiniteError)) or getattr(e, "exit_code", 1) in (130, 143):
        return None
    return f"rank {_WORLD.rank} of {_WORLD.size}: {e}"
