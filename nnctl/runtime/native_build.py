"""What the compiled host kernels are built from: their C sources, the compiler flags, and the
digest that ties a built library to the sources it came from.

Standard library only: setup.py loads this file by path (before nnctl or numpy can be imported)
to build the library, and runtime/native.py imports it to check that the library it loads was
built from the sources beside it (a checkout whose C sources changed after the last build falls
back to the numpy path and says how to rebuild, rather than run stale kernels).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The extension's name (nnctl/_kernels.<abi>.so): a plain shared library, loaded with ctypes
EXTENSION = "nnctl._kernels"
SOURCES = ("plan.c", "conv.c", "dconv.c", "seq.c", "bn.c", "fuse.c", "bgemm.c", "source.c")
HEADERS = ("kernels.h", "instantiate.h", "dconv_body.h")
# -ffp-contract=off: no fused multiply-add, so every product is rounded before it is added, as in
# numpy; no -ffast-math (no reassociation, IEEE NaN and denormal behaviour); -fno-math-errno lets
# sqrt be the single correctly rounded instruction and -fno-trapping-math lets comparisons become
# vector selects (nothing here enables FP traps): neither changes a value
CFLAGS = ("-O3", "-std=gnu11", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fno-strict-aliasing")
CSRC = Path(__file__).resolve().parent.parent / "csrc"


def digest(csrc: Path = CSRC) -> str:
    """sha256 (first 16 hex digits) of the kernel sources and flags: the library's build stamp."""
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode() + b"\0" + (csrc / name).read_bytes() + b"\0")
    h.update(" ".join(CFLAGS).encode())
    return h.hexdigest()[:16]
