"""Tabular files (CSV, TSV, any delimiter, gzipped or not, and Parquet) read with pyarrow.

pyarrow's streaming CSV reader parses the file in blocks on its own threads; each block's numeric
columns are copied straight into one preallocated float32 block ``[rows, columns]``, so the peak
memory is the result plus a few blocks, and the 200k x 31 benchmark file (bench/load_csv.py) loads
in about pandas' time. String columns stay pyarrow arrays (compact, and the vocabulary and
tokenizer code in :mod:`nnctl.data.features` works on them with pyarrow.compute).

pyarrow's own errors carry no line numbers. When it refuses a file (a ragged row, bad quoting, a
cell that does not convert), :mod:`nnctl.data.csv_diagnose` walks the file with Python's csv module
and names the first bad ``file:line`` and column; that slow walk happens only on the error path.

Missing values: an empty cell and pyarrow's null spellings (``NA``, ``N/A``, ``NaN``, ``null`` ...)
are missing; numeric columns hold them as NaN, string columns as nulls.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnctl.errors import DataError
from nnctl.fileio import read_file_bytes

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", "\t", ";", "|")
# Small blocks keep the peak memory near the size of the result (measured in bench/load_csv.py:
# 256 KiB blocks cost no time against 1 MiB ones on 2 cores and halve the reader's own memory).
BLOCK_SIZE = 256 * 1024
NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
               "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null", "?"]
_CONVERSION = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'", re.S)


def _pa() -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    # pyarrow's own SIGINT handler stops a read and swallows the signal when the read ends first: a
    # Ctrl-C while data loads would be lost and training would start. Python's handler raises
    # KeyboardInterrupt as soon as each streamed batch returns, which the CLI reports (exit 130).
    pa.enable_signal_handlers(False)
    return pa, pacsv


# --- opening ------------------------------------------------------------------------------------

class _BoundedStream(io.RawIOBase):
    """A gunzipped stream that stops with BudgetError once it has produced ``limit`` bytes: a 4 MB
    gzip bomb is refused after the budget's worth of text, never inflated to gigabytes."""

    def __init__(self, inner: BinaryIO, limit: int, src: str) -> None:
        self.inner, self.limit, self.src, self.count = inner, limit, src, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        self.count += len(data)
        if self.count > self.limit:
            from nnctl.fileio import BUDGET_ENV, BudgetError, fmt_bytes
            raise BudgetError(f"out of memory: {self.src} inflates to more than {fmt_bytes(self.limit)} (the memory "
                              f"budget; set {BUDGET_ENV} to change it)")
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def open_data_stream(path: str | os.PathLike, what: str = "data file") -> BinaryIO:
    """A binary stream of the file's bytes, gunzipped on the fly when it starts with the gzip magic.

    This is the one place tabular data is opened: regular files only (a FIFO or a device is refused
    without blocking on it), and the decompressed text is capped at half the memory budget (a value
    of text is at least 2 bytes, "0,", and becomes a 4-byte float32). Missing files, folders and
    unreadable files are a DataError naming the file."""
    from nnctl.fileio import memory_budget, open_regular
    p = Path(path)
    fd = open_regular(p, what, DataError)
    f: BinaryIO = os.fdopen(fd, "rb")
    head = f.read(2)
    f.seek(0)
    if head == _GZIP_MAGIC:
        gz = gzip.GzipFile(fileobj=f, mode="rb")
        return io.BufferedReader(_BoundedStream(gz, memory_budget() // 2, str(p)))  # type: ignore[return-value]
    return f


def _head_bytes(path: Path, what: str) -> bytes:
    try:
        with open_data_stream(path, what) as f:
            return f.read(SNIFF_BYTES)
    except (EOFError, OSError) as e:
        raise DataError(f"{path}: corrupt or truncated gzip data: {e}") from None


def sniff_delimiter(sample: str) -> str:
    """The delimiter among , TAB ; | that splits the sample's first lines into the same number (> 1)
    of fields most consistently; ',' when none does (a one-column file)."""
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if len(sample) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    best, best_score = ",", 0.0
    for d in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        same = sum(c == counts[0] for c in counts) / len(counts)
        score = same * 1000 + counts[0]
        if score > best_score:
            best, best_score = d, score
    return best


# --- the table ----------------------------------------------------------------------------------

@dataclass
class Table:
    """Columns read from one file. ``numeric`` holds the numeric columns ``numeric_names`` as one
    float32 block (NaN = missing); ``strings`` the other columns as pyarrow string arrays (null =
    missing). ``rows`` maps each row to its data-row number in the file (0 = first row after the
    header), so messages name the right line after rows were dropped or split off."""

    src: str
    names: list[str]
    numeric_names: list[str]
    numeric: np.ndarray
    strings: dict[str, Any]
    rows: np.ndarray
    header: bool = True
    delimiter: str = ","
    base_dir: Path | None = None
    _lines: Callable[[int], int] | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])

    def __len__(self) -> int:
        return self.n_rows

    def kind(self, name: str) -> str:
        return "numeric" if name in self.numeric_names or name in self.separate else "string"

    separate: dict[str, np.ndarray] = field(default_factory=dict)

    def numeric_column(self, name: str) -> np.ndarray:
        if name in self.separate:
            return self.separate[name]
        return self.numeric[:, self.numeric_names.index(name)]

    def string_column(self, name: str) -> Any:
        """The column as a pyarrow string array (numbers as their text)."""
        if name in self.strings:
            return self.strings[name]
        import pyarrow as pa
        v = self.numeric_column(name)
        return pa.array([None if np.isnan(a) else _num_text(a) for a in v], type=pa.string())

    def line(self, i: int) -> int | None:
        """The file line where row ``i`` (of this table) starts, or None when not known."""
        return self._lines(int(self.rows[i])) if self._lines is not None else None

    def at(self, i: int) -> str:
        ln = self.line(i)
        return f"{self.src}:{ln}" if ln is not None else f"{self.src} (row {int(self.rows[i]) + 1})"

    def take(self, idx: np.ndarray) -> Table:
        import pyarrow as pa
        idx = np.asarray(idx, dtype=np.int64)
        pidx = pa.array(idx)
        return Table(self.src, list(self.names), list(self.numeric_names), self.numeric[idx],
                     {k: v.take(pidx) for k, v in self.strings.items()}, self.rows[idx], self.header,
                     self.delimiter, self.base_dir, self._lines, {k: v[idx] for k, v in self.separate.items()})


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


