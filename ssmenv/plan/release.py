"""Release: the app's code in /opt/<app>/releases/<version>, unpacked by the provisioning command
and switched to in the activation. Which release is the driver's to say (the push driver names it
by ``app_version`` or the hash of the archive it builds); whether the host needs it unpacked and
switched to is decided here."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ssmenv.activation import LinkSwitch
from ssmenv.config import AppConfig
from ssmenv.hoststate import HostState
from ssmenv.plan.notes import Note
from ssmenv.provision import Unpack

#: How a driver hands over the release archive (a local ``.tar.gz``), only when a host lacks it.
Archive = Callable[[], Path]


@dataclass(frozen=True)
class ReleasePlan:
    """What the release step needs done on a host: ``unpack``, for the provisioning command;
    ``switch``, the ``current`` link, for the activation (``None``: live already)."""

    unpack: Unpack | None = None
    switch: LinkSwitch | None = None


def app_release(
    config: AppConfig,
    state: HostState,
    release: str,
    archive: Archive,
    notes: list[Note] | None = None,
) -> ReleasePlan:
    """``release`` (its directory) unpacked from ``archive()`` unless the host has it (its
    dependencies installed in it), then ``current`` switched to it.

    Neither happens here. The unpack travels in the host's one provisioning command, the switch
    in the activation, health-gated, so a release that does not come up healthy is switched back.
    ``state`` must have been read asking about this release (``Query.release``).
    """
    if config.container is not None:
        return ReleasePlan()  # the image is the release: see ssmenv.plan.image
    version = posixpath.basename(release)
    if state.release_present is None:
        raise ValueError(f"the host state was read without asking about release {version}")
    unpack = None
    if not state.release_present:
        # Complete or not at all, under the app's lock: see ssmenv/shell/provision.sh.
        unpack = Unpack(release, archive(), install=config.runtime.install(config.source))
    if state.current == release:
        return ReleasePlan(unpack)
    if notes is not None:
        notes.append(Note(f"release {version} (live: {state.current or 'none'})"))
    return ReleasePlan(unpack, LinkSwitch(f"{config.home}/current", release, state.current))
