"""The ``nnctl`` command line: parse arguments, call the library, render with rich.

Every error reaches the user as one message; bad input exits 2, a failure at run time exits 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train neural networks from YAML configs on a TensorFlow-1-style graph engine.")


def _flags_as_flags() -> None:
    """Help shows a boolean flag as ``--resume``, not ``--resume <bool>`` (typer labels every option)."""
    from typer.core import TyperOption
    shown = TyperOption.display_type_rich

    def display(self: Any, ctx: Any) -> Any:
        return "" if self.is_flag else shown(self, ctx)
    TyperOption.display_type_rich = display  # type: ignore[method-assign]


_flags_as_flags()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version
        try:
            v = version("nnctl")
        except PackageNotFoundError:
            v = "0.1.0 (not installed)"
        print(f"nnctl {v}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Train neural networks from YAML configs on a TensorFlow-1-style graph engine."""


def _console(stderr: bool = False) -> Any:
    from rich.console import Console
    return Console(stderr=stderr, highlight=False)


def _warn(msg: str) -> None:
    _console(stderr=True).print(f"[yellow]warning:[/yellow] {msg}", soft_wrap=True)


_BACKEND_HELP = "numpy or cupy (default: the config's backend; numpy for a frozen file)"


def _use_backend(name: str | None) -> None:
    """Every session this command opens runs on ``--backend`` when given."""
    from nnctl.backends import set_backend_override
    set_backend_override(name)


@app.command()
def train(config: str = typer.Argument(None, help="YAML config file (with --resume: optional, or the run directory)"),
          run_dir: str = typer.Option(None, "--run-dir", help="run directory (default runs/<name>, or runs/<name>-2 "
                                                             "... when taken); missing parent folders are created"),
          set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                         help="override a config key (repeatable); with --resume, a change to "
                                              "apply from the current step"),
          resume: bool = typer.Option(False, "--resume", help="continue a run from its newest checkpoint: nnctl "
                                                              "train --resume RUN_DIR"),
          backend: str = typer.Option(None, "--backend", help="numpy (default) or cupy"),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the final summary"),
          progress: str = typer.Option("auto", "--progress", help="auto (a live bar on a terminal, plain lines "
                                                                   "otherwise), bar, plain or none"),
          debug_nans: bool = typer.Option(False, "--debug-nans",
                                          help="check every op's output and name the first non-finite one"),
          nproc: int = typer.Option(None, "--nproc", help="data-parallel: run N processes under mpiexec"),
          check_replicas: int = typer.Option(0, "--check-replicas", metavar="K",
                                             help="data-parallel debug: compare every rank's weights every K "
                                                  "steps")) -> None:
    """Train a model: writes config, metrics, checkpoints and a summary into the run directory."""
    from nnctl.distributed.ranks import world
    if nproc is not None and world().size == 1:
        from nnctl.distributed.launch import exec_under_mpiexec
        exec_under_mpiexec(nproc, sys.argv[1:])
    from nnctl.model_summary import summary_table
    from nnctl.train.trainer import train as run_train
    console = _console()
    writer = world().writer
    res = run_train(config, run_dir=run_dir, overrides=set_, resume=resume, backend=backend, quiet=quiet,
                    debug_nans=debug_nans, warn=_warn if writer else None, replica_check_every=check_replicas,
                    progress=progress,
                    info=(lambda m: console.print(m, soft_wrap=True)) if writer else None,
                    show_summary=(lambda m: console.print(summary_table(m))) if writer else None)
    if not writer:
        return
    s = res.summary
    final = s.get("final", {})
    parts = []
    for split in ("train", "val"):
        vals = [f"{k} {v:.4g}" for k, v in final.get(split, {}).items()
                if isinstance(v, float) and k not in ("time", "lr")]
        if vals:
            parts.append(f"{split}: " + ", ".join(vals))
    console.print(f"[bold]{res.status}[/bold]: {res.steps} steps in {s.get('wall_time') or 0:.2f}s; "
                  + "; ".join(parts) + f"\nrun dir: {res.run_dir}", soft_wrap=True)


@app.command()
def validate(config: str = typer.Argument(..., help="YAML config file"),
             set_: list[str] = typer.Option([], "--set", help="override a config key: KEY=VALUE"),
             backend: str = typer.Option(None, "--backend", help=_BACKEND_HELP)) -> None:
    """Load and check a config, its data and its whole graph (gradients included) without training."""
    _use_backend(backend)
    from nnctl.validate import validate_config
    report = validate_config(config, set_)
    _console().print(report, markup=False, highlight=False, soft_wrap=True)  # the report quotes config text


