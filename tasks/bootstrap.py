"""Bootstrap: what every app host needs before a release lands."""

from __future__ import annotations

from collections.abc import Sequence

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from ssmenv import journald
from ssmenv.config import AppConfig
from ssmenv.facts import HostState
from ssmenv.operations import atomic_file

JOURNALD_DROPIN = journald.DROPIN


def runtime_packages(config: AppConfig) -> list[str]:
    """The Debian packages the app needs, with what its source needs too (a lockfile's tool)."""
    extra = config.runtime.packages_for(config.source)
    return list(dict.fromkeys((*config.packages, *extra)))


@deploy("Bootstrap app host")
def app_host(config: AppConfig, state: HostState, others: Sequence[AppConfig] = ()) -> None:
    """Runtime packages, the app's system group and user, its directories and journald's
    retention; only what ``state`` (``AppHostState``) shows missing or different.

    ``others``: the apps bootstrapped before this one on the host in this run. The packages they
    install are theirs to install, and journald's drop-in, one per host, is the first app's to
    write (every app of a host has the host's journald settings), so nothing is done twice.
    """
    packages = runtime_packages(config)
    theirs = {p for other in others for p in runtime_packages(other)}
    missing = [p for p in packages if state.packages.get(p) != "installed" and p not in theirs]
    if missing:
        apt.packages(
            name=f"Install runtime packages: {', '.join(missing)}",
            packages=missing,
            update=True,
            cache_time=24 * 3600,
        )
    if state.group is None or state.user is None:
        server.group(name=f"Group {config.user}", group=config.user, system=True)
        server.user(  # noqa: S604 -- `shell` is the login shell, not a subprocess
            name=f"System user {config.user}",
            user=config.user,
            group=config.user,
            system=True,
            shell="/usr/sbin/nologin",
            # The app owns no home: its code is root-owned and it writes nothing.
            home="/nonexistent",
            ensure_home=False,
            create_home=False,
        )
    # Code is root-owned: the app runs as its own user and cannot rewrite itself.
    for path in (config.home, f"{config.home}/releases"):
        if state.dirs.get(path) != "root root 755 directory":
            files.directory(
                name=f"Directory {path}",
                path=path,
                user="root",
                group="root",
                mode="0755",
                present=True,
            )
    if others:
        return
    retention = atomic_file(
        name=f"Journald retention {JOURNALD_DROPIN}",
        path=JOURNALD_DROPIN,
        content=journald.dropin(config.journald_max_use, config.journald_max_retention),
        mode="0644",
        current_state=state.journald,
    )
    if retention.will_change:
        server.shell(
            name="Restart journald (retention changed)",
            # A journald restart has been seen to fail once in a container (cgroup I/O error):
            # try again once; failing that, the retention applies from the next boot, and the
            # app's deploy goes on: its logs are not its health.
            commands=[
                "systemctl restart systemd-journald || { sleep 2; "
                "systemctl reset-failed systemd-journald; systemctl restart systemd-journald; }"
            ],
            _if=retention.did_change,
            _ignore_errors=True,
        )
