"""``nnctl train --nproc N``: start the same command under ``mpiexec -n N``, next to this Python.

The mpich wheel (``nnctl[mpi]``) installs ``mpiexec`` beside the interpreter in a virtual
environment; a system MPI on PATH serves too. The launcher replaces this process (``exec``), so
Ctrl-C reaches mpiexec, which forwards it to every rank.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nnctl.errors import InputError

__all__ = ["find_mpiexec", "mpiexec_argv", "exec_under_mpiexec"]


def find_mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    found = shutil.which("mpiexec")
    if found is None:
        raise InputError("--nproc needs an MPI launcher (mpiexec), and none was found next to "
                         f"{sys.executable} or on PATH: pip install 'nnctl[mpi]'")
    return found


def mpiexec_argv(nproc: int, args: list[str]) -> list[str]:
    """``mpiexec -n N python -m nnctl ARGS`` (ARGS without --nproc)."""
    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    return [find_mpiexec(), "-n", str(nproc), sys.executable, "-m", "nnctl", *args]


def strip_nproc(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        out.append(a)
    return out


def exec_under_mpiexec(nproc: int, argv: list[str]) -> None:
    """Replace this process by ``mpiexec -n nproc`` running ``nnctl`` with ``argv`` minus ``--nproc``."""
    cmd = mpiexec_argv(nproc, strip_nproc(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
