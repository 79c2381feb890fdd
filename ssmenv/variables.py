"""The app's variables: SSM parameters and group-data values merged, then checked as one set.

Pure logic: everything is read before, nothing is written here. Every problem is reported at once,
naming the variable and where it should come from, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ssmenv import envfile
from ssmenv.errors import ConfigError
from ssmenv.sources import Parameter


@dataclass(frozen=True)
class Variable:
    """One variable of the app's environment and where it came from."""

    name: str
    value: str = field(repr=False)
    source: str  # an SSM parameter name, or "host data env" / "app_port"
    version: int | None = None


def compose(
    ssm_path: str,
    parameters: Mapping[str, Parameter],
    env: Mapping[str, str],
    required: Sequence[str],
    port: int | None = None,
    systemd_version: int | None = None,
) -> dict[str, Variable]:
    """Merge SSM parameters (leaf name becomes the variable name) with ``env`` and check the set."""
    problems: list[str] = []
    found: dict[str, Variable] = {}

    def add(variable: Variable) -> None:
        if variable.name in found:
            problems.append(
                f"{variable.name}: set by both {found[variable.name].source} and {variable.source}"
            )
            return
        found[variable.name] = variable

    for parameter in sorted(parameters.values(), key=lambda p: p.name):
        leaf = parameter.name.rsplit("/", 1)[-1]
        add(Variable(leaf, parameter.value, parameter.name, parameter.version))
    for name, value in env.items():
        add(Variable(name, value, "host data env"))
    if port is not None:
        add(Variable("PORT", str(port), "app_port"))

    for name in required:
        if name not in found:
            problems.append(
                f"{name}: required but missing (expected SSM parameter "
                f"{ssm_path.rstrip('/')}/{name} or host data env)"
            )
        elif found[name].value == "":
            problems.append(f"{name}: required but empty (from {found[name].source})")

    values = {name: v.value for name, v in found.items()}
    for problem in envfile.problems(values, systemd_version=systemd_version):
        source = found[problem.name].source if problem.name in found else "?"
        problems.append(f"{problem.name}: {problem.reason} (from {source})")

    if problems:
        raise ConfigError(
            f"the environment for {ssm_path} is not valid:\n"
            + "\n".join(f"  {p}" for p in sorted(problems))
        )
    return dict(sorted(found.items()))
