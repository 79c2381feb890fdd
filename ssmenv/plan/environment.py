"""Environment: the app's variables installed as /etc/<app>.env and, for those host data names in
``credentials``, as systemd credentials; with the manifest that records them (and how each unit
of the deployed version is checked). Decided here, carried out by the activation."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from ssmenv import credentials, envfile, manifest, render
from ssmenv.activation import FileWrite, sha256
from ssmenv.config import AppConfig
from ssmenv.credentials import Delivered
from ssmenv.envfile import EnvFileError
from ssmenv.errors import ConfigError
from ssmenv.health import Unit
from ssmenv.hoststate import HostState
from ssmenv.plan.notes import Note
from ssmenv.variables import Variable

#: Variables the toolkit gives each unit itself (``Environment=`` in the unit), not the env file.
PER_UNIT = frozenset({"PORT"})


def in_manifest(variables: dict[str, Variable], config: AppConfig | None = None) -> dict[
        str, Variable]:  # fmt: skip
    """The variables the manifest records (env-file lines and credentials): all but those each
    unit is given itself (``PORT``, only to the processes that listen) and the registry's
    password of ``config``'s image, which only the pull gets."""
    container = config.container if config is not None else None
    skip = PER_UNIT | ({container.password} if container and container.password else set())
    return {name: v for name, v in variables.items() if name not in skip}


@dataclass(frozen=True)
class EnvPlan:
    """What the environment step needs switched on a host, for the activation to carry:
    ``files`` to write (env file, manifest, credentials); ``known``, every file of the step as it
    would be written (owner, mode, flags), for an activation that must put back what an
    unfinished one changed; ``credentials``, what the units must load; ``manifest``, the
    manifest when it alone changes (nothing the app reads does), which goes with the activation
    if there is one and is installed on its own otherwise."""

    files: tuple[FileWrite, ...]
    secrets: tuple[str, ...] = field(repr=False)
    # The variables whose deployed value or version differs, when anything is rewritten.
    differences: tuple[manifest.Difference, ...] = ()
    known: tuple[FileWrite, ...] = ()
    credentials: Delivered | None = None
    # Which variables are credentials (or how the host gets them) is not what the host has: the
    # units change with them, in a rotation too.
    credentials_changed: bool = False
    #: The env file's variable names, which a container is given by name (its unit names them).
    names: tuple[str, ...] = ()
    #: Which variables there are is not what the host's manifest records.
    names_changed: bool = False
    manifest: FileWrite | None = None
    notes: tuple[Note, ...] = ()


def delivered(
    config: AppConfig, variables: dict[str, Variable], state: HostState, where: str
) -> Delivered:
    """The app's credentials on host ``where`` (``credentials`` in host data), or
    ``ConfigError`` naming every problem: a name that is no variable, a value systemd cannot
    carry, a host whose systemd has no credentials. On systemd 247-249, unencrypted
    (``unencrypted`` says so)."""
    names = credentials.select(config.credentials, variables)
    problems = [f"credentials: {name} is not a variable of the app" + (
        " (PORT is given to each listening unit itself)" if name in PER_UNIT else "")
        for name in config.credentials.unmatched(variables)]  # fmt: skip
    how = credentials.delivery(state.systemd)
    problems += credentials.problems(names, variables, encrypted=how is None or how.encrypted)
    if problems:
        raise ConfigError(f"{config.name}: credentials systemd cannot carry:\n"
                          + "\n".join(f"  {p}" for p in problems))  # fmt: skip
    if not names:
        return Delivered(config.name)
    if how is None:
        raise ConfigError(
            f"{where} runs systemd {state.systemd or '(unknown version)'}, which has no "
            f"credentials (systemd {credentials.PLAIN_SINCE} or later): {', '.join(names)} "
            "cannot be delivered as files; leave credentials unset for it"
        )
    return Delivered(config.name, names, how)


def unencrypted(creds: Delivered, state: HostState, where: str) -> Note | None:
    """The warning for credentials host ``where`` keeps unencrypted (systemd 247-249)."""
    if not creds or creds.delivery.encrypted:
        return None
    return Note(
        f"{where} runs systemd {state.systemd}: its credentials are root-only files "
        f"under {creds.delivery.directory(creds.app)}, not encrypted at rest (systemd "
        f"{credentials.ENCRYPTED_SINCE} encrypts them)",
        warning=True,
    )