@app.command("eval")
def eval_(target: str = typer.Argument(..., help="run directory, checkpoint folder or frozen model file"),
          data: str = typer.Option(None, "--data", help="train, val or test (a run's split), or a CSV/NPZ file in "
                                                         "the training format"),
          checkpoint: str = typer.Option(None, "--checkpoint", help="best, latest or a step number (default: best "
                                                                     "when the run marked one, else latest)"),
          as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
          confusion: Path = typer.Option(None, "--confusion-matrix", help="classifiers: draw the confusion matrix "
                                                                          "into this PNG file"),
          backend: str = typer.Option(None, "--backend", help=_BACKEND_HELP)) -> None:
    """Loss and metrics of a checkpoint or a frozen model on a split or a data file."""
    _use_backend(backend)
    from nnctl.evaluate import evaluate
    if confusion is not None:
        from nnctl.fileio import check_output_file
        check_output_file(confusion, "--confusion-matrix")
    res = evaluate(target, data, checkpoint, warn=_warn)
    if confusion is not None:
        from nnctl.errors import InputError
        from nnctl.plots import confusion_png
        if res.confusion is None:
            raise InputError("--confusion-matrix: this model is a regression model; a confusion matrix needs classes")
        where_ = f"split {res.split}" if res.split else f"{res.data}"
        confusion_png(res.confusion, res.class_names, confusion,
                      f"{Path(res.target).name}: {where_}, {res.checkpoint_label()}")
    where = f"split {res.split}" if res.split else f"data {res.data}"
    info = f"{res.kind} {res.target}: {res.checkpoint_label()}, {where}, {res.scores['examples']} examples"
    if as_json:
        import json
        import math
        obj = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in res.to_json().items()}
        _console(stderr=True).print(info, soft_wrap=True)
        sys.stdout.write(json.dumps(obj) + "\n")
        return
    from rich.table import Table
    t = Table(title=f"eval: {where}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k in ["loss", *res.metrics]:
        t.add_row(k, f"{res.scores[k]:.6g}")
    t.add_row("examples", str(res.scores["examples"]))
    con = _console()
    con.print(t)
    if res.confusion is not None:
        con.print(_confusion_table(res.confusion, res.class_names))
    con.print(info, soft_wrap=True)
    if confusion is not None:
        con.print(f"wrote {confusion}", soft_wrap=True)


def _confusion_table(m: Any, names: list[str] | None) -> Any:
    from rich.table import Table
    k = len(m)
    labels = names if names and len(names) == k else [str(i) for i in range(k)]
    t = Table(title="confusion matrix (rows: true, columns: predicted)")
    t.add_column("")
    for name in labels:
        t.add_column(name, justify="right")
    for i, name in enumerate(labels):
        t.add_row(name, *[f"{v:g}" for v in m[i]])
    return t


@app.command()
def freeze(target: str = typer.Argument(..., help="run directory or checkpoint folder"),
           output: str = typer.Option(..., "--output", "-o", help="frozen model file to write"),
           checkpoint: str = typer.Option(None, "--checkpoint", help="best, latest or a step number (default: best "
                                                                      "when the run marked one, else latest)"),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the line naming the file written"),
           backend: str = typer.Option(None, "--backend", help=_BACKEND_HELP)) -> None:
    """Write one self-contained file holding only the inference graph, variables folded to constants."""
    _use_backend(backend)
    from nnctl.export.freezing import freeze as run_freeze
    from nnctl.export.freezing import report_renderables
    from nnctl.fileio import check_output_file
    check_output_file(output, "--output")
    rep = run_freeze(target, output, checkpoint, warn=_warn)
    con = _console()
    parts = report_renderables(rep)
    for r in (parts[-1:] if quiet else parts):
        con.print(r, soft_wrap=isinstance(r, str))


@app.command()
def export(target: str = typer.Argument(..., help="run directory, checkpoint folder or frozen model file"),
           fmt: str = typer.Option(..., "--format", "-f", help="onnx, safetensors or frozen"),
           output: str = typer.Option(None, "--output", "-o",
                                       help="file to write (default: RUN_DIR/model.<format>, or beside a frozen "
                                            "file)"),
           checkpoint: str = typer.Option(None, "--checkpoint", help="latest (default), best or a step number")
           ) -> None:
    """Export for other tools (ONNX, safetensors) or as a frozen file; the file is run and checked
    against the checkpoint before it is written, with FILE.report.json beside it."""
    from nnctl.export.exporter import export as run_export
    from nnctl.export.exporter import report_renderables
    rep = run_export(target, fmt, output, checkpoint, warn=_warn)
    con = _console()
    for r in report_renderables(rep):
        con.print(r, soft_wrap=True)


@app.command()
def serve(target: Path = typer.Argument(..., help="frozen model file, run directory or checkpoint folder"),
          host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
          port: int = typer.Option(8000, "--port", help="TCP port (0: pick a free one and print it)"),
          checkpoint: str = typer.Option(None, "--checkpoint", help="for a run: latest (default), best or a step"),
          max_body: int = typer.Option(4 * 1024 * 1024, "--max-body", help="largest request body in bytes"),
          max_batch: int = typer.Option(256, "--max-batch", help="most rows the model runs at once"),
          max_wait_ms: float = typer.Option(2.0, "--max-wait-ms",
                                            help="how long a batch waits for more requests")) -> None:
    """HTTP JSON predictions: POST /v1/predict {"rows": [...]}, GET /v1/model, GET /healthz."""
    from nnctl.serve.server import serve as run_serve
    run_serve(target, host, port, checkpoint, max_body=max_body, max_batch=max_batch, max_wait_ms=max_wait_ms,
              on_ready=lambda m: _console(stderr=True).print(m, soft_wrap=True, highlight=False), warn=_warn)


@app.command()
def predict(frozen: str = typer.Argument(..., help="frozen model file"),
            input_: list[str] = typer.Option(..., "--input", "-i", help="CSV/TSV/Parquet of raw rows (with or "
                                             "without a header), NPZ, '-' for standard input; for an image "
                                             "model image files or folders (repeat --input)"),
            output: str = typer.Option(None, "--output", "-o", help="write here (atomically) instead of stdout"),
            fmt: str = typer.Option(None, "--format", help="csv (default) or json (JSON Lines)"),
            backend: str = typer.Option(None, "--backend", help=_BACKEND_HELP)) -> None:
    """Predictions of a frozen model, one output row per input row."""
    _use_backend(backend)
    from nnctl.predict import predict as run_predict
    if output is not None:
        from nnctl.fileio import check_output_file
        check_output_file(output, "--output")
    preds, text = run_predict(frozen, input_, output, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        _console(stderr=True).print(f"wrote {len(preds)} predictions to {output}", soft_wrap=True)


@app.command()
def graph(target: str = typer.Argument(..., help="config file, run directory, checkpoint folder or frozen file"),
          backward: bool = typer.Option(False, "--backward", help="also show gradient and update nodes"),
          fmt: str = typer.Option("text", "--format", help="text or dot (Graphviz)"),
          output: str = typer.Option(None, "--output", "-o", help="write to this file (atomically)"),
          set_: list[str] = typer.Option([], "--set", help="override a config key: KEY=VALUE")) -> None:
    """Show the forward graph (ops, shapes, parameters) and, with --backward, the gradient and update nodes."""
    from nnctl.errors import InputError
    from nnctl.inspect_graph import graph_view, render_dot, render_text, text_renderables, write_output
    if fmt not in ("text", "dot"):
        raise InputError(f"--format must be text or dot, got {fmt!r}")
    view = graph_view(target, set_, warn=_warn)
    if fmt == "dot":
        text = render_dot(view, backward)
    elif output is not None:
        text = render_text(view, backward)
    else:
        con = _console()
        for r in text_renderables(view, backward):
            con.print(r)
        return
    if output is None:
        sys.stdout.write(text)
    else:
        write_output(output, text)
        _console(stderr=True).print(f"wrote {output}", soft_wrap=True)


@app.command()
def init(template: str = typer.Argument(None, help="example to start from (default xor); see --list"),
         output: Path = typer.Option(None, "--output", "-o", help="file to write (default TEMPLATE.yaml here)"),
         force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
         list_: bool = typer.Option(False, "--list", help="list the templates and exit")) -> None:
    """Write a commented starter config from one of the shipped examples."""
    from nnctl.templates import init_config, templates
    if list_:
        for name, p in templates().items():
            first = next((ln[1:].strip() for ln in p.read_text(encoding="utf-8").splitlines()
                          if ln.startswith("#")), "")
            _console().print(f"{name:12} {first}", soft_wrap=True, markup=False)
        return
    path = init_config(template, output, force)
    _console().print(f"wrote {path} (from template {template or 'xor'}); check it with: nnctl validate {path}; "
                     f"train it with: nnctl train {path}", soft_wrap=True, markup=False)


@app.command("config")
def config_(config: Path = typer.Argument(..., help="YAML config file"),
            set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="override a config key")) -> None:
    """Print the config as training will use it: --set applied and every default filled in."""
    from nnctl.templates import resolved_config_text
    sys.stdout.write(resolved_config_text(config, set_))


@app.command()
def plot(runs: list[Path] = typer.Argument(..., help="one or more run directories"),
         metric: str = typer.Option(None, "--metric", help="the metric to draw next to the loss (default: the "
                                                           "first logged)"),
         output: Path = typer.Option(None, "--output", "-o", help="write a PNG here (needs nnctl[plot]); without "
                                                                  "it, draw in the terminal"),
         log: bool = typer.Option(False, "--log", help="logarithmic y axis")) -> None:
    """Loss and metric curves of one or more runs (train dashed, val solid), overlaid."""
    from nnctl.plots import plot_png, plot_terminal
    if output is not None:
        qs = plot_png(runs, output, metric, log)
        _console(stderr=True).print(f"wrote {output} ({', '.join(qs)} of {len(runs)} run(s))", soft_wrap=True)
        return
    import shutil
    cols, rows = shutil.get_terminal_size((100, 30))
    sys.stdout.write(plot_terminal(runs, metric, log, width=cols, height=max(12, min(rows - 2, 24))) + "\n")


@app.command("runs")
def runs_(folder: Path = typer.Argument(Path("runs"), help="folder holding run directories (default runs/)"),
          sort: str = typer.Option(None, "--sort", help="sort by a metric, best first: val_accuracy, val_loss, "
                                                        "train_loss, best, steps, wall_time"),
          as_json: bool = typer.Option(False, "--json", help="print the runs as JSON on stdout")) -> None:
    """A table of runs: status, steps, wall time, best and final metrics, and the config keys that differ."""
    from nnctl.runs_table import list_runs, renderables
    runs = list_runs(folder, sort)
    if as_json:
        import json
        sys.stdout.write(json.dumps([r.to_json() for r in runs], indent=1, default=str) + "\n")
        return
    if not runs:
        _console().print(f"no runs under {folder}")
        return
    con = _console()
    for r in renderables(runs, f"runs in {folder}"):
        con.print(r)


@app.command()
def tune(config: Path = typer.Argument(..., help="YAML config file to search around"),
         space: Path = typer.Option(..., "--space", help="YAML search space: config keys -> distributions"),
         trials: int = typer.Option(20, "--trials", help="number of finished trials to reach"),
         jobs: int = typer.Option(1, "--jobs", help="trials run in parallel processes"),
         study_dir: Path = typer.Option(None, "--study-dir", help="study folder (default runs/<name>-tune)"),
         metric: str = typer.Option(None, "--metric", help="objective, e.g. val_accuracy (default: the "
                                                           "early-stopping metric or val_<first metric>)"),
         direction: str = typer.Option(None, "--direction", help="max or min (default: from the metric)"),
         sampler: str = typer.Option("tpe", "--sampler", help="tpe or random"),
         pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none"),
         seed: int = typer.Option(None, "--seed", help="sampler seed (default: the config's seed)"),
         set_: list[str] = typer.Option([], "--set", help="override a config key for every trial: KEY=VALUE")
         ) -> None:
    """Search hyper-parameters with Optuna; every trial is a run dir in the study folder (resumable)."""
    from nnctl.tune import tune as run_tune
    console = _console()

    def report(r: Any) -> None:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items())
        value = f"{r.value:.5g}" if r.value is not None else "-"
        extra = f" ({r.error})" if r.error else ""
        console.print(f"trial {r.number}: {r.state} {value}  {params}{extra}", soft_wrap=True, markup=False)

    res = run_tune(config, space, trials, jobs=jobs, study_dir=study_dir, metric=metric, direction=direction,
                   overrides=set_, sampler=sampler, pruner=pruner, seed=seed, report=report, warn=_warn)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(res.counts.items()))
    console.print(f"[bold]study[/bold] {res.study_dir}: {counts}", soft_wrap=True)
    if res.best is None:
        console.print("no trial completed", soft_wrap=True)
        return
    b = res.best
    console.print(f"best: trial {b.number}, {res.metric} {b.value:.5g} ({res.direction})\n"
                  f"best config: {res.best_config}", soft_wrap=True)


