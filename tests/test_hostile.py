"""Attacks on the run directory, the file system and the process (docs/reliability.md, sections 9-14).

Each test builds the hostile file or situation itself and checks the promise: the exit code, one
``error:`` line naming the file or key, no traceback, nothing written outside the run directory,
nothing already on disk changed, and (in a subprocess) peak memory under a stated bound.
Mount-based cases (a full or read-only file system) need root and are skipped otherwise.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from nnctl.errors import FileFormatError, InputError, RuntimeFailure
from nnctl.fileio import (
    append_text,
    atomic_write_bytes,
    check_inside,
    gunzip_bounded,
    load_npz_bytes,
    read_file_bytes,
    write_output,
)
from nnctl.train import checkpoint as ckpt
from nnctl.train.runlock import RunLock, lock_holder
from nnctl.train.trainer import train as train_lib

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "configs" / "xor.yaml"
IRIS = ROOT / "configs" / "iris.yaml"
SHORT = ["train.steps=10", "train.checkpoint_every=5", "train.eval_every=5", "train.log_every=5"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def xor_text() -> str:
    """The xor config's text with its data path made absolute, to be written anywhere."""
    return XOR.read_text().replace("../datasets/xor.csv", str(ROOT / "datasets" / "xor.csv"))


def sets(*pairs: str) -> list[str]:
    return [a for p in pairs for a in ("--set", p)]


def clean_error(code: int, err: str, exit_code: int) -> str:
    assert code == exit_code, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(extra)
    return e


# A child that runs the CLI and reports its own peak RSS (KiB) on the last line.
_RSS_CHILD = ("import resource, sys\nfrom nnctl.cli import main\nsys.argv = ['nnctl', *sys.argv[1:]]\n"
              "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
              # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across exec
              "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]\n"
              "peak = int(hwm[0].split()[1]) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "sys.stderr.write('\\nPEAK_RSS_KIB %d\\n' % peak)\n"
              "sys.exit(code)\n")


