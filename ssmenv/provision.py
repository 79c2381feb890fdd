"""What an app host lacks before its activation, made in one remote command: the app's system
user and group, its directories, small root-owned files (journald's retention) and the release,
unpacked from stdin, or the image, pulled. ``ssmenv/shell/provision.sh`` carries it out under the
app's lock; this module writes its plan and payload.

Only what the state read found missing or different is in a plan: a host that has everything
gets no command at all, and a new host gets this one instead of a dozen of pyinfra's own.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ssmenv.activation import LOCK_WAIT


@dataclass(frozen=True)
class HostFile:
    """A root-owned file put in place whole; ``restart``: the unit restarted once it changed."""

    path: str
    content: str = field(repr=False)
    mode: str = "0644"
    restart: str | None = None

    def line(self) -> str:
        size, digest = len(self.content.encode()), hashlib.sha256(self.content.encode())
        return f"file {size} {digest.hexdigest()} {self.mode} {self.restart or '-'} {self.path}"


@dataclass(frozen=True)
class Unpack:
    """A release unpacked into ``path`` from ``archive`` (a local ``.tar.gz``), ``install`` run in
    it (its dependencies) before it is moved into place."""

    path: str
    archive: Path
    install: str | None = None

    @cached_property
    def data(self) -> bytes:
        """The archive's bytes, read once."""
        return self.archive.read_bytes()

    @cached_property
    def text(self) -> str:
        """The archive as it travels: base64."""
        return base64.b64encode(self.data).decode()

    def lines(self, kind: str = "release") -> list[str]:
        """Its plan lines: ``release``, or ``bundle`` for the agent's (which has no install)."""
        digest = hashlib.sha256(self.data).hexdigest()
        archive = "archive" if kind == "release" else f"{kind}-archive"
        return [f"{kind} {self.path}", f"{archive} {len(self.text)} {digest}",
                *([f"install {self.install}"] if self.install else [])]  # fmt: skip


@dataclass(frozen=True)
class Pull:
    """An image pulled by ``engine`` (``podman`` or ``docker``) by its digest; ``auth``: the
    registry login as both engines read it (``ssmenv.runtimes.container.auth_json``), a secret
    that travels on stdin only."""

    engine: str
    image: str
    auth: str | None = field(default=None, repr=False)

    def line(self) -> str:
        return f"pull {self.engine} {len((self.auth or '').encode())} {self.image}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The login in every form an engine or a registry may say it back: whole, each entry's
        token (base64 of ``user:password``, as it goes over the wire), decoded, and its password
        alone."""
        if not self.auth:
            return ()
        found = [self.auth]
        try:
            entries = json.loads(self.auth)["auths"].values()
            for token in (entry["auth"] for entry in entries):
                pair = base64.b64decode(token, validate=True).decode()
                found += [token, pair, pair.partition(":")[2]]
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # not the JSON auth_json writes: the whole login is still masked
        return tuple(dict.fromkeys(s for s in found if s))


@dataclass(frozen=True)
class Provision:
    """What one app's host needs made before its activation."""

    app: str
    user: str | None = None  # the system user (and group) to make, if missing
    dirs: tuple[str, ...] = ()  # root:root 0755
    files: tuple[HostFile, ...] = ()
    release: Unpack | None = None
    pull: Pull | None = None
    lock_wait: int = LOCK_WAIT
    #: The host's agent, unpacked as a release is, with nothing to install (pull mode).
    agent: Unpack | None = None

    def __bool__(self) -> bool:
        return bool(self.user or self.dirs or self.files or self.release or self.pull
                    or self.agent)  # fmt: skip

    def describe(self) -> str:
        """What it makes, in words (no content)."""
        release = [f"release {Path(self.release.path).name}"] if self.release else []
        user = [f"user {self.user}"] if self.user else []
        pull = [f"image {self.pull.image.rsplit('@', 1)[1][:19]}"] if self.pull else []
        agent = [f"agent {Path(self.agent.path).name}"] if self.agent else []
        return ", ".join([*user, *self.dirs, *(f.path for f in self.files), *release, *pull,
                          *agent])  # fmt: skip

    def plan(self) -> list[str]:
        """The plan's lines, as ``provision.sh``'s ``read_plan`` reads them."""
        return [
            "ssmenv-provision 1",
            f"app {self.app}",
            f"lock-wait {self.lock_wait}",
            *([f"user {self.user}"] if self.user else []),
            *(f"dir {d}" for d in self.dirs),
            *(f.line() for f in self.files),
            *(self.release.lines() if self.release else []),
            *([self.pull.line()] if self.pull else []),
            *(self.agent.lines("bundle") if self.agent else []),
            "end",
        ]

    def payload(self) -> str:
        """The files' contents in plan order, then the registry login, then the archive, then
        the agent's."""
        return ("".join(f.content for f in self.files) + (self.pull.auth or "" if self.pull else "")
                + (self.release.text if self.release else "")
                + (self.agent.text if self.agent else ""))  # fmt: skip

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be printed of it, whatever the host says back: the registry login."""
        return self.pull.secrets if self.pull else ()
