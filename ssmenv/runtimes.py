"""Runtimes: what a kind of app needs on a host, one object each (``node``, ``python``).

A runtime says which Debian packages the app needs, the command systemd runs by default, and how
a release's dependencies are installed in its directory before it goes live. Adding one (say a
container image, or Ruby) is one more ``Runtime`` in ``RUNTIMES``; nothing else compares names.
"""

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
      the app's source (``None``: nothing to install)
    + packages_for: more packages a given source needs (a lockfile's tool)
    + help: one sentence for the README
    """

    name: str
    packages: tuple[str, ...]
    start: str
    help: str
    install: Callable[[Path], str | None] = field(default=lambda source: None, repr=False)
    packages_for: Callable[[Path], tuple[str, ...]] = field(
        default=lambda source: (), repr=False
    )

    def start_command(self, home: str) -> str:
        return self.start.format(home=home)


def _npm_lockfile(source: Path) -> bool:
    return (source / "package-lock.json").exists()


def _has_requirements(path: Path) -> bool:
    if not path.exists():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


def _npm_install(source: Path) -> str | None:
    return "npm ci --omit=dev --no-audit --no-fund" if _npm_lockfile(source) else None


def _python_install(source: Path) -> str:
    # One virtualenv per release: a rollback switches dependencies back with the code.
    command = "python3 -m venv .venv"
    if _has_requirements(source / "requirements.txt"):
        command += (" && .venv/bin/python -m pip install --no-input --quiet"
                    " --disable-pip-version-check -r requirements.txt")  # fmt: skip
    return command


NODE = Runtime(
    name="node",
    packages=("nodejs",),
    start="/usr/bin/node server.js",
    help="Debian's Node.js; `npm ci --omit=dev` where the source has a `package-lock.json` "
    "(which adds `npm` to the packages).",
    install=_npm_install,
    packages_for=lambda source: ("npm",) if _npm_lockfile(source) else (),
)
PYTHON = Runtime(
    name="python",
    packages=("python3", "python3-venv"),
    start="{home}/current/.venv/bin/python server.py",
    help="Debian's Python 3 with a virtualenv per release, from the source's `requirements.txt`.",
    install=_python_install,
)

#: Every runtime, by name.
RUNTIMES: dict[str, Runtime] = {r.name: r for r in (NODE, PYTHON)}
