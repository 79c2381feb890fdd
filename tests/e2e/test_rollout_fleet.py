"""A rolling deploy over more hosts than pyinfra runs at once (``--parallel``) finishes, in
inventory order: one host at a time, each after the one before it was healthy, or, by default,
a canary alone and then the rest in batches. A first deploy onto these fresh hosts takes a few
commands per host."""

from __future__ import annotations

import itertools

import pytest

from tests.e2e.conftest import (
    BLOCKS,
    WEB,
    Deployer,
    Host,
    aws_env,
    booted,
    commands_sent,
    example_parameters,
    write_inventory,
)

PATH = "/e2e/fleet"
COUNT = 6
PARAMETERS = example_parameters(PATH, "fleet")


@pytest.fixture(scope="module")
def fleet() -> list[Host]:
    with booted(BLOCKS["fleet"], COUNT) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def fleet_deployer(fleet, stand_in, tmp_path_factory) -> Deployer:
    path = tmp_path_factory.mktemp("fleet") / "fleet.py"
    # Inventory order is not name order: the rollout must follow the file, not sort.
    order = [fleet[i] for i in (3, 0, 5, 1, 4, 2)]
    fleet_deployer = Deployer(write_inventory(path, "staging", order), aws_env(stand_in))
    fleet_deployer.order = order
    return fleet_deployer


def test_a_rolling_deploy_over_more_hosts_than_parallel_finishes_in_inventory_order(
    fleet_deployer, stand_in
):
    stand_in.put(PARAMETERS)

    one_by_one = {"ssm_path": PATH, "rollout_canary": 0, "rollout_batch": 1}
    # -vv: pyinfra prints each command it sends (as bench/deploy.py counts them).
    result = fleet_deployer.run("-vv", "--parallel", "2", data=one_by_one, timeout=600)

    assert result.returncode == 0, result.output[-3000:]
    # Fresh hosts from an image with the runtime: the state read, one provisioning command (user,
    # directories, journald, the release from stdin), one activation.
    commands = commands_sent(result.output)
    assert sorted(commands) == sorted(h.name for h in fleet_deployer.order)
    assert max(commands.values()) <= 4, commands
    hosts = fleet_deployer.order
    for host in hosts:
        assert host.get("/healthz") == b"ok\n"
    starts = [h.started_at(WEB) for h in hosts]
    assert starts == sorted(starts), [h.name for h in hosts]
    # Each host starts only once the one before it was healthy and stayed up (health_settle 2 s).
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= 2_000_000, (earlier, later)
    again = fleet_deployer.run("--parallel", "2", data=one_by_one)
    assert again.returncode == 0
    assert {name: n for name, n in again.changed.items() if n} == {}
    assert all(h.service(WEB)["NRestarts"] == "0" for h in hosts)


def test_by_default_a_canary_goes_alone_then_the_rest_in_batches_of_half_the_hosts(
    fleet_deployer, stand_in
):
    # A host is done only once it stayed up this long after its health check: one host after
    # another would start at least that far apart.
    data = {"ssm_path": PATH, "health_settle": 5}
    stand_in.put(PARAMETERS)
    assert fleet_deployer.run(data=data).returncode == 0
    stand_in.put({f"{PATH}/API_KEY": "FAKE-fleet-key-2"})
    try:
        result = fleet_deployer.run(deploy="rotate.py", data=data)

        assert result.returncode == 0, result.output[-3000:]
        starts = [h.started_at(WEB) for h in fleet_deployer.order]
        # 6 hosts: the canary, then 3 (50%, rounded up), then the last 2; each wave only once
        # every host of the one before it was healthy and settled.
        canary, second, third = starts[:1], starts[1:4], starts[4:]
        assert min(second) - max(canary) >= 5_000_000, starts
        assert min(third) - max(second) >= 5_000_000, starts
        # A wave's hosts restart together, not one after another.
        assert max(second) - min(second) < 5_000_000, starts
        assert max(third) - min(third) < 5_000_000, starts
    finally:
        stand_in.put(PARAMETERS)
