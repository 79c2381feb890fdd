"""Several apps on one host: the Node example and its Python twin deployed side by side by one run
from group data naming both (``apps``), each with its own parameters, user, files, unit and port;
rotated, drift-checked and planned app by app; a run narrowed to one app with ``--data app=``.

Two hosts of their own: the first runs both apps (the group's ``apps``), the second the Python
twin only (its host data replaces the group's ``apps``), so an app's operations are shown to be
the same on hosts with different apps.
"""

from __future__ import annotations

import re

import pytest

from lab import hosts as lab
from tests.e2e.conftest import BLOCKS, Deployer, Host, aws_env, booted, commands_sent, sha256

NODE, PY = "example-app", "example-py"


def web_unit(app: str) -> str:
    """The unit of an app's web process: the Node example has a Procfile (web and worker), its
    Python twin one process in ``<app>.service``."""
    return f"{app}-web.service" if app == NODE else f"{app}.service"

PARAMETERS = {
    app: {
        f"/e2e/apps/{app}/DATABASE_URL": f"postgres://{app}:FAKE-apps@db.internal:5432/{app}",
        f"/e2e/apps/{app}/API_KEY": f"FAKE-apps-{app}-key-1",
        f"/e2e/apps/{app}/SESSION_SECRET": f"FAKE-apps-{app}-session",
    }
    for app in (NODE, PY)
}
APPS = BLOCKS["apps"]
NODE_PORT, PY_PORT, PY_PORT_2 = APPS.app_port, APPS.app_port + 1, APPS.app_port + 2
# The twin takes DATABASE_URL as a credential (a file; the Node app, on the same host, as a line).
TWIN = {"app_runtime": "python", "app_source": "examples/python-app", "ssm_path": f"/e2e/apps/{PY}",
        "credentials": ["DATABASE_URL"]}  # fmt: skip
GROUP_DATA = f"""
apps = {{
    {NODE!r}: {{"app_port": {NODE_PORT}, "ssm_path": "/e2e/apps/{NODE}"}},
    {PY!r}: {{**{TWIN!r}, "app_port": {PY_PORT}}},
}}
"""


@pytest.fixture(scope="module")
def hosts():
    with booted(APPS, 2) as up:
        yield up


@pytest.fixture(scope="module")
def both(hosts) -> dict[str, Host]:
    """The first host's two apps, by name."""
    first = hosts[0]
    return {NODE: Host(first.name, first.ssh_port, NODE_PORT),
            PY: Host(first.name, first.ssh_port, PY_PORT)}  # fmt: skip


@pytest.fixture(scope="module")
def twin_only(hosts) -> Host:
    """The second host, with the Python twin only."""
    return Host(hosts[1].name, hosts[1].ssh_port, PY_PORT_2)


@pytest.fixture(scope="module")
def apps_deployer(hosts, stand_in, tmp_path_factory) -> Deployer:
    """An inventory of the two hosts; its own group data (the file's name, ``several``) names both
    apps, the second host's data only the twin."""
    directory = tmp_path_factory.mktemp("several")
    (directory / "group_data").mkdir()
    (directory / "group_data" / "several.py").write_text(GROUP_DATA)
    first, second = hosts
    entries = [
        (first.name, lab.connection_data(first.ssh_port)),
        (second.name, {**lab.connection_data(second.ssh_port),
                       "apps": {PY: {**TWIN, "app_port": PY_PORT_2}}}),
    ]  # fmt: skip
    (directory / "several.py").write_text(f"staging = {entries!r}\n")
    return Deployer(directory / "several.py", aws_env(stand_in))


@pytest.fixture(scope="module")
def deployed(apps_deployer, stand_in):
    """Both hosts deployed by one run; first, what pyinfra would run on them, without running
    it (``--debug-operations``: the operations, their hosts and their order)."""
    for parameters in PARAMETERS.values():
        stand_in.put(parameters)
    operations = apps_deployer.run("--debug-operations")
    assert operations.returncode == 0, operations.output[-3000:]
    result = apps_deployer.run()
    assert result.returncode == 0, result.output[-3000:]
    yield operations.output
    for parameters in PARAMETERS.values():
        stand_in.put(parameters)


