"""``nnctl validate``: load and validate a config, load its data, build the whole graph (gradients
and updates included) and run one forward pass on a few examples, without training."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def validate_config(config: str | Path, overrides: list[str] | tuple = ()) -> str:
    """Return a short report; raise ConfigError/DataError/InputError on any problem."""
    import nnctl as tf
    from nnctl.backends import get_backend
    from nnctl.config import load_config
    from nnctl.errors import RuntimeFailure
    from nnctl.model_summary import summary_text
    from nnctl.train.rundir import build_for_config
    from nnctl.train.trainer import out_of_memory

    cfg = load_config(config, list(overrides))
    get_backend(cfg.backend)
    try:
        splits, model = build_for_config(cfg)
        tr = splits.train
        n = min(len(tr), 8)
        sess = tf.Session(graph=model.graph)
        with model.graph.as_default():
            sess.run(tf.global_variables_initializer())
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the report flags NOT FINITE itself
            loss, gnorm = sess.run([model.loss, model.grad_norm], {model.x: tr.x[:n], model.y: tr.y[:n]})
    except MemoryError as e:
        raise RuntimeFailure(out_of_memory(e)) from None
    sizes = ", ".join(f"{name} {len(s)}" for name, s in (("train", tr), ("val", splits.val), ("test", splits.test))
                      if s is not None)
    ops = len(model.graph.get_operations())
    return (f"{cfg.source_path}: OK\n"
            f"data: {sizes} examples, features {list(tr.x.shape[1:])}"
            + (f", {splits.num_classes} classes" if splits.num_classes else "") + "\n"
            f"graph: {ops} ops; initial loss on {n} examples {float(loss):.4g}, gradient norm {float(gnorm):.4g}"
            + ("" if np.isfinite(loss) else " (NOT FINITE)") + "\n" + summary_text(model))