def table_from_columns(columns: dict[str, Sequence[Any]], src: str = "<rows>",
                       numeric: Sequence[str] = ()) -> Table:
    """A Table from Python columns (raw rows given to predict: strings, numbers, None for gaps).

    ``numeric`` names the columns to convert to float (a non-number there is a DataError)."""
    import pyarrow as pa
    n = None
    for k, v in columns.items():
        if n is None:
            n = len(v)
        elif len(v) != n:
            raise DataError(f"{src}: column {k!r} has {len(v)} values, the others {n}")
    n = n or 0
    num_names = [k for k in columns if k in numeric]
    block = np.empty((n, len(num_names)), np.float32)
    for j, k in enumerate(num_names):
        for i, cell in enumerate(columns[k]):
            block[i, j] = _to_float(cell, src, i, k)
    strings = {k: pa.array([None if _is_missing(c) else str(c) for c in v], type=pa.string())
               for k, v in columns.items() if k not in numeric}
    return Table(src, list(columns), num_names, block, strings, np.arange(n, dtype=np.int64))


def _is_missing(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float):
        return bool(np.isnan(cell))
    return isinstance(cell, str) and cell.strip() in NULL_VALUES


def _to_float(cell: Any, src: str, i: int, col: str) -> float:
    if _is_missing(cell):
        return np.nan
    if isinstance(cell, bool):
        return float(cell)
    try:
        v = float(cell)
    except (TypeError, ValueError):
        raise DataError(f"{src}: row {i + 1}: column {col!r}: expected a number, got {cell!r}") from None
    if not np.isfinite(v):
        raise DataError(f"{src}: row {i + 1}: column {col!r}: expected a finite number, got {cell!r}")
    return v


