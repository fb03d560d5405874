"""CSV loading: nnctl.data.load_csv against pandas.read_csv on a 200k x 31 numeric CSV.

Generates the file (30 float features + an integer label, about 60 MB) in a temporary folder, then
loads it in fresh processes, alternating nnctl and pandas, ``--repeat`` times each. Each child
imports its library, warms it up on a two-line file, resets the kernel's peak-RSS counter
(/proc/self/clear_refs) and loads the file into the same arrays (x float32 [n, 30], y int64 [n]).
Reported: the best wall time of each, the time ratio nnctl / pandas, and each one's peak memory
above its start as a multiple of the result arrays' size.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/load_csv.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS, FEATURES = 200_000, 30

CHILD = r"""
import json, sys, time
lib, path, tiny = sys.argv[1], sys.argv[2], sys.argv[3]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
if lib == "nnctl":
    from nnctl.data import load_csv
    def load(p):
        x, y, _ = load_csv(p, labels=["label"])
        return x, y
else:
    import numpy as np, pandas as pd
    def load(p):
        df = pd.read_csv(p)
        y = df.pop("label").to_numpy(np.int64)
        return df.to_numpy(np.float32), y
load(tiny)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM (peak RSS) to the current RSS
base = status("VmRSS:")
t = time.perf_counter()
x, y = load(path)
dt = time.perf_counter() - t
peak = status("VmHWM:")
print(json.dumps({"time": dt, "extra": peak - base, "result": x.nbytes + y.nbytes, "shape": list(x.shape)}))
"""


def make_file(path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((ROWS, FEATURES)) * 10
    y = rng.integers(0, 5, ROWS)
    header = ",".join([f"f{i}" for i in range(FEATURES)] + ["label"])
    data = np.column_stack([x, y])
    np.savetxt(path, data, delimiter=",", header=header, comments="",
               fmt=["%.6f"] * FEATURES + ["%d"])


def run_child(lib: str, path: Path, tiny: Path) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", CHILD, lib, str(path), str(tiny)], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path, tiny = Path(d) / "big.csv", Path(d) / "tiny.csv"
        t = time.perf_counter()
        make_file(path)
        tiny.write_text("f0,label\n1.5,0\n")
        print(f"generated {path.name}: {ROWS} rows x {FEATURES + 1} columns, {path.stat().st_size / 1e6:.1f} MB "
              f"in {time.perf_counter() - t:.1f} s")
        runs: dict[str, list[dict]] = {"nnctl": [], "pandas": []}
        for _ in range(args.repeat):
            for lib in runs:
                runs[lib].append(run_child(lib, path, tiny))
    best = {lib: min(r["time"] for r in rs) for lib, rs in runs.items()}
    mem = {lib: min(r["extra"] for r in rs) / rs[0]["result"] for lib, rs in runs.items()}
    result_mb = runs["nnctl"][0]["result"] / 2**20
    for lib in runs:
        print(f"{lib:7s} best {best[lib]:.3f} s   peak memory above start {mem[lib]:.2f}x the result "
              f"({result_mb:.1f} MiB)")
    print(f"ratio nnctl/pandas: time {best['nnctl'] / best['pandas']:.2f}x (target <= 1.5x), "
          f"nnctl memory {mem['nnctl']:.2f}x the arrays (target <= 2x)")


if __name__ == "__main__":
    main()
