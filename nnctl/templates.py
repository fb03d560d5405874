"""``nnctl init`` and ``nnctl config``: a commented starter config from the shipped examples, and a
config printed with every default filled in (what the run will actually use)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnctl.errors import InputError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_TEMPLATE = "xor"
_PATH_KEY = re.compile(r"^(\s*(?:-\s*)?(?:csv|npz|images|labels):\s*)(\S+?)(\s*(?:#.*)?)$")


def templates() -> dict[str, Path]:
    """{name: file} of the example configs that ``nnctl init`` can start from."""
    if not TEMPLATE_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(TEMPLATE_DIR.glob("*.yaml"))}


def starter_text(template: str = DEFAULT_TEMPLATE) -> str:
    """The template's text with a header, and its relative data paths made absolute so the file
    works wherever it is written."""
    have = templates()
    if template not in have:
        import difflib
        close = difflib.get_close_matches(template, list(have), n=1)
        raise InputError(f"unknown template {template!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; templates: {', '.join(have) or 'none found'}")
    src = have[template]
    out = []
    for line in src.read_text(encoding="utf-8").splitlines():
        m = _PATH_KEY.match(line)
        if m and not m.group(2).startswith(("/", "[", "{")) and (src.parent / m.group(2)).exists():
            line = f"{m.group(1)}{(src.parent / m.group(2)).resolve()}{m.group(3)}"
        out.append(line)
    header = (f"# Starter config from the template '{template}' (nnctl init {template}).\n"
              "# Every key is described in docs/config.md; `nnctl config FILE` prints this config with every\n"
              "# default filled in, `nnctl validate FILE` checks it with its data, `nnctl train FILE` trains it.\n")
    return header + "\n".join(out) + "\n"


def init_config(template: str | None = None, out: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Write the starter config (default ``<template>.yaml`` here); refuses to overwrite unless ``force``."""
    from nnctl.fileio import atomic_write_text, check_output_file
    name = template or DEFAULT_TEMPLATE
    text = starter_text(name)
    path = Path(out) if out is not None else Path(f"{name}.yaml")
    check_output_file(path, "--output")
    if path.exists() and not force:
        raise InputError(f"{path} already exists; choose another --output or pass --force to overwrite it")
    atomic_write_text(path, text)
    return path


def resolved_config_text(config: str | os.PathLike, overrides: list[str] | tuple = ()) -> str:
    """The config as the trainer will use it: validated, --set applied, every default filled in."""
    import yaml

    from nnctl.config import config_to_dict, load_config
    cfg = load_config(config, list(overrides))
    head = f"# {config}" + (" with --set " + " --set ".join(overrides) if overrides else "") + \
        ", resolved: every default filled in, data paths absolute\n"
    return head + yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
