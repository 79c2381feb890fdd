"""Environment: the app's variables fetched and checked (once per run for all hosts), and the
manifest installed on its own when nothing else changes (``ssmenv.plan.environment`` decides)."""

from __future__ import annotations

from pyinfra.api import deploy

from ssmenv import sources
from ssmenv.activation import FileWrite
from ssmenv.config import AppConfig
from ssmenv.hoststate import FileInfo
from ssmenv.operations import atomic_file
from ssmenv.plan.image import registry_password
from ssmenv.variables import Variable, compose


def resolve(config: AppConfig) -> dict[str, Variable]:
    """Fetch (each source once per run, shared by all hosts) and check the app's variables:
    SSM path and names, Secrets Manager, group-data ``env`` and ``PORT``, against the contract.

    Called before any operation is added, so a missing or invalid variable stops the run during
    pyinfra's prepare phase, before any host is changed.
    """
    composition = compose(config, sources.fetch(config.sources))
    for note in composition.notes:  # e.g. variables the contract does not list: not fatal
        sources.warn_once(note)
    variables = composition.check(f"{config.name} ({config.sources_summary})")
    registry_password(config, variables)  # a registry password no source has stops the run now
    return variables


def install_manifest(config: AppConfig, write: FileWrite | None, current: FileInfo | None) -> None:
    """The manifest on its own (``AppPlan.manifest``), when no activation carries it."""
    if write is not None and write.content is not None:
        _install_manifest(write.path, write.content, config.user, current)


# The only operation of this step, so pyinfra's @deploy (a millisecond a host of bookkeeping) is
# entered only when there is one.
@deploy("App environment")
def _install_manifest(path: str, content: str, group: str, current: FileInfo | None) -> None:
    atomic_file(
        name=f"Install manifest {path}",
        path=path,
        content=content,
        group=group,
        mode="0640",
        current_state=current,
    )
