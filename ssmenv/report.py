"""Reports for automation: what ``drift.py`` and ``rotate.py --dry`` found on each host, handed
to ``python -m ssmenv drift`` / ``plan``, and the exit statuses of drift, plan and parity.

pyinfra exits 0 whatever a report says, and its output is written for people. So the command opens
a pipe, passes its write end to pyinfra (``pass_fds``) and names it in ``SSMENV_REPORT_FD``; the
deploy file, run once per host, writes one JSON line per app of each host to it, naming the app
(``schedule.py`` deploys no app and names none):

    {"host": "app-1", "app": "example-app", "differs": true, "names": ["SESSION_SECRET"]}

Names only, never a value or a fingerprint, and nothing touches the disk. Without the variable
(a plain ``pyinfra`` run) nothing is written.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ssmenv.errors import ReportError

# As ``diff`` and ``terraform plan -detailed-exitcode``: a cron job or CI step alerts on 2.
CLEAN, ERROR, DIFFERS = 0, 1, 2

ENV = "SSMENV_REPORT_FD"


@dataclass(frozen=True)
class HostReport:
    """One host's answer about one app (``None``: none named): whether it differs (or would
    change), and which variables."""

    host: str
    differs: bool
    names: tuple[str, ...] = ()
    app: str | None = None


def emit(host: str, differs: bool, names: Iterable[str] = (), app: str | None = None) -> None:
    """Write this host's report (about ``app``) to the pipe named by ``SSMENV_REPORT_FD``, if
    there is one."""
    fd = os.environ.get(ENV)
    if not fd:
        return
    item = {"host": host, **({"app": app} if app is not None else {}), "differs": differs,
            "names": list(names)}  # fmt: skip
    line = json.dumps(item) + "\n"
    data = line.encode()
    try:
        descriptor = int(fd)
        os.set_inheritable(descriptor, False)  # commands pyinfra starts must not hold it open
        # One blocking write after another, with nothing in between that lets another host's
        # greenlet run: lines never interleave, whatever their length.
        while data:
            data = data[os.write(descriptor, data) :]
    except (ValueError, OSError) as e:
        raise ReportError(f"{ENV}={fd}: cannot write the report: {e}") from None


def parse(lines: Iterable[bytes]) -> list[HostReport]:
    """The reports in the order the hosts wrote them; an app of a host reported twice counts
    once."""
    reports: dict[tuple[str, str | None], HostReport] = {}
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
            report = HostReport(
                item["host"], item["differs"], tuple(item["names"]), item.get("app")
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            report = None
        if (
            report is None
            or not isinstance(report.host, str)
            or not isinstance(report.differs, bool)
            or not all(isinstance(name, str) for name in report.names)
            or not isinstance(report.app, str | None)
        ):
            raise ReportError(f"report line {number} is not a host report")
        reports[(report.host, report.app)] = report
    return list(reports.values())


def summary(command: str, reports: Sequence[HostReport]) -> tuple[int, str]:
    """The exit status and the one summary line of ``command`` (drift, plan) from the reports:
    host names only, each with the apps that differ when the run covered several apps."""
    hosts = list(dict.fromkeys(r.host for r in reports))
    apps = {r.app for r in reports}
    several = len(apps) > 1
    differ: dict[str, list[str]] = {}
    for r in reports:
        if r.differs:
            differ.setdefault(r.host, []).append(r.app or "")
    if not differ:
        counted = f"{len(hosts)} hosts" + (f", {len(reports)} apps" if several else "")
        return CLEAN, f"{command}: no host differs ({counted})"
    named = [f"{host} ({', '.join(names)})" if several else host for host, names in differ.items()]
    return DIFFERS, f"{command}: {len(differ)} of {len(hosts)} hosts differ: {', '.join(named)}"


def run(command: Sequence[str], **popen) -> tuple[int, list[HostReport]]:
    """Run ``command`` (pyinfra on a deploy file that emits reports) with the pipe's write end,
    and return its exit status and the hosts' reports."""
    read_end, write_end = os.pipe()
    env = {**(popen.pop("env", None) or os.environ), ENV: str(write_end)}
    try:
        process = subprocess.Popen(command, pass_fds=(write_end,), env=env, **popen)
    except OSError as e:
        os.close(read_end)
        raise ReportError(f"cannot run {command[0]}: {e}") from None
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the child's copy is the only one left: EOF when it exits
    # Read while it runs (a full pipe would block it), up to EOF; its output goes to ours.
    with os.fdopen(read_end, "rb") as pipe:
        lines = pipe.readlines()
    return process.wait(), parse(lines)
