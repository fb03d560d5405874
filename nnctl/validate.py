"""``nnctl validate``: load and validate a config, load its data, build the whole graph (gradients
and updates included) and run one forward pass on a few examples, without training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def validate_config(config: str | Path, overrides: list[str] | tuple = ()) -> str:
    """Return a short report; raise ConfigError/DataError/InputError on any problem."""
    import nnctl as tf
    from nnctl.backends import choose_backend
    from nnctl.config import load_config
    from nnctl.data.splits import load_splits
    from nnctl.errors import ConfigError, RuntimeFailure
    from nnctl.model_summary import summary_text
    from nnctl.train.rundir import build_for_config
    from nnctl.train.trainer import out_of_memory

    cfg = load_config(config, list(overrides))
    backend = choose_backend(cfg.backend)
    splits = load_splits(cfg)
    try:
        try:
            splits, model = build_for_config(cfg, splits=splits)
        except ConfigError as e:
            if splits.pipeline is None or "input_shape" not in str(e):
                raise
            raise ConfigError(f"{e.message}; the features give {feature_widths(splits.pipeline)}", file=e.file,
                              line=e.line, key=e.key) from None
        tr = splits.train
        n = min(len(tr), 8)
        sess = tf.Session(graph=model.graph, backend=backend)
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
            + ("" if np.isfinite(loss) else " (NOT FINITE)") + "\n" + summary_text(model)
            + (features_report(splits) if splits.pipeline is not None else ""))


def feature_widths(pipe: Any) -> str:
    """'bill_length_mm 1 + island 4 (one-hot) + ... = 11 values' for a pipeline's numeric input."""
    parts = []
    for f in pipe.features:
        if f.group != "numeric":
            continue
        how = {"category": " (one-hot)", "text": " (bag of words)"}.get(f.type, "")
        if f.type == "numeric" and f.width == 2:
            how = " (with missing indicator)"
        parts.append(f"{f.name} {f.width}{how}")
    total = sum(f.width for f in pipe.features if f.group == "numeric")
    text = " + ".join(parts) + f" = {total} values" if parts else ""
    others = [f"{name} {list(shape)} {dtype}" for name, (shape, dtype) in pipe.groups().items() if name != "numeric"]
    return "; ".join(([f"numeric: {text}"] if text and others else [text] if text else []) + others)


def features_report(splits: Any) -> str:
    """The fitted features as a data.features block to paste into the config, inferred ones marked."""
    pipe = splits.pipeline
    meta = splits.meta
    lines = ["", "features (types marked 'inferred' were not declared; paste this block into data: to fix them):"]
    block = pipe.inferred_yaml().rstrip("\n").splitlines()
    for ln in block:
        name = ln.strip().split(":", 1)[0]
        why = pipe.inferred.get(name)
        lines.append("  " + ln + (f"   # inferred: {why}" if why and ln.startswith("  ") else ""))
    lines.append(f"model input: {feature_widths(pipe)}")
    for f in pipe.features:
        if f.group != "numeric" and hasattr(f, "n_ids"):
            lines.append(f"{f.name}: ids 0..{f.n_ids - 1} (embedding input_dim {f.n_ids})")
    lay = pipe.layout()
    if len(lay) > 1:
        lines.append("feature columns (for model.inputs columns: 'start:stop'): "
                     + ", ".join(f"{name} '{a}:{b}'" for name, a, b in lay))
    if meta.get("dropped_rows"):
        lines.append(f"dropped {meta['dropped_rows']} training row(s) with gaps (missing: drop_row)")
    return "\n".join(lines) + "\n"
