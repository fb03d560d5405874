"""Benchmark runner: nnctl against PyTorch eager, hand-written numpy, TF1 and JAX on the workloads.

Each (workload, implementation) run is a separate subprocess
``python bench/<impl>_bench.py --workload W --steps N --warmup K --json``; runs are interleaved
(for every repeat, each implementation in turn, the order rotated from repeat to repeat) so
that drift in the machine's speed hits every implementation alike. The reported time is the
median over repeats of each run's median ms/step; the spread is the min..max of those medians.

    python bench/run.py                      # everything, 5 repeats
    python bench/run.py --quick              # 1 repeat, few steps: a smoke test
    python bench/run.py --workloads mlp --impls nnctl,torch --repeats 7
    python bench/run.py --write-results      # also append a dated section to bench/results.md
    python bench/run.py --impls nnctl,torch,numpy,tf1,jax \
        --python-tf1 /work/venvs/tf/bin/python --python-jax /work/venvs/jax/bin/python

Children run without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (removed from their environment).
An implementation that cannot be imported is reported as "unavailable: <reason>"; one that
crashes as "failed: <reason>"; the others still run. Implementations: nnctl, torch, numpy, and
(not run by default) tf1 (bench/nnctl_bench.py on real TensorFlow, NNCTL_BENCH_BACKEND=tf) and
jax (bench/jax_bench.py). Each runs under this interpreter unless --python-<impl> or
NNCTL_BENCH_PYTHON_<IMPL> names another (TensorFlow and JAX usually live in their own venvs;
those only need numpy besides the framework).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from workloads import DEFAULT_STEPS, QUICK_STEPS, WORKLOADS  # noqa: E402

IMPLS = ("nnctl", "torch", "numpy", "tf1", "jax")
DEFAULT_IMPLS = ("nnctl", "torch", "numpy")
SCRIPTS = {
    "nnctl": "nnctl_bench.py",
    "torch": "torch_bench.py",
    "numpy": "numpy_bench.py",
    "tf1": "nnctl_bench.py",
    "jax": "jax_bench.py",
}
# The interpreter of each implementation: --python-<impl>, else $NNCTL_BENCH_PYTHON_<IMPL>, else
# this one. Filled in by main() (and bench/scaling.py) through set_interpreters().
_PYTHONS: dict[str, str] = {}


def interpreter_env_var(impl: str) -> str:
    return f"NNCTL_BENCH_PYTHON_{impl.upper()}"


def set_interpreters(args: argparse.Namespace) -> None:
    for impl in IMPLS:
        given = getattr(args, f"python_{impl}", None)
        if given:
            _PYTHONS[impl] = given


def interpreter(impl: str) -> str | None:
    """The Python that runs ``impl``'s children, or None where the named one does not exist."""
    py = _PYTHONS.get(impl) or os.environ.get(interpreter_env_var(impl), "").strip() or sys.executable
    found = shutil.which(py)
    return found if found else None


def interpreter_desc(impl: str) -> str:
    return _PYTHONS.get(impl) or os.environ.get(interpreter_env_var(impl), "").strip() or sys.executable


def add_interpreter_args(p: argparse.ArgumentParser) -> None:
    for impl in IMPLS:
        p.add_argument(
            f"--python-{impl}", default=None, metavar="PYTHON",
            help=f"interpreter for {impl} (default ${interpreter_env_var(impl)}, else this one)",
        )  # fmt: skip
DROP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
LOSS_RTOL = 0.02
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NNCTL_NUM_THREADS")


