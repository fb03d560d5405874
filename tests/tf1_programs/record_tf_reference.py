"""Run the deterministic programs of this folder under real TensorFlow and record their RESULT lines
in tf_reference.json, which tests/test_tf1_programs.py compares nnctl's numbers with.

Run by hand in a throwaway venv that has tensorflow-cpu (never in CI, never in nnctl's venv):

    /path/to/tfvenv/bin/python tests/tf1_programs/record_tf_reference.py

Each program is run unchanged except for its import line, which becomes
``import tensorflow.compat.v1 as tf; tf.disable_v2_behavior()``. The programs take their initial
weights from numpy, so both engines start from identical weights."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DETERMINISTIC = ["linear_regression", "logistic_regression", "mlp", "autoencoder", "cond_is_training",
                 "variable_scope_mlp"]
TF_IMPORT = "import tensorflow.compat.v1 as tf\ntf.disable_v2_behavior()"


def result_of(source: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    r = subprocess.run([sys.executable, "-c", source], cwd=HERE, capture_output=True, text=True, env=env,
                       timeout=1200)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    import tensorflow as real_tf
    out = {"tensorflow_version": real_tf.__version__, "programs": {}}
    for name in DETERMINISTIC:
        with open(os.path.join(HERE, name + ".py")) as f:
            src = f.read()
        assert "import nnctl as tf" in src, name
        src = "import sys; sys.path.insert(0, %r)\n" % HERE + src.replace("import nnctl as tf", TF_IMPORT)
        out["programs"][name] = result_of(src)
        print(name, out["programs"][name])
    with open(os.path.join(HERE, "tf_reference.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
