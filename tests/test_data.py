"""nnctl.data: loaders, generators, batching, preprocessing and the shipped datasets."""

from __future__ import annotations

import gzip
import json
import pathlib
import struct
from pathlib import Path

import numpy as np
import pytest

from nnctl.data import (
    Batcher,
    Preprocessor,
    generate,
    load_csv,
    load_csv_features,
    load_idx,
    load_npz,
    split_train_val,
)
from nnctl.errors import DataError

DATASETS = Path(__file__).resolve().parent.parent / "datasets"


def expect_data_error(fn, *args, contains: tuple[str, ...] = (), **kwargs) -> str:
    """Call fn, require a DataError with exit code 2 whose message holds every ``contains`` part."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    err = info.value
    assert err.exit_code == 2
    msg = str(err)
    for part in contains:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


IRIS_HEAD = "sepal_length,sepal_width,petal_length,petal_width,species\n"


def iris_like(rows: int = 20) -> list[str]:
    names = ["setosa", "versicolor", "virginica"]
    return [f"{5 + i / 10:.1f},3.{i % 10},1.{i % 7},0.{i % 5},{names[i % 3]}\n" for i in range(rows)]


# --- CSV: good files ----------------------------------------------------------------------------

def test_csv_basic_integer_labels(tmp_path):
    p = write(tmp_path / "d.csv", "a,b,y\n1,2,0\n3,4.5,1\n-1e-3,6,2\n")
    x, y, meta = load_csv(p)
    assert x.dtype == np.float32 and x.shape == (3, 2)
    np.testing.assert_array_equal(x, np.array([[1, 2], [3, 4.5], [-1e-3, 6]], dtype=np.float32))
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2]
    assert meta == {"feature_names": ["a", "b"], "label_names": ["y"], "class_names": None,
                    "source": str(p), "num_classes": 3}


def test_csv_quoted_cells_crlf_bom_blank_lines_and_gzip(tmp_path):
    text = '\ufeff"f 1","f,2",label\r\n"1.5", 2 ,"class, one"\r\n\r\n3,4,"two"\r\n'
    p = write(tmp_path / "q.csv", text)
    x, y, meta = load_csv(p)
    assert meta["feature_names"] == ["f 1", "f,2"]
    assert meta["class_names"] == ["class, one", "two"]
    assert y.tolist() == [0, 1]
    np.testing.assert_array_equal(x, [[1.5, 2], [3, 4]])
    gz = tmp_path / "q.data"  # gzip is detected by its magic bytes, not the name
    gz.write_bytes(gzip.compress(text.encode()))
    x2, y2, _ = load_csv(gz)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)


def test_csv_column_selection_by_name_and_index(tmp_path):
    p = write(tmp_path / "d.csv", "id,a,b,t1,t2\n7,1,2,0.5,1.5\n8,3,4,2.5,3.5\n")
    x, y, meta = load_csv(p, features=["b", 1], labels=[-2, "t2"], label_type="real")
    np.testing.assert_array_equal(x, [[2, 1], [4, 3]])
    assert y.dtype == np.float32 and y.shape == (2, 2)
    np.testing.assert_array_equal(y, [[0.5, 1.5], [2.5, 3.5]])
    assert meta["feature_names"] == ["b", "a"] and meta["label_names"] == ["t1", "t2"]
    _, _, meta = load_csv(p, labels="t1", label_type="real")
    assert meta["feature_names"] == ["id", "a", "b", "t2"]


def test_csv_onehot_labels(tmp_path):
    p = write(tmp_path / "d.csv", "a,c0,c1,c2\n1,0,0,1\n2,1,0,0\n3,0,1.0,0\n")
    x, y, meta = load_csv(p, features=["a"], labels=["c0", "c1", "c2"], label_type="onehot")
    assert y.tolist() == [2, 0, 1] and y.dtype == np.int64
    assert meta["class_names"] == ["c0", "c1", "c2"]


def test_csv_string_classes_against_known_names(tmp_path):
    p = write(tmp_path / "d.csv", "a,s\n1,virginica\n2,setosa\n")
    _, y, meta = load_csv(p, class_names=["setosa", "versicolor", "virginica"])
    assert y.tolist() == [2, 0] and meta["class_names"] == ["setosa", "versicolor", "virginica"]
    expect_data_error(load_csv, p, class_names=["setosa", "virginca"],
                      contains=(f"{p}:2: column 's': unknown class 'virginica'", "did you mean 'virginca'"))


# --- CSV: errors --------------------------------------------------------------------------------

def test_csv_missing_directory_empty_header_only(tmp_path):
    expect_data_error(load_csv, tmp_path / "nope.csv", contains=("nope.csv", "not found"))
    expect_data_error(load_csv, tmp_path, contains=(str(tmp_path), "is a directory"))
    expect_data_error(load_csv, write(tmp_path / "e.csv", ""), contains=("e.csv", "empty"))
    expect_data_error(load_csv, write(tmp_path / "w.csv", "\n\n  \n"), contains=("w.csv", "empty"))
    expect_data_error(load_csv, write(tmp_path / "h.csv", "a,b,y\n"), contains=("h.csv", "header only"))
    expect_data_error(load_csv, write(tmp_path / "n.csv", "1,2,0\n3,4,1\n"),
                      contains=("n.csv:1:", "looks like data, not a header"))
    expect_data_error(load_csv, write(tmp_path / "dup.csv", "a,a,y\n1,2,0\n"), contains=("dup.csv:1:", "'a'"))
    expect_data_error(load_csv, write(tmp_path / "tc.csv", "a,y,\n1,0,\n"), contains=("tc.csv:1:", "no name"))
    bin_path = tmp_path / "b.csv"
    bin_path.write_bytes(b"a,b\n\xff\xfe,1\n")
    expect_data_error(load_csv, bin_path, contains=("b.csv:2:", "not UTF-8"))


def test_csv_non_numeric_cell_names_file_line_column(tmp_path):
    rows = iris_like(20)
    rows[15] = "abc,3.0,1.0,0.2,setosa\n"  # line 17: the header is line 1
    p = write(tmp_path / "iris.csv", IRIS_HEAD + "".join(rows))
    msg = expect_data_error(load_csv, p)
    assert msg == f"{p}:17: column 'sepal_length': expected a number, got 'abc'"
    assert msg.endswith("iris.csv:17: column 'sepal_length': expected a number, got 'abc'")
    rows[15] = "5.0,,1.0,0.2,setosa\n"
    p = write(tmp_path / "iris.csv", IRIS_HEAD + "".join(rows))
    expect_data_error(load_csv, p, contains=("iris.csv:17: column 'sepal_width': expected a number, got ''",))


def test_csv_line_numbers_count_blank_lines_and_multiline_quotes(tmp_path):
    text = 'a,note,y\n1,"two\nlines",0\n\n2,x,1\n'  # row 2 starts at line 2, row 3 at line 5
    p = write(tmp_path / "m.csv", text)
    expect_data_error(load_csv, p, features=["a", "note"], contains=("m.csv:2: column 'note'",))
    p = write(tmp_path / "m2.csv", 'a,note,y\n1,"two\nlines",0\n\nzz,x,1\n')
    expect_data_error(load_csv, p, features=["a"], contains=("m2.csv:5: column 'a'", "'zz'"))


def test_csv_malformed_quoting(tmp_path):
    p = write(tmp_path / "q.csv", 'a,y\n1,0\n"2,1\n3,0\n')
    expect_data_error(load_csv, p, contains=("q.csv:3: malformed CSV",))
    p = write(tmp_path / "q2.csv", 'a,y\n1,0\n"2"x,1\n')
    expect_data_error(load_csv, p, contains=("q2.csv:3: malformed CSV",))


def test_csv_ragged_rows(tmp_path):
    rows = iris_like(20)
    rows[10] = "5.0,3.0,1.0,setosa\n"  # line 12
    p = write(tmp_path / "iris.csv", IRIS_HEAD + "".join(rows))
    expect_data_error(load_csv, p, contains=("iris.csv:12: expected 5 columns", "got 4"))
    p = write(tmp_path / "nh.csv", "1,2\n3,4,5\n")
    expect_data_error(load_csv_features, p, contains=("nh.csv:2: expected 2 columns", "got 3"))


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf"])
def test_csv_non_finite_features(tmp_path, cell):
    p = write(tmp_path / "f.csv", f"a,b,y\n1,2,0\n3,{cell},1\n")
    expect_data_error(load_csv, p, contains=("f.csv:3: column 'b'", "finite", repr(cell)))


def test_csv_float32_overflow(tmp_path):
    p = write(tmp_path / "f.csv", "a,y\n1e39,0\n")
    expect_data_error(load_csv, p, contains=("f.csv:2: column 'a'", "too large for float32"))


def test_csv_unknown_column_and_index_out_of_range(tmp_path):
    p = write(tmp_path / "d.csv", "sepal_length,petal_width,species\n1,2,a\n")
    expect_data_error(load_csv, p, labels=["specis"],
                      contains=("d.csv:1:", "unknown label column 'specis'", "did you mean 'species'"))
    expect_data_error(load_csv, p, features=["sepal_lenght"], contains=("did you mean 'sepal_length'",))
    expect_data_error(load_csv, p, labels=[3], contains=("d.csv:1:", "index 3 is out of range", "3 columns"))
    expect_data_error(load_csv, p, features=[True], contains=("names or integer indices",))
    expect_data_error(load_csv, p, features=["species"], labels=["species"], contains=("both",))


def test_csv_class_label_errors(tmp_path):
    p = write(tmp_path / "neg.csv", "a,y\n1,0\n2,-1\n")
    expect_data_error(load_csv, p, contains=("neg.csv:3: column 'y'", "non-negative integer", "'-1'"))
    p = write(tmp_path / "frac.csv", "a,y\n1,0\n2,1\n3,1.5\n")
    expect_data_error(load_csv, p, contains=("frac.csv:4: column 'y'", "'1.5'"))
    p = write(tmp_path / "mix.csv", "a,y\n1,0\n2,1\n3,one\n")
    expect_data_error(load_csv, p, contains=("mix.csv:4: column 'y'", "integer class index", "'one'"))
    p = write(tmp_path / "range.csv", "a,y\n1,0\n2,3\n")
    expect_data_error(load_csv, p, num_classes=3, contains=("range.csv:3:", "class index 3", "num_classes=3"))
    assert load_csv(p, num_classes=4)[2]["num_classes"] == 4
    p = write(tmp_path / "names.csv", "a,y\n1,x\n2,y\n3,z\n")
    expect_data_error(load_csv, p, num_classes=2, contains=("names.csv", "3 classes", "num_classes is 2"))
    p = write(tmp_path / "two.csv", "a,y1,y2\n1,0,1\n")
    expect_data_error(load_csv, p, labels=["y1", "y2"], contains=("one label column", "onehot"))
    expect_data_error(load_csv, p, label_type="hot", contains=("label_type",))


def test_csv_onehot_errors(tmp_path):
    p = write(tmp_path / "oh.csv", "a,c0,c1\n1,0,1\n2,1,1\n")
    expect_data_error(load_csv, p, labels=["c0", "c1"], label_type="onehot",
                      contains=("oh.csv:3:", "one-hot", "[1, 1]"))
    p = write(tmp_path / "oh2.csv", "a,c0,c1\n1,0,0.5\n")
    expect_data_error(load_csv, p, labels=["c0", "c1"], label_type="onehot", contains=("oh2.csv:2:",))
    p = write(tmp_path / "oh3.csv", "a,c0,c1\n1,0,1\n")
    expect_data_error(load_csv, p, labels=["c0", "c1"], label_type="onehot", num_classes=3,
                      contains=("2 columns", "num_classes is 3"))
    expect_data_error(load_csv, p, labels=["c1"], label_type="onehot", contains=("oh3.csv", "at least 2"))


def test_csv_features_with_and_without_header(tmp_path):
    p = write(tmp_path / "nh.csv", "1,2\n3,4\n")
    x, names = load_csv_features(p, n_features=2)
    assert names is None and x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    expect_data_error(load_csv_features, p, n_features=3,
                      contains=("nh.csv:1:", "expected 3 feature columns"))
    p = write(tmp_path / "h.csv", "x1,x2\n1,2\n")
    x, names = load_csv_features(p, n_features=2)
    assert names == ["x1", "x2"]
    # A training file (label column included) picks the model's feature columns by name.
    p = write(tmp_path / "train.csv", "y,x2,x1\n0,2,1\n1,4,3\n")
    x, names = load_csv_features(p, n_features=2, feature_names=["x1", "x2"])
    np.testing.assert_array_equal(x, [[1, 2], [3, 4]])
    assert names == ["x1", "x2"]
    expect_data_error(load_csv_features, p, n_features=2,
                      contains=("train.csv:1:", "expected 2 feature columns"))
    expect_data_error(load_csv_features, p, feature_names=["x1", "x3"],
                      contains=("unknown feature column 'x3'",))
    # Different header names but exactly the right number of columns: taken in order.
    p = write(tmp_path / "other.csv", "a,b\n1,2\n")
    x, names = load_csv_features(p, feature_names=["x1", "x2"])
    assert names == ["a", "b"]
    p = write(tmp_path / "bad.csv", "1,2\n3,oops\n")  # first row numeric: no header, then a bad cell
    expect_data_error(load_csv_features, p, contains=("bad.csv:2: column '#1'", "'oops'"))


# --- NPZ ----------------------------------------------------------------------------------------

def test_npz_good(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.arange(12, dtype=np.float64).reshape(3, 2, 2), y=np.array([0, 2, 1], dtype=np.uint8),
             class_names=np.array(["a", "b", "c"]))
    x, y, meta = load_npz(p)
    assert x.dtype == np.float32 and x.shape == (3, 2, 2)
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1]
    assert meta["class_names"] == ["a", "b", "c"] and meta["num_classes"] == 3
    x, y, _ = load_npz(p, y_key=None)
    assert y is None
    _, y, _ = load_npz(p, label_type="real")
    assert y.shape == (3, 1) and y.dtype == np.float32
    q = tmp_path / "oh.npz"
    np.savez(q, x=np.zeros((2, 3)), y=np.array([[0, 1], [1, 0]]))
    assert load_npz(q, label_type="onehot")[1].tolist() == [1, 0]
    np.savez(q, x=np.zeros((2, 3)), y=np.array([[1], [0]]))  # a column of class indices
    assert load_npz(q)[1].tolist() == [1, 0]


def test_npz_errors(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, inputs=np.zeros((3, 2)), y=np.zeros(3))
    expect_data_error(load_npz, p, contains=("d.npz", "no array 'x'", "arrays present: inputs, y"))
    np.savez(p, x=np.zeros((3, 2)), y=np.zeros(4))
    expect_data_error(load_npz, p, contains=("'x' has 3 rows but 'y' has 4",))
    np.savez(p, x=np.array([[1.0, 2.0], [3.0, np.nan]]), y=np.zeros(2))
    expect_data_error(load_npz, p, contains=("d.npz:x[1, 1]", "got nan", "finite"))
    np.savez(p, x=np.zeros((3, 2)), y=np.array([0, -1, 1]))
    expect_data_error(load_npz, p, contains=("d.npz:y[1]", "non-negative integer"))
    np.savez(p, x=np.zeros((3, 2)), y=np.array([0.0, 1.5, 1.0]))
    expect_data_error(load_npz, p, contains=("d.npz:y[1]",))
    np.savez(p, x=np.zeros((3, 2)), y=np.array([0, 5, 1]))
    expect_data_error(load_npz, p, num_classes=3, contains=("d.npz:y[1]", "class index 5"))
    np.savez(p, x=np.zeros((2, 2)), y=np.array([[1, 1], [1, 0]]))
    expect_data_error(load_npz, p, label_type="onehot", contains=("d.npz:y[0]", "one-hot"))
    np.savez(p, x=np.zeros((2, 2)), y=np.array([0, 1]))
    expect_data_error(load_npz, p, label_type="onehot", contains=("d.npz:y", "[n, classes]"))
    np.savez(p, x=np.zeros((2, 2)), y=np.array([[0, 1], [1, 0]]))
    expect_data_error(load_npz, p, contains=("d.npz:y", "1-D", "onehot"))
    np.savez(p, x=np.array(["a", "b"]), y=np.zeros(2))
    expect_data_error(load_npz, p, contains=("d.npz:x", "numeric"))
    write(tmp_path / "t.npz", "x,y\n1,2\n")
    expect_data_error(load_npz, tmp_path / "t.npz", contains=("t.npz", "not an npz/zip"))
    expect_data_error(load_npz, tmp_path / "missing.npz", contains=("missing.npz", "not found"))
    full = (tmp_path / "d.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(full[: len(full) // 2])
    expect_data_error(load_npz, tmp_path / "cut.npz", contains=("cut.npz",))


class _PlantedPayload:
    """Unpickling this would create ``marker``: proof of whether a loader ran pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_npz_object_array_refused_and_pickle_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _PlantedPayload(marker)
    p = tmp_path / "evil.npz"
    np.savez(p, x=payload, y=np.zeros(1))  # numpy pickles object arrays when saving
    expect_data_error(load_npz, p, contains=("evil.npz", "refused"))
    assert not marker.exists()
    # The payload is live: loading with pickles allowed would have run it.
    canary = tmp_path / "canary"
    payload[0] = _PlantedPayload(canary)
    np.savez(tmp_path / "live.npz", x=payload)
    with np.load(tmp_path / "live.npz", allow_pickle=True) as z:
        z["x"]
    assert canary.exists()


