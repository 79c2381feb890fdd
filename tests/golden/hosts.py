"""A model of what a host has after a run, for the golden scenarios: each run's plans applied to
the ``HostState`` it was made from, as ``provision.sh`` and ``activate.sh`` carry them out when
all goes well, so that the next run starts from what this one left."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

from ssmenv.accounts import Account
from ssmenv.activation import Activation, Pending
from ssmenv.facts import AppHostState, FileInfo, HostState
from ssmenv.provision import Provision

UNIT_DIR = "/etc/systemd/system/"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fresh(systemd: int | None = 252) -> HostState:
    """A Debian host that has never run the app."""
    lines = ["--packages--", f"systemd installed {systemd}.1-1" if systemd else ""]
    return AppHostState().process(lines)


def _mode(mode: str) -> str:
    return mode.lstrip("0") or "0"


def provisioned(state: HostState, plan: Provision | None, packages=()) -> HostState:
    """``state`` once ``packages`` are installed and ``plan`` made (its ``dirs``: every directory
    the host has; the image it pulls is the lab's to keep)."""
    changes: dict = {}
    if packages:
        changes["packages"] = {**state.packages, **dict.fromkeys(packages, "installed")}
    if plan is None:
        return replace(state, **changes)
    dirs = dict(state.dirs)
    if plan.user:
        gid = 990
        changes.update(
            user=f"{plan.user}:{gid}:/nonexistent:/usr/sbin/nologin",
            group=f"{plan.user}:{gid}",
            account=Account(plan.user, gid, gid, f"ssmenv app {plan.app}", "/nonexistent",
                            "/usr/sbin/nologin", (plan.user,)),
        )  # fmt: skip
    for d in plan.dirs:
        dirs[d] = "root root 755 directory"
    for f in plan.files:
        changes["journald"] = FileInfo("root", "root", _mode(f.mode), sha(f.content))
    if plan.release:
        dirs[plan.release.path] = "root root 755 directory"
    return replace(state, dirs=dirs, **changes)


def activated(
    state: HostState, plan: Activation | None, env_file: str, healthy: bool = True
) -> HostState:
    """``state`` once ``plan`` switched it (and, ``healthy``, saw the units healthy: else its
    marker stays, as after a run that never saw the end of it)."""
    if plan is None:
        return state
    units = dict(state.unit_files)
    creds = dict(state.credential_files)
    changes: dict = {}
    for f in plan.files:
        if f.content is None and not f.remove:
            continue
        name = f.path.removeprefix(UNIT_DIR)
        info = None if f.remove else FileInfo(
            f.user, f.group, _mode(f.mode),
            sha(("encrypted " if f.encrypt else "") + (f.content or "")))  # fmt: skip
        if f.unit:
            if info is None:
                units.pop(name, None)
            else:
                units[name] = info
        elif f.credential:
            if info is None:
                creds.pop(f.path, None)
            else:
                creds[f.path] = info
        elif f.path == env_file:
            changes["env_file"] = info
        elif f.path == env_file + ".manifest":
            changes["manifest_file"] = info
            changes["manifest"] = (f.content or "").strip() or None
        elif f.path == env_file + ".key":
            changes["key"] = (f.content or "").strip() or None
        else:
            raise AssertionError(f"the model knows no file {f.path}")
    if plan.link:
        changes["current"] = plan.link.target
    services = {u: s for u, s in state.services.items() if u not in plan.stop}
    for unit in plan.units:
        services[unit.name] = {"Id": unit.name, "ActiveState": "active" if healthy else "failed",
                               "UnitFileState": "enabled"}  # fmt: skip
    pending = None
    if not healthy:
        marker = "\n".join([
            "activation 1", *(["previous"] if plan.previous else []),
            *(u.line("back") for u in plan.back),
            *(f"file {f.back or 'absent'} {f.path}" for f in plan.files),
            *([f"link {plan.link.back or '-'} {plan.link.path}"] if plan.link else []),
        ])  # fmt: skip
        pending = Pending.parse(marker, sha(marker))
    return replace(state, unit_files=units, credential_files=creds, services=services,
                   pending=pending, **changes)  # fmt: skip


def manifest_installed(state: HostState, write: tuple[str, str] | None, group: str) -> HostState:
    """``state`` once the manifest alone was installed (``(path, content)``)."""
    if write is None:
        return state
    _, content = write
    return replace(state, manifest_file=FileInfo("root", group, "640", sha(content)),
                   manifest=content.strip())  # fmt: skip


def host_wide(states: Mapping[tuple[str, str], HostState], host: str) -> dict:
    """What every app of ``host`` reads alike: its packages and journald's drop-in."""
    mine = [s for (h, _), s in states.items() if h == host]
    packages: dict[str, str] = {}
    journald = None
    for s in mine:
        packages.update(s.packages)
        journald = s.journald or journald
    return {"packages": packages, "journald": journald}
