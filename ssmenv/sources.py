"""Configuration sources: SSM Parameter Store (by path, by name) and Secrets Manager.

pyinfra executes the deploy file once per host (in parallel greenlets); the cache here lives in an
imported module, so it holds for the whole run: each parameter, path and secret is read once, and
hosts whose data point at the same source share the read. boto3 finds credentials, region and
endpoint the standard way (``AWS_PROFILE``, instance roles, ``AWS_ENDPOINT_URL``...); nothing here
knows whether it talks to AWS or to a stand-in.

Failures never carry a value: they name the parameter or secret and quote AWS's error code and
message, which name resources, not contents.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from pyinfra import logger

from ssmenv.errors import SourceError

if TYPE_CHECKING:
    from ssmenv.config import AppConfig

#: Items per request, as the APIs define their maximums (neither botocore nor moto enforce them).
SSM_PAGE_SIZE = 10  # GetParametersByPath MaxResults
SSM_NAMES_PER_CALL = 10  # GetParameters Names
SECRETS_PER_CALL = 20  # BatchGetSecretValue SecretIdList
#: Requests per second this process may send to one service in one region. SSM's default
#: throughput for its get calls is 40 per second, shared by the account; BatchGetSecretValue
#: allows 100. Requests are spaced for 90% of it: jitter on the way can bunch them up.
REQUESTS_PER_SECOND = 40
_PACE = 0.9
#: Attempts per request (the first included) unless AWS_MAX_ATTEMPTS or the AWS config file says.
MAX_ATTEMPTS = 5
CURRENT = "AWSCURRENT"

_PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.\-/]{1,2048}")
# A version is a number; a label starts with a letter, '.', '-' or '_' (AWS refuses digits first).
_SELECTOR = re.compile(r"[0-9]{1,10}|[A-Za-z_.\-][A-Za-z0-9_.\-]{0,99}")
_STAGE = re.compile(r"[A-Za-z0-9_.\-]{1,256}")


# --- what host data asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSpec:
    """One SSM parameter read by name, optionally pinned: ``/app/prod/DB_PASSWORD``,
    ``/app/prod/DB_PASSWORD:3`` (version 3) or ``/app/prod/DB_PASSWORD:live`` (label ``live``).

    + reference: the name as ``GetParameters`` takes it, selector included
    + variable: the variable it becomes; default: the name's last path component
    """

    reference: str
    variable: str

    @property
    def name(self) -> str:
        return self.reference.split(":", 1)[0]

    @property
    def selector(self) -> str:
        return self.reference.partition(":")[2]

    @classmethod
    def parse(cls, reference: str, variable: str | None = None) -> ParameterSpec:
        """Check ``reference``'s shape; raises ``ValueError`` saying what is wrong."""
        name, _, selector = reference.partition(":")
        if not _PARAMETER_NAME.fullmatch(name):
            raise ValueError("a parameter name is letters, digits and _ . - / (ARNs are not taken)")
        if ":" in reference and not _SELECTOR.fullmatch(selector):
            raise ValueError("the pin after ':' must be a version number or a label")
        return cls(reference, variable or name.rstrip("/").rsplit("/", 1)[-1])


@dataclass(frozen=True)
class SecretSpec:
    """One Secrets Manager secret and how it becomes variables.

    + id: the secret's name or ARN
    + variable: a plain-string secret becomes this one variable; without it the secret must be a
      JSON object, and each key becomes a variable
    + prefix: put before each JSON key (``DB_`` makes ``password`` into ``DB_password``)
    + stage: the ``VersionStage`` to read (``AWSCURRENT``, ``AWSPENDING``, ``AWSPREVIOUS``...)
    """

    id: str
    variable: str | None = None
    prefix: str = ""
    stage: str = CURRENT

    @property
    def is_json(self) -> bool:
        return self.variable is None

    @classmethod
    def parse(cls, entry: Any) -> SecretSpec:
        """From host data: a secret id (a JSON secret), or a dict with ``id`` and the fields above;
        raises ``ValueError`` saying what is wrong."""
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict):
            raise ValueError("must be a secret id or a dict with an id")
        unknown = set(entry) - {"id", "variable", "prefix", "stage"}
        if unknown:
            raise ValueError(f"unknown keys {', '.join(sorted(map(str, unknown)))}")
        secret_id, variable = entry.get("id"), entry.get("variable")
        prefix, stage = entry.get("prefix", ""), entry.get("stage", CURRENT)
        if not isinstance(secret_id, str) or not secret_id:
            raise ValueError("needs an id (the secret's name or ARN)")
        if variable is not None and (not isinstance(variable, str) or prefix):
            raise ValueError("variable (for a plain-string secret) is a name, without a prefix")
        if not isinstance(prefix, str):
            raise ValueError("prefix must be a string")
        if not isinstance(stage, str) or not _STAGE.fullmatch(stage):
            raise ValueError("stage must be a version stage such as AWSCURRENT or AWSPENDING")
        return cls(secret_id, variable, prefix, stage)


