"""What a host has of one app (``HostState``), read in one remote command by ``shell/state.sh``,
and how its output is parsed: pure, for every driver (the push driver runs the script over SSH
as a pyinfra fact, ``ssmenv.facts.AppHostState``; a program on the host would run it there).

Every plan compares this with what the settings want; nothing here talks to a host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ssmenv import manifest as manifests
from ssmenv.accounts import Account
from ssmenv.health import Unit

SHELL = Path(__file__).with_name("shell")


@cache
def script(name: str = "state") -> str:
    """The text of the host-side reading program ``shell/<name>.sh``, run by ``sh -c``."""
    return (SHELL / f"{name}.sh").read_text()


@dataclass(frozen=True)
class Query:
    """What the state read asks a host about one app: its names and paths, the release (``""``:
    none), journald's drop-in, the activation's marker and lock (and how long to wait for it),
    the runtime packages, the units it wants (the host adds those it has), the app's credential
    stores (encrypted, plain), and for an app that runs an image, the engines to look for and the
    image by digest."""

    app: str
    user: str
    home: str
    release: str
    env_file: str
    journald: str
    pending: str
    lock: str
    lock_wait: int
    packages: Sequence[str]
    units: Sequence[str]
    credential_dirs: tuple[str, str] = ("/nonexistent", "/nonexistent")
    engines: tuple[str, ...] = ()
    image: str = ""

    def args(self) -> list[str]:
        """``state.sh``'s positional arguments."""
        return [self.app, self.user, self.home, self.release, self.env_file, self.journald,
                self.pending, self.lock, str(self.lock_wait), *self.credential_dirs,
                " ".join(self.engines), self.image, *self.packages, "--", *self.units]  # fmt: skip


@dataclass(frozen=True)
class FileInfo:
    """A file's owner, group, mode (octal digits as ``stat -c %a`` prints them: ``600``) and the
    sha256 of its content."""

    user: str
    group: str
    mode: str
    sha256: str


def sections(output: Sequence[str]) -> dict[str, list[str]]:
    """The lines of a reading's output under each ``--name--`` marker line, by name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output:
        if line.startswith("--") and line.endswith("--") and len(line) > 4:
            current = found.setdefault(line.strip("-"), [])
        else:
            current.append(line)
    return found


def file_state(lines: Sequence[str]) -> FileInfo | None:
    """What ``file_state`` (``shell/file-state.sh``) printed for one file (``None``: absent)."""
    if len(lines) < 2:
        return None
    user, group, mode = lines[0].split()
    return FileInfo(user, group, mode, lines[1].split()[0])


@dataclass(frozen=True)
class Pending:
    """The marker of an activation that never saw the service healthy: what it replaced."""

    digest: str  # of the marker file, compared before anything changes
    files: Mapping[str, str | None]  # path -> sha256 to go back to (None: remove)
    link: tuple[str, str | None] | None = None  # (path, target to go back to)
    previous: bool = False  # there is a version to go back to
    back: tuple[Unit, ...] = ()  # the units the version to go back to runs

    @classmethod
    def parse(cls, text: str | None, digest: str | None) -> Pending | None:
        """The marker's content as the host has it; ``None`` for none."""
        if text is None or digest is None:
            return None
        files: dict[str, str | None] = {}
        link = None
        previous = False
        units: list[Unit] = []
        for line in text.splitlines():
            kind, _, rest = line.partition(" ")
            back, _, path = rest.partition(" ")
            if kind == "file" and path:
                files[path] = None if back == "absent" else back
            elif kind == "link" and path:
                link = (path, None if back == "-" else back)
            elif kind == "previous":
                previous = True
            elif kind == "back" and (unit := Unit.parse(rest)):
                units.append(unit)
        return cls(digest, files, link, previous, tuple(units))


@dataclass(frozen=True)
class HostState:
    """What a host has of one app, as ``shell/state.sh`` reads it (``parse``) and every plan
    compares it."""

    #: The host's systemd version (``None``: unreadable).
    systemd: int | None
    #: Each runtime package asked about and its dpkg status: ``{"nodejs": "installed"}``.
    packages: Mapping[str, str]
    #: ``getent passwd`` of the app's user, ``name:gid:home:shell``.
    user: str | None
    #: ``getent group`` of the app's group, ``name:gid``.
    group: str | None
    #: The directories the app's files live in, as they are: its home, releases and release,
    #: the credential stores and the app's own in them, by path: ``{"/opt/a": "root root 755
    #: directory"}``; a link is there as one (``"root root 777 symbolic link"``), never followed.
    dirs: Mapping[str, str]
    #: Whether the release asked about is on the host (``None``: none was asked about).
    release_present: bool | None
    #: Where ``current`` points: ``/opt/a/releases/1a2b3c``.
    current: str | None
    #: The app's unit files, by name: ``{"example-app.service": FileInfo(...)}``.
    unit_files: Mapping[str, FileInfo]
    #: The app's units (those asked about, those of its unit files, a template's instances) and
    #: their ``ActiveState`` and ``UnitFileState``: ``{"example-app.service": {...}}``.
    services: Mapping[str, Mapping[str, str]]
    #: An activation committed files but never saw the app healthy: what it replaced.
    pending: Pending | None
    #: journald's drop-in.
    journald: FileInfo | None
    manifest_file: FileInfo | None
    #: The manifest's text (versions and keyed fingerprints, no value).
    manifest: str | None
    #: The fingerprint key: key material, kept out of the repr.
    key: str | None = field(repr=False)
    env_file: FileInfo | None
    #: The app's credential files (ciphertext, or plaintext on systemd 247-249), by path:
    #: ``{"/etc/credstore.encrypted/example-app/DB_PASSWORD": FileInfo(...)}``.
    credential_files: Mapping[str, FileInfo] = field(default_factory=dict)
    #: For an app that runs an image: the engine the host has (of those asked about: ``None``,
    #: none), and whether it has the image already (``None``: none was asked about).
    engine: str | None = None
    image_present: bool | None = None
    #: The app's user as the host has it (``None``: no such user), to judge whether it may be
    #: the app's (``ssmenv.accounts``).
    account: Account | None = None

    def running(self, unit: str) -> bool:
        return self.services.get(unit, {}).get("ActiveState") == "active"

    def enabled(self, unit: str) -> bool:
        return self.services.get(unit, {}).get("UnitFileState") in ("enabled", "static")

    @property
    def checks(self) -> Mapping[str, Unit] | None:
        """How the version the host runs checks each of its units, as its manifest records them
        (``None``: a manifest written before manifests recorded them, or none)."""
        return manifests.checks(manifests.loads(self.manifest))

    @property
    def active_units(self) -> tuple[str, ...]:
        """The app's units that run or would start at boot, in name order."""
        return tuple(sorted(
            unit for unit, s in self.services.items()
            if s.get("ActiveState") in ("active", "activating", "reloading")
            or s.get("UnitFileState") == "enabled"
        ))  # fmt: skip


