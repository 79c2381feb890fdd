"""The app's variables: every source merged by precedence, then checked as one set.

Pure logic: everything is read before, nothing is written here. Every problem is reported at once,
naming the variable and where it comes from (or should), never its value.

Precedence, lowest first (``PRECEDENCE``): contract defaults, the SSM path, SSM parameters by
name, Secrets Manager, group-data ``env``, ``app_port``. A name set by two sources is an error
unless host data lists it in ``env_overrides``; then the higher one wins. Defaults never conflict:
they apply only where no source sets the name. A parameter listed in ``ssm_parameters`` that also
sits under ``ssm_path`` is taken from ``ssm_parameters`` only (that is how a path's parameter is
pinned), so it is no conflict either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ssmenv import envfile
from ssmenv.errors import ConfigError
from ssmenv.sources import CURRENT, Failure, Fetched, Parameter, Secret, SecretSpec

if TYPE_CHECKING:
    from ssmenv.config import AppConfig

#: Source kinds, lowest precedence first.
PRECEDENCE = ("env_contract default", "ssm_path", "ssm_parameters", "secrets", "env", "app_port")
#: Set by the toolkit itself: never reported as missing from a contract.
TOOLKIT_NAMES = frozenset({"PORT"})


@dataclass(frozen=True)
class Variable:
    """One variable of the app's environment and where it came from."""

    name: str
    value: str = field(repr=False)
    # An SSM parameter name (with its pin), "secret <id>" (with "key <k>" for a JSON secret),
    # "host data env", "app_port" or "env_contract default".
    source: str
    version: int | str | None = None  # an SSM version number, a Secrets Manager VersionId


@dataclass(frozen=True)
class Composition:
    """The merged variables, every problem that stops a deploy, and notes that do not."""

    variables: dict[str, Variable]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    complete: bool = True  # every source was read: no name is missing for want of a read

    def check(self, what: str) -> dict[str, Variable]:
        """The variables, or :class:`ConfigError` listing every problem."""
        if self.problems:
            raise ConfigError(
                f"the environment of {what} is not valid "
                f"({len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}):\n"
                + "\n".join(f"  {p}" for p in self.problems)
            )
        return self.variables


def secret_label(spec: SecretSpec) -> str:
    return f"secret {spec.id}" + ("" if spec.stage == CURRENT else f" (stage {spec.stage})")


def _from_path(config: AppConfig, fetched: Fetched) -> tuple[list[Variable], list[str]]:
    path = config.ssm_path or ""
    pinned = {spec.name for spec in config.ssm_parameters}
    found, problems = [], []
    if fetched.path is None:  # not read: the failure is reported on its own
        return found, problems
    for parameter in sorted(fetched.path.values(), key=lambda p: p.name):
        if parameter.name in pinned:
            continue
        relative = parameter.name[len(path) :].lstrip("/")
        name = config.ssm_path_map.get(relative, relative.rsplit("/", 1)[-1])
        found.append(Variable(name, parameter.value, parameter.name, parameter.version))
    for relative in sorted(config.ssm_path_map):
        if f"{path}/{relative}" not in fetched.path:
            problems.append(f"ssm_path_map: no SSM parameter {path}/{relative}")
    return found, problems


def _from_parameters(config: AppConfig, fetched: Fetched) -> tuple[list[Variable], list[str]]:
    found, problems = [], []
    for spec in config.ssm_parameters:
        result = fetched.parameters.get(spec.reference)
        if isinstance(result, Parameter):
            found.append(Variable(spec.variable, result.value, spec.reference, result.version))
        elif isinstance(result, Failure):
            problems.append(f"{spec.variable}: {result}")
    return found, problems


def _from_secrets(config: AppConfig, fetched: Fetched) -> tuple[list[Variable], list[str]]:
    found: list[Variable] = []
    problems: list[str] = []
    for spec in config.secrets:
        result = fetched.secrets.get((spec.id, spec.stage))
        label = secret_label(spec)
        if isinstance(result, Failure):
            problems.append(f"{spec.variable}: {result}" if spec.variable else str(result))
        elif isinstance(result, Secret) and spec.variable is not None:
            found.append(Variable(spec.variable, result.value, label, result.version_id))
        elif isinstance(result, Secret):
            values, why = _json_object(result.value)
            problems += [f"{label}: {w}" for w in why]
            found += [
                Variable(spec.prefix + key, value, f"{label} key {key}", result.version_id)
                for key, value in values.items()
            ]
    return found, problems


