"""What a runtime is: the packages, start command and dependency install of one kind of app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Runtime:
    """One kind of app.

    + name: the ``app_runtime`` setting's value
    + packages: the Debian packages it needs at run time, unless ``app_packages`` says
    + start: the default ``ExecStart=``, run in ``/opt/<app>/current``; ``{home}`` is
      ``/opt/<app>``
    + install: the shell command that installs a release's dependencies in its directory, given
      the app's source (``None``: nothing to install); it runs as an unprivileged user systemd
      makes up for it, with the network, a private ``/tmp`` as ``HOME``, and nothing writable but
      the release (``shell/provision.sh``)
    + packages_for: more packages a given source needs (a lockfile's tool)
    + help: one sentence for the settings table (docs/settings.md)
    + image: the app ships as a container image (``app_image``) rather than a source tree: no
      release on the host, and its unit runs the container engine
    + installed: the directories ``install`` makes in a release: a command may run what is in
      them, which ``app_source`` does not have (``ssmenv.entrypoints``)
    """

    name: str
    packages: tuple[str, ...]
    start: str
    help: str
    install: Callable[[Path], str | None] = field(default=lambda source: None, repr=False)
    packages_for: Callable[[Path], tuple[str, ...]] = field(
        default=lambda source: (), repr=False
    )
    image: bool = False
    installed: tuple[str, ...] = ()

    def start_command(self, home: str) -> str:
        return self.start.format(home=home)


