"""The app's variables: every source merged by precedence, then checked as one set.

Pure logic: everything is read before, nothing is written here. Every problem is reported at once,
naming the variable and where it comes from (or should), never its value.

Precedence, lowest first (``PRECEDENCE``): contract defaults, the sources in the registry's order
(``ssmenv.sources.REGISTRY``: the SSM path, SSM parameters by name, Secrets Manager), group-data
``env``, ``app_port``. A name set by two sources is an error unless host data lists it in
``env_overrides``; then the higher one wins. Defaults never conflict: they apply only where no
source sets the name. A resource one source reads by name (a ``Pin``: a parameter listed in
``ssm_parameters``) is left out by a source that reads a collection holding it (``ssm_path``):
that is how a path's parameter is pinned, so it is no conflict either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssmenv import credentials, envfile, sources
from ssmenv.errors import ConfigError
from ssmenv.names import RULE, is_variable, one_line, shown
from ssmenv.sources import Fetched
from ssmenv.sources.base import Variable

if TYPE_CHECKING:
    from ssmenv.config import AppConfig

#: Set by the toolkit itself: never reported as missing from a contract.
TOOLKIT_NAMES = frozenset({"PORT"})


def precedence() -> tuple[str, ...]:
    """The kinds of variables' sources, lowest precedence first: contract defaults, the
    registry's sources (``ssmenv.sources.REGISTRY``), group-data ``env``, ``app_port``."""
    return ("env_contract default", *(s.kind for s in sources.REGISTRY), "env", "app_port")


#: Source kinds, lowest precedence first.
PRECEDENCE = precedence()


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


def compose(config: AppConfig, fetched: Fetched, systemd_version: int | None = None) -> Composition:
    """Merge what ``fetched`` holds for ``config``'s sources and check it against the contract."""
    problems: list[str] = list(fetched.failures)
    layers: list[tuple[str, list[Variable]]] = []
    pinned = sources.pins(config.sources)
    for source, spec in sources.used(config.sources):
        answer = fetched.answers.get(source.kind)
        if answer is None:  # not read: the failure is reported on its own
            continue
        found, why = source.variables(spec, answer, pinned)
        layers.append((source.kind, found))
        problems += why
    # With a source unread, "missing" would only repeat its failure, once per variable.
    complete = not problems
    layers.append(("env", [Variable(n, v, "host data env") for n, v in config.env.items()]))
    layers.append(("app_port", [Variable("PORT", str(config.port), "app_port")]))

    merged, why = merge(layers, config.env_overrides)
    problems += why
    for name, default in config.contract.defaults().items():
        merged.setdefault(name, Variable(name, default, "env_contract default"))
    problems += judged(config, merged, complete, systemd_version)

    notes = []
    unlisted = config.contract.unlisted(n for n in merged if n not in TOOLKIT_NAMES)
    if unlisted and complete:
        notes.append(
            f"{config.name}: variables not in env_contract (deployed anyway): "
            + ", ".join(f"{n} (from {merged[n].source})" for n in unlisted)
        )
    # A message stays one line, whatever a source's text holds.
    return Composition(
        dict(sorted(merged.items())), tuple(sorted({one_line(p) for p in problems})),
        tuple(one_line(n) for n in notes), complete,
    )  # fmt: skip


def judged(
    config: AppConfig,
    merged: dict[str, Variable],
    complete: bool = True,
    systemd_version: int | None = None,
) -> list[str]:
    """Every problem of the merged variables (``merged``, contract defaults in), one line each,
    never a value: a name that is no variable name (removed from ``merged``: it is no variable
    from here on), a required one missing (when every source was read: ``complete``), a rule of
    the contract a value breaks, a value systemd could not carry exactly in the env file. What a
    host that starts from a copy it kept (its last known good) checks again too."""
    problems = []
    # Every name, an env-file line's or a credential's (which becomes unit lines), whatever its
    # source: one that is no name is refused here, shown escaped, and is no variable from here on.
    for name in [n for n in merged if not is_variable(n)]:
        source = merged.pop(name).source
        problems.append(f"{shown(name)}: not a variable name ({RULE}) (from {source})")

    for rule in config.contract.rules:
        variable = merged.get(rule.name)
        if variable is None:
            if rule.required and complete:
                # Where it is expected, and who requires it: a requirement the app does not
                # have (another app's, inherited from group data) is found where it was set.
                by = f"; required by {rule.origin}" if rule.origin else ""
                problems.append(f"{rule.name}: required but missing "
                                f"(expected {expected(config, rule.name)}{by})")  # fmt: skip
            continue
        problems += [
            f"{rule.name}: {r} (from {variable.source})" for r in rule.reasons(variable.value)
        ]

    # Credentials are no env-file lines: what systemd can carry of them is checked per host
    # (ssmenv.credentials.problems, by how the host gets them).
    as_files = set(credentials.select(config.credentials, merged))
    values = {name: v.value for name, v in merged.items() if name not in as_files}
    for problem in envfile.problems(values, systemd_version=systemd_version):
        source = merged[problem.name].source if problem.name in merged else "all sources"
        problems.append(f"{problem.name}: {problem.reason} (from {source})")
    return problems


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
            labels = [v.source for _, v in candidates]
            hint = "" if name in overrides else "; list it in env_overrides to let the last win"
            problems.append(f"{shown(name)}: set by both {', '.join(labels[:-1])} and "
                            f"{labels[-1]}{hint}")  # fmt: skip
        merged[name] = candidates[-1][1]
    return merged, problems


def expected(config: AppConfig, name: str) -> str:
    """Where ``name`` would come from, in precedence order: for a message about a missing name."""
    pinned = sources.pins(config.sources)
    where = [w for source, spec in sources.used(config.sources)
             for w in source.expected(spec, name, pinned)]  # fmt: skip
    where.append("host data env")
    return ", ".join(where[:-1]) + f" or {where[-1]}" if len(where) > 1 else where[0]
