"""Everything a GPU machine should check, in one run: ``python bench/gpu.py [--out FILE]``.

1. The device test suite: tests/test_strict_device.py (the strict stand-in) and
   tests/test_cupy_kernels.py (the fused kernels compiled with nvcc, run on the host), then the
   CuPy parity checks below, which need a real GPU.
2. The fused kernels on the GPU (``kernels``): every ``kernel_overrides`` entry of the CuPy backend
   (nnctl/backends/cupy_kernels.py) against the numpy kernel of its op on the same random data,
   three steps of each optimizer update, the sparse softmax cross-entropy with out-of-range
   labels and the dense one; float32 tolerance (the updates are expected bit-exact: ``--fmad=false``).
3. Parity on the GPU: every example config trains a few steps on numpy and on CuPy; the logged
   losses and metrics must agree to float32 tolerance, and a run interrupted and resumed on the
   GPU must end bit-identical to an uninterrupted one; digits-mlp with ``data.device: true`` must
   end bit-identical to the same run with the split fed from the host.
4. Speed: the mlp and cnn workloads of bench/run.py through nnctl's TF1 API on CuPy and in PyTorch
   on CUDA, at several batch sizes, as ms/step and the ratio nnctl / PyTorch (the issue's bar is a
   throughput of at least 0.7x PyTorch's at large batch: a ratio of at most 1.43).

Results go to a JSON file (default bench/results-gpu.json) and a Markdown table on stdout, to be
pasted into bench/results.md. ``--parts tests,kernels,parity,speed`` picks the steps (device time
is scarce: ``--parts kernels`` takes seconds). ``--dry-run`` runs the same plumbing on the CPU
(numpy, PyTorch CPU; the fused kernels' bodies compiled for the host) with few steps, so the script
itself is tested where no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCHES = {"mlp": [128, 1024, 8192], "cnn": [64, 256, 1024]}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


TEST_FILES = ("tests/test_strict_device.py", "tests/test_cupy_kernels.py")


def run_tests() -> dict:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *(str(ROOT / f) for f in TEST_FILES)], env=_env(), capture_output=True, text=True)
    return {"suite": " ".join(TEST_FILES), "exit": r.returncode, "tail": r.stdout.strip().splitlines()[-1:]}


def kernel_parity(dry_run: bool) -> list[dict]:
    """Each fused kernel of the CuPy backend against the numpy kernel of its op (see the module doc)."""
    import types

    import numpy as np
    sys.path.insert(0, str(ROOT / "tests"))
    from test_cupy_kernels import _state, _update_ops

    import nnctl as tf
    from nnctl.backends import cupy_kernels as ck
    from nnctl.graph import registry
    from nnctl.ops import nn_ops
    if dry_run:
        from host_elementwise import host_xp
        xp, up, down = host_xp(), np.array, np.asarray
    else:
        import cupy as xp
        up, down = xp.asarray, xp.asnumpy
    rows = []
    for op in _update_ops().values():
        u = ck.update_for(op)
        rng = np.random.default_rng(0)
        ref = _state(u.inputs, np.dtype(np.float32), rng)
        dev = {k: up(v) for k, v in ref.items()}
        np_run = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np))
        fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=xp))
        worst, exact = 0.0, True
        for _ in range(3):
            grad = rng.standard_normal(ref["var"].shape).astype(np.float32)
            ref["grad"], dev["grad"] = grad, up(grad)
            np_run(*[ref[n] for n in u.inputs])
            fused(*[dev[n] for n in u.inputs])
            for n in u.mutated:
                got = down(dev[n])
                exact &= bool(np.array_equal(got, ref[n]))
                worst = max(worst, float(np.max(np.abs(got - ref[n]) / np.maximum(np.abs(ref[n]), 1e-6))))
        rows.append({"kernel": u.kernel.name, "max_rel_diff": worst, "float32_ok": worst < 1e-5, "bit_exact": exact})
    g = tf.Graph()
    with g.as_default():
        loss = nn_ops.sparse_softmax_cross_entropy_with_logits(
            labels=tf.placeholder(tf.int64, (None,)), logits=tf.placeholder(tf.float32, (None, 10)))
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4096, 10)) * 4).astype(np.float32)
    lab = rng.integers(0, 10, 4096)
    lab[::97] = 10   # out of range: NaN rows, as the generic device kernel makes them
    device = types.SimpleNamespace(host_memory=False)
    ref_l, ref_b = registry.op_def(loss.op.type).kernel(loss.op, types.SimpleNamespace(xp=np, backend=device))(x, lab)
    got = ck.overrides()[loss.op.type](loss.op, types.SimpleNamespace(xp=xp, backend=device))(up(x), up(lab))
    got_l, got_b = (down(a) for a in got)
    nan_same = bool(np.array_equal(np.isnan(got_l), np.isnan(ref_l)) and np.array_equal(np.isnan(got_b),
                                                                                          np.isnan(ref_b)))
    fin_l, fin_b = ~np.isnan(ref_l), ~np.isnan(ref_b)
    worst = max(float(np.max(np.abs(got_l - ref_l)[fin_l] / np.maximum(np.abs(ref_l[fin_l]), 1.0))),
                float(np.max(np.abs(got_b - ref_b)[fin_b])))   # backprop entries are probabilities: absolute
    rows.append({"kernel": "sparse_softmax_cross_entropy", "max_rel_diff": worst,
                 "float32_ok": worst < 1e-5 and nan_same,
                 "bit_exact": bool(np.array_equal(got_l, ref_l, equal_nan=True))})
    g = tf.Graph()
    with g.as_default():
        loss = nn_ops.softmax_cross_entropy_with_logits_v2(
            labels=tf.placeholder(tf.float32, (None, 10)), logits=tf.placeholder(tf.float32, (None, 10)))
    z = rng.random((4096, 10)).astype(np.float32)
    z /= z.sum(axis=1, keepdims=True)
    ref_l, ref_b = registry.op_def(loss.op.type).kernel(loss.op, types.SimpleNamespace(xp=np))(x, z)
    fused = ck.overrides()[loss.op.type](loss.op, types.SimpleNamespace(xp=xp))
    got_l, got_b = (down(a) for a in fused(up(x), up(z)))
    worst = max(float(np.max(np.abs(got_l - ref_l) / np.maximum(np.abs(ref_l), 1.0))),
                float(np.max(np.abs(got_b - ref_b))))
    rows.append({"kernel": "softmax_cross_entropy", "max_rel_diff": worst, "float32_ok": worst < 1e-5,
                 "bit_exact": bool(np.array_equal(got_l, ref_l))})
    from nnctl.ops import lstm_ops
    g = tf.Graph()
    with g.as_default():
        op = lstm_ops.lstm_gates(tf.placeholder(tf.float32, (None, 512)), tf.placeholder(tf.float32, (None, 128)),
                                 1.0)[0].op
    gates = (rng.standard_normal((64, 512)) * 3).astype(np.float32)
    c_prev = rng.standard_normal((64, 128)).astype(np.float32)
    ref = registry.op_def(op.type).kernel(op, types.SimpleNamespace(xp=np, backend=device))(gates, c_prev)
    fused = ck.overrides()[op.type](op, types.SimpleNamespace(xp=xp, backend=device))
    got = [down(a) for a in fused(up(gates), up(c_prev))]
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(got, ref))   # values within [-1, 1] or c's size
    rows.append({"kernel": "lstm_gates", "max_rel_diff": worst, "float32_ok": worst < 1e-5,
                 "bit_exact": all(bool(np.array_equal(a, b)) for a, b in zip(got, ref))})
    return rows


def parity(device: str) -> list[dict]:
    """Train every example config a few steps on numpy and on ``device``; compare the metric logs."""
    import numpy as np

    from nnctl.train import checkpoint as ckpt
    from nnctl.train.trainer import train
    out = []
    short = ["train.steps=20", "train.eval_every=10", "train.checkpoint_every=10", "train.log_every=5"]
    sys.path.insert(0, str(ROOT / "tests"))
    from test_examples import _overrides
    with tempfile.TemporaryDirectory() as d:
        for cfg in sorted((ROOT / "configs").glob("*.yaml")):
            short = short[:4] + _overrides(cfg.stem, Path(d))
            recs = {}
            for which, be in (("ref", "numpy"), ("dev", device)):
                run = Path(d) / f"{cfg.stem}-{which}"
                train(cfg, run_dir=run, overrides=short, quiet=True, backend=be)
                recs[which] = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            worst = 0.0
            for a, b in zip(recs["ref"], recs["dev"]):
                for k, v in a.items():
                    if isinstance(v, float) and k not in ("time",) and isinstance(b.get(k), float):
                        worst = max(worst, abs(v - b[k]) / max(abs(v), 1e-6))
            # interrupted (pruned at step 10) and resumed on the device: bit-identical to the full run
            full = Path(d) / f"{cfg.stem}-dev"
            cut = Path(d) / f"{cfg.stem}-cut"
            train(cfg, run_dir=cut, overrides=short, quiet=True, backend=device,
                  on_eval=lambda step, split, scores: step == 10)
            train(cfg, run_dir=cut, overrides=short, quiet=True, backend=device, resume=True)
            a = ckpt.latest_intact(full / "checkpoints", lambda m: None).arrays
            b = ckpt.latest_intact(cut / "checkpoints", lambda m: None).arrays
            exact = all(np.array_equal(a[k], b[k]) for k in a)
            row = {"config": cfg.stem, "max_rel_diff": worst, "float32_ok": worst < 1e-3,
                   "resume_bit_identical": exact}
            if cfg.stem == "digits-mlp":   # the split resident on the device: the same run to the bit
                res = Path(d) / f"{cfg.stem}-resident"
                train(cfg, run_dir=res, overrides=[*short, "data.device=true"], quiet=True, backend=device)
                c = ckpt.latest_intact(res / "checkpoints", lambda m: None).arrays
                row["data_device_bit_identical"] = all(np.array_equal(a[k], c[k]) for k in a)
            out.append(row)
    return out


def speed(device: str, torch_device: str, steps: int, warmup: int) -> list[dict]:
    rows = []
    for wl, sizes in BATCHES.items():
        for bs in sizes:
            res = {}
            envs = {"nnctl": _env(NNCTL_BENCH_DEVICE=device), "torch": _env(TORCH_BENCH_DEVICE=torch_device)}
            for impl, env in envs.items():
                r = subprocess.run([sys.executable, str(ROOT / "bench" / f"{impl}_bench.py"), "--workload", wl,
                                    "--batch-size", str(bs), "--steps", str(steps), "--warmup", str(warmup), "--json"],
                                   env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    res[impl] = {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
                    continue
                res[impl] = json.loads(r.stdout.strip().splitlines()[-1])
            row = {"workload": wl, "batch": bs}
            for impl in ("nnctl", "torch"):
                row[impl] = res[impl].get("median_ms", res[impl].get("error"))
            if all(isinstance(row[i], (int, float)) for i in ("nnctl", "torch")):
                row["ratio"] = row["nnctl"] / row["torch"]
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results-gpu.json"))
    ap.add_argument("--dry-run", action="store_true", help="the same steps on the CPU (numpy, PyTorch CPU)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--parts", default="tests,kernels,parity,speed",
                    help="comma-separated steps to run: tests, kernels, parity, speed (default: all)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    unknown = parts - {"tests", "kernels", "parity", "speed"}
    if unknown:
        ap.error(f"--parts: unknown {', '.join(sorted(unknown))}; choose from tests, kernels, parity, speed")
    device, torch_device = ("numpy", "cpu") if args.dry_run else ("cupy", "cuda")
    if args.dry_run:
        BATCHES.update({"mlp": [128], "cnn": [32]})
    report: dict = {"device": device}
    if "tests" in parts:
        report["tests"] = run_tests()
        print(f"tests: {report['tests']}")
    if "kernels" in parts:
        report["kernels"] = kernel_parity(args.dry_run)
        print("\n| fused kernel | max rel diff vs numpy | float32 ok | bit-exact |\n|---|---|---|---|")
        for k in report["kernels"]:
            print(f"| {k['kernel']} | {k['max_rel_diff']:.2e} | {k['float32_ok']} | {k['bit_exact']} |")
    if "parity" in parts:
        report["parity"] = parity(device)
        print("\n| config | max rel diff vs numpy | float32 ok | resume bit-identical |\n|---|---|---|---|")
        for p in report["parity"]:
            print(f"| {p['config']} | {p['max_rel_diff']:.2e} | {p['float32_ok']} | {p['resume_bit_identical']} |")
        dd = [p["data_device_bit_identical"] for p in report["parity"] if "data_device_bit_identical" in p]
        print(f"data.device: true bit-identical to host feeding: {dd}")
    if "speed" in parts:
        report["speed"] = speed(device, torch_device, 5 if args.dry_run else args.steps, 2 if args.dry_run else 10)
        print(f"\n| workload | batch | nnctl {device} ms/step | PyTorch {torch_device} ms/step | ratio |")
        print("|---|---|---|---|---|")
        for r in report["speed"]:
            ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
            print(f"| {r['workload']} | {r['batch']} | {r['nnctl']} | {r['torch']} | {ratio} |")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