def invocations(both, twin_only) -> dict[tuple[str, str], str]:
    return {
        (host.name, app): host.service(web_unit(app))["InvocationID"]
        for host, app in ((both[NODE], NODE), (both[PY], PY), (twin_only, PY))
    }


def value(app: str, name: str) -> bytes:
    return PARAMETERS[app][f"/e2e/apps/{app}/{name}"].encode()


def test_one_run_from_group_data_deploys_both_apps_to_the_same_host(deployed, both, twin_only):
    for app, host in (*both.items(), (PY, twin_only)):
        assert host.get("/healthz") == b"ok\n", (host.name, app)
        environ = host.process_environ(web_unit(app))
        for name in ("DATABASE_URL", "API_KEY", "SESSION_SECRET"):
            if app == PY and name == "DATABASE_URL":  # a credential: read from its file
                assert name not in environ and f"{name}_FILE" in environ
                assert host.fingerprints()[name] == sha256(value(app, name))
                continue
            assert environ[name] == value(app, name), (host.name, app, name)
        assert environ["PORT"] == str(host.app_port).encode()
        assert host.file_state(f"/etc/{app}.env").startswith("root:root 600\n")
        pid = host.service(web_unit(app))["MainPID"]
        assert host.run(f"stat -c %U /proc/{pid}").strip() == app  # each app, its own user
    first = both[NODE]
    assert first.run(f"ls /opt/{NODE}/releases /opt/{PY}/releases") != ""
    # The second host has the twin only.
    assert "LoadState=not-found" in twin_only.run(f"systemctl show -p LoadState {web_unit(NODE)}")
    assert twin_only.run(f"test -e /etc/{NODE}.env || echo absent").strip() == "absent"
    for host in (first, twin_only):  # journald's drop-in: one per host, whatever its apps
        assert host.run("ls /etc/systemd/journald.conf.d").split() == ["50-ssmenv.conf"]


def test_each_apps_operations_are_its_own_and_in_order(deployed, both, twin_only):
    order = deployed.split("--> Operation order:", 1)[1]
    operations = re.findall(r"names=\{'(.*?)'\}, hosts=\{(.*?)\}\)", order)
    names = [name for name, _ in operations]
    first, second = f"Host({both[NODE].name})", f"Host({twin_only.name})"
    # The Node app's operations, then the twin's; the twin's are one set for both hosts.
    activations = [(name, hosts) for name, hosts in operations if "| Activate" in name]
    assert [name.split()[4] for name, _ in activations] == [NODE, PY]
    assert activations[0][1] == first
    assert sorted(activations[1][1].split(", ")) == sorted([first, second])
    last_node = max(i for i, name in enumerate(names) if NODE in name)
    first_py = min(i for i, name in enumerate(names) if PY in name)
    assert last_node < first_py, names
    assert names.count(f"Bootstrap app host | Provision {PY}") == 1


def test_a_redeploy_changes_nothing_and_reads_each_app_once(
    apps_deployer, deployed, both, twin_only
):
    result = apps_deployer.run("-vv")
    assert result.returncode == 0, result.output[-3000:]
    assert {name: n for name, n in result.changed.items() if n} == {}
    commands = commands_sent(result.output)
    assert commands == {both[NODE].name: 2, twin_only.name: 1}  # one state read per app


