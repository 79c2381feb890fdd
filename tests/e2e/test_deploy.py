"""Deploy the example app to two real systemd hosts with the real pyinfra CLI, then redeploy.

The tests run in file order on the same hosts, as a converge / converge-again / verify sequence:
each later test starts from the state the earlier ones left.
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import APP, REPO, WEB, Base, sha256

UNIT = WEB
PATH = "/e2e/example-app"
PARAMETERS = {
    f"{PATH}/DATABASE_URL": "postgres://app:FAKE-e2e-password@db.internal:5432/app",
    f"{PATH}/API_KEY": "FAKE-e2e-api-key",
    f"{PATH}/SESSION_SECRET": "FAKE e2e secret: 'single' \"double\" $HOME \\ # ; %h",
    f"{PATH}/nested/FEATURE_FLAGS": '{"beta": true}',
}
DATA = {"ssm_path": PATH}


def values() -> dict[str, str]:
    return {name.rsplit("/", 1)[-1]: value for name, value in PARAMETERS.items()}


@pytest.fixture(scope="module")
def base() -> Base:
    return Base(PARAMETERS, DATA)


@pytest.fixture(scope="module")
def first_deploy(base, deployer, stand_in):
    """The module's first deploy, whatever its outcome: its first test says whether it worked."""
    stand_in.put(base.values)
    return deployer.run(data=base.data)


def test_first_deploy_succeeds_on_every_host(first_deploy):
    assert first_deploy.returncode == 0, first_deploy.output


def test_running_app_has_exactly_the_ssm_values_in_its_environment(first_deploy, lab_hosts):
    for host in lab_hosts:
        environ = host.process_environ(UNIT)
        for name, value in values().items():
            assert environ[name] == value.encode(), f"{host.name}: {name} differs"
        assert environ["PORT"] == str(host.app_port).encode()
        assert environ["NODE_ENV"] == b"production"  # from group_data/staging.py


def test_each_app_answers_with_fingerprints_of_the_ssm_values(first_deploy, lab_hosts):
    for host in lab_hosts:
        assert host.get("/healthz") == b"ok\n"
        served = host.fingerprints()
        for name, value in values().items():
            assert served[name] == sha256(value), f"{host.name}: {name}"


def test_env_file_is_root_only_and_the_unit_runs_as_the_app_user(first_deploy, lab_hosts):
    for host in lab_hosts:
        assert host.file_state(f"/etc/{APP}.env").startswith("root:root 600\n")
        assert host.run(f"systemctl show {UNIT} -p User --value").strip() == APP
        pid = host.service(UNIT)["MainPID"]
        assert host.run(f"ps -o user= -p {pid}").strip() == APP
        assert host.run(f"systemctl is-enabled {UNIT}").strip() == "enabled"


def test_second_run_changes_nothing_and_does_not_restart(first_deploy, deployer, lab_hosts):
    before = {h.name: h.service(UNIT) for h in lab_hosts}
    result = deployer.run(data=DATA)
    assert result.returncode == 0, result.output
    changed = {name: n for name, n in result.changed.items() if n}
    assert changed == {}, f"a redeploy with nothing new changed: {changed}"
    for host in lab_hosts:
        assert host.service(UNIT) == before[host.name]


def test_changed_parameter_rewrites_only_the_env_file_and_restarts_once(
    first_deploy, deployer, stand_in, lab_hosts
):
    before = {h.name: h.service(UNIT) for h in lab_hosts}
    new_key = "FAKE-e2e-api-key-rotated"
    stand_in.put({f"{PATH}/API_KEY": new_key})
    try:
        result = deployer.run(data=DATA)
    finally:
        stand_in.put({f"{PATH}/API_KEY": PARAMETERS[f"{PATH}/API_KEY"]})
    assert result.returncode == 0, result.output
    changed = sorted(name for name, n in result.changed.items() if n)
    assert [name.split(" | ")[1] for name in changed] == [
        f"Activate {APP} (rolling, health-gated)"
    ], changed
    assert "API_KEY v" in result.output  # which key changed, with its versions
    for host in lab_hosts:
        after = host.service(UNIT)
        assert after["InvocationID"] != before[host.name]["InvocationID"], "not restarted"
        assert after["NRestarts"] == "0"  # a deliberate restart, not a crash loop
        assert host.fingerprints()["API_KEY"] == sha256(new_key)
        assert host.file_state(f"/etc/{APP}.env.previous").startswith("root:root 600\n")


def test_missing_required_parameter_fails_naming_it_and_changes_no_host(
    first_deploy, deployer, stand_in, lab_hosts
):
    watched = [f"/etc/{APP}.env", f"/etc/systemd/system/{UNIT}", "/etc/other-app.env"]
    before = {h.name: ([h.file_state(p) for p in watched], h.service(UNIT)) for h in lab_hosts}
    stand_in.delete(f"{PATH}/SESSION_SECRET")
    try:
        # A second app that was never deployed must not even get its user or directories.
        failed = deployer.run(data=DATA)
        failed_other = deployer.run(data={**DATA, "app_name": "other-app"})
    finally:
        stand_in.put({f"{PATH}/SESSION_SECRET": PARAMETERS[f"{PATH}/SESSION_SECRET"]})
    for result in (failed, failed_other):
        assert result.returncode != 0
        assert (
            f"SESSION_SECRET: required but missing (expected SSM parameter {PATH}/SESSION_SECRET"
            in result.output
        )
        assert "required by env_required in group_data/example.py)" in result.output
        assert "Starting operation" not in result.output
    for host in lab_hosts:
        assert ([host.file_state(p) for p in watched], host.service(UNIT)) == before[host.name]
        assert (
            host.run(
                "getent passwd other-app; test -e /opt/other-app && echo exists", check=False
            ).strip()
            == ""
        )


def test_a_source_without_its_start_file_fails_naming_it_and_changes_no_host(
    first_deploy, deployer, lab_hosts, tmp_path
):
    # A first user's own app: no Procfile, and its entry file is not the runtime's default.
    source = tmp_path / "myapp"
    shutil.copytree(REPO / "examples" / "app", source)
    (source / "Procfile").unlink()
    (source / "server.js").rename(source / "index.js")
    watched = [f"/etc/{APP}.env", f"/etc/systemd/system/{UNIT}"]
    before = {h.name: ([h.file_state(p) for p in watched], h.service(UNIT),
                       h.run(f"ls /opt/{APP}/releases; readlink /opt/{APP}/current"))
              for h in lab_hosts}  # fmt: skip

    result = deployer.run(data={**DATA, "app_source": str(source)})

    assert result.returncode != 0
    assert (f"app_source: no server.js in {source} (the node runtime's default start command, "
            "/usr/bin/node server.js; set app_start or add a Procfile)") in result.output
    assert "Starting operation" not in result.output
    for host in lab_hosts:
        assert ([host.file_state(p) for p in watched], host.service(UNIT),
                host.run(f"ls /opt/{APP}/releases; readlink /opt/{APP}/current")) == (
            before[host.name])  # fmt: skip