# What a command that is interrupted outside the training loop has done: the trainer reports its own
# interruptions (checkpoint saved, or not after a second Ctrl-C); every other command writes its
# output atomically at its very end, so an interrupted one has written nothing.
_INTERRUPTED = {
    "train": "the run had not started training: no step ran and no checkpoint was written",
    "validate": "validation did not finish: the config and data were not fully checked",
    "eval": "the evaluation did not finish: no scores were computed",
    "predict": "no predictions were written",
    "freeze": "no frozen model file was written",
    "graph": "no graph output was written",
}


def _interrupted() -> None:
    import signal

    from nnctl import interrupts
    sig = interrupts.pending() or signal.SIGINT
    name = "SIGTERM" if sig == signal.SIGTERM else "SIGINT"
    cmd = next((a for a in sys.argv[1:] if a in _INTERRUPTED), None)
    what = _INTERRUPTED.get(cmd or "", "the command did not finish")
    print(f"error: interrupted by {name}" + (f" during `nnctl {cmd}`" if cmd else "") + f": {what}",
          file=sys.stderr)
    sys.exit(143 if sig == signal.SIGTERM else 130)


def _stdout_failed(e: OSError) -> None:
    """stdout cannot be written (a full disk, /dev/full, a closed pipe): one message, exit 1, and no
    second failure when Python flushes stdout again at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    print(f"error: cannot write to standard output: {e.strerror or e}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    """Console entry point: runs the app and turns every error into one message and an exit code."""
    from nnctl import interrupts
    from nnctl.distributed.ranks import share_cores_between_ranks
    share_cores_between_ranks()   # before numpy loads: N ranks must not each take every core
    from nnctl.errors import NnctlError
    _use_backend(None)   # one command, one choice (the in-process tests run many)
    interrupts.clear()
    old_handlers = interrupts.install()
    import warnings
    old_format, warnings.formatwarning = warnings.formatwarning, warning_line
    try:
        rc = app(standalone_mode=False)
        # typer turns a KeyboardInterrupt outside the training loop into a return value; a signal a
        # library swallowed is still pending
        if rc == 130 or interrupts.pending() is not None:
            _interrupted()
        sys.stdout.flush()
    except NnctlError as e:
        code = getattr(e, "exit_code", 1)
        from nnctl.distributed.ranks import rank_report
        line = rank_report(e)
        if line is not None:
            print(f"error: {line}", file=sys.stderr)
        sys.exit(code)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit:
        raise
    except MemoryError as e:
        print(f"error: out of memory: {e or 'allocation failed'}; make the model or the batch smaller",
              file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        # library errors about files name their file; a write error without one is stdout's
        import errno
        stream_errors = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
        if e.errno in stream_errors and e.filename is None:
            _stdout_failed(e)
        try:
            sys.stdout.flush()
        except OSError:
            _stdout_failed(e)
        if os.environ.get("NNCTL_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e} (set NNCTL_DEBUG=1 for a traceback)",
              file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # click usage errors and anything unexpected
        # typer may bundle its own click, so recognise click's exceptions by class name
        kinds = {c.__name__ for c in type(e).__mro__}
        if "Exit" in kinds:
            sys.exit(getattr(e, "exit_code", 0))
        if "ClickException" in kinds:
            print(f"error: {_usage_message(e)}", file=sys.stderr)
            sys.exit(2)
        if "Abort" in kinds:
            _interrupted()
        if os.environ.get("NNCTL_DEBUG"):
            raise
        print(f"error: internal error: {type(e).__name__}: {e} (set NNCTL_DEBUG=1 for a traceback)",
              file=sys.stderr)
        sys.exit(1)
    finally:
        interrupts.restore(old_handlers)
        warnings.formatwarning = old_format
        _use_backend(None)   # --backend lasts one command: library calls after it see the config's


def warning_line(message: Any, category: type, filename: str, lineno: int, line: str | None = None) -> str:
    """A warning as the CLI prints it: one ``warning:`` line like its ``error:`` lines, without the
    source file and line of nnctl's internals that Python's default format adds."""
    return f"warning: {message}\n"


def _usage_message(e: Any) -> str:
    """One line for a usage error, with click's suggestion of the closest valid name."""
    import re
    msg = " ".join(str(e.format_message()).split())
    msg = re.sub(r"\s*\(Possible options: ([^)]*)\)", lambda m: f"; did you mean {m.group(1)}?", msg)
    msg = re.sub(r"\.\s*Did you mean", "; did you mean", msg)
    ctx = getattr(e, "ctx", None)
    cmd = ctx.command_path if ctx is not None else "nnctl"
    return f"{msg} (see: {cmd} --help)"


if __name__ == "__main__":
    main()