def parse(output: Sequence[str]) -> HostState:
    """The ``HostState`` of what ``state.sh`` printed, one line each."""
    found = sections(output)
    stats = _stats(found.get("stat", []))
    digests = _digests(found.get("sha256", []))

    def one(name: str) -> str | None:
        lines = [line for line in found.get(name, []) if line.strip()]
        return lines[0].strip() if lines else None

    def file_of(lines: Sequence[str]) -> FileInfo | None:
        """The file a section names, if it is a regular file."""
        path = lines[0] if lines else ""
        kind, digest = stats.get(path), digests.get(path)
        if kind is None or digest is None or not kind.endswith(" file"):
            return None
        user, group, mode, _ = kind.split(" ", 3)
        return FileInfo(user, group, mode, digest)

    packages: dict[str, str] = {}
    systemd = None
    for line in found.get("packages", []):
        name, _, rest = line.partition(" ")
        status, _, version = rest.partition(" ")
        if not status:
            continue
        packages[name] = status
        if name == "systemd" and status == "installed":
            major = re.match(r"\d+", version)  # 252.39-1~deb12u2
            systemd = int(major.group()) if major else None
    passwd = (one("user") or "").split(":")
    group = (one("group") or "").split(":")
    manifest = "\n".join(found.get("manifest", [])).strip()
    return HostState(
        systemd=systemd,
        packages=packages,
        user=":".join(passwd[i] for i in (0, 3, 5, 6)) if len(passwd) >= 7 else None,
        group=":".join(group[:3:2]) if len(group) >= 3 else None,
        dirs={path: stats[path] for path in found.get("dirs", []) if path in stats},
        release_present=one("release") == "present" if "release" in found else None,
        current=one("current"),
        unit_files={
            name.removeprefix("unit-file "): info
            for name, lines in found.items()
            if name.startswith("unit-file ") and (info := file_of(lines))
        },
        services=_services(found.get("services", [])),
        pending=_pending(file_of(found.get("pending-file", [])), found),
        journald=file_of(found.get("journald", [])),
        manifest_file=file_of(found.get("manifest-file", [])),
        manifest=manifest or None,
        key=one("key"),
        env_file=file_of(found.get("env", [])),
        credential_files={
            name.removeprefix("credential "): info
            for name, lines in found.items()
            if name.startswith("credential ") and (info := file_of(lines))
        },
        engine=one("engine"),
        image_present=one("image") == "present" if "image" in found else None,
        account=Account.parse(one("user") or "", one("user-groups") or ""),
    )


def _stats(lines: Sequence[str]) -> dict[str, str]:
    """``stat -c '%U %G %a %F %n'`` of several paths: path -> ``user group mode type`` (the type
    has spaces, ``regular file``; the path starts at the first ``/``)."""
    found = {}
    for line in lines:
        head, slash, tail = line.partition(" /")
        if slash:
            found["/" + tail] = head
    return found


def _digests(lines: Sequence[str]) -> dict[str, str]:
    """``sha256sum`` of several files: path -> digest (a path with a backslash or a newline in it
    is escaped, the line then starting with ``\\``)."""
    found = {}
    for line in lines:
        digest, _, path = line.partition("  ")
        if digest.startswith("\\"):
            digest, path = digest[1:], path.replace("\\n", "\n").replace("\\\\", "\\")
        if path:
            found[path] = digest
    return found


def _services(lines: list[str]) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id ...`` of several units: blocks of ``Key=value``, ``Id`` first."""
    services: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in [*lines, ""]:
        if "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
        elif current:
            if current.get("Id"):
                services[current["Id"]] = current
            current = {}
    return services


def _pending(marker: FileInfo | None, found: dict[str, list[str]]) -> Pending | None:
    text = "\n".join(found.get("pending", []))
    return Pending.parse(text, marker.sha256) if marker else None
