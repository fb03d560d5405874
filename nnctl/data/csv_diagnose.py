"""The error path of the CSV reader: find and name the first bad line of a file pyarrow refused.

Python's csv module parses the file again (quoting, CRLF, multi-line quoted cells) and says where
each row starts, so a ragged row, a stray quote or a non-numeric cell is reported as
``file:line: column 'name': ...``. Line numbers are 1-based and count the header as line 1; blank
lines hold no row but are counted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from nnctl.errors import DataError


def read_rows(path: str | Path, delimiter: str = ",") -> tuple[list[list[str]], list[int]]:
    """Every non-blank row of a CSV file and the line where it starts (gzip detected by magic)."""
    from nnctl.data.preprocess import read_data_bytes
    src = str(path)
    data = read_data_bytes(path, what="CSV file")
    if data[:4] == b"PK\x03\x04":
        raise DataError(f"{src}: this is a zip/npz archive, not CSV text (use an npz data source)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{src}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                        "is this a CSV file?") from None
    # strict: an unterminated or stray quote is an error here rather than a silently merged row.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    prev = 0
    try:
        for row in reader:
            start, prev = prev + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rows.append(row)
            lines.append(start)
    except csv.Error as e:
        raise DataError(f"{src}:{prev + 1}: malformed CSV: {e}") from None
    if not rows:
        raise DataError(f"{src}: empty CSV file (no header and no rows)")
    return rows, lines


def check_header(src: str, line: int, header: list[str]) -> None:
    seen: set[str] = set()
    for j, h in enumerate(header):
        if not h:
            raise DataError(f"{src}:{line}: column {j + 1} of the header has no name (a trailing comma?)")
        if h in seen:
            raise DataError(f"{src}:{line}: column name {h!r} appears twice in the header")
        seen.add(h)


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def find_problem(path: Path, src: str, delimiter: str, names: list[str], header: bool,
                 numeric: set[str]) -> str | None:
    """The message for the first ragged row or non-numeric cell of a ``numeric`` column, else None.
    Bad quoting and non-UTF-8 bytes raise their own DataError from :func:`read_rows`."""
    from nnctl.data.table_reader import NULL_VALUES
    rows, lines = read_rows(path, delimiter)
    if header:
        rows, lines = rows[1:], lines[1:]
    width = len(names)
    what = "the header" if header else "the first row"
    num_idx = [j for j, n in enumerate(names) if n in numeric]
    nulls = set(NULL_VALUES)
    for row, line in zip(rows, lines):
        if len(row) != width:
            return f"{src}:{line}: expected {width} columns (as in {what}), got {len(row)}"
        for j in num_idx:
            cell = row[j].strip()
            if cell not in nulls and not is_number(cell):
                return f"{src}:{line}: column {names[j]!r}: expected a number, got {row[j]!r}"
    return None
