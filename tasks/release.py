"""Release: the app's code as the push driver ships it: one archive of the source, built once per
run on the control machine, which names the release (``/opt/<app>/releases/<version>``) unless
``app_version`` does; whether a host needs it unpacked and switched to is the plan's to say
(``ssmenv.plan.release``).

The archive itself, and what it holds and leaves out, is ``ssmenv.archive``'s (publish builds
the same one for pull mode).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pyinfra import logger

from ssmenv.archive import build_archive, release_files
from ssmenv.config import AppConfig

__all__ = ["archive", "build_archive", "release_files", "release_path"]


@cache
def _say(app: str, source: Path) -> None:
    """Say once per run what the release of ``app`` leaves out, if anything."""
    note = release_files(source).note(app)
    if note:
        logger.warning(note)


def _archive(config: AppConfig) -> tuple[str, Path]:
    built = build_archive(config.source)
    _say(config.name, config.source)
    return built


def release_path(config: AppConfig) -> str:
    """Where this config's release lives on a host: named by ``app_version`` or the source hash;
    ``""`` for an app that runs an image (it has no release on the host)."""
    if config.container is not None:
        return ""
    version = config.version or _archive(config)[0]
    return f"{config.home}/releases/{version}"


def archive(config: AppConfig) -> Path:
    """The release archive of ``config``'s source (built once per run for all hosts): what the
    plan asks for when a host lacks the release (``ssmenv.plan.app.Supply``)."""
    return _archive(config)[1]
