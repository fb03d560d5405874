"""``nnctl tune``: hyper-parameter search on Optuna, every trial a normal run directory.

A study folder holds::

    study.json      what is searched: the config, --set overrides, the space, metric and direction
    study.db        Optuna's SQLite storage (trials, parameters, intermediate values)
    trial-0000/     one ordinary run dir per trial (config.yaml, metrics, checkpoints, summary.json)
    best.yaml       the resolved config of the best trial so far, ready for ``nnctl train``
    trials.json     one record per trial (state, value, parameters, run dir) for tables and scripts

Trials are drawn with Optuna's ask-and-tell interface. Each trial trains in-process through the
library form of ``nnctl train``; after every evaluation the trainer reports the metric to the trial,
and Optuna's pruner may stop it early (status ``pruned``).

Resuming: the study folder is locked while a search runs. A new ``nnctl tune`` on the same folder
finds trials that a dead search left RUNNING (kill -9) or that a Ctrl-C interrupted, marks them
failed and enqueues their parameters again with their run dir, so the retry continues from that
run's newest checkpoint instead of starting over. Trials that failed on their own (a diverging
loss) are not retried.

Parallel trials (``--jobs J``) are J worker processes on the same SQLite storage; a file lock
around ``ask`` keeps the number of trials at the budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnctl.errors import ConfigError, InputError, NnctlError, RuntimeFailure
from nnctl.fileio import atomic_write_json, atomic_write_text
from nnctl.tune.space import Space, load_space, parse_space_text

__all__ = ["TuneResult", "tune", "metric_direction", "study_trials"]

STUDY_FILE, DB_FILE, BEST_FILE, TRIALS_FILE, LOCK_FILE = "study.json", "study.db", "best.yaml", "trials.json", ".lock"
_ASK_LOCK = ".ask.lock"
_STUDY_NAME = "nnctl"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")


def metric_direction(metric: str) -> str:
    """Optuna's ``maximize`` or ``minimize`` for a reported metric name such as ``val_accuracy``."""
    from nnctl.vocab import metric_mode
    return "maximize" if metric_mode(metric) == "max" else "minimize"


@dataclass
class TrialRecord:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run_dir: str | None
    error: str | None = None


@dataclass
class TuneResult:
    study_dir: Path
    metric: str
    direction: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    best_config: Path | None
    resumed: int = 0
    counts: dict[str, int] = field(default_factory=dict)


# --- the study folder ------------------------------------------------------------------------
@contextlib.contextmanager
def _flock(path: Path, *, blocking: bool, holder: str = "") -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputError(f"{path.parent}: a search is already running on this study folder ({who}); "
                             "wait for it or use another --study-dir") from None
        if holder:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)


def _storage(study_dir: Path) -> Any:
    import optuna
    # SQLite serialises writers; a generous timeout lets parallel workers wait instead of failing.
    return optuna.storages.RDBStorage(f"sqlite:///{study_dir / DB_FILE}",
                                      engine_kwargs={"connect_args": {"timeout": 120}})


def _make_sampler(name: str, seed: int | None) -> Any:
    import optuna
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _make_pruner(name: str) -> Any:
    import optuna
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def _load_study(study_dir: Path, meta: dict[str, Any], worker: int = 0) -> Any:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = meta["seed"] if meta["seed"] is None else int(meta["seed"]) + worker
    return optuna.create_study(storage=_storage(study_dir), study_name=_STUDY_NAME, load_if_exists=True,
                               direction=meta["direction"], sampler=_make_sampler(meta["sampler"], seed),
                               pruner=_make_pruner(meta["pruner"]))


def _state_name(state: Any) -> str:
    return state.name.lower()


def study_trials(study_dir: str | Path) -> list[TrialRecord]:
    """Every trial of a study folder, in order (read from its storage)."""
    study_dir = Path(study_dir)
    meta = _read_meta(study_dir)
    study = _load_study(study_dir, meta)
    return [TrialRecord(t.number, _state_name(t.state), t.value, dict(t.params), t.user_attrs.get("run_dir"),
                        t.user_attrs.get("error")) for t in study.get_trials(deepcopy=False)]


