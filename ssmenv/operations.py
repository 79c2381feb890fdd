"""The project's pyinfra operations: files installed atomically and privately, and the
health-gated, rolling activation of what an app runs."""

from __future__ import annotations

import hashlib
import posixpath

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, HiddenValue, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

from ssmenv.facts import FileState
from ssmenv.rollout import Activation, Rollout, activation_script, scrub

UNREAD = object()  # atomic_file reads the file's state itself


def _install_script(
    path: str,
    size: int,
    user: str,
    group: str,
    mode: str,
    keep_previous: bool,
) -> StringCommand:
    """The remote side of ``atomic_file``: read exactly ``size`` bytes of stdin into place."""
    directory = posixpath.dirname(path) or "/"
    previous = path + ".previous"
    # umask 077 before mktemp: the temp file is private from its first byte. Owner and mode are set
    # on the temp file and its content synced before the rename, so at every moment `path` is either
    # the complete old file or the complete new one, with the right owner and mode.
    bits = [
        "set -e; umask 077; [ -d",
        QuoteString(directory),
        "] || mkdir -p -m 0755",
        QuoteString(directory),
        ";",
        "tmp=$(mktemp",
        QuoteString(posixpath.join(directory, ".ssmenv.XXXXXX")),
        "); trap 'rm -f \"$tmp\"' EXIT;",
        "head -c",
        str(size),
        '> "$tmp";',
        '[ "$(wc -c < "$tmp")" -eq',
        str(size),
        "];",
        "chown",
        QuoteString(f"{user}:{group}"),
        '"$tmp"; chmod',
        QuoteString(mode),
        '"$tmp";',
        'sync "$tmp";',
    ]
    if keep_previous:
        # A hard link keeps the old inode (its owner and mode too) as the rollback copy.
        bits += [
            "if [ -f",
            QuoteString(path),
            "]; then ln -f",
            QuoteString(path),
            QuoteString(previous),
            "; fi;",
        ]
    bits += ['mv -f "$tmp"', QuoteString(path), "; sync", QuoteString(directory)]
    return StringCommand(*bits)


@operation()
def atomic_file(
    path: str,
    content: HiddenValue | str,
    user: str = "root",
    group: str = "root",
    mode: str = "0600",
    keep_previous: bool = False,
    current_state: dict[str, str] | object | None = UNREAD,
):
    """
    Install a file from content, atomically and private from its first byte.

    + path: the file to write
    + content: the file's content; a ``HiddenValue`` for anything secret (it travels over the SSH
      channel's stdin, never on a command line, and is never printed)
    + user: owner of the file
    + group: group of the file
    + mode: permissions of the file, octal
    + keep_previous: keep the file being replaced as ``<path>.previous`` (same owner and mode)
    + current_state: the file's ``FileState`` (``None``: absent) if already read, to save a
      command

    Unlike ``files.put``, nothing is staged in ``/tmp`` and the file never exists with default
    permissions: the content goes into a temp file beside ``path`` under ``umask 077``, gets its
    owner and mode, is synced, then renamed over ``path``. Compared by sha256, so an unchanged file
    costs one command.

    **Example:**

    .. code:: python

        atomic_file(
            name="Install /etc/my-app.env",
            path="/etc/my-app.env",
            content=HiddenValue(rendered),
            mode="0600",
            keep_previous=True,
        )
    """
    raw = content.unmask() if isinstance(content, HiddenValue) else content
    data = raw.encode()
    wanted_mode = mode.lstrip("0") or "0"
    current = host.get_fact(FileState, path=path) if current_state is UNREAD else current_state

    if current and current["sha256"] == hashlib.sha256(data).hexdigest():
        if (current["user"], current["group"]) != (user, group):
            yield StringCommand("chown", QuoteString(f"{user}:{group}"), QuoteString(path))
        if current["mode"] != wanted_mode:
            yield StringCommand("chmod", QuoteString(mode), QuoteString(path))
        if (current["user"], current["group"], current["mode"]) == (user, group, wanted_mode):
            host.noop(f"file {path} is up to date")
        return

    command = _install_script(path, len(data), user, group, mode, keep_previous)
    # Per-command stdin: the connector writes it to the channel and logs nothing of it.
    command.connector_arguments["_stdin"] = raw
    yield command


def _connector_arguments(state, host) -> dict:
    """The connection arguments (sudo and friends) of the operation running on ``host``."""
    arguments = host.current_op_global_arguments or {}
    return {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS and k != "_stdin"}


def _activate(state, host, plan: Activation, batch: int) -> bool:
    # Looked up here, not passed in: pyinfra copies operation arguments per host.
    rollout = Rollout.of(state, batch)
    stopped_by = rollout.wait_turn(state, host, host.executing_op_hash)
    if stopped_by is not None:
        host.log_styled(
            f"not activated: the rollout stopped after {stopped_by} failed", fg="red",
            log_func=logger.error,
        )  # fmt: skip
        rollout.finish(host, f"stopped after {stopped_by}")
        return False
    ok, output = host.run_shell_command(
        activation_script(plan),
        print_output=False,  # what the host says back is scrubbed of secrets first
        print_input=state.print_input,
        _stdin=plan.stdin(),  # file contents: never on a command line
        **_connector_arguments(state, host),
    )
    said = scrub("\n".join(line.line for line in output.combined_lines), plan.secrets)
    if ok:
        host.log(said.splitlines()[-1] if said else f"{plan.service} is healthy", logger.info)
        rollout.finish(host, None)
        return True
    for line in said.splitlines():
        host.log_styled(line, fg="red", log_func=logger.error)
    rollout.finish(host, said.splitlines()[-1] if said else "failed")
    return False


@operation(is_idempotent=False)
def activation(plan: Activation, batch: int = 1):
    """
    Switch a host to new files (env file, unit...) and release in one command, restart the
    service and keep the change only if it becomes healthy; put the old version back otherwise.

    + plan: the ``ssmenv.rollout.Activation`` for this host
    + batch: how many hosts activate at a time; hosts take turns in inventory order, and a
      failure stops the hosts after it before they change

    File contents travel over stdin; what the host says back (its journal on failure) is scrubbed
    of every secret value before it is printed.

    **Example:**

    .. code:: python

        activation(
            name="Activate my-app (rolling, health-gated)",
            plan=Activation(app="my-app", service="my-app.service", files=(...), ...),
            batch=1,
        )
    """
    yield FunctionCommand(_activate, (plan, batch), {})
