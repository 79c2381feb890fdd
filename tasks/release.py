"""Release: the app's code in /opt/<app>/releases/<version>, unpacked by the provisioning command
and switched to in the activation."""

from __future__ import annotations

import atexit
import gzip
import hashlib
import io
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pyinfra import host

from ssmenv.activation import LinkSwitch
from ssmenv.config import AppConfig
from ssmenv.facts import HostState
from ssmenv.provision import Unpack

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
    """Where this config's release lives on a host: named by ``app_version`` or the source hash;
    ``""`` for an app that runs an image (it has no release on the host)."""
    if config.container is not None:
        return ""
    version = config.version or build_archive(config.source)[0]
    return f"{config.home}/releases/{version}"


@dataclass(frozen=True)
class ReleasePlan:
    """What the release step needs done on a host: ``unpack``, for the provisioning command
    (``tasks.bootstrap``); ``switch``, the ``current`` link, for the activation (``None``: live
    already)."""

    unpack: Unpack | None = None
    switch: LinkSwitch | None = None


def app_release(config: AppConfig, state: HostState) -> ReleasePlan:
    """The release this config names: unpacked unless the host has it (its dependencies
    installed in it), then ``current`` switched to it.

    Neither happens here. The unpack travels in the host's one provisioning command (the
    bootstrap task's), the switch in the service step's activation, health-gated, so a release
    that does not come up healthy is switched back. ``state`` must have been read asking about
    this release (``read_host_state(config, release=release_path(config))``).
    """
    if config.container is not None:
        return ReleasePlan()  # the image is the release: see tasks.image
    release = release_path(config)
    version = posixpath.basename(release)
    if state.release_present is None:
        raise ValueError(f"the host state was read without asking about release {version}")
    unpack = None
    if not state.release_present:
        # Complete or not at all, under the app's lock: see ssmenv/shell/provision.sh.
        unpack = Unpack(release, build_archive(config.source)[1],
                        install=config.runtime.install(config.source))  # fmt: skip
    if state.current == release:
        return ReleasePlan(unpack)
    host.log(f"release {version} (live: {state.current or 'none'})")
    return ReleasePlan(unpack, LinkSwitch(f"{config.home}/current", release, state.current))
