"""``tf.train.Saver`` and the checkpoint-state helpers, on nnctl's own safe checkpoint format.

A TF1 program calls ``saver.save(sess, "dir/model.ckpt", global_step=n)`` and gets the prefix
``dir/model.ckpt-n`` back; nnctl writes, with TensorFlow's file names so that programs testing for
them keep working:

* ``<prefix>.data-00000-of-00001``: the variable values as an ``.npz`` (never pickled), arrays
  stored under ``v0, v1 ...``;
* ``<prefix>.index``: JSON naming each array's variable, shape and dtype, the SHA-256 of the data
  file, the global step, and a checksum of the JSON itself;
* ``dir/checkpoint``: TF's text state file (``model_checkpoint_path: "model.ckpt-n"`` and one
  ``all_model_checkpoint_paths:`` line per kept checkpoint), paths relative to ``dir``.

Every file is written atomically (data first, index last, then the state file), so an interrupted
save leaves the previous checkpoint intact. Restoring verifies both checksums and every variable's
shape and dtype, and names the damaged or mismatching file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import FailedPreconditionError, FileFormatError, NotFoundError
from nnctl.fileio import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_npz_bytes,
    npz_bytes,
    read_file_bytes,
    sha256_bytes,
)
from nnctl.graph.graph import GraphKeys, get_default_graph
from nnctl.train.checkpoint import _manifest_checksum

FORMAT = "nnctl-saver"
VERSION = 1
DATA_SUFFIX = ".data-00000-of-00001"
INDEX_SUFFIX = ".index"
STATE_FILE = "checkpoint"


def _var_name(v: Any) -> str:
    op = getattr(v, "op", None)
    if op is None:
        raise TypeError(f"Saver: {v!r} is not a variable")
    return op.name


def _saveables(var_list: Any) -> dict[str, Any]:
    """Checkpoint name -> variable, for None (all global variables), a list or a dict."""
    if var_list is None:
        g = get_default_graph()
        vs = g.get_collection(GraphKeys.GLOBAL_VARIABLES) + g.get_collection("saveable_objects")
        var_list = vs
    if isinstance(var_list, dict):
        out = {}
        for k, v in var_list.items():
            if not isinstance(k, str):
                raise TypeError(f"Saver: var_list dict keys must be checkpoint names (str), got {k!r}")
            out[k] = v
        return out
    out = {}
    for v in var_list:
        name = _var_name(v)
        if name in out and out[name] is not v:
            raise ValueError(f"At least two variables have the same name: {name}")
        out[name] = v
    return out


class Saver:
    """``tf.train.Saver``: save and restore variables (see the module docstring for the files)."""

    def __init__(self, var_list: Any = None, reshape: bool = False, sharded: bool = False, max_to_keep: int | None = 5,
                 keep_checkpoint_every_n_hours: float = 10000.0, name: str | None = None,
                 restore_sequentially: bool = False, saver_def: Any = None, builder: Any = None,
                 defer_build: bool = False, allow_empty: bool = False, write_version: int = 2,
                 pad_step_number: bool = False, save_relative_paths: bool = False, filename: str | None = None
                 ) -> None:
        self._var_list_arg = var_list
        self._vars = _saveables(var_list)
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._pad = pad_step_number
        self._last: list[str] = []   # prefixes this saver wrote and keeps, oldest first
        self._filename = filename

    @property
    def last_checkpoints(self) -> list[str]:
        return list(self._last)

    def _values(self, sess: Any) -> dict[str, np.ndarray]:
        store, be = sess.context.variables, sess.backend
        out = {}
        for name, v in self._vars.items():
            arr = store.values.get(_var_name(v))
            if arr is None:
                raise FailedPreconditionError(None, v.op, f"Attempting to save uninitialized value {_var_name(v)}; "
                                                          "run tf.global_variables_initializer() first")
            out[name] = np.array(be.to_host(arr))
        return out

    def save(self, sess: Any, save_path: str | os.PathLike, global_step: Any = None,
             latest_filename: str | None = None, meta_graph_suffix: str = "meta", write_meta_graph: bool = True,
             write_state: bool = True, strip_default_attrs: bool = False, save_debug_info: bool = False) -> str:
        """Write a checkpoint; returns its prefix (``save_path`` or ``save_path-<global_step>``)."""
        if sess is None:
            raise TypeError("Saver.save needs a Session")
        prefix = os.fspath(save_path)
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = int(np.asarray(sess.run(global_step)))
            step = int(global_step)
            prefix = f"{prefix}-{step:08d}" if self._pad else f"{prefix}-{step}"
        else:
            step = None
        folder = Path(prefix).parent
        if not folder.is_dir():
            raise NotFoundError(None, None, f"Failed to save checkpoint {prefix}: folder {folder} does not exist "
                                            "(create it with os.makedirs or tf.gfile.MakeDirs)")
        values = self._values(sess)
        names = sorted(values)
        data = npz_bytes({f"v{i}": values[n] for i, n in enumerate(names)})
        atomic_write_bytes(prefix + DATA_SUFFIX, data)
        index = {"format": FORMAT, "version": VERSION, "global_step": step, "data_sha256": sha256_bytes(data),
                 "variables": [{"name": n, "shape": list(values[n].shape), "dtype": values[n].dtype.name}
                               for n in names]}
        index["checksum"] = _manifest_checksum(index)
        atomic_write_json(prefix + INDEX_SUFFIX, index)
        if write_meta_graph:
            self._write_meta(sess, prefix + "." + meta_graph_suffix)
        if write_state:
            if prefix in self._last:
                self._last.remove(prefix)
            self._last.append(prefix)
            if self._max_to_keep:
                while len(self._last) > self._max_to_keep:
                    _remove_checkpoint(self._last.pop(0))
            update_checkpoint_state(str(folder), prefix, self._last, latest_filename)
        return prefix

    def _write_meta(self, sess: Any, path: str) -> None:
        # The graph for import_meta_graph. A graph with ops whose attributes cannot be written
        # (tf.cond / tf.while_loop subgraphs) gets no .meta: the checkpoint itself is complete.
        try:
            export_meta_graph(path, graph=sess.graph)
        except (TypeError, ValueError) as e:
            from nnctl import tf_logging
            tf_logging.warning("tf.train.Saver: no meta graph written for %s (%s)", path, e)

    def restore(self, sess: Any, save_path: str | os.PathLike | None) -> None:
        """Load every variable of this saver from the checkpoint ``save_path`` (a prefix)."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        values = read_checkpoint(os.fspath(save_path))
        load = {}
        for name, v in self._vars.items():
            if name not in values:
                raise NotFoundError(None, None, f"Key {name} not found in checkpoint {save_path} (it holds: "
                                                + ", ".join(sorted(values)) + ")")
            arr = values[name]
            want = tuple(v.static_shape or ()) if v.static_shape is not None else None
            if want is not None and (len(want) != arr.ndim
                                     or any(w is not None and w != a for w, a in zip(want, arr.shape))):
                raise InvalidCheckpoint(f"{save_path}: variable {name} has shape {list(arr.shape)} in the "
                                        f"checkpoint but {list(want)} in the graph")
            if arr.dtype != v.dtype.np:
                raise InvalidCheckpoint(f"{save_path}: variable {name} is {arr.dtype.name} in the checkpoint but "
                                        f"{v.dtype.name} in the graph")
            load[_var_name(v)] = arr
        sess.load_variable_values(load)

    def recover_last_checkpoints(self, checkpoint_paths: list[str]) -> None:
        self._last = [p for p in checkpoint_paths if checkpoint_exists(p)]

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time: list) -> None:
        self._last = [p for p, _ in last_checkpoints_with_time]

    def as_saver_def(self) -> Any:
        return self


