"""What a plan has to say: lines its driver prints, never values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """One line of a plan for its driver to print: about the host it was made for, or a
    ``warning`` said once per run (every host of an app would say the same)."""

    text: str
    warning: bool = False