def _read_meta(study_dir: Path) -> dict[str, Any]:
    path = study_dir / STUDY_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{study_dir}: not a study folder (no {STUDY_FILE})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: damaged study description ({type(e).__name__})") from None
    need = {"config": str, "overrides": list, "space": str, "space_file": str, "metric": str, "direction": str,
            "sampler": str, "pruner": str, "trials": int}
    for k, t in need.items():
        if not isinstance(meta.get(k), t):
            raise InputError(f"{path}: field {k!r} is missing or not a {t.__name__}")
    if meta["direction"] not in ("maximize", "minimize") or meta["sampler"] not in SAMPLERS \
            or meta["pruner"] not in PRUNERS:
        raise InputError(f"{path}: unknown direction, sampler or pruner")
    if meta.get("seed") is not None and not isinstance(meta["seed"], int):
        raise InputError(f"{path}: field 'seed' is not an integer")
    return meta


# --- checking the search against the config ---------------------------------------------------
def _metric_for(cfg: Any, metric: str | None) -> str:
    if metric is None:
        es = cfg.train.early_stopping
        metric = es.metric if es else "val_" + (cfg.metrics[0] if cfg.metrics else "loss")
    split, _, key = metric.partition("_")
    if split not in ("val", "train") or not key:
        raise InputError(f"--metric {metric!r}: name a reported metric with its split, e.g. val_loss or "
                         f"val_{cfg.metrics[0] if cfg.metrics else 'accuracy'}")
    known = ["loss", *cfg.metrics]
    if key not in known:
        raise InputError(f"--metric {metric!r}: the runs report {', '.join(split + '_' + k for k in known)}; "
                         "add the metric to the config's metrics list to search on it")
    d = cfg.data
    if split == "val" and d.val is None and not d.val_split:
        raise InputError(f"--metric {metric}: the config has no validation data (set data.val_split or data.val), "
                         "so a search would tune on the training split; use --metric train_... to do that on purpose")
    return metric


def _check_space(config: Path, overrides: list[str], space: Space) -> None:
    """Every value at the edge of each range must give a valid config (errors name the space line)."""
    from nnctl.config import load_config
    for p in space.params:
        for value in p.extremes():
            ov = f"{p.key}={json.dumps(value)}"
            try:
                load_config(config, [*overrides, ov])
            except ConfigError as e:
                msg = e.message.replace(f" (from --set {ov})", "")
                raise ConfigError(f"with {p.key} = {json.dumps(value)} the config is invalid: {msg}",
                                  file=space.source, line=p.line, key=p.key) from None


# --- one trial ---------------------------------------------------------------------------------
def _best_of(run_dir: Path, split: str, key: str, direction: str) -> float | None:
    from nnctl.train.rundir import RunDir
    vals = [float(r[key]) for r in RunDir(run_dir).records()
            if r.get("split") == split and r.get("kind") == "eval" and isinstance(r.get(key), (int, float))]
    vals = [v for v in vals if math.isfinite(v)]
    if not vals:
        return None
    return max(vals) if direction == "maximize" else min(vals)


