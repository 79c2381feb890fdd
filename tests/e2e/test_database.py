"""End to end with a real database: the example app on two hosts, its rows in the lab's own
PostgreSQL (lab.postgres, on 127.0.0.1 at a port of this worker's block), its health check the
query ``/healthz/db`` asks (``health_path``), so a deploy whose database credentials do not work
fails the health gate on the canary and rolls back.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from lab import postgres
from tests.conftest import StandIn
from tests.e2e.conftest import (
    BLOCKS,
    WEB,
    Base,
    Deployer,
    Host,
    aws_env,
    booted,
    live_release,
    sha256,
    write_inventory,
)

BLOCK = BLOCKS["database"]
#: The database's port: the block's last app port, clear of its hosts' own.
DB_PORT = BLOCK.app_port + BLOCK.size - 1
PATH = "/e2e/database"
APP_PASSWORD = "FAKE-db-app-password-1"
ADMIN, ADMIN_PASSWORD = "ssmenv_admin", "FAKE-db-admin-password-1"


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Cluster]:
    cluster = postgres.up(DB_PORT)
    try:
        postgres.create_app(cluster, APP_PASSWORD, ADMIN, ADMIN_PASSWORD)
        yield cluster
    finally:
        postgres.down(DB_PORT)


@pytest.fixture(scope="module")
def lab_hosts() -> Iterator[list[Host]]:
    with booted(BLOCK, 2) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def base(database: postgres.Cluster) -> Base:
    """The example app with a real DATABASE_URL, health-checked by a query."""
    values = {
        f"{PATH}/DATABASE_URL": database.url("app", APP_PASSWORD),
        f"{PATH}/API_KEY": "FAKE-db-key-1",
        f"{PATH}/SESSION_SECRET": "FAKE-db-session",
    }
    return Base(values, {"ssm_path": PATH, "health_path": "/healthz/db", "health_timeout": 10})


@pytest.fixture(scope="module")
def inventory(lab_hosts, tmp_path_factory):
    return write_inventory(tmp_path_factory.mktemp("database") / "db.py", "staging", lab_hosts)


@pytest.fixture(scope="module")
def deployer(inventory, stand_in: StandIn) -> Deployer:
    return Deployer(inventory, aws_env(stand_in))


def post(host: Host, path: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{host.app_port}{path}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.read()


def test_the_example_app_writes_and_reads_its_rows_in_postgres(lab_hosts, deployed, database):
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app\n"
        rows = json.loads(post(host, "/visits"))
        assert rows[0]["host"] == host.name and rows[0]["db_user"] == "app"
    # Both hosts wrote to the one database: each sees the other's row.
    assert {row["host"] for row in json.loads(lab_hosts[0].get("/visits"))} == {
        h.name for h in lab_hosts}
    assert database.psql("SELECT count(DISTINCT host) FROM visits").strip() == "2"


def test_a_wrong_database_password_fails_the_health_gate_and_rolls_back(
    lab_hosts, deployed, converge, base, deployer, stand_in
):
    canary, other = lab_hosts
    before = {h.name: (live_release(h), h.invocations(WEB)) for h in lab_hosts}
    wrong = base.value("DATABASE_URL").replace(APP_PASSWORD, "FAKE-wrong-password")
    stand_in.put({base.parameter("DATABASE_URL"): wrong})

    result = deployer.run(data=base.data)

    assert result.returncode != 0
    assert f"[{canary.name}] ssmenv: rolled back" in result.output, result.output[-3000:]
    # The canary serves with the previous credentials again; the other host was never touched.
    assert canary.get("/healthz/db") == b"ok app\n"
    assert canary.fingerprints()["DATABASE_URL"] == sha256(base.value("DATABASE_URL"))
    assert (live_release(other), other.invocations(WEB)) == before[other.name]
    assert other.get("/healthz/db") == b"ok app\n"
    assert "FAKE-wrong-password" not in result.output

