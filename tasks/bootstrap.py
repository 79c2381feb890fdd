"""Bootstrap: what every app host needs before a release lands."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from ssmenv.config import AppConfig


def runtime_packages(config: AppConfig) -> list[str]:
    """The Debian packages the app needs, npm included when the source has a lockfile to install."""
    packages = list(config.packages)
    if (config.source / "package-lock.json").exists() and "npm" not in packages:
        packages.append("npm")
    return packages


@deploy("Bootstrap app host")
def app_host(config: AppConfig) -> None:
    """System group and user of the app, its directories and its runtime packages."""
    apt.packages(
        name=f"Install runtime packages: {', '.join(runtime_packages(config))}",
        packages=runtime_packages(config),
        update=True,
        cache_time=24 * 3600,
    )
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
        files.directory(
            name=f"Directory {path}",
            path=path,
            user="root",
            group="root",
            mode="0755",
            present=True,
        )
