"""A model of what a host has after a run: a plan applied to the ``HostState`` it was made from, as
``provision.sh`` and ``activate.sh`` carry it out when all goes well (pure, on ``HostState``
values alone). The golden scenarios start each run from what the one before left; the plan's
tests check that a plan applied gives a state whose plan is nothing.

A credential file's digest here is not its plaintext's (the host encrypts it, differently each
time): no plan compares it with one, only with the manifest's fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ssmenv.accounts import Account
from ssmenv.activation import Activation, Pending
from ssmenv.config import AppConfig
from ssmenv.facts import AppHostState, FileInfo, HostState
from ssmenv.plan.app import AppPlan
from ssmenv.plan.state import query
from ssmenv.provision import Provision

#: The package that installs each engine.
ENGINE_PACKAGES = {"podman": "podman", "docker": "docker.io"}


def project(state: HostState, images: frozenset[str], asked: Mapping[str, Any]) -> HostState:
    """What the state read asking ``asked`` finds on a host that has ``state`` (its ``dirs``:
    every directory it has; ``images``: every image), as ``AppHostState`` reads it: the
    directories it names, the release it asks about, the image and the first engine."""
    release, home = asked["release"], asked["home"]
    named = {home, f"{home}/releases", *([release] if release else [])}
    for store in asked["credential_dirs"]:
        named |= {store, store.rsplit("/", 1)[0]}
    engines = asked.get("engines", ())
    engine = next((e for e in engines
                   if state.packages.get(ENGINE_PACKAGES[e]) == "installed"), None)  # fmt: skip
    image = asked.get("image")
    return replace(
        state,
        packages={p: s for p, s in state.packages.items()
                  if p == "systemd" or p in asked["packages"]},
        dirs={path: s for path, s in state.dirs.items() if path in named},
        release_present=(release in state.dirs) if release else None,
        engine=engine if image else None,
        image_present=(engine is not None and image in images) if image else None,
    )  # fmt: skip


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



@dataclass
class Host:
    """One host over several runs: what it has (``state``: every directory, every package it
    has; ``images``: every image it pulled), read as the state read would, plans applied."""

    state: HostState = field(default_factory=fresh)
    images: frozenset[str] = frozenset()

    def read(self, config: AppConfig, release: str = "") -> HostState:
        """What the state read of ``config`` (asking about ``release``) finds."""
        return project(self.state, self.images, asdict(query(config, release)))

    def apply(self, config: AppConfig, plan: AppPlan, healthy: bool = True) -> None:
        """``plan`` carried out (made from ``self.read(config, ...)``): packages installed, what
        it provisions made, the image pulled, its activation (seen healthy, unless not
        ``healthy``: its marker stays) or manifest in place."""
        assert plan.refusal is None, plan.refusal
        if plan.provision is not None and plan.provision.pull is not None:
            self.images |= {plan.provision.pull.image}
        state = provisioned(self.state, plan.provision, plan.packages)
        state = activated(state, plan.activation, config.env_file, healthy)
        if plan.manifest is not None:
            state = manifest_installed(state, (plan.manifest.path, plan.manifest.content or ""),
                                       config.user)  # fmt: skip
        self.state = state
