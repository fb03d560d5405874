"""``tf.train``: optimizers, learning-rate schedules, global step, gradient clipping, Saver."""

from nnctl.train.clipping import clip_by_global_norm, clip_by_norm, global_norm
from nnctl.train.moving_averages import ExponentialMovingAverage
from nnctl.train.optimizer import Optimizer
from nnctl.train.optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    AdamW,
    AdamWOptimizer,
    GradientDescentOptimizer,
    MomentumOptimizer,
    RMSPropOptimizer,
)
from nnctl.train.saver import (
    CheckpointState,
    NewCheckpointReader,
    Saver,
    checkpoint_exists,
    export_meta_graph,
    get_checkpoint_state,
    import_meta_graph,
    latest_checkpoint,
    list_variables,
    load_checkpoint,
    load_variable,
    update_checkpoint_state,
)
from nnctl.train.schedules import (
    cosine_decay,
    create_global_step,
    exponential_decay,
    get_global_step,
    get_or_create_global_step,
    global_step,
    inverse_time_decay,
    linear_warmup,
    natural_exp_decay,
    piecewise_constant,
    polynomial_decay,
)

__all__ = [
    "Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer", "AdamWOptimizer", "AdamW",
    "RMSPropOptimizer", "AdagradOptimizer",
    "get_global_step", "create_global_step", "get_or_create_global_step", "global_step",
    "exponential_decay", "inverse_time_decay", "natural_exp_decay", "polynomial_decay", "piecewise_constant",
    "cosine_decay", "linear_warmup",
    "clip_by_global_norm", "global_norm", "clip_by_norm",
    "ExponentialMovingAverage", "Saver", "CheckpointState", "NewCheckpointReader", "checkpoint_exists",
    "get_checkpoint_state",
    "export_meta_graph", "import_meta_graph",
    "latest_checkpoint", "list_variables", "load_checkpoint", "load_variable", "update_checkpoint_state",
]


def __getattr__(name: str) -> object:  # a TF1 name nnctl lacks: say so (see nnctl/unsupported.py)
    if name.startswith("__"):
        raise AttributeError(name)
    from nnctl.unsupported import missing
    raise missing("tf.train", name)
