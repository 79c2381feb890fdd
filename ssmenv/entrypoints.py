"""The files of the release that the app's commands run, checked in ``app_source`` before any host
is touched: a source without them would be shipped to every host and fail at start on the first.

What is checked, for each process's command (the ``Procfile``'s, ``app_start`` or the runtime's
default), run as systemd runs it in ``/opt/<app>/current``:

- its program, when it is a path in the release (``./bin/worker``, ``bin/worker``,
  ``/opt/<app>/current/bin/worker``);
- the script an interpreter runs (``node``, ``python``, ``python3``...: the program's name),
  when the first argument after it is a path (``node worker.js``, ``.venv/bin/python
  server.py``); an option first (``node -e ...``, ``python -m ...``) names no file.

Not checked: a program elsewhere on the host (``/usr/bin/node``) or found on its ``PATH``
(``gunicorn``), which only the host has; and what the runtime's install makes in the release
(``Runtime.installed``: Python's ``.venv``, Node's ``node_modules``).
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from ssmenv.names import shown
from ssmenv.processes import Process
from ssmenv.runtimes.base import Runtime

#: Programs that run the script named by their first argument.
INTERPRETER = re.compile(r"node|nodejs|python[0-9.]*")


def _in_release(word: str, home: str, bare: bool) -> str | None:
    """``word`` as a path relative to the release, if it is one there; ``bare``: a word without a
    ``/`` is one too (a script's name; a program's is looked up on the PATH)."""
    current = f"{home}/current/"
    if word.startswith(current):
        word = word[len(current):]
    elif word.startswith("/") or ("/" not in word and not bare):
        return None
    path = posixpath.normpath(word)
    if path in (".", "..") or path.startswith("../"):
        return None  # not in the release: nothing here says what is there
    return path


def files(command: str, home: str, installed: Sequence[str] = ()) -> tuple[str, ...]:
    """The files of the release ``command`` runs (relative paths), as this module's docstring
    says; none under the ``installed`` directories."""
    try:
        words = shlex.split(command)
    except ValueError:
        return ()  # not words at all: the command's own checks say so
    if not words:
        return ()
    found = [_in_release(words[0], home, bare=False)]
    if INTERPRETER.fullmatch(posixpath.basename(words[0])) and len(words) > 1:
        if not words[1].startswith("-"):
            found.append(_in_release(words[1], home, bare=True))
    return tuple(p for p in found if p is not None and p.split("/", 1)[0] not in installed)


def problems(
    processes: Sequence[Process], source: Path, runtime: Runtime, home: str, start: str | None
) -> list[str]:
    """A line for each file a process's command runs that ``source`` does not have, naming the
    setting the command came from (``start``: ``app_start``, ``None`` for the runtime's
    default) and, for the default, what it is and how to choose another."""
    found = []
    for process in processes:
        for path in files(process.command, home, runtime.installed):
            if (source / path).is_file():
                continue
            missing = f"no {shown(path)} in {source}"  # a name from the repository: escaped
            if not process.legacy:
                found.append(f"app_source: {missing} (the Procfile's {process.name} process "
                             "runs it)")  # fmt: skip
            elif start is not None:
                found.append(f"app_start: {missing} (the command runs it from the release)")
            else:
                default = f"the {runtime.name} runtime's default start command, {process.command}"
                found.append(f"app_source: {missing} ({default}; set app_start or add a "
                             "Procfile)")  # fmt: skip
    return found
