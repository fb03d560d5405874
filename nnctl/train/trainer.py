"""The training loop: backprop steps, logging, evaluation, early stopping, checkpoints, resume.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` and ``metrics.csv``,
``checkpoints/`` and ``summary.json``. A checkpoint holds everything the loop needs to continue
(weights, optimizer slots, global step, data order and position, random streams, early-stopping
state, how far metrics.jsonl had got), so a resumed run ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import nnctl as tf
from nnctl import interrupts
from nnctl.backends import get_backend
from nnctl.builder import Model
from nnctl.config import config_to_dict, load_config
from nnctl.data import Batcher
from nnctl.data.device_data import device_resident
from nnctl.data.run_data import cfg_has_data_files, load_run_data, save_run_data
from nnctl.data.splits import Split, Splits
from nnctl.distributed.ranks import World, world
from nnctl.errors import FileFormatError, InputError, NonFiniteError, RuntimeFailure
from nnctl.fileio import atomic_write_json, atomic_write_text
from nnctl.train import checkpoint as ckpt
from nnctl.train import resume as resume_rules
from nnctl.train.evaluation import evaluate_model
from nnctl.train.progress import Reporter
from nnctl.train.rundir import (  # noqa: F401  (read_metrics, write_metrics_csv: long-standing imports from here)
    RunDir,
    build_for_config,
    config_diff,
    config_fingerprint,
    default_run_dir,
    json_safe,
    read_metrics,
    write_metrics_csv,
)
from nnctl.train.runlock import RunLock
from nnctl.train.step_meter import StepMeter

_TRAIN_EVAL_MAX = 10000  # examples of the training split scored at each evaluation


class Interrupted(RuntimeFailure):
    """SIGINT/SIGTERM: a checkpoint was saved; the run can be resumed."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    steps: int
    summary: dict[str, Any] = field(default_factory=dict)


