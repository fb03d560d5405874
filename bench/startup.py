"""Start-up and small-batch overhead: how long a user waits, nnctl against PyTorch.

Part 1, whole processes (process start to exit), each a subprocess, timed with perf_counter:
  python -c pass                       the interpreter alone (baseline)
  python -c "import numpy"             nnctl's one heavy dependency
  python -c "import nnctl"             the package import
  nnctl --help                         the CLI entry point
  nnctl validate configs/xor.yaml      parse + validate a config
  nnctl train configs/xor.yaml --run-dir TMP            the whole XOR run: 500 steps, logs,
                                       metrics, 5 checkpoints, TensorBoard events, summary
  ... --set train.tensorboard=false    the same without the TensorBoard events
  python -c "import torch"             PyTorch's import
  python bench/torch_xor_train.py --run-dir TMP         the same XOR job in plain PyTorch
                                       (same net, steps, logging and checkpoint cadence)
Part 2, the first training step (fresh process each): the XOR workload of bench/workloads.py
built by bench/nnctl_bench.py (TF1 API: placeholders, Variables, minimize, Session) and by
bench/torch_bench.py, after the framework is imported:
  build    graph + optimizer + Session + variable initialisation (torch: parameters + optimizer)
  first    the first ``sess.run([train, loss])`` / torch step: nnctl traces, schedules and
           compiles its execution plan here
  steady   the median of the next --steps steps
  compile  first - steady: what the first step costs on top of an ordinary one

Runs are interleaved (every repeat runs every case once, the order rotated from repeat to repeat)
and each figure is the median over --repeats (default 5), with the min; part 1 also gives each
process's CPU time (user + system, all threads), which a busy machine disturbs far less than wall
time. Ratios are nnctl / torch of the medians. The run directories are fresh temporary folders, removed afterwards.

The ``nnctl`` executable is looked up next to this Python first (a venv's bin/), then on PATH;
without one, the console script's entry point ``nnctl.cli:main`` is run through ``python -c``.
Commands run from the repository root (the config path is relative to it), with the OpenBLAS
variables that slow BLAS down on some machines removed from the environment. nnctl and bench/ are
byte-compiled first (``compileall``, into the git-ignored __pycache__ folders), as an installed
package is: under PYTHONDONTWRITEBYTECODE every run would otherwise recompile each changed module.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/startup.py [--repeats 7] [--write-results]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DROP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
RUN_DIR = "{run_dir}"  # placeholder in a command: a fresh, empty run directory for every run

# Part 2's driver, run as ``python -c`` with the implementation's module name as argv[1]:
# import the framework, build the xor workload through the bench's own build(), time each step.
FIRST_STEP = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
impl, steps = sys.argv[1], int(sys.argv[3])
__import__("nnctl" if impl == "nnctl_bench" else "torch")
t1 = time.perf_counter()
import workloads
bench = __import__(impl)
wl = workloads.make_workload("xor", seed=0)
t2 = time.perf_counter()
step, info, close = bench.build(wl)
t3 = time.perf_counter()
times, losses = [], []
for i in range(steps + 1):
    t = time.perf_counter()
    losses.append(step(i))
    times.append((time.perf_counter() - t) * 1000.0)
print(json.dumps({"import_ms": (t1 - t0) * 1000.0, "build_ms": (t3 - t2) * 1000.0, "first_ms": times[0],
                  "steady_ms": sorted(times[1:])[len(times[1:]) // 2], "loss": losses[-1]}))
"""


def nnctl_cmd() -> list[str]:
    local = Path(sys.executable).parent / "nnctl"
    if local.exists():
        return [str(local)]
    found = shutil.which("nnctl")
    if found:
        return [found]
    # What the console script (pyproject: nnctl = "nnctl.cli:main") would run.
    entry = "import sys; from nnctl.cli import main; sys.argv[0] = 'nnctl'; sys.exit(main())"
    return [sys.executable, "-c", entry]


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(cmd: list[str], env: dict[str, str], tmp: Path) -> tuple[float, float, int, str, str]:
    """(wall ms, CPU ms, exit code, last stderr/stdout line, stdout) of one run; RUN_DIR becomes a fresh
    folder. CPU is the child's user + system time, all its threads: unlike wall time it hardly moves
    when other jobs share the cores."""
    run_dir = tmp / f"run-{time.monotonic_ns()}"
    cmd = [a.replace(RUN_DIR, str(run_dir)) for a in cmd]
    c = _children_cpu_s()
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    ms = (time.perf_counter() - t) * 1000.0
    cpu_ms = (_children_cpu_s() - c) * 1000.0
    shutil.rmtree(run_dir, ignore_errors=True)
    lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
    return ms, cpu_ms, p.returncode, (lines[-1] if lines else ""), p.stdout


def interleaved(cases: list[tuple[str, list[str]]], repeats: int, env: dict[str, str], tmp: Path) -> dict:
    """Every repeat runs every case once, the order rotated per repeat; a failing case stops repeating."""
    out: dict[str, dict] = {label: {"ms": [], "cpu": [], "rc": 0, "error": "", "stdout": []} for label, _ in cases}
    for r in range(repeats):
        k = r % len(cases)
        for label, cmd in cases[k:] + cases[:k]:
            res = out[label]
            if res["rc"] != 0:
                continue
            ms, cpu_ms, rc, err, stdout = run_once(cmd, env, tmp)
            res["ms"].append(ms)
            res["cpu"].append(cpu_ms)
            res["stdout"].append(stdout)
            if rc != 0:
                res["rc"], res["error"] = rc, err
        print(f"  repeat {r + 1}/{repeats} done", file=sys.stderr, flush=True)
    return out


