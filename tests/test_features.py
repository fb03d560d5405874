"""Typed tabular columns, image folders and text: reading, per-column preprocessing, the pipeline
carried into checkpoints and frozen files, raw-row predict, and the broken-data corpus (exit 2
naming file, line or column)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from nnctl.data.features import FeaturePipeline
from nnctl.data.table_reader import read_table, sniff_delimiter
from nnctl.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "datasets"))

CFG = """\
name: t
seed: 0
data:
  train:
    csv: {csv}
{source_extra}
  val_split: {val_split}
{data_extra}
model:
  input_shape: [{width}]
  layers:
    - {{type: dense, units: 8, activation: relu}}
    - {{type: dense, units: {out}}}
loss: {loss}
optimizer: {{name: adam, lr: 0.05}}
train: {{epochs: {epochs}, batch_size: 8, eval_every: 1000, checkpoint_every: 1000, log_every: 1000}}
metrics: [{metric}]
"""


def write_cfg(d: Path, csv: str | Path, width: int, *, out: int = 2, source_extra: str = "", data_extra: str = "",
              val_split: float = 0.0, loss: str = "cross_entropy", metric: str = "accuracy", epochs: int = 3) -> Path:
    p = d / "c.yaml"
    p.write_text(CFG.format(csv=csv, width=width, out=out, source_extra=source_extra, data_extra=data_extra,
                            val_split=val_split, loss=loss, metric=metric, epochs=epochs))
    return p


def one_error(code: int, out: str, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


TITANIC = (
    "PassengerId;Survived;Pclass;Name;Sex;Age;Fare;Embarked;Cabin\n"
    '1;no;3;"Braund, Mr. Owen Harris";male;22;7.25;S;\n'
    '2;yes;1;"Cumings, Mrs. John Bradley (Florence Briggs Thayer)";female;38;71.28;C;C85\n'
    '3;yes;3;"Heikkinen, Miss. Laina";female;26;7.92;S;\n'
    '4;yes;1;"Futrelle, Mrs. Jacques Heath (Lily May Peel)";female;35;53.1;S;C123\n'
    '5;no;3;"Allen, Mr. William Henry";male;35;8.05;S;\n'
    '6;no;3;"Moran, Mr. James";male;;8.46;Q;\n'
    '7;no;1;"McCarthy, Mr. Timothy J";male;54;51.86;S;E46\n'
    '8;no;3;"Palsson, Master. Gosta Leonard";male;2;21.07;S;\n'
)


# --- reading ------------------------------------------------------------------------------------

def test_delimiters_are_sniffed_or_given(tmp_path):
    assert sniff_delimiter("a;b;c\n1;2;3\n") == ";"
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"
    assert sniff_delimiter('a,"b;c"\n1,"x;y"\n') == ","
    assert sniff_delimiter("only\n1\n") == ","
    p = tmp_path / "t.tsv"
    p.write_text("x\ty\tlabel\n1\t2\ta\n3\t\tb\n")
    t = read_table(p)
    assert t.names == ["x", "y", "label"] and t.numeric_names == ["x", "y"]
    assert np.isnan(t.numeric[1, 1]) and t.strings["label"].to_pylist() == ["a", "b"]
    t2 = read_table(p, delimiter="\t")
    np.testing.assert_array_equal(t2.numeric, t.numeric)


def test_quotes_gzip_parquet_and_ragged_rows(tmp_path):
    p = tmp_path / "t.csv.gz"
    p.write_bytes(gzip.compress(TITANIC.encode()))
    t = read_table(p)
    assert t.strings["Name"].to_pylist()[0] == "Braund, Mr. Owen Harris"
    assert t.numeric_names == ["PassengerId", "Pclass", "Age", "Fare"]
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "s": ["x", "y", None]}), tmp_path / "t.parquet")
    tp = read_table(tmp_path / "t.parquet")
    assert tp.numeric_names == ["a"] and np.isnan(tp.numeric[1, 0]) and tp.strings["s"].to_pylist()[2] is None
    bad = tmp_path / "r.csv"
    bad.write_text("a;b;c\n1;2;3\n\n4;5\n6;7;8\n")
    with pytest.raises(DataError, match=r"r\.csv:4: expected 3 columns .*got 2"):
        read_table(bad)


def test_a_text_cell_far_down_a_numeric_column(tmp_path):
    rows = "".join(f"{i},{i % 2}\n" for i in range(30000)) + "oops,1\n"
    p = tmp_path / "big.csv"
    p.write_text("a,y\n" + rows)
    t = read_table(p)  # the sample says numeric; the reader switches the column to text and reads on
    assert t.kind("a") == "string" and t.n_rows == 30001
    with pytest.raises(DataError, match=r"big\.csv:30002: column 'a': expected a number, got 'oops'"):
        read_table(p, numeric=["a"])


# --- features -----------------------------------------------------------------------------------

def _pipeline(tmp_path: Path, text: str, specs: dict, labels=("y",)) -> tuple[FeaturePipeline, dict]:
    p = tmp_path / "f.csv"
    p.write_text(text)
    t = read_table(p, separate=list(labels))
    pipe = FeaturePipeline.from_specs(t, specs, list(labels), None).fit(t)
    return pipe, pipe.transform(t)


def test_numeric_strategies_scalings_and_indicator(tmp_path):
    text = "a,b,c,y\n1,10,0.5,0\n,20,1.5,1\n3,,2.5,0\n5,40,100,1\n"
    pipe, out = _pipeline(tmp_path, text, {
        "a": {"type": "numeric", "missing": "median", "scaling": "none", "missing_indicator": True},
        "b": {"type": "numeric", "missing": "constant", "fill": -1, "scaling": "minmax"},
        "c": {"type": "numeric", "scaling": "log1p", "clip": [0, 10]}})
    x = out["numeric"]
    np.testing.assert_allclose(x[:, 0], [1, 3, 3, 5])          # median of 1, 3, 5
    np.testing.assert_allclose(x[:, 1], [0, 1, 0, 0])          # the indicator
    np.testing.assert_allclose(x[:, 2], [11 / 41, 21 / 41, 0, 1], rtol=1e-6)  # (v - -1) / (40 - -1)
    np.testing.assert_allclose(x[:, 3], np.log1p([0.5, 1.5, 2.5, 10]), rtol=1e-6)
    again = FeaturePipeline.from_dict(json.loads(json.dumps(pipe.to_dict())))
    p = tmp_path / "f.csv"
    np.testing.assert_array_equal(again.transform(read_table(p, separate=["y"]))["numeric"], x)
    _, out = _pipeline(tmp_path, text, {"a": {"type": "numeric", "missing": "drop_row"}})
    assert pipe.numeric_columns()[:2] == ["a", "a_missing"]


def test_category_vocab_on_train_only_with_bucket_and_ids(tmp_path):
    text = "c,y\nred,0\nblue,1\nred,0\ngreen,1\nred,1\n"
    pipe, out = _pipeline(tmp_path, text, {"c": {"type": "category", "min_count": 2}})
    assert pipe.features[0].vocab == ["red"]
    np.testing.assert_array_equal(out["numeric"], [[0, 1], [1, 0], [0, 1], [1, 0], [0, 1]])
    pipe, out = _pipeline(tmp_path, text, {"c": {"type": "category", "encoding": "ids"}})
    assert list(out) == ["c"] and out["c"].dtype == np.int32 and out["c"].tolist() == [3, 1, 3, 2, 3]
    from nnctl.data.tabular import encode_rows
    assert pipe.layout() == [("c", 0, 1)]
    with pytest.raises(DataError, match="an image cannot share"):
        pipe.single_input({"numeric": np.zeros((1, 1)), "c": np.zeros((1, 8, 8, 1))})
    strict, _ = _pipeline(tmp_path, text, {"c": {"type": "category", "unknown": "error"}})
    with pytest.raises(DataError, match=r"row 2\): column 'c': unknown category 'purple'"):
        encode_rows([{"c": "red"}, {"c": "purple"}], strict)


def test_binary_and_text(tmp_path):
    text = 'b,t,y\nYes,"the cat sat",0\nno,"a dog ran far away",1\n,"the cat",0\n'
    pipe, out = _pipeline(tmp_path, text, {"t": {"type": "text", "encoding": "ids", "max_length": 3}})
    assert pipe.features[0].type == "binary" and pipe.features[0].values == ["no", "Yes"]
    np.testing.assert_array_equal(out["numeric"][:, 0], [1, 0, 0])
    ids = out["t"]
    assert ids.shape == (3, 3) and (ids[2, 2] == 0) and (ids > 0).sum() == 8  # padded, truncated to 3
    pipe, out = _pipeline(tmp_path, text, {"t": {"type": "text", "tokenizer": "character"}})
    assert "c" in pipe.features[1].vocab and out["numeric"].shape[1] == 1 + len(pipe.features[1].vocab) + 1


def test_inference_rules(tmp_path):
    from nnctl.data.features import infer_type
    p = tmp_path / "t.csv"
    p.write_text(TITANIC)
    t = read_table(p)
    kinds = {c: infer_type(t, c)[0] for c in t.names}
    assert kinds == {"PassengerId": "numeric", "Survived": "binary", "Pclass": "numeric", "Name": "text",
                     "Sex": "category", "Age": "numeric", "Fare": "numeric", "Embarked": "category",
                     "Cabin": "category"}


# --- end to end through the CLI -----------------------------------------------------------------

def test_titanic_like_train_validate_freeze_predict_raw_rows(tmp_path, capsys):
    csv = tmp_path / "titanic.csv"
    csv.write_text(TITANIC)
    cfg = write_cfg(tmp_path, csv, 17, source_extra="    labels: [Survived]",
                    data_extra="  features: {PassengerId: ignore, Cabin: ignore}")
    code, out, err = run_cli("validate", cfg)
    if code:  # the width of the one-hot/bag block is reported so the config can be fixed
        msg = one_error(code, out, err)
        assert "model.input_shape" in msg and "values" in msg
        width = int(msg.split("= ")[-1].split(" values")[0])
        cfg = write_cfg(tmp_path, csv, width, source_extra="    labels: [Survived]",
                        data_extra="  features: {PassengerId: ignore, Cabin: ignore}")
        code, out, err = run_cli("validate", cfg)
    assert code == 0, err
    assert "features:" in out and "Name: text   # inferred" in out and "PassengerId: ignore" in out
    run = tmp_path / "run"
    assert run_cli("train", cfg, "--run-dir", run, "-q")[0] == 0
    assert (run / "data.npz").is_file()
    state = json.loads(next((run / "checkpoints").glob("ckpt-*/state.json")).read_text())
    assert state["features"]["features"][0]["name"] == "Pclass"
    frozen = tmp_path / "m.npz"
    assert run_cli("freeze", run, "-o", frozen)[0] == 0
    raw = tmp_path / "raw.csv"  # raw cells: a gap, an unseen port, no label column, other column order
    raw.write_text('Name;Sex;Age;Fare;Embarked;Pclass\n"Kelly, Mr. James";male;;7.8;Z;3\n'
                   '"Wilkes, Mrs. James";female;47;7;S;1\n')
    code, out, err = run_cli("predict", frozen, "--input", raw, "--format", "json")
    assert code == 0, err
    rows = [json.loads(ln) for ln in out.splitlines()]
    assert len(rows) == 2 and {r["predicted"] for r in rows} <= {"no", "yes"}
    from nnctl.export.frozen import load_frozen
    m = load_frozen(frozen)
    p = m.predict([{"Name": "Kelly, Mr. James", "Sex": "male", "Age": None, "Fare": 7.8, "Embarked": "Z",
                    "Pclass": 3}, {"Name": "Wilkes, Mrs. James", "Sex": "female", "Age": 47, "Fare": 7,
                                   "Embarked": "S", "Pclass": 1}])
    np.testing.assert_allclose(p[:, 1], [r["yes"] for r in rows], rtol=1e-6)
    m.close()
    # the run dir is self-contained: eval and freeze work with the CSV gone
    csv.unlink()
    assert run_cli("eval", run, "--data", "train")[0] == 0
    assert run_cli("freeze", run, "-o", tmp_path / "m2.npz")[0] == 0


def _trained(tmp_path: Path, text: str, width: int, data_extra: str = "", out: int = 2) -> tuple[Path, Path]:
    csv = tmp_path / "d.csv"
    csv.write_text(text)
    cfg = write_cfg(tmp_path, csv, width, data_extra=data_extra, out=out)
    run = tmp_path / "run"
    code, o, e = run_cli("train", cfg, "--run-dir", run, "-q")
    assert code == 0, e
    frozen = tmp_path / "m.npz"
    assert run_cli("freeze", run, "-o", frozen)[0] == 0
    return run, frozen


BROKEN_TRAIN = {
    "ragged": ("a,c,y\n1,x,0\n2,y\n3,x,1\n", ["d.csv:3", "expected 3 columns", "got 2"]),
    "all-missing": ("a,c,y\n1,,0\n2,NA,1\n", ["d.csv", "'c'", "every cell is missing"]),
    "numeric-typo": ("a,c,y\n1,x,0\n2,y,1\n3,x,0\n" + "".join(f"{i},x,{i % 2}\n" for i in range(5)) + "zz,x,1\n",
                     ["d.csv:10", "'a'", "'zz'"]),
    "missing-label": ("a,c,y\n1,x,0\n2,y,\n", ["d.csv:3", "'y'", "missing label"]),
    "bad-quote": ('a,c,y\n1,x,0\n2,"y,1\n3,x,0\n', ["d.csv:3", "malformed"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN_TRAIN))
def test_broken_training_data_exits_2_naming_the_place(tmp_path, case):
    text, parts = BROKEN_TRAIN[case]
    (tmp_path / "d.csv").write_text(text)
    cfg = write_cfg(tmp_path, tmp_path / "d.csv", 4)
    for cmd in ("validate", "train"):
        extra = ["--run-dir", tmp_path / "run"] if cmd == "train" else []
        msg = one_error(*run_cli(cmd, cfg, *extra))
        for p in parts:
            assert p in msg, (p, msg)
    assert not (tmp_path / "run").exists()


def test_broken_predict_and_eval_inputs(tmp_path):
    rows = "".join(f"{i % 3},{'abc'[i % 3]},{i % 2}\n" for i in range(12))
    run, frozen = _trained(tmp_path, "a,c,y\n" + rows, 4, data_extra="  features: {c: {type: category, "
                                                                    "unknown: error}}")
    cases = {
        "mismatched": ("a,colour\n1,a\n", ["missing column(s) 'c'", "unexpected column(s) 'colour'"]),
        "unknown-category": ("a,c\n1,a\n2,q\n", ["in.csv:3", "column 'c'", "unknown category 'q'"]),
        "headerless-wrong-count": ("1,a,0\n", ["in.csv:1", "expected 2 feature columns, got 3"]),
        "non-numeric": ("a,c\nx,a\n", ["in.csv:2", "column 'a'", "'x'"]),
    }
    for name, (text, parts) in cases.items():
        (tmp_path / "in.csv").write_text(text)
        msg = one_error(*run_cli("predict", frozen, "--input", tmp_path / "in.csv"))
        for p in parts:
            assert p in msg, (name, p, msg)
    (tmp_path / "in.csv").write_text("1,b\n2,c\n")  # headerless with exactly the feature columns: by position
    code, out, err = run_cli("predict", frozen, "--input", tmp_path / "in.csv")
    assert code == 0 and len(out.splitlines()) == 3, err
    (tmp_path / "lab.csv").write_text("a,c,y\n1,a,0\n2,b,7\n")  # a label never seen in training
    for target in (frozen, run):
        msg = one_error(*run_cli("eval", target, "--data", tmp_path / "lab.csv"))
        assert "lab.csv:3" in msg and "'y'" in msg, msg


def test_stdin_and_regression_target_scaling(tmp_path, monkeypatch):
    rows = "".join(f"{i},{'ab'[i % 2]},{100 + 10 * i + (5 if i % 2 else 0)},{-i}\n" for i in range(20))
    csv = tmp_path / "d.csv"
    csv.write_text("a,c,t1,t2\n" + rows)
    cfg = write_cfg(tmp_path, csv, 4, out=2, source_extra="    labels: [t1, t2]", loss="mse", metric="mae",
                    data_extra="  label_type: real\n  target_scaling: standardize", epochs=60)
    run = tmp_path / "run"
    assert run_cli("train", cfg, "--run-dir", run, "-q")[0] == 0
    assert run_cli("freeze", run, "-o", tmp_path / "m.npz")[0] == 0
    import io
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,c\n3,b\n10,a\n")))
    code, out, err = run_cli("predict", tmp_path / "m.npz", "--input", "-")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "t1,t2"
    t1 = [float(ln.split(",")[0]) for ln in lines[1:]]
    assert 110 < t1[0] < 160 and 170 < t1[1] < 230  # in the label's units, not standardized ones


def test_image_folder_train_predict_and_resume_bit_identical(tmp_path):
    from make_digits_images import write_digits_images
    from PIL import Image
    folder = tmp_path / "digits"
    write_digits_images(folder, limit=300)
    (folder / "3" / "broken.png").write_bytes(b"not a png at all")
    cfg = tmp_path / "c.yaml"
    cfg.write_text((ROOT / "configs" / "digits-images.yaml").read_text()
                   .replace("../datasets/digits-images", str(folder))
                   .replace("epochs: 60", "steps: 24").replace("augment: {crop: 1}",
                                                                 "augment: {crop: 1, flip: true, rotate: 10}"))
    msg = one_error(*run_cli("validate", cfg))
    assert "broken.png" in msg and "not an image" in msg
    (folder / "3" / "broken.png").unlink()
    base = ["--set", "train.checkpoint_every=8", "-q"]
    assert run_cli("train", cfg, "--run-dir", tmp_path / "full", *base)[0] == 0
    assert run_cli("train", cfg, "--run-dir", tmp_path / "cut", *base, "--set", "train.steps=12")[0] == 0
    code, _, err = run_cli("train", cfg, "--run-dir", tmp_path / "cut", "--resume", *base)
    assert code == 0, err
    from nnctl.train import checkpoint as ckpt
    a = ckpt.load_checkpoint(tmp_path / "full" / "checkpoints" / ckpt.checkpoint_name(24)).arrays
    b = ckpt.load_checkpoint(tmp_path / "cut" / "checkpoints" / ckpt.checkpoint_name(24)).arrays
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)
    frozen = tmp_path / "m.npz"
    assert run_cli("freeze", tmp_path / "full", "-o", frozen)[0] == 0
    rgb = tmp_path / "big.jpg"  # another size and mode: converted and resized like the training images
    Image.fromarray(np.zeros((32, 24, 3), np.uint8)).save(rgb)
    code, out, err = run_cli("predict", frozen, "--input", folder / "1", "--input", rgb)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("path,") and len(lines) == 1 + len(list((folder / "1").glob("*.png"))) + 1
    (tmp_path / "fake.png").write_text("hello")
    msg = one_error(*run_cli("predict", frozen, "--input", tmp_path / "fake.png"))
    assert "fake.png" in msg and "not an image" in msg


def test_ids_feed_an_embedding_through_model_inputs(tmp_path):
    """Category and text ids sit in the flat feature block at the columns validate prints; the layer
    library's model.inputs slice them out and embedding layers (padding id 0 masked) embed them."""
    rows = [("great sturdy lamp", "red", 1.0, "positive"), ("terrible flimsy lamp broke", "blue", 2.0, "negative")]
    csv = tmp_path / "r.csv"
    csv.write_text("review,colour,w,sentiment\n" + "".join(f"{r},{c},{w + i % 3},{s}\n" for i in range(40)
                                                          for r, c, w, s in rows))
    cfg = tmp_path / "e.yaml"
    cfg.write_text(f"""\
name: emb
seed: 0
data:
  train: {{csv: {csv}, labels: [sentiment]}}
  val_split: 0.25
  features:
    review: {{type: text, encoding: ids, max_length: 4}}
    colour: {{type: category, encoding: ids}}
model:
  inputs:
    - {{name: num, shape: [1], columns: '0:1'}}
    - {{name: words, shape: [4], columns: '1:5'}}
    - {{name: colour, shape: [1], columns: '5:6'}}
  layers:
    - {{type: embedding, name: we, input_dim: 9, output_dim: 4, padding_id: 0, inputs: words}}
    - {{type: flatten, name: wf}}
    - {{type: embedding, name: ce, input_dim: 3, output_dim: 2, inputs: colour}}
    - {{type: flatten, name: cf}}
    - {{type: concat, name: all, inputs: [wf, cf, num]}}
    - {{type: dense, name: out, units: 2}}
loss: cross_entropy
optimizer: {{name: adam, lr: 0.05}}
train: {{epochs: 5, batch_size: 8}}
metrics: [accuracy]
""")
    code, out, err = run_cli("validate", cfg)
    assert code == 0, err
    assert "feature columns (for model.inputs columns: 'start:stop'): numeric '0:1', review '1:5', colour '5:6'" in out
    run = tmp_path / "run"
    assert run_cli("train", cfg, "--run-dir", run, "-q")[0] == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["val"]["accuracy"] == 1.0
    assert run_cli("freeze", run, "-o", tmp_path / "m.npz")[0] == 0
    from nnctl.export.frozen import load_frozen
    m = load_frozen(tmp_path / "m.npz")
    p = m.predict({"review": ["sturdy great lamp", "broke flimsy"], "colour": ["red", "green"], "w": [1, None]})
    assert p.shape == (2, 2) and p[0].argmax() == 1 and p[1].argmax() == 0
    m.close()


