"""Configuration sources: the registry of backends, in precedence order, and what loops over it.

Each backend is one module of this package, a :class:`~ssmenv.sources.base.Source` that owns its
host data, its spec, its reads (once per run, shared by all hosts), how its answer becomes
variables and how it is described. Adding one (say HashiCorp Vault) is a module and its line in
``REGISTRY``: host data, ``AppConfig.sources``, the merge and its precedence, the messages, the
sources summary and the sources table of docs/sources.md (``python -m ssmenv.sources``) follow.

Host data becomes ``AppConfig.sources`` (:func:`read`): each source's spec, by kind, for the
sources host data uses. :func:`fetch` reads them; ``ssmenv.variables.compose`` merges the answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ssmenv import aws
from ssmenv.aws import api_calls as api_calls  # the run's API calls, per operation
from ssmenv.errors import SourceError
from ssmenv.settings import Setting, Settings, collect
from ssmenv.sources import secrets_manager, ssm_parameters, ssm_path
from ssmenv.sources.base import Pin, Row, Source, clear_caches, lock

# pyinfra's logger (``pyinfra.logger`` is this one), by name: the sources run without pyinfra too.
logger = logging.getLogger("pyinfra")

#: The sources, lowest precedence first. Group data's ``env`` and ``app_port`` come after them,
#: contract defaults before (``ssmenv.variables``).
REGISTRY: tuple[Source, ...] = (ssm_path.SOURCE, ssm_parameters.SOURCE, secrets_manager.SOURCE)

#: The sources table's last row: the layers that follow the sources (``ssmenv.variables``).
HOST_DATA = Row("group data", "`env` (and `app_port`, given as `PORT`)", "—",
                "non-secret values only")  # fmt: skip


def settings() -> Settings:
    """Every source's settings, each once, in the registry's order."""
    found: dict[int, Setting] = {}
    for source in REGISTRY:
        for setting in source.settings:
            found.setdefault(id(setting), setting)
    return Settings("Configuration sources", tuple(found.values()))


def read(data: Any) -> tuple[dict[str, Any], list[str]]:
    """The specs of the sources host data uses, by kind, in precedence order; and every problem,
    one ``key: why`` line each, never a value."""
    values, problems = collect(data, [settings()])
    specs: dict[str, Any] = {}
    for source in REGISTRY:
        if all(s.key in values for s in source.settings):  # a setting with a problem: no spec
            spec, why = source.spec(values)
            problems += why
            if spec is not None:
                specs[source.kind] = spec
    if not specs and not problems:
        hints = [source.hint or source.kind for source in REGISTRY]
        choice = f"{', '.join(hints[:-1])} or {hints[-1]}" if len(hints) > 1 else hints[0]
        problems.append(f"{REGISTRY[0].kind}: no configuration source: set {choice}")
    return specs, problems


def used(specs: Mapping[str, Any]) -> Iterator[tuple[Source, Any]]:
    """The sources ``specs`` uses, lowest precedence first, each with its spec."""
    return ((source, specs[source.kind]) for source in REGISTRY if source.kind in specs)


def pins(specs: Mapping[str, Any]) -> frozenset[Pin]:
    """What the sources ``specs`` uses read by name."""
    return frozenset().union(*(source.pins(spec) for source, spec in used(specs)))


def describe(specs: Mapping[str, Any]) -> str:
    """The sources, for headers and messages (no values): ``SSM /app/prod, 3 SSM parameters,
    1 secret, host data``."""
    return ", ".join([*(source.summary(spec) for source, spec in used(specs)), "host data"])


@dataclass(frozen=True)
class Fetched:
    """What the sources of one app answered, by kind (None: the read failed); call-level
    failures are kept, not raised, so every problem can be reported at once."""

    answers: Mapping[str, Any] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    #: A failed read could not reach AWS at all (no connection, no credentials).
    unreachable: bool = False


def fetch(specs: Mapping[str, Any]) -> Fetched:
    """Read every source ``specs`` uses (each read once per run, shared with other hosts)."""
    answers: dict[str, Any] = {}
    failures: list[str] = []
    unreachable = False
    for source, spec in used(specs):
        try:
            answers[source.kind] = source.fetch(spec)
        except SourceError as e:
            answers[source.kind] = None
            failures.append(str(e))
            unreachable = unreachable or e.unreachable
    return Fetched(answers, tuple(failures), unreachable)


def markdown_table() -> str:
    """The table of sources (docs/sources.md), in precedence order."""
    lines = ["| source | host data | read with | becomes |", "| --- | --- | --- | --- |"]
    for row in [*(source.row for source in REGISTRY), HOST_DATA]:
        lines.append(f"| {row.source} | {row.host_data} | {row.read_with} | {row.becomes} |")
    return "\n".join(lines)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning once per run: every host of an app composes the same notes."""
    with lock:
        if message in _warned:
            return
        _warned.add(message)
    logger.warning(message)


def clear_cache() -> None:
    """Forget every read, client and count (tests, benchmarks: a new run in the same process)."""
    with lock:
        clear_caches()
        aws.reset()
        _warned.clear()
