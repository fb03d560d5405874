"""``tf.app``: ``tf.app.run(main=None, argv=None)`` and ``tf.app.flags``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

from nnctl import flags

__all__ = ["run", "flags"]


def run(main: Callable[[list[str]], Any] | None = None, argv: list[str] | None = None) -> NoReturn:
    """Parse the flags from ``argv`` (default ``sys.argv``), call ``main(remaining_argv)`` and exit
    with its return value, as TF1 does. ``main`` defaults to the ``main`` of the ``__main__`` module.
    A bad flag prints the error and exits with status 1 (absl's behaviour)."""
    args = list(sys.argv if argv is None else argv) or ["program"]
    try:
        rest = flags.FLAGS(args)
        flags.check_required(flags.FLAGS)
    except flags.Error as e:
        print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
        print("Pass --helpshort or --helpfull to see help on flags.", file=sys.stderr)
        sys.exit(1)
    if main is None:
        main = getattr(sys.modules["__main__"], "main", None)
        if main is None:
            raise TypeError("tf.app.run() found no main function: define main(argv) or pass main=")
    sys.exit(main(rest))
