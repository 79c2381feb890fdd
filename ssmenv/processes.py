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


def parse_procfile(text: str) -> dict[str, str]:
    """``name: command`` per line, ``#`` comments and blank lines skipped, in order."""
    processes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
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
        processes[name] = command.strip()
    if not processes:
        raise ProcfileError(f"{PROCFILE}: no process")
    return processes


def read_procfile(source: Path) -> dict[str, str] | None:
    """The processes of the Procfile in ``source``; ``None`` when it has none."""
    path = source / PROCFILE
    return parse_procfile(path.read_text()) if path.is_file() else None


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