# --- IDX ----------------------------------------------------------------------------------------

def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_idx_raw_and_gzip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    (tmp_path / "img").write_bytes(idx_bytes(images, 0x803))
    (tmp_path / "lab").write_bytes(idx_bytes(labels, 0x801))
    (tmp_path / "img.gz").write_bytes(gzip.compress(idx_bytes(images, 0x803)))
    (tmp_path / "lab.idx").write_bytes(gzip.compress(idx_bytes(labels, 0x801)))  # gzip without .gz
    for img, lab in (("img", "lab"), ("img.gz", "lab.idx")):
        x, y, meta = load_idx(tmp_path / img, tmp_path / lab)
        assert x.dtype == np.float32 and x.shape == (5, 4, 3, 1)
        np.testing.assert_array_equal(x[..., 0], images)
        assert y.dtype == np.int64 and y.tolist() == [3, 1, 4, 1, 5]
        assert meta["num_classes"] == 6
    x, y, _ = load_idx(tmp_path / "img", None)
    assert y is None and x.shape == (5, 4, 3, 1)
    expect_data_error(load_idx, tmp_path / "img", tmp_path / "lab", num_classes=5,
                      contains=("lab", "class index 5"))


def test_idx_errors(tmp_path):
    images = np.zeros((4, 2, 2), dtype=np.uint8)
    labels = np.zeros(4, dtype=np.uint8)
    img, lab = tmp_path / "img", tmp_path / "lab"
    img.write_bytes(idx_bytes(images, 0x803))
    lab.write_bytes(idx_bytes(labels, 0x801))
    expect_data_error(load_idx, lab, lab, contains=("lab: wrong magic number 0x00000801",
                                                    "expected 0x00000803", "IDX labels file"))
    expect_data_error(load_idx, img, img, contains=("img: wrong magic number 0x00000803",
                                                    "expected 0x00000801"))
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 20)
    expect_data_error(load_idx, bad, lab, contains=("0x12345678", "expected 0x00000803"))
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(images, 0x803)[:-3])
    expect_data_error(load_idx, short, lab, contains=("short: truncated", "4 x 2 x 2 = 16", "holds 13"))
    long = tmp_path / "long"
    long.write_bytes(idx_bytes(images, 0x803) + b"\x00")
    expect_data_error(load_idx, long, lab, contains=("long:", "1 bytes after"))
    hdr = tmp_path / "hdr"
    hdr.write_bytes(idx_bytes(images, 0x803)[:8])
    expect_data_error(load_idx, hdr, lab, contains=("hdr: truncated IDX header",))
    few = tmp_path / "few"
    few.write_bytes(idx_bytes(labels[:3], 0x801))
    expect_data_error(load_idx, img, few, contains=("few: 3 labels for 4 images",))
    gz = gzip.compress(idx_bytes(images, 0x803))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gz[: len(gz) - 10])
    expect_data_error(load_idx, cut, lab, contains=("cut.gz: truncated gzip",))
    expect_data_error(load_idx, tmp_path / "none", lab, contains=("none", "not found"))


