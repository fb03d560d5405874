"""Start-up latency: how long a user waits before nnctl does anything.

Times, as subprocesses (median and min of --repeats runs, default 5):
  python -c pass                       the interpreter alone (baseline)
  python -c "import numpy"             nnctl's one heavy dependency
  python -c "import nnctl"             the package import
  nnctl --help                         the CLI entry point
  nnctl validate configs/xor.yaml      parse + validate a config
  python -c "import torch"             for reference, with --torch

The `nnctl` executable is looked up next to this Python first (a venv's bin/), then on PATH;
without one, the console script's entry point ``nnctl.cli:main`` is run through ``python -c``.
Commands run from the repository root (the config path is relative to it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DROP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


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


def time_cmd(cmd: list[str], repeats: int, env: dict[str, str]) -> dict:
    times, rc, err = [], 0, ""
    for _ in range(repeats):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        times.append((time.perf_counter() - t) * 1000.0)
        if p.returncode != 0:
            rc = p.returncode
            lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
            err = lines[-1] if lines else ""
            break
    return {"median_ms": statistics.median(times), "min_ms": min(times), "rc": rc, "error": err}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--config", default="configs/xor.yaml")
    p.add_argument("--torch", action="store_true", help="also time `import torch`, for reference")
    p.add_argument("--write-results", action="store_true", help="append the table to bench/results.md")
    args = p.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT), env.get("PYTHONPATH", "")) if x)
    py = sys.executable
    cli = nnctl_cmd()
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        ("python -c 'import numpy'", [py, "-c", "import numpy"]),
        ("python -c 'import nnctl'", [py, "-c", "import nnctl"]),
        ("nnctl --help", [*cli, "--help"]),
        (f"nnctl validate {args.config}", [*cli, "validate", args.config]),
    ]
    if args.torch:
        cases.append(("python -c 'import torch'", [py, "-c", "import torch"]))

    lines = ["| command | median ms | min ms | note |", "|---|---:|---:|---|"]
    for label, cmd in cases:
        r = time_cmd(cmd, args.repeats, env)
        note = "" if r["rc"] == 0 else f"exit {r['rc']}: {r['error'][:80]}"
        lines.append(f"| `{label}` | {r['median_ms']:.0f} | {r['min_ms']:.0f} | {note} |")
        print(lines[-1], flush=True)
    shown = cli[0] if len(cli) == 1 else "python -c <nnctl.cli:main> (no nnctl executable found)"
    print(f"\n(nnctl: {shown}; {args.repeats} runs each)")
    if args.write_results:
        sys.path.insert(0, str(BENCH))
        from run import append_results, machine_info, utc_now

        info = machine_info()
        out = [f"\n## {utc_now()}: start-up, `python bench/startup.py`\n"]
        out += [f"- {k}: {info[k]}" for k in ("cpu", "python", "nnctl", "load average")]
        append_results("\n".join([*out, "", *lines]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
