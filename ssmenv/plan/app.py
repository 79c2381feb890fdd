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
from ssmenv.activation import Activation, FileWrite, sha256
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError, SsmEnvError
from ssmenv.hoststate import HostState
from ssmenv.plan import environment, image, pull, service
from ssmenv.plan import host as hosts
from ssmenv.plan import release as releases
from ssmenv.plan.environment import EnvPlan
from ssmenv.plan.image import EcrLogin
from ssmenv.plan.notes import Note
from ssmenv.plan.pull import Bundle, Handover
from ssmenv.plan.release import Archive
from ssmenv.provision import Provision, Unpack
from ssmenv.variables import Variable


def _no_archive() -> Path:
    raise ConfigError("the host lacks the release and no archive of it was supplied")


def _no_bundle() -> Bundle:
    raise ConfigError("the app is handed to the host's agent and no agent was supplied")


def _no_description() -> str:
    raise ConfigError("the app is handed to the host's agent and no description was supplied")


@dataclass(frozen=True)
class Supply:
    """What a plan asks its driver for, and only when it needs it: the release ``archive`` (a
    host lacks the release), Amazon ECR's login for a region (a host must pull an image from
    ECR), a new fingerprint key (a host has none; default ``ssmenv.manifest.new_key``); for an
    app a push deploy hands to the host's agent, the agent's ``bundle`` and the app's
    ``description`` (``ssmenv.description``)."""

    archive: Archive = _no_archive
    ecr_login: EcrLogin | None = None
    new_key: Callable[[], str] | None = None
    bundle: Callable[[], Bundle] = _no_bundle
    description: Callable[[], str] = _no_description


@dataclass(frozen=True)
class AppPlan:
    """What one app's host needs, in the order it is done: ``packages`` installed (``bare``:
    those of them without their Recommends), then ``provision`` made (one command), then
    ``activation`` (one command, rolling with the other hosts), or else the ``manifest`` alone;
    each ``None`` or empty when the host needs none. ``notes``: what to print, in order;
    ``refusal``: why the host must not be touched (nothing else is planned; the notes are what
    was said before it); ``env``: the environment step's plan (which variables differ, for a
    report)."""

    app: str
    packages: tuple[str, ...] = ()
    provision: Provision | None = None
    activation: Activation | None = None
    manifest: FileWrite | None = None
    notes: tuple[Note, ...] = ()
    refusal: SsmEnvError | None = field(default=None, compare=False)
    env: EnvPlan | None = field(default=None, compare=False, repr=False)
    #: The app handed to the host's agent instead of an activation (a push deploy, pull mode).
    handover: Handover | None = None
    bare: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to do on the host (a refused host has nothing planned either)."""
        return not (self.packages or self.provision or self.activation or self.manifest
                    or self.handover)  # fmt: skip

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
    by_agent: bool = False,
) -> AppPlan:
    """What ``host`` (its name, for messages), whose app has ``state``, needs to run ``config``
    with ``variables``: ``release`` (its directory on the host, ``""`` for an app that runs an
    image) unpacked and switched to, the image pulled, what the host lacks provisioned, the
    environment and units switched. ``others``: the apps planned before this one on the same
    host in this run (their packages and journald's drop-in are theirs).

    In pull mode the host's agent switches the app (``by_agent``: this plan is the agent's, made
    on the host); a push deploy's plan provisions what the host lacks (the agent's bundle too)
    and hands the app to the agent (``AppPlan.handover``) when anything would change, instead of
    activating it. A push of an app the host pulls, in push mode, takes it back from the agent
    (``ssmenv.plan.pull``)."""
    notes: list[Note] = []
    handing = config.pull.pulled and not by_agent
    try:
        new_release = releases.app_release(config, state, release, supply.archive, notes)
        pulled_image = image.app_image(config, state, variables, supply.ecr_login, notes)
        bundle = supply.bundle() if handing else None
        agent = None
        if bundle is not None and not state.agent_present:
            agent = Unpack(pull.bundle_dir(bundle.version), bundle.archive)
        needs = hosts.app_host(config, state, others, new_release.unpack, pulled_image,
                               host=host, notes=notes, agent=agent)  # fmt: skip
        # The manifest records how each unit of this version is checked: a later rollback to it
        # checks it so.
        checks = service.unit_checks(config, config.units)
        env = environment.app_environment(config, variables, state, checks, host=host,
                                          notes=notes, new_key=supply.new_key)  # fmt: skip
        said = len(notes)
        leave = ((), ()) if config.pull.pulled else pull.leaving(config, state)
        switch = service.app_service(config, state, env=env, release=new_release.switch,
                                     notes=notes, leave=leave)  # fmt: skip
        if bundle is not None:
            del notes[said:]  # the agent's sync restarts what it must, and says so itself
            handover = _handover(config, state, supply.description(), bundle, env, switch)
            if handover is not None:
                notes.append(Note(f"{config.name}: hand over to the host's agent "
                                  f"({', '.join(handover.reasons)}), which syncs it"))
            return AppPlan(config.name, needs.packages, needs.provision or None, notes=tuple(notes),
                           env=env, handover=handover, bare=needs.bare)  # fmt: skip
    except SsmEnvError as e:
        return AppPlan(config.name, notes=tuple(notes), refusal=e)
    return AppPlan(config.name, needs.packages, needs.provision or None, switch.activation,
                   switch.manifest, tuple(notes), env=env, bare=needs.bare)  # fmt: skip


def _handover(config: AppConfig, state: HostState, description: str, bundle: Bundle,
              env: EnvPlan, switch: service.ServicePlan) -> Handover | None:  # fmt: skip
    """The app handed to the host's agent, if anything is to change (the plan was made as the
    agent makes it: ``switch``)."""
    changes = switch.activation is not None or switch.manifest is not None
    reasons = pull.handover_reasons(config, state, sha256(description), changes)
    if not reasons:
        return None
    return Handover(config.name, bundle.version, description, reasons, env.secrets)


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
        if state.pulled:
            # Its agent switches it; a push would race it for the same restart.
            notes.append(Note(f"{config.name}: pulled by the host's agent, which rotates it (its "
                              f"timer, or ssmenv-agent sync {config.name} there); not from here"))
            return AppPlan(config.name, notes=tuple(notes), env=env)
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