def cli_peak(*argv: str | os.PathLike, budget: str | None = None, timeout: int = 120
             ) -> tuple[int, str, int]:
    """(exit code, stderr without the report, peak RSS in MiB) of ``nnctl ARGV`` in a fresh process."""
    extra = {"NNCTL_MEMORY_BUDGET": budget} if budget else {}
    r = subprocess.run([sys.executable, "-c", _RSS_CHILD, *map(str, argv)], capture_output=True, text=True,
                       env=env(**extra), timeout=timeout)
    lines = r.stderr.splitlines()
    peak = next(int(ln.split()[1]) for ln in reversed(lines) if ln.startswith("PEAK_RSS_KIB"))
    err = "\n".join(ln for ln in lines if not ln.startswith("PEAK_RSS_KIB"))
    return r.returncode, err, peak // 1024


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory) -> Path:
    """A finished 10-step xor run with checkpoints at 5 and 10; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("base") / "run"
    train_lib(XOR, run, SHORT, quiet=True)
    return run


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. no writes outside the run directory ---------------------------------------------------------

@pytest.mark.parametrize("name", ["metrics.jsonl", "metrics.csv", "summary.json", "config.yaml"])
def test_symlink_in_run_dir_is_refused_and_outside_file_untouched(xor_run, tmp_path, name):
    run = copy_run(xor_run, tmp_path / "run")
    outside = tmp_path / "outside.txt"
    outside.write_bytes((run / name).read_bytes())
    before = outside.read_bytes()
    (run / name).unlink()
    (run / name).symlink_to(outside)
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets(*SHORT[1:], "train.steps=20"))
    line = clean_error(code, err, 2)
    assert name in line and "symbolic link" in line
    assert outside.read_bytes() == before


def test_symlinked_checkpoints_folder_is_refused(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run / "checkpoints", elsewhere)
    (run / "checkpoints").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=20"))
    line = clean_error(code, err, 2)
    assert "checkpoints" in line and "symbolic link" in line
    assert snapshot(elsewhere) == before


def test_append_never_follows_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("keep\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").symlink_to(outside)
    with pytest.raises(InputError, match="symbolic link"):
        append_text(run, run / "metrics.jsonl", "x\n")
    (run / "sub").symlink_to(tmp_path)
    with pytest.raises(InputError, match="outside the run directory"):
        check_inside(run, run / "sub" / "file")
    assert outside.read_text() == "keep\n"


def test_write_test_probe_does_not_follow_a_planted_link(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    outside = tmp_path / "victim"
    outside.write_text("keep")
    (run / f".write-test-{os.getpid()}").symlink_to(outside)
    with contextlib.suppress(Exception):
        train_lib(XOR, run, ["train.steps=2"], quiet=True)
    assert outside.read_text() == "keep"


# --- 2. one writer per run directory -----------------------------------------------------------------

def test_second_writer_is_refused_naming_the_holder(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    before = snapshot(run)
    with RunLock(run).acquire():
        holder = lock_holder(run)
        assert holder is not None and holder["pid"] == os.getpid()
        code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=20"))
        line = clean_error(code, err, 2)
        assert f"in use by pid {os.getpid()}" in line and "lock" in line
    assert lock_holder(run) is None
    after = snapshot(run)
    after.pop(".lock", None)
    before.pop(".lock", None)
    assert after == before


def test_two_trains_on_one_fresh_run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run).acquire():
        code, _, err = run_cli("train", XOR, "--run-dir", run, "--quiet", *sets("train.steps=2"))
        assert "in use by pid" in clean_error(code, err, 2)
    assert [p.name for p in run.iterdir()] in ([".lock"], [".lock", "checkpoints"], ["checkpoints", ".lock"])


def test_stale_lock_after_a_crash_is_taken_over(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    (run / ".lock").write_text(json.dumps({"pid": 999999999, "host": "gone", "started": "then"}))
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets(*SHORT[1:], "train.steps=15"))
    assert code == 0, err
    assert "stale lock" in err and "999999999" in err
    assert (run / ".lock").read_text() == ""  # a clean exit empties it


def test_concurrent_train_processes_one_wins(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "nnctl.cli", "train", str(XOR), "--run-dir", str(run), "--quiet",
           *sets("train.steps=40", "train.checkpoint_every=10")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
             for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[2] == 2)
    assert "in use by" in loser[1] or "already exists" in loser[1]
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(x)["kind"] == "batch"]
    assert steps == sorted(set(steps))  # never duplicated


# --- 3. checkpoint order past 99,999,999 ---------------------------------------------------------------

def test_checkpoints_are_ordered_by_step_past_eight_digits(tmp_path):
    d = tmp_path / "checkpoints"
    steps = [99_999_990, 99_999_995, 100_000_000, 100_000_010, 100_000_020]
    for s in steps:
        ckpt.save_checkpoint(d, s, {"w": np.array([float(s)])}, {"trainer": {"step": s}}, "c", "g")
    assert [s for s, _ in ckpt.list_checkpoints(d)] == steps
    assert ckpt.latest_intact(d, lambda m: None).step == 100_000_020
    assert ckpt.find_checkpoint(d, "latest", lambda m: None).step == 100_000_020
    ckpt.prune(d, 3)
    assert [s for s, _ in ckpt.list_checkpoints(d)] == steps[-3:]


# --- 9. the best model is never lost ------------------------------------------------------------------

def test_crash_between_checkpoint_and_best_json_keeps_the_best(tmp_path):
    d = tmp_path / "checkpoints"
    # steps 10..50; the run's best is step 50, but a crash left best.json naming step 10
    for s in (10, 20, 30, 40, 50):
        st = {"trainer": {"step": s, "best": {"step": s if s in (10, 50) else 10, "value": 1.0 / s, "metric": "m"}}}
        ckpt.save_checkpoint(d, s, {"w": np.array([float(s)])}, st, "c", "g")
    ckpt.mark_best(d, 10, "m", 0.1)
    warnings: list[str] = []
    assert ckpt.best_step(d, warnings.append) == 50
    assert any("best.json names step 10" in w for w in warnings)
    assert ckpt.find_checkpoint(d, "best", lambda m: None).step == 50
    ckpt.prune(d, 1)
    assert [s for s, _ in ckpt.list_checkpoints(d)] == [10, 50]  # both records' best kept


def test_prune_keeps_the_best_that_the_newest_checkpoint_records(tmp_path):
    d = tmp_path / "checkpoints"
    for s in (1, 2, 3, 4):
        st = {"trainer": {"step": s, "best": {"step": 2, "value": 0.5, "metric": "m"}}}
        ckpt.save_checkpoint(d, s, {"w": np.array([float(s)])}, st, "c", "g")
    # no best.json at all (killed before it was first written)
    ckpt.prune(d, 1)
    assert [s for s, _ in ckpt.list_checkpoints(d)] == [2, 4]


# --- 12. a file that is a folder ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["arrays.npz", "state.json", "manifest.json"])
def test_checkpoint_file_that_is_a_folder_falls_back(xor_run, tmp_path, name):
    run = copy_run(xor_run, tmp_path / "run")
    newest = run / "checkpoints" / ckpt.checkpoint_name(10)
    (newest / name).unlink()
    (newest / name).mkdir()
    code, out, err = run_cli("eval", run, "--json")
    assert code == 0, err
    assert f"{newest}" in err and "damaged" in err
    assert json.loads(out)["checkpoint"] == 5
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets(*SHORT[1:], "train.steps=10"))
    assert code == 0, err
    assert (run / "checkpoints" / "ckpt-00000010.damaged" / name).is_dir()  # kept aside, never deleted


def test_best_json_and_metrics_as_folders(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    best = run / "checkpoints" / "best.json"
    if best.exists():
        best.unlink()
    best.mkdir()
    assert ckpt.read_best(run / "checkpoints") is None
    code, _, err = run_cli("eval", run, "--checkpoint", "latest")
    assert code == 0, err
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").mkdir()
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=20"))
    line = clean_error(code, err, 2)
    assert "metrics.jsonl" in line and "directory" in line


def test_metrics_shorter_than_the_checkpoint_says_is_refused(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    m = run / "metrics.jsonl"
    m.write_bytes(m.read_bytes()[:40])
    before = m.read_bytes()
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets("train.steps=20"))
    line = clean_error(code, err, 2)
    assert "metrics.jsonl" in line and "metrics_bytes" in line
    assert m.read_bytes() == before


def test_stale_temporaries_are_cleaned_on_start(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    junk = [run / ".metrics.csv.abc123.tmp", run / ".summary.json.xyz.tmp"]
    for j in junk:
        j.write_text("partial")
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets(*SHORT[1:], "train.steps=15"))
    assert code == 0, err
    assert not any(j.exists() for j in junk)
    assert not list(run.glob(".*.tmp"))


# --- 4. special files and bounded memory ----------------------------------------------------------------

def test_fifo_and_devices_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        with pytest.raises(FileFormatError, match="expected a checkpoint file"):
            read_file_bytes(path, "checkpoint file")


def test_fifo_as_manifest_does_not_hang_eval(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    m = run / "checkpoints" / ckpt.checkpoint_name(10) / "manifest.json"
    m.unlink()
    os.mkfifo(m)
    r = subprocess.run([sys.executable, "-m", "nnctl.cli", "eval", str(run), "--json"], capture_output=True,
                       text=True, env=env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "FIFO" in r.stderr and json.loads(r.stdout)["checkpoint"] == 5


def test_dev_zero_as_data_config_and_frozen_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(XOR.read_text().replace("../datasets/xor.csv", "/dev/zero"))
    code, _, err = run_cli("validate", cfg)
    assert "/dev/zero" in clean_error(code, err, 2) and "character device" in err
    code, _, err = run_cli("validate", "/dev/zero")
    assert "character device" in clean_error(code, err, 2)
    code, _, err = run_cli("predict", "/dev/zero", "-i", ROOT / "datasets" / "xor.csv")
    assert "character device" in clean_error(code, err, 2)


def _bomb_csv(path: Path, inflated_mib: int) -> None:
    row = b"0.5,0.25,1\n" * 100_000
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"x1,x2,y\n")
        for _ in range(inflated_mib * 2**20 // len(row)):
            f.write(row)


def test_gzip_csv_bomb_is_refused_with_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    _bomb_csv(bomb, 400)  # ~1.2 MB of gzip -> 400 MiB of CSV -> gigabytes once parsed
    cfg = tmp_path / "c.yaml"
    cfg.write_text(XOR.read_text().replace("../datasets/xor.csv", str(bomb)))
    code, err, peak = cli_peak("validate", cfg, budget="128M")
    line = clean_error(code, err, 1)
    assert "out of memory" in line and "bomb.csv.gz" in line and "NNCTL_MEMORY_BUDGET" in line
    assert peak < 400, f"peak RSS {peak} MiB"


def test_gunzip_bounded_stops_at_the_limit():
    data = gzip.compress(b"\0" * (8 * 2**20))
    with pytest.raises(RuntimeFailure, match="inflates to more than"):
        gunzip_bounded(data, "z.gz", limit=2**20)
    assert gunzip_bounded(data + data, "z.gz") == b"\0" * (16 * 2**20)  # concatenated members


def _npz_with_bomb(path: Path, junk_mib: int) -> None:
    """x, y and an unused compressed member 'junk' that inflates to junk_mib MiB (written streaming)."""
    import io
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, a in (("x", np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)), ("y", np.array([0, 1, 1, 0]))):
            buf = io.BytesIO()
            np.save(buf, a)
            z.writestr(name + ".npy", buf.getvalue())
        n = junk_mib * 2**20 // 4
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
        with z.open("junk.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = b"\0" * 2**20
            for _ in range(junk_mib):
                f.write(chunk)


def test_npz_unused_member_is_never_inflated(tmp_path):
    npz = tmp_path / "bomb.npz"
    _npz_with_bomb(npz, 1024)
    assert npz.stat().st_size < 4 * 2**20
    cfg = tmp_path / "c.yaml"
    text = XOR.read_text().replace("csv: ../datasets/xor.csv", f"npz: {npz}")
    text = text.replace("    features: [x1, x2]\n", "").replace("    labels: [y]\n", "")
    cfg.write_text(text)
    code, err, peak = cli_peak("validate", cfg)
    assert code == 0, err
    assert peak < 400, f"peak RSS {peak} MiB"


def test_npz_member_declaring_more_than_it_holds_is_refused(tmp_path):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        h = io.BytesIO()
        np.lib.format.write_array_header_1_0(h, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
        z.writestr("x.npy", h.getvalue() + b"\0" * 16)
    with pytest.raises(FileFormatError, match=r"array 'x' declares shape \(1099511627776,\)"):
        load_npz_bytes(buf.getvalue(), source="f.npz")


# --- 6. every path a user gives ----------------------------------------------------------------------

def _bad_outputs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    return {
        "missing folder": (str(tmp_path / "nope" / "out.txt"), "does not exist"),
        "existing folder": (str(tmp_path / "adir"), "is a folder"),
        "file as folder": (str(tmp_path / "afile" / "out.txt"), "is a file, not a folder"),
        "300-char name": (str(tmp_path / ("n" * 300)), "name too long"),
        "5000-char path": (str(tmp_path / "/".join(["d" * 9] * 500)), "name too long"),
        "empty": ("", "empty path"),
    }


@pytest.mark.parametrize("case", ["missing folder", "existing folder", "file as folder", "300-char name",
                                  "5000-char path", "empty"])
def test_bad_output_paths_exit_2_with_one_message(tmp_path, case):
    path, words = _bad_outputs(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, _, err = run_cli("graph", XOR, "-o", path)
    assert words in clean_error(code, err, 2), err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    with pytest.raises(InputError, match=words):
        write_output(path, b"data")


def test_bad_run_dir_and_eval_target_paths(tmp_path):
    code, _, err = run_cli("train", XOR, "--run-dir", "", "--quiet")
    assert "empty path" in clean_error(code, err, 2)
    code, _, err = run_cli("eval", "")
    assert "empty path" in clean_error(code, err, 2)
    code, _, err = run_cli("eval", str(tmp_path / ("e" * 300)))
    clean_error(code, err, 2)
    code, _, err = run_cli("train", XOR, "--run-dir", str(tmp_path / ("r" * 300)), "--quiet")
    assert "too long" in clean_error(code, err, 2)
    code, _, err = run_cli("train", XOR, "--run-dir", str(tmp_path / "/".join(["d" * 9] * 500)), "--quiet")
    clean_error(code, err, 2)


@contextlib.contextmanager
def tmpfs(where: Path, *opts: str):
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root (CI runs as root)")
def test_full_disk_output_exits_1_and_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "small", "size=64k") as d:
        (d / "old.txt").write_text("old")
        with pytest.raises(RuntimeFailure, match="disk full"):
            write_output(d / "old.txt", b"x" * 200_000)
        assert (d / "old.txt").read_text() == "old"
        assert sorted(p.name for p in d.iterdir()) == ["old.txt"]
        code, _, err = run_cli("train", XOR, "--run-dir", d / "run", "--quiet", *sets("model.layers[0].units=4000"))
        assert code == 1, err
        assert "Traceback" not in err and "internal error" not in err


@pytest.mark.skipif(not IS_ROOT, reason="mounting a tmpfs needs root (CI runs as root)")
def test_read_only_file_system(tmp_path):
    with tmpfs(tmp_path / "ro", "size=64k", "ro") as d:
        code, _, err = run_cli("graph", XOR, "-o", d / "g.txt")
        assert "read-only file system" in clean_error(code, err, 2)
        code, _, err = run_cli("train", XOR, "--run-dir", d / "run", "--quiet")
        clean_error(code, err, 2)


def test_atomic_write_of_a_255_byte_name(tmp_path):
    p = tmp_path / ("n" * 255)
    atomic_write_bytes(p, b"ok")
    assert p.read_bytes() == b"ok"


# --- 10 / 13. signals and a full stdout -----------------------------------------------------------------

# A child that imports everything first and says so, so the signal lands inside the command.
_READY_CHILD = ("import sys\nimport nnctl.cli, nnctl.validate, nnctl.train.trainer\n"
                "sys.argv = ['nnctl', *sys.argv[1:]]\nsys.stderr.write('READY\\n'); sys.stderr.flush()\n"
                "nnctl.cli.main()\n")


def _signal_cli(sig: int, *argv: str | os.PathLike, after: float = 0.5, second: float | None = None
                ) -> subprocess.CompletedProcess:
    p = subprocess.Popen([sys.executable, "-c", _READY_CHILD, *map(str, argv)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env())
    assert p.stderr.readline().strip() == "READY"
    time.sleep(after)
    p.send_signal(sig)
    if second is not None:
        time.sleep(second)
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.fixture(scope="module")
def slow_config(tmp_path_factory) -> Path:
    """A config whose data (a 6,000,000-row CSV) takes seconds to load even on a fast, idle machine, so a
    signal sent 0.5 s after start lands during it."""
    d = tmp_path_factory.mktemp("slow")
    rng = np.random.default_rng(0)
    x = rng.random((200_000, 2))
    y = (x.sum(1) > 1).astype(int)
    block = "".join(f"{a:.6f},{b:.6f},{c}\n" for (a, b), c in zip(x, y))
    with open(d / "big.csv", "w") as f:
        f.write("x1,x2,y\n")
        for _ in range(30):
            f.write(block)
    cfg = d / "slow.yaml"
    cfg.write_text(XOR.read_text().replace("../datasets/xor.csv", str(d / "big.csv")).replace("batch_size: full",
                                                                                              "batch_size: 32"))
    return cfg


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_validate_exits_130_or_143(slow_config, sig, code):
    r = _signal_cli(sig, "validate", slow_config)
    line = clean_error(r.returncode, r.stderr, code)
    assert "interrupted" in line and "validate" in line and "did not finish" in line


def test_ctrl_c_while_train_loads_data(slow_config, tmp_path):
    r = _signal_cli(signal.SIGINT, "train", slow_config, "--run-dir", tmp_path / "run", "--quiet")
    line = clean_error(r.returncode, r.stderr, 130)
    if "no step ran" in line:  # the signal landed while the data loaded: the failed start leaves nothing
        assert not (tmp_path / "run").exists()
    else:  # a fast machine had started training: the loop saved a checkpoint and says so
        assert "checkpoint saved" in line and "--resume" in line


def test_double_ctrl_c_during_training_exits_130(tmp_path):
    run = tmp_path / "run"
    r = _signal_cli(signal.SIGINT, "train", ROOT / "configs" / "digits-mlp.yaml", "--run-dir", run, "--quiet",
                    *sets("train.steps=100000", "train.checkpoint_every=100000", "train.eval_every=100000"),
                    after=3.0, second=0.003)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr and "SIGINT" in r.stderr


def test_stdout_that_is_dev_full():
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "nnctl.cli", "graph", str(XOR)], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=env(), timeout=120)
    assert r.returncode == 1
    assert "cannot write to standard output" in r.stderr and "internal error" not in r.stderr
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


# --- 5. every field of every state file -------------------------------------------------------------

def reseal(folder: Path) -> None:
    """Recompute a checkpoint's manifest hashes after an edit: what a hand-edited run looks like."""
    from nnctl.fileio import sha256_bytes
    m = json.loads((folder / "manifest.json").read_text())
    for name in m["files"]:
        m["files"][name] = sha256_bytes((folder / name).read_bytes())
    m["checksum"] = ckpt._manifest_checksum(m)
    (folder / "manifest.json").write_text(json.dumps(m))


