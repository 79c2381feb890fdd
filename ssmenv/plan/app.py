"""One app on one host: everything its host needs to switch to what the settings say, from the
settings (``AppConfig``), the fetched variables and what the host has (``HostState``), in the
order a driver carries it out: the runtime packages, the provisioning command (user,
directories, journald, the release or the image), then the activation (env file, credentials,
manifest, units, release link; health-gated, rolled back on failure), or the manifest alone.

Nothing here talks to a host, to AWS or to pyinfra, nor reads global state: what a plan needs
from outside only when it needs it (the release archive, an ECR login, a new fingerprint key) its
driver supplies (``Supply``), and what it has to say is data (``AppPlan.notes``), as is a host it
refuses (``AppPlan.refusal``). The app's source is read as its settings read it (``AppConfig``:
its Procfile; here, which lockfile or requirements its runtime installs from).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ssmenv import manifest
from ssmenv.activation import Activation, FileWrite
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError, SsmEnvError
from ssmenv.hoststate import HostState
from ssmenv.plan import environment, image, service
from ssmenv.plan import host as hosts
from ssmenv.plan import release as releases
from ssmenv.plan.environment import EnvPlan
from ssmenv.plan.image import EcrLogin
from ssmenv.plan.notes import Note
from ssmenv.plan.release import Archive
from ssmenv.provision import Provision
from ssmenv.variables import Variable


def _no_archive() -> Path:
    raise ConfigError("the host lacks the release and no archive of it was supplied")


@dataclass(frozen=True)
class Supply:
    """What a plan asks its driver for, and only when it needs it: the release ``archive`` (a
    host lacks the release), Amazon ECR's login for a region (a host must pull an image from
    ECR), a new fingerprint key (a host has none; default ``ssmenv.manifest.new_key``)."""

    archive: Archive = _no_archive
    ecr_login: EcrLogin | None = None
    new_key: Callable[[], str] | None = None


@dataclass(frozen=True)
class AppPlan:
    """What one app's host needs, in the order it is done: ``packages`` installed, then
    ``provision`` made (one command), then ``activation`` (one command, rolling with the other
    hosts), or else the ``manifest`` alone; each ``None`` or empty when the host needs none.
    ``notes``: what to print, in order; ``refusal``: why the host must not be touched (nothing
    else is planned; the notes are what was said before it); ``env``: the environment step's
    plan (which variables differ, for a report)."""

    app: str
    packages: tuple[str, ...] = ()
    provision: Provision | None = None
    activation: Activation | None = None
    manifest: FileWrite | None = None
    notes: tuple[Note, ...] = ()
    refusal: SsmEnvError | None = field(default=None, compare=False)
    env: EnvPlan | None = field(default=None, compare=False, repr=False)

    @property
    def empty(self) -> bool:
        """Nothing to do on the host (a refused host has nothing planned either)."""
        return not (self.packages or self.provision or self.activation or self.manifest)

    @property
    def differs(self) -> bool:
        """Some value the app reads changes (what a rotation's report says)."""
        return bool(self.env and self.env.files)

    @property
    def differing(self) -> list[str]:
        """The variables whose values differ from what the host has (names only)."""
        return manifest.differing(self.env.differences) if self.env else []


def deploy(
    config: AppConfig,
    variables: dict[str, Variable],
    state: HostState,
    *,
    host: str,
    release: str = "",
    others: Sequence[AppConfig] = (),
    supply: Supply = Supply(),
) -> AppPlan:
    """What ``host`` (its name, for messages), whose app has ``state``, needs to run ``config``
    with ``variables``: ``release`` (its directory on the host, ``""`` for an app that runs an
    image) unpacked and switched to, the image pulled, what the host lacks provisioned, the
    environment and units switched. ``others``: the apps planned before this one on the same
    host in this run (their packages and journald's drop-in are theirs)."""
    notes: list[Note] = []
    try:
        new_release = releases.app_release(config, state, release, supply.archive, notes)
        pull = image.app_image(config, state, variables, supply.ecr_login, notes)
        needs = hosts.app_host(config, state, others, new_release.unpack, pull, host=host,
                               notes=notes)  # fmt: skip
        # The manifest records how each unit of this version is checked: a later rollback to it
        # checks it so.
        checks = service.unit_checks(config, config.units)
        env = environment.app_environment(config, variables, state, checks, host=host,
                                          notes=notes, new_key=supply.new_key)  # fmt: skip
        switch = service.app_service(config, state, env=env, release=new_release.switch,
                                     notes=notes)  # fmt: skip
    except SsmEnvError as e:
        return AppPlan(config.name, notes=tuple(notes), refusal=e)
    return AppPlan(config.name, needs.packages, needs.provision or None, switch.activation,
                   switch.manifest, tuple(notes), env=env)  # fmt: skip


def rotate(
    config: AppConfig,
    variables: dict[str, Variable],
    state: HostState,
    *,
    host: str,
    supply: Supply = Supply(),
) -> AppPlan:
    """What ``host`` needs when only the environment is refreshed: the env file, credentials and
    manifest switched and the units the host runs restarted, only if a value changed (or an
    activation a run left unfinished must be finished); nothing else (packages, release, units'
    files, unless which variables they load changed) is touched."""
    notes: list[Note] = []
    try:
        env = environment.app_environment(config, variables, state, host=host, notes=notes,
                                          new_key=supply.new_key)  # fmt: skip
        if env.files or state.pending:
            # A changed value, or an activation a run left unfinished: finish it or roll it back.
            switch = service.app_service(config, state, env=env, only_env=True, notes=notes)
        else:
            notes.append(Note(f"{config.env_file}: no value changed"))
            switch = service.ServicePlan(manifest=env.manifest)  # if only versions moved
    except SsmEnvError as e:
        return AppPlan(config.name, notes=tuple(notes), refusal=e)
    return AppPlan(config.name, activation=switch.activation, manifest=switch.manifest,
                   notes=tuple(notes), env=env)  # fmt: skip
