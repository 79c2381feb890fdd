"""The project's pyinfra operations: files installed atomically and privately, atomic symlinks."""

from __future__ import annotations

import hashlib
import posixpath

from pyinfra import host
from pyinfra.api import HiddenValue, QuoteString, StringCommand, operation
from pyinfra.facts.files import Link

from ssmenv.facts import FileState

UNREAD = object()  # atomic_file reads the file's state itself


def _install_script(
    path: str,
    size: int,
    user: str,
    group: str,
    mode: str,
    keep_previous: bool,
    verify: str | None = None,
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
    if verify:
        # Checked under the target's own name (systemd-analyze derives the unit name from it), in
        # a private directory; any complaint refuses the file and leaves the old one in place.
        copy = StringCommand('"$v"/', QuoteString(posixpath.basename(path)), _separator="")
        bits += [
            "v=$(mktemp -d -p /run ssmenv-verify.XXXXXX); trap 'rm -rf \"$tmp\" \"$v\"' EXIT; cp \"$tmp\"", copy, ";",
            "rc=0; out=$(", StringCommand(verify), copy, "2>&1) || rc=$?;",
            'if [ "$rc" -ne 0 ] || [ -n "$out" ]; then echo "refused', QuoteString(path),
            ':" "$out" >&2; exit 1; fi;',
        ]  # fmt: skip
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
    verify: str | None = None,
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
    + verify: a command that checks the new file before it replaces the old one, given a copy
      named like ``path``; any output or a non-zero exit refuses it
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

    command = _install_script(path, len(data), user, group, mode, keep_previous, verify)
    # Per-command stdin: the connector writes it to the channel and logs nothing of it.
    command.connector_arguments["_stdin"] = raw
    yield command


@operation()
def symlink(path: str, target: str):
    """
    Point a symlink at a target, switching atomically (``rename``, never a moment without the link).

    + path: the link
    + target: where it points

    **Example:**

    .. code:: python

        symlink(name="Switch to release 1a2b", path="/opt/app/current",
                target="/opt/app/releases/1a2b")
    """
    link = host.get_fact(Link, path=path)
    if link and link.get("link_target") == target:
        host.noop(f"link {path} already points at {target}")
        return
    temp = f"{path}.new"
    yield StringCommand(
        "ln -sfn",
        QuoteString(target),
        QuoteString(temp),
        "&& mv -T",
        QuoteString(temp),
        QuoteString(path),
    )
