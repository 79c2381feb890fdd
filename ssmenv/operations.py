"""The project's pyinfra operations: files installed atomically and privately, and the
health-gated, rolling activation of what an app runs."""

from __future__ import annotations

import hashlib
import posixpath
from functools import partial

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, HiddenValue, QuoteString, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

from ssmenv import remote
from ssmenv.activation import Activation, said
from ssmenv.facts import FileInfo, FileState
from ssmenv.plan.pull import Handover
from ssmenv.provision import Provision
from ssmenv.rollout import Outcome, Pace, Rollout
from ssmenv.scrub import scrub

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
    current_state: FileInfo | object | None = UNREAD,
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

    if isinstance(current, FileInfo) and current.sha256 == hashlib.sha256(data).hexdigest():
        if (current.user, current.group) != (user, group):
            yield StringCommand("chown", QuoteString(f"{user}:{group}"), QuoteString(path))
        if current.mode != wanted_mode:
            yield StringCommand("chmod", QuoteString(mode), QuoteString(path))
        if (current.user, current.group, current.mode) == (user, group, wanted_mode):
            host.noop(f"file {path} is up to date")
        return

    command = _install_script(path, len(data), user, group, mode, keep_previous)
    # Per-command stdin: the connector writes it to the channel and logs nothing of it.
    command.connector_arguments["_stdin"] = raw
    yield command


def _connector_arguments(state, host, op_hash: str) -> dict:
    """The connection arguments (sudo and friends) of operation ``op_hash`` on ``host``, read
    from the operation's data: the rollout may run a host's activation from another greenlet."""
    arguments = state.get_op_data_for_host(host, op_hash).global_arguments
    return {
        k: v for k, v in arguments.items()
        if k in CONNECTOR_ARGUMENT_KEYS and k not in ("_stdin", "_timeout")
    }  # fmt: skip


def _activate_host(state, op_hash: str, host, plan: Activation) -> Outcome:
    """Run ``plan`` on ``host`` as one remote command and print what it says, secrets masked."""
    command, stdin = remote.command("activate", plan.plan(), plan.payload())
    try:
        ok, output = host.run_shell_command(
            command,
            print_output=False,  # what the host says back is masked first
            print_input=state.print_input,
            _stdin=stdin,  # the plan and the file contents: never on a command line
            _timeout=plan.timeout,
            **_connector_arguments(state, host, op_hash),
        )
    except TimeoutError:
        summary = (f"the activation did not end within {plan.timeout} s; the host finishes it "
                   "on its own (each of its waits has a deadline) and rolls back if unhealthy")
        host.log_styled(summary, fg="red", log_func=logger.error)
        return Outcome(False, summary)
    except Exception as e:  # the connection, mostly: it is this host's failure, not the run's
        summary = f"the activation could not run: {type(e).__name__}: {e}"[:500]
        host.log_styled(summary, fg="red", log_func=logger.error)
        return Outcome(False, summary)
    answer = said(output.stdout_lines, output.stderr_lines, plan.secrets)
    if ok:
        host.log(answer.last or f"{plan.app} is healthy", logger.info)
        return Outcome(True, answer.last)
    for line in answer.lines:
        host.log_styled(line, fg="red", log_func=logger.error)
    return Outcome(False, answer.last or "failed")


def _take_turn(state, host, plan: Activation, pace: Pace) -> bool:
    op_hash = host.executing_op_hash
    rollout = Rollout.of(state, op_hash, pace, plan.app, partial(_activate_host, state, op_hash))
    return rollout.take_turn(host, plan).ok


@operation(is_idempotent=False)
def activation(plan: Activation, pace: Pace | None = None):
    """
    Switch a host to new files (env file, unit...) and release in one command, restart the
    service and keep the change only if it becomes healthy; put the old version back otherwise.

    + plan: the ``ssmenv.activation.Activation`` for this host
    + pace: how many hosts activate at a time (``ssmenv.rollout.Pace``: a canary, then
      batches; by default one host, then half of them at a time); hosts take turns in
      inventory order, and a failure stops the hosts after it before they change

    The plan, file contents included, travels over stdin; what the host says back (its journal
    on failure) is masked of every secret value, new and old, before it is printed. Hosts take
    their turns in inventory order even beyond ``--parallel`` when each host's plan was enlisted
    before the run (``Rollout.enlist``); otherwise a host goes once its own greenlet gets there.

    **Example:**

    .. code:: python

        plan = Activation(app="my-app", units=(Unit("my-app.service", 3000, "/healthz"),), ...)
        Rollout.enlist(host.state, host, "my-app", plan)
        activation(name="Activate my-app (rolling, health-gated)", plan=plan,
                   pace=Pace(canary=1, percent=25))
    """
    yield FunctionCommand(_take_turn, (plan, pace or Pace()), {})


#: Seconds a handover may take: the agent's sync (its reads, the provisioning, the activation,
#: each with its own deadlines) within its units' own limit.
HANDOVER_TIMEOUT = 1800