STATE_EDITS = {
    "trainer.step": ("trainer", "step", "abc"),
    "trainer.loss_acc": ("trainer", "loss_acc", []),
    "rng": (None, "rng", [1, 2]),
    "trainer.elapsed": ("trainer", "elapsed", "x"),
    "trainer.step ": ("trainer", "step", 10**30),
    "trainer.step  ": ("trainer", "step", 20.5),
    "trainer.metrics_bytes": ("trainer", "metrics_bytes", -400),
    "trainer.best.step": ("trainer", "best", {"step": 99, "value": 0.1, "metric": "val_accuracy"}),
    "trainer.wait": ("trainer", "wait", -1),
}


@pytest.mark.parametrize("case", list(STATE_EDITS))
def test_hand_edited_state_is_refused_naming_the_field_and_resume_falls_back(xor_run, tmp_path, case):
    run = copy_run(xor_run, tmp_path / "run")
    newest = run / "checkpoints" / ckpt.checkpoint_name(10)
    section, key, value = STATE_EDITS[case]
    st = json.loads((newest / "state.json").read_text())
    (st[section] if section else st)[key] = value
    (newest / "state.json").write_text(json.dumps(st))
    reseal(newest)
    metrics_before = (run / "metrics.jsonl").read_bytes()
    code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet", *sets(*SHORT[1:], "train.steps=10"))
    assert code == 0, err
    assert "state.json" in err and case.strip() in err and "skipped" in err
    assert "Traceback" not in err and "internal error" not in err
    def records(text: str) -> list[dict]:
        return [{k: v for k, v in json.loads(x).items() if k != "time"} for x in text.splitlines()]
    after = records((run / "metrics.jsonl").read_text())
    assert [r["step"] for r in after if r["kind"] == "batch"] == [5, 10]  # from step 5: not torn, not duplicated
    assert after == records(metrics_before.decode())  # the same records as the uninterrupted run


