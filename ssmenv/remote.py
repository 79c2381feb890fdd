"""The toolkit's remote programs: the shell files in ``ssmenv/shell/``, shipped whole to the host.

A program is ``lib.sh`` followed by its own file, functions only, ending in ``main``. It travels on
the command's stdin ahead of its plan and any payload, so the command line (which ``ps`` shows and
sudo logs to the journal) is the same short text on every run and for every host, and neither a
value nor a digest is ever part of it. The files are checked by ``shellcheck`` in ``make test``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from pyinfra.api import QuoteString, StringCommand

SHELL = Path(__file__).with_name("shell")


@cache
def program(name: str) -> str:
    """The text of remote program ``name`` (``activate``, ``unpack``), library included."""
    return (SHELL / "lib.sh").read_text() + "\n" + (SHELL / f"{name}.sh").read_text()


def command(name: str, plan: Iterable[str], payload: str = "") -> tuple[StringCommand, str]:
    """The command that runs program ``name`` on a host, and the stdin to send with it: the
    program, the plan (one line each), then ``payload``."""
    text = program(name)
    # bash reads exactly that many bytes (GNU head stops there on a pipe), defines the functions,
    # then main reads the rest of stdin.
    runner = f'eval "$(head -c {len(text.encode())})" && main'
    stdin = text + "".join(f"{line}\n" for line in plan) + payload
    return StringCommand("bash -c", QuoteString(runner), f"ssmenv-{name}"), stdin
