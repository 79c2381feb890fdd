"""Several processes from one release (the example app's Procfile: web and worker), each its own
unit with the same env file: placed, scaled, rotated, rolled back and removed together."""

from __future__ import annotations

import shutil

import pytest

from ssmenv import envfile
from tests.e2e.conftest import (
    APP,
    REPO,
    TARGET,
    WEB,
    WORKER,
    Base,
    crashed,
    example_app,
    sha256,
)

PATH = "/e2e/processes"
BASE = Base.example(PATH, "processes")


@pytest.fixture(scope="module")
def base() -> Base:
    return BASE


def env_file(host) -> dict[str, bytes]:
    return {k: v.encode() for k, v in envfile.parse(host.run(f"sudo cat /etc/{APP}.env")).items()}


def app_environ(host, unit: str) -> dict[str, bytes]:
    """The unit's process environment: the env file's names, and PORT if it has one."""
    environ = host.process_environ(unit)
    return {k: v for k, v in environ.items() if k in env_file(host) or k == "PORT"}


def expected_environ(host, port: int | None) -> dict[str, bytes]:
    values = env_file(host)
    assert {k.rsplit("/", 1)[1]: v.encode() for k, v in BASE.values.items()}.items() <= (
        values.items()
    )
    return {**values, "PORT": str(port).encode()} if port else values


def web_processes(host) -> int:
    """How many copies of the web process run on the host."""
    return host.run("ps -eo args").splitlines().count("/usr/bin/node server.js")


def test_each_process_runs_in_its_own_unit_with_exactly_the_configured_environment(
    deployed, lab_hosts
):
    for host in lab_hosts:
        for unit in (WEB, WORKER, TARGET):
            assert host.service(unit)["ActiveState"] == "active", (host.name, unit)
        assert app_environ(host, WEB) == expected_environ(host, host.app_port)
        # Only a process that listens gets PORT; the worker has the same values otherwise.
        assert app_environ(host, WORKER) == expected_environ(host, None)
        assert host.get("/healthz") == b"ok\n"
        assert "PartOf=example-app.target" in host.run(f"systemctl cat {WORKER}")


def test_a_rotation_restarts_every_process_once_and_a_no_op_redeploy_none(
    deployed, deployer, stand_in, lab_hosts
):
    before = {h.name: h.invocations(WEB, WORKER) for h in lab_hosts}
    stand_in.put({f"{PATH}/API_KEY": "FAKE-processes-key-2"})
    try:
        rotated = deployer.run(deploy="rotate.py", data=BASE.data)
        assert rotated.returncode == 0, rotated.output[-3000:]
        after = {h.name: h.invocations(WEB, WORKER) for h in lab_hosts}
        for host in lab_hosts:
            for unit in (WEB, WORKER):
                assert after[host.name][unit] != before[host.name][unit], (host.name, unit)
                assert host.service(unit)["NRestarts"] == "0"
            assert app_environ(host, WORKER)["API_KEY"] == b"FAKE-processes-key-2"
            assert host.fingerprints()["API_KEY"] == sha256("FAKE-processes-key-2")

        again = deployer.run(data=BASE.data)
        assert again.returncode == 0
        assert {name: n for name, n in again.changed.items() if n} == {}
        assert {h.name: h.invocations(WEB, WORKER) for h in lab_hosts} == after
    finally:
        stand_in.put(BASE.values)


def test_a_worker_that_exits_at_start_rolls_back_the_whole_app_and_stops_the_rollout(
    deployed, deployer, lab_hosts, tmp_path
):
    first, second = lab_hosts
    assert deployer.run(data=BASE.data).returncode == 0
    live = {h.name: h.run(f"readlink /opt/{APP}/current").strip() for h in lab_hosts}
    web_before = second.invocations(WEB)

    broken = example_app(tmp_path, worker="/usr/bin/node -e process.exit(1)")
    result = deployer.run(data={**BASE.data, "app_source": str(broken), "health_timeout": 30})

    assert result.returncode != 0
    assert crashed(result.output, first.name, WORKER, 1), result.output[-3000:]
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in (
        result.output
    )
    assert f"[{second.name}] not activated: the rollout stopped after {first.name}" in (
        result.output
    )
    for host in lab_hosts:
        assert host.run(f"readlink /opt/{APP}/current").strip() == live[host.name]
        assert host.service(WEB)["ActiveState"] == "active"
        assert host.service(WORKER)["ActiveState"] == "active"
    assert second.invocations(WEB) == web_before


def test_workers_scale_to_three_instances_with_one_environment_and_back_down(
    deployed, deployer, lab_hosts
):
    first = lab_hosts[0]
    limit = ("--limit", first.name)
    instances = [f"{APP}-worker@{i}.service" for i in (1, 2, 3)]

    three = deployer.run(*limit, data={**BASE.data, "app_processes": {"web": 1, "worker": 3}})

    assert three.returncode == 0, three.output[-3000:]
    assert first.service(WORKER)["ActiveState"] != "active"  # the plain unit gave way
    environs = [app_environ(first, unit) for unit in instances]
    assert environs == [expected_environ(first, None)] * 3

    one = deployer.run(*limit, data={**BASE.data, "app_processes": {"web": 1, "worker": 1}})

    assert one.returncode == 0, one.output[-3000:]
    assert first.service(instances[0])["ActiveState"] == "active"
    for unit in instances[1:]:
        assert first.service(unit)["ActiveState"] == "inactive", unit
    assert first.service(WEB)["ActiveState"] == "active"

    # Back to the default: one plain unit.
    assert deployer.run(*limit, data=BASE.data).returncode == 0
    assert first.service(WORKER)["ActiveState"] == "active"
    assert first.service(instances[0])["ActiveState"] == "inactive"
    assert first.file_state(f"/etc/systemd/system/{APP}-worker@.service") == "absent"


def test_a_process_removed_from_the_procfile_stops_and_its_unit_goes(
    deployed, deployer, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    web_only = tmp_path / "web-only"
    shutil.copytree(REPO / "examples" / "app", web_only)
    (web_only / "Procfile").write_text("web: /usr/bin/node server.js\n")

    result = deployer.run("--limit", first.name, data={**BASE.data, "app_source": str(web_only)})

    assert result.returncode == 0, result.output[-3000:]
    assert first.service(WORKER)["ActiveState"] == "inactive"
    assert first.file_state(f"/etc/systemd/system/{WORKER}") == "absent"
    assert first.service(WEB)["ActiveState"] == "active"


def test_a_host_on_the_single_unit_layout_upgrades_to_one_web_process(
    deployed, deployer, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    limit = ("--limit", first.name)
    single = tmp_path / "single"
    shutil.copytree(REPO / "examples" / "app", single)
    (single / "Procfile").unlink()  # today's layout: one process, in example-app.service
    assert deployer.run(*limit, data={**BASE.data, "app_source": str(single)}).returncode == 0
    assert first.service(f"{APP}.service")["ActiveState"] == "active"
    assert first.service(WEB)["ActiveState"] == "inactive"
    assert web_processes(first) == 1

    result = deployer.run(*limit, data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    assert first.service(f"{APP}.service")["ActiveState"] == "inactive"
    assert first.file_state(f"/etc/systemd/system/{APP}.service") == "absent"
    assert first.service(WEB)["ActiveState"] == "active"
    assert first.service(WORKER)["ActiveState"] == "active"
    assert web_processes(first) == 1
    assert first.get("/healthz") == b"ok\n"
