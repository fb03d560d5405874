"""What ``nnctl train configs/xor.yaml --run-dir DIR`` does, written in plain PyTorch (for bench/startup.py).

The same job, end to end, so that process start to exit can be compared fairly:
  read datasets/xor.csv (header x1,x2,y; 4 rows), the 2-3-1 sigmoid net with weights and biases
  uniform(0.1, 0.9) (seed 0), sum-of-squares loss, full-batch gradient descent lr 1.0, 500 steps;
  a log line and a metrics record (metrics.jsonl and metrics.csv) every 50 steps; an evaluation
  (loss, accuracy, mse on the training set) every 100 steps; a checkpoint every 100 steps
  (model + optimizer state + step, written to a temporary file, fsynced and renamed, with a
  SHA-256 manifest), the newest 3 kept; summary.json at the end.
What nnctl does on top (so nnctl does more, not less): a TensorBoard event file (scalars, weight
and gradient histograms, the graph), the model summary table, config.yaml and data.npz in the
run directory, a run-directory lock. ``bench/startup.py`` also times nnctl with
``--set train.tensorboard=false``.

The initial weights come from torch's generator, so the losses are not nnctl's digit for digit;
both reach accuracy 1.0.

    python bench/torch_xor_train.py --run-dir /tmp/torch-xor [--steps 500] [--csv datasets/xor.csv]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def atomic_write(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a fsynced temporary file and a rename; return its SHA-256."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def save_checkpoint(ckdir: Path, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, keep: int) -> None:
    d = ckdir / f"ckpt-{step:08d}"
    tmpdir = ckdir / f".tmp-{step:08d}"
    shutil.rmtree(tmpdir, ignore_errors=True)
    tmpdir.mkdir(parents=True)
    import io

    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, buf)
    digest = atomic_write(tmpdir / "state.pt", buf.getvalue())
    manifest = {"step": step, "files": {"state.pt": digest}}
    atomic_write(tmpdir / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    os.replace(tmpdir, d)
    for old in sorted(ckdir.glob("ckpt-*"))[:-keep]:
        shutil.rmtree(old)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True)
    p.add_argument("--csv", default=str(ROOT / "datasets" / "xor.csv"))
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--keep-last", type=int, default=3)
    args = p.parse_args(argv)

    run = Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    x = torch.tensor([[float(r["x1"]), float(r["x2"])] for r in rows], dtype=torch.float32)
    y = torch.tensor([[float(r["y"])] for r in rows], dtype=torch.float32)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        for prm in model.parameters():
            prm.uniform_(0.1, 0.9)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    print(f"model: 2 -> 3 sigmoid -> 1 sigmoid, {sum(q.numel() for q in model.parameters())} params")

    fields = ["step", "epoch", "split", "kind", "loss", "lr", "time", "accuracy", "mse", "examples"]
    jsonl = open(run / "metrics.jsonl", "w")
    csvf = open(run / "metrics.csv", "w", newline="")
    cw = csv.DictWriter(csvf, fieldnames=fields)
    cw.writeheader()

    def record(rec: dict) -> None:
        jsonl.write(json.dumps(rec) + "\n")
        cw.writerow(rec)
        jsonl.flush()
        csvf.flush()

    t0 = time.perf_counter()
    last_t, last_step, final = t0, 0, {}
    for step in range(1, args.steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = ((model(x) - y) ** 2).sum()
        loss.backward()
        opt.step()
        now = time.perf_counter()
        rate = (step - last_step) / max(now - last_t, 1e-9)
        if step % args.log_every == 0:
            lv = loss.item()
            record({"step": step, "epoch": step, "split": "train", "kind": "batch", "loss": lv, "lr": 1.0,
                    "time": round(now - t0, 4)})
            print(f"step {step}/{args.steps}  epoch {step}  train  loss {lv:.4g}  lr 1  ({rate:.0f} steps/s)")
        if step % args.eval_every == 0 or step == args.steps:
            with torch.no_grad():
                out = model(x)
                sq = (out - y) ** 2
                ev = {"step": step, "epoch": step, "split": "train", "kind": "eval", "loss": float(sq.sum()),
                      "accuracy": float(((out > 0.5).float() == y).float().mean()), "mse": float(sq.mean()),
                      "time": round(now - t0, 4), "examples": len(rows)}
            record(ev)
            final = ev
            print(f"step {step}/{args.steps}  epoch {step}  train eval  loss {ev['loss']:.4g}  "
                  f"accuracy {ev['accuracy']:.4g}  mse {ev['mse']:.4g}")
        if step % args.checkpoint_every == 0 or step == args.steps:
            save_checkpoint(run / "checkpoints", step, model, opt, args.keep_last)
        if step % args.log_every == 0:
            last_t, last_step = time.perf_counter(), step
    jsonl.close()
    csvf.close()
    wall = time.perf_counter() - t0
    summary = {"status": "completed", "steps": args.steps, "final": {"train": final}, "wall_time": round(wall, 4)}
    atomic_write(run / "summary.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    print(f"completed: {args.steps} steps in {wall:.2f}s; train: loss {final['loss']:.4g}, "
          f"accuracy {final['accuracy']:.4g}, mse {final['mse']:.4g}")
    print(f"run dir: {run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
