"""Service: the app's units, one per process, restarted only when something they run changed,
then health-checked, all together: which unit files change, which units restart, which stop,
and the ``Activation`` that switches the host to it all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ssmenv import render
from ssmenv.activation import Activation, FileWrite, LinkSwitch, sha256
from ssmenv.config import AppConfig
from ssmenv.health import Unit
from ssmenv.hoststate import HostState
from ssmenv.plan import image
from ssmenv.plan.environment import EnvPlan
from ssmenv.plan.notes import Note

UNIT_DIR = "/etc/systemd/system"


def unit_file_of(unit: str) -> str:
    """The file a unit is loaded from: a template instance's is the template's."""
    name, at, _ = unit.partition("@")
    return f"{name}@.service" if at else unit


def unit_checks(
    config: AppConfig, units: tuple[str, ...], deployed: Mapping[str, Unit] | None = None
) -> tuple[Unit, ...]:
    """``units`` with their health checks: as ``deployed`` records them (``HostState.checks``:
    how the version the host runs was deployed, its own ports, paths and timeouts), else as
    ``config`` says: a listening process's port and path, the settings' timeout and settle
    time; a unit no process of ``config`` knows (one the host ran before) is healthy when
    active."""
    known: dict[str, Unit] = {}
    for process in config.processes:
        for unit in process.units(config.name):
            known[unit] = Unit(unit, process.port or 0, process.health_path,
                               config.health_timeout, config.health_settle)  # fmt: skip
    # Before the app had a Procfile its one unit was <app>.service: its web process.
    web = next((p for p in config.processes if p.name == "web"), None)
    if web is not None and web.port:
        known.setdefault(f"{config.name}.service", Unit(
            f"{config.name}.service", web.port, web.health_path, config.health_timeout,
            config.health_settle))  # fmt: skip
    deployed = deployed or {}
    default = (config.health_timeout, config.health_settle)
    return tuple(deployed.get(u) or known.get(u) or Unit(u, 0, "", *default) for u in units)


@dataclass(frozen=True)
class ServicePlan:
    """What the service step needs done on a host: the ``activation`` (``None``: nothing to
    restart), or the ``manifest`` alone (nothing the app reads changed, only the record), or
    nothing at all."""

    activation: Activation | None = None
    manifest: FileWrite | None = None
    notes: tuple[Note, ...] = ()


def app_service(
    config: AppConfig,
    state: HostState,
    env: EnvPlan | None = None,
    release: LinkSwitch | None = None,
    only_env: bool = False,
    notes: list[Note] | None = None,
) -> ServicePlan:
    """Activate what changed (env file, release switch, units) with one health-gated restart of
    the app's units, rolling back on failure; or just start and enable units that are down, stop
    those no process needs any more, or finish an activation a run left unfinished. ``state`` is
    the host's ``HostState``; nothing changed means an empty plan. ``only_env`` (rotation) leaves
    the units' files as they are, unless the credentials they load changed."""
    said = notes if notes is not None else []
    wanted = render.unit_files(config, env.credentials if env else None,
                               names=env.names if env else (), engine=image.engine(config, state))
    files = list(env.files if env else ())
    writes = {
        name: FileWrite(
            f"{UNIT_DIR}/{name}", content, mode="0644",
            expect=state.unit_files[name].sha256 if name in state.unit_files else None,
            # A unit stays as it was if systemd finds anything wrong with the new one.
            unit=True,
        )
        for name, content in wanted.items()
    }  # fmt: skip
    if not only_env:
        for name, write in writes.items():
            have = state.unit_files.get(name)
            if have is None or have.sha256 != sha256(write.content or ""):
                files.append(write)
        for name, have in sorted(state.unit_files.items()):
            if name not in wanted:
                files.append(FileWrite(f"{UNIT_DIR}/{name}", mode="0644", expect=have.sha256,
                                       unit=True, remove=True))  # fmt: skip
    elif env and (env.credentials_changed or env.names_changed):
        # A rotation leaves the units as they are, unless which variables they load as
        # credentials changed with the values, or which variables there are (a container's unit
        # names each one it is given): then the units the host has load the new ones.
        files += [w for name, w in writes.items() if name in state.unit_files
                  and state.unit_files[name].sha256 != sha256(w.content or "")]  # fmt: skip
    before = state.active_units
    # A rotation restarts what the host runs (its units' files are left as they are); a deploy
    # runs what the settings place here.
    units = (before or config.units) if only_env else config.units
    stop = tuple(u for u in before if u not in units)
    down = [u for u in units if not (state.running(u) and state.enabled(u))]
    pending = state.pending
    idle = not files and release is None and not down and not stop and pending is None
    if env is not None and env.manifest is not None:
        # A manifest that changes while nothing the app reads does (versions moved, how the
        # units are checked): with the activation if there is one, so a rollback puts back the
        # record of how the previous version is checked; else on its own.
        if idle:
            return ServicePlan(manifest=env.manifest)
        files.append(env.manifest)
    if idle:
        return ServicePlan()

    reasons = [name for name, why in (
        ("env file", env and any(f.path == config.env_file for f in env.files)),
        ("credentials", env and any(f.credential for f in env.files)),
        ("release", release),
        ("units", any(f.unit for f in files)),
        ("not running: " + ", ".join(down), down),
        ("stopping " + ", ".join(stop), stop),
        ("unfinished activation", pending),
    ) if why]  # fmt: skip
    note = Note(f"{config.name}: restart ({', '.join(reasons)}), then health check")
    said.append(note)

    # What runs after a rollback: what runs now (or, were it all down, the units whose files the
    # host has); a first deploy has no version to go back to: on failure, its units are stopped.
    back = before or tuple(u for u in units if unit_file_of(u) in state.unit_files)
    # Each checked as the version the host runs was deployed (its manifest records how), not as
    # the settings say now: a new port, path or timeout is the new version's alone. A rotation
    # restarts that same version (its units' files stay), so its units are checked that way too.
    deployed = state.checks
    known = {f.path: f for f in (*(env.known if env else ()), *writes.values())}
    plan = Activation.resuming(
        pending,
        files,
        release,
        state.current,
        known,
        app=config.name,
        units=unit_checks(config, units, deployed if only_env else None),
        stop=stop,
        back=unit_checks(config, back, deployed),
        previous=bool(state.unit_files) and state.env_file is not None,
        secrets=env.secrets if env else (),
    )
    return ServicePlan(activation=plan, notes=(note,))
