"""Settings: what host data may say, declared by the component that reads it, checked strictly.

A component declares its settings as one ``Settings`` group: each ``Setting`` has a key, a type
(anything pydantic validates: ``StrictInt``, ``Literal[...]``, the annotated types below...), a
default, a meaning, and optionally how a checked value becomes what the code uses (``parse``).
``read`` checks every setting of every group given and reports every problem at once, one line
each naming the key and what is expected, never the value (host data may hold secrets). The
docs' tables are generated from the same groups (``markdown_table``), so the two cannot drift.

Values come from pyinfra's data layers (``--data`` > host > group > ``all``); ``None`` (unset)
means the default. ``--data`` parses its values (``true``, integers, JSON), group data files are
Python: both give typed values, and nothing is coerced (``"5"`` is not a number, ``True`` is not
a port). A list or dict may also be given as JSON text, which is how a shell passes one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError
from pydantic import StrictBool as StrictBool
from pydantic import StrictInt as StrictInt
from pydantic import StrictStr as StrictStr

from ssmenv.errors import ConfigError

#: The default of a setting that has none: it must be given.
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


def _from_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, tuple):
        return list(value)
    return value


def _matching(pattern: str, expected: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        # fullmatch: re.match with "$" would accept a trailing newline.
        if not compiled.fullmatch(value):
            raise ValueError(f"must be {expected}")
        return value

    return check


def Matching(pattern: str, expected: str) -> Any:  # a type, named as pydantic names its own
    """A string that matches ``pattern`` whole; ``expected`` says what that is, in words."""
    return Annotated[StrictStr, AfterValidator(_matching(pattern, expected))]


def Json(type_: Any) -> Any:
    """``type_`` (a list or dict), also accepted as JSON text."""
    return Annotated[type_, BeforeValidator(_from_json)]


def _no_control(value: str) -> str:
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError("must be one line of text, without control characters")
    return value


#: One line of text: no newline, CR or other control character (it goes into a file or a unit).
Line = Annotated[StrictStr, AfterValidator(_no_control)]


def _digits(value: Any) -> Any:
    # A whole number written as text ("8080" in a group data file) is that number; "abc", "1.5"
    # and True are not.
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    return value


#: A whole number (not a bool), also accepted as its digits.
Integer = Annotated[StrictInt, BeforeValidator(_digits)]


def _at_least(minimum: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < minimum:
            raise ValueError(f"must be {minimum} or more")
        return value

    return check


def AtLeast(minimum: int) -> Any:
    """A whole number (not a bool) of ``minimum`` or more."""
    return Annotated[Integer, AfterValidator(_at_least(minimum))]


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}")
        return value

    return check


#: A TCP port.
Port = Annotated[Integer, AfterValidator(_between(1, 65535))]


@dataclass(frozen=True)
class Setting:
    """One key of host data: its type, default, meaning, and how a checked value is used."""

    key: str
    type: Any
    default: Any
    help: str
    parse: Callable[[Any], Any] | None = None
    # Shown in the settings tables' type column; by default derived from ``type``.
    shown_type: str | None = None
    _adapter: TypeAdapter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(self.type))

    def check(self, value: Any) -> Any:
        """``value`` checked (``None``: the default) and parsed; raises ``ValueError`` with one
        line per problem, naming the key (and the place inside a list or dict)."""
        if value is None:
            if self.default is REQUIRED:
                raise ValueError(f"{self.key}: required")
            value = self.default
            if value is None:
                return None
        try:
            checked = self._adapter.validate_python(value)
        except ValidationError as e:
            raise ValueError("\n".join(_lines(self.key, e))) from None
        if self.parse is None:
            return checked
        try:
            return self.parse(checked)
        except ValueError as e:
            raise ValueError(f"{self.key}: {e}") from None

    @property
    def type_name(self) -> str:
        if self.shown_type:
            return self.shown_type
        return _type_name(self.type)


def _lines(key: str, error: ValidationError) -> list[str]:
    """One line per problem: the key, where inside the value, and pydantic's message (which
    never quotes the value)."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        # "[key]" marks a problem with a dict's key, which the place already names.
        place = "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in problem["loc"]
                        if p not in ("function-after", "function-before", "[key]"))  # fmt: skip
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{key}{place}: {message}")
    return list(dict.fromkeys(lines))


def _type_name(type_: Any) -> str:
    """``type_`` in words for the docs' tables: ``integer``, ``list of string``, ``"a" or "b"``."""
    origin, args = get_origin(type_), get_args(type_)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " or ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if origin in (Union, UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    names = {int: "integer", bool: "boolean", str: "string", float: "number"}
    return names.get(type_, getattr(type_, "__name__", str(type_)))


@dataclass(frozen=True)
class Settings:
    """One component's settings, in the order the docs' tables list them."""

    title: str
    settings: tuple[Setting, ...]

    def __iter__(self):
        return iter(self.settings)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.settings)


def value_of(data: Any, key: str) -> Any:
    """``key`` from pyinfra host data (or a plain mapping); ``None`` when unset."""
    if isinstance(data, Mapping):
        return data.get(key)
    return data.get(key) if hasattr(data, "get") else getattr(data, key, None)


def collect(data: Any, groups: Iterable[Settings]) -> tuple[dict[str, Any], list[str]]:
    """Every setting of ``groups`` from ``data``, checked and parsed, by key, and every problem
    found (one line each); a key with a problem has no value."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for group in groups:
        for setting in group:
            try:
                values[setting.key] = setting.check(value_of(data, setting.key))
            except ValueError as e:
                problems += str(e).splitlines()
    return values, problems


def refuse(problems: Iterable[str], what: str = "host data") -> None:
    """Raise ``ConfigError`` listing ``problems``, if there is any."""
    problems = list(problems)
    if problems:
        raise ConfigError(f"{what} is not valid:\n" + "\n".join(f"  {p}" for p in problems))


def read(data: Any, groups: Iterable[Settings], what: str = "host data") -> dict[str, Any]:
    """``collect``, or ``ConfigError`` listing every problem at once."""
    values, problems = collect(data, groups)
    refuse(problems, what)
    return values


def markdown_table(groups: Iterable[Settings]) -> str:
    """The docs' table of ``groups``' settings: key, type, default, meaning."""
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for group in groups:
        for s in group:
            if s.default is REQUIRED:
                default = "required"
            elif s.default is None:
                default = "—"
            else:
                default = f"`{json.dumps(s.default)}`"
            lines.append(f"| `{s.key}` | {s.type_name} | {default} | {s.help} |")
    return "\n".join(lines)