class Trainer:
    def __init__(self, cfg: Any, run_dir: Path, *, resume: bool = False, quiet: bool = False,
                 debug_nans: bool = False, stream: Any = None, explicit_run_dir: bool = True,
                 checkpoint_writer: Callable[[Path, bytes], None] | None = None,
                 warn: Callable[[str], None] | None = None, show_summary: Callable[[Model], None] | None = None,
                 on_eval: Callable[[int, str, dict[str, float]], bool] | None = None,
                 replica_check_every: int = 0, progress: str = "auto") -> None:
        self.cfg = cfg
        self.progress = progress
        # data-parallel: every rank runs this loop on its shard of each global batch; rank 0 writes
        self.world: World = world()
        self.replica_check_every = replica_check_every
        self.run = RunDir(run_dir)
        self.resume = resume
        self.quiet = quiet
        self.debug_nans = debug_nans
        self.stream = stream
        self.explicit = explicit_run_dir
        self.checkpoint_writer = checkpoint_writer
        self.warn = warn or (lambda m: None)
        self.show_summary = show_summary
        # called after each evaluation with (step, split, scores); True stops the run as "pruned"
        self.on_eval = on_eval
        self.cfg_dict = config_to_dict(cfg)
        self._stop_signal: int | None = None
        self.changes: list = []       # (key, old, new) applied on --resume
        self.history: list | None = None
        self._stop_agreed = False
        self.lock = RunLock(self.run.path)

    # --- setup -----------------------------------------------------------------------------
    def _setup(self) -> None:
        created = self.world.agree(self._prepare_run_dir)
        try:
            self._setup_model()
            interrupts.raise_if_pending()  # a Ctrl-C while the data loaded, even one a library swallowed
        except BaseException:
            if created and self.world.writer:
                self.lock.release(remove=True)
                self.run.remove_if_empty()
            raise
        if self.resume:
            self._restore()
        elif self.world.writer:
            try:
                atomic_write_text(self.run.config, yaml.safe_dump(self.cfg_dict, sort_keys=False), root=self.run.path)
                atomic_write_text(self.run.metrics, "", root=self.run.path)
                if cfg_has_data_files(self.cfg):
                    save_run_data(self.run.path, self.splits, self.cfg)
            except OSError as e:
                raise RuntimeFailure(f"cannot write to the run directory {self.run.path}: {e.strerror or e}"
                                     + (f" ({e.filename})" if e.filename else "")) from None

    def _prepare_run_dir(self) -> bool:
        """On the writer rank: check the run dir, then take its lock (one writer per run dir, held until
        this process exits, nnctl.train.runlock) and clear stale temporaries. True when it was created."""
        created = self.run.prepare(self.resume, self.explicit)
        try:
            self.lock.acquire(self.warn)
            if not self.resume and not self.run._is_fresh():
                raise InputError(f"run directory {self.run.path} already exists; use --resume to continue it, or "
                                 "choose a new --run-dir")
            self.run.clean_temporaries()
        except BaseException:
            if created:
                self.lock.release(remove=True)
                self.run.remove_if_empty()
            raise
        return created

    def _setup_model(self) -> None:
        cfg = self.cfg
        self.backend = get_backend(cfg.backend)
        self.splits: Splits
        self.model: Model
        # a resumed run trains on its own stored copy of the data (nnctl/data/run_data.py)
        stored = load_run_data(self.run.path, cfg, self.warn) if self.resume else None
        self.splits, self.model = build_for_config(cfg, splits=stored)
        tr = self.splits.train
        self.sess = tf.Session(graph=self.model.graph, backend=self.backend)
        self.sess.check_numerics = self.debug_nans
        with self.model.graph.as_default():
            self.sess.run(tf.global_variables_initializer())
        bs = cfg.train.batch_size
        self.batch_size = len(tr) if bs == "full" else min(int(bs), len(tr))
        if self.batch_size < self.world.size:
            raise cfg.error("train.batch_size", f"a global batch of {self.batch_size} cannot be shared by "
                                                f"{self.world.size} ranks (each needs one example at least)")
        self.batcher = Batcher(len(tr), self.batch_size, shuffle=cfg.data.shuffle, seed=cfg.seed)
        spe = self.batcher.steps_per_epoch
        self.total_steps = cfg.train.steps if cfg.train.steps else cfg.train.epochs * spe
        self.step = 0
        self.elapsed_before = 0.0
        self.best: dict[str, Any] | None = None      # the best checkpoint by train.best_metric
        self.es_best: dict[str, Any] | None = None   # early stopping's best (strict, by min_delta)
        self.wait = 0
        self.loss_acc = [0.0, 0]
        es = cfg.train.early_stopping
        self.es_metric = es.metric if es else None
        self.es_mode = es.mode if es else None
        self.best_metric, self.best_mode = cfg.train.best_metric, cfg.train.best_mode or "min"
        sched = cfg.optimizer.schedule
        # reduce_on_plateau: the current rate and Keras' counters, saved with every checkpoint
        self.plateau: dict[str, Any] | None = ({"lr": float(np.float32(cfg.optimizer.lr)), "best": None, "wait": 0,
                                                "cooldown": 0} if sched.type == "reduce_on_plateau" else None)

    def _restore(self) -> None:
        stored = self.run.read_config_dict()
        skipped: list[str] = []

        def warn(msg: str) -> None:
            skipped.append(msg)
            self.warn(msg)
        c = ckpt.latest_intact(self.run.checkpoints, warn, check=self._check_resumable)
        if c is None:
            n = len(ckpt.list_checkpoints(self.run.checkpoints))
            if n:
                newest = skipped[0].split(" was skipped: ", 1)[-1] if skipped else ""
                raise FileFormatError(f"{self.run.checkpoints}: no intact checkpoint to resume from "
                                      f"({n} found, all damaged)" + (f"; the newest: {newest}" if newest else ""))
            # Stopped before its first checkpoint: starting again from step 0 is exactly what an
            # uninterrupted run did (initial values and random streams come from the seed).
            self.changes = resume_rules.check_changes(self.run.path, stored, self.cfg_dict)
            self.warn(f"{self.run.path} has no checkpoint yet (stopped before the first one): starting again "
                      "from step 0")
            if self.world.writer:
                self.run.truncate_metrics(0)
            self.resumed_from = None
            self._record_changes(0)
            return
        if c.manifest.get("graph_fingerprint") != self.model.fingerprint():
            diff = ckpt.variable_diff(c.state.get("variables", {}), self.model.variable_specs())
            cdiff = config_diff(stored, self.cfg_dict)
            more = f"\n  ... and {len(diff) - 4} more" if len(diff) > 4 else ""
            raise InputError(f"cannot resume {self.run.path}: the config builds a different model than the "
                             f"checkpoint {c.path.name}; a model change needs a new run (nnctl train CONFIG)\n  "
                             + "\n  ".join(cdiff + diff[:4]) + more)
        self.changes = resume_rules.check_changes(self.run.path, stored, self.cfg_dict)
        missing = [v.op.name for v in self.model.graph.get_collection("variables") if v.op.name not in c.arrays]
        if missing:
            raise FileFormatError(f"{c.path}: checkpoint lacks variables: {', '.join(missing)}")
        ckpt.load_into(self.model, self.sess, c.arrays, str(c.path))
        st = c.state
        try:
            self.batcher.load_state_dict(st["batcher"])
            self.sess.context.set_rng_states(_rng_from_json(st["rng"]), self.model.graph)
            t = st["trainer"]
            self.step, self.elapsed_before, self.best, self.wait = t["step"], t["elapsed"], t["best"], t["wait"]
            self.es_best = t.get("es_best", t["best"])
            if self.plateau is not None and isinstance(t.get("plateau"), dict):
                saved = dict(t["plateau"])
                if any(k.startswith("optimizer.lr") for k, _, _ in self.changes):
                    saved["lr"] = float(np.float32(self.cfg.optimizer.lr))  # the user set a new rate
                self.plateau = saved
            self.loss_acc = list(t["loss_acc"])
            metrics_bytes = int(t["metrics_bytes"])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            # the SHA-256 only proves the file is what was written; a hand-edited state still lands here
            raise FileFormatError(f"{c.path / 'state.json'}: malformed trainer state ({type(e).__name__}: {e})"
                                  ) from None
        if self.world.writer:
            self.run.truncate_metrics(metrics_bytes, c.path)
        self.resumed_from = c
        if any(k.startswith("train.best_metric") for k, _, _ in self.changes):
            self.best = None  # a new rule for "best": the next evaluation starts the record
        self._record_changes(self.step)

    def _record_changes(self, step: int) -> None:
        """Write the changed config into config.yaml, each change commented with its step."""
        if not self.changes or not self.world.writer:
            return
        try:
            previous = self.run.config.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            previous = ""
        text = resume_rules.config_text(yaml.safe_dump(self.cfg_dict, sort_keys=False), previous, step, self.changes)
        atomic_write_text(self.run.config, text)
        self.history = self._previous_changes() + [{"step": step, "changes": resume_rules.describe(self.changes)}]

    def _previous_changes(self) -> list:
        old = self.run.read_summary() or {}
        h = old.get("changes")
        return h if isinstance(h, list) else []

    def _check_resumable(self, c: ckpt.Checkpoint) -> None:
        """A checkpoint resume can use: valid trainer state (types, ranges, the manifest's step, the
        arrays), and batcher and random-stream states this run accepts. FileFormatError naming the
        file and field otherwise, so resume falls back past it as past a bit flip."""
        ckpt.check_trainer_state(c)
        st = c.state
        probe = Batcher(self.batcher.n_examples, self.batcher.batch_size, shuffle=self.batcher.shuffle,
                        seed=self.cfg.seed)
        try:
            probe.load_state_dict(st["batcher"])
        except (InputError, KeyError, TypeError, ValueError) as e:
            raise FileFormatError(f"{c.path / 'state.json'}: batcher: {e}") from None
        for name, g in st["rng"].items():
            try:
                np.random.Generator(np.random.PCG64()).bit_generator.state = g
            except (TypeError, ValueError, KeyError, OverflowError) as e:
                raise FileFormatError(f"{c.path / 'state.json'}: rng.{name}: not a valid generator state ({e})"
                                      ) from None

    # --- loop ------------------------------------------------------------------------------
    def run_training(self) -> TrainResult:
        try:
            return self._run_training()
        finally:
            self.lock.release()

    def _run_training(self) -> TrainResult:
        self._setup()
        if self.show_summary is not None and not self.quiet:
            self.show_summary(self.model)
        m = self.model
        x_tr, y_tr = self.splits.train.x, self.splits.train.y
        dp = m.data_parallel
        fetches = [m.train_op, m.loss, m.grad_norm] if dp is None else [m.train_op, dp.loss, m.grad_norm,
                                                                           dp.stop_out]
        feeds_x, feeds_y = m.x, m.y
        writer = self.world.writer
        meter = StepMeter(self.backend) if dp is None and not self.backend.host_memory else None
        # data.device: the training split stays on the device and batches are gathered there (None on host memory)
        resident = device_resident(self.backend, self.cfg.data.device and dp is None,
                                   None if self.splits.augment else x_tr, y_tr, feeds_x.dtype.np, feeds_y.dtype.np)
        last_loss = math.nan
        cfg = self.cfg.train
        status = "completed"
        tb = self._open_tensorboard()
        # at evaluation steps the update also fetches dloss/dw, for the gradient histograms
        fetches_hist = fetches + tb.grad_tensors() if tb is not None else fetches
        grad_values = None
        old_handlers = self._install_signals()
        t0 = time.perf_counter()
        first_step = self.step
        try:
            # overflow/invalid warnings from numpy would only repeat what the non-finite guard reports
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                    Reporter(self.total_steps, self.quiet or not writer, self.stream, mode=self.progress) as rep:
                if self.resume and self.resumed_from is not None and not self.quiet:
                    rep.message(f"resumed from {self.resumed_from.path.name} (step {self.step})")
                self._report_changes(rep)
                while self.step < self.total_steps:
                    # data-parallel: a signal stops every rank after the same step (the flag rides on the Allreduce)
                    if self._stop_signal is not None and (dp is None or self._stop_agreed):
                        break
                    if resident is not None:
                        perm, start, end = self.batcher.next_span()
                        didx = resident.indices(perm, start, end)
                        feed = {feeds_y: resident.gather(resident.y, didx),
                                feeds_x: self.splits.train_batch(perm[start:end], self.step) if resident.x is None
                                else resident.gather(resident.x, didx)}
                    else:
                        idx = self.batcher.next()
                        feed = {feeds_y: y_tr[idx]}
                        if dp is None:
                            feed[feeds_x] = (self.splits.train_batch(idx, self.step) if self.splits.augment
                                             else x_tr[idx])
                    epoch = self.batcher.epoch
                    if self.plateau is not None:
                        feed[m.lr_feed] = np.float32(self.plateau["lr"])
                    nxt = self.step + 1
                    hist = tb is not None and (nxt % cfg.eval_every == 0 or nxt == self.total_steps)
                    try:
                        if dp is not None and self.splits.augment:  # augment the global batch, then shard it
                            loss, gnorm = self._dp_step(fetches, np.arange(len(idx)),
                                                        self.splits.train_batch(idx, self.step), y_tr[idx])
                        elif dp is not None:
                            loss, gnorm = self._dp_step(fetches, idx, x_tr, y_tr)
                        elif meter is not None:  # a device: the step's loss stays there until a sync point
                            _, loss, gnorm = self.sess.run(fetches, feed, download=False)
                        elif hist:
                            _, loss, gnorm, *grad_values = self.sess.run(fetches_hist, feed)
                        else:
                            _, loss, gnorm = self.sess.run(fetches, feed)
                    except NonFiniteError as e:  # --debug-nans: the plan names the op
                        self.step += 1
                        self._nonfinite(math.nan, math.nan, str(e))
                    self.step += 1
                    final = self.step == self.total_steps
                    logging = self.step % cfg.log_every == 0 or final
                    lr_now = None
                    if meter is None:
                        if not (math.isfinite(float(loss)) and math.isfinite(float(gnorm))):
                            self._nonfinite(float(loss), float(gnorm))
                        self.loss_acc[0] += float(loss)
                        self.loss_acc[1] += 1
                        last_loss = float(loss)
                    else:
                        meter.add(self.step, loss, gnorm)
                        if logging or self.step % cfg.eval_every == 0 or self.step % cfg.checkpoint_every == 0 \
                                or self._stop_signal is not None:
                            # the sync point: one download for the losses, the guard and the learning rate
                            lr_feed = {m.lr_feed: np.float32(self.plateau["lr"])} if self.plateau is not None else None
                            total, n, bad, lr_now = meter.flush(self.sess.run(m.lr, lr_feed, download=False)
                                                                if logging else None)
                            if bad is not None:
                                self.step = bad
                                self._nonfinite(math.nan, math.nan)
                            self.loss_acc[0] += total
                            self.loss_acc[1] += n
                            last_loss = total / max(n, 1)
                    rate = (self.step - first_step) / max(time.perf_counter() - t0, 1e-9)
                    rep.step(self.step, epoch, last_loss, rate)
                    if logging:
                        rec = {"step": self.step, "epoch": epoch, "split": "train", "kind": "batch",
                               "loss": self.loss_acc[0] / max(self.loss_acc[1], 1),
                               "lr": lr_now if lr_now is not None else self._lr_now(),
                               "time": self._elapsed(t0)}
                        if writer:
                            self._log(rec)
                        rep.record(rec, rate)
                        if tb is not None:
                            tb.record(rec, rate, float(gnorm))
                        self.loss_acc = [0.0, 0]
                    if self.replica_check_every and self.step % self.replica_check_every == 0:
                        self._check_replicas()
                    improved = stop = pruned = False
                    if (self.step % cfg.eval_every == 0 or final) and writer:
                        for name in ("train", "val"):
                            split = getattr(self.splits, name)
                            if split is None:
                                continue
                            if name == "train" and len(split) > _TRAIN_EVAL_MAX:
                                split = Split(split.x[:_TRAIN_EVAL_MAX], split.y[:_TRAIN_EVAL_MAX])
                            scores = self.evaluate(split)
                            rec = {"step": self.step, "epoch": epoch, "split": name, "kind": "eval", **scores,
                                   "time": self._elapsed(t0)}
                            self._log(rec)
                            rep.record(rec, rate)
                            if tb is not None:
                                tb.record(rec)
                            improved = self._track_best(name, scores) or improved
                            self._plateau_step(name, scores, rep)
                            if name == "val":
                                stop = self._early_stopping(scores)
                            if self.on_eval is not None and self.on_eval(self.step, name, scores) and not final:
                                pruned = True
                        if tb is not None:
                            tb.histograms(self.step, self.sess, grad_values)
                    if dp is not None and (self.step % cfg.eval_every == 0 or final):
                        # rank 0 evaluated: every rank takes its decisions and its plateau learning rate
                        improved, stop, pruned, self.plateau = self.world.bcast((improved, stop, pruned, self.plateau))
                    stop = stop or pruned
                    if (self.step % cfg.checkpoint_every == 0 or final or improved or stop) and writer:
                        if tb is not None:
                            tb.flush()
                        self.save_checkpoint(t0)
                        if improved:
                            ckpt.mark_best(self.run.checkpoints, self.step, self.best["metric"], self.best["value"],
                                           root=self.run.path)
                        ckpt.prune(self.run.checkpoints, cfg.keep_last)
                    if pruned:
                        status = "pruned"
                        rep.message(f"pruned at step {self.step}")
                        break
                    if stop:
                        status = "early_stopped"
                        rep.message(f"early stopping at step {self.step}: {self.es_metric} has not improved for "
                                    f"{self.wait} evaluations (best {self.es_best['value']:.4g} at step "
                                    f"{self.es_best['step']})")
                        break
                if self._stop_signal is not None:
                    if writer:
                        self.save_checkpoint(t0)
                        ckpt.prune(self.run.checkpoints, cfg.keep_last)
                    status = "interrupted"
        except OSError as e:
            # e.g. ENOSPC appending to metrics.jsonl; checkpoints are written atomically, so the newest stays good
            raise self._write_failure(e) from None
        except KeyboardInterrupt:
            # a second SIGINT/SIGTERM before the stop checkpoint was saved: stop at once
            sig = self._stop_signal or signal.SIGINT
            name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
            last = ckpt.list_checkpoints(self.run.checkpoints)
            where = (f"the newest checkpoint is {last[-1][1].name} (step {last[-1][0]})" if last
                     else "no checkpoint was written")
            raise Interrupted(f"{name} twice: stopped at step {self.step} without saving a checkpoint for it; "
                              f"{where}. Continue with: nnctl train {self.cfg.source_path or 'CONFIG'} --run-dir "
                              f"{self.run.path} --resume", 130 if sig == signal.SIGINT else 143) from None
        finally:
            self._restore_signals(old_handlers)
            if tb is not None:
                tb.close()
        if status in ("completed", "early_stopped") and self.cfg.train.restore_best and writer:
            self._restore_best()
        try:
            summary = self.write_summary(status, t0) if writer else {}
        except OSError as e:
            raise self._write_failure(e) from None
        if status == "interrupted":
            sig = self._stop_signal
            name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
            raise Interrupted(f"{name}: stopped at step {self.step}; checkpoint saved. Continue with: "
                              f"{self.world.launch_prefix()}nnctl train --resume {_shell_quote(self.run.path)}",
                              130 if sig == signal.SIGINT else 143)
        return TrainResult(self.run.path, status, self.step, summary)

    def _open_tensorboard(self) -> Any:
        """The TensorBoard writer of this run (train.tensorboard), or None when off or unavailable."""
        if not self.cfg.train.tensorboard or not self.world.writer:
            return None
        try:
            from nnctl.train.tensorboard_log import TrainLog
            return TrainLog(self.run.tensorboard, self.model, self.step if self.resume else None, self.warn)
        except ImportError as e:
            self.warn(f"no TensorBoard logs: {e} (pip install tensorboardX)")
            return None

    def _restore_best(self) -> None:
        """train.restore_best: end with the best checkpoint's weights (Keras' restore_best_weights)."""
        b = self.best
        self.result_step = self.step
        if b is None or b["step"] == self.step:
            return
        try:
            c = ckpt.find_checkpoint(self.run.checkpoints, "best", self.warn)
        except FileFormatError as e:
            self.warn(f"train.restore_best: could not restore the best checkpoint ({e}); the final state is the "
                      f"last step")
            return
        ckpt.load_into(self.model, self.sess, c.arrays, str(c.path))
        self.result_step = int(b["step"])
        if not self.quiet:
            print(f"restored the best checkpoint: step {b['step']} ({b['metric']} {b['value']:.4g})",
                  file=self.stream or sys.stdout, flush=True)

    def _report_changes(self, rep: Reporter) -> None:
        """On resume: the applied changes as a diff, the re-planned length and schedule, or 'nothing to do'."""
        if not self.resume:
            return
        if self.changes:
            rep.message(f"changes applied from step {self.step} (recorded in {self.run.config}):\n  "
                        + "\n  ".join(resume_rules.describe(self.changes)))
            old_total = (self.resumed_from.state.get("trainer", {}).get("total_steps")
                         if self.resumed_from is not None else None)
            if isinstance(old_total, int) and old_total != self.total_steps:
                rep.message(f"train length re-planned: {old_total} -> {self.total_steps} steps; continuing from "
                            f"step {self.step}")
            if any(k.startswith(("optimizer.", "train.steps", "train.epochs")) for k, _, _ in self.changes):
                rep.message(f"learning-rate schedule re-planned ({self.cfg.optimizer.schedule.type}): lr "
                            f"{self._lr_now():.4g} at step {self.step}")
        if self.step >= self.total_steps:
            rep.message(f"the run is already complete at step {self.step} of {self.total_steps}; to train longer, "
                        f"resume with --set train.epochs=N or --set train.steps=N")

    def _lr_now(self) -> float:
        feed = {self.model.lr_feed: np.float32(self.plateau["lr"])} if self.plateau is not None else None
        return float(self.sess.run(self.model.lr, feed))

    def _plateau_step(self, split: str, scores: dict[str, float], rep: Reporter) -> None:
        """Keras' ReduceLROnPlateau, once per evaluation of the watched split."""
        p, s = self.plateau, self.cfg.optimizer.schedule
        if p is None or not s.metric.startswith(split + "_"):
            return
        value = scores.get(s.metric[len(split) + 1:])
        if value is None or not math.isfinite(float(value)):
            return
        if p["cooldown"] > 0:
            p["cooldown"] -= 1
            p["wait"] = 0
        better = p["best"] is None or (value > p["best"] + s.min_delta if s.mode == "max"
                                       else value < p["best"] - s.min_delta)
        if better:
            p["best"], p["wait"] = float(value), 0
        elif p["cooldown"] <= 0:
            p["wait"] += 1
            if p["wait"] >= s.patience and p["lr"] > s.min_lr:
                old = p["lr"]
                p["lr"] = float(np.float32(max(old * s.factor, s.min_lr)))
                p["cooldown"], p["wait"] = s.cooldown, 0
                rep.message(f"reduce_on_plateau at step {self.step}: {s.metric} has not improved for {s.patience} "
                            f"evaluations; lr {old:.4g} -> {p['lr']:.4g}")

    def _dp_step(self, fetches: list, idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """One data-parallel step: this rank's rows of the global batch, gradients summed over ranks.

        Random ops (dropout) draw for the whole global batch and keep this rank's rows, so every rank
        consumes the same random stream and the result does not depend on the number of ranks."""
        dp = self.model.data_parallel
        lo, hi = self.world.shard(len(idx))
        rows = idx[lo:hi]
        self.sess.context.batch_shard = (lo, len(idx))
        feeds = {self.model.x: x[rows], self.model.y: y[rows], dp.shard_weight: np.float32((hi - lo) / len(idx)),
                 dp.stop_in: np.float32(self._stop_signal is not None)}
        if self.plateau is not None:
            feeds[self.model.lr_feed] = np.float32(self.plateau["lr"])
        try:
            _, loss, gnorm, stop = self.sess.run(fetches, feeds)
        finally:
            self.sess.context.batch_shard = None
        if stop > 0:  # some rank was signalled: every rank stops after this step
            self._stop_agreed = True
            if self._stop_signal is None:
                self._stop_signal = signal.SIGINT
        return loss, gnorm

    def _check_replicas(self) -> None:
        """Weights and optimizer slots must be bit-identical on every rank (debug mode)."""
        if self.world.size == 1:
            return
        values = self.sess.variable_values()
        mine = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16] for k, v in values.items()
                if "moving_" not in k}  # batch-norm moving statistics follow each rank's own shard
        every = self.world.allgather(mine)
        for r, theirs in enumerate(every):
            bad = sorted(k for k in mine if theirs.get(k) != mine[k])
            if bad:
                raise RuntimeFailure(f"step {self.step}: rank {r} holds different values than rank "
                                     f"{self.world.rank} for {', '.join(bad[:5])}; the replicas diverged")

    def _write_failure(self, e: OSError) -> RuntimeFailure:
        where = f" ({e.filename})" if e.filename else ""
        return RuntimeFailure(f"cannot write to the run directory {self.run.path}: {e.strerror or e}{where}; "
                              f"stopped at step {self.step}; continue from the newest checkpoint with --resume")

    def _elapsed(self, t0: float) -> float:
        return round(self.elapsed_before + time.perf_counter() - t0, 4)

    def _log(self, rec: dict[str, Any]) -> None:
        self.run.append_metrics(rec)

    def _track_best(self, split: str, scores: dict[str, float]) -> bool:
        """Whether this evaluation is the best so far by train.best_metric; ties go to the later step."""
        m = self.best_metric
        if m is None or not m.startswith(split + "_"):
            return False
        value = scores.get(m[len(split) + 1:])
        if value is None or not math.isfinite(float(value)):
            return False
        b = self.best
        if b is None or (value >= b["value"] if self.best_mode == "max" else value <= b["value"]):
            self.best = {"step": self.step, "value": float(value), "metric": m}
            return True
        return False

    def _early_stopping(self, scores: dict[str, float]) -> bool:
        """Whether to stop: es.metric has not improved by more than min_delta for ``patience`` evaluations."""
        es = self.cfg.train.early_stopping
        if es is None:
            return False
        key = self.es_metric[4:] if self.es_metric.startswith("val_") else self.es_metric
        value = scores.get(key)
        if value is None:
            return False
        b = self.es_best
        better = b is None or (value > b["value"] + es.min_delta if self.es_mode == "max"
                               else value < b["value"] - es.min_delta)
        if better:
            self.es_best = {"step": self.step, "value": float(value), "metric": self.es_metric}
            self.wait = 0
            return False
        self.wait += 1
        return self.wait >= es.patience

    def _nonfinite(self, loss: float, gnorm: float, op_report: str | None = None) -> None:
        last = ckpt.list_checkpoints(self.run.checkpoints)
        where = f"the last good checkpoint is {last[-1][1]} (step {last[-1][0]})" if last else \
            "no checkpoint was written before it"
        hint = "Try a smaller optimizer.lr or set optimizer.clip_norm"
        if op_report is not None:
            self.write_summary("failed: non-finite value", None)
            raise NonFiniteError(f"step {self.step}: {op_report}; training stopped and {where}. {hint}.")
        what = "loss" if not math.isfinite(loss) else "gradient norm"
        self.write_summary("failed: non-finite " + what, None)
        raise NonFiniteError(f"step {self.step}: the {what} became {loss if what == 'loss' else gnorm}; training "
                             f"stopped and {where}. {hint}; rerun with --debug-nans to name the op that produced it.")

    # --- evaluation ------------------------------------------------------------------------
    def evaluate(self, split: Split) -> dict[str, float]:
        return evaluate_model(self.model, self.sess, split, self.cfg)

    # --- files -----------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        return self.sess.variable_values()

    def save_checkpoint(self, t0: float) -> Path:
        state = {
            "batcher": self.batcher.state_dict(),
            "rng": _rng_to_json(self.sess.context.rng_states()),
            "trainer": {"step": self.step, "total_steps": self.total_steps, "elapsed": self._elapsed(t0),
                        "best": self.best, "es_best": self.es_best, "plateau": self.plateau,
                        "wait": self.wait, "loss_acc": self.loss_acc, "metrics_bytes": self.run.metrics_size()},
            "variables": self.model.variable_specs(),
            "preprocessor": self.splits.preprocessor.to_dict(),
            # the fitted per-column preprocessing (vocabularies, scalers, fill values, image transform)
            "features": self.splits.pipeline.to_dict() if self.splits.pipeline is not None else None,
        }
        kw: dict[str, Any] = {"write_file": self.checkpoint_writer} if self.checkpoint_writer else {}
        try:
            path = ckpt.save_checkpoint(self.run.checkpoints, self.step, self.state_arrays(), state,
                                        config_fingerprint(self.cfg_dict), self.model.fingerprint(),
                                        warn=self.warn, **kw)
        except OSError as e:
            raise RuntimeFailure(f"could not write the checkpoint for step {self.step} in {self.run.checkpoints}: "
                                 f"{e.strerror or e}; earlier checkpoints are intact") from None
        self.run.sync_metrics()
        self.run.write_csv()
        return path

    def write_summary(self, status: str, t0: float | None) -> dict[str, Any]:
        if not self.world.writer:
            return {}
        recs = self.run.records()
        final = {}
        for split in ("train", "val"):
            last = [r for r in recs if r.get("split") == split and r.get("kind") == "eval"]
            if last:
                final[split] = {k: v for k, v in last[-1].items() if k not in ("split", "kind")}
        summary = {"name": self.cfg.name, "status": status, "steps": self.step, "total_steps": self.total_steps,
                   "epochs": self.batcher.epoch, "wall_time": self._elapsed(t0) if t0 is not None else None,
                   "final": final, "best": self.best, "metrics": list(self.cfg.metrics),
                   "result_checkpoint": getattr(self, "result_step", self.step),
                   "changes": self.history if self.history is not None else self._previous_changes(),
                   "params": self.model.trainable_params}
        atomic_write_json(self.run.summary, json_safe(summary), root=self.run.path)
        try:
            self.run.write_csv()
        except OSError as e:  # the summary is written; metrics.csv is derived from metrics.jsonl
            self.warn(f"could not rewrite {self.run.metrics_csv}: {e.strerror or e}")
        return summary

    # --- signals ---------------------------------------------------------------------------
    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            old[s] = signal.signal(s, self._on_signal)
        return old

    def _restore_signals(self, old: dict) -> None:
        for s, h in old.items():
            signal.signal(s, h)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self._stop_signal = signum


