"""What a host has of the app, read once per run in a single command before any plan is made.

Every plan compares this with what it wants and plans only what differs, so a redeploy with
nothing new costs one remote command per host.
"""

from __future__ import annotations

from dataclasses import asdict

from pyinfra import host

from ssmenv.config import AppConfig
from ssmenv.facts import AppHostState, quiet_fact
from ssmenv.hoststate import HostState
from ssmenv.plan.state import query


def read_host_state(config: AppConfig, release: str | None = None) -> HostState:
    """``AppHostState`` of this host (``ssmenv.plan.state.query``), read quietly (it carries the
    fingerprint key).

    ``release``: the release directory to look for (``tasks.release.release_path``), which only
    a deploy asks about: without ``app_version`` naming it means building the release archive,
    which a rotation or a drift report has no use for.
    """
    return quiet_fact(host, AppHostState, **asdict(query(config, release or "")))
