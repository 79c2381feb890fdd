"""Pull mode: where the host's agent (``ssmenv.agent``) keeps what it needs of an app, and what a
push deploy does about an app that a host pulls, or pulled.

A host pulls an app when its agent has a configuration for it (``config_file``: where the app's
description is, a file a deploy wrote or an SSM parameter). The agent then switches the app itself
with this same plan (``app.deploy(..., by_agent=True)``): at boot (``boot_unit``), on its timer
(``timer``) and on command (``ssmenv-agent sync APP``). The app's units are not enabled: nothing
starts them at boot but the agent, once it has put the configuration in place (or its last known
good copy, ``last_good``, up to its age), so an app never starts on a configuration its agent would
not start it on.

A push deploy of an app in pull mode (``delivery = "pull"``) does not activate it: it provisions
what the host lacks (the release, the agent's bundle, ``Bundle``), then hands the app to the agent
(``Handover``: the agent's ``take``, the description on stdin), which syncs, and only when
something would change. A push deploy of an app the host pulls, in push mode, takes it back in its
activation (``leaving``): the agent's units stopped, its files for the app removed, the app's units
enabled again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ssmenv.activation import FileWrite
from ssmenv.config import AppConfig
from ssmenv.hoststate import HostState

#: The agent's bundles, one directory per version (root's, read-only for others).
AGENT_HOME = "/opt/ssmenv-agent"
#: The agent's configuration and the descriptions a deploy gave it (root's alone). The
#: dependencies' install never sees it (``shell/provision.sh`` hides ``/etc/ssmenv``).
CONFIG_DIR = "/etc/ssmenv/agent"
#: The agent's state: the last description that synced, the last known good copies (root's).
STATE_DIR = "/var/lib/ssmenv/agent"


def config_file(app: str) -> str:
    """The agent's configuration for ``app``: the host pulls it while it is there."""
    return f"{CONFIG_DIR}/{app}.json"


def description_file(app: str) -> str:
    """The description a deploy gave the agent (``0600``, root's)."""
    return f"{CONFIG_DIR}/{app}.description.json"


def last_good(app: str) -> str:
    """The last configuration of ``app`` that synced healthy, encrypted with the host's
    credential key; its modification time is when AWS last confirmed it."""
    return f"{STATE_DIR}/{app}.last-good"


def boot_unit(app: str) -> str:
    """Syncs ``app`` at boot and starts it (or not: see the module's docstring)."""
    return f"ssmenv-pull-{app}.service"


def sync_unit(app: str) -> str:
    """One sync of ``app``, which ``timer`` starts."""
    return f"ssmenv-sync-{app}.service"


def timer(app: str) -> str:
    return f"ssmenv-sync-{app}.timer"


def bundle_dir(version: str) -> str:
    return f"{AGENT_HOME}/{version}"


def launcher(version: str) -> str:
    """The agent's command in bundle ``version``."""
    return f"{bundle_dir(version)}/bin/ssmenv-agent"


def pull_files(app: str) -> tuple[str, str, str]:
    """What the state read asks about the host's agent for ``app`` (``Query.pull_files``)."""
    return config_file(app), description_file(app), last_good(app)


@dataclass(frozen=True)
class Bundle:
    """The agent as a deploy ships it: ``version`` (its directory under ``AGENT_HOME``) and
    ``archive``, a local ``.tar.gz`` (``ssmenv.bundle``)."""

    version: str
    archive: Path


@dataclass(frozen=True)
class Handover:
    """An app handed to the host's agent: ``command`` (its ``take``, with ``description`` on
    stdin) writes the description and the agent's configuration, installs its units and syncs;
    ``secrets``, the app's values, mask what the host says back; ``reasons``, why."""

    app: str
    version: str
    description: str
    reasons: tuple[str, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def command(self) -> list[str]:
        return [launcher(self.version), "take", self.app]


def handover_reasons(config: AppConfig, state: HostState, description_sha256: str,
                     changes: bool) -> tuple[str, ...]:  # fmt: skip
    """Why ``config``'s host must hand its app to the agent now (none: nothing to do): it does not
    pull it yet, its description changed, the agent's bundle is new, or the agent's sync would
    change something (``changes``: the plan made as the agent makes it)."""
    return tuple(why for why, needed in (
        ("not pulled yet", not state.pulled),
        ("description", state.pulled and (state.pull_description is None
                                          or state.pull_description.sha256 != description_sha256)),
        ("agent", state.agent_present is False),
        ("configuration", changes),
    ) if needed)  # fmt: skip


def leaving(config: AppConfig, state: HostState) -> tuple[tuple[str, ...], tuple[FileWrite, ...]]:
    """What taking ``config``'s app back from the host's agent stops and removes: the agent's
    timer and boot unit for it, its configuration, the description a deploy gave it and its last
    known good copy (so no copy of the values stays there); nothing when the host does not pull
    it."""
    if not state.pulled:
        return (), ()
    files = [(config_file(config.name), state.pull_config),
             (description_file(config.name), state.pull_description),
             (last_good(config.name), state.last_good)]  # fmt: skip
    removed = tuple(FileWrite(path, expect=have.sha256, remove=True, transient=True)
                    for path, have in files if have is not None)  # fmt: skip
    return (timer(config.name), boot_unit(config.name)), removed
