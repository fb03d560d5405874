"""Graphs of layers in YAML: named inputs, merges, several model inputs, blocks, and the config
errors (exit code 2 at file:line, naming the layers and shapes) for broken graphs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnctl.builder import build_model
from nnctl.config import config_to_dict, load_config
from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "datasets" / "digits.csv.gz"

HEAD = f"""\
name: g
seed: 0
data:
  train: {{csv: {DIGITS}, labels: [label]}}
  val_split: 0.2
  preprocess: scale
  scale_factor: 0.0625
loss: cross_entropy
optimizer: {{name: adam, lr: 0.01}}
train: {{steps: 3, batch_size: 16, eval_every: 3, checkpoint_every: 3}}
"""


def write(tmp_path: Path, model: str) -> Path:
    p = tmp_path / "g.yaml"
    p.write_text(HEAD + "model:\n" + textwrap.indent(textwrap.dedent(model).strip("\n"), "  ") + "\n")
    return p


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def expect_exit2(path: Path, *needles: str) -> str:
    code, out, err = run_cli("validate", path)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    for n in needles:
        assert n in err, f"{n!r} not in {err!r}"
    return err


RESIDUAL = """
input_shape: [8, 8, 1]
layers:
  - {type: conv2d, name: stem, filters: 4, activation: relu}
  - {type: conv2d, name: c1, filters: 4}
  - {type: add, name: sum, inputs: [stem, c1]}
  - {type: global_avg_pool, name: gap}
  - {type: dense, name: out, units: 10}
"""


def test_residual_graph_builds_and_reads_by_name(tmp_path):
    cfg = load_config(write(tmp_path, RESIDUAL))
    assert [la.inputs for la in cfg.model.layers] == [("input",), ("stem",), ("stem", "c1"), ("sum",), ("gap",)]
    model = build_model(cfg, (64,), 10)
    assert [li.output_shape for li in model.layers][2] == (None, 8, 8, 4)
    code, out, err = run_cli("validate", tmp_path / "g.yaml")
    assert code == 0, err
    assert re.search(r"sum\s+add\s+\(\?, 8, 8, 4\)\s+0\s+stem, c1", out)


def test_cycle_is_reported_with_its_path(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: a, units: 8, inputs: [input]}
      - {type: dense, name: b, units: 8, inputs: c}
      - {type: dense, name: c, units: 8, inputs: b}
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'name: b,')}:", "model.layers[1].inputs", "cycle: b -> c -> b")


def test_forward_reference(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: a, units: 8, inputs: out}
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'name: a,')}:", "'a' reads 'out', which is defined later at model.layers[1]")


def test_unknown_reference_suggests_a_name(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: hidden, units: 8}
      - {type: dense, name: out, units: 10, inputs: hiden}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'hiden')}:", "unknown layer or input 'hiden'", "did you mean 'hidden'")


def test_merge_shape_mismatch_names_layers_and_shapes(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: a, units: 8, inputs: input}
      - {type: dense, name: b, units: 6, inputs: input}
      - {type: add, name: sum, inputs: [a, b]}
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'name: sum')}:", "add layer 'sum'", "'a' (?, 8) vs 'b' (?, 6)")


def test_concat_mismatch(tmp_path):
    p = write(tmp_path, """
    input_shape: [8, 8, 1]
    layers:
      - {type: conv2d, name: a, filters: 4, inputs: input}
      - {type: max_pool, name: b, inputs: a}
      - {type: concat, name: cat, inputs: [a, b]}
      - flatten
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, "concat layer 'cat'", "'a' (?, 8, 8, 4) vs 'b' (?, 4, 4, 4)")


def test_unused_layer_and_input(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: a, units: 8}
      - {type: dense, name: side, units: 8, inputs: a}
      - {type: dense, name: out, units: 10, inputs: a}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'name: side')}:", "layer 'side' is not used")
    p = write(tmp_path, """
    inputs:
      - {name: left, shape: [32], columns: '0:32'}
      - {name: right, shape: [32], columns: '32:64'}
    layers:
      - {type: dense, name: out, units: 10, inputs: left}
    """)
    expect_exit2(p, "model input 'right' is not used")


def test_merge_needs_two_inputs(tmp_path):
    p = write(tmp_path, """
    input_shape: [64]
    layers:
      - {type: dense, name: a, units: 10}
      - {type: add, name: sum}
    """)
    expect_exit2(p, f"g.yaml:{line_of(p, 'name: sum')}:", "add layer 'sum' takes at least 2 input(s), got 1")


