"""The toolkit's host-side programs (``ssmenv/shell/``) as a driver runs them, wherever that is:
the push driver over SSH (``ssmenv.remote``), the agent on the host itself (``ssmenv.agent``).

A program is ``lib.sh`` followed by its own file, functions only, ending in ``main``. It travels
on the command's stdin ahead of its plan and any payload, so the command line (which ``ps`` shows
and sudo logs to the journal) is the same short text on every run and for every host, and neither
a value nor a digest is ever part of it. The state read (``shell/state.sh``, POSIX sh) is the
other kind: its text is the command, its arguments a ``hoststate.Query``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

SHELL = Path(__file__).with_name("shell")


@cache
def program(name: str) -> str:
    """The text of program ``name`` (``activate``, ``provision``), library included."""
    return (SHELL / "lib.sh").read_text() + "\n" + (SHELL / f"{name}.sh").read_text()


def runner(name: str) -> list[str]:
    """The command line that runs program ``name`` from its stdin: ``bash -c`` reads exactly
    the program's bytes (GNU head stops there on a pipe), defines its functions, then ``main``
    reads the rest of stdin. ``$0`` names the program in ``ps``."""
    return ["bash", "-c", f'eval "$(head -c {len(program(name).encode())})" && main',
            f"ssmenv-{name}"]  # fmt: skip


def stdin(name: str, plan: Iterable[str], payload: str = "") -> str:
    """What program ``name`` reads: itself, its plan (one line each), then ``payload``."""
    return program(name) + "".join(f"{line}\n" for line in plan) + payload
