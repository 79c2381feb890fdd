"""One exception class per problem area, all under ``SsmEnvError``.

In a pyinfra run they derive from pyinfra's ``PyinfraError``, so its CLI prints them as one line
(``--> pyinfra error: ...``) instead of a traceback: pyinfra is imported before any deploy file
imports this. Elsewhere they derive from ``Exception`` alone: ``python -m ssmenv`` prints them as
``ssmenv COMMAND: error: ...`` (the traceback only with ``--debug``) and needs no pyinfra, whose
import would cost each of its commands some 0.16 s of CPU; the agent on a host has none. Messages
name keys, parameters and secrets, never a value.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

if "pyinfra" in sys.modules:
    from pyinfra.api.exceptions import PyinfraError
else:  # python -m ssmenv, the agent on a host

    class PyinfraError(Exception):  # type: ignore[no-redef]
        """What pyinfra's CLI prints as one line; here, a plain exception."""


class SsmEnvError(PyinfraError):
    """Base class of the toolkit's errors."""


class ConfigError(SsmEnvError):
    """Host data, or the variables it asks for, are not valid."""


class SourceError(SsmEnvError):
    """A configuration source (SSM, Secrets Manager) could not be read; ``unreachable``: because
    AWS could not be reached at all (no connection, no credentials), rather than refused."""

    def __init__(self, message: str = "", *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class Problem:
    """Why one variable (or the file as a whole) cannot be written; never holds the value."""

    name: str
    reason: str

    def __str__(self) -> str:
        # repr() keeps an invalid name with a newline from splitting the message.
        return f"{self.name if self.name.isprintable() else repr(self.name)}: {self.reason}"


class EnvFileError(SsmEnvError, ValueError):
    """Variables an env file cannot carry exactly, or a file systemd would refuse.

    ``str()`` gives one ``NAME: reason`` line per problem (``problems``). A ``ValueError`` too, as
    it was before it joined this hierarchy.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DotenvImportError(SsmEnvError):
    """The file cannot be read, or AWS refused a read or a write; names only, never values."""


class ScanError(SsmEnvError):
    """The tree or the baseline cannot be scanned (not a git work tree, unreadable baseline)."""


class GitError(SsmEnvError):
    """git could not tell which files of a tree it hands over (not installed, or it refuses the
    tree)."""


class ReportError(SsmEnvError):
    """The per-host reports could not be handed over or read."""


class HostError(SsmEnvError):
    """What a host has stands in the way, found by its state read before it changes: a directory
    the toolkit manages that is a link, an account it did not make as the app's user."""