def test_edited_manifest_fields_are_refused(xor_run, tmp_path):
    run = copy_run(xor_run, tmp_path / "run")
    folder = run / "checkpoints" / ckpt.checkpoint_name(10)
    m = json.loads((folder / "manifest.json").read_text())
    m["arrays"] = "everything"
    m["checksum"] = ckpt._manifest_checksum(m)
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(FileFormatError, match=r"manifest.json: arrays: expected a list"):
        ckpt.load_checkpoint(folder)


@pytest.mark.parametrize("value", [{"step": "abc"}, [], {"step": -3}, {"step": 5, "value": "x", "metric": "m"}])
def test_malformed_best_json_is_ignored(tmp_path, value):
    d = tmp_path / "checkpoints"
    ckpt.save_checkpoint(d, 5, {"w": np.zeros(1)}, {"trainer": {"step": 5, "best": None}}, "c", "g")
    (d / "best.json").write_text(json.dumps(value))
    assert ckpt.read_best(d) is None
    with pytest.raises(FileFormatError, match="no best checkpoint"):
        ckpt.find_checkpoint(d, "best", lambda m: None)


def test_summary_json_validation_names_the_field(tmp_path):
    from nnctl.train.state_schema import validate_summary
    with pytest.raises(FileFormatError, match=r"summary.json: steps: expected an integer"):
        validate_summary({"status": "completed", "steps": "10", "total_steps": 10}, tmp_path / "summary.json")
    validate_summary({"status": "completed", "steps": 10, "total_steps": 10, "best": None, "wall_time": 1.5},
                     tmp_path / "summary.json")


