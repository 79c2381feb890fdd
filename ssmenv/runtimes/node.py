"""Node.js: Debian's ``nodejs``; ``npm ci --omit=dev`` where the source has a lockfile."""

from __future__ import annotations

from pathlib import Path

from ssmenv.runtimes.base import Runtime


def _npm_lockfile(source: Path) -> bool:
    return (source / "package-lock.json").exists()


def _npm_install(source: Path) -> str | None:
    return "npm ci --omit=dev --no-audit --no-fund" if _npm_lockfile(source) else None


RUNTIME = Runtime(
    name="node",
    packages=("nodejs",),
    start="/usr/bin/node server.js",
    help="Debian's Node.js; `npm ci --omit=dev` where the source has a `package-lock.json` "
    "(which adds `npm` to the packages, without its Recommends: no compiler on the host; "
    "dependencies that build native code need `build-essential` and `python3` in "
    "`app_packages`).",
    install=_npm_install,
    packages_for=lambda source: ("npm",) if _npm_lockfile(source) else (),
    installed=("node_modules",),
)
