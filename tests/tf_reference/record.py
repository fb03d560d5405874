"""Record TensorFlow's answers for every case in cases.py into tf_2_21.json (checked in).

Run by hand, never in CI, in a throwaway environment with TensorFlow::

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tests/tf_reference/record.py

tests/test_tf_reference.py then compares nnctl with the file. The file holds JSON (NaN and
Infinity spelled as Python's json module writes them) and a SHA-256 of its case list.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf2  # noqa: E402
from cases import CASES  # noqa: E402
from harness import run_case  # noqa: E402


def main() -> None:
    tf = tf2.compat.v1
    tf.disable_eager_execution()
    tf.logging.set_verbosity(tf.logging.ERROR)
    only = set(sys.argv[1:])
    out = HERE / "tf_2_21.json"
    records = {}
    if only and out.exists():
        records = json.loads(out.read_text())["cases"]
    for c in CASES:
        if only and c.name not in only:
            continue
        try:
            records[c.name] = run_case(tf, c)
        except Exception as e:  # noqa: BLE001 - a harness failure is reported, the rest still recorded
            print(f"{c.name}: harness failed: {type(e).__name__}: {e}", file=sys.stderr)
    data = {"tensorflow": tf2.__version__, "cases": {c.name: records[c.name] for c in CASES if c.name in records}}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    os.replace(tmp, out)
    print(f"{len(data['cases'])} cases from TensorFlow {tf2.__version__} -> {out}")


if __name__ == "__main__":
    main()
