"""One ``nnctl tune --jobs J`` worker process: ``python -m nnctl.tune.worker STUDY_DIR INDEX``."""

import sys

from nnctl.tune.study import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