# --- reading ------------------------------------------------------------------------------------

def _decode_sample(src: str, raw: bytes) -> str:
    text = raw.decode("utf-8-sig", errors="strict") if raw else ""
    return text


def read_header(path: str | os.PathLike, delimiter: str | None = None) -> tuple[list[str], str, str]:
    """(first row's cells, delimiter, decoded sample) of a CSV file."""
    p = Path(path)
    raw = _head_bytes(p, "CSV file")
    if raw[:4] == _ZIP_MAGIC:
        raise DataError(f"{p}: this is a zip/npz archive, not CSV text (use an npz data source)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(raw) - 4:  # a multi-byte character cut by the sample's end is not an error
            line = raw[: e.start].count(b"\n") + 1
            raise DataError(f"{p}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); is this a CSV file?") from None
        text = raw[: e.start].decode("utf-8-sig")
    if not text.strip():
        raise DataError(f"{p}: empty CSV file (no header and no rows)")
    d = delimiter or sniff_delimiter(text)
    first = next((r for r in csv.reader(io.StringIO(text, newline=""), delimiter=d) if r and any(c.strip() for c in r)),
                 [])
    return [c.strip() for c in first], d, text


def is_parquet(path: str | os.PathLike) -> bool:
    from nnctl.fileio import open_regular
    try:
        fd = open_regular(path, "data file", DataError)  # never blocks on a FIFO
    except DataError:
        return False  # open_data_stream words the error
    with os.fdopen(fd, "rb") as f:
        return f.read(4) == _PARQUET_MAGIC


def _row_bound(path: Path, sample: str, bound_known: int | None = None) -> int | None:
    """A generous bound on the rows of an uncompressed file: its size over the shortest line of the
    sample. The block is allocated that large but only the pages rows are written to become
    resident, so over-estimating costs address space, not memory; a file whose later rows are
    shorter than any in the sample falls back to growing the block. None for gzip."""
    if bound_known is not None:
        return bound_known
    with open(path, "rb") as f:
        if f.read(2) == _GZIP_MAGIC:
            return None
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if len(sample) >= SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]
    lens = [len(ln.encode()) + 1 for ln in lines] or [1]
    # the shortest sampled line, but no less than half the average: a sample with one tiny line must
    # not reserve address space for millions of rows (memory limits count address space too)
    per_row = max(1, min(lens), sum(lens) // (2 * len(lens)))
    return path.stat().st_size // per_row + 2


class _Block:
    """A float32 [rows, k] block grown as batches arrive (preallocated when the row bound is known)."""

    def __init__(self, k: int, bound: int | None) -> None:
        self.k = k
        self.n = 0
        self.parts: list[np.ndarray] | None = None if bound is not None else []
        self.buf = np.empty((bound or 0, k), np.float32) if bound is not None else None

    def add(self, block: np.ndarray, m: int) -> None:
        if self.buf is not None and self.n + m <= self.buf.shape[0]:
            self.buf[self.n:self.n + m] = block
        else:
            if self.parts is None:
                self.parts = [self.buf[: self.n]]
                self.buf = None
            self.parts.append(np.array(block, np.float32))
        self.n += m

    def result(self) -> np.ndarray:
        if self.parts is None:
            assert self.buf is not None
            return self.buf[: self.n]
        return np.concatenate(self.parts) if self.parts else np.empty((0, self.k), np.float32)


def read_table(path: str | os.PathLike, *, delimiter: str | None = None, header: bool | None = True,
               numeric: Sequence[str] = (), strings: Sequence[str] = (), skip: Sequence[str] = (),
               names: Sequence[str] | None = None, infer: bool = True, separate: Sequence[str] = ()) -> Table:
    """Read a CSV (any delimiter, gzipped or not) or Parquet file into a :class:`Table`.

    ``numeric`` / ``strings`` force columns to a kind; other columns are numeric when pyarrow
    reads them as numbers, else strings (``infer=False``: strings). ``skip`` columns are not read.
    Numeric ``separate`` columns (labels) get float64 arrays of their own instead of a block column.
    ``header=False`` reads a headerless file whose columns are ``names``; ``header=None`` decides
    from the first row (a header when it shares a name with ``names``)."""
    p = Path(path)
    src = str(path)
    if is_parquet(p):
        return _read_parquet(p, numeric, strings, skip, infer)
    first, delim, sample = read_header(p, delimiter)
    if header is None:
        header = names is None or bool(set(first) & set(names)) or not _all_numbers(first)
    if header:
        col_names = first
        from nnctl.data.csv_diagnose import check_header
        check_header(src, _first_line(sample), col_names)
    else:
        if names is None:
            col_names = [f"#{j}" for j in range(len(first))]
        else:
            col_names = list(names)
    forced_str = set(strings)
    forced_num = set(numeric)
    for _attempt in range(len(col_names) + 2):
        try:
            return _stream(p, src, col_names, delim, bool(header), forced_num, forced_str, set(skip), infer, sample,
                           set(separate))
        except _Retry as r:  # an inferred-numeric column held text further down: read it as text
            forced_str.add(r.column)
    raise DataError(f"{src}: could not settle the column types")  # pragma: no cover -- bounded above


def _first_line(sample: str) -> int:
    for i, ln in enumerate(sample.splitlines()):
        if ln.strip():
            return i + 1
    return 1


def _all_numbers(cells: list[str]) -> bool:
    try:
        [float(c) for c in cells if c]
    except ValueError:
        return False
    return any(cells)


def _sample_kinds(sample: str, names: list[str], delim: str, header: bool) -> dict[str, str]:
    """"numeric" or "string" per column as pyarrow reads the sample's complete lines ({} when the
    sample cannot be parsed on its own, e.g. cut inside a quoted cell: then pyarrow infers)."""
    pa, pacsv = _pa()
    cut = sample.rfind("\n")
    if cut <= 0:
        return {}
    try:
        t = pacsv.read_csv(io.BytesIO(sample[:cut + 1].encode("utf-8")),
                           read_options=pacsv.ReadOptions(column_names=names,
                                                          skip_rows=_first_line(sample) if header else 0),
                           parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values='"' in sample),
                           convert_options=pacsv.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return {}
    out = {}
    for f in t.schema:
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type):
            out[f.name] = "numeric"
        elif not pa.types.is_null(f.type):
            out[f.name] = "string"
    return out