# --- generators ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,classes", [("xor", 2), ("moons", 2), ("spirals", 3), ("blobs", 4)])
def test_generators_deterministic_shapes_balance(name, classes):
    x, y, meta = generate(name, n=301, noise=0.1, classes=classes, seed=7)
    x2, y2, _ = generate(name, n=301, noise=0.1, classes=classes, seed=7)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _, _ = generate(name, n=301, noise=0.1, classes=classes, seed=8)
    assert not np.array_equal(x, x3)
    assert x.dtype == np.float32 and x.shape == (301, 2) and y.dtype == np.int64 and y.shape == (301,)
    counts = np.bincount(y, minlength=classes)
    assert counts.size == classes and counts.max() - counts.min() <= 1
    assert meta["num_classes"] == classes and np.isfinite(x).all()


def test_xor_generator_labels_match_quadrants():
    x, y, _ = generate("xor", n=200, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(np.int64))


def test_blobs_are_separable_at_low_noise():
    x, y, _ = generate("blobs", n=300, noise=0.1, classes=3, seed=0)
    centres = np.stack([x[y == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((x[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert (nearest == y).all()


def test_generator_errors():
    expect_data_error(generate, "spiral", contains=("unknown generator 'spiral'", "did you mean 'spirals'"))
    expect_data_error(generate, "xor", classes=3, contains=("exactly 2 classes",))
    expect_data_error(generate, "blobs", n=2, classes=3, contains=("n=2",))
    expect_data_error(generate, "moons", noise=-1.0, contains=("noise",))
    expect_data_error(generate, "moons", n=10.5, contains=("n must be an integer",))


# --- Batcher ------------------------------------------------------------------------------------

def run(b: Batcher, steps: int) -> list[list[int]]:
    return [b.next().tolist() for _ in range(steps)]


@pytest.mark.parametrize("drop_last", [False, True])
def test_batcher_covers_each_example_once_per_epoch(drop_last):
    b = Batcher(10, 3, shuffle=True, seed=3, drop_last=drop_last)
    assert b.steps_per_epoch == (3 if drop_last else 4)
    epochs = []
    for e in range(3):
        assert b.epoch == e and b.position == 0
        batches = run(b, b.steps_per_epoch)
        assert all(len(bt) == 3 for bt in batches[:3])
        flat = [i for bt in batches for i in bt]
        assert len(flat) == len(set(flat)) == (9 if drop_last else 10)
        epochs.append(flat)
    assert b.epoch == 3
    assert epochs[0] != epochs[1]  # reshuffled each epoch


def test_batcher_dtype_and_no_shuffle():
    b = Batcher(5, 2, shuffle=False)
    out = [b.next() for _ in range(4)]
    assert all(o.dtype == np.int64 for o in out)
    assert [o.tolist() for o in out] == [[0, 1], [2, 3], [4], [0, 1]]


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 5, 7, 8, 11])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batcher_state_round_trip_resumes_bit_exact(cut, drop_last):
    reference = run(Batcher(10, 3, seed=11, drop_last=drop_last), cut + 9)
    b = Batcher(10, 3, seed=11, drop_last=drop_last)
    head = run(b, cut)
    state = json.loads(json.dumps(b.state_dict()))  # must survive JSON
    resumed = Batcher(10, 3, seed=999, drop_last=drop_last)  # the state, not the seed, decides
    resumed.load_state_dict(state)
    assert (resumed.epoch, resumed.position) == (b.epoch, b.position)
    assert head + run(resumed, 9) == reference
    assert run(b, 9) == reference[cut:]  # taking a snapshot does not disturb the original


def test_batcher_state_mismatch_and_damage():
    b = Batcher(10, 3)
    b.next()
    state = b.state_dict()
    expect_data_error(Batcher(12, 3).load_state_dict, state, contains=("n_examples=10", "n_examples=12"))
    expect_data_error(Batcher(10, 4).load_state_dict, state, contains=("batch_size",))
    expect_data_error(Batcher(10, 3).load_state_dict, {**state, "position": 4}, contains=("position 4",))
    expect_data_error(Batcher(10, 3).load_state_dict, {**state, "epoch_rng_state": {}},
                      contains=("epoch_rng_state",))
    expect_data_error(Batcher(10, 3).load_state_dict, {**state, "permutation_crc32": "00000000"},
                      contains=("replayed shuffle differs",))
    expect_data_error(Batcher(10, 3).load_state_dict, {"format": "other"}, contains=("format",))
    expect_data_error(Batcher, 0, 3, contains=("n_examples",))
    expect_data_error(Batcher, 3, 4, drop_last=True, contains=("drop_last",))


# --- preprocessing and splitting ----------------------------------------------------------------

def test_preprocessor_modes_and_json_round_trip():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 3)).astype(np.float32)
    x[:, 2] = 5.0  # constant feature: its std 0 is replaced by 1
    p = Preprocessor("standardize").fit(x)
    z = p.transform(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 2], 0)
    m = Preprocessor("minmax").fit(x).transform(x)
    assert m[:, :2].min() == 0 and abs(m[:, :2].max() - 1) < 1e-6
    s = Preprocessor("scale", scale_factor=1 / 255).fit(x)
    np.testing.assert_array_equal(s.transform(x), x * np.float32(1 / 255))
    for mode in ("standardize", "minmax", "scale", "none"):
        p = Preprocessor(mode, scale_factor=0.5).fit(x)
        q = Preprocessor.from_dict(json.loads(json.dumps(p.to_dict())))
        np.testing.assert_array_equal(p.transform(x), q.transform(x))  # bit-exact after JSON


def test_preprocessor_errors():
    p = Preprocessor("standardize").fit(np.zeros((4, 3)))
    expect_data_error(p.transform, np.zeros((2, 4)), contains=("(3,)", "(4,)"))
    expect_data_error(Preprocessor, "standardise", contains=("did you mean 'standardize'",))
    expect_data_error(Preprocessor.from_dict, {"mode": "minmax", "feature_shape": [2], "shift": [0, 0]},
                      contains=("divisor",))
    with pytest.raises(RuntimeError):
        Preprocessor().transform(np.zeros((1, 1)))


def test_split_train_val_stratified_and_deterministic():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10, dtype=np.int64)
    x = np.arange(100, dtype=np.float32)[:, None]
    xt, yt, xv, yv = split_train_val(x, y, 0.2, seed=5)
    assert np.bincount(yv).tolist() == [12, 6, 2] and len(yt) == 80
    assert sorted(np.concatenate([xt[:, 0], xv[:, 0]]).tolist()) == list(range(100))
    again = split_train_val(x, y, 0.2, seed=5)
    np.testing.assert_array_equal(again[2], xv)
    assert not np.array_equal(split_train_val(x, y, 0.2, seed=6)[2], xv)
    xt, yt, xv, yv = split_train_val(x, y.astype(np.float32)[:, None], 0.25, seed=0)
    assert len(xv) == 25 and yv.shape == (25, 1)
    xt, _, xv, _ = split_train_val(x, y, 0.0, seed=0)
    assert len(xt) == 100 and len(xv) == 0
    assert len(split_train_val(x[:3], y[:3], 0.01, seed=0)[2]) == 1  # never an empty validation set
    expect_data_error(split_train_val, x, y, 1.0, seed=0, contains=("fraction",))


# --- shipped datasets ---------------------------------------------------------------------------

def test_shipped_xor():
    x, y, meta = load_csv(DATASETS / "xor.csv")
    np.testing.assert_array_equal(x, [[0, 0], [1, 1], [1, 0], [0, 1]])
    assert y.tolist() == [0, 0, 1, 1] and meta["feature_names"] == ["x1", "x2"]


def test_shipped_iris():
    x, y, meta = load_csv(DATASETS / "iris.csv", labels=["species"])
    assert x.shape == (150, 4) and y.shape == (150,)
    assert meta["class_names"] == ["setosa", "versicolor", "virginica"]
    assert np.bincount(y).tolist() == [50, 50, 50]
    assert meta["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert 4.3 <= x[:, 0].min() and x[:, 0].max() <= 7.9


def test_shipped_digits():
    x, y, meta = load_csv(DATASETS / "digits.csv.gz", labels=["label"])
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert meta["num_classes"] == 10 and sorted(set(y.tolist())) == list(range(10))
    assert x.min() == 0 and x.max() == 16 and (x == np.round(x)).all()
    assert meta["feature_names"] == [f"p{i}" for i in range(64)]
