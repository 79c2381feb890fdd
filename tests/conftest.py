"""Shared fixtures: the local AWS stand-in (moto server), used by integration and e2e tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from lab import aws
from lab.ports import free_port

IN_CI = bool(os.environ.get("CI"))

# Property tests judge what the code returns, never how long it took: on a loaded machine (the e2e
# hosts of parallel workers) a per-example deadline or hypothesis' "too slow" check would fail a
# correct test by timing.
settings.register_profile(
    "ssmenv", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ssmenv")


@dataclass
class StandIn:
    """A moto server on 127.0.0.1 and the environment that points boto3 at it."""

    port: int
    env: dict[str, str]

    def client(self, service: str):
        return aws.client(service, self.port)

    def ssm(self):
        return self.client("ssm")

    def put(self, parameters: dict[str, str], kind: str = "SecureString") -> None:
        ssm = self.ssm()
        for name, value in parameters.items():
            ssm.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)

    def delete(self, *names: str) -> None:
        self.ssm().delete_parameters(Names=list(names))


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory) -> Iterator[StandIn]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = aws.start(port, Path(log))
    try:
        yield StandIn(port, aws.environment(port))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def unreachable_aws(monkeypatch) -> None:
    """boto3 pointed at a closed port (discard), fake credentials, one attempt only."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "FAKE")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def aws_env(stand_in, monkeypatch) -> StandIn:
    """The stand-in's variables in this process's environment, as a deploy would have them."""
    for key, value in stand_in.env.items():
        monkeypatch.setenv(key, value)
    return stand_in