# --- frozen-file metadata and sizes --------------------------------------------------------------------

@pytest.fixture(scope="module")
def frozen_file(xor_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("frozen") / "xor.nnf"
    code, _, err = run_cli("freeze", xor_run, "-o", out)
    assert code == 0, err
    return out


def _reframe(src: Path, dest: Path, edit) -> Path:
    from nnctl.export.frozen import frozen_bytes, read_frozen_file
    graph_json, meta, arrays = read_frozen_file(src)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version")}
    graph_json, meta, arrays = edit(graph_json, meta, arrays)
    import io
    # frozen_bytes refuses nothing it is given: json with allow_nan=False keeps huge ints as ints
    dest.write_bytes(frozen_bytes(graph_json, arrays, meta))
    del io
    return dest


@pytest.mark.parametrize(("field", "value", "words"), [
    ("l2_penalty", 10**400, "l2_penalty must be a finite number"),
    ("data_source", {"kind": 5, "features": None, "labels": None, "x_key": None, "y_key": None},
     "data_source.kind must be a string"),
    ("signature", "dtype", "float1024"),
])
def test_frozen_metadata_is_validated(frozen_file, tmp_path, field, value, words):
    def edit(g, meta, arrays):
        if field == "signature":
            meta["signature"]["inputs"][0]["dtype"] = "float1024"
        else:
            meta[field] = value
        return g, meta, arrays
    bad = _reframe(frozen_file, tmp_path / "bad.nnf", edit)
    code, _, err = run_cli("predict", bad, "-i", ROOT / "datasets" / "xor.csv")
    line = clean_error(code, err, 2)
    assert "bad.nnf" in line and words in line


def test_frozen_graph_declaring_2_39_features_is_refused_with_bounded_memory(frozen_file, tmp_path):
    def edit(g, meta, arrays):
        text = json.dumps(g)
        text = text.replace("[null, 2]", f"[null, {2**39}]")
        meta["signature"]["inputs"][0]["shape"] = [None, 2**39]
        meta["features"]["shape"] = [2**39]
        return json.loads(text), meta, arrays
    bad = _reframe(frozen_file, tmp_path / "huge.nnf", edit)
    code, err, peak = cli_peak("predict", bad, "-i", ROOT / "datasets" / "xor.csv")
    line = clean_error(code, err, code if code in (1, 2) else 2)
    assert "huge.nnf" in line
    assert peak < 400, f"peak RSS {peak} MiB"


# --- 7. absurd sizes in configs -------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "new", "key", "limit"), [
    ("      units: 3\n", f"      units: {2**70}\n", "model.layers[0].units", None),
    ("  train:\n    csv: ../datasets/xor.csv\n    features: [x1, x2]\n    labels: [y]\n",
     "  train:\n    generator: xor\n    n: 100000000000\n", "data.train.n", "100000000"),
    ("initializer: {name: uniform, min: 0.1, max: 0.9}\n      bias",
     "initializer: {name: uniform, min: -1.7e308, max: 1.7e308}\n      bias", "initializer.min", "1000000"),
    ("name: xor\n", "name: " + "x" * 300 + "\n", "name", "128"),
    ("      units: 3\n", "      units: 1000000\n", "model.layers[0].units", "memory budget"),
])
def test_absurd_sizes_are_refused_at_validate_naming_the_key(tmp_path, monkeypatch, text, new, key, limit):
    monkeypatch.setenv("NNCTL_MEMORY_BUDGET", "8M")  # 1,000,000 units: 2 kernels + a bias, 16 MB
    src = XOR.read_text()
    assert text in src
    cfg = tmp_path / "c.yaml"
    cfg.write_text(src.replace(text, new, 1).replace("../datasets/xor.csv", str(ROOT / "datasets" / "xor.csv")))
    code, _, err = run_cli("validate", cfg)
    line = clean_error(code, err, 2)
    assert key in line
    if limit is not None:
        assert limit in line


