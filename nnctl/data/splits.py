"""From a config's ``data`` section to ready arrays: load each source, hold out a validation split,
fit the preprocessing on the training rows only, and check labels against the task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnctl.data.csv_loader import ColumnError, load_csv
from nnctl.data.generators import generate
from nnctl.data.idx_loader import load_idx
from nnctl.data.npz_loader import load_npz
from nnctl.data.preprocess import Preprocessor, split_train_val
from nnctl.errors import DataError


@dataclass
class Split:
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Splits:
    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor
    feature_names: list[str] | None
    label_names: list[str] | None
    class_names: list[str] | None
    num_classes: int | None
    meta: dict[str, Any] = field(default_factory=dict)
    pipeline: Any = None              # FeaturePipeline of a table source (None for npz/idx/generators)
    augment: dict[str, Any] | None = None  # image augmentation of the training batches
    seed: int = 0

    def train_batch(self, idx: np.ndarray, step: int) -> np.ndarray:
        """The training inputs of one batch; augmented images are drawn from (seed, step), so the
        checkpointed step is the augmentation's whole random state."""
        x = self.train.x[idx]
        if self.augment:
            from nnctl.data.images import augment
            x = augment(x, self.augment, self.seed, step)
        return x

    def get(self, name: str) -> Split:
        s = getattr(self, name, None) if name in ("train", "val", "test") else None
        if s is None:
            raise DataError(f"this run has no '{name}' data split"
                            + (" (set data.val or data.val_split in the config)" if name == "val" else "")
                            + (" (set data.test in the config)" if name == "test" else ""))
        return s


def load_source(src: Any, data_cfg: Any, seed: int, class_names: list[str] | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Load one configured source (csv / npz / idx / generator). ``seed`` seeds a generator that
    has none of its own (the caller offsets it per split, so val is not a copy of train)."""
    lt = data_cfg.label_type
    nc = data_cfg.num_classes
    if src.kind == "csv":
        return load_csv(src.path, features=src.features, labels=src.labels, label_type=lt, num_classes=nc,
                        class_names=class_names)
    if src.kind == "npz":
        return load_npz(src.path, x_key=src.x_key or "x", y_key=src.y_key or "y", label_type=lt, num_classes=nc)
    if src.kind == "idx":
        return load_idx(src.images, src.idx_labels, label_type=lt, num_classes=nc)
    if src.kind == "generator":
        kw: dict[str, Any] = {}
        for k in ("n", "noise", "classes"):
            v = getattr(src, k)
            if v is not None:
                kw[k] = v
        x, y, meta = generate(src.generator, seed=src.seed if src.seed is not None else seed, **kw)
        if lt == "real":
            y = y.astype(np.float32).reshape(-1, 1)
        return x, y, meta
    raise DataError(f"unknown data source kind {src.kind!r}")


def _load_at(cfg: Any, key: str, src: Any, seed: int, class_names: list[str] | None
             ) -> tuple[np.ndarray, np.ndarray, dict]:
    """load_source, with a column the config names reported at that config key and line."""
    try:
        return load_source(src, cfg.data, seed, class_names)
    except ColumnError as e:
        raise _column_error(cfg, key, src, e) from None


def _column_error(cfg: Any, key: str, src: Any, e: ColumnError) -> Exception:
    """A ColumnError at the config key that named the column (``data.train.features[1]``)."""
    field = "features" if e.what == "feature" else "labels"
    given = getattr(src, field, None)
    if not given:  # the default label column: the file itself is at fault
        return DataError(str(e))
    k = f"{key}.{field}" + (f"[{e.position}]" if isinstance(given, list) else "")
    return cfg.error(k, e.bare)


def load_splits(cfg: Any) -> Splits:
    """Train / val / test arrays for a config, preprocessed with a transform fitted on train."""
    d = cfg.data
    if d.tabular:
        from nnctl.data.tabular import load_table_splits
        try:
            return load_table_splits(cfg)
        except ColumnError as e:
            raise _column_error(cfg, "data.train", d.train, e) from None
    x, y, meta = _load_at(cfg, "data.train", d.train, cfg.seed, d.class_names)
    class_names = d.class_names or meta.get("class_names")
    val = test = None
    if d.val is not None:
        xv, yv, _ = _load_at(cfg, "data.val", d.val, cfg.seed + 1, class_names)
        val = Split(xv, yv)
    elif d.val_split > 0:
        if len(x) < 2:
            raise DataError(f"data.val_split={d.val_split}: the training data has only {len(x)} example(s)")
        x, y, xv, yv = split_train_val(x, y, d.val_split, seed=cfg.seed)
        val = Split(xv, yv)
    if d.test is not None:
        xt, yt, _ = _load_at(cfg, "data.test", d.test, cfg.seed + 2, class_names)
        test = Split(xt, yt)
    if len(x) == 0:
        raise DataError("the training split is empty")

    num_classes = None
    if d.label_type in ("class", "onehot"):
        seen = [int(s.y.max()) + 1 for s in (Split(x, y), val, test) if s is not None and len(s)]
        num_classes = d.num_classes or max(seen + [meta.get("num_classes") or 0, len(class_names or [])])
        num_classes = max(num_classes, 2)
    pre = Preprocessor(d.preprocess, d.scale_factor)
    x = pre.fit_transform(x)
    train = Split(x, y)
    if val is not None:
        val = Split(pre.transform(val.x), val.y)
    if test is not None:
        test = Split(pre.transform(test.x), test.y)
    for name, s in (("val", val), ("test", test)):
        if s is not None and s.x.shape[1:] != train.x.shape[1:]:
            raise DataError(f"data.{name}: examples have shape {s.x.shape[1:]}, but data.train has "
                            f"{train.x.shape[1:]}")
    return Splits(train=train, val=val, test=test, preprocessor=pre, feature_names=meta.get("feature_names"),
                  label_names=meta.get("label_names"), class_names=class_names, num_classes=num_classes,
                  meta=meta)
