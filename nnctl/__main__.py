"""``python -m nnctl``: the same command line as the ``nnctl`` console script."""

from nnctl.cli import main

if __name__ == "__main__":
    main()
