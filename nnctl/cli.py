"""The ``nnctl`` command line: parse arguments, call the library, render with rich.

Every error reaches the user as one message; bad input exits 2, a failure at run time exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train neural networks from YAML configs on a TensorFlow-1-style graph engine.")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console
    return Console(stderr=stderr, highlight=False)


def _warn(msg: str) -> None:
    _console(stderr=True).print(f"[yellow]warning:[/yellow] {msg}", soft_wrap=True)


@app.command()
def train(config: Path = typer.Argument(..., help="YAML config file"),
          run_dir: Path = typer.Option(None, "--run-dir", help="run directory (default runs/<name>)"),
          set_: list[str] = typer.Option([], "--set", help="override a config key: KEY=VALUE (repeatable)"),
          resume: bool = typer.Option(False, "--resume", help="continue from the run dir's newest checkpoint"),
          backend: str = typer.Option(None, "--backend", help="numpy (default) or cupy"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the final summary"),
          debug_nans: bool = typer.Option(False, "--debug-nans",
                                          help="check every op's output and name the first non-finite one")) -> None:
    """Train a model: writes config, metrics, checkpoints and a summary into the run directory."""
    from nnctl.summary import summary_table
    from nnctl.train.trainer import train as run_train
    console = _console()
    res = run_train(config, run_dir=run_dir, overrides=set_, resume=resume, backend=backend, quiet=quiet,
                    debug_nans=debug_nans, warn=_warn,
                    show_summary=lambda m: console.print(summary_table(m)))
    s = res.summary
    final = s.get("final", {})
    parts = [f"{k} {v:.4g}" for split in ("train", "val") for k, v in final.get(split, {}).items()
             if isinstance(v, float) and k not in ("time", "lr")]
    console.print(f"[bold]{res.status}[/bold]: {res.steps} steps in {s.get('wall_time') or 0:.2f}s; "
                  + ", ".join(parts) + f"\nrun dir: {res.run_dir}")


@app.command()
def validate(config: Path = typer.Argument(..., help="YAML config file"),
             set_: list[str] = typer.Option([], "--set", help="override a config key: KEY=VALUE")) -> None:
    """Load and check a config, its data and its whole graph (gradients included) without training."""
    from nnctl.validate import validate_config
    report = validate_config(config, set_)
    _console().print(report)


def main() -> None:
    """Console entry point: runs the app and turns every error into one message and an exit code."""
    from nnctl.errors import NnctlError
    try:
        app(standalone_mode=False)
    except NnctlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 1))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors and anything unexpected
        import click
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        if isinstance(e, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            sys.exit(130)
        if os.environ.get("NNCTL_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e} (set NNCTL_DEBUG=1 for a traceback)",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