def _json_object(text: str) -> tuple[dict[str, str], list[str]]:
    """A JSON secret's keys and values as text; reasons name keys and positions, never values."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # Its msg is "Expecting value"-like and never quotes the document; str(e) is not used.
        where = f"{e.msg} at line {e.lineno} column {e.colno}"
        return {}, [f"is not valid JSON ({where}); give a variable for a plain-text secret"]
    if not isinstance(data, dict):
        return {}, [f"is JSON but not an object (a {type(data).__name__}); keys become variables"]
    values, why = {}, []
    for key, value in data.items():
        if value is None:
            why.append(f"key {key} is null")
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    return values, why


def compose(config: AppConfig, fetched: Fetched, systemd_version: int | None = None) -> Composition:
    """Merge what ``fetched`` holds for ``config``'s sources and check it against the contract."""
    problems: list[str] = list(fetched.failures)
    layers: list[tuple[str, list[Variable]]] = []
    for kind, read in (
        ("ssm_path", _from_path),
        ("ssm_parameters", _from_parameters),
        ("secrets", _from_secrets),
    ):
        found, why = read(config, fetched)
        layers.append((kind, found))
        problems += why
    # With a source unread, "missing" would only repeat its failure, once per variable.
    complete = not problems
    layers.append(("env", [Variable(n, v, "host data env") for n, v in config.env.items()]))
    layers.append(("app_port", [Variable("PORT", str(config.port), "app_port")]))

    merged, why = merge(layers, config.env_overrides)
    problems += why
    for name, default in config.contract.defaults().items():
        merged.setdefault(name, Variable(name, default, "env_contract default"))

    for rule in config.contract.rules:
        variable = merged.get(rule.name)
        if variable is None:
            if rule.required and complete:
                problems.append(
                    f"{rule.name}: required but missing (expected {expected(config, rule.name)})"
                )
            continue
        problems += [
            f"{rule.name}: {r} (from {variable.source})" for r in rule.reasons(variable.value)
        ]

    values = {name: v.value for name, v in merged.items()}
    for problem in envfile.problems(values, systemd_version=systemd_version):
        source = merged[problem.name].source if problem.name in merged else "all sources"
        problems.append(f"{problem.name}: {problem.reason} (from {source})")

    notes = []
    unlisted = config.contract.unlisted(n for n in merged if n not in TOOLKIT_NAMES)
    if unlisted and complete:
        notes.append(
            f"{config.name}: variables not in env_contract (deployed anyway): "
            + ", ".join(f"{n} (from {merged[n].source})" for n in unlisted)
        )
    return Composition(
        dict(sorted(merged.items())), tuple(sorted(set(problems))), tuple(notes), complete
    )


def merge(
    layers: Sequence[tuple[str, Sequence[Variable]]],
    overrides: frozenset[str] | set[str] = frozenset(),
) -> tuple[dict[str, Variable], list[str]]:
    """Merge ``layers`` (lowest precedence first) by name.

    Two variables of one name are a problem, naming every source, unless the name is in
    ``overrides`` and they come from different layers: then the later layer wins.
    """
    seen: dict[str, list[tuple[int, Variable]]] = {}
    for rank, (_kind, variables) in enumerate(layers):
        for variable in variables:
            seen.setdefault(variable.name, []).append((rank, variable))
    merged: dict[str, Variable] = {}
    problems: list[str] = []
    for name, candidates in seen.items():
        ranks = [rank for rank, _ in candidates]
        if len(candidates) > 1 and (name not in overrides or len(set(ranks)) < len(ranks)):
            sources = [v.source for _, v in candidates]
            hint = "" if name in overrides else "; list it in env_overrides to let the last win"
            problems.append(
                f"{name}: set by both {', '.join(sources[:-1])} and {sources[-1]}{hint}"
            )
        merged[name] = candidates[-1][1]
    return merged, problems


def expected(config: AppConfig, name: str) -> str:
    """Where ``name`` would come from, in precedence order: for a message about a missing name."""
    where: list[str] = []
    pinned = [s.reference for s in config.ssm_parameters if s.variable == name]
    if config.ssm_path and not pinned:
        mapped = {variable: relative for relative, variable in config.ssm_path_map.items()}
        where.append(f"SSM parameter {config.ssm_path.rstrip('/')}/{mapped.get(name, name)}")
    where += [f"SSM parameter {reference}" for reference in pinned]
    for spec in config.secrets:
        if spec.variable == name:
            where.append(secret_label(spec))
        elif spec.is_json and name.startswith(spec.prefix):
            where.append(f"key {name[len(spec.prefix) :]} of {secret_label(spec)}")
    where.append("host data env")
    return ", ".join(where[:-1]) + f" or {where[-1]}" if len(where) > 1 else where[0]


def describe(config: Any) -> str:
    """The sources of ``config``, for messages: ``SSM /app/prod, 3 SSM parameters, 1 secret``."""
    parts = [f"SSM {config.ssm_path}"] if config.ssm_path else []
    for count, what in (
        (len(config.ssm_parameters), "SSM parameter"),
        (len(config.secrets), "secret"),
    ):
        if count:
            parts.append(f"{count} {what}{'s' if count > 1 else ''}")
    return ", ".join([*parts, "host data"])
