"""AWS, as every part of the toolkit that talks to it does: the client, its retries and timeouts,
the request pacing, the call counts, and the one line a failure becomes.

botocore (boto3's core) finds credentials, region and endpoint the standard way
(``AWS_PROFILE``, instance roles, ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SSM``...); nothing here
knows whether it talks to AWS or to a stand-in. A botocore older than 1.31 (Debian 12 packages
1.29, which the agent on a host uses) does not read the endpoint variables: ``client`` reads them
then, as botocore would (``configured_endpoint``). Used by the configuration sources
(``ssmenv.sources``), EC2 discovery (``ssmenv.ec2``), the ``.env`` import
(``ssmenv.dotenv_import``), the publication and the agent.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.configprovider
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from ssmenv.names import one_line
from ssmenv.settings import Matching, Setting

#: Attempts per request (the first included) unless AWS_MAX_ATTEMPTS or the AWS config file says.
MAX_ATTEMPTS = 5
#: Requests per second this process may send to one service in one region. SSM's default
#: throughput for its get calls is 40 per second, shared by the account; BatchGetSecretValue
#: allows 100. Requests are spaced for 90% of it: jitter on the way can bunch them up.
REQUESTS_PER_SECOND = 40
_PACE = 0.9

#: The region of the parameters and secrets: host data shared by the AWS sources.
REGION = Setting(
    "aws_region",
    Matching(r"[a-z]{2}(-[a-z]+)+-[0-9]+", "an AWS region such as us-east-1"),
    "us-east-1",
    "AWS region of the parameters and secrets.",
)

#: API calls made by this process, per operation (retries by botocore not counted): benchmarks
#: and tests read it to prove that sources are read once and batched.
api_calls: Counter[str] = Counter()
_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_pacers: dict[tuple[str, str], _Pacer] = {}


#: What botocore reads from its data files (service models, endpoints: megabytes of JSON, most
#: of what a client costs to make) is the same for every client: read once a process, through one
#: loader. Each client still has a session of its own: its credentials, configuration and
#: environment are read anew.
_loader: Any = None
_loader_lock = threading.Lock()  # not _lock: run_client holds that while it makes a client


#: How the instance role's credentials are fetched from the instance's metadata (IMDS) where
#: neither the environment nor the config file says: botocore's own defaults are 1 s and one
#: attempt, which a metadata service slow to answer (at boot, a loaded instance; the lab's
#: stand-in on a busy machine) turns into "Unable to locate credentials". Set by ``on_instance``.
_instance_metadata: dict[str, int] = {}
PATIENT_METADATA = {"metadata_service_timeout": 2, "metadata_service_num_attempts": 3}


def on_instance() -> None:
    """This process runs on an instance with its role (the host's agent): its sessions fetch the
    role's credentials with ``PATIENT_METADATA`` where nothing configures it. The control machine
    keeps botocore's defaults: off EC2, a missing credential is said in 1 s, not 6."""
    _instance_metadata.update(PATIENT_METADATA)


def _configured(session: Any, name: str) -> bool:
    """``name`` is set in the environment (``AWS_<NAME>``) or in the profile's config."""
    if f"AWS_{name.upper()}" in os.environ:
        return True
    try:
        return name in session.get_scoped_config()
    except ProfileNotFound:
        return False  # the client says so when it is made


def _session() -> Any:
    global _loader
    session = botocore.session.Session()
    with _loader_lock:
        if _loader is None:
            _loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _loader)
    for name, value in _instance_metadata.items():
        if not _configured(session, name):
            session.set_config_variable(name, value)
    return session


def configured_region() -> str | None:
    """The region boto3 takes from the environment or the AWS config file, if any."""
    return _session().get_config_variable("region")


