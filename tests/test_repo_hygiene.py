"""Checks on the repository's own files that no other test would notice."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_MARKER = re.compile(r"^(<<<<<<< |>>>>>>> |=======$)", re.M)


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    suffixes = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ""}
    return [ROOT / p for p in out.splitlines() if Path(p).suffix in suffixes and (ROOT / p).is_file()]


def test_no_merge_conflict_markers():
    """A merge that left `<<<<<<<`/`=======`/`>>>>>>>` lines behind (README.md once shipped with them)."""
    bad = []
    for p in _tracked_text_files():
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for m in _MARKER.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            # reStructuredText-style table rules in docstrings are long runs of '=', never exactly seven
            bad.append(f"{p.relative_to(ROOT)}:{line}: {m.group(0).strip()}")
    assert not bad, "merge conflict markers:\n" + "\n".join(bad)