def ready(s: dict[str, float]) -> float:
    """Import + build + first step: from an empty process to the first update done (nnctl imports its
    modules lazily, so part of its import happens in build)."""
    return s["import_ms"] + s["build_ms"] + s["first_ms"]


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and b == b and a == a else "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=200, help="steady steps after the first (part 2)")
    p.add_argument("--config", default="configs/xor.yaml")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparisons")
    p.add_argument("--write-results", action="store_true", help="append the tables to bench/results.md")
    args = p.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT), env.get("PYTHONPATH", "")) if x)
    py = sys.executable
    cli = nnctl_cmd()
    torch_ok = not args.no_torch and importlib.util.find_spec("torch") is not None
    train = f"nnctl train {args.config} --run-dir TMP"
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        ("python -c 'import numpy'", [py, "-c", "import numpy"]),
        ("python -c 'import nnctl'", [py, "-c", "import nnctl"]),
        ("nnctl --help", [*cli, "--help"]),
        (f"nnctl validate {args.config}", [*cli, "validate", args.config]),
        (train, [*cli, "train", args.config, "--run-dir", RUN_DIR]),
        (f"{train} --set train.tensorboard=false",
         [*cli, "train", args.config, "--run-dir", RUN_DIR, "--set", "train.tensorboard=false"]),
    ]
    torch_train = "python bench/torch_xor_train.py --run-dir TMP"
    if torch_ok:
        cases += [("python -c 'import torch'", [py, "-c", "import torch"]),
                  (torch_train, [py, str(BENCH / "torch_xor_train.py"), "--run-dir", RUN_DIR])]
    impls = [("nnctl", "nnctl_bench")] + ([("torch", "torch_bench")] if torch_ok else [])
    first_cases = [(name, [py, "-c", FIRST_STEP, mod, str(BENCH), str(args.steps)]) for name, mod in impls]

    for folder in (ROOT / "nnctl", BENCH):
        compileall.compile_dir(folder, quiet=1)
    with tempfile.TemporaryDirectory(prefix="nnctl-startup-") as tmp:
        print(f"part 1: {len(cases)} commands x {args.repeats} repeats", file=sys.stderr)
        procs = interleaved(cases, args.repeats, env, Path(tmp))
        print(f"part 2: first step, {len(first_cases)} implementations x {args.repeats} repeats", file=sys.stderr)
        firsts = interleaved(first_cases, args.repeats, env, Path(tmp))

    lines = ["| command (process start to exit) | median ms | min ms | median CPU ms | note |",
             "|---|---:|---:|---:|---|"]
    for label, _ in cases:
        r = procs[label]
        note = "" if r["rc"] == 0 else f"exit {r['rc']}: {r['error'][:80]}"
        lines.append(f"| `{label}` | {med(r['ms']):.0f} | {min(r['ms']):.0f} | {med(r['cpu']):.0f} | {note} |")

    fields = ("import_ms", "build_ms", "first_ms", "steady_ms")
    first_lines = ["| xor, first training step | import ms | build ms | first step ms | steady step ms "
                   "| compile ms (first - steady) | note |", "|---|---:|---:|---:|---:|---:|---|"]
    stats: dict[str, dict[str, float]] = {}
    for name, _ in first_cases:
        r = firsts[name]
        rows = [json.loads(out.strip().splitlines()[-1]) for out in r["stdout"] if out.strip()] if r["rc"] == 0 else []
        s = {f: med([row[f] for row in rows]) for f in fields}
        s["compile_ms"] = med([row["first_ms"] - row["steady_ms"] for row in rows])
        stats[name] = s
        note = "" if r["rc"] == 0 else f"exit {r['rc']}: {r['error'][:80]}"
        first_lines.append(f"| {name} | {s['import_ms']:.0f} | {s['build_ms']:.1f} | {s['first_ms']:.2f} "
                           f"| {s['steady_ms']:.3f} | {s['compile_ms']:.2f} | {note} |")

    ratios = []
    if torch_ok:
        n, t = stats["nnctl"], stats["torch"]
        ratios = [
            f"- `{train}` / `{torch_train}`: {ratio(med(procs[train]['ms']), med(procs[torch_train]['ms']))} wall, "
            f"{ratio(med(procs[train]['cpu']), med(procs[torch_train]['cpu']))} CPU",
            f"- first-step compile (first - steady), nnctl / torch: {ratio(n['compile_ms'], t['compile_ms'])}",
            f"- import + build + first step, nnctl / torch: {ratio(ready(n), ready(t))}",
            f"- steady step, nnctl / torch: {ratio(n['steady_ms'], t['steady_ms'])}",
        ]
    shown = cli[0] if len(cli) == 1 else "python -c <nnctl.cli:main> (no nnctl executable found)"
    report = [*lines, "", *first_lines, "", *ratios, "",
              f"(nnctl: {shown}; {args.repeats} interleaved repeats; part 2: {args.steps} steady steps)"]
    print("\n".join(report))
    if args.write_results:
        sys.path.insert(0, str(BENCH))
        from run import append_results, machine_info, utc_now

        info = machine_info()
        out = [f"\n## {utc_now()}: start-up and first step, `python bench/startup.py --repeats {args.repeats}`\n"]
        out += [f"- {k}: {info[k]}" for k in ("cpu", "python", "nnctl", "load average")]
        append_results("\n".join([*out, "", *report]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
