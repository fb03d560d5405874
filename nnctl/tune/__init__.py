"""Hyper-parameter search (``nnctl tune``) on Optuna: spaces of config keys, studies of normal runs."""

from nnctl.tune.space import Param, Space, load_space, parse_space_text
from nnctl.tune.study import TuneResult, metric_direction, study_trials, tune

__all__ = ["Param", "Space", "TuneResult", "load_space", "metric_direction", "parse_space_text", "study_trials",
           "tune"]