def test_adult_like_spaces_question_marks_and_an_image_csv(tmp_path, capsys):
    rows = "".join(f"{20 + i}, {'Private' if i % 3 else '?'}, {'Bachelors' if i % 2 else 'HS-grad'},"
                   f" {' >50K' if i % 2 else ' <=50K'}\n" for i in range(30))
    csv = tmp_path / "adult.csv"
    csv.write_text("age, workclass, education, income\n" + rows)
    cfg = write_cfg(tmp_path, csv, 6, source_extra="    labels: [income]", epochs=20)
    code, out, err = run_cli("validate", cfg)
    assert code == 0, err
    assert "workclass: category" in out and "education: category" in out
    from nnctl.config import load_config
    from nnctl.data.tabular import load_table_splits
    s = load_table_splits(load_config(cfg))
    assert s.class_names == ["<=50K", ">50K"]
    wc = next(f for f in s.pipeline.features if f.name == "workclass")
    assert wc.vocab == ["Private"]  # '?' is a gap: it goes to the unknown bucket
    # a CSV of path,label is an image source too (paths relative to the CSV)
    from make_digits_images import write_digits_images
    write_digits_images(tmp_path / "png", limit=40)
    lines = ["file,digit"] + [f"png/{p.parent.name}/{p.name},{p.parent.name}"
                              for p in sorted((tmp_path / "png").rglob("*.png"))]
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    cfg2 = tmp_path / "i.yaml"
    cfg2.write_text((ROOT / "configs" / "digits-images.yaml").read_text()
                    .replace("images: ../datasets/digits-images", f"images: {tmp_path / 'list.csv'}")
                    .replace("    image: {type: image", "    file: {type: image").replace("epochs: 60", "steps: 3"))
    code, out, err = run_cli("validate", cfg2)
    assert code == 0, err
    assert "file: {type: image" in out


def test_a_declared_feature_must_be_a_column(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("length,colour,y\n1,red,0\n2,blue,1\n")
    msg = one_error(*run_cli("validate", write_cfg(tmp_path, csv, 3, data_extra="  features: {lenght: numeric}")))
    assert "c.yaml:" in msg and "data.features.lenght" in msg and "did you mean 'length'" in msg
    msg = one_error(*run_cli("validate", write_cfg(tmp_path, csv, 3, data_extra="  features: {y: category}")))
    assert "data.features.y" in msg and "label column" in msg
