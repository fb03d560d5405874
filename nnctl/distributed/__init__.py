"""Data-parallel training on MPI (``nnctl[mpi]``): the process group, gradient Allreduce, the launcher.

See docs/distributed.md. Nothing here imports mpi4py until a run really has several ranks."""

from nnctl.distributed.ranks import World, launched_size, world

__all__ = ["World", "launched_size", "world"]
