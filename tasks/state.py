"""What a host has of the app, read once per run in a single command before any task decides.

Every task compares this with what it wants and adds operations only for what differs, so a
redeploy with nothing new costs one remote command per host.
"""

from __future__ import annotations

from pyinfra import host

from ssmenv.activation import LOCK_WAIT, lock_path, pending_marker
from ssmenv.config import AppConfig
from ssmenv.credentials import ENCRYPTED, PLAIN
from ssmenv.facts import AppHostState, HostState, quiet_fact
from ssmenv.runtimes.container import ENGINES
from tasks.bootstrap import JOURNALD_DROPIN, runtime_packages


def read_host_state(config: AppConfig, release: str | None = None) -> HostState:
    """``AppHostState`` of this host, read quietly (it carries the fingerprint key).

    ``release``: the release directory to look for (``tasks.release.release_path``), which only
    a deploy asks about: without ``app_version`` naming it means building the release archive,
    which a rotation or a drift report has no use for.
    """
    return quiet_fact(
        host,
        AppHostState,
        app=config.name,
        user=config.user,
        home=config.home,
        release=release or "",
        env_file=config.env_file,
        journald=JOURNALD_DROPIN,
        pending=pending_marker(config.name),
        lock=lock_path(config.name),
        lock_wait=LOCK_WAIT,
        packages=runtime_packages(config),
        units=list(config.units),
        credential_dirs=(ENCRYPTED.directory(config.name), PLAIN.directory(config.name)),
        **image_query(config),
    )


def image_query(config: AppConfig) -> dict:
    """What the state read asks about an app's image: which engines (the one the settings name,
    or either), and the image by digest; nothing for an app with a source tree."""
    if config.container is None:
        return {}
    engine = config.container.engine
    engines = (engine,) if engine else tuple(ENGINES)
    return {"engines": engines, "image": config.container.image.reference}
