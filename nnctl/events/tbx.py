"""tensorboardX's modules, imported without torch.

``tensorboardX/writer.py`` runs ``try: import torch`` when it is imported, only so that its
``add_*`` methods accept torch tensors; every ``tensorboardX.proto`` import runs that module too
(the package ``__init__`` imports it). nnctl hands tensorboardX numpy values and protos only, and
importing torch costs about 0.9 s, which was most of ``nnctl train configs/xor.yaml``. A ``None``
entry in ``sys.modules`` makes ``import torch`` raise ImportError (the import system's documented
way to block a module), which tensorboardX catches; the entry is removed again at once, so a later
``import torch`` elsewhere in the process works as usual. Where torch is already imported nothing
is blocked (it costs nothing then).
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_LOCK = threading.Lock()


def tbx(module: str) -> ModuleType:
    """``tensorboardX.<module>`` (e.g. ``"proto.summary_pb2"``, ``"writer"``), tensorboardX imported
    without torch the first time. Raises ImportError when tensorboardX is not installed."""
    if "tensorboardX" not in sys.modules:
        with _LOCK:
            if "tensorboardX" not in sys.modules:
                blocked = "torch" not in sys.modules
                if blocked:
                    sys.modules["torch"] = None  # type: ignore[assignment]
                try:
                    import tensorboardX  # noqa: F401
                finally:
                    if blocked and sys.modules.get("torch", 0) is None:
                        del sys.modules["torch"]
    return importlib.import_module(f"tensorboardX.{module}")
