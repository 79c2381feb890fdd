"""How the push driver runs the toolkit's programs (``ssmenv.programs``) on a host over SSH: the
command line pyinfra sends, the same short text for every host and run, and the stdin that
carries the program, its plan and any payload. The files are checked by ``shellcheck`` in ``make
test``."""

from __future__ import annotations

from collections.abc import Iterable

from pyinfra.api import QuoteString, StringCommand

from ssmenv import programs
from ssmenv.programs import program as program  # the programs, as the tests read them


def command(name: str, plan: Iterable[str], payload: str = "") -> tuple[StringCommand, str]:
    """The command that runs program ``name`` on a host, and the stdin to send with it: the
    program, the plan (one line each), then ``payload``."""
    shell, flag, runner, label = programs.runner(name)
    return (StringCommand(f"{shell} {flag}", QuoteString(runner), label),
            programs.stdin(name, plan, payload))  # fmt: skip
