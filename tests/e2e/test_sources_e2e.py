"""Configuration sources end to end: the real ``pyinfra`` CLI, two real hosts, the AWS stand-in
behind lab.faults' proxy.

One deploy mixes an SSM path, SSM parameters by name (one pinned to an older version) and Secrets
Manager (a JSON secret and a plain one), through throttling: every value reaches the running
process, and the proxy counts each source read once for both hosts. Then each fault stops the run
with one error naming the parameter or secret, and no host changes.
"""

from __future__ import annotations

import json
import math

import pytest

from lab import faults
from lab.ports import free_port
from tests.e2e.conftest import Deployer

APP = "example-app"
UNIT = f"{APP}-web.service"  # the web process of the example app's Procfile
PATH = "/src/example-app"
BY_PATH = {
    f"{PATH}/DATABASE_URL": "postgres://app:FAKE-src-password@db.internal:5432/app",
    f"{PATH}/SESSION_SECRET": "FAKE src session 'secret' $HOME",
    **{f"{PATH}/P{i:02d}": f"FAKE-src-path-{i}" for i in range(10)},
}  # 12 parameters: 2 pages
BY_NAME = {f"/src/shared/N{i:02d}": f"FAKE-src-name-{i}" for i in range(10)}  # + 1 pinned: 2 calls
PINNED = "/src/shared/ROTATED"
DB = {"USER": "app", "PASSWORD": "FAKE-src-db-password", "PORT": 5432}
SECRETS = {
    "src/example-app/db": json.dumps(DB),
    "src/example-app/api": "FAKE-src-api-key",
    "src/example-app/broken": "FAKE-src-not-json {",
}
DATA = {
    "ssm_path": PATH,
    "ssm_parameters": [*BY_NAME, f"{PINNED}:1"],
    "secrets": [
        {"id": "src/example-app/db", "prefix": "DB_"},
        {"id": "src/example-app/api", "variable": "API_KEY"},
    ],
}


def expected_environment() -> dict[str, str]:
    return {
        **{name.rsplit("/", 1)[-1]: value for name, value in {**BY_PATH, **BY_NAME}.items()},
        "ROTATED": "FAKE-src-rotated-v1",
        "DB_USER": "app",
        "DB_PASSWORD": "FAKE-src-db-password",
        "DB_PORT": "5432",
        "API_KEY": "FAKE-src-api-key",
    }


@pytest.fixture(scope="module")
def proxy(stand_in):
    stand_in.put({**BY_PATH, **BY_NAME})
    for value in ("FAKE-src-rotated-v1", "FAKE-src-rotated-v2"):
        stand_in.put({PINNED: value})
    client = stand_in.client("secretsmanager")
    for name, value in SECRETS.items():
        client.create_secret(Name=name, SecretString=value)
    with faults.FaultProxy(stand_in.env["AWS_ENDPOINT_URL"]) as running:
        yield running


@pytest.fixture(scope="module")
def via_proxy(deployer, proxy) -> Deployer:
    return Deployer(deployer.inventory, {**deployer.env, "AWS_ENDPOINT_URL": proxy.url})


@pytest.fixture(scope="module")
def mixed_deploy(via_proxy, proxy):
    proxy.set_faults(faults.throttling(2))
    result = via_proxy.run(data=DATA)
    return result, dict(proxy.forwarded), dict(proxy.injected)


def test_ssm_path_names_and_secrets_reach_the_process_through_throttling(mixed_deploy, lab_hosts):
    result, _, injected = mixed_deploy
    assert result.returncode == 0, result.output
    assert injected == {"GetParametersByPath": 2}  # throttled, then retried by botocore
    for host in lab_hosts:
        environ = host.process_environ(UNIT)
        for name, value in expected_environment().items():
            assert environ.get(name) == value.encode(), f"{host.name}: {name} differs"
        assert environ["PORT"] == str(host.app_port).encode()


def test_two_hosts_read_each_source_once_in_batches(mixed_deploy):
    _, forwarded, _ = mixed_deploy
    assert forwarded == {
        "GetParametersByPath": math.ceil(len(BY_PATH) / 10),
        "GetParameters": math.ceil((len(BY_NAME) + 1) / 10),
        "BatchGetSecretValue": 1,
    }


FAULTS = {
    "access-denied": (
        [faults.access_denied("GetParametersByPath")],
        {},
        f"SSM path {PATH} (us-east-1): AccessDeniedException: User: ",
    ),
    "parameter-not-found": (
        [],
        {"ssm_parameters": [*DATA["ssm_parameters"], "/src/shared/MISSING"]},
        "MISSING: SSM parameter /src/shared/MISSING: not found",
    ),
    "kms-decrypt-failure": (
        [faults.decryption_failure("src/example-app/db")],
        {},
        "secret src/example-app/db: DecryptionFailure: Secrets Manager can't decrypt",
    ),
    "malformed-json-secret": (
        [],
        {"secrets": [*DATA["secrets"], "src/example-app/broken"]},
        "secret src/example-app/broken: is not valid JSON (Expecting value at line 1 column 1)",
    ),
    "unreachable-endpoint": (
        None,  # not the proxy: a port nothing listens on
        {},
        f"SSM path {PATH} (us-east-1): Could not connect to the endpoint URL",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_source_fault_is_one_clear_error_and_no_host_changes(
    fault, mixed_deploy, via_proxy, proxy, lab_hosts
):
    assert mixed_deploy[0].returncode == 0, f"the mixed deploy failed:\n{mixed_deploy[0].output}"
    injected, data, expected = FAULTS[fault]
    watched = [f"/etc/{APP}.env", f"/etc/{APP}.env.previous", f"/etc/systemd/system/{UNIT}"]
    before = {h.name: ([h.file_state(p) for p in watched], h.service(UNIT)) for h in lab_hosts}

    deployer = via_proxy
    if injected is None:
        closed = f"http://127.0.0.1:{free_port()}"
        deployer = Deployer(
            via_proxy.inventory,
            {**via_proxy.env, "AWS_ENDPOINT_URL": closed, "AWS_MAX_ATTEMPTS": "2"},
        )
    proxy.set_faults(*(injected or []))
    result = deployer.run(data={**DATA, **data})

    assert result.returncode != 0
    assert result.output.count(expected) == 1, result.output
    assert "Starting operation" not in result.output
    assert "FAKE-src" not in result.output
    for host in lab_hosts:
        state = ([host.file_state(p) for p in watched], host.service(UNIT))
        assert state == before[host.name], f"{host.name} changed"