def test_huge_class_names_and_feature_lists_validate(tmp_path):
    n = 100_000
    cfg = tmp_path / "c.yaml"
    names = "[" + ", ".join(f"c{i}" for i in range(n)) + "]"
    cfg.write_text(xor_text().replace("  label_type: class\n", f"  label_type: class\n  class_names: {names}\n"))
    code, _, err = run_cli("validate", cfg)
    # refused for a real reason (the output layer has 1 unit for 100,000 classes), after the whole list was read
    line = clean_error(code, err, 2)
    assert "100000" in line.replace(",", "")
    feats = "[" + ", ".join(f"f{i}" for i in range(n)) + "]"
    cfg.write_text(xor_text().replace("features: [x1, x2]", f"features: {feats}"))
    code, _, err = run_cli("validate", cfg)
    line = clean_error(code, err, 2)
    assert "data.train.features[0]" in line and "f0" in line


# --- 8 / 11. data errors at the config key; labels checked before training ------------------------------

def test_bad_feature_column_is_named_at_the_config_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(xor_text().replace("features: [x1, x2]", "features: [x1, banana]")
                   .replace("../datasets/xor.csv", str(ROOT / "datasets" / "xor.csv")))
    code, _, err = run_cli("validate", cfg)
    line = clean_error(code, err, 2)
    assert f"{cfg}:9: data.train.features[1]: unknown feature column 'banana'" in line
    cfg.write_text(cfg.read_text().replace("features: [x1, banana]", "features: [x1, x2]")
                   .replace("labels: [y]", "labels: [why]"))
    code, _, err = run_cli("train", cfg, "--run-dir", tmp_path / "run", "--quiet")
    assert "data.train.labels[0]: unknown label column 'why'" in clean_error(code, err, 2)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.float64])
