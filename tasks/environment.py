"""Environment: the app's variables from SSM and host data, installed as /etc/<app>.env."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.api import deploy

from ssmenv import envfile, manifest, render, sources
from ssmenv.activation import FileWrite, sha256
from ssmenv.config import AppConfig
from ssmenv.envfile import EnvFileError
from ssmenv.errors import ConfigError
from ssmenv.facts import HostState
from ssmenv.operations import atomic_file
from ssmenv.variables import Variable, compose

#: Variables the toolkit gives each unit itself (``Environment=`` in the unit), not the env file.
PER_UNIT = frozenset({"PORT"})


def resolve(config: AppConfig) -> dict[str, Variable]:
    """Fetch (each source once per run, shared by all hosts) and check the app's variables:
    SSM path and names, Secrets Manager, group-data ``env`` and ``PORT``, against the contract.

    Called before any operation is added, so a missing or invalid variable stops the run during
    pyinfra's prepare phase, before any host is changed.
    """
    composition = compose(config, sources.fetch(config.sources))
    for note in composition.notes:  # e.g. variables the contract does not list: not fatal
        sources.warn_once(note)
    return composition.check(f"{config.name} ({config.sources_summary})")


def in_env_file(variables: dict[str, Variable]) -> dict[str, Variable]:
    """The variables the env file carries (and its manifest records): all but those each unit is
    given itself (``PORT``, only to the processes that listen; every process reads the file)."""
    return {name: v for name, v in variables.items() if name not in PER_UNIT}


@dataclass(frozen=True)
class EnvPlan:
    """What the env file step needs switched on a host, for the activation to carry: ``files``
    to write; ``known``, every file of the step as it would be written (owner, mode, flags), for
    an activation that must put back what an unfinished one changed."""

    files: tuple[FileWrite, ...]
    secrets: tuple[str, ...] = field(repr=False)
    # The variables whose deployed value or version differs, when the env file is rewritten.
    differences: tuple[manifest.Difference, ...] = ()
    known: tuple[FileWrite, ...] = ()


@deploy("App environment")
def app_environment(
    config: AppConfig, variables: dict[str, Variable], state: HostState
) -> EnvPlan:
    """Plan the env file (root-only, 0600) and its manifest (the app's group may read it; no
    values) from ``variables``, against the host's ``AppHostState``.

    A changed env file is not written here: it goes into the returned plan, which the service
    step activates health-gated (and rolls back). A manifest whose values are unchanged (only
    versions moved) is rewritten right away: the app does not read it.
    """
    env_file = config.env_file
    manifest_file, key_file = f"{env_file}.manifest", f"{env_file}.key"
    variables = in_env_file(variables)

    values = {name: v.value for name, v in variables.items()}
    refused = envfile.problems(values, systemd_version=state.systemd)
    if refused:
        raise ConfigError(
            f"{host.name} runs systemd {state.systemd}, which cannot carry these exactly:\n"
            + "\n".join(
                f"  {p} (from {variables[p.name].source if p.name in variables else 'all'})"
                for p in refused
            )
        )
    try:
        content = render.env_file(config.name, config.sources_summary, values)
    except EnvFileError as e:
        raise ConfigError(f"{env_file}: {e}") from None

    files: list[FileWrite] = []
    old_manifest = manifest.loads(state.manifest)
    # Values compare under the key the deployed manifest was made with; a host without one gets
    # a new key below, and versions are all there is to compare.
    key = state.key
    keyed = key is not None
    differences = tuple(manifest.compare(old_manifest, variables, key))
    key_write = FileWrite(key_file)
    if key is None:
        key = manifest.new_key()
        key_write = FileWrite(key_file, key + "\n")
        files.append(key_write)
    new_manifest = manifest.build(config.name, key, variables)
    manifest_text = manifest.dumps(new_manifest)
    env_state = state.env_file
    env_changed = env_state is None or env_state.sha256 != sha256(content) or (
        env_state.user, env_state.group, env_state.mode) != ("root", "root", "600")
    manifest_state = state.manifest_file
    env_write = FileWrite(
        env_file, content, expect=env_state and env_state.sha256, secret=True,
        # Without it, no copy of the old values stays once the new ones are healthy.
        transient=not config.env_keep_previous,
    )  # fmt: skip
    manifest_write = FileWrite(
        manifest_file, manifest_text, group=config.user, mode="0640",
        expect=manifest_state and manifest_state.sha256,
    )  # fmt: skip

    manifest_changed = manifest_state is None or manifest_state.sha256 != sha256(manifest_text)
    if env_changed:
        files += [env_write, manifest_write]
        host.log(f"{env_file}: {describe(differences, old_manifest, keyed)}")
    elif state.pending is not None:
        # An activation is unfinished: it may have to put the manifest back, so the manifest
        # changes only inside the next activation, never beside it.
        differences = ()
        if manifest_changed:
            files.append(manifest_write)
    else:
        differences = ()  # the env file stays: at most versions moved, the manifest records them
        atomic_file(
            name=f"Install manifest {manifest_file}",
            path=manifest_file,
            content=manifest_text,
            group=config.user,
            mode="0640",
            current_state=manifest_state,
        )
    return EnvPlan(
        tuple(files), tuple(values.values()), differences,
        known=(key_write, env_write, manifest_write),
    )  # fmt: skip


def describe(
    differences: tuple[manifest.Difference, ...], old: dict | None, keyed: bool = True
) -> str:
    """Which variables change, with their old and new versions, and whether a value changed
    under the same version (the words ``drift.py`` uses too); never values."""
    if old is None:
        return f"new env file ({len(differences)} variables)"
    if not any(d.differs for d in differences):
        unkeyed = "" if keyed else "; values not compared: the host has no fingerprint key"
        return f"rewritten (same variables{unkeyed})"
    return "changes " + ", ".join(map(str, differences))