# ------------------------------------------------------------------------------ environment
def child_env(impl: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
    # The working tree's nnctl is importable even when the package is not installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if impl == "tf1":
        env["NNCTL_BENCH_BACKEND"] = "tf"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # TF >= 2.16 ships Keras 3, which has no tf.compat.v1.layers / nn.rnn_cell; with the
        # tf_keras package installed this selects the Keras 2 they are built on.
        env.setdefault("TF_USE_LEGACY_KERAS", "1")
    else:
        env.pop("NNCTL_BENCH_BACKEND", None)
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001
        return "not installed"


def _blas_info() -> str:
    try:
        import numpy as np
    except ImportError:
        return "numpy not installed"
    parts = []
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        parts.append(f"{blas.get('name')} {blas.get('version', '')}".strip())
        if blas.get("openblas configuration"):
            parts.append(str(blas["openblas configuration"]))
    except Exception:  # noqa: BLE001 - older numpy
        parts.append("see numpy.show_config()")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            parts.append(
                f"{pool.get('internal_api')} {pool.get('version')} threads={pool.get('num_threads')}"
                f" arch={pool.get('architecture')}"
            )
    except Exception:  # noqa: BLE001 - threadpoolctl is optional
        pass
    return "; ".join(parts)


def _git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return (rev or "?") + (" (dirty tree)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "?"


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "?"
    cores = os.cpu_count() or 1
    warn = " (WARNING: the machine is busy; timings will be noisy)" if one > 0.25 * cores else ""
    return f"{one:.2f} (1 min), {five:.2f} (5 min){warn}"


def machine_info() -> dict[str, str]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    import numpy as np

    info = {
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {affinity} usable",
        "memory": _mem_total_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_version()} ({sys.executable})",
        "numpy": np.__version__,
        "blas": _blas_info(),
        "torch": _dist_version("torch"),
        "nnctl": f"{_dist_version('nnctl')} @ git {_git_rev()}",
        "load average": _load(),
        "thread env": ", ".join(f"{k}={os.environ[k]}" for k in THREAD_VARS if k in os.environ) or "none set",
        "dropped env": ", ".join(DROP_ENV),
    }
    return info


# ------------------------------------------------------------------------------------ runs
def run_child(
    impl: str, workload: str, warmup: int, steps: int, timeout: float, extra: list[str] | None = None
) -> dict:
    py = interpreter(impl)
    if py is None:
        return {"status": "unavailable", "reason": f"no interpreter {interpreter_desc(impl)!r}"}
    cmd = [
        py, str(BENCH / SCRIPTS[impl]), "--workload", workload,
        "--steps", str(steps), "--warmup", str(warmup), "--json", *(extra or []),
    ]  # fmt: skip
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=child_env(impl), cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"timed out after {timeout:.0f} s"}
    res: dict = {}
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                res = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if res.get("unavailable"):
        return {"status": "unavailable", "reason": res["unavailable"], **res}
    if p.returncode != 0 or "median_ms" not in res:
        tail = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        reason = res.get("error") or (tail[-1] if tail else f"exit code {p.returncode}")
        return {"status": "failed", "reason": reason, "stderr_tail": tail[-15:], **res}
    return {"status": "ok", **res}


