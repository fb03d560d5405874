"""What ``nnctl train --resume`` may change, and how the changes are recorded.

A resume without changes continues bit-identically. A resume with ``--set`` changes applies only
keys that leave the model, the data and the optimizer's state meaning what they meant: how long to
train, the learning rate and its schedule, the evaluation/checkpoint cadence, early stopping and
the best-checkpoint rule. Everything else (the model, the data, the loss, the optimizer type and
its hyper-parameters, the batch size, the seed) is refused, naming the key, because the checkpoint
could not be continued faithfully. Applied changes are written into the run's config.yaml (which
then builds the run as it now continues) with a comment line per change naming the step at which
it took effect, and listed under ``changes`` in summary.json.
"""

from __future__ import annotations

from typing import Any

from nnctl.errors import InputError
from nnctl.train.rundir import config_changes

# Dotted config keys (and everything under them) that may change on resume.
SAFE_ON_RESUME = (
    "train.steps", "train.epochs", "train.eval_every", "train.checkpoint_every", "train.log_every",
    "train.keep_last", "train.early_stopping", "train.best_metric", "train.best_mode", "train.restore_best",
    "train.tensorboard", "optimizer.lr", "optimizer.schedule", "optimizer.clip_norm", "metrics", "backend",
    "data.device",   # where the training split lives changes no number (batches are gathered bit-identically)
)
CHANGE_MARK = "# changed on resume at step "


def is_safe(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") or key.startswith(k + "[") for k in SAFE_ON_RESUME)


def check_changes(run_dir: Any, stored: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """The changes from the run's stored config to the new one; InputError naming the first unsafe key."""
    changes = config_changes(stored, new)
    unsafe = [(k, a, b) for k, a, b in changes if not is_safe(k)]
    if unsafe:
        k, a, b = unsafe[0]
        more = f" (and {', '.join(u[0] for u in unsafe[1:])})" if len(unsafe) > 1 else ""
        raise InputError(f"cannot resume {run_dir} with {k} changed ({a!r} -> {b!r}){more}: on resume only "
                         "train steps/epochs, optimizer.lr and schedule, clip_norm, eval/checkpoint/log cadence, "
                         "early stopping and the best-checkpoint rule can change; start a new run for this change")
    return changes


def describe(changes: list[tuple[str, Any, Any]]) -> list[str]:
    return [f"{k}: {a!r} -> {b!r}" for k, a, b in changes]


def config_text(yaml_text: str, previous_text: str, step: int, changes: list[tuple[str, Any, Any]]) -> str:
    """The new config.yaml: the earlier change comments, one comment per new change, then the config."""
    old_marks = [line for line in previous_text.splitlines() if line.startswith(CHANGE_MARK)]
    new_marks = [f"{CHANGE_MARK}{step}: {line}" for line in describe(changes)]
    head = "\n".join(old_marks + new_marks)
    return (head + "\n" if head else "") + yaml_text
