"""Shared fixtures: the local AWS stand-in (moto server), used by integration and e2e tests; and
how the suite runs in parallel workers (pytest-xdist: ``make test``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import aws
from lab.ports import free_port

IN_CI = bool(os.environ.get("CI"))
TESTS = Path(__file__).resolve().parent
E2E = TESTS / "e2e"

#: Seconds each slow file took, measured in a whole run (make test). Under pytest-xdist, files go
#: to the workers slowest first (--dist loadfile keeps a file on one worker, its module-scoped
#: hosts booted once), so that no slow file starts last and runs on alone; the rest follow in
#: their own order.
MEASURED = {
    "e2e/test_rollout_faults.py": 147,
    "e2e/test_processes.py": 107,
    "e2e/test_containers.py": 95,
    "e2e/test_rotation_timer.py": 86,
    "e2e/test_credentials.py": 70,
    "e2e/test_rollout.py": 64,
    "e2e/test_rollback.py": 61,
    "e2e/test_several_apps.py": 59,
    "e2e/test_host_hardening.py": 57,
    "e2e/test_drift.py": 55,
    "e2e/test_rollout_fleet.py": 54,
    "e2e/test_leaks.py": 53,
    "e2e/test_sources_e2e.py": 40,
    "e2e/test_deploy.py": 36,
    "e2e/test_container_ecr.py": 29,
    "e2e/test_bootstrap.py": 24,
    "e2e/test_unit_verify.py": 12,
    "e2e/test_release_files.py": 11,
    "e2e/test_lab_containers.py": 10,
    "e2e/test_env_corpus.py": 8,
    "e2e/test_dotenv_roundtrip.py": 8,
    "e2e/test_own_app.py": 6,
    "e2e/test_refused_input.py": 6,
    "e2e/test_provision_output.py": 5,
    "integration/test_parity.py": 6,
    "integration/test_lab_aws.py": 6,
    "e2e/test_bastion.py": 3,
}


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: twice the cores. The end-to-end tests mostly wait on hosts, health checks
    and settle times, so more workers than cores pay off (measured on 2 cores: README, Tests)."""
    return 2 * (os.cpu_count() or 1)


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker: the slowest files first (``MEASURED``), each file's tests in
    their own order. Every worker sorts alike, as xdist requires."""
    if not hasattr(config, "workerinput"):
        return

    def weight(item: pytest.Item) -> int:
        relative = Path(str(item.path)).resolve().relative_to(TESTS).as_posix()
        return -MEASURED.get(relative, 0)

    items.sort(key=weight)  # stable: the order within a file stays


def _runs_e2e(config) -> bool:
    """Whether the session's paths include end-to-end tests."""
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == E2E or E2E in path.parents or path in E2E.parents:
            return True
    return False


def _power_off_suite_hosts(config) -> None:
    """Every host this suite's workers boot (any worker number: one that was killed, or a run
    that was), powered off: none is left to hold a name or a port, or be taken up as it is."""
    if hasattr(config, "workerinput") or os.geteuid() != 0 or not _runs_e2e(config):
        return
    from lab import hosts as lab
    from tests.e2e.conftest import suite_hosts

    for name in lab.down_matching(suite_hosts()):
        print(f"powered off {name}: left running")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _power_off_suite_hosts(session.config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _power_off_suite_hosts(session.config)


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
