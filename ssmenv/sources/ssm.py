"""SSM Parameter Store, as both SSM sources (by path, by name) see it: a parameter and its name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ssmenv.sources.base import Pin

#: The characters of a parameter name (and so of a path), as SSM allows them.
NAME_CHARACTERS = r"[A-Za-z0-9_.\-/]"


@dataclass(frozen=True)
class Parameter:
    """One SSM parameter; ``repr`` never shows the value."""

    name: str
    value: str = field(repr=False)
    version: int
    type: str

    @property
    def secure(self) -> bool:
        return self.type == "SecureString"

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Parameter:
        """From one of ``GetParameters``' or ``GetParametersByPath``'s ``Parameters``."""
        return cls(answer["Name"], answer["Value"], int(answer["Version"]), answer["Type"])


def pin(name: str, variable: str) -> Pin:
    """Parameter ``name`` read by name into ``variable``."""
    return Pin(f"ssm:{name}", variable)


def pinned_names(pinned: frozenset[Pin]) -> set[str]:
    """The parameters among ``pinned``."""
    return {p.resource.removeprefix("ssm:") for p in pinned if p.resource.startswith("ssm:")}