def _run_trial(study: Any, trial: Any, study_dir: Path, meta: dict[str, Any], space: Space,
               report: Callable[[TrialRecord], None]) -> str:
    """Train one trial and tell Optuna how it went; returns the Optuna state name."""
    import optuna

    from nnctl.train.trainer import Interrupted
    from nnctl.train.trainer import train as run_train
    run_dir = Path(trial.user_attrs.get("run_dir") or study_dir / f"trial-{trial.number:04d}")
    trial.set_user_attr("run_dir", str(run_dir))
    resume = (run_dir / "config.yaml").exists()
    split, _, key = meta["metric"].partition("_")
    values = dict(trial.params)
    reported: set[int] = set()

    def on_eval(step: int, name: str, scores: dict[str, float]) -> bool:
        v = scores.get(key)
        if name != split or v is None or not math.isfinite(v) or step in reported:
            return False
        reported.add(step)
        trial.report(float(v), step)
        return trial.should_prune()

    overrides = [*meta["overrides"], *space.overrides(values)]
    warnings: list[str] = []
    try:
        res = run_train(meta["config"], run_dir=run_dir, overrides=overrides, resume=resume, quiet=True,
                        on_eval=on_eval, warn=warnings.append)
    except Interrupted:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    except RuntimeFailure as e:  # e.g. a learning rate that makes the loss diverge: this trial fails, the study goes on
        trial.set_user_attr("error", str(e))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        report(TrialRecord(trial.number, "fail", None, values, str(run_dir), str(e)))
        return "fail"
    except BaseException:
        trial.set_user_attr("interrupted", True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    if res.status == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        report(TrialRecord(trial.number, "pruned", None, values, str(run_dir)))
        return "pruned"
    value = _best_of(run_dir, split, key, meta["direction"])
    if value is None:
        trial.set_user_attr("error", f"the run reported no finite {meta['metric']}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        report(TrialRecord(trial.number, "fail", None, values, str(run_dir), trial.user_attrs["error"]))
        return "fail"
    study.tell(trial, value)
    report(TrialRecord(trial.number, "complete", value, values, str(run_dir)))
    return "complete"


def _work(study_dir: Path, worker: int, report: Callable[[TrialRecord], None]) -> None:
    """Draw and run trials until the study has its budget of finished trials."""
    import optuna
    meta = _read_meta(study_dir)
    space = parse_space_text(meta["space"], meta["space_file"])
    study = _load_study(study_dir, meta, worker)
    dists = {p.key: p.distribution() for p in space.params}
    TS = optuna.trial.TrialState
    failures = 0
    while True:
        with _flock(study_dir / _ASK_LOCK, blocking=True):
            states = [t.state for t in study.get_trials(deepcopy=False)]
            taken = sum(s in (TS.COMPLETE, TS.PRUNED, TS.RUNNING) for s in states)
            if taken >= meta["trials"]:
                return
            trial = study.ask(fixed_distributions=dists)
        if _run_trial(study, trial, study_dir, meta, space, report) == "fail":
            failures += 1
            if failures >= max(3, meta["trials"]):
                raise RuntimeFailure(f"{failures} trials failed in a row of this search; the last: "
                                     f"{trial.user_attrs.get('error')}")
        else:
            failures = 0


def _recover(study: Any) -> int:
    """Trials a dead or interrupted search left behind: fail them and enqueue their parameters again.

    Only called while holding the study lock, so a RUNNING trial here has no live process."""
    import optuna
    TS = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if t.state == TS.RUNNING:
            study._storage.set_trial_state_values(t._trial_id, state=TS.FAIL)
    trials = study.get_trials(deepcopy=False)
    claimed = {}
    for t in trials:
        rd = t.user_attrs.get("run_dir")
        if rd is not None:
            claimed[rd] = max(claimed.get(rd, -1), t.number)
    n = 0
    for t in trials:
        rd = t.user_attrs.get("run_dir")
        if t.state != TS.FAIL or "error" in t.user_attrs or rd is None or claimed.get(rd) != t.number:
            continue
        study.enqueue_trial(dict(t.params), user_attrs={"run_dir": rd, "retry_of": t.number})
        n += 1
    return n


def _enqueue_baseline(study: Any, cfg: Any, space: Space, warn: Callable[[str], None]) -> None:
    """Trial 0 of a new study is the config as given, so the search never returns worse than it."""
    from nnctl.config import config_to_dict, parse_override
    resolved = config_to_dict(cfg)
    values: dict[str, Any] = {}
    for p in space.params:
        cur: Any = resolved
        for part in parse_override(f"{p.key}=0").parts:
            try:
                cur = cur[part]
            except (KeyError, IndexError, TypeError):
                cur = None
                break
        if not p.contains(cur):
            warn(f"the config's own {p.key} = {json.dumps(cur)} lies outside the space ({p.describe()}); "
                 "the search starts without it as a baseline")
            return
        values[p.key] = cur
    study.enqueue_trial(values, user_attrs={"baseline": True})


def _records(study: Any) -> list[TrialRecord]:
    return [TrialRecord(t.number, _state_name(t.state), t.value, dict(t.params), t.user_attrs.get("run_dir"),
                        t.user_attrs.get("error")) for t in study.get_trials(deepcopy=False)]


def _write_outputs(study_dir: Path, study: Any, meta: dict[str, Any]) -> tuple[list[TrialRecord], TrialRecord | None,
                                                                               Path | None]:
    recs = _records(study)
    atomic_write_json(study_dir / TRIALS_FILE, {"metric": meta["metric"], "direction": meta["direction"],
                                                "trials": [r.__dict__ for r in recs]})
    done = [r for r in recs if r.state == "complete" and r.value is not None]
    if not done:
        return recs, None, None
    best = (max if meta["direction"] == "maximize" else min)(done, key=lambda r: (r.value, -r.number))
    cfg_text = Path(best.run_dir, "config.yaml").read_text(encoding="utf-8")
    params = ", ".join(f"{k}={v}" for k, v in best.params.items())
    header = (f"# best trial {best.number} of the study in {study_dir}: {meta['metric']} = {best.value:.6g}\n"
              f"# searched: {params}\n# train it with: nnctl train {study_dir / BEST_FILE}\n")
    out = study_dir / BEST_FILE
    # a run's config.yaml stores data paths resolved to absolute ones, so best.yaml works from anywhere
    atomic_write_text(out, header + cfg_text)
    return recs, best, out


def _meta_for(config: Path, overrides: list[str], space_path: Path, space: Space, metric: str, direction: str,
              trials: int, sampler: str, pruner: str, seed: int | None) -> dict[str, Any]:
    return {"config": str(config.resolve()), "overrides": list(overrides), "space_file": str(space_path),
            "space": space_path.read_text(encoding="utf-8"), "space_parsed": space.to_dict(), "metric": metric,
            "direction": direction, "trials": int(trials), "sampler": sampler, "pruner": pruner, "seed": seed}


def _same_search(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = ("config", "overrides", "space_parsed", "metric", "direction")
    return [k for k in keys if old.get(k) != new.get(k)]


def _pdeathsig() -> None:  # pragma: no cover - runs in the child before exec
    # A worker dies with the search that started it (kill -9 of `nnctl tune` leaves no orphans).
    with contextlib.suppress(Exception):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def tune(config: str | Path, space_path: str | Path, trials: int = 20, *, jobs: int = 1,
         study_dir: str | Path | None = None, metric: str | None = None, direction: str | None = None,
         overrides: list[str] | tuple = (), sampler: str = "tpe", pruner: str = "median", seed: int | None = None,
         report: Callable[[TrialRecord], None] | None = None, warn: Callable[[str], None] | None = None
         ) -> TuneResult:
    """Search ``space_path`` over ``config``; the library form of ``nnctl tune``."""
    from nnctl.config import load_config
    report = report or (lambda r: None)
    warn = warn or (lambda m: None)
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise InputError("nnctl tune runs on Optuna, which is not installed: pip install 'nnctl[tune]'") from None
    if trials < 1:
        raise InputError(f"--trials must be at least 1, got {trials}")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if sampler not in SAMPLERS:
        raise InputError(f"--sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise InputError(f"--pruner {pruner!r}: choose one of {', '.join(PRUNERS)}")
    config, space_path = Path(config), Path(space_path)
    cfg = load_config(config, list(overrides))
    space = load_space(space_path)
    _check_space(config, list(overrides), space)
    metric = _metric_for(cfg, metric)
    if direction is None:
        direction = metric_direction(metric)
    direction = {"max": "maximize", "min": "minimize"}.get(direction, direction)
    if direction not in ("maximize", "minimize"):
        raise InputError(f"--direction {direction!r}: choose max or min")
    study_dir = Path(study_dir) if study_dir is not None else Path("runs") / f"{cfg.name}-tune"
    meta = _meta_for(config, list(overrides), space_path, space, metric, direction, trials, sampler, pruner,
                     cfg.seed if seed is None else seed)
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the study folder {study_dir}: {e.strerror or e}") from None
    holder = f"pid {os.getpid()} on {socket.gethostname()}"
    with _flock(study_dir / LOCK_FILE, blocking=False, holder=holder):
        if (study_dir / STUDY_FILE).exists():
            old = _read_meta(study_dir)
            changed = _same_search(old, meta)
            if changed:
                raise InputError(f"{study_dir} holds a different search (its {', '.join(changed)} differ); "
                                 "use another --study-dir to start a new one")
        elif any(study_dir.iterdir()) and {p.name for p in study_dir.iterdir()} - {LOCK_FILE}:
            raise InputError(f"{study_dir} exists and is not a study folder; use another --study-dir")
        fresh = not (study_dir / STUDY_FILE).exists()
        atomic_write_json(study_dir / STUDY_FILE, meta)
        study = _load_study(study_dir, meta)
        if fresh:
            _enqueue_baseline(study, cfg, space, warn)
        resumed = _recover(study)
        if resumed:
            warn(f"resuming {resumed} interrupted trial(s) from their newest checkpoints")
        try:
            if jobs == 1:
                _work(study_dir, 0, report)
            else:
                _run_workers(study_dir, jobs, report)
        finally:
            recs, best, best_path = _write_outputs(study_dir, study, meta)
    counts: dict[str, int] = {}
    for r in recs:
        counts[r.state] = counts.get(r.state, 0) + 1
    return TuneResult(study_dir, metric, direction, recs, best, best_path, resumed, counts)


def _run_workers(study_dir: Path, jobs: int, report: Callable[[TrialRecord], None]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                     env.get("PYTHONPATH")) if p)
    procs = [subprocess.Popen([sys.executable, "-m", "nnctl.tune.worker", str(study_dir), str(i)], env=env,
                              stdout=subprocess.PIPE, text=True, preexec_fn=_pdeathsig)
             for i in range(jobs)]
    try:
        _relay(procs, report)
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the workers too: each saves its trial's checkpoint and exits.
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=120)
        raise
    bad = [p.returncode for p in procs if p.returncode not in (0, None)]
    if any(c in (130, 143) for c in bad):
        raise KeyboardInterrupt
    if bad:
        raise RuntimeFailure(f"{len(bad)} of {jobs} search workers failed (exit codes {bad}); see the messages above")


def _relay(procs: list[subprocess.Popen], report: Callable[[TrialRecord], None]) -> None:
    """Pass each worker's finished-trial lines (JSON) on to ``report`` until all workers exit."""
    import selectors
    sel = selectors.DefaultSelector()
    for p in procs:
        sel.register(p.stdout, selectors.EVENT_READ, p)
    open_ = len(procs)
    while open_:
        for key, _ in sel.select(timeout=1.0):
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                open_ -= 1
                continue
            with contextlib.suppress(json.JSONDecodeError, TypeError):
                report(TrialRecord(**json.loads(line)))
    for p in procs:
        p.wait()


def worker_main(argv: list[str]) -> int:
    """Entry point of one ``--jobs`` worker process: ``python -m nnctl.tune.worker STUDY_DIR INDEX``."""
    study_dir, index = Path(argv[0]), int(argv[1])

    def emit(r: TrialRecord) -> None:
        sys.stdout.write(json.dumps(r.__dict__) + "\n")
        sys.stdout.flush()
    try:
        _work(study_dir, index, emit)
    except NnctlError as e:
        code = getattr(e, "exit_code", 1)
        if code not in (130, 143):
            print(f"error: worker {index}: {e}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    return 0
