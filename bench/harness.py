"""The timing loop shared by every ``bench/<impl>_bench.py`` script.

An implementation module supplies ``build(wl) -> (step, info, close)``:
  step(i) runs training step i on batch ``i % len(wl["batches"])`` (forward, backward, update)
  and returns the loss of that step as a Python float; info is a dict of versions/threads;
  close() releases resources (may be None).

Each step is timed with ``time.perf_counter`` around the whole call, float(loss) included.
The first ``--warmup`` steps are run but not counted in the time statistics. ``final_loss`` is the
mean loss over the last pass through the batches (the last ``len(batches)`` steps of the
warmup + steps run; for xor, the last step), ``last_loss`` the loss of the very last step.

Exit codes: 0 ok, 3 the framework is unavailable (import failed), 4 the run failed.
With ``--json`` the result is printed as one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Callable

from workloads import DEFAULT_STEPS, WORKLOADS, fingerprint, make_workload

EXIT_UNAVAILABLE = 3
EXIT_FAILED = 4


class Unavailable(Exception):
    """Raised by an implementation whose framework cannot be imported here."""


def _rss_mb(field: str) -> float | None:
    """VmRSS / VmHWM of this process from /proc, in MB (None where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process (ru_maxrss is KB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=WORKLOADS, default="mlp")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: per workload)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: per workload)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=None, help="not xor (default: workloads.DEFAULT_BATCH)")
    p.add_argument(
        "--hidden",
        default=None,
        help="hidden widths, comma separated (mlp: 256,128; resnet: 16,32,64; lstm, transformer: 128)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--losses", action="store_true", help="include every step's loss in the JSON")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop the timed steps after this many seconds (at least 5 timed steps; bench/scaling.py)",
    )
    return p.parse_args(argv)


def run(impl: str, build: Callable[[dict], tuple], argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warmup, steps = DEFAULT_STEPS[args.workload]
    warmup = warmup if args.warmup is None else args.warmup
    steps = steps if args.steps is None else args.steps
    hidden = tuple(int(h) for h in args.hidden.split(",")) if args.hidden else None
    result: dict = {
        "impl": impl,
        "workload": args.workload,
        "warmup": warmup,
        "steps": steps,
        "python": platform.python_version(),
        "pid": os.getpid(),
    }

    def emit(code: int) -> int:
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        if args.json:
            print(json.dumps(result))
        else:
            for k, v in result.items():
                if k not in ("times_ms", "losses"):
                    print(f"{k:>18}: {v}")
        return code

    wl = make_workload(args.workload, seed=args.seed, batch_size=args.batch_size, hidden=hidden)
    result.update(batch_size=wl["batch_size"], hidden=list(wl["hidden"]), fingerprint=fingerprint(wl))
    result["rss_before_build_mb"] = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    try:
        step, info, close = build(wl)
    except Unavailable as e:
        result["unavailable"] = str(e)
        return emit(EXIT_UNAVAILABLE)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        traceback.print_exc()
        result["error"] = f"build failed: {type(e).__name__}: {e}"
        return emit(EXIT_FAILED)
    result["build_s"] = round(time.perf_counter() - t0, 4)
    result["info"] = info
    result["rss_after_build_mb"] = _rss_mb("VmRSS")

    losses: list[float] = []
    times: list[float] = []
    perf = time.perf_counter
    budget_ms = None if args.time_budget is None else args.time_budget * 1000.0
    timed_ms = 0.0
    try:
        for i in range(warmup + steps):
            t = perf()
            loss = step(i)
            dt_ms = (perf() - t) * 1000.0
            times.append(dt_ms)
            losses.append(loss)
            if budget_ms is not None and i >= warmup:
                timed_ms += dt_ms
                if timed_ms > budget_ms and i - warmup + 1 >= 5:
                    break
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        result["error"] = f"step {len(times)} failed: {type(e).__name__}: {e}"
        return emit(EXIT_FAILED)
    finally:
        if close is not None:
            close()
        gc.collect()

    timed = times[warmup:] or times
    med = statistics.median(timed)
    result.update(
        median_ms=med,
        mean_ms=statistics.fmean(timed),
        min_ms=min(timed),
        p10_ms=percentile(timed, 0.10),
        p90_ms=percentile(timed, 0.90),
        steps_per_s=1000.0 / med if med > 0 else float("inf"),
        first_loss=losses[0],
        last_loss=losses[-1],
        final_loss=statistics.fmean(losses[-len(wl["batches"]) :]),
        final_step=len(losses),
        timed_steps=len(times) - warmup,
        finite=all(map(_finite, losses)),
        times_ms=[round(t, 5) for t in timed],
    )
    if args.losses:
        result["losses"] = losses
    return emit(0)


def _finite(x: float) -> bool:
    return x == x and x not in (float("inf"), float("-inf"))


def main(impl: str, build: Callable[[dict], tuple]) -> None:
    sys.exit(run(impl, build))


if __name__ == "__main__":
    sys.exit(f"{__file__} is a library; run bench/<impl>_bench.py or bench/run.py")