def _rng_to_json(states: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(states, default=lambda v: int(v)))


def _rng_from_json(states: dict[str, Any]) -> dict[str, Any]:
    return states


def train(config: str | Path | None = None, run_dir: str | Path | None = None, overrides: list[str] | tuple = (),
          resume: bool = False, backend: str | None = None, quiet: bool = False, debug_nans: bool = False,
          stream: Any = None, warn: Callable[[str], None] | None = None,
          show_summary: Callable[[Model], None] | None = None,
          checkpoint_writer: Callable[[Path, bytes], None] | None = None,
          info: Callable[[str], None] | None = None,
          on_eval: Callable[[int, str, dict[str, float]], bool] | None = None,
          replica_check_every: int = 0, progress: str = "auto") -> TrainResult:
    """Train ``config`` into ``run_dir``; the library form of ``nnctl train``.

    The default run dir is ``runs/<name>``, or ``runs/<name>-2``, ``-3`` ... when that exists (the
    choice is reported through ``info``). With ``resume``, ``config`` may be the run directory
    itself (or None with ``run_dir`` given): the run continues from its own config.yaml, with
    ``overrides`` as changes (see nnctl.train.resume)."""
    from nnctl.train.progress import MODES
    if progress not in MODES:
        raise InputError(f"--progress must be one of {', '.join(MODES)}, got {progress!r}")
    ov = list(overrides)
    if backend is not None:
        from nnctl.vocab import BACKENDS
        if backend not in BACKENDS:
            import difflib
            close = difflib.get_close_matches(backend, BACKENDS, n=1)
            raise InputError(f"--backend {backend!r}: unknown backend; choose one of {', '.join(BACKENDS)}"
                             + (f" (did you mean {close[0]}?)" if close else ""))
        ov.append(f"backend={backend}")
    if config is not None and Path(config).is_dir():
        if not resume:
            raise InputError(f"{config} is a directory; give a YAML config file, or continue that run with "
                             f"nnctl train --resume {config}")
        if run_dir is not None and Path(run_dir) != Path(config):
            raise InputError(f"--resume {config} and --run-dir {run_dir} name two different runs; give one")
        run_dir, config = config, None
    if config is None:
        if not resume or run_dir is None:
            raise InputError("no config given: nnctl train CONFIG, or nnctl train --resume RUN_DIR to continue a run")
        rdir = RunDir(run_dir)
        if not rdir.config.is_file():
            raise InputError(f"--resume: {run_dir} is not a run directory (no {rdir.config.name}); nothing to "
                             "resume")
        rdir.read_config_dict()  # a damaged config.yaml is reported as such, before the schema sees it
        config = rdir.config
    explicit = run_dir is not None
    if explicit:
        from nnctl.fileio import user_path
        run_dir = user_path(run_dir, "--run-dir")
    cfg = load_config(config, ov)
    if run_dir is None:
        if resume:
            run_dir = Path("runs") / cfg.name
        else:
            # data-parallel ranks all take rank 0's choice, made before any of them creates the folder
            run_dir, moved = world().bcast(default_run_dir(cfg.name))
            if moved and info is not None and world().writer:
                info(f"runs/{cfg.name} already exists: this run goes to {run_dir} (use --run-dir to choose)")
    t = Trainer(cfg, Path(run_dir), resume=resume, quiet=quiet, debug_nans=debug_nans, stream=stream,
                explicit_run_dir=explicit, checkpoint_writer=checkpoint_writer, warn=warn, show_summary=show_summary,
                on_eval=on_eval, replica_check_every=replica_check_every, progress=progress)
    try:
        return t.run_training()
    except MemoryError as e:
        raise RuntimeFailure(out_of_memory(e)) from None


def out_of_memory(e: MemoryError) -> str:
    return (f"out of memory: {e or 'allocation failed'}; make the model smaller (model.layers units, filters) "
            "or lower train.batch_size")


def _shell_quote(p: Any) -> str:
    import shlex
    return shlex.quote(str(p))
