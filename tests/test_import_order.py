"""Every nnctl module imports as the first nnctl module of a process (no import cycle that only
``import nnctl``'s order hides: ``import nnctl.runtime.plan`` once failed that way)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = r"""
import importlib, pkgutil, sys, traceback
import nnctl
names = sorted(m.name for m in pkgutil.walk_packages(nnctl.__path__, "nnctl."))
failed = []
for name in names:
    for k in [k for k in sys.modules if k == "nnctl" or k.startswith("nnctl.")]:
        del sys.modules[k]
    try:
        importlib.import_module(name)
    except ImportError as e:
        if "nnctl" in str(e) or "circular" in str(e):
            failed.append(f"{name}: {e}")
    except Exception as e:  # noqa: BLE001
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first():
    names = [m.name for m in pkgutil.walk_packages([str(ROOT / "nnctl")], "nnctl.")]
    assert len(names) > 50   # the walk found the package
    r = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
