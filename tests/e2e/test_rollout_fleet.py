"""A rolling deploy over more hosts than pyinfra runs at once (``--parallel``) finishes, one host
at a time in inventory order, each after the one before it was healthy."""

from __future__ import annotations

import itertools

import pytest

from lab import hosts as lab
from tests.e2e.conftest import APP_PORT_BASE, PREFIX, SSH_PORT_BASE, Deployer, Host
from tests.e2e.test_rollout import UNIT, started_at

PATH = "/e2e/fleet"
COUNT = 6
PARAMETERS = {
    f"{PATH}/DATABASE_URL": "postgres://app:FAKE-fleet@db.internal:5432/app",
    f"{PATH}/API_KEY": "FAKE-fleet-key",
    f"{PATH}/SESSION_SECRET": "FAKE-fleet-session",
}


@pytest.fixture(scope="module")
def fleet() -> list[Host]:
    booted = lab.up(f"{PREFIX}f", COUNT, SSH_PORT_BASE + 60)
    try:
        yield [Host(h.name, h.ssh_port, APP_PORT_BASE + 60 + i) for i, h in enumerate(booted)]
    finally:
        for h in booted:
            lab.power_off(h)


@pytest.fixture(scope="module")
def fleet_deployer(fleet, deployer, tmp_path_factory) -> Deployer:
    path = tmp_path_factory.mktemp("fleet") / "fleet.py"
    # Inventory order is not name order: the rollout must follow the file, not sort.
    order = [fleet[i] for i in (3, 0, 5, 1, 4, 2)]
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port})
               for h in order]  # fmt: skip
    path.write_text(f"staging = {entries!r}\n")
    fleet_deployer = Deployer(path, deployer.env)
    fleet_deployer.order = order
    return fleet_deployer


def test_a_rolling_deploy_over_more_hosts_than_parallel_finishes_in_inventory_order(
    fleet_deployer, stand_in
):
    stand_in.put(PARAMETERS)

    result = fleet_deployer.run("--parallel", "2", data={"ssm_path": PATH}, timeout=600)

    assert result.returncode == 0, result.output[-3000:]
    hosts = fleet_deployer.order
    for host in hosts:
        assert host.get("/healthz") == b"ok\n"
    starts = [started_at(h) for h in hosts]
    assert starts == sorted(starts), [h.name for h in hosts]
    # Each host starts only once the one before it was healthy and stayed up (health_settle 2 s).
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= 2_000_000, (earlier, later)
    again = fleet_deployer.run("--parallel", "2", data={"ssm_path": PATH})
    assert again.returncode == 0
    assert {name: n for name, n in again.changed.items() if n} == {}
    assert all(h.service(UNIT)["NRestarts"] == "0" for h in hosts)