class CheckpointNotFoundError(NotFoundError, ValueError):
    """No checkpoint at the given prefix (TF raises ValueError "not a valid checkpoint" here)."""


class InvalidCheckpoint(FileFormatError):
    """A checkpoint that does not fit the graph it is restored into (shape or dtype)."""


def _remove_checkpoint(prefix: str) -> None:
    for suffix in (DATA_SUFFIX, INDEX_SUFFIX, ".meta"):
        try:
            os.remove(prefix + suffix)
        except FileNotFoundError:
            pass


def read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Verify and read the checkpoint at ``prefix``: {variable name: array}. FileFormatError names the
    damaged file; NotFoundError when there is no checkpoint there."""
    ipath, dpath = prefix + INDEX_SUFFIX, prefix + DATA_SUFFIX
    if not os.path.exists(ipath):
        if os.path.isdir(prefix):
            raise CheckpointNotFoundError(None, None, f"{prefix} is a folder; pass a checkpoint prefix such as "
                                            "tf.train.latest_checkpoint(folder)")
        raise CheckpointNotFoundError(None, None, f"The passed save_path is not a valid checkpoint: no checkpoint "
                                                  f"at {prefix} ({ipath} not found)")
    raw = read_file_bytes(ipath, "checkpoint index")
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{ipath}: damaged checkpoint index (not valid JSON)") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise FileFormatError(f"{ipath}: not an nnctl checkpoint index (TensorFlow's own checkpoints cannot be "
                              "read; save with nnctl's tf.train.Saver)")
    if index.get("version") != VERSION:
        raise FileFormatError(f"{ipath}: checkpoint format version {index.get('version')!r} is not supported")
    if index.get("checksum") != _manifest_checksum(index):
        raise FileFormatError(f"{ipath}: checksum mismatch (damaged or modified)")
    data = read_file_bytes(dpath, "checkpoint data")
    if sha256_bytes(data) != index.get("data_sha256"):
        raise FileFormatError(f"{dpath}: SHA-256 does not match {os.path.basename(ipath)} (damaged or modified)")
    arrays = load_npz_bytes(data, source=dpath, what="checkpoint data")
    out = {}
    for i, entry in enumerate(index.get("variables") or []):
        a = arrays.get(f"v{i}")
        if a is None or not isinstance(entry, dict) or list(a.shape) != entry.get("shape"):
            raise FileFormatError(f"{dpath}: array {i} does not match the index")
        out[str(entry.get("name"))] = a
    return out


# --- the `checkpoint` state file -------------------------------------------------------------------

class CheckpointState:
    """What ``tf.train.get_checkpoint_state`` returns (TF's CheckpointState proto's two fields)."""

    def __init__(self, model_checkpoint_path: str, all_model_checkpoint_paths: list[str]) -> None:
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths)

    def __repr__(self) -> str:
        lines = [f'model_checkpoint_path: "{self.model_checkpoint_path}"']
        lines += [f'all_model_checkpoint_paths: "{p}"' for p in self.all_model_checkpoint_paths]
        return "\n".join(lines)


def _relative(folder: str, path: str) -> str:
    if os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder):
        return os.path.basename(path)
    return os.path.abspath(path)


def update_checkpoint_state(save_dir: str, model_checkpoint_path: str,
                            all_model_checkpoint_paths: list[str] | None = None,
                            latest_filename: str | None = None) -> None:
    """Write the ``checkpoint`` state file of ``save_dir`` atomically (TF's text format)."""
    paths = list(all_model_checkpoint_paths or [])
    if model_checkpoint_path not in paths:
        paths.append(model_checkpoint_path)
    state = CheckpointState(_relative(save_dir, model_checkpoint_path), [_relative(save_dir, p) for p in paths])
    atomic_write_text(os.path.join(save_dir, latest_filename or STATE_FILE), repr(state) + "\n")


_LINE = re.compile(r'^\s*(model_checkpoint_path|all_model_checkpoint_paths|[a-z_]+)\s*:\s*"(.*)"\s*$')


def get_checkpoint_state(checkpoint_dir: str | os.PathLike, latest_filename: str | None = None
                         ) -> CheckpointState | None:
    """``tf.train.get_checkpoint_state``: the parsed state file, paths joined to the folder; None if absent."""
    folder = os.fspath(checkpoint_dir)
    path = os.path.join(folder, latest_filename or STATE_FILE)
    if not os.path.isfile(path):
        return None
    text = read_file_bytes(path, "checkpoint state file").decode("utf-8", errors="replace")
    model, allp = None, []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise FileFormatError(f"{path}:{n}: not a checkpoint state line: {line.strip()[:80]!r}")
        key, val = m.group(1), m.group(2)
        full = val if os.path.isabs(val) else os.path.join(folder, val)
        if key == "model_checkpoint_path":
            model = full
        elif key == "all_model_checkpoint_paths":
            allp.append(full)
    if model is None:
        raise FileFormatError(f"{path}: no model_checkpoint_path line")
    return CheckpointState(model, allp)


def latest_checkpoint(checkpoint_dir: str | os.PathLike, latest_filename: str | None = None) -> str | None:
    """``tf.train.latest_checkpoint``: the newest checkpoint prefix in the folder, or None."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path


def checkpoint_exists(checkpoint_prefix: str | os.PathLike) -> bool:
    return os.path.isfile(os.fspath(checkpoint_prefix) + INDEX_SUFFIX)


def _prefix_of(ckpt_dir_or_file: str | os.PathLike) -> str:
    p = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(p):
        latest = latest_checkpoint(p)
        if latest is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given directory {p}")
        return latest
    return p


def list_variables(ckpt_dir_or_file: str | os.PathLike) -> list[tuple[str, list[int]]]:
    """``tf.train.list_variables``: (name, shape) of every variable in a checkpoint, sorted by name."""
    values = read_checkpoint(_prefix_of(ckpt_dir_or_file))
    return [(n, list(values[n].shape)) for n in sorted(values)]


def load_variable(ckpt_dir_or_file: str | os.PathLike, name: str) -> np.ndarray:
    """``tf.train.load_variable``: one variable's value from a checkpoint."""
    prefix = _prefix_of(ckpt_dir_or_file)
    values = read_checkpoint(prefix)
    if name.endswith(":0"):
        name = name[:-2]
    if name not in values:
        raise NotFoundError(None, None, f"Key {name} not found in checkpoint {prefix}")
    return values[name]


class CheckpointReader:
    """``tf.train.NewCheckpointReader(prefix)`` / ``tf.train.load_checkpoint``."""

    def __init__(self, prefix: str | os.PathLike) -> None:
        self._prefix = _prefix_of(prefix)
        self._values = read_checkpoint(self._prefix)

    def get_tensor(self, name: str) -> np.ndarray:
        if name not in self._values:
            raise NotFoundError(None, None, f"Key {name} not found in checkpoint {self._prefix}")
        return self._values[name].copy()

    def has_tensor(self, name: str) -> bool:
        return name in self._values

    def get_variable_to_shape_map(self) -> dict[str, list[int]]:
        return {n: list(a.shape) for n, a in self._values.items()}

    def get_variable_to_dtype_map(self) -> dict[str, Any]:
        from nnctl.dtypes import as_dtype
        return {n: as_dtype(a.dtype) for n, a in self._values.items()}


def NewCheckpointReader(filepattern: str | os.PathLike) -> CheckpointReader:  # noqa: N802 - TF's name
    return CheckpointReader(filepattern)


load_checkpoint = NewCheckpointReader



# --- meta graphs: the graph itself, for tf.train.import_meta_graph ----------------------------------

META_FORMAT = "nnctl-meta-graph"
META_KEY = "__meta__"


def _collection_items(graph: Any) -> dict[str, list]:
    from nnctl.graph.graph import Operation, Tensor
    from nnctl.ops.variables import Variable
    out: dict[str, list] = {}
    for key, items in graph._collections.items():
        enc = []
        for v in items:
            if isinstance(v, Variable):
                enc.append({"variable": v.op.name, "trainable": bool(v.trainable)})
            elif isinstance(v, Tensor):
                enc.append({"tensor": v.name})
            elif isinstance(v, Operation):
                enc.append({"op": v.name})
        if enc:
            out[str(key)] = enc
    return out


def export_meta_graph(filename: str | os.PathLike | None = None, graph: Any = None, **kwargs: Any) -> dict:
    """``tf.train.export_meta_graph``: write the graph and its collections to ``filename`` (an npz of
    the graph JSON, its constant arrays and a checksum); returns the JSON description."""
    from nnctl.export.serialize import graph_to_json
    g = graph if graph is not None else get_default_graph()
    spec, arrays = graph_to_json(g.get_operations())
    meta = {"format": FORMAT_META_VERSION[0], "version": FORMAT_META_VERSION[1], "graph": spec,
            "collections": _collection_items(g),
            "arrays_sha256": {k: sha256_bytes(np.ascontiguousarray(a).tobytes()) for k, a in arrays.items()}}
    meta["checksum"] = _manifest_checksum(meta)
    if filename is not None:
        body = json.dumps(meta, sort_keys=True, allow_nan=False).encode("utf-8")
        data = npz_bytes({META_KEY: np.frombuffer(body, dtype=np.uint8), **arrays})
        atomic_write_bytes(filename, data)
    return meta


FORMAT_META_VERSION = (META_FORMAT, 1)


def _read_meta(path: str) -> tuple[dict, dict[str, np.ndarray]]:
    data = read_file_bytes(path, "meta graph")
    arrays = load_npz_bytes(data, source=path, what="meta graph")
    raw = arrays.pop(META_KEY, None)
    if raw is None or raw.dtype != np.uint8:
        raise FileFormatError(f"{path}: not an nnctl meta graph (TensorFlow's .meta files cannot be read)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FileFormatError(f"{path}: damaged meta graph (not valid JSON)") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise FileFormatError(f"{path}: not an nnctl meta graph")
    if meta.get("version") != FORMAT_META_VERSION[1]:
        raise FileFormatError(f"{path}: meta graph version {meta.get('version')!r} is not supported")
    if meta.get("checksum") != _manifest_checksum(meta):
        raise FileFormatError(f"{path}: checksum mismatch (damaged or modified)")
    sums = meta.get("arrays_sha256")
    if not isinstance(sums, dict) or set(sums) != set(arrays) or any(
            sha256_bytes(np.ascontiguousarray(arrays[k]).tobytes()) != v for k, v in sums.items()):
        raise FileFormatError(f"{path}: arrays do not match their checksums (damaged or modified)")
    return meta, arrays


def import_meta_graph(meta_graph_or_file: str | os.PathLike, clear_devices: bool = False,
                      import_scope: str | None = None, **kwargs: Any) -> Saver | None:
    """``tf.train.import_meta_graph``: add the graph saved next to a checkpoint (``<prefix>.meta``) to
    the default graph, with its variables and collections, and return a Saver for its variables."""
    from nnctl.export.serialize import GraphFormatError, graph_from_json
    from nnctl.ops.variables import Variable
    if import_scope:
        raise NotImplementedError("import_meta_graph(import_scope=...) is not supported by nnctl yet")
    path = os.fspath(meta_graph_or_file)
    meta, arrays = _read_meta(path)
    g = get_default_graph()
    before = len(g._ops)
    try:
        graph_from_json(meta["graph"], arrays, into=g)
    except GraphFormatError as e:
        raise FileFormatError(f"{path}: {e}") from None
    for op in g._ops[before:]:  # later ops and scopes get fresh names, as after TF's import
        parts = op.name.split("/")
        for i in range(1, len(parts) + 1):
            key = "/".join(parts[:i]).lower()
            g._names_in_use[key] = max(g._names_in_use.get(key, 0), 1)
    variables: dict[str, Variable] = {}
    for key, items in (meta.get("collections") or {}).items():
        for it in items:
            if "variable" in it:
                name = it["variable"]
                v = variables.get(name)
                if v is None:
                    v = variables[name] = _rebuild_variable(g, name, bool(it.get("trainable", True)))
                g.add_to_collection(key, v)
            elif "tensor" in it:
                g.add_to_collection(key, g.get_tensor_by_name(it["tensor"]))
            elif "op" in it:
                g.add_to_collection(key, g.get_operation_by_name(it["op"]))
    if not variables:
        return None
    return Saver(list(variables.values()))


def _rebuild_variable(g: Any, name: str, trainable: bool) -> Any:
    """A Variable object over the imported VariableV2, read and Assign nodes of ``name``."""
    from nnctl.ops.variables import Variable
    v = Variable.__new__(Variable)
    v._ref = g.get_operation_by_name(name).outputs[0]
    v._value = g.get_tensor_by_name(f"{name}/read:0")
    v._initializer = g.get_operation_by_name(f"{name}/Assign")
    v._initial_value = v._initializer.inputs[1]
    v._trainable = trainable
    v._graph = g
    return v
