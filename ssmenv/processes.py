"""An app's processes: from its ``Procfile`` (``name: command``), or one ``web`` process.

Each process runs as its own systemd unit from the same release, env file, user and sandbox.
Without a Procfile the app has one process, ``web``, from ``app_start`` or the runtime's default,
in ``<app>.service`` as before. With one, each process is ``<app>-<process>.service``, all
``PartOf=<app>.target``; a process given a number in ``app_processes`` runs that many times, as a
template unit's instances (``<app>-worker@1.service``...). A process listens (and gets ``PORT``
and a health check) when it is ``web`` or has a port of its own; the others are healthy when
active and still the same process after the settle time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssmenv.settings import Json, Matching, Setting, Settings, StrictInt, StrictStr

PROCFILE = "Procfile"
WEB = "web"
_NAME = r"[a-z][a-z0-9_]{0,30}"
_LINE = re.compile(rf"({_NAME}):\s*(\S.*)")


class ProcfileError(ValueError):
    """A Procfile line that is not ``name: command``; names the line, never quotes a value."""


#: What systemd reads at the start of an ``ExecStart=`` line as prefixes, not as the command:
#: ``+``, ``!`` and ``!!`` run it with full privileges, outside ``User=`` and the sandbox (as
#: root); ``@`` sets its argv[0], ``-`` ignores its failure, ``:`` its ``$`` expansion, and newer
#: systemd reads ``|`` as "through a shell".
EXEC_PREFIXES = "@-:+!|"


def command_problems(command: str, *, prefixes: bool = True) -> list[str]:
    """Why ``command`` cannot be written into a unit as written (an ``ExecStart=`` line, or
    words after a container's image when ``prefixes`` is false), one reason each; a reason never
    quotes the command.

    Refused: a character that is not printable text (a control character: NUL and CR end a unit
    line, ESC drives a terminal; an invisible one), except a tab, which is whitespace to systemd
    as to a shell; one of systemd's prefixes (``EXEC_PREFIXES``) before the command; a trailing
    backslash, with which the unit's next line would become part of the command; a quote that is
    not closed.
    """
    found = []
    odd = next((c for c in command if not c.isprintable() and c != "\t"), None)
    if odd is not None:
        found.append(f"holds a control or invisible character (U+{ord(odd):04X}); a command is "
                     "one line of printable text")  # fmt: skip
    stripped = command.strip()
    if not stripped:
        return [*found, "is empty"]
    if prefixes and stripped[0] in EXEC_PREFIXES:
        found.append(f"starts with {stripped[0]!r}, which systemd reads as an ExecStart= prefix "
                     "(+, ! and !! run the command as root, outside User= and the sandbox); "
                     "start it with the program")  # fmt: skip
    if stripped.endswith("\\"):
        found.append("ends with a backslash, which would make the unit's next line part of it")
    else:
        try:
            shlex.split(command)
        except ValueError:
            found.append("has a quote that is not closed")
    return found


def parse_procfile(text: str) -> dict[str, str]:
    """``name: command`` per line, ``#`` comments and blank lines skipped, in order; raises
    ``ProcfileError`` naming the first bad line (by number, never its text).

    Lines end at a newline only (a CR before it is dropped): ``str.splitlines`` would also end
    one at a lone CR, a form feed or U+2028, making two processes of what an editor shows as one
    line. Any other character that is not printable text is refused, comments included."""
    processes: dict[str, str] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        line = line.removesuffix("\r")
        odd = next((c for c in line if not c.isprintable() and c != "\t"), None)
        if odd is not None:
            raise ProcfileError(f"{PROCFILE} line {number}: holds a control or invisible "
                                f"character (U+{ord(odd):04X})")  # fmt: skip
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(stripped)
        if not match:
            raise ProcfileError(f"{PROCFILE} line {number}: not 'name: command' with a name of "
                                "lowercase letters, digits and _")  # fmt: skip
        name, command = match.groups()
        if name in processes:
            raise ProcfileError(f"{PROCFILE} line {number}: process {name} is defined twice")
        why = command_problems(command)
        if why:
            raise ProcfileError(f"{PROCFILE} line {number} ({name}): {'; '.join(why)}")
        processes[name] = command.strip()
    if not processes:
        raise ProcfileError(f"{PROCFILE}: no process")
    return processes


def procfile_text(source: Path) -> str | None:
    """The text of the Procfile in ``source``; ``None`` when it has none. Raises
    ``ProcfileError`` naming the line that is not UTF-8."""
    path = source / PROCFILE
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ProcfileError(f"{PROCFILE} line {line}: not UTF-8 text") from None


def read_procfile(source: Path) -> dict[str, str] | None:
    """The processes of the Procfile in ``source``; ``None`` when it has none."""
    text = procfile_text(source)
    return None if text is None else parse_procfile(text)


SETTINGS = Settings("Processes", (
    Setting("app_processes", Json(list[Matching(_NAME, "process names")] | dict[
        Matching(_NAME, "process names"), StrictInt | dict[StrictStr, StrictInt | StrictStr]]),
        None, "Which of the Procfile's processes run on this host: a list of names, or a map of "
        'name to how many (`{"web": 1, "worker": 3}`: a template unit with instances 1..3) or '
        'to its own settings (`{"admin": {"port": 3100, "health_path": "/up"}}`, `scale`). '
        "Default: every process, once. `web` listens on `app_port` with `health_path`.",
        shown_type="list of string, or map"),
))  # fmt: skip


@dataclass(frozen=True)
class Process:
    """One process of the app on a host.

    + name: its Procfile name (``web`` without a Procfile)
    + command: its ``ExecStart=`` command line
    + port: where it listens (it gets ``PORT`` and an HTTP health check); ``None``: it does not
    + health_path: its health check path, when it listens (empty: active is healthy)
    + instances: ``None`` for a plain unit; N for a template unit with instances 1..N
    + legacy: the app's only process without a Procfile, in ``<app>.service``
    """

    name: str
    command: str
    port: int | None = None
    health_path: str = ""
    instances: int | None = None
    legacy: bool = False

    def unit_file(self, app: str) -> str:
        """Its unit file's name: ``<app>.service``, ``<app>-<name>.service`` or a template."""
        if self.legacy:
            return f"{app}.service"
        return f"{app}-{self.name}{'@' if self.instances is not None else ''}.service"

    def units(self, app: str) -> tuple[str, ...]:
        """The units that run it: the unit, or each of the template's instances."""
        if self.instances is None:
            return (self.unit_file(app),)
        return tuple(f"{app}-{self.name}@{i}.service" for i in range(1, self.instances + 1))


def _absolute(command: str, home: str) -> str:
    # systemd takes a bare name (found on its search path) or an absolute path; a Procfile's
    # relative path (".venv/bin/python worker.py") is relative to the release.
    words = shlex.split(command)
    first = words[0] if words else ""
    if "/" in first and not first.startswith("/"):
        return f"{home}/current/{first.removeprefix('./')}" + command.strip()[len(first):]
    return command


def processes(
    *,
    procfile: Mapping[str, str] | None,
    placement: Any,
    start: str,
    port: int,
    health_path: str,
    home: str,
) -> tuple[Process, ...]:
    """The processes that run on a host: ``procfile``'s (or the one ``web`` process from
    ``start``), narrowed and scaled by ``placement`` (the ``app_processes`` setting). Raises
    ``ValueError`` naming what is wrong."""
    if procfile is None:
        if placement not in (None, [WEB], {WEB: 1}):
            raise ValueError("app_processes: without a Procfile the app has one process, web")
        return (Process(WEB, start, port, health_path, None, legacy=True),)
    wanted: dict[str, Any]
    if placement is None:
        wanted = dict.fromkeys(procfile)
    elif isinstance(placement, list):
        wanted = dict.fromkeys(placement)
    else:
        wanted = dict(placement)
    unknown = sorted(set(wanted) - set(procfile))
    if unknown:
        raise ValueError(f"app_processes: not in the Procfile: {', '.join(unknown)} (it has "
                         f"{', '.join(procfile)})")  # fmt: skip
    found = []
    ports: dict[int, str] = {}
    for name in procfile:
        if name not in wanted:
            continue
        spec = wanted[name]
        own = spec if isinstance(spec, Mapping) else {"scale": spec} if spec is not None else {}
        extra = set(own) - {"scale", "port", "health_path"}
        if extra:
            raise ValueError(f"app_processes[{name}]: unknown {', '.join(sorted(extra))} (scale, "
                             "port, health_path)")  # fmt: skip
        scale = own.get("scale")
        if scale is not None and (not isinstance(scale, int) or isinstance(scale, bool)
                                  or scale < 1):  # fmt: skip
            raise ValueError(f"app_processes[{name}]: scale must be 1 or more")
        listen = own.get("port", port if name == WEB else None)
        if listen is not None:
            if not isinstance(listen, int) or isinstance(listen, bool) or not 0 < listen < 65536:
                raise ValueError(f"app_processes[{name}]: port must be from 1 to 65535")
            if scale is not None and scale > 1:
                raise ValueError(f"app_processes[{name}]: a process that listens runs once "
                                 "(its instances would share a port)")  # fmt: skip
            scale = None  # one listening process: a unit of its own, never a template
            if listen in ports:
                raise ValueError(f"app_processes[{name}]: port {listen} is {ports[listen]}'s")
            ports[listen] = name
        path = own.get("health_path", health_path if listen is not None else "")
        if not isinstance(path, str) or not re.fullmatch(r"(/[!-~]*)?", path):
            raise ValueError(f"app_processes[{name}]: health_path must be empty or a path")
        found.append(Process(name, _absolute(procfile[name], home), listen,
                             path if listen is not None else "", scale))  # fmt: skip
    if not found:
        raise ValueError("app_processes: no process would run on this host")
    return tuple(found)
