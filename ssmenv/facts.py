"""The push driver's pyinfra facts: the host-side reading programs of ``ssmenv/shell/`` run over
SSH, their output parsed by ``ssmenv.hoststate``; and a way to read a fact without printing its
output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from ssmenv.hoststate import (
    FileInfo,
    HostState,
    Query,
    file_state,
    parse,
    script,
    sections,
)

if TYPE_CHECKING:
    from ssmenv.rotation import RotationTimer


class FileState(FactBase):
    """
    Owner, group, mode and sha256 of a file's content, read as one command; ``None`` when absent.

    .. code:: python

        FileInfo(user="root", group="root", mode="600", sha256="9f86d0...")

    A digest, not the content, so a file's content never travels back to the control machine.
    """

    def command(self, path: str) -> StringCommand:
        text = script("file-state") + 'file_state "$1"'
        return StringCommand("sh -c", QuoteString(text), "ssmenv-file-state", QuoteString(path))

    def process(self, output: list[str]) -> FileInfo | None:
        return file_state(output)


class AppHostState(FactBase):
    """
    Everything a deploy compares for one app, read in one command (``shell/state.sh``, parsed by
    ``ssmenv.hoststate.parse``): the host's systemd version,
    the runtime packages, the app's user (and its groups) and group, its directories (as they
    are: a link is not followed), release and ``current``
    link, its unit files and units (``units``: those it wants, plus those the host has),
    journald's drop-in, the env file with its manifest and fingerprint key, and the app's
    credential files (``credential_dirs``: the encrypted and the plain one), and for an app that
    runs an ``image``, the first of ``engines`` the host has and whether it has the image; a
    ``HostState``.

    .. code:: python

        HostState(
            systemd=252,
            packages={"nodejs": "installed"},
            user="example-app:998:/nonexistent:/usr/sbin/nologin",
            group="example-app:998",
            dirs={"/opt/example-app": "root root 755 directory", ...},
            release_present=True,
            current="/opt/example-app/releases/1a2b3c",
            unit_files={"example-app.service": FileInfo(user="root", ..., sha256="...")},
            services={"example-app.service": {"Id": "example-app.service",
                                              "ActiveState": "active", "UnitFileState": "enabled"}},
            pending=None,
            journald=FileInfo(...),
            manifest_file=FileInfo(...),
            manifest="{...}",
            key="5f1e...",
            env_file=FileInfo(...),
            credential_files={"/etc/credstore.encrypted/example-app/DB_PASSWORD": FileInfo(...)},
            engine=None,
            image_present=None,
            account=Account(name="example-app", uid=998, gid=998,
                            comment="ssmenv app example-app", home="/nonexistent",
                            shell="/usr/sbin/nologin", groups=("example-app",)),
        )

    ``release=""`` asks about no release (``release_present`` is then ``None``): a rotation needs
    none, and naming one may mean building it. The output holds the fingerprint key: read it with
    ``quiet_fact``, never ``get_fact`` (which prints fact output at ``-vvv``).
    """

    def command(
        self,
        app: str,
        user: str,
        home: str,
        release: str,
        env_file: str,
        journald: str,
        pending: str,
        lock: str,
        lock_wait: int,
        packages: list[str],
        units: list[str],
        credential_dirs: tuple[str, str] = ("/nonexistent", "/nonexistent"),
        engines: tuple[str, ...] = (),
        image: str = "",
    ) -> StringCommand:
        query = Query(app, user, home, release, env_file, journald, pending, lock, lock_wait,
                      packages, units, credential_dirs, engines, image)  # fmt: skip
        return StringCommand(
            "sh -c", QuoteString(script("state")), "ssmenv-state",
            *(QuoteString(a) for a in query.args()),
        )  # fmt: skip

    def process(self, output: list[str]) -> HostState:
        return parse(output)


def quiet_fact(host: Host, fact: type[FactBase], **kwargs: Any) -> Any:
    """Read a fact as ``host.get_fact`` would (same sudo and connection arguments), but never
    print its output, whatever the verbosity: for facts that carry key material."""
    state = host.state
    arguments, _ = pop_global_arguments(state, host, {})
    connector_arguments = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    instance = fact()
    command = instance.command(**kwargs)
    ok, output = host.run_shell_command(
        command, print_output=False, print_input=state.print_fact_input, **connector_arguments
    )
    if not ok:
        # stderr only: the command prints no secret on failure, and stdout may hold key material.
        raise PyinfraError(
            f"{host.name}: could not read {fact.__name__}: {' '.join(output.stderr_lines)[:500]}"
        )
    return instance.process(output.stdout_lines)


class RotationHostState(FactBase):
    """
    What stands in the way of a rotation timer on the control host, and its unit files now.

    Problems: what is missing (the virtualenv's ``pyinfra``, ``rotate.py``, the inventory, the
    environment file, the user), what systemd cannot read (the schedule, the time spans), and
    what others could change: the checkout, the virtualenv, the Python it links to, the
    inventory and its ``group_data``, the environment file and every directory leading to them
    must be owned by root or the rotation's user and not writable by group or others (a sticky
    directory such as ``/tmp`` excepted), and the environment file readable by its owner alone.
    One line each, naming the setting and the path, never a file's content.

    .. code:: python

        {
            "problems": ["rotation_venv: no executable /opt/ssmenv/.venv/bin/pyinfra"],
            "service": FileInfo(user="root", group="root", mode="644", sha256="9f86d0..."),
            "timer": None,
        }
    """

    def command(self, timer: RotationTimer) -> StringCommand:
        args = [
            timer.pyinfra, timer.checkout, timer.inventory, timer.environment_file or "",
            timer.user, timer.schedule, timer.service_path, timer.timer_path, timer.venv,
            "rotation_randomized_delay", timer.randomized_delay,
            "rotation_timeout", timer.timeout,
        ]  # fmt: skip
        text = script("file-state") + script("rotation-state")
        return StringCommand(
            "sh -c", QuoteString(text), "ssmenv-rotation-state",
            *(QuoteString(a) for a in args),
        )  # fmt: skip

    def process(self, output: list[str]) -> dict[str, Any]:
        found = sections(output)
        return {
            "problems": found.get("problems", []),
            "service": file_state(found.get("service", [])),
            "timer": file_state(found.get("timer", [])),
        }