def test_several_inputs_need_named_inputs_and_columns(tmp_path):
    p = write(tmp_path, """
    inputs:
      - {name: left, shape: [32], columns: '0:32'}
      - {name: right, shape: [32]}
    layers:
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, "model.inputs[1]", "add columns")
    p = write(tmp_path, """
    inputs:
      - {name: left, shape: [32], columns: '0:32'}
      - {name: right, shape: [32], columns: '32:64'}
    layers:
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, "'out' must name its `inputs`")
    p = write(tmp_path, """
    inputs:
      - {name: left, shape: [4, 8], columns: '0:32'}
      - {name: right, shape: [32], columns: '48:80'}
    layers:
      - {type: flatten, name: f, inputs: left}
      - {type: concat, name: cat, inputs: [f, right]}
      - {type: dense, name: out, units: 10}
    """)
    expect_exit2(p, "model.inputs[1].columns", "reads feature column 79", "64 feature(s)")


MULTI = """
inputs:
  - {name: top, shape: [4, 8], columns: '0:32'}
  - {name: bottom, shape: [32], columns: [COLS]}
layers:
  - {type: flatten, name: f, inputs: top}
  - {type: dense, name: a, units: 8, activation: relu}
  - {type: dense, name: b, units: 8, activation: relu, inputs: bottom}
  - {type: concat, name: cat, inputs: [a, b]}
  - {type: dense, name: out, units: 10}
""".replace("COLS", ", ".join(str(i) for i in range(63, 31, -1)))


def test_several_inputs_read_their_columns(tmp_path):
    import nnctl as tf
    cfg = load_config(write(tmp_path, MULTI))
    model = build_model(cfg, (64,), 10)
    x = np.arange(128, dtype=np.float32).reshape(2, 64)
    with tf.Session(graph=model.graph) as sess:
        top, bottom = sess.run([model.inputs["top"], model.inputs["bottom"]], {model.x: x})
    np.testing.assert_array_equal(top, x[:, :32].reshape(2, 4, 8))
    np.testing.assert_array_equal(bottom, x[:, 63:31:-1])


BLOCKS = """
input_shape: [8, 8, 1]
blocks:
  res:
    - {type: conv2d, name: c1, filters: 4, activation: relu}
    - {type: conv2d, name: c2, filters: 4}
    - {type: add, name: sum, inputs: [in, c2]}
layers:
  - {type: conv2d, name: stem, filters: 4}
  - {block: res, name: stage, repeat: 3}
  - {type: global_avg_pool, name: gap, inputs: stage}
  - {type: dense, name: out, units: 10}
"""


def test_repeated_block_has_variables_per_repetition(tmp_path):
    cfg = load_config(write(tmp_path, BLOCKS))
    names = [la.name for la in cfg.model.layers]
    assert names[:4] == ["stem", "stage_1/c1", "stage_1/c2", "stage_1/sum"]
    assert cfg.model.layer("stage_2/sum").inputs == ("stage_1/sum", "stage_2/c2")
    assert cfg.model.layer("gap").inputs == ("stage_3/sum",)
    model = build_model(cfg, (64,), 10)
    kernels = [v.op.name for v in model.graph.get_collection("trainable_variables") if v.op.name.endswith("kernel")]
    assert kernels == ["stem/kernel"] + [f"stage_{r}/{c}/kernel" for r in (1, 2, 3) for c in ("c1", "c2")] + \
        ["out/kernel"]


def test_block_errors(tmp_path):
    p = write(tmp_path, BLOCKS.replace("block: res,", "block: rse,"))
    expect_exit2(p, "unknown block 'rse'", "did you mean 'res'")
    p = write(tmp_path, BLOCKS.replace("inputs: [in, c2]", "inputs: [in, c3]"))
    expect_exit2(p, f"g.yaml:{line_of(p, 'c3')}:", "block 'res'", "unknown layer or input 'c3'")
    p = write(tmp_path, BLOCKS.replace("filters: 4}\n    - {type: add", "filters: 6}\n    - {type: add"))
    expect_exit2(p, "add layer 'stage_1/sum' (repetition 1 of the block layer at model.blocks.res[2])",
                 "'in' (?, 8, 8, 4) vs 'stage_1/c2' (?, 8, 8, 6)".replace("'in'", "'stem'"))


@pytest.mark.parametrize("model", [RESIDUAL, MULTI, BLOCKS])
def test_graph_configs_round_trip(tmp_path, model):
    cfg = load_config(write(tmp_path, model))
    other = tmp_path / "again"
    other.mkdir()
    p = other / "g.yaml"
    p.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    assert load_config(p) == cfg


def test_output_names_a_layer(tmp_path):
    p = write(tmp_path, RESIDUAL + "output: gap\n")
    expect_exit2(p, "layer 'out' is not used")
    p = write(tmp_path, RESIDUAL + "output: nowhere\n")
    expect_exit2(p, "model.output", "unknown layer or input 'nowhere'")
