"""TensorBoard event files: nnctl's graph as a GraphDef, Summary protos, and the event writer.

Written through tensorboardX (a small package: protobuf + numpy), read back by TensorBoard itself.
The trainer's logging (nnctl.train.tensorboard_log) and the TF1 ``tf.summary`` API (nnctl.summary)
both use this package.
"""

from nnctl.events.graph_def import graph_def
from nnctl.events.writer import EventWriter, histogram_summary, image_summary, scalar_summary, text_summary

__all__ = ["EventWriter", "graph_def", "histogram_summary", "image_summary", "scalar_summary", "text_summary"]
