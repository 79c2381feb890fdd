"""Release: the app's code in /opt/<app>/releases/<version>, switched to atomically."""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import posixpath
import shutil
import tarfile
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, deploy
from pyinfra.operations import files, server

from ssmenv.config import AppConfig
from ssmenv.rollout import LinkSwitch

# Never shipped: dependencies are installed on the host, local env files never leave the laptop.
EXCLUDE = {"node_modules", ".git", ".env", "__pycache__", ".venv"}


def _included(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(p in EXCLUDE or p.startswith(".env") for p in parts)


@cache
def build_archive(source: Path) -> tuple[str, Path]:
    """A reproducible tar.gz of ``source`` and its content hash; built once per run for all hosts.

    Entries are sorted, owned by root and dated 0, so the same source always gives the same bytes
    and the hash can name the release.
    """
    buffer = io.BytesIO()
    # gzip's header carries a date too: pin it.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for path in sorted(p for p in source.rglob("*") if _included(p, source)):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(source)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            info.mode = 0o755 if path.is_dir() or info.mode & 0o100 else 0o644
            if path.is_file():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:12]
    # Removed when the run ends: nothing of a run stays behind on the control machine.
    directory = tempfile.mkdtemp(prefix="ssmenv-release-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    out = Path(directory) / f"{digest}.tar.gz"
    out.write_bytes(data)
    return digest, out


def release_path(config: AppConfig) -> str:
    """Where this config's release lives on a host: named by ``app_version`` or the source hash."""
    version = config.version or build_archive(config.source)[0]
    return f"{config.home}/releases/{version}"


def dependency_commands(config: AppConfig, directory: str) -> list[StringCommand]:
    """Install the release's dependencies inside it, before it goes live."""
    q = QuoteString
    if config.runtime == "python":
        # One virtualenv per release: a rollback switches dependencies back with the code.
        commands = [StringCommand("python3 -m venv", q(f"{directory}/.venv"))]
        if _has_requirements(config.source / "requirements.txt"):
            commands.append(StringCommand(
                q(f"{directory}/.venv/bin/python"), "-m pip install --no-input --quiet",
                "--disable-pip-version-check -r", q(f"{directory}/requirements.txt"),
            ))  # fmt: skip
        return commands
    if (config.source / "package-lock.json").exists():
        return [StringCommand("cd", q(directory), "&& npm ci --omit=dev --no-audit --no-fund")]
    return []


def _has_requirements(path: Path) -> bool:
    if not path.exists():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


@deploy("App release")
def app_release(config: AppConfig, state: dict[str, Any]) -> LinkSwitch | None:
    """Upload the release unless the host has it and install its dependencies; plan the switch of
    ``current`` to it (``None`` when ``state`` shows it live already).

    The switch itself is left to the service step's activation, health-gated, so a release that
    does not come up healthy is switched back.
    """
    release = release_path(config)
    version = posixpath.basename(release)
    releases = posixpath.dirname(release)

    # A release directory only exists complete: it is unpacked beside and renamed into place.
    if not state["release_present"]:
        staging = f"{releases}/.{version}.tmp"
        upload = f"{releases}/.{version}.tar.gz"
        files.put(
            name=f"Upload release {version}",
            src=str(build_archive(config.source)[1]),
            dest=upload,
            mode="0600",
        )
        q = QuoteString
        commands = [
            StringCommand("rm -rf", q(staging), "&& mkdir -m 0755", q(staging)),
            StringCommand("tar -xzf", q(upload), "-C", q(staging), "--no-same-owner"),
        ]
        commands += dependency_commands(config, staging)
        commands.append(StringCommand("mv -T", q(staging), q(release), "&& rm -f", q(upload)))
        server.shell(name=f"Unpack release {version}", commands=commands)

    if state["current"] == release:
        return None
    host.log(f"release {version} (live: {state['current'] or 'none'})")
    return LinkSwitch(f"{config.home}/current", release, state["current"])