# --- what the sources answer -------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One SSM parameter; ``repr`` never shows the value."""

    name: str
    value: str = field(repr=False)
    version: int
    type: str


@dataclass(frozen=True)
class Secret:
    """One secret's value at a stage; ``repr`` never shows the value."""

    id: str
    name: str
    value: str = field(repr=False)
    version_id: str
    stage: str


@dataclass(frozen=True)
class Failure:
    """Why one parameter or secret could not be read; never holds a value."""

    source: str  # "SSM parameter /app/prod/X:3", "secret app/prod/db"
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


# --- one read per run --------------------------------------------------------------------------

# pyinfra prepares hosts in gevent greenlets; the lock keeps two hosts from reading one source
# twice (the second waits, then finds the cache). A failed read is cached too, so a broken source
# costs its retries once per run, not once per host.
_lock = threading.RLock()
_paths: dict[tuple[str, str], dict[str, Parameter] | SourceError] = {}
_parameters: dict[tuple[str, str], Parameter | Failure | SourceError] = {}
_secrets: dict[tuple[str, str, str], Secret | Failure | SourceError] = {}
_clients: dict[tuple[str, str], Any] = {}
_pacers: dict[tuple[str, str], _Pacer] = {}
#: API calls made by this process, per operation (retries by botocore not counted): benchmarks
#: and tests read it to prove that sources are read once and batched.
api_calls: Counter[str] = Counter()


class _Pacer:
    """Spaces the requests to one service: at most ``per_second`` start in any one second.

    Registered on botocore's ``before-send`` event, so retries are paced too.
    """

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self.next = 0.0
        self.lock = threading.Lock()

    def __call__(self, **_: Any) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            time.sleep(start - now)
        # None: botocore goes on and sends the request.


def _client(service: str, region: str) -> Any:
    """One client per service and region for the run: the retry mode's state lives in it."""
    key = (service, region)
    if key not in _clients:
        session = botocore.session.Session()
        # Standard (or adaptive, if asked for) retries back off on ThrottlingException; the
        # attempts are bounded so a broken endpoint stops the run within a minute.
        mode = session.get_config_variable("retry_mode")
        attempts = session.get_config_variable("max_attempts") or MAX_ATTEMPTS
        config = Config(
            retries={
                "mode": mode if mode in ("standard", "adaptive") else "standard",
                "total_max_attempts": int(attempts),
            },
            connect_timeout=5,
            read_timeout=20,
        )
        client = boto3.session.Session(botocore_session=session).client(
            service, region_name=region, config=config
        )
        pacer = _pacers.setdefault(key, _Pacer(REQUESTS_PER_SECOND * _PACE))
        client.meta.events.register("before-send", pacer)
        _clients[key] = client
    return _clients[key]


