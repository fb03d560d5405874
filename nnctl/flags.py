"""``tf.flags`` / ``tf.app.flags``: TF1's command-line flags (the absl.flags subset TF1 programs use).

::

    flags = tf.app.flags
    flags.DEFINE_integer("max_steps", 1000, "Number of steps to run.")
    FLAGS = flags.FLAGS
    def main(_):
        print(FLAGS.max_steps)
    tf.app.run()

``FLAGS(argv)`` parses ``--name=value``, ``--name value``, ``--flag`` / ``--noflag`` for booleans (one
or two leading dashes, as absl) and returns the arguments it did not consume, ``argv[0]`` first.
``--`` ends flag parsing. As in TF1, reading an attribute of ``FLAGS`` before anything parsed it
parses ``sys.argv`` leniently first (unknown flags are left alone), so programs that never call
``tf.app.run`` work too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any


class Error(Exception):
    """Base of the flag errors (absl's ``flags.Error``)."""


class DuplicateFlagError(Error):
    pass


class IllegalFlagValueError(Error, ValueError):
    pass


class UnrecognizedFlagError(Error):
    pass


class UnparsedFlagAccessError(Error, AttributeError):
    pass


_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}


class Flag:
    def __init__(self, name: str, default: Any, help: str, parse: Callable[[str], Any], kind: str,
                 short_name: str | None = None) -> None:
        self.name, self.help, self.parse, self.kind, self.short_name = name, help, parse, kind, short_name
        self.default = default
        self.value = default
        self.present = 0

    def set(self, text: str) -> None:
        try:
            self.value = self.parse(text)
        except (ValueError, TypeError) as e:
            raise IllegalFlagValueError(f"flag --{self.name}={text}: {e}") from None
        self.present += 1


def _parse_bool(text: str) -> bool:
    t = str(text).strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError("Non-boolean argument to boolean flag")


