"""Tests for nnctl.config: every class of config mistake gives file:line, the dotted key, exit code 2."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.config import (
    Config,
    ConfigError,
    Initializer,
    config_to_dict,
    load_config,
    parse_config_text,
)

XOR = """\
name: xor
seed: 0
data:
  train:
    csv: datasets/xor.csv
    features: [x1, x2]
    labels: [y]
  label_type: class
model:
  input_shape: [2]
  layers:
    - type: dense
      units: 3
      activation: sigmoid
      initializer: {name: uniform, min: 0.1, max: 0.9}
      bias_initializer: {name: uniform, min: 0.1, max: 0.9}
    - type: dense
      units: 1
      activation: sigmoid
      initializer: {name: uniform, min: 0.1, max: 0.9}
      bias_initializer: {name: uniform, min: 0.1, max: 0.9}
loss:
  type: sum_squares
optimizer:
  name: sgd
  lr: 1.0
train:
  steps: 500
  batch_size: full
metrics: [accuracy]
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "xor.csv").write_text("x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    return tmp_path


def write(root: Path, text: str, name: str = "cfg.yaml") -> Path:
    p = root / name
    p.write_text(text)
    return p


def line_with(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


def replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def expect_error(path: Path | str, line: int | None, key: str | None, *fragments: str,
                 overrides: list[str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    e = info.value
    msg = str(e)
    assert e.exit_code == 2
    if line is not None:
        assert f"{path}:{line}:" in msg, msg
        assert e.line == line
    if key is not None:
        assert e.key == key, msg
        assert key in msg
    for frag in fragments:
        assert frag in msg, msg
    return e


# --- the valid config ----------------------------------------------------------------------------

def test_xor_config_loads_with_defaults(root: Path) -> None:
    cfg = load_config(write(root, XOR))
    assert cfg.name == "xor" and cfg.backend == "numpy"
    assert cfg.source_path == root / "cfg.yaml" and cfg.base_dir == root
    assert cfg.data.train.kind == "csv" and cfg.data.train.path == (root / "datasets" / "xor.csv").resolve()
    assert cfg.data.train.features == ["x1", "x2"] and cfg.data.train.labels == ["y"]
    assert cfg.model.input_shape == (2,)
    first = cfg.model.layers[0]
    assert (first.name, first.units, first.use_bias) == ("dense_0", 3, True)
    assert first.initializer == Initializer("uniform", {"min": 0.1, "max": 0.9})
    assert cfg.model.layers[1].name == "dense_1"
    assert cfg.train.steps == 500 and cfg.train.epochs is None and cfg.train.batch_size == "full"
    assert (cfg.train.eval_every, cfg.train.checkpoint_every, cfg.train.keep_last, cfg.train.log_every) == \
        (100, 100, 3, 10)
    assert cfg.optimizer.schedule.type == "constant" and cfg.optimizer.beta1 is None
    assert cfg.metrics == ["accuracy"]
    assert cfg.line_of("model.layers[1]") == line_with(XOR, "- type: dense", 2)
    assert cfg.line_of("model.layers[1].units") == line_with(XOR, "units: 1")
    # A key the file does not write falls back to its nearest written parent.
    assert cfg.line_of("model.layers[1].use_bias") == line_with(XOR, "- type: dense", 2)


def test_defaults_when_train_and_metrics_absent(root: Path) -> None:
    text = XOR.split("train:\n  steps")[0].replace("  label_type: class\n", "  label_type: real\n")
    cfg = load_config(write(root, text))
    assert cfg.train.epochs == 10 and cfg.train.steps is None and cfg.train.batch_size == 32
    assert cfg.metrics == ["mse"]


def test_optimizer_defaults_follow_tf1(root: Path) -> None:
    text = replace(XOR, "  name: sgd\n  lr: 1.0", "  name: adam\n  lr: 1e-3")   # 1e-3: a YAML 1.1 string
    cfg = load_config(write(root, text))
    o = cfg.optimizer
    assert (o.lr, o.beta1, o.beta2, o.epsilon, o.momentum) == (0.001, 0.9, 0.999, 1e-8, None)
    rms = load_config(write(root, replace(XOR, "name: sgd", "name: rmsprop"))).optimizer
    assert (rms.rho, rms.momentum, rms.epsilon) == (0.9, 0.0, 1e-10)
    ada = load_config(write(root, replace(XOR, "name: sgd", "name: adagrad"))).optimizer
    assert (ada.initial_accumulator_value, ada.epsilon) == (0.1, 1e-7)


def test_builder_can_locate_its_own_errors(root: Path) -> None:
    path = write(root, XOR)
    cfg = load_config(path)
    e = cfg.error("model.layers[1]", "shape mismatch")
    assert str(e) == f"{path}:{line_with(XOR, '- type: dense', 2)}: model.layers[1]: shape mismatch"
    assert e.exit_code == 2


def test_parse_config_text_uses_base_dir(root: Path) -> None:
    cfg = parse_config_text(XOR, base_dir=root)
    assert cfg.source_path is None and cfg.data.train.path == (root / "datasets/xor.csv").resolve()
    with pytest.raises(ConfigError) as info:
        parse_config_text(replace(XOR, "units: 3", "units: 0"), base_dir=root)
    assert str(info.value).startswith(f"<string>:{line_with(XOR, 'units: 3')}: model.layers[0].units:")


# --- one test per class of mistake ---------------------------------------------------------------

def test_unknown_key_suggests_close_match(root: Path) -> None:
    text = replace(XOR, "  lr: 1.0", "  lrr: 1.0")
    expect_error(write(root, text), line_with(text, "lrr:"), "optimizer.lrr",
                 "unknown key 'lrr'", "did you mean 'lr'?")


def test_unknown_key_without_close_match_lists_valid_keys(root: Path) -> None:
    text = replace(XOR, "\ntrain:\n", "\ntrain:\n  zzzz: 1\n")
    expect_error(write(root, text), line_with(text, "zzzz"), "train.zzzz",
                 "valid keys here: steps, epochs, batch_size")


def test_unknown_layer_key_is_found_before_missing_required(root: Path) -> None:
    text = replace(XOR, "      units: 3", "      unit: 3")
    expect_error(write(root, text), line_with(text, "unit: 3"), "model.layers[0].unit",
                 "did you mean 'units'?")


def test_key_of_another_variant_does_not_apply(root: Path) -> None:
    text = replace(XOR, "  lr: 1.0", "  lr: 1.0\n  beta1: 0.9")
    expect_error(write(root, text), line_with(text, "beta1"), "optimizer.beta1",
                 "'beta1' does not apply to optimizer 'sgd'", "adam")
    text = replace(XOR, "      units: 3", "      filters: 3")
    expect_error(write(root, text), line_with(text, "filters"), "model.layers[0].filters",
                 "does not apply to a dense layer")
    text = replace(XOR, "  lr: 1.0", "  lr: 1.0\n  schedule: {type: step, decay_steps: 10}")
    expect_error(write(root, text), line_with(text, "schedule"), "optimizer.schedule.decay_steps",
                 "does not apply to schedule 'step'")


def test_wrong_type(root: Path) -> None:
    text = replace(XOR, "units: 1", 'units: "three"')
    expect_error(write(root, text), line_with(text, "three"), "model.layers[1].units",
                 "expected an integer", "got string 'three'")


def test_bool_is_not_an_int(root: Path) -> None:
    text = replace(XOR, "steps: 500", "steps: yes")
    expect_error(write(root, text), line_with(text, "steps:"), "train.steps", "got boolean true")


def test_wrong_enum_suggests(root: Path) -> None:
    text = replace(XOR, "activation: sigmoid", "activation: sigmiod")
    expect_error(write(root, text), line_with(text, "sigmiod"), "model.layers[0].activation",
                 "did you mean 'sigmoid'?")


@pytest.mark.parametrize("value", ["1", "0.5", "1e-3", "1/16", "2"])
def test_numbers_and_numeric_strings_accepted_for_floats(root: Path, value: str) -> None:
    cfg = load_config(write(root, replace(XOR, "lr: 1.0", f"lr: {value}")))
    assert isinstance(cfg.optimizer.lr, float)
    assert math.isclose(cfg.optimizer.lr, float(eval(value)))


@pytest.mark.parametrize("old,new,key,expected", [
    ("lr: 1.0", "lr: 0", "optimizer.lr", "> 0"),
    ("lr: 1.0", "lr: -1e-3", "optimizer.lr", "> 0"),
    ("lr: 1.0", "lr: .nan", "optimizer.lr", "not finite"),
    ("units: 3", "units: 0", "model.layers[0].units", "[1, 1000000]"),
    ("batch_size: full", "batch_size: 0", "train.batch_size", ">= 1"),
    ("steps: 500", "steps: 0", "train.steps", ">= 1"),
    ("steps: 500", "steps: 500\n  keep_last: 0", "train.keep_last", ">= 1"),
    ("label_type: class", "label_type: class\n  val_split: 1.0", "data.val_split", "[0, 1)"),
    ("seed: 0", "seed: -1", "seed", "[0, 4294967295]"),
    ("  type: sum_squares", "  type: sum_squares\n  l2: -0.1", "loss.l2", "[0, 1000000]"),
    ("\nloss:", "\n    - {type: dropout, rate: 1.0}\nloss:", "model.layers[2].rate", "[0, 1)"),
])
def test_out_of_range(root: Path, old: str, new: str, key: str, expected: str) -> None:
    text = replace(XOR, old, new)
    needle = next(ln for ln in new.splitlines() if ln.strip() and ln.strip() not in XOR).strip()
    e = expect_error(write(root, text), line_with(text, needle), key, expected)
    assert "out of range" in str(e) or "not finite" in str(e)


def test_missing_required_key_points_at_parent(root: Path) -> None:
    text = replace(XOR, "      units: 3\n", "")
    expect_error(write(root, text), line_with(text, "- type: dense"), "model.layers[0].units",
                 "missing required key 'units'")
    text = replace(XOR, "  lr: 1.0\n", "")
    expect_error(write(root, text), line_with(text, "optimizer:"), "optimizer.lr",
                 "missing required key 'lr'")
    text = replace(XOR, "name: xor\n", "")
    expect_error(write(root, text), 1, "name", "missing required key 'name'")


def test_invalid_yaml_reports_line_and_column(root: Path) -> None:
    text = replace(XOR, "  lr: 1.0", "  lr: [1.0")
    e = expect_error(write(root, text), None, None, "invalid YAML", "column")
    assert e.line is not None and e.line >= line_with(text, "lr: [1.0")
    text = replace(XOR, "  lr: 1.0", "\tlr: 1.0")
    expect_error(write(root, text), line_with(text, "\tlr"), None, "invalid YAML", "tabs")


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n"])
def test_empty_file(root: Path, text: str) -> None:
    expect_error(write(root, text), 1, None, "empty")


def test_top_level_must_be_a_mapping(root: Path) -> None:
    expect_error(write(root, "- name: xor\n- seed: 0\n"), 1, None, "top level must be a mapping", "a list")
    expect_error(write(root, "just text\n"), 1, None, "top level must be a mapping", "string")


def test_duplicate_key(root: Path) -> None:
    text = replace(XOR, "  lr: 1.0", "  lr: 1.0\n  lr: 0.5")
    expect_error(write(root, text), line_with(text, "lr: 0.5"), "optimizer.lr", "duplicate key 'lr'",
                 f"first on line {line_with(text, 'lr: 1.0')}")


def test_config_file_problems(root: Path) -> None:
    missing = root / "nope.yaml"
    expect_error(missing, None, None, "config file not found")
    expect_error(root, None, None, "is a directory")
    bad = root / "latin1.yaml"
    bad.write_bytes(XOR.encode() + b"class_names: [caf\xe9]\n")
    expect_error(bad, XOR.count("\n") + 1, None, "not UTF-8")


def test_missing_data_file(root: Path) -> None:
    text = replace(XOR, "datasets/xor.csv", "datasets/missing.csv")
    expect_error(write(root, text), line_with(text, "csv:"), "data.train.csv",
                 f"file not found: {(root / 'datasets' / 'missing.csv').resolve()}")
    text = replace(XOR, "datasets/xor.csv", "datasets")
    expect_error(write(root, text), line_with(text, "csv:"), "data.train.csv", "found a directory")


def test_data_paths_resolve_against_config_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = root / "configs"
    sub.mkdir()
    path = write(sub, replace(XOR, "datasets/xor.csv", "../datasets/xor.csv"))
    monkeypatch.chdir(sub / "..")
    assert load_config(path).data.train.path == (root / "datasets" / "xor.csv").resolve()


def test_steps_and_epochs_are_exclusive(root: Path) -> None:
    text = replace(XOR, "steps: 500", "steps: 500\n  epochs: 3")
    expect_error(write(root, text), line_with(text, "epochs"), "train.epochs", "mutually exclusive")


def test_two_data_sources_are_exclusive(root: Path) -> None:
    text = replace(XOR, "    csv: datasets/xor.csv", "    csv: datasets/xor.csv\n    generator: xor")
    expect_error(write(root, text), line_with(text, "generator"), "data.train.generator",
                 "'csv' and 'generator' are mutually exclusive")


def test_path_with_a_nul_character_is_a_config_error(root: Path) -> None:
    # found by test_mutated_configs_fail_cleanly: os.path.realpath raised ValueError (a traceback)
    text = replace(XOR, "    csv: datasets/xor.csv", '    csv: "datasets/x\\0or.csv"')
    expect_error(write(root, text), line_with(text, "csv:"), "data.train.csv", "NUL character")


def test_no_data_source(root: Path) -> None:
    text = replace(XOR, "    csv: datasets/xor.csv", "    cvs: datasets/xor.csv")
    expect_error(write(root, text), line_with(text, "cvs"), "data.train.cvs", "did you mean 'csv'?")


@pytest.mark.parametrize("init,key,fragment", [
    ("{name: uniform, min: 0.9, max: 0.1}", "max", "min < max"),
    ("{name: normal, stddev: 0}", "stddev", "(0, 1000000]"),
    ("{name: normal, stdev: 0.1}", "stdev", "did you mean 'stddev'?"),
    ("{name: uniform, value: 0.1}", "value", "does not apply to initializer 'uniform'"),
    ("{name: unifrom}", "name", "did you mean 'uniform'?"),
    ("{min: 0.1}", "name", "missing required key 'name'"),
    ("constant", None, "needs a value"),
])
def test_initializer_params(root: Path, init: str, key: str | None, fragment: str) -> None:
    text = replace(XOR, "initializer: {name: uniform, min: 0.1, max: 0.9}", f"initializer: {init}")
    full = "model.layers[0].initializer" + (f".{key}" if key else "")
    expect_error(write(root, text), line_with(text, f"initializer: {init}"), full, fragment)


def test_initializer_forms(root: Path) -> None:
    text = replace(XOR, "initializer: {name: uniform, min: 0.1, max: 0.9}", "initializer: normal")
    text = replace(text, "bias_initializer: {name: uniform, min: 0.1, max: 0.9}",
                   "bias_initializer: {name: constant, value: 0.1}")
    layer = load_config(write(root, text)).model.layers[0]
    assert layer.initializer == Initializer("normal", {"mean": 0.0, "stddev": 0.05})
    assert layer.bias_initializer == Initializer("constant", {"value": 0.1})


def test_unsafe_yaml_tags_are_rejected(root: Path) -> None:
    text = replace(XOR, "name: xor", "name: !!python/object/apply:os.system [echo hi]")
    expect_error(write(root, text), 1, "name", "unsupported YAML tag")


def test_alias_bomb_is_refused(root: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        prev = chr(ord("a") + i - 1)
        bomb += f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    expect_error(write(root, bomb), None, None, "too large")


def test_anchors_and_merge_keys_work(root: Path) -> None:
    text = replace(XOR, "    - type: dense\n      units: 3",
                   "    - &hidden\n      type: dense\n      units: 3")
    text = replace(text, "    - type: dense\n      units: 1", "    - <<: *hidden\n      units: 1")
    cfg = load_config(write(root, text))
    assert [la.units for la in cfg.model.layers] == [3, 1]
    assert cfg.model.layers[1].activation == "sigmoid"


# --- cross-checks and names ----------------------------------------------------------------------

def test_cross_entropy_needs_class_labels(root: Path) -> None:
    text = replace(XOR, "label_type: class", "label_type: real")
    text = replace(text, "type: sum_squares", "type: cross_entropy")
    expect_error(write(root, text), line_with(text, "cross_entropy"), "loss.type", "label_type")


def test_accuracy_needs_class_labels(root: Path) -> None:
    text = replace(XOR, "label_type: class", "label_type: real")
    expect_error(write(root, text), line_with(text, "metrics:"), "metrics[0]",
                 "'accuracy' needs class labels")


def test_binary_cross_entropy_needs_one_output(root: Path) -> None:
    text = replace(XOR, "type: sum_squares", "type: binary_cross_entropy")
    load_config(write(root, text))
    text = replace(text, "units: 1", "units: 3")
    expect_error(write(root, text), line_with(text, "binary_cross_entropy"), "loss.type", "single output")
    text = replace(text, "label_type: class", "label_type: class\n  num_classes: 2")
    with pytest.raises(ConfigError, match="num_classes is 2"):
        load_config(write(root, text))   # 3 outputs for 2 classes is still wrong, on other grounds


def test_single_output_is_binary(root: Path) -> None:
    text = replace(XOR, "label_type: class", "label_type: class\n  num_classes: 3")
    expect_error(write(root, text), line_with(text, "units: 1"), "model.layers[1].units",
                 "binary classifier (thresholded at 0.5)")


def test_layer_names(root: Path) -> None:
    text = replace(XOR, "      units: 3", "      units: 3\n      name: dense_1")
    expect_error(write(root, text), line_with(text, "- type: dense", 2), "model.layers[1]",
                 "default name 'dense_1' is already used by model.layers[0]")
    text = replace(XOR, "      units: 3", "      units: 3\n      name: bad name")
    expect_error(write(root, text), line_with(text, "bad name"), "model.layers[0].name", "invalid name")


def test_early_stopping_checks(root: Path) -> None:
    text = replace(XOR, "batch_size: full", "batch_size: full\n  early_stopping: {patience: 3}")
    expect_error(write(root, text), line_with(text, "early_stopping"), "train.early_stopping",
                 "validation data")
    text = replace(text, "label_type: class", "label_type: class\n  val_split: 0.25")
    cfg = load_config(write(root, text))
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.mode == "min"
    text = replace(text, "{patience: 3}", "{patience: 3, metric: accuracy}")
    expect_error(write(root, text), line_with(text, "early_stopping"), "train.early_stopping.metric",
                 "did you mean 'val_accuracy'?")


def test_conv_layers(root: Path) -> None:
    text = replace(XOR, "input_shape: [2]", "input_shape: [8, 8, 1]")
    text = replace(text, "  layers:\n", "  layers:\n"
                   "    - {type: conv2d, filters: 4, kernel: [3, 2], padding: VALID}\n"
                   "    - {type: max_pool}\n    - flatten\n")
    cfg = load_config(write(root, text))
    conv, pool, flat = cfg.model.layers[:3]
    assert (conv.kernel, conv.stride, conv.padding) == ((3, 2), (1, 1), "valid")
    assert (pool.size, pool.stride, pool.padding, pool.name) == ((2, 2), (2, 2), "valid", "max_pool_1")
    assert flat.type == "flatten" and cfg.model.layers[3].name == "dense_3"


# --- overrides -----------------------------------------------------------------------------------

def test_set_good(root: Path) -> None:
    path = write(root, XOR)
    cfg = load_config(path, ["optimizer.lr=0.5", "model.layers[0].units=8", "model.layers.1.activation=tanh",
                             "train.log_every=5", "train.checkpoint_every=10"])
    assert cfg.optimizer.lr == 0.5 and cfg.model.layers[0].units == 8
    assert cfg.model.layers[1].activation == "tanh"
    assert cfg.train.log_every == 5 and cfg.train.checkpoint_every == 10
    # steps and epochs say one thing two ways: setting one replaces the other from the file.
    cfg = load_config(path, ["train.epochs=2"])
    assert cfg.train.epochs == 2 and cfg.train.steps is None


def test_set_unknown_path(root: Path) -> None:
    e = expect_error(write(root, XOR), None, "optimizer.lrr", "--set", "did you mean 'lr'?",
                     overrides=["optimizer.lrr=0.5"])
    assert e.file == "--set"
    e = expect_error(write(root, XOR), None, None, "optimzer.lr", "did you mean 'optimizer'?",
                     overrides=["optimzer.lr=0.5"])
    assert e.file == "--set"
    e = expect_error(write(root, XOR), None, None, "out of range", overrides=["model.layers[7].units=3"])
    assert e.file == "--set"


def test_set_bad_value_is_blamed_on_set(root: Path) -> None:
    e = expect_error(write(root, XOR), None, "optimizer.lr", "> 0", "--set optimizer.lr=-1",
                     overrides=["optimizer.lr=-1"])
    assert e.file == "--set" and e.line is None


@pytest.mark.parametrize("bad", ["optimizer.lr", "=3", "a..b=1", "model.layers[x].units=1", "x=[1"])
def test_set_malformed(root: Path, bad: str) -> None:
    e = expect_error(write(root, XOR), None, None, overrides=[bad])
    assert e.file == "--set"


# --- round trip ----------------------------------------------------------------------------------

BIG = """\
name: big-one
seed: 7
backend: numpy
data:
  train: {generator: spirals, n: 300, noise: 0.2, classes: 3}
  test: {csv: datasets/xor.csv}
  val_split: 0.2
  preprocess: scale
  scale_factor: 1/16
  label_type: onehot
  class_names: [a, b, c]
model:
  input_shape: [2]
  layers:
    - {type: dense, units: 16, activation: relu, initializer: he_normal, name: hidden}
    - {type: batch_norm}
    - {type: dropout, rate: 0.25}
    - {type: dense, units: 3, initializer: {name: truncated_normal, stddev: 0.1}, use_bias: false}
loss: {type: cross_entropy, l2: 1e-4}
optimizer:
  name: adamw
  lr: 3e-3
  clip_norm: 5
  schedule: {type: cosine, warmup_steps: 10, decay_steps: 500}
train:
  epochs: 5
  batch_size: 64
  early_stopping: {metric: val_accuracy, patience: 2}
metrics: [accuracy, mae]
"""


@pytest.mark.parametrize("text", [XOR, BIG])
def test_round_trip(root: Path, text: str) -> None:
    cfg = load_config(write(root, text))
    dumped = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    other = root / "elsewhere"
    other.mkdir()
    again = load_config(write(other, dumped))
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)


def test_big_config_values(root: Path) -> None:
    cfg = load_config(write(root, BIG))
    assert cfg.data.scale_factor == 1 / 16 and cfg.data.num_classes == 3
    assert cfg.data.train.seed == 7 and cfg.data.test is not None and cfg.data.test.labels is None
    assert cfg.optimizer.weight_decay == 0.01 and cfg.optimizer.clip_norm == 5.0
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.mode == "max"
    assert cfg.model.layers[3].use_bias is False and cfg.model.layers[1].momentum == 0.99


# --- property tests ------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _locations(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _locations(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _locations(v, (*path, i))
    return out


def _mutate(doc: dict, draw: Any) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        locs = _locations(doc)
        path = draw(st.sampled_from(locs))
        op = draw(st.sampled_from(["drop", "replace", "add"]))
        if not path:
            if op == "add":
                doc[draw(st.text(max_size=8))] = draw(_values)
            continue
        parent: Any = doc
        for p in path[:-1]:
            parent = parent[p]
        last = path[-1]
        if op == "drop":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(_values)
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=8))] = draw(_values)
        elif isinstance(parent[last], list):
            parent[last].append(draw(_values))
        else:
            parent[last] = draw(_values)
    return doc


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "datasets").mkdir()
    (root / "datasets" / "xor.csv").write_text("x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    return root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), base=st.sampled_from([XOR, BIG]))
def test_mutated_configs_fail_cleanly(fuzz_root: Path, data: st.DataObject, base: str) -> None:
    doc = _mutate(yaml.safe_load(base), data.draw)
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        cfg = parse_config_text(text, source="fuzz.yaml", base_dir=fuzz_root)
    except ConfigError as e:
        assert e.exit_code == 2
        assert e.line is not None or e.key, str(e)
        assert str(e).startswith("fuzz.yaml")
        return
    # Whatever validates must survive the round trip.
    assert isinstance(cfg, Config)
    again = parse_config_text(yaml.safe_dump(config_to_dict(cfg)), base_dir=fuzz_root)
    assert again == cfg


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    try:
        parse_config_text(text, source="t.yaml")
    except ConfigError as e:
        assert e.exit_code == 2 and str(e).startswith("t.yaml")


@settings(max_examples=200, deadline=None)
@given(ov=st.text(max_size=40))
def test_arbitrary_overrides_fail_cleanly(fuzz_root: Path, ov: str) -> None:
    try:
        parse_config_text(XOR, base_dir=fuzz_root, overrides=[ov])
    except ConfigError as e:
        assert e.exit_code == 2
        assert e.file in ("--set", "<string>")