def _maybe_retry(e: Exception, names: list[str], forced_num: set[str], forced_str: set[str], infer: bool) -> None:
    """A conversion error in a column whose type was only guessed: read it again as text."""
    m = _CONVERSION.search(str(e))
    if m and infer:
        col = names[int(m.group(1))] if int(m.group(1)) < len(names) else None
        if col is not None and col not in forced_num and col not in forced_str:
            raise _Retry(col) from None


class _Retry(Exception):
    def __init__(self, column: str) -> None:
        self.column = column


def _stream(p: Path, src: str, col_names: list[str], delim: str, header: bool, forced_num: set[str],
            forced_str: set[str], skip: set[str], infer: bool, sample: str, separate: set[str]) -> Table:
    pa, pacsv = _pa()
    keep = [c for c in col_names if c not in skip]
    # Declared types let pyarrow skip its per-block type inference (half its time on numeric files).
    guessed = _sample_kinds(sample, col_names, delim, header) if infer else {}
    types: dict[str, Any] = {}
    for c in keep:
        if c in forced_str or (not infer and c not in forced_num):
            types[c] = pa.string()
        elif c in forced_num or guessed.get(c) == "numeric":
            types[c] = pa.float64() if c in separate else pa.float32()
        elif guessed.get(c) == "string":
            types[c] = pa.string()
    read_opts = pacsv.ReadOptions(column_names=col_names, skip_rows=_first_line(sample) if header else 0,
                                  block_size=BLOCK_SIZE)
    parse_opts = pacsv.ParseOptions(delimiter=delim, newlines_in_values='"' in sample,
                                    ignore_empty_lines=True)
    conv = pacsv.ConvertOptions(column_types=types, include_columns=keep, null_values=NULL_VALUES,
                                strings_can_be_null=True, quoted_strings_can_be_null=True)
    bound = None
    diag = _Diagnose(p, src, col_names, delim, header)
    stream = open_data_stream(p, "CSV file")
    try:
        try:
            reader = pacsv.open_csv(stream, read_options=read_opts, parse_options=parse_opts,
                                    convert_options=conv)
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e) or "no data" in str(e).lower():
                raise DataError(f"{src}: header only, no data rows") from None
            _maybe_retry(e, col_names, forced_num, forced_str, infer)
            raise diag.failure(e, forced_num, infer) from None
        schema = reader.schema
        all_num = [f.name for f in schema if _is_num_type(pa, f.type)]
        num_names = [c for c in all_num if c not in separate]
        sep_names = [c for c in all_num if c in separate]
        str_names = [f.name for f in schema if f.name not in all_num]
        block = _Block(len(num_names), _row_bound(p, sample, bound_known=bound))
        sep_parts: dict[str, list[np.ndarray]] = {c: [] for c in sep_names}
        chunks: dict[str, list] = {c: [] for c in str_names}
        n = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as e:
                _maybe_retry(e, col_names, forced_num, forced_str, infer)
                raise diag.failure(e, forced_num, infer) from None
            m_rows = batch.num_rows
            block.add(_batch_block(pa, batch, num_names), m_rows)
            for c in sep_names:
                sep_parts[c].append(np.asarray(_float_col(batch.column(c)), np.float64))
            for c in str_names:
                col = batch.column(c)
                if col.type != pa.string():
                    col = col.cast(pa.string())
                chunks[c].append(col)
            n += m_rows
    except (EOFError, OSError, gzip.BadGzipFile) as e:
        raise DataError(f"{src}: corrupt or truncated gzip data: {e}") from None
    finally:
        stream.close()
    if n == 0:
        raise DataError(f"{src}: header only, no data rows (expected rows after line {_first_line(sample)})"
                        if header else f"{src}: empty CSV file (no rows)")
    numeric_block = block.result()
    _check_finite(numeric_block, num_names, diag)
    strings = {c: pa.chunked_array(chunks[c], type=pa.string()) for c in str_names}
    _check_utf8_done = strings  # pyarrow validated UTF-8 while converting
    del _check_utf8_done
    sep = {c: np.concatenate(sep_parts[c]) for c in sep_names}
    for c, v in sep.items():
        if np.isinf(v).any():
            raise diag.cell_error(int(np.flatnonzero(np.isinf(v))[0]), c, "expected a finite number")
    return Table(src, keep, num_names, numeric_block, strings, np.arange(n, dtype=np.int64), header, delim,
                 p.parent, diag.line_of_row, sep)