def client(
    service: str, region: str | None, attempts: int | None = None, retry_mode: str | None = None,
    default_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A new client, found the standard way, whose requests are bounded: a broken endpoint
    fails within a minute (seconds while an inventory loads), not after botocore's defaults.

    + service: ``ssm``, ``secretsmanager``, ``ec2``...
    + region: default: boto3's (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile...)
    + attempts: per request, the first included; default: ``AWS_MAX_ATTEMPTS`` (or the AWS config
      file), else ``default_attempts``
    + retry_mode: default ``standard``, or ``adaptive`` when ``AWS_RETRY_MODE`` asks for it; both
      back off on ``ThrottlingException``
    """
    session = _session()
    mode = retry_mode or session.get_config_variable("retry_mode")
    attempts = attempts or session.get_config_variable("max_attempts") or default_attempts
    config = Config(
        retries={
            "mode": mode if mode in ("standard", "adaptive") else "standard",
            "total_max_attempts": int(attempts),
        },
        connect_timeout=5,
        read_timeout=20,
    )
    # botocore's own client: boto3's is the same object for these services, and importing
    # boto3 (with s3transfer) costs every run some 50 ms of its fixed time.
    return session.create_client(service, region_name=region, config=config,
                                 endpoint_url=configured_endpoint(session, service))  # fmt: skip


#: botocore 1.31 and later read ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` themselves.
READS_ENDPOINT_VARIABLES = hasattr(botocore.configprovider, "ConfiguredEndpointProvider")


def configured_endpoint(
    session: Any,
    service: str,
    environ: Any = None,
    reads_variables: bool = READS_ENDPOINT_VARIABLES,
) -> str | None:
    """The endpoint the environment names for ``service``, where botocore does not read it
    itself (``None``: botocore's own choice): ``AWS_ENDPOINT_URL_<SERVICE>`` (the service's id in
    capitals, ``_`` for spaces and dashes: ``AWS_ENDPOINT_URL_SECRETS_MANAGER``), else
    ``AWS_ENDPOINT_URL``; neither when ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is ``true``. A VPC
    endpoint with its own name, or the lab's stand-in, is named so for every version alike."""
    environ = os.environ if environ is None else environ
    if reads_variables or environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    service_id = session.get_service_model(service).service_id.hyphenize()
    own = f"AWS_ENDPOINT_URL_{service_id.replace('-', '_').upper()}"
    return environ.get(own) or environ.get("AWS_ENDPOINT_URL") or None


def metadata_region(attempts: int = 3) -> str | None:
    """The region of the instance this runs on, from its metadata (IMDSv2, where botocore's
    instance-role provider looks: ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` too); ``None`` off EC2.
    botocore does not take a client's region from there itself (1.29 nor 1.44)."""
    from botocore.utils import InstanceMetadataRegionFetcher

    session = botocore.session.Session()
    config = {key: session.get_config_variable(key) for key in (
        "ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode")}  # fmt: skip
    return InstanceMetadataRegionFetcher(timeout=2, num_attempts=attempts,
                                         config=config).retrieve_region()  # fmt: skip


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


@dataclass(frozen=True)
class Budget:
    """How this process's requests go (``run_client``): ``per_second`` to each service at most,
    botocore's ``retry_mode`` (``None``: standard, or ``AWS_RETRY_MODE``), and ``attempts`` per
    request unless ``AWS_MAX_ATTEMPTS`` or the config file says."""

    per_second: float | None = None  # None: 90% of REQUESTS_PER_SECOND
    retry_mode: str | None = None
    attempts: int = MAX_ATTEMPTS


_budget = Budget()


def configure(budget: Budget) -> None:
    """Send this process's requests within ``budget`` from now on (the host agent: its app's
    ``pull_budget``, adaptive retries), forgetting the clients made before."""
    global _budget
    with _lock:
        _budget = budget
        _clients.clear()
        _pacers.clear()


def run_client(service: str, region: str) -> Any:
    """The run's client for ``service`` in ``region``, paced: one per process, because the retry
    mode's state and the pacing must be shared by every host of the run."""
    key = (service, region)
    with _lock:
        if key not in _clients:
            found = client(service, region, retry_mode=_budget.retry_mode,
                           default_attempts=_budget.attempts)  # fmt: skip
            per_second = _budget.per_second or REQUESTS_PER_SECOND * _PACE
            pacer = _pacers.setdefault(key, _Pacer(per_second))
            found.meta.events.register("before-send", pacer)
            _clients[key] = found
        return _clients[key]


def call(service: str, region: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    """``operation`` (``GetParameters``...) through the run's client, counted in ``api_calls``."""
    api_calls[operation] += 1
    method = getattr(run_client(service, region), _snake(operation))
    return method(**kwargs)


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def reason(error: Exception, withheld: Iterable[str] = ()) -> str:
    """AWS's error code and message, or botocore's text (no credentials, endpoint unreachable).

    + withheld: values the message must not quote (a validation message can quote the input):
      when it quotes one, only the code is kept
    """
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        message = str(detail.get("Message", ""))
        if any(v and v in message for v in withheld):
            message = "(message withheld: it quotes a value)"
        return code_and_message(detail.get("Code", "error"), message)
    return one_line(str(error))


def unreachable(error: Exception) -> bool:
    """Whether ``error`` says AWS could not be reached at all (no connection, a timeout, no
    credentials found), rather than that it answered with a refusal."""
    return isinstance(error, BotoCoreError) and not isinstance(error, ClientError)


def code_and_message(code: str, message: str) -> str:
    """``Code: message``, as AWS reports an error (also inside an answer: ``Errors``), on one
    line: a message can quote a name, which can hold anything."""
    return one_line(f"{code}: {message}".rstrip(": "))


def reset() -> None:
    """Forget the run's clients, pacing and counts (tests, benchmarks: a new run)."""
    global _budget
    with _lock:
        _budget = Budget()
        _clients.clear()
        _pacers.clear()
        api_calls.clear()