class FlagValues:
    """The registry and parsed values of flags; ``FLAGS.name`` reads one."""

    def __init__(self) -> None:
        self.__dict__["_flags"] = {}
        self.__dict__["_parsed"] = False

    # --- definition ---------------------------------------------------------------------
    def _define(self, flag: Flag) -> None:
        flags = self.__dict__["_flags"]
        if flag.name in flags:
            raise DuplicateFlagError(f"The flag '{flag.name}' is defined twice.")
        flags[flag.name] = flag
        if flag.short_name:
            flags[flag.short_name] = flag

    # --- parsing ------------------------------------------------------------------------
    def __call__(self, argv: Sequence[str], known_only: bool = False) -> list[str]:
        argv = list(argv)
        if not argv:
            raise Error("argv cannot be empty (it starts with the program name)")
        flags = self.__dict__["_flags"]
        rest = [argv[0]]
        i = 1
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                rest.extend(argv[i:])
                break
            if not arg.startswith("-") or arg == "-":
                rest.append(arg)
                continue
            body = arg.lstrip("-")
            name, eq, value = body.partition("=")
            flag = flags.get(name)
            if flag is None and name.startswith("no") and not eq:
                neg = flags.get(name[2:])
                if neg is not None and neg.kind == "bool":
                    neg.value = False
                    neg.present += 1
                    continue
            if flag is None:
                if name in ("help", "helpshort", "helpfull", "h", "?"):
                    if known_only:
                        rest.append(arg)
                        continue
                    print(self.help_text(argv[0]))
                    raise SystemExit(0)
                if known_only:
                    rest.append(arg)
                    continue
                raise UnrecognizedFlagError(f"Unknown command line flag '{name}'")
            if flag.kind == "bool" and not eq:
                flag.value = True
                flag.present += 1
                continue
            if not eq:
                if i >= len(argv):
                    raise IllegalFlagValueError(f"Flag --{name} must have a value other than None.")
                value = argv[i]
                i += 1
            flag.set(value)
        self.__dict__["_parsed"] = True
        return rest

    def is_parsed(self) -> bool:
        return self.__dict__["_parsed"]

    def mark_as_parsed(self) -> None:
        self.__dict__["_parsed"] = True

    def unparse_flags(self) -> None:
        for f in self.__dict__["_flags"].values():
            f.value, f.present = f.default, 0
        self.__dict__["_parsed"] = False

    # --- access -------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        flags = self.__dict__["_flags"]
        if name not in flags:
            if name == "__flags":
                return {n: f.value for n, f in flags.items()}
            raise AttributeError(f"FLAGS has no flag named {name!r}; define it with tf.app.flags.DEFINE_*")
        if not self.__dict__["_parsed"]:
            self(sys.argv if sys.argv and sys.argv[0] is not None else ["program"], known_only=True)
        return flags[name].value

    def __setattr__(self, name: str, value: Any) -> None:
        flags = self.__dict__["_flags"]
        if name not in flags:
            raise AttributeError(f"FLAGS has no flag named {name!r}")
        flags[name].value = value

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__["_flags"]

    def __iter__(self):
        return iter(self.__dict__["_flags"])

    def __getitem__(self, name: str) -> Flag:
        return self.__dict__["_flags"][name]

    def __delattr__(self, name: str) -> None:
        self.__dict__["_flags"].pop(name, None)

    def flag_values_dict(self) -> dict[str, Any]:
        return {n: f.value for n, f in self.__dict__["_flags"].items()}

    def help_text(self, program: str = "") -> str:
        lines = [f"usage: {program} [flags]", "", "flags:"]
        seen = set()
        for f in self.__dict__["_flags"].values():
            if id(f) in seen:
                continue
            seen.add(id(f))
            default = f"\n    (default: {f.default!r})" if f.default is not None else ""
            lines.append(f"  --{f.name}: {f.help}{default}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<FlagValues {self.flag_values_dict()!r}>"


FLAGS = FlagValues()


def _define(kind: str, parse: Callable[[str], Any], name: str, default: Any, help: str | None,
            flag_values: FlagValues | None, short_name: str | None = None) -> Flag:
    fv = flag_values if flag_values is not None else FLAGS
    value = default
    if isinstance(default, str) and kind in ("integer", "float", "bool", "enum"):
        value = parse(default)  # absl parses a string default for typed flags
    f = Flag(name, value, help or "", parse, kind, short_name)
    fv._define(f)
    return f


def DEFINE_string(name: str, default: str | None, help: str | None = None, flag_values: FlagValues | None = None,
                  short_name: str | None = None, **kwargs: Any) -> Flag:  # noqa: N802 - TF's names
    return _define("string", str, name, default, help, flag_values, short_name)


def _int(text: str) -> int:
    return int(str(text), 0)


def DEFINE_integer(name: str, default: int | None, help: str | None = None, lower_bound: int | None = None,
                   upper_bound: int | None = None, flag_values: FlagValues | None = None,
                   short_name: str | None = None, **kwargs: Any) -> Flag:  # noqa: N802
    def parse(text: str) -> int:
        v = _int(text)
        if (lower_bound is not None and v < lower_bound) or (upper_bound is not None and v > upper_bound):
            raise ValueError(f"{v} is outside [{lower_bound}, {upper_bound}]")
        return v
    return _define("integer", parse, name, default, help, flag_values, short_name)


def DEFINE_float(name: str, default: float | None, help: str | None = None, lower_bound: float | None = None,
                 upper_bound: float | None = None, flag_values: FlagValues | None = None,
                 short_name: str | None = None, **kwargs: Any) -> Flag:  # noqa: N802
    def parse(text: str) -> float:
        v = float(text)
        if (lower_bound is not None and v < lower_bound) or (upper_bound is not None and v > upper_bound):
            raise ValueError(f"{v} is outside [{lower_bound}, {upper_bound}]")
        return v
    return _define("float", parse, name, default, help, flag_values, short_name)


def DEFINE_boolean(name: str, default: bool | None, help: str | None = None, flag_values: FlagValues | None = None,
                   short_name: str | None = None, **kwargs: Any) -> Flag:  # noqa: N802
    return _define("bool", _parse_bool, name, default, help, flag_values, short_name)


DEFINE_bool = DEFINE_boolean


def DEFINE_list(name: str, default: Any, help: str | None = None, flag_values: FlagValues | None = None,
                **kwargs: Any) -> Flag:  # noqa: N802
    def parse(text: Any) -> list[str]:
        if isinstance(text, (list, tuple)):
            return list(text)
        return [s.strip() for s in str(text).split(",") if s.strip()]
    f = _define("list", parse, name, None, help, flag_values)
    f.default = f.value = None if default is None else parse(default)
    return f


def DEFINE_enum(name: str, default: str | None, enum_values: Sequence[str], help: str | None = None,
                flag_values: FlagValues | None = None, **kwargs: Any) -> Flag:  # noqa: N802
    allowed = list(enum_values)

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"value should be one of <{'|'.join(allowed)}>")
        return text
    return _define("enum", parse, name, default, help, flag_values)


def mark_flag_as_required(name: str, flag_values: FlagValues | None = None) -> None:
    fv = flag_values if flag_values is not None else FLAGS
    fv.__dict__.setdefault("_required", []).append(name)


def mark_flags_as_required(names: Sequence[str], flag_values: FlagValues | None = None) -> None:
    for n in names:
        mark_flag_as_required(n, flag_values)


def check_required(fv: FlagValues) -> None:
    for n in fv.__dict__.get("_required", []):
        if n in fv and fv[n].value is None:
            raise IllegalFlagValueError(f"Flag --{n} must have a value other than None.")
