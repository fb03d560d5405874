"""Error types.

Two families live here:

* TensorFlow-1-compatible graph/runtime errors (``tf.errors.*``), raised by the engine.
* nnctl's user-facing errors, each carrying an exit code: 2 for bad input (configs, data files,
  checkpoints, frozen files, CLI arguments), 1 for a failure at run time. The CLI prints
  ``str(error)`` as one message and exits with ``error.exit_code``; no traceback reaches a user.
"""

from __future__ import annotations


class NnctlError(Exception):
    """Base of every error nnctl reports to a person."""

    exit_code = 1


class InputError(NnctlError):
    """Bad input: something the user gave us is wrong. Exit code 2."""

    exit_code = 2


class ConfigError(InputError):
    """A config problem, located by file, line and dotted key."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.file, self.line, self.key, self.message = file, line, key, message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        keypart = f"{key}: " if key else ""
        super().__init__(f"{where}{keypart}{message}")


class DataError(InputError):
    """A data file or array is malformed (names file:line or array name)."""


class FileFormatError(InputError):
    """A checkpoint, frozen file or other nnctl file is damaged, hostile or of the wrong kind."""


class RuntimeFailure(NnctlError):
    """A failure while running (exit code 1)."""


class NonFiniteError(RuntimeFailure):
    """Training produced a non-finite loss or gradient."""


class BackendUnavailableError(InputError):
    """The requested backend cannot be used on this machine."""


# --- TensorFlow 1 compatible errors (tf.errors.*) -------------------------------------------

class OpError(NnctlError):
    """Raised by Session.run when an op cannot run (tf.errors.OpError)."""

    def __init__(self, node_def=None, op=None, message: str = "") -> None:
        self.node_def, self.op, self.message = node_def, op, message
        super().__init__(message)


class InvalidArgumentError(OpError):
    exit_code = 2


class FailedPreconditionError(OpError):
    """An op ran before its inputs were ready (e.g. an uninitialized variable)."""


class NotFoundError(OpError):
    exit_code = 2


class ResourceExhaustedError(OpError):
    """Out of memory or another resource."""


class InternalError(OpError):
    """A kernel failed or broke an invariant (a bug in nnctl, not in the user's input)."""


class UnimplementedError(OpError):
    """The operation is not supported."""