def _handover_host(state, op_hash: str, host, plan: Handover) -> Outcome:
    """Run ``plan`` (the agent's ``take``) on ``host`` and print what the agent says, masked."""
    command = StringCommand(*(QuoteString(word) for word in plan.command))
    try:
        ok, output = host.run_shell_command(
            command,
            print_output=False,  # masked first
            print_input=state.print_input,
            _stdin=plan.description,
            _timeout=HANDOVER_TIMEOUT,
            # The agent's changed (2) is a success: what it switched is healthy.
            **{**_connector_arguments(state, host, op_hash), "_success_exit_codes": [0, 2]},
        )
    except Exception as e:  # the connection, mostly: this host's failure, not the run's
        summary = f"the handover could not run: {type(e).__name__}: {e}"[:500]
        host.log_styled(summary, fg="red", log_func=logger.error)
        return Outcome(False, summary)
    text = "\n".join(line for line in output.output_lines if line.strip())
    lines = scrub(text, plan.secrets).splitlines()
    for line in lines:
        if ok:
            host.log(line, logger.info)
        else:
            host.log_styled(line, fg="red", log_func=logger.error)
    return Outcome(ok, lines[-1] if lines else ("synced" if ok else "failed"))


@operation(is_idempotent=False)
def handover(plan: Handover, pace: Pace | None = None):
    """
    Hand an app to the host's agent: the agent's ``take`` (the app's description on stdin)
    keeps the description, configures itself and its units for the app, and syncs it (one
    health-gated activation, rolled back on failure); its outcome is the sync's.

    + plan: the ``ssmenv.plan.pull.Handover`` for this host
    + pace: how many hosts hand over at a time (``ssmenv.rollout.Pace``), in inventory order,
      stopping at the first that fails, as activations do

    The command line names the agent, ``take`` and the app; what the agent says back (names,
    never values) is masked of the app's values all the same.

    **Example:**

    .. code:: python

        plan = Handover(app="my-app", version="1a2b3c4d5e6f", description=text)
        Rollout.enlist(host.state, host, "my-app", plan)
        handover(name="Hand my-app over to the host's agent", plan=plan)
    """

    def take_turn(state, host, plan: Handover, pace: Pace) -> bool:
        op_hash = host.executing_op_hash
        rollout = Rollout.of(state, op_hash, pace, plan.app,
                             partial(_handover_host, state, op_hash))  # fmt: skip
        return rollout.take_turn(host, plan).ok

    yield FunctionCommand(take_turn, (plan, pace or Pace()), {})


def _provision_host(state, host, plan: Provision) -> bool:
    """Run ``plan`` on ``host`` as one remote command and print what it says, secrets masked:
    on failure, or on success at ``-v`` (as pyinfra prints a command's output)."""
    command, stdin = remote.command("provision", plan.plan(), plan.payload())
    try:
        ok, output = host.run_shell_command(
            command,
            print_output=False,  # what the host says back is masked first
            print_input=state.print_input,
            _stdin=stdin,  # the plan, the files, the registry login, the release
            **_connector_arguments(state, host, host.executing_op_hash),
        )
    except Exception as e:  # the connection, mostly: this host's failure, not the run's
        host.log_styled(f"the provisioning could not run: {type(e).__name__}: {e}"[:500],
                        fg="red", log_func=logger.error)  # fmt: skip
        return False
    if ok and not state.print_output:
        return True
    text = "\n".join(line for line in output.output_lines if line.strip())
    for line in scrub(text, plan.secrets).splitlines():
        if ok:
            host.log(line, logger.info)
        else:
            host.log_styled(line, fg="red", log_func=logger.error)
    return ok


@operation(is_idempotent=False)
def provision(plan: Provision):
    """
    Make what an app host lacks before its activation, in one command: the app's system user and
    group, its directories, small root-owned files (restarting the unit that reads one) and a
    release, unpacked into a directory of its own, complete or not at all, its dependencies
    installed by an unprivileged, sandboxed user.

    + plan: the ``ssmenv.provision.Provision`` for this host (only what it lacks)

    The plan, the files and the release archive (base64, with its sha256) travel over stdin, in
    one command that holds the app's lock. The release is unpacked into a uniquely named
    directory beside its path and renamed into place: two runs shipping the same release never
    remove each other's work, and a release already on the host (another run's) is left as it is.
    What the host says back is printed with the plan's secrets (a registry login) masked.

    **Example:**

    .. code:: python

        provision(
            name="Provision my-app",
            plan=Provision(
                app="my-app", user="my-app", dirs=("/opt/my-app", "/opt/my-app/releases"),
                release=Unpack("/opt/my-app/releases/1a2b3c", Path("/tmp/1a2b3c.tar.gz"),
                               install="npm ci --omit=dev --no-audit --no-fund"),
            ),
        )
    """
    yield FunctionCommand(_provision_host, (plan,), {})