def aggregate(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        bad = runs[0] if runs else {"status": "failed", "reason": "not run"}
        return {"status": bad["status"], "reason": bad.get("reason", "")}
    meds = [r["median_ms"] for r in ok]
    losses = [r["final_loss"] for r in ok]
    med = statistics.median(meds)
    spread_l = max(losses) - min(losses)
    return {
        "status": "ok",
        "runs": len(ok),
        "median_ms": med,
        "min_med_ms": min(meds),
        "max_med_ms": max(meds),
        "steps_per_s": 1000.0 / med if med > 0 else float("inf"),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
        "final_loss": losses[0],
        "loss_deterministic": spread_l <= 1e-6 * max(1.0, abs(losses[0])),
        "final_step": ok[0]["final_step"],
        "build_s": statistics.median(r.get("build_s", float("nan")) for r in ok),
        "info": ok[0].get("info", {}),
        "fingerprint": ok[0].get("fingerprint"),
    }


# ------------------------------------------------------------------------------- reporting
def _fmt_ms(ms: float) -> str:
    return f"{ms:.4f}" if ms < 0.1 else f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def _ok(agg: dict, w: str, impls: list[str]) -> dict[str, dict]:
    return {i: agg[(w, i)] for i in impls if (w, i) in agg and agg[(w, i)]["status"] == "ok"}


def fastest_peer(agg: dict, w: str, impl: str, impls: list[str]) -> str | None:
    """The fastest other implementation that ran workload w (None where none did)."""
    peers = {i: a for i, a in _ok(agg, w, impls).items() if i != impl}
    return min(peers, key=lambda i: peers[i]["median_ms"]) if peers else None


def loss_reference(agg: dict, w: str, impl: str, impls: list[str]) -> str | None:
    """Whose final loss ``impl``'s must be within LOSS_RTOL of: torch's where torch ran (and impl
    is not torch), else the fastest peer's."""
    if impl != "torch" and "torch" in _ok(agg, w, impls):
        return "torch"
    return fastest_peer(agg, w, impl, impls)


def results_table(agg: dict, workloads: list[str], impls: list[str]) -> list[str]:
    head = (
        "| workload | impl | median ms/step | spread (min..max) | steps/s | peak RSS MB | final loss"
        " | x fastest |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for w in workloads:
        ok = _ok(agg, w, impls)
        best = min((a["median_ms"] for a in ok.values()), default=float("nan"))
        for i in impls:
            a = agg.get((w, i))
            if a is None:
                continue
            if a["status"] != "ok":
                lines.append(f"| {w} | {i} | {a['status']}: {a['reason']} | | | | | |")
                continue
            loss = f"{a['final_loss']:.6g}" + ("" if a["loss_deterministic"] else " (varies)")
            spread = f"{_fmt_ms(a['min_med_ms'])}..{_fmt_ms(a['max_med_ms'])}"
            lines.append(
                f"| {w} | {i} | {_fmt_ms(a['median_ms'])} | {spread}"
                f" | {a['steps_per_s']:.1f} | {a['peak_rss_mb']:.0f} | {loss} | {a['median_ms'] / best:.2f}x |"
            )
    return lines


def ratio_table(agg: dict, workloads: list[str], impls: list[str]) -> list[str]:
    """Every implementation against its fastest peer (time and peak RSS), and its final loss
    against the loss reference (torch, else the fastest peer): 'within 2%' is relative to that."""
    lines = [
        "| workload | impl | fastest peer | time ratio | RSS ratio | loss ref | final loss rel. diff"
        " | loss within 2%? |",
        "|---|---|---|---:|---:|---|---:|---|",
    ]
    for w in workloads:
        ok = _ok(agg, w, impls)
        for i in impls:
            if (w, i) not in agg:
                continue
            a = agg[(w, i)]
            if i not in ok:
                lines.append(f"| {w} | {i} | n/a ({a['status']}) | | | | | |")
                continue
            peer, ref = fastest_peer(agg, w, i, impls), loss_reference(agg, w, i, impls)
            if peer is None:
                lines.append(f"| {w} | {i} | n/a (no peer ran) | | | | | |")
                continue
            b, r = ok[peer], ok[ref]
            t = a["median_ms"] / b["median_ms"]
            m = a["peak_rss_mb"] / b["peak_rss_mb"]
            rel = (a["final_loss"] - r["final_loss"]) / abs(r["final_loss"]) if r["final_loss"] else float("nan")
            agree = "yes" if abs(rel) <= LOSS_RTOL else "NO"
            lines.append(f"| {w} | {i} | {peer} | {t:.2f}x | {m:.2f}x | {ref} | {rel:+.3%} | {agree} |")
    return lines


def loss_disagreements(agg: dict, workloads: list[str], impls: list[str]) -> list[str]:
    """'workload impl' for every implementation whose final loss is not within LOSS_RTOL of its reference."""
    bad = []
    for w in workloads:
        ok = _ok(agg, w, impls)
        for i in ok:
            ref = loss_reference(agg, w, i, impls)
            if ref is None:
                continue
            r = ok[ref]["final_loss"]
            if not r or abs(ok[i]["final_loss"] - r) > LOSS_RTOL * abs(r):
                bad.append(f"{w} {i} (vs {ref})")
    return bad


def print_lines(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


PLACEHOLDER = "\nnot yet measured\n"


def append_results(text: str, path: Path = BENCH / "results.md") -> None:
    """Append a section to bench/results.md (dropping the 'not yet measured' placeholder)."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if PLACEHOLDER in old:
        old = old.replace(PLACEHOLDER, "\n", 1)
    path.write_text(old.rstrip("\n") + "\n" + text.rstrip("\n") + "\n")
    print(f"\nappended to {path}")


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def write_results(argv: list[str], info: dict, table: list[str], ratios: list[str]) -> None:
    out = [f"\n## {utc_now()}: `python bench/run.py {' '.join(argv)}`\n"]
    out += [f"- {k}: {v}" for k, v in info.items()]
    out += ["", *table, "", *ratios]
    append_results("\n".join(out))


# ------------------------------------------------------------------------------------ main
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma separated: " + ",".join(WORKLOADS))
    p.add_argument("--impls", default=",".join(DEFAULT_IMPLS), help="comma separated: " + ",".join(IMPLS))
    p.add_argument("--repeats", type=int, default=None, help="runs per (workload, impl); default 5, quick 1")
    p.add_argument("--steps", type=int, default=None, help="timed steps for every workload")
    p.add_argument("--warmup", type=int, default=None, help="warmup steps for every workload")
    p.add_argument("--quick", action="store_true", help="1 repeat and few steps: a smoke test")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per child run")
    p.add_argument("--json-out", type=Path, default=None, help="also write all raw results to this file")
    p.add_argument("--write-results", action="store_true", help="append a dated section to bench/results.md")
    add_interpreter_args(p)
    args = p.parse_args(argv)
    for name, known in (("workloads", WORKLOADS), ("impls", IMPLS)):
        for item in (x.strip() for x in getattr(args, name).split(",")):
            if item and item not in known:
                p.error(f"unknown {name[:-1]} {item!r}; choose from {', '.join(known)}")  # exit code 2
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    set_interpreters(args)
    repeats = args.repeats or (1 if args.quick else 5)
    step_table = QUICK_STEPS if args.quick else DEFAULT_STEPS

    info = machine_info()
    for impl in impls:
        if interpreter_desc(impl) != sys.executable:
            info[f"{impl} python"] = interpreter_desc(impl)
    print("# machine")
    for k, v in info.items():
        print(f"  {k:>12}: {v}")
    print(flush=True)

    raw: dict[tuple[str, str], list[dict]] = {}
    for w in workloads:
        # Per workload: nnctl may have the ops of one workload and not yet those of another.
        unavailable: dict[str, dict] = {}
        warmup = args.warmup if args.warmup is not None else step_table[w][0]
        steps = args.steps if args.steps is not None else step_table[w][1]
        print(f"# {w}: {warmup} warmup + {steps} timed steps, {repeats} repeat(s)", flush=True)
        failed: set[str] = set()
        for r in range(repeats):
            order = impls[r % len(impls) :] + impls[: r % len(impls)]
            for impl in order:
                if impl in unavailable or impl in failed:
                    continue
                res = run_child(impl, w, warmup, steps, args.timeout)
                raw.setdefault((w, impl), []).append(res)
                if res["status"] == "ok":
                    msg = f"{_fmt_ms(res['median_ms'])} ms/step, loss {res['final_loss']:.6g}"
                    msg += f", {res['peak_rss_mb']:.0f} MB"
                else:
                    msg = f"{res['status']}: {res['reason']}"
                    if res["status"] == "unavailable":
                        unavailable[impl] = res
                    else:
                        failed.add(impl)
                        for ln in res.get("stderr_tail", [])[-6:]:
                            msg += f"\n      {ln}"
                print(f"  [{w} {r + 1}/{repeats}] {impl:>6}: {msg}", flush=True)

    agg = {key: aggregate(runs) for key, runs in raw.items()}
    info["load average (end)"] = _load()
    print(f"  load average at the end: {info['load average (end)']}")
    for impl in impls:  # what each implementation reported about itself (versions, threads)
        infos = [a["info"] for (w, i), a in agg.items() if i == impl and a["status"] == "ok"]
        if infos:
            info[f"{impl} run"] = ", ".join(f"{k}={v}" for k, v in infos[0].items())
            print(f"  {impl} run: {info[f'{impl} run']}")
    table = results_table(agg, workloads, impls)
    ratios = ratio_table(agg, workloads, impls)
    print("\n# results (time: median over repeats of each run's median ms/step; loss: mean over the last")
    print("# pass through the batches at the same step for every implementation)\n")
    print_lines(table)
    print("\n# ratios to the fastest peer (< 1.00x: this implementation is faster / smaller)\n")
    print_lines(ratios)
    bad = loss_disagreements(agg, workloads, impls)
    if bad:
        print(f"\nfinal losses differ by more than {LOSS_RTOL:.0%}: {', '.join(bad)}", file=sys.stderr)

    if args.json_out:
        payload = {
            "machine": info,
            "argv": argv,
            "runs": [{"workload": w, "impl": i, "runs": rs} for (w, i), rs in raw.items()],
            "aggregate": [{"workload": w, "impl": i, **a} for (w, i), a in agg.items()],
        }
        args.json_out.write_text(json.dumps(payload, indent=1))
    if args.write_results:
        write_results(argv, info, table, ratios)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
