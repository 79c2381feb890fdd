"""Python: Debian's ``python3`` with a virtualenv per release, from ``requirements.txt``."""

from __future__ import annotations

from pathlib import Path

from ssmenv.runtimes.base import Runtime


def _has_requirements(path: Path) -> bool:
    if not path.exists():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


def _python_install(source: Path) -> str:
    # One virtualenv per release: a rollback switches dependencies back with the code.
    command = "python3 -m venv .venv"
    if _has_requirements(source / "requirements.txt"):
        command += (" && .venv/bin/python -m pip install --no-input --quiet"
                    " --disable-pip-version-check -r requirements.txt")  # fmt: skip
    return command


RUNTIME = Runtime(
    name="python",
    packages=("python3", "python3-venv"),
    start="{home}/current/.venv/bin/python server.py",
    help="Debian's Python 3 with a virtualenv per release, from the source's `requirements.txt`.",
    install=_python_install,
    installed=(".venv",),
)
