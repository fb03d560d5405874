"""Fixtures and helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

import pytest


@pytest.fixture
def fresh_graph():
    """A new default graph for one test, so op names and collections never leak between tests."""
    import nnctl as tf
    g = tf.Graph()
    with g.as_default():
        yield g


def run_cli(*argv: str | os.PathLike) -> tuple[int, str, str]:
    """``nnctl.cli.main`` in-process as the console script runs it: (exit code, stdout, stderr).

    typer's CliRunner would bypass main()'s error handling, which is what the tests check."""
    from nnctl.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["nnctl", *map(str, argv)]
    code: Any = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code
    finally:
        sys.argv = old
    return (0 if code is None else code), out.getvalue(), err.getvalue()
