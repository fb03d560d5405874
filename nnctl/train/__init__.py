"""``tf.train``: optimizers, learning-rate schedules, global step, gradient clipping."""

from nnctl.train.optimizer import Optimizer
from nnctl.train.optimizers import GradientDescentOptimizer

__all__ = ["Optimizer", "GradientDescentOptimizer"]
