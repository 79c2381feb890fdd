"""The app's contract: the variables it needs, declared in host data, checked on the control machine
before any host is touched.

Each name maps to a rule; an empty rule means "required and non-empty"::

    env_contract = {
        "DATABASE_URL": {"check": "url"},
        "API_KEY": {},
        "LOG_LEVEL": {"default": "info", "one_of": ["debug", "info", "warn", "error"]},
        "WORKERS": {"default": "2", "check": "integer"},
        "SENTRY_DSN": {"required": False, "check": "url"},
        "SESSION_SECRET": {"pattern": "[!-~]{32,}"},
    }

Reasons name the rule that failed, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from ssmenv.names import RULE, is_variable, one_line, shown

_INTEGER = re.compile(r"[+-]?[0-9]+")


def _is_integer(value: str) -> bool:
    return bool(_INTEGER.fullmatch(value))


def _is_port(value: str) -> bool:
    return value.isascii() and value.isdigit() and 0 < int(value) < 65536


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an invalid IPv6 literal
        return False
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.netloc)


#: check name -> (test, what a failing value is)
CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "non-empty": (lambda v: v != "", "is empty"),
    "integer": (_is_integer, "is not an integer"),
    "port": (_is_port, "is not a port number (1 to 65535)"),
    "url": (_is_url, "is not a URL (scheme://host...)"),
}
_RULE_KEYS = {"required", "default", "check", "one_of", "pattern", "allow_empty"}


@dataclass(frozen=True)
class Rule:
    """What the app needs of one variable.

    + name: the variable
    + required: it must be present (default: yes, unless a ``default`` is given)
    + default: the value when no source sets it (not for secrets: it sits in group data)
    + checks: names from ``CHECKS``; a required name is non-empty unless ``allow_empty``
    + one_of: the allowed values
    + pattern: a regular expression the whole value must match
    + origin: the setting that declares the rule and where it was set, for messages
      (``env_contract in group_data/prod.py``, ``env_required in --data``)
    """

    name: str
    required: bool = True
    default: str | None = None
    checks: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    pattern: str | None = None
    allow_empty: bool = False
    origin: str = field(default="", compare=False)

    def reasons(self, value: str) -> list[str]:
        """What is wrong with ``value``; each reason says which rule failed, never the value."""
        checks = list(self.checks)
        if self.required and not self.allow_empty and "non-empty" not in checks:
            checks.insert(0, "non-empty")
        found = [CHECKS[c][1] for c in checks if not CHECKS[c][0](value)]
        if self.one_of and value not in self.one_of:
            found.append(f"is not one of {', '.join(self.one_of)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            found.append(f"does not match the pattern {one_line(self.pattern)}")
        return found


@dataclass(frozen=True)
class Contract:
    """Every rule of one app; ``declared`` when host data has an ``env_contract``, which makes
    names the app gets but the contract does not list worth reporting."""

    rules: tuple[Rule, ...] = ()
    declared: bool = False

    def __getitem__(self, name: str) -> Rule:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self.rules}

    def defaults(self) -> dict[str, str]:
        return {r.name: r.default for r in self.rules if r.default is not None}

    def unlisted(self, names: Iterable[str]) -> list[str]:
        """Names the contract does not list (none unless it was declared)."""
        listed = self.by_name
        return sorted(n for n in names if n not in listed) if self.declared else []

    @classmethod
    def parse(
        cls,
        contract: Any,
        required: Sequence[str] = (),
        *,
        contract_origin: str | None = None,
        required_origin: str | None = None,
    ) -> tuple[Contract, list[str]]:
        """Read ``env_contract`` (and the older ``env_required`` list, which adds required names)
        from host data; ``*_origin``: where each was set (``group_data/prod.py``), which each rule
        records. Returns the contract and every problem, as ``NAME: why`` lines (a key that is no
        variable name shown escaped: ``'A\\nB': not a variable name``)."""
        problems: list[str] = []
        rules: dict[str, Rule] = {}
        if not isinstance(contract, Mapping):
            return cls(), ["must map variable names to rules (dicts)"]
        declared_by = _declared_by("env_contract", contract_origin)
        for name, spec in contract.items():
            if not is_variable(name):
                problems.append(f"{shown(str(name))}: not a variable name ({RULE})")
                continue
            rule, why = _rule(name, {} if spec is None else spec)
            problems += [f"{name}: {w}" for w in why]
            if rule is not None:
                rules[rule.name] = replace(rule, origin=declared_by)
        for name in required:
            if name not in rules:
                rules[name] = Rule(name, origin=_declared_by("env_required", required_origin))
            elif not rules[name].required:
                problems.append(f"{name}: listed in env_required but optional in env_contract")
        return cls(tuple(rules.values()), declared=bool(contract)), problems


def _declared_by(setting: str, where: str | None) -> str:
    """``env_required in group_data/all.py``, or the setting alone where that is not known."""
    return f"{setting} in {where}" if where else setting


def _rule(name: str, spec: Any) -> tuple[Rule | None, list[str]]:
    if not isinstance(spec, Mapping):
        return None, ["must be a dict of rules (required, default, check, one_of, pattern)"]
    why = [f"unknown rule {shown(key)}" for key in sorted(map(str, set(spec) - _RULE_KEYS))]
    default = spec.get("default")
    if default is not None and (not isinstance(default, str | int) or isinstance(default, bool)):
        why.append("default must be a string")
        default = None
    default = None if default is None else str(default)
    required = spec.get("required", default is None)
    if not isinstance(required, bool):
        why.append("required must be true or false")
    elif required and default is not None:
        why.append("a required name has no default")
    checks = spec.get("check", [])
    checks = [checks] if isinstance(checks, str) else checks
    if not isinstance(checks, list) or not all(isinstance(c, str) and c in CHECKS for c in checks):
        why.append(f"check must be one or a list of: {', '.join(CHECKS)}")
        checks = []
    one_of = spec.get("one_of", [])
    if not isinstance(one_of, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in one_of
    ):
        why.append("one_of must be a list of values")
        one_of = []
    pattern = spec.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        why.append("pattern must be a regular expression, as a string")
        pattern = None
    elif pattern is not None:
        try:
            re.compile(pattern)
        except re.error as e:
            why.append(f"pattern is not a regular expression ({one_line(str(e))})")
    allow_empty = spec.get("allow_empty", False)
    if not isinstance(allow_empty, bool):
        why.append("allow_empty must be true or false")
    rule = Rule(
        name,
        required=bool(required),
        default=default,
        checks=tuple(checks),
        one_of=tuple(str(v) for v in one_of),
        pattern=pattern,
        allow_empty=allow_empty is True,
    )
    if default is not None and not why:
        # A default is group data, not a secret: checking it here catches a typo at once.
        why += [f"default {r}" for r in rule.reasons(default)]
    return (None if why else rule), why
