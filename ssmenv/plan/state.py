"""What the state read asks a host about one app (``ssmenv.hoststate.Query``): one remote
command per host and app, read before any plan is made, so that every plan compares what the
host has with what the settings want."""

from __future__ import annotations

from ssmenv.activation import LOCK_WAIT, lock_path, pending_marker
from ssmenv.config import AppConfig
from ssmenv.credentials import ENCRYPTED, PLAIN
from ssmenv.hoststate import Query
from ssmenv.plan.host import JOURNALD_DROPIN, runtime_packages
from ssmenv.runtimes.container import ENGINES


def query(config: AppConfig, release: str = "") -> Query:
    """The state read of ``config``'s app. ``release``: the release directory to look for,
    which only a deploy asks about (``""``: none; a rotation or a drift report has no use for
    one)."""
    return Query(
        app=config.name,
        user=config.user,
        home=config.home,
        release=release,
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