def app_environment(
    config: AppConfig,
    variables: dict[str, Variable],
    state: HostState,
    checks: Collection[Unit] | None = None,
    *,
    host: str,
    notes: list[Note] | None = None,
    new_key: Callable[[], str] | None = None,
) -> EnvPlan:
    """Plan the env file (root-only, 0600), the credentials (``credentials`` in host data:
    root-only files, encrypted on the host) and the manifest (the app's group may read it; no
    values) from ``variables``, against ``state``, the ``HostState`` of ``host``. The manifest
    records ``checks``, how each unit of the version deployed is health-checked; ``None`` (a
    rotation, which restarts the version the host runs) keeps what the host's manifest records.

    A changed env file or credential goes into the returned plan's files, which the service
    step activates health-gated (and rolls back); a manifest that alone changes (only versions
    moved, or the checks) is ``manifest``: the app does not read it, so it needs no restart, but
    it goes with an activation when there is one. What it says is in ``notes`` (appended to
    ``notes``, if given, as it is said: what was said before a refusal stays said). A host
    without a fingerprint key gets one from ``new_key`` (default: ``manifest.new_key``).
    """
    said = notes if notes is not None else []
    start = len(said)
    env_file = config.env_file
    manifest_file, key_file = f"{env_file}.manifest", f"{env_file}.key"
    variables = in_manifest(variables, config)
    creds = delivered(config, variables, state, host)
    warning = unencrypted(creds, state, host)
    if warning:
        said.append(warning)

    values = {name: v.value for name, v in variables.items() if name not in creds.names}
    refused = envfile.problems(values, systemd_version=state.systemd)
    if refused:
        raise ConfigError(
            f"{host} runs systemd {state.systemd}, which cannot carry these exactly:\n"
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
        key = (new_key or manifest.new_key)()
        key_write = FileWrite(key_file, key + "\n")
        files.append(key_write)
    if checks is None and (deployed_checks := state.checks) is not None:
        checks = tuple(deployed_checks.values())
    new_manifest = manifest.build(config.name, key, variables, creds.names, checks)
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
    deployed = manifest.credentials(old_manifest)
    credential_files = credential_writes(config, creds, variables, state, deployed)

    manifest_changed = manifest_state is None or manifest_state.sha256 != sha256(manifest_text)
    alone = None
    if env_changed or credential_files.changes:
        files += [env_write] if env_changed else []
        files += [*credential_files.changes, manifest_write]
        said.append(Note(f"{env_file}: {describe(differences, old_manifest, keyed)}"))
    elif state.pending is not None:
        # An activation is unfinished: it may have to put the manifest back, so the manifest
        # changes only inside the next activation, never beside it.
        differences = ()
        if manifest_changed:
            files.append(manifest_write)
    elif manifest_changed or (manifest_state.user, manifest_state.group, manifest_state.mode) != (
        "root", config.user, "640"
    ):  # fmt: skip
        differences = ()  # nothing the app reads changes: versions moved, or the checks
        alone = manifest_write
    else:
        # Nothing changes: no operation at all (pyinfra's bookkeeping of one costs a no-op run
        # about a tenth of a second).
        differences = ()
    return EnvPlan(
        tuple(files),
        tuple(values.values()) + tuple(variables[n].value for n in creds.names),
        differences,
        known=(key_write, env_write, manifest_write, *credential_files.known),
        credentials=creds,
        credentials_changed=old_manifest is not None and (
            set(deployed) != set(creds.names) or credential_files.moved),
        names=tuple(sorted(values)),
        names_changed=old_manifest is not None
        and set(old_manifest.get("variables", {})) != set(variables),
        manifest=alone,
        notes=tuple(said[start:]),
    )  # fmt: skip


@dataclass(frozen=True)
class CredentialFiles:
    """The credential files a host needs changed (written, or removed), and every one as it
    would be written."""

    changes: tuple[FileWrite, ...] = ()
    known: tuple[FileWrite, ...] = ()
    moved: bool = False  # some are where another way of delivering them keeps them


def credential_writes(
    config: AppConfig,
    creds: Delivered,
    variables: dict[str, Variable],
    state: HostState,
    deployed: dict[str, str] | None = None,
) -> CredentialFiles:
    """Which credential files change. The ciphertext differs on every encryption, so a value is
    compared by the manifest's keyed fingerprint: a file is written when the host has none,
    it is not root's alone, or the manifest (under the host's key) does not record this value as
    that credential; the app's credential files no variable needs any more go."""
    if deployed is None:  # what the host's manifest records as credentials, if not given
        deployed = manifest.credentials(manifest.loads(state.manifest))
    changes, known = [], []
    for name, path in creds.paths.items():
        have = state.credential_files.get(path)
        write = FileWrite(
            path, variables[name].value, mode="0600", expect=have and have.sha256,
            credential=True, encrypt=creds.delivery.encrypted,
            transient=not config.env_keep_previous,
        )  # fmt: skip
        known.append(write)
        current = (
            have is not None and (have.user, have.group, have.mode) == ("root", "root", "600")
            and state.key is not None
            and deployed.get(name) == manifest.fingerprint(state.key, variables[name].value)
        )  # fmt: skip
        if not current:
            changes.append(write)
    wanted = set(creds.paths.values())
    for path, have in sorted(state.credential_files.items()):
        if path not in wanted:
            changes.append(FileWrite(
                path, mode="0600", expect=have.sha256, credential=True, remove=True,
                encrypt=path.startswith(credentials.ENCRYPTED_DIR + "/"),
                # Kept for a rollback only: once healthy, no copy of a value no one uses stays.
                transient=True,
            ))  # fmt: skip
    moved = any(f.remove and f.path.rsplit("/", 1)[1] in creds.names for f in changes)
    return CredentialFiles(tuple(changes), tuple(known), moved)


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