def test_npz_label_that_would_wrap_is_named_by_array_and_index(tmp_path, dtype):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    big = {np.uint64: np.uint64(2**64 - 1), np.int64: np.int64(2**62), np.float64: 1e300}[dtype]
    y = np.array([0, 1, big, 0], dtype=dtype)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    cfg = tmp_path / "c.yaml"
    text = XOR.read_text().replace("csv: ../datasets/xor.csv", f"npz: {tmp_path / 'd.npz'}")
    cfg.write_text(text.replace("    features: [x1, x2]\n", "").replace("    labels: [y]\n", "")
                   .replace("  label_type: class\n", "  label_type: class\n  num_classes: 2\n")
                   .replace("batch_size: full", "batch_size: 4"))
    for cmd in (("validate", cfg), ("train", cfg, "--run-dir", tmp_path / "run", "--quiet")):
        code, _, err = run_cli(*cmd)
        line = clean_error(code, err, 2)
        assert "d.npz:y[2]" in line


def test_idx_header_whose_dimensions_overflow(tmp_path):
    import struct
    imgs = tmp_path / "imgs.idx"
    imgs.write_bytes(struct.pack(">IIII", 0x803, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"\0" * 64)
    labs = tmp_path / "labs.idx"
    labs.write_bytes(struct.pack(">II", 0x801, 1) + b"\0")
    from nnctl.data.idx_loader import load_idx
    from nnctl.errors import DataError
    with pytest.raises(DataError, match=r"imgs.idx: truncated IDX images: the header says 4294967295 x"):
        load_idx(imgs, labs)


# --- 13. no RuntimeWarning noise ----------------------------------------------------------------------------

def test_extreme_but_valid_values_print_no_runtime_warning(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(xor_text().replace("{name: uniform, min: 0.1, max: 0.9}",
                                      "{name: uniform, min: -1000000, max: 1000000}")
                   .replace("type: sum_squares", "type: sum_squares\n  l2: 1000000"))
    r = subprocess.run([sys.executable, "-W", "default", "-m", "nnctl.cli", "train", str(cfg), "--run-dir",
                        str(tmp_path / "run"), "--quiet", *sets("train.steps=3")], capture_output=True, text=True,
                       env=env(), timeout=120)
    assert "RuntimeWarning" not in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.returncode in (0, 1), r.stderr


def test_reading_checkpoints_of_a_live_run_is_consistent(tmp_path):
    """A run pruning a checkpoint at every step (keep_last 1): readers never see a half-deleted one."""
    run = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "nnctl.cli", "train", str(XOR), "--run-dir", str(run), "--quiet",
                          *sets("train.steps=100000", "train.checkpoint_every=1", "train.keep_last=1",
                                "train.eval_every=100000", "train.log_every=100000")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        deadline = time.time() + 120
        while not list((run / "checkpoints").glob("ckpt-*")) and time.time() < deadline:
            time.sleep(0.1)
        warnings: list[str] = []
        steps = []
        # at least 30 reads, and on until the run has moved on (a loaded machine may starve it)
        while len(steps) < 30 or (steps[-1] == steps[0] and time.time() < deadline):
            c = ckpt.latest_intact(run / "checkpoints", warnings.append)
            assert c is not None
            steps.append(c.step)
        assert warnings == [], warnings
        assert steps == sorted(steps) and steps[-1] > steps[0]  # the run was live, and moving
        code, _, err = run_cli("train", XOR, "--run-dir", run, "--resume", "--quiet")
        assert "in use by pid" in clean_error(code, err, 2)
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=120)
    assert p.returncode == 143
