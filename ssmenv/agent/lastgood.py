"""The last known good configuration of an app on a host that pulls it: its variables as they were
when its last sync ended healthy, kept so that the app can start at boot when AWS cannot be
reached, up to an age (``pull_max_age``).

Kept encrypted with the host's systemd credential key (``systemd-creds encrypt``, from stdin: the
plaintext is never on disk, nor on a command line), root's alone, in
``/var/lib/ssmenv/agent/<app>.last-good``; the file's modification time is when AWS last
confirmed it (each healthy sync either writes it or touches it), so its age is how stale it may
be. Decrypted into the agent's memory only, where it is checked again against the contract of the
description it was made with before the app may start from it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass

from ssmenv.agent.host import AgentError, private_dir
from ssmenv.credentials import HOST_KEY
from ssmenv.plan.pull import STATE_DIR, last_good
from ssmenv.sources.base import Variable

FORMAT = 1


@dataclass(frozen=True)
class Copy:
    """A last known good configuration: its ``variables`` and its ``age`` in seconds."""

    variables: dict[str, Variable]
    age: float


def _name(app: str) -> str:
    """The name the copy is encrypted under: systemd-creds refuses it under another name."""
    return f"{app}.last-good"


def save(app: str, variables: dict[str, Variable]) -> None:
    """``variables`` kept as ``app``'s last known good configuration (the host's credential key
    made first if it has none, as for the app's own credentials)."""
    private_dir(STATE_DIR)
    if not os.path.exists(HOST_KEY):
        _creds(["setup"], b"")
    text = json.dumps({"format": FORMAT, "app": app, "variables": {
        name: {"value": v.value, "source": v.source, "version": v.version, "secure": v.secure}
        for name, v in sorted(variables.items())}})  # fmt: skip
    path = last_good(app)
    temp = f"{path}.ssmenv-new"
    _creds(["encrypt", "--with-key=auto", f"--name={_name(app)}", "-", temp], text.encode())
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def confirm(app: str) -> None:
    """AWS confirmed the copy now (a sync that changed nothing): its age starts again."""
    os.utime(last_good(app))


def exists(app: str) -> bool:
    return os.path.isfile(last_good(app))


def load(app: str) -> Copy | None:
    """``app``'s last known good configuration and its age; ``None`` when the host has none.
    ``AgentError`` when it cannot be decrypted (another host's, or changed)."""
    path = last_good(app)
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    data = _creds(["decrypt", f"--name={_name(app)}", path, "-"], b"")
    try:
        document = json.loads(data)
        assert document["format"] == FORMAT and document["app"] == app
        variables = {name: Variable(name, v["value"], v["source"], v["version"], v["secure"])
                     for name, v in document["variables"].items()}  # fmt: skip
    except (ValueError, KeyError, TypeError, AssertionError):
        raise AgentError(f"{path} is not a last known good configuration of {app}") from None
    return Copy(variables, age)


def _creds(arguments: list[str], stdin: bytes) -> bytes:
    """``systemd-creds`` with ``arguments`` (never a value among them), ``stdin`` its input;
    what it says on stderr is named only by its last line (it never quotes a value)."""
    done = subprocess.run(["systemd-creds", *arguments], input=stdin, capture_output=True,
                          timeout=60, check=False)  # fmt: skip
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AgentError(f"systemd-creds {arguments[0]} failed"
                         + (f": {said[-1]}" if said else ""))  # fmt: skip
    return done.stdout
