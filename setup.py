"""Builds nnctl's compiled host kernels (nnctl/csrc/*.c) into nnctl/_kernels, a plain shared
library that nnctl/runtime/native.py loads with ctypes. Everything else is in pyproject.toml.

The extension is optional: on a machine without a C compiler the install still succeeds and the
kernels take their numpy path (the same results, slower). ``make kernels`` rebuilds it in place.
"""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup

_spec = importlib.util.spec_from_file_location("native_build", Path(__file__).parent / "nnctl/runtime/native_build.py")
nb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb)

setup(ext_modules=[Extension(
    nb.EXTENSION,
    sources=[f"nnctl/csrc/{s}" for s in nb.SOURCES],
    depends=[f"nnctl/csrc/{h}" for h in nb.HEADERS],
    include_dirs=["nnctl/csrc"],
    define_macros=[("NNCTL_KERNELS_DIGEST", f'"{nb.digest()}"')],
    extra_compile_args=list(nb.CFLAGS),
    optional=True,
)])