def _call(service: str, region: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    api_calls[operation] += 1
    method = getattr(_client(service, region), _snake(operation))
    return method(**kwargs)


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _some(names: Sequence[str], shown: int = 3) -> str:
    """``a, b, c and 7 more``: a failed call named without a line of a thousand names."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _reason(error: Exception) -> str:
    """AWS's error code and message, or botocore's text (e.g. endpoint unreachable)."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": ")
    return str(error)


def parameters_by_path(region: str, path: str) -> dict[str, Parameter]:
    """Every parameter under ``path``, recursive and decrypted, by full name; read once per run.

    Raises :class:`SourceError` naming the path when it cannot be read.
    """
    key = (region, path)
    with _lock:
        if key not in _paths:
            _paths[key] = _read_path(region, path)
        found = _paths[key]
    if isinstance(found, SourceError):
        raise found
    return found


def _read_path(region: str, path: str) -> dict[str, Parameter] | SourceError:
    found: dict[str, Parameter] = {}
    request = {"Path": path, "Recursive": True, "WithDecryption": True, "MaxResults": SSM_PAGE_SIZE}
    pages = 0
    try:
        # Pages may be short or empty while NextToken is present: follow the token, not the count.
        while True:
            pages += 1
            page = _call("ssm", region, "GetParametersByPath", **request)
            for p in page.get("Parameters", []):
                found[p["Name"]] = Parameter(p["Name"], p["Value"], int(p["Version"]), p["Type"])
            if not page.get("NextToken"):
                logger.debug(f"SSM path {path}: {len(found)} parameters in {pages} requests")
                return found
            request["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as e:
        return SourceError(f"SSM path {path} ({region}): {_reason(e)}")


def parameters_by_name(region: str, references: Iterable[str]) -> dict[str, Parameter | Failure]:
    """Each reference (``name``, ``name:version``, ``name:label``) to its parameter or why not.

    Reads only what no host read before, ``GetParameters`` with at most 10 names per call, a
    name at most once per call: AWS tells two pins of one name apart only by ``Selector``,
    which not every implementation returns. Raises :class:`SourceError` when a call fails.
    """
    wanted = list(dict.fromkeys(references))
    with _lock:
        missing = [r for r in wanted if (region, r) not in _parameters]
        for batch in _batches(missing, SSM_NAMES_PER_CALL, key=lambda r: r.split(":", 1)[0]):
            for reference, result in _get_parameters(region, batch).items():
                _parameters[(region, reference)] = result
        answer = _answer(_parameters, [(region, r) for r in wanted])
        return {key[1]: result for key, result in answer.items()}


def _get_parameters(region: str, batch: list[str]) -> dict[str, Parameter | Failure | SourceError]:
    try:
        page = _call("ssm", region, "GetParameters", Names=batch, WithDecryption=True)
    except (ClientError, BotoCoreError) as e:
        error = SourceError(f"SSM parameters {_some(batch)} ({region}): {_reason(e)}")
        return dict.fromkeys(batch, error)
    by_name = {p["Name"]: p for p in page.get("Parameters", [])}
    invalid = set(page.get("InvalidParameters", []))
    found: dict[str, Parameter | Failure | SourceError] = {}
    for reference in batch:
        p = by_name.get(reference.split(":", 1)[0])
        if reference in invalid or p is None:
            reason = "not found (no such parameter, version or label)"
            found[reference] = Failure(f"SSM parameter {reference}", reason)
        else:
            found[reference] = Parameter(p["Name"], p["Value"], int(p["Version"]), p["Type"])
    return found


def secrets(
    region: str, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Secret | Failure]:
    """Each ``(secret id, version stage)`` to its secret or why not; read once per run.

    ``AWSCURRENT`` values come from ``BatchGetSecretValue``, at most 20 ids per call, which
    reports a secret it cannot read in ``Errors`` instead of raising; other stages, which that
    call cannot select, from one ``GetSecretValue`` each. Raises :class:`SourceError` when a call
    fails as a whole.
    """
    wanted = list(dict.fromkeys(wanted))
    with _lock:
        missing = [w for w in wanted if (region, *w) not in _secrets]
        current = [secret_id for secret_id, stage in missing if stage == CURRENT]
        for batch in _batches(current, SECRETS_PER_CALL):
            for secret_id, result in _batch_get(region, batch).items():
                _secrets[(region, secret_id, CURRENT)] = result
        for secret_id, stage in missing:
            if stage != CURRENT:
                _secrets[(region, secret_id, stage)] = _get_one(region, secret_id, stage)
        answer = _answer(_secrets, [(region, *w) for w in wanted])
        return {key[1:]: result for key, result in answer.items()}


def _answer(cache: dict[Any, Any], keys: Sequence[Any]) -> dict[Any, Any]:
    """The cached results for ``keys``; the first failed call among them is raised again."""
    for key in keys:
        if isinstance(cache[key], SourceError):
            raise cache[key]
    return {key: cache[key] for key in keys}


def _batch_get(region: str, ids: Sequence[str]) -> dict[str, Secret | Failure | SourceError]:
    try:
        page = _call("secretsmanager", region, "BatchGetSecretValue", SecretIdList=list(ids))
    except (ClientError, BotoCoreError) as e:
        return dict.fromkeys(ids, SourceError(f"secrets {_some(ids)} ({region}): {_reason(e)}"))
    found: dict[str, Secret | Failure | SourceError] = {}
    for error in page.get("Errors", []):
        secret_id = error.get("SecretId", "")
        reason = f"{error.get('ErrorCode', 'error')}: {error.get('Message', '')}".rstrip(": ")
        found[secret_id] = Failure(f"secret {secret_id}", reason)
    for item in page.get("SecretValues", []):
        # The answer names each secret by name and ARN; the request may have used either.
        for secret_id in ids:
            if secret_id in (item.get("Name"), item.get("ARN")):
                found[secret_id] = _secret(secret_id, CURRENT, item)
    for secret_id in ids:
        found.setdefault(secret_id, Failure(f"secret {secret_id}", "missing from the answer"))
    return found


def _get_one(region: str, secret_id: str, stage: str) -> Secret | Failure | SourceError:
    try:
        item = _call(
            "secretsmanager", region, "GetSecretValue", SecretId=secret_id, VersionStage=stage
        )
    except ClientError as e:
        # A missing secret or stage, a key it cannot decrypt with: about this secret only.
        return Failure(f"secret {secret_id} (stage {stage})", _reason(e))
    except BotoCoreError as e:
        return SourceError(f"secret {secret_id} ({region}): {_reason(e)}")
    return _secret(secret_id, stage, item)


def _secret(secret_id: str, stage: str, item: dict[str, Any]) -> Secret | Failure:
    if "SecretString" not in item:
        where = secret_id if stage == CURRENT else f"{secret_id} (stage {stage})"
        return Failure(f"secret {where}", "holds binary data; only text secrets are supported")
    return Secret(secret_id, item["Name"], item["SecretString"], item["VersionId"], stage)


T = TypeVar("T")


def _batches(items: Sequence[T], size: int, key: Callable[[T], str] = str) -> Iterator[list[T]]:
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


# --- everything one app's host data asks for ---------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What the sources of one app answered; call-level failures are kept, not raised, so every
    problem can be reported at once."""

    path: dict[str, Parameter] | None = field(default_factory=dict)  # None: the read failed
    parameters: dict[str, Parameter | Failure] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Secret | Failure] = field(default_factory=dict)
    failures: tuple[str, ...] = ()


def fetch(config: AppConfig) -> Fetched:
    """Read every source ``config`` names (each once per run, shared with other hosts)."""
    path: dict[str, Parameter] | None = {}
    parameters: dict[str, Parameter | Failure] = {}
    found: dict[tuple[str, str], Secret | Failure] = {}
    failures: list[str] = []
    region = config.aws_region
    if config.ssm_path:
        try:
            path = parameters_by_path(region, config.ssm_path)
        except SourceError as e:
            path = None
            failures.append(str(e))
    if config.ssm_parameters:
        try:
            parameters = parameters_by_name(region, [s.reference for s in config.ssm_parameters])
        except SourceError as e:
            failures.append(str(e))
    if config.secrets:
        try:
            found = secrets(region, [(s.id, s.stage) for s in config.secrets])
        except SourceError as e:
            failures.append(str(e))
    return Fetched(path, parameters, found, tuple(failures))


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning once per run: every host of an app composes the same notes."""
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    logger.warning(message)


def clear_cache() -> None:
    """Forget every read, client and count (tests, benchmarks: a new run in the same process)."""
    with _lock:
        _paths.clear()
        _parameters.clear()
        _secrets.clear()
        _clients.clear()
        _pacers.clear()
        api_calls.clear()
        _warned.clear()