def _batch_block(pa: Any, batch: Any, names: list[str]) -> np.ndarray:
    """The batch's numeric columns as one row-major float32 array (NaN for nulls), made by pyarrow in
    one pass when every column is float32, else column by column."""
    if not names:
        return np.empty((batch.num_rows, 0), np.float32)
    sub = batch.select(names)
    if all(f.type == pa.float32() for f in sub.schema):
        return np.asarray(sub.to_tensor(null_to_nan=True, row_major=True))
    with np.errstate(over="ignore"):  # an overflow to inf is reported by cell afterwards
        return np.column_stack([_float_col(c) for c in sub.columns]).astype(np.float32, copy=False)


def _is_num_type(pa: Any, t: Any) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def _float_col(col: Any) -> np.ndarray:
    import pyarrow as pa
    if pa.types.is_null(col.type):
        return np.full(len(col), np.nan, np.float32)
    return col.to_numpy(zero_copy_only=False)


def _check_finite(block: np.ndarray, names: list[str], diag: _Diagnose) -> None:
    """inf (and float32 overflow) is bad data; NaN is a missing value."""
    if block.size == 0:
        return
    bad = np.isinf(block)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise diag.cell_error(i, names[j], "expected a finite number")


def _read_parquet(p: Path, numeric: Sequence[str], strings: Sequence[str], skip: Sequence[str],
                  infer: bool) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        t = pq.read_table(p)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{p}: cannot read the Parquet file: {e}") from None
    src = str(p)
    names = [c for c in t.column_names if c not in skip]
    num = [c for c in names if c in numeric or (c not in strings and infer
                                                 and _is_num_type(pa, t.schema.field(c).type))]
    block = np.empty((t.num_rows, len(num)), np.float32)
    for j, c in enumerate(num):
        col = t.column(c)
        try:
            if not _is_num_type(pa, col.type):
                col = col.cast(pa.float64())
        except pa.ArrowInvalid as e:
            raise DataError(f"{src}: column {c!r}: expected numbers: {e}") from None
        block[:, j] = _float_col(col.combine_chunks()) if col.num_chunks != 1 else _float_col(col.chunk(0))
    if np.isinf(block).any():
        i, j = (int(v) for v in np.argwhere(np.isinf(block))[0])
        raise DataError(f"{src} (row {i + 1}): column {num[j]!r}: expected a finite number, got {block[i, j]}")
    strs = {}
    for c in names:
        if c in num:
            continue
        col = t.column(c)
        strs[c] = col if col.type == pa.string() else col.cast(pa.string())
    return Table(src, names, num, block, strs, np.arange(t.num_rows, dtype=np.int64), True, ",", p.parent,
                 None)


