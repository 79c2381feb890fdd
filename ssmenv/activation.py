"""The activation of one host: what it switches to, what it goes back to, how to tell it worked.

An ``Activation`` is made by the plan (``ssmenv.plan.service``) from what the host has and what
the settings want there. ``ssmenv/shell/activate.sh`` carries it out as one command under the
app's lock (see that file for the steps and exit statuses); this module writes its plan, bounds
how long it may take, and reads what the host says back, masking every secret value first.

What a rollback restores is explicit (``FileWrite.back``, ``LinkSwitch.back``): normally what the
host has now, but when an earlier activation committed files and never saw the service healthy
(its marker, ``Pending``), what *that* one replaced: the last version known to be healthy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ssmenv import envfile
from ssmenv.health import Unit
from ssmenv.hoststate import Pending
from ssmenv.scrub import scrub

# Exit statuses of the activation program.
HEALTHY = 0
ROLLED_BACK = 1  # the new version failed, the old one is back and healthy
BROKEN = 2  # the new version failed and so did the old one (or there was none)
REFUSED = 3  # nothing was changed: a file could not be staged or verified, or no way back
LOCKED = 75  # another deploy holds the app's lock on the host
STALE = 76  # the host changed since this run read it

#: Seconds an activation waits for another deploy of the same app on the host to finish.
LOCK_WAIT = 60
#: Seconds systemd's verification of a unit may take.
VERIFY_TIMEOUT = 60

_SAME = object()

def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pending_marker(app: str) -> str:
    """Present while an activation has committed files but not yet seen the app healthy, with
    what to go back to; in root's ``/run/ssmenv`` (beside the app's lock), so a reboot, which
    starts the app on the new files anyway, clears it."""
    return f"/run/ssmenv/{app}.pending"


def lock_path(app: str) -> str:
    """The app's deploy lock on a host: held by each activation and release unpack."""
    return f"/run/ssmenv/{app}.lock"


@dataclass(frozen=True)
class FileWrite:
    """One file of an activation.

    ``content`` is put in place; ``None`` changes nothing and only says what to go back to (a file
    an unfinished activation changed). ``expect`` is the sha256 the run read (``None``: absent),
    compared before anything changes. ``back`` is what a rollback restores (``None``: remove the
    file), by default ``expect``.
    """

    path: str
    content: str | None = field(default=None, repr=False)
    user: str = "root"
    group: str = "root"
    mode: str = "0600"
    expect: str | None = None
    back: str | None = field(default=_SAME)  # type: ignore[assignment]
    unit: bool = False  # a systemd unit: verified before it goes live, daemon-reload after
    secret: bool = False  # holds secret values (the env file)
    transient: bool = False  # its previous version is removed once the units are healthy
    remove: bool = False  # the file goes at the switch (a unit no process needs any more)
    # A credential (ssmenv.credentials): its whole content is one secret value; ``encrypt``: it
    # is written as systemd-creds encrypts it, named after the file.
    credential: bool = False
    encrypt: bool = False

    def __post_init__(self) -> None:
        if self.back is _SAME:
            object.__setattr__(self, "back", self.expect)

    @property
    def size(self) -> int:
        return len((self.content or "").encode())

    def line(self) -> str:
        flags = [name for name in ("unit", "secret", "transient", "remove", "credential",
                                   "encrypt") if getattr(self, name)]  # fmt: skip
        # A unit is verified when it is written; one that goes needs no verification.
        words = ",".join("verify" if f == "unit" else f for f in flags
                         if not (f == "unit" and self.content is None)) or "-"  # fmt: skip
        if self.remove:
            size, digest, expect = "-", "-", self.expect or "absent"
        elif self.content is None:
            size, digest, expect = "-", "-", "-"
        else:
            size, digest, expect = str(self.size), sha256(self.content), self.expect or "absent"
        return (f"file {size} {digest} {expect} {self.back or 'absent'} {self.user}:{self.group} "
                f"{self.mode} {words} {self.path}")  # fmt: skip


@dataclass(frozen=True)
class LinkSwitch:
    """``path`` (a symlink) switched to ``target``; ``previous`` is where it points now
    (``None``: nowhere), ``back`` where a rollback points it (by default ``previous``)."""

    path: str
    target: str
    previous: str | None
    back: str | None = field(default=_SAME)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.back is _SAME:
            object.__setattr__(self, "back", self.previous)

    def line(self) -> str:
        return f"link {self.previous or '-'} {self.back or '-'} {self.target} {self.path}"


