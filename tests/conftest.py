"""Shared fixtures: the local AWS stand-in (moto server), one that enforces IAM policies, and the
instance metadata stand-in, used by integration and e2e tests; and how the suite runs in parallel
workers (pytest-xdist: ``make test``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from lab import aws, imds
from lab.ports import free_port

IN_CI = bool(os.environ.get("CI"))
TESTS = Path(__file__).resolve().parent
E2E = TESTS / "e2e"

#: Seconds each file of 5 s or more took in a whole run (make test: 6 workers on 2 cores, so each
#: about three times what it takes alone). Under pytest-xdist, files go to the workers slowest
#: first (--dist loadfile keeps a file on one worker, its module-scoped hosts booted once), so that
#: no slow file starts last and runs on alone; the rest follow in their own order.
MEASURED = {
    "e2e/test_pull.py": 343,
    "e2e/test_database.py": 318,
    "e2e/test_rollout_faults.py": 305,
    "e2e/test_processes.py": 246,
    "e2e/test_containers.py": 216,
    "e2e/test_fleet_ssm.py": 197,
    "e2e/test_rotation_timer.py": 187,
    "e2e/test_rollout.py": 156,
    "e2e/test_drift.py": 156,
    "e2e/test_credentials.py": 141,
    "e2e/test_pull_deploy.py": 124,
    "e2e/test_several_apps.py": 123,
    "e2e/test_leaks.py": 119,
    "e2e/test_rollback.py": 111,
    "e2e/test_rollout_fleet.py": 98,
    "e2e/test_sources_e2e.py": 98,
    "e2e/test_bootstrap.py": 93,
    "integration/test_fleet.py": 140,
    "e2e/test_deploy.py": 85,
    "e2e/test_container_ecr.py": 72,
    "integration/test_ec2_inventory.py": 60,
    "e2e/test_host_hardening.py": 59,
    "e2e/test_iam_deploy.py": 56,
    "integration/test_package.py": 30,
    "e2e/test_refused_input.py": 30,
    "integration/test_iam.py": 29,
    "integration/test_parity.py": 28,
    "integration/test_imds.py": 27,
    "integration/test_db_rotate.py": 27,
    "integration/test_import.py": 25,
    "e2e/test_unit_verify.py": 24,
    "e2e/test_dotenv_roundtrip.py": 24,
    "e2e/test_env_corpus.py": 24,
    "e2e/test_release_files.py": 23,
    "unit/test_scheduler.py": 21,
    "integration/test_faults.py": 19,
    "e2e/test_lab_containers.py": 19,
    "integration/test_lab_aws.py": 19,
    "integration/test_errors.py": 18,
    "integration/test_requirement_origin.py": 16,
    "unit/test_odd_host_data.py": 15,
    "integration/test_inventory_layers.py": 14,
    "e2e/test_own_app.py": 13,
    "e2e/test_provision_output.py": 12,
    "integration/test_scan_baseline.py": 11,
    "integration/test_python_app.py": 10,
    "unit/test_envfile.py": 10,
    "integration/test_sources.py": 8,
    "unit/test_sources.py": 7,
    "e2e/test_bastion.py": 7,
    "unit/test_plan.py": 7,
    "unit/test_aws.py": 6,
    "unit/test_report.py": 6,
    "e2e/test_imds_host.py": 6,
    "unit/test_scan.py": 5,
    "unit/test_golden_plans.py": 5,
}


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: three workers a core, as many as the port bases leave room for. The
    end-to-end tests wait much (hosts, health checks, settle times), so more workers than cores
    pay off until the cores are busy (measured on 2 cores: docs/tests.md)."""
    from tests.e2e.conftest import BASE_APP_PORT, BASE_SSH_PORT, WORKER_STRIDE

    room = abs(BASE_APP_PORT - BASE_SSH_PORT) // WORKER_STRIDE
    return max(1, min(3 * (os.cpu_count() or 1), room))


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


@dataclass
class EnforcingStandIn(StandIn):
    """A moto server that checks every request against the caller's IAM policies (resource ARNs
    included: ``lab.moto_server``). ``client`` acts as ``admin``, a user allowed everything;
    ``user`` makes one allowed exactly a policy."""

    admin: dict[str, str] = field(default_factory=dict, repr=False)

    def client(self, service: str, credentials: Mapping[str, str] | None = None):
        return aws.client(service, self.port, credentials=dict(credentials or self.admin))

    def user(self, name: str, policy: Mapping[str, Any] | None) -> dict[str, str]:
        """A new IAM user whose only permissions are ``policy`` (inline), and its key as the
        variables boto3 reads."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}  # fmt: skip


def aws_only(monkeypatch, stand_in: StandIn, **env: str) -> None:
    """boto3's environment for the rest of the test: the stand-in's endpoint and region, one
    attempt a request, and ``env`` alone (an IAM user's key: ``EnforcingStandIn.user``); no
    credentials or configuration file of this machine's."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stand_in.port}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def db_rotate_policy(stand_in: StandIn, *places: str) -> dict[str, Any]:
    """``python -m ssmenv db rotate PLACES --policy`` as a user runs it, against ``stand_in``
    (the account asked of STS): the policy it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "ssmenv", "db", "rotate", *places, "--policy",
         "inventories/prod.py"],
        cwd=TESTS.parent, capture_output=True, text=True, timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **stand_in.env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def enforcing_aws(tmp_path_factory) -> Iterator[EnforcingStandIn]:
    """A stand-in of this module's own that enforces IAM from its first request on, but for
    making its admin user."""
    port = free_port()
    proc = aws.start(port, tmp_path_factory.mktemp("moto-iam") / "moto.log")
    try:
        admin = aws.admin(port)
        aws.enforce(port)
        env = {**aws.environment(port), **admin}
        yield EnforcingStandIn(port, env, admin)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Metadata:
    """A metadata stand-in that runs (``lab.imds``): its port, and the instance it serves."""

    port: int
    instance: imds.Instance

    @property
    def env(self) -> dict[str, str]:
        """What sends botocore's instance-role provider to it."""
        return imds.environment(self.port)

    def token(self, ttl: int = 60) -> str:
        return imds_request(self.port, "PUT", "/latest/api/token",
                            {"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})[1]  # fmt: skip

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        headers = {"X-aws-ec2-metadata-token": token or self.token()}
        return imds_request(self.port, "GET", f"/latest/{path}", headers)


def imds_request(port: int, method: str, path: str, headers: Mapping[str, str]
                 ) -> tuple[int, str]:  # fmt: skip
    """One request to a metadata stand-in: its status and body."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers=dict(headers))  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def instance_metadata(tmp_path) -> Iterator[Callable[..., Metadata]]:
    """Start metadata stand-ins: ``instance_metadata(aws_stand_in, role, policy, tags=...,
    metadata_tags=...)`` makes the instance and its role in the AWS stand-in (as its admin when
    it enforces IAM) and serves it on a free port; stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(stand_in: StandIn, role: str, policy: Mapping[str, Any] | None, **kwargs: Any
              ) -> Metadata:  # fmt: skip
        credentials = getattr(stand_in, "admin", None)
        instance = imds.launch(stand_in.port, role, policy, credentials=credentials, **kwargs)
        port = free_port()
        imds.write_instance(tmp_path / f"imds-{port}.json", instance)
        started.append(imds.start(port, tmp_path / f"imds-{port}.json",
                                  tmp_path / f"imds-{port}.log"))  # fmt: skip
        return Metadata(port, instance)

    yield start
    for proc in started:
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
