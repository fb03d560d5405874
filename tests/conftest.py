"""Fixtures and helpers shared by the test modules."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

import pytest


def pytest_configure(config: Any) -> None:
    """The shipped configs/digits-images.yaml reads datasets/digits-images/, a folder of PNG files the
    repository does not store (it is written from datasets/digits.csv.gz, and git-ignored): write it
    once, so every test that walks the shipped configs can use that one as shipped."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    folder = root / "datasets" / "digits-images"
    if (folder / "9").is_dir():
        return
    sys.path.insert(0, str(root / "datasets"))
    from make_digits_images import write_digits_images
    tmp = folder.with_name(f".digits-images.{os.getpid()}.tmp")
    write_digits_images(tmp)
    try:
        tmp.rename(folder)   # atomic: a concurrent session sees the whole folder or none
    except OSError:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


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
