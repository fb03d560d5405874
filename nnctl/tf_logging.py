"""``tf.logging``: TF1's logging calls over Python's ``logging`` (logger ``"tensorflow"``).

Messages go to stderr as ``INFO:tensorflow:message``; the default verbosity is WARN, as in TF1, so
``tf.logging.info`` prints only after ``tf.logging.set_verbosity(tf.logging.INFO)``."""

from __future__ import annotations

import logging as _logging
import sys
from typing import Any

DEBUG, INFO, WARN, ERROR, FATAL = _logging.DEBUG, _logging.INFO, _logging.WARN, _logging.ERROR, _logging.FATAL
WARNING = WARN

_logger = _logging.getLogger("tensorflow")
if not _logger.handlers:
    _handler = _logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    _logger.addHandler(_handler)
    _logger.propagate = False
    _logger.setLevel(WARN)


def get_logger() -> _logging.Logger:
    return _logger


def set_verbosity(v: int) -> None:
    _logger.setLevel(v)


def get_verbosity() -> int:
    return _logger.getEffectiveLevel()


def log(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.log(level, msg, *args, **kwargs)


def debug(msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.debug(msg, *args, **kwargs)


def info(msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.info(msg, *args, **kwargs)


def warning(msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.warning(msg, *args, **kwargs)


warn = warning


def error(msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.error(msg, *args, **kwargs)


def fatal(msg: Any, *args: Any, **kwargs: Any) -> None:
    _logger.critical(msg, *args, **kwargs)


_counts: dict[Any, int] = {}


def log_every_n(level: int, msg: Any, n: int, *args: Any) -> None:
    key = ("every", msg)
    c = _counts.get(key, 0)
    _counts[key] = c + 1
    if c % max(1, n) == 0:
        _logger.log(level, msg, *args)


def log_first_n(level: int, msg: Any, n: int, *args: Any) -> None:
    key = ("first", msg)
    c = _counts.get(key, 0)
    _counts[key] = c + 1
    if c < n:
        _logger.log(level, msg, *args)


def log_if(level: int, msg: Any, condition: Any, *args: Any) -> None:
    if condition:
        _logger.log(level, msg, *args)


def vlog(level: int, msg: Any, *args: Any) -> None:
    _logger.log(level, msg, *args)


def flush() -> None:
    for h in _logger.handlers:
        h.flush()