# --- diagnosis on the error path ----------------------------------------------------------------

class _Diagnose:
    """Finds file:line for pyarrow's errors by reading the file with Python's csv module (slow, but
    it runs only when something is wrong)."""

    def __init__(self, p: Path, src: str, names: list[str], delim: str, header: bool) -> None:
        self.p, self.src, self.names, self.delim, self.header = p, src, names, delim, header
        self._rows: tuple[list[list[str]], list[int]] | None = None

    def rows(self) -> tuple[list[list[str]], list[int]]:
        if self._rows is None:
            from nnctl.data.csv_diagnose import read_rows
            rows, lines = read_rows(self.p, self.delim)
            if self.header:
                rows, lines = rows[1:], lines[1:]
            self._rows = (rows, lines)
        return self._rows

    def line_of_row(self, r: int) -> int:
        rows, lines = self.rows()
        return lines[r] if 0 <= r < len(lines) else r + (2 if self.header else 1)

    def cell_error(self, r: int, col: str, what: str) -> DataError:
        rows, lines = self.rows()
        j = self.names.index(col)
        cell = rows[r][j] if r < len(rows) and j < len(rows[r]) else "?"
        from nnctl.data.csv_diagnose import is_number
        why = " (too large for float32)" if is_number(cell) and np.isfinite(float(cell)) else ""
        return DataError(f"{self.src}:{self.line_of_row(r)}: column {col!r}: {what}, got {cell!r}{why}")

    def failure(self, e: Exception, numeric: set[str], infer: bool) -> DataError:
        """The first problem in the file, named at file:line (pyarrow's text as a last resort)."""
        from nnctl.data.csv_diagnose import find_problem
        msg = find_problem(self.p, self.src, self.delim, self.names, self.header, numeric)
        if msg is not None:
            return DataError(msg)
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        return DataError(f"{self.src}: cannot parse the CSV file: {text}")


def iter_batches(path: str | os.PathLike, delimiter: str | None = None) -> Iterator[Any]:
    """The file's record batches as pyarrow reads them (all columns as strings): the streaming path
    for callers that must bound what they hold in memory."""
    pa, pacsv = _pa()
    p = Path(path)
    first, delim, sample = read_header(p, delimiter)
    opts = pacsv.ReadOptions(column_names=first, skip_rows=_first_line(sample), block_size=BLOCK_SIZE)
    conv = pacsv.ConvertOptions(column_types={c: pa.string() for c in first}, null_values=NULL_VALUES,
                                strings_can_be_null=True)
    with open_data_stream(p, "CSV file") as stream:
        yield from pacsv.open_csv(stream, read_options=opts,
                                  parse_options=pacsv.ParseOptions(delimiter=delim,
                                                                   newlines_in_values='"' in sample),
                                  convert_options=conv)


def file_bytes(path: str | os.PathLike, what: str = "data file") -> bytes:
    return read_file_bytes(Path(path), what, DataError)
