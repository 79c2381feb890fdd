"""What every configuration source is and shares: the ``Source`` interface, the variables and
failures it answers with, and the run's caches.

pyinfra executes the deploy file once per host (in parallel greenlets); the caches here live in an
imported module, so they hold for the whole run: each parameter, path and secret is read once,
and hosts whose data point at the same source share the read.

Failures never carry a value: they name the parameter or secret and quote the backend's error
code and message, which name resources, not contents.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ssmenv.errors import SourceError
from ssmenv.policy import Statement
from ssmenv.settings import Setting

# pyinfra prepares hosts in gevent greenlets; the lock keeps two hosts from reading one source
# twice (the second waits, then finds the cache). A failed read is cached too, so a broken source
# costs its retries once per run, not once per host.
lock = threading.RLock()
_caches: list[dict[Any, Any]] = []


def run_cache() -> dict[Any, Any]:
    """A cache that holds for the run: emptied by ``ssmenv.sources.clear_cache`` only."""
    cache: dict[Any, Any] = {}
    _caches.append(cache)
    return cache


def clear_caches() -> None:
    with lock:
        for cache in _caches:
            cache.clear()


@dataclass(frozen=True)
class Variable:
    """One variable of the app's environment and where it came from."""

    name: str
    value: str = field(repr=False)
    # An SSM parameter name (with its pin), "secret <id>" (with "key <k>" for a JSON secret),
    # "host data env", "app_port" or "env_contract default".
    source: str
    version: int | str | None = None  # an SSM version number, a Secrets Manager VersionId
    # Stored as a secret: an SSM SecureString, or Secrets Manager (``credentials: "secure"``).
    secure: bool = False


@dataclass(frozen=True)
class Failure:
    """Why one parameter or secret could not be read; never holds a value."""

    source: str  # "SSM parameter /app/prod/X:3", "secret app/prod/db"
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class Pin:
    """A resource one source reads by name into one variable. A source that reads a collection
    holding it (a path) leaves it out, and does not offer the variable either: that is how one
    parameter of a path is pinned to a version.

    + resource: the backend and the resource's name (``ssm:/app/prod/API_KEY``)
    + variable: the variable it becomes
    """

    resource: str
    variable: str


@dataclass(frozen=True)
class Row:
    """A source's row of the sources table (docs/sources.md) (Markdown)."""

    source: str  # what it is: "SSM by path"
    host_data: str  # its settings: "`ssm_path`"
    read_with: str  # the API calls and how they are batched
    becomes: str  # how its answer becomes variables


class Source(ABC):
    """One configuration backend, the only place that knows it: its host data, how that becomes
    its spec, its reads (once per run, shared by all hosts), how the answer becomes variables,
    where a missing name would come from, and its part of the sources summary.

    The registry (``ssmenv.sources.REGISTRY``) lists the sources in precedence order, lowest
    first; everything else loops over it.
    """

    #: Its layer in the precedence, its key in ``AppConfig.sources`` and its main setting's key.
    kind: str
    #: Its settings. One shared with other sources (``aws_region``) is the same object in each,
    #: and listed once.
    settings: tuple[Setting, ...]
    #: Its row of the sources table (docs/sources.md).
    row: Row
    #: How to set it, for the message when host data sets no source at all.
    hint: str = ""

    @abstractmethod
    def spec(self, values: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """What host data asks of it, from its checked settings (``values``, by key), or None when
        it asks nothing; and every problem, one ``key: why`` line each."""

    @abstractmethod
    def fetch(self, spec: Any) -> Any:
        """Its answer to ``spec``, read once per run; raises :class:`SourceError` naming what it
        could not read when a request fails as a whole."""

    @abstractmethod
    def variables(
        self, spec: Any, answer: Any, pinned: frozenset[Pin]
    ) -> tuple[list[Variable], list[str]]:
        """The variables ``answer`` gives, and every problem found (``NAME: why`` or ``source:
        why`` lines, never a value); ``pinned``: what sources read by name."""

    @abstractmethod
    def summary(self, spec: Any) -> str:
        """Its part of the sources summary: ``SSM /app/prod``, ``3 secrets``."""

    def expected(self, spec: Any, name: str, pinned: frozenset[Pin]) -> list[str]:
        """Where ``name`` would come from in this source, for a message about a missing name."""
        return []

    def pins(self, spec: Any) -> frozenset[Pin]:
        """What this source reads by name (see :class:`Pin`)."""
        return frozenset()

    def permissions(self, spec: Any, account: str) -> list[Statement]:
        """The IAM statements its ``fetch`` of ``spec`` needs, on exactly the resources it reads
        (``python -m ssmenv iam``); ``account``: the AWS account of resources named by name. A
        source that calls no AWS API needs none."""
        return []


def plural(count: int, what: str) -> str:
    """``1 secret``, ``3 secrets``."""
    return f"{count} {what}{'s' if count > 1 else ''}"


def some(names: Sequence[str], shown: int = 3) -> str:
    """``a, b, c and 7 more``: a failed call named without a line of a thousand names."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


K = TypeVar("K")


def read_once(
    cache: dict[K, Any], keys: Iterable[K], read: Callable[[list[K]], Mapping[K, Any]]
) -> dict[K, Any]:
    """The run's results for ``keys``: ``read`` is given those no host read before in this run
    and returns each one's result (a :class:`SourceError` for a call that failed as a whole,
    cached too). The first failed call among ``keys`` is raised again.
    """
    wanted = list(dict.fromkeys(keys))
    with lock:
        missing = [key for key in wanted if key not in cache]
        if missing:
            cache.update(read(missing))
        for key in wanted:
            if isinstance(cache[key], SourceError):
                raise cache[key]
        return {key: cache[key] for key in wanted}


T = TypeVar("T")


def batches(items: Sequence[T], size: int, key: Callable[[T], str] = str) -> Iterator[list[T]]:
    """Consecutive batches of at most ``size`` items, no two with the same ``key``."""
    pending = list(items)
    while pending:
        batch: list[T] = []
        keys: set[str] = set()
        rest: list[T] = []
        for item in pending:
            if len(batch) < size and key(item) not in keys:
                batch.append(item)
                keys.add(key(item))
            else:
                rest.append(item)
        yield batch
        pending = rest