def test_rotating_one_apps_parameter_restarts_that_app_only(
    apps_deployer, deployed, stand_in, both, twin_only
):
    before = invocations(both, twin_only)
    stand_in.put({f"/e2e/apps/{PY}/API_KEY": "FAKE-apps-py-key-2"})

    result = apps_deployer.run(deploy="rotate.py")

    assert result.returncode == 0, result.output[-3000:]
    after = invocations(both, twin_only)
    assert after[(both[NODE].name, NODE)] == before[(both[NODE].name, NODE)]
    assert after[(both[PY].name, PY)] != before[(both[PY].name, PY)]
    assert after[(twin_only.name, PY)] != before[(twin_only.name, PY)]
    assert f"[{both[NODE].name}] /etc/{NODE}.env: no value changed" in result.output
    for host in (both[PY], twin_only):
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-apps-py-key-2")
        assert host.process_environ(web_unit(PY))["API_KEY"] == b"FAKE-apps-py-key-2"
    assert both[NODE].process_environ(web_unit(NODE))["API_KEY"] == value(NODE, "API_KEY")


def test_drift_and_plan_report_per_app_with_their_exit_statuses(
    apps_deployer, deployed, stand_in, both, twin_only
):
    first = both[NODE].name
    assert apps_deployer.run(deploy="rotate.py").returncode == 0  # every app current
    clean = apps_deployer.ssmenv("drift")
    assert clean.returncode == 0, clean.output
    assert "drift: no host differs (2 hosts, 3 apps)" in clean.stdout
    for line in (f"[{first}] {NODE}: drift: none", f"[{first}] {PY}: drift: none",
                 f"[{twin_only.name}] drift: none"):  # fmt: skip
        assert line in clean.output, line

    secret = f"/e2e/apps/{NODE}/SESSION_SECRET"
    stand_in.put({secret: "FAKE-apps-node-session-2"})
    try:
        drift, plan = apps_deployer.ssmenv("drift"), apps_deployer.ssmenv("plan")
    finally:
        stand_in.put({secret: PARAMETERS[NODE][secret]})
    for result, command in ((drift, "drift"), (plan, "plan")):
        assert result.returncode == 2, result.output
        assert f"{command}: 1 of 2 hosts differ: {first} ({NODE})" in result.stdout
        assert "FAKE-apps" not in result.output
    assert f"[{first}] {NODE}: drift: SESSION_SECRET v1->v2" in drift.output
    assert f"[{first}] {PY}: drift: none" in drift.output
    assert f"[{first}] /etc/{NODE}.env: changes SESSION_SECRET v1->v2" in plan.output
    assert f"[{first}] /etc/{PY}.env: no value changed" in plan.output

    broken = apps_deployer.ssmenv("drift", "--data", "app_port=http")
    assert broken.returncode == 1


def test_data_app_narrows_a_run_to_one_app(apps_deployer, deployed, stand_in, both, twin_only):
    before = invocations(both, twin_only)
    stand_in.put({f"/e2e/apps/{PY}/API_KEY": "FAKE-apps-py-key-3",
                  f"/e2e/apps/{NODE}/API_KEY": "FAKE-apps-node-key-3"})  # fmt: skip

    result = apps_deployer.run(deploy="rotate.py", data={"app": NODE})

    assert result.returncode == 0, result.output[-3000:]
    after = invocations(both, twin_only)
    assert after[(both[NODE].name, NODE)] != before[(both[NODE].name, NODE)]
    assert after[(both[PY].name, PY)] == before[(both[PY].name, PY)]
    assert after[(twin_only.name, PY)] == before[(twin_only.name, PY)]
    assert f"[{twin_only.name}] app {NODE}: not on this host (it has: {PY})" in result.output
    assert f"/etc/{PY}.env" not in result.output

    drift = apps_deployer.ssmenv("drift", "--data", f"app={PY}")
    assert drift.returncode == 2, drift.output
    assert f"[{both[PY].name}] {PY}: drift: API_KEY" in drift.output
    assert f"{NODE}: drift" not in drift.output

    typo = apps_deployer.run(deploy="rotate.py", data={"app": "example-pi"})
    assert typo.returncode != 0
    # The first host to find it stops the run, naming itself and its apps.
    assert re.search(rf"app: example-pi is not an app of (\S+) \(it has: ({NODE}, {PY}|{PY})\), "
                     "nor of any other host of the inventory", typo.output), typo.output[-2000:]
    assert both[PY].get("/healthz") == b"ok\n"
