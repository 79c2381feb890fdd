"""Pull mode, pushed: an app in pull mode (``delivery = "pull"``) handed to the host's agent
(``ssmenv.plan.pull``), which switches it itself. The agent's bundle (built once per run for all
hosts: ``ssmenv.bundle``) and the app's description (``ssmenv.description``: its settings, its
release by name and sha256) are what the plan asks the driver for; the handover itself is one
command per host (the agent's ``take``, the description on stdin), rolling with the other hosts
as activations do, its outcome the agent's sync."""

from __future__ import annotations

import hashlib
import posixpath
from functools import cache

from pyinfra import host
from pyinfra.api import deploy

from ssmenv import bundle
from ssmenv.config import AppConfig
from ssmenv.description import Blob, Release, describe
from ssmenv.operations import handover
from ssmenv.plan import pull
from ssmenv.plan.pull import Handover
from ssmenv.rollout import Rollout
from tasks import release


@cache
def _built(platforms: tuple[str, ...]) -> bundle.Built:
    return bundle.build(platforms)


def agent(config: AppConfig) -> pull.Bundle:
    """The agent's bundle for ``config``'s platforms (built once per run)."""
    return _built(config.pull.platforms).bundle


def bundle_dir(config: AppConfig) -> str:
    """Where the host has the agent: what the state read asks about in pull mode."""
    return pull.bundle_dir(agent(config).version)


def description(config: AppConfig, release_path: str) -> str:
    """``config``'s description as a deploy gives it to the agent: its release by name and
    sha256 (the archive the deploy ships; the object in the release bucket, when there is one,
    for a host that lacks it later)."""
    named = None
    if config.container is None:
        sha = hashlib.sha256(release.archive(config).read_bytes()).hexdigest()
        where = config.publication
        key = where.release_key(f"{sha}.tar.gz") if where and where.bucket else None
        named = Release(posixpath.basename(release_path), Blob(sha, key))
    # Ending in a newline, as it arrives: pyinfra adds one to a stdin that has none.
    return describe(config, named).text() + "\n"


@deploy("Hand over to the agent")
def hand_over(config: AppConfig, plan: Handover) -> None:
    """The app handed to the host's agent when its turn comes (``config.rollout``'s pace)."""
    Rollout.enlist(host.state, host, config.name, plan)
    handover(
        name=f"Hand {config.name} over to the host's agent (rolling, health-gated)",
        plan=plan,
        pace=config.rollout,
    )
