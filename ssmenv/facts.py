"""The project's pyinfra facts, and a way to read a fact without printing its output."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host


def _file_state_command(path: str) -> StringCommand:
    return StringCommand(
        "if [ -f", QuoteString(path), "]; then stat -c '%U %G %a'", QuoteString(path),
        "&& sha256sum <", QuoteString(path), "; fi",
    )  # fmt: skip


def _file_state(lines: list[str]) -> dict[str, str] | None:
    if len(lines) < 2:
        return None
    user, group, mode = lines[0].split()
    return {"user": user, "group": group, "mode": mode, "sha256": lines[1].split()[0]}


class FileState(FactBase):
    """
    Owner, group, mode and sha256 of a file's content, read as one command; ``None`` when absent.

    .. code:: python

        {"user": "root", "group": "root", "mode": "600", "sha256": "9f86d0..."}

    A digest, not the content, so a file's content never travels back to the control machine.
    """

    def command(self, path: str) -> StringCommand:
        return _file_state_command(path)

    def process(self, output: list[str]) -> dict[str, str] | None:
        return _file_state(output)


_SECTIONS = ("--manifest--", "--key--", "--env--")


class AppEnvState(FactBase):
    """
    What a host has of an app's environment, in one command: its systemd version, the env file's
    state (as ``FileState``), the manifest's text and the fingerprint key.

    .. code:: python

        {"systemd": 252, "env_file": {"user": "root", ...} | None,
         "manifest": "{...}" | None, "key": "5f1e..." | None}

    The output holds the fingerprint key: read this fact with ``quiet_fact``, never ``get_fact``
    (which prints fact output at ``-vvv``).
    """

    def command(self, env_file: str, manifest: str, key: str) -> StringCommand:
        return StringCommand(
            "systemctl --version | head -n 1; echo", _SECTIONS[0], "; cat", QuoteString(manifest),
            "2>/dev/null; echo; echo", _SECTIONS[1], "; cat", QuoteString(key),
            "2>/dev/null; echo; echo", _SECTIONS[2], ";", _file_state_command(env_file),
        )  # fmt: skip

    def process(self, output: list[str]) -> dict[str, Any]:
        sections: dict[str, list[str]] = {"": []}
        current = ""
        for line in output:
            if line in _SECTIONS:
                current = line
                sections[current] = []
            else:
                sections[current].append(line)
        version = sections[""][0].split()[1] if sections[""] else ""
        manifest = "\n".join(sections.get(_SECTIONS[0], [])).strip()
        key = "".join(sections.get(_SECTIONS[1], [])).strip()
        return {
            "systemd": int(version) if version.isdigit() else None,
            "env_file": _file_state(sections.get(_SECTIONS[2], [])),
            "manifest": manifest or None,
            "key": key or None,
        }


def quiet_fact(host: Host, fact: type[FactBase], **kwargs: Any) -> Any:
    """Read a fact as ``host.get_fact`` would (same sudo and connection arguments), but never
    print its output, whatever the verbosity: for facts that carry key material."""
    state = host.state
    arguments, _ = pop_global_arguments(state, host, {})
    connector_arguments = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    instance = fact()
    command = instance.command(**kwargs)
    ok, output = host.run_shell_command(
        command, print_output=False, print_input=state.print_fact_input, **connector_arguments
    )
    if not ok:
        # stderr only: the command prints no secret on failure, and stdout may hold key material.
        raise PyinfraError(
            f"{host.name}: could not read {fact.__name__}: {' '.join(output.stderr_lines)[:500]}"
        )
    return instance.process(output.stdout_lines)
