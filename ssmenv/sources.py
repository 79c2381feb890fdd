"""Configuration sources: AWS SSM Parameter Store, read once per run for every host.

pyinfra executes the deploy file once per host; the cache here lives in an imported module, so it
holds for the whole run and hosts whose data point at the same path share one read. boto3 finds
credentials, region and endpoint the standard way (``AWS_PROFILE``, instance roles,
``AWS_ENDPOINT_URL``...); nothing here knows whether it talks to AWS or to a stand-in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ssmenv.errors import SourceError

# Standard retry mode backs off on ThrottlingException; bounded so a broken endpoint fails fast.
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5, read_timeout=20
)


@dataclass(frozen=True)
class Parameter:
    """One SSM parameter; ``repr`` never shows the value."""

    name: str
    value: str = field(repr=False)
    version: int
    type: str


_cache: dict[tuple[str, str], dict[str, Parameter]] = {}
# pyinfra runs hosts in gevent greenlets; one lock keeps two hosts from reading the same path twice.
_lock = threading.Lock()
api_calls = 0  # SSM requests made in this process, for benchmarks


def ssm_client(region: str):
    return boto3.session.Session().client("ssm", region_name=region, config=_BOTO_CONFIG)


def parameters_by_path(region: str, path: str) -> dict[str, Parameter]:
    """Every parameter under ``path``, recursive and decrypted, by full name; read once per run."""
    key = (region, path)
    with _lock:
        if key not in _cache:
            _cache[key] = _read_path(region, path)
        return _cache[key]


def _read_path(region: str, path: str) -> dict[str, Parameter]:
    global api_calls
    client = ssm_client(region)
    found: dict[str, Parameter] = {}
    token = None
    try:
        # Pages may be short or empty while NextToken is present: follow the token, not the count.
        while True:
            kwargs = {"Path": path, "Recursive": True, "WithDecryption": True, "MaxResults": 10}
            if token:
                kwargs["NextToken"] = token
            api_calls += 1
            page = client.get_parameters_by_path(**kwargs)
            for p in page.get("Parameters", []):
                found[p["Name"]] = Parameter(p["Name"], p["Value"], int(p["Version"]), p["Type"])
            token = page.get("NextToken")
            if not token:
                return found
    except ClientError as e:
        error = e.response.get("Error", {})
        raise SourceError(
            f"SSM path {path} ({region}): {error.get('Code', 'error')}: {error.get('Message', '')}"
        ) from None
    except BotoCoreError as e:
        # e.g. no credentials, endpoint unreachable; botocore's text names no value.
        raise SourceError(f"SSM path {path} ({region}): {e}") from None


def clear_cache() -> None:
    with _lock:
        _cache.clear()