@dataclass(frozen=True)
class Activation:
    """What one host switches to, what it goes back to, and how to tell it worked."""

    app: str
    units: tuple[Unit, ...]  # what runs after the switch
    files: tuple[FileWrite, ...] = ()
    link: LinkSwitch | None = None
    stop: tuple[str, ...] = ()  # units stopped at the switch: no process of the new version
    back: tuple[Unit, ...] = ()  # what runs after a rollback: the previous version's units
    previous: bool = True  # there is a version to go back to; False: a first deploy
    pending: Pending | None = None
    lock_wait: int = LOCK_WAIT
    # Values that must never be printed, masked in anything the host says back.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def resuming(
        cls,
        pending: Pending | None,
        files: Sequence[FileWrite],
        link: LinkSwitch | None,
        current_link: str | None,
        known: Mapping[str, FileWrite],
        **fields,
    ) -> Activation:
        """The activation of ``files`` and ``link`` where ``pending`` (if any) left the host: each
        file and the link go back to what the unfinished activation replaced, and the files it
        changed that this one leaves alone are tracked too (``known`` gives their owner, mode and
        flags), so a rollback restores them all. Without ``pending``, as given."""
        if pending is None:
            return cls(files=tuple(files), link=link, pending=None, **fields)
        merged = [
            replace(f, back=pending.files[f.path]) if f.path in pending.files else f for f in files
        ]
        changing = {f.path for f in files}
        for path, back in pending.files.items():
            if path not in changing:
                like = known.get(path, FileWrite(path))
                merged.append(replace(like, content=None, expect=None, back=back))
        if pending.link:
            path, back = pending.link
            if link is None:
                link = LinkSwitch(path, current_link or back or "", current_link, back=back)
            else:
                link = replace(link, back=back)
        back = pending.back or fields.get("back", ())
        return cls(files=tuple(merged), link=link, pending=pending,
                   **{**fields, "previous": pending.previous, "back": back})  # fmt: skip

    @property
    def reload(self) -> bool:
        return any(f.unit for f in self.files)

    @property
    def timeout(self) -> int:
        """Seconds the whole activation can take at most: the lock, verifying the unit, then the
        new version's restart and health check and, failing those, the old one's. A margin covers
        the steps that do not wait (renames, daemon-reload, the journal)."""
        def attempt(units: Sequence[Unit]) -> int:
            # Units start together and are checked in turn: a probe may overrun by 5 s each.
            if not units:
                return 0
            return max(u.timeout for u in units) + max(u.settle for u in units) + 5 * len(units)

        stopping = 90 * len(self.stop)  # systemd's default stop timeout, each
        return (self.lock_wait + VERIFY_TIMEOUT + stopping + attempt(self.units)
                + 90 * len(self.units) + attempt(self.back) + 30)  # fmt: skip

    def plan(self) -> list[str]:
        """The plan's lines, as ``activate.sh``'s ``read_plan`` reads them."""
        lines = [
            "ssmenv-activation 1",
            f"app {self.app}",
            f"lock-wait {self.lock_wait}",
            f"reload {int(self.reload)}",
            f"previous {int(self.previous)}",
            f"marker {self.pending.digest if self.pending else 'absent'}",
            *(u.line("unit") for u in self.units),
            *(u.line("back") for u in self.back),
            *(f"stop {name}" for name in self.stop),
            *(f.line() for f in self.files),
        ]
        if self.link:
            lines.append(self.link.line())
        return [*lines, "end"]

    def payload(self) -> str:
        """The contents of the files it puts in place, in plan order."""
        return "".join(f.content for f in self.files if f.content is not None)


@dataclass(frozen=True)
class Said:
    """What the host said back: lines fit to print (every secret masked), and the last word."""

    lines: tuple[str, ...]

    @property
    def last(self) -> str:
        return self.lines[-1] if self.lines else ""


def said(stdout: Iterable[str], stderr: Iterable[str], secrets: Sequence[str]) -> Said:
    """The host's answer, fit to print: ``stderr``'s lines with every secret value masked, the new
    ones (``secrets``) and those of the env files and credentials on the host, which
    ``activate.sh`` sends as ``mask`` (an env file) and ``mask-value`` (a credential) lines on
    ``stdout`` (the previous values, which this machine never had). If those cannot be read, the
    journal's lines are left out rather than shown unmasked."""
    values = list(secrets)
    readable = True
    for line in stdout:
        kind, _, data = line.partition(" ")
        if kind not in ("mask", "mask-value"):
            continue
        try:
            text = base64.b64decode(data, validate=True).decode()
            values += envfile.parse(text).values() if kind == "mask" else [text]
        except (binascii.Error, UnicodeDecodeError, ValueError):
            readable = False
    lines = [line for line in stderr if line.strip()]
    if not readable:
        lines = [line for line in lines if not line.startswith("  | ")]
        lines.append("ssmenv: (the journal's lines are left out: the host's env file could not "
                     "be read to mask its values)")  # fmt: skip
    return Said(tuple(scrub("\n".join(lines), values).splitlines()))
