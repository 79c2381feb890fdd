"""A rollback checks the previous version as it was deployed: each unit on its own port and health
path, with its own timeouts, the processes and credentials it ran; so does a rotation, which
restarts the version the host runs, and an activation a run left unfinished. What the host says
of a unit that failed is what systemd reported when it was judged."""

from __future__ import annotations

import json
import shlex
import time
import urllib.error
import urllib.request

import pytest

from lab import hosts as lab
from tests.e2e.conftest import (
    APP,
    BLOCKS,
    MARKER,
    TARGET,
    WEB,
    Base,
    Deployer,
    crashed,
    example_app,
    example_parameters,
    kill_activation_when,
    marker_present,
    sha256,
    silent_app,
    stop,
    wait_for,
)

ADMIN = f"{APP}-admin.service"
WORKERS = (f"{APP}-worker@1.service", f"{APP}-worker@2.service")
MANIFEST = f"/etc/{APP}.env.manifest"
PATH = "/e2e/rollback"
BASE = example_parameters(PATH, "rollback")
PORTS = BLOCKS["rollback"]
# The previous version's own listening process beside web, admin: its port on the i-th host (the
# hosts share this machine's network).
ADMIN_PORT = PORTS.app_port
# A port another program on the host listens on (and answers 404 there, as another web app would).
TAKEN_PORT = PORTS.app_port + 10
# A port nothing listens on.
FREE_PORT = PORTS.app_port + 11
HOLDER = "ssmenv-e2e-port-holder.service"


def answers(port: int, path: str = "/healthz") -> bytes | None:
    """What ``path`` answers on ``port`` (the hosts share this machine's network); ``None`` when
    nothing answers 2xx."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.read()
    except OSError:  # refused, timed out, or an HTTP error status
        return None


def listening(port: int) -> bool:
    """Something answers HTTP on ``port``, whatever its status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, 404
    except OSError:
        return False


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The example app with a third process, admin: the web server again, on a port of its own."""
    return example_app(tmp_path_factory.mktemp("rollback"), admin="/usr/bin/node server.js")


def admin_port(host) -> int:
    return ADMIN_PORT + int(host.name.rsplit("-", 1)[1]) - 1


@pytest.fixture(scope="module")
def deployer(deployer, lab_hosts, tmp_path_factory) -> Deployer:
    """The module's deployer with an inventory that places admin on each host's own port."""
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port,
                         "app_processes": {"web": 1, "worker": 2, "admin": {
                             "port": admin_port(h), "health_path": "/healthz"}}})
               for h in lab_hosts]  # fmt: skip
    inventory = tmp_path_factory.mktemp("rollback-inventory") / "rollback.py"
    # The example app (group example) in staging, as conftest.write_inventory has it.
    inventory.write_text(f"_hosts = {entries!r}\nexample = _hosts\nstaging = _hosts\n")
    return Deployer(inventory, deployer.env)


@pytest.fixture(scope="module")
def base(source) -> Base:
    """The previous version (and app_processes in the inventory): every setting a rollback
    restores differs in the new one."""
    return Base(BASE, {"ssm_path": PATH, "app_source": str(source),
                       "credentials": ["SESSION_SECRET"]})  # fmt: skip


@pytest.fixture
def taken(converge, lab_hosts):
    """``TAKEN_PORT`` held by another program on the first host: a web server answering 404."""
    first = lab_hosts[0]
    server = (f"require('node:http').createServer((q, s) => {{ s.writeHead(404); s.end(); }})"
              f".listen({TAKEN_PORT})")  # fmt: skip
    first.run(f"sudo systemd-run --quiet --collect --unit={HOLDER} /usr/bin/node -e "
              f"{shlex.quote(server)}")  # fmt: skip
    try:
        wait_for(lambda: listening(TAKEN_PORT), f"another program listening on {TAKEN_PORT}")
        yield TAKEN_PORT
    finally:
        first.run(f"sudo systemctl stop {HOLDER}", check=False)


def recorded(host) -> dict:
    """How the host's manifest records each unit of the version it runs is checked."""
    return json.loads(host.run(f"sudo cat {MANIFEST}"))["units"]


def previous_version_runs(host) -> None:
    """Every unit of the previous version runs as it did: its ports, processes and credentials."""
    for unit in (WEB, ADMIN, *WORKERS, TARGET):
        assert host.service(unit)["ActiveState"] == "active", (host.name, unit)
    assert answers(host.app_port) == b"ok\n"
    assert answers(admin_port(host)) == b"ok\n"
    environ = host.process_environ(WEB)
    assert "SESSION_SECRET" not in environ
    assert environ["SESSION_SECRET_FILE"] == f"/run/credentials/{WEB}/SESSION_SECRET".encode()
    assert host.fingerprints()["SESSION_SECRET"] == sha256(BASE[f"{PATH}/SESSION_SECRET"])


def test_a_deploy_to_a_taken_port_rolls_back_to_the_previous_version_checked_as_it_was(
    taken, deployer, lab_hosts, base
):
    first, second = lab_hosts
    untouched = second.invocations(WEB, ADMIN)
    # Every setting a rollback restores differs: the port (held by another program), the health
    # path (which the previous version does not answer), its timeouts, the processes (admin and
    # the workers go) and the credentials (SESSION_SECRET back into the env file).
    new = {**base.data, "app_port": taken, "health_path": "/ready", "health_timeout": 60,
           "health_settle": 0, "app_processes": {"web": 1}, "credentials": []}  # fmt: skip

    started = time.monotonic()
    result = deployer.run(data=new)
    elapsed = time.monotonic() - started

    out = result.output
    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in out, (
        out[-5000:]
    )
    assert "not healthy either" not in out
    assert f"[{second.name}] not activated: the rollout stopped after {first.name}" in out
    assert not marker_present(first)
    previous_version_runs(first)
    # The record of how it is checked went back with it, for the next rollback to it.
    assert recorded(first)[WEB] == {"port": first.app_port, "health_path": "/healthz",
                                    "health_timeout": 30, "health_settle": 2}  # fmt: skip
    assert second.invocations(WEB, ADMIN) == untouched
    assert listening(taken), "the rollback disturbed the program that holds the port"
    assert elapsed < 120, f"the run took {elapsed:.0f} s"
    # What the host says of the failed unit is what systemd reported: node exits with status 1
    # on a port in use (status=1/FAILURE in the journal), never "status 0" or "success".
    assert "status=1/FAILURE" in out or "EADDRINUSE" in out
    assert crashed(out, first.name, WEB, 1), out[-3000:]
    said = [line for line in out.splitlines() if f"ssmenv: {WEB} " in line]
    assert said and not any("status 0" in line or "success" in line for line in said), said


def test_an_unfinished_activation_to_another_port_goes_back_to_the_previous_port(
    converge, deployer, lab_hosts, base, tmp_path
):
    first = lab_hosts[0]
    limit = ("--limit", first.name)
    new = {"ssm_path": PATH, "app_source": str(silent_app(tmp_path)), "app_port": FREE_PORT,
           "health_path": "/ready", "app_processes": ["web", "worker"],
           "credentials": []}  # fmt: skip
    unit_file = f"/etc/systemd/system/{WEB}"
    watcher = kill_activation_when(first, f"grep -q PORT={FREE_PORT} {unit_file}")
    try:
        # A new version that never answers: its activation is killed after the switch.
        killed = deployer.run(*limit, data={**new, "health_timeout": 120})
    finally:
        stop(first, watcher)
    assert killed.returncode != 0
    assert marker_present(first), "the activation was not interrupted after the switch"
    # The marker says how to check what it goes back to: the previous version's own checks.
    back = sorted(line.rstrip() for line in first.run(f"sudo cat {MARKER}").splitlines()
                  if line.startswith("back "))  # fmt: skip
    assert back == sorted([
        f"back {ADMIN} {admin_port(first)} 30 2 /healthz",
        f"back {WEB} {first.app_port} 30 2 /healthz",
        *(f"back {unit} 0 30 2" for unit in (*WORKERS, TARGET)),
    ]), back  # fmt: skip

    result = deployer.run(*limit, data={**new, "health_timeout": 5})

    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in (
        result.output
    )
    assert not marker_present(first)
    previous_version_runs(first)


def test_a_rotation_checks_the_units_as_they_were_deployed(
    taken, deployer, stand_in, lab_hosts, base
):
    """A rotation restarts the version the host runs (its units' files stay): checked on the
    port and path it was deployed with, whatever the settings say now."""
    first = lab_hosts[0]
    stand_in.put({f"{PATH}/API_KEY": "FAKE-rollback-key-2"})

    result = deployer.run("--limit", first.name, deploy="rotate.py",
                          data={**base.data, "app_port": taken, "health_path": "/ready",
                                "health_timeout": 5})  # fmt: skip

    assert result.returncode == 0, result.output[-3000:]
    assert first.fingerprints()["API_KEY"] == sha256("FAKE-rollback-key-2")
    assert not marker_present(first)
    previous_version_runs(first)


def test_a_host_whose_manifest_records_no_checks_gets_them_without_a_restart(
    converge, deployer, lab_hosts, base
):
    """A host deployed before manifests recorded the checks: the next deploy records them, and
    restarts nothing for it (the unit files, which would restart every app, are as they were)."""
    first = lab_hosts[0]
    older = json.loads(first.run(f"sudo cat {MANIFEST}"))
    del older["units"]
    first.run(f"sudo tee {MANIFEST} > /dev/null", stdin=json.dumps(older, indent=2,
                                                                   sort_keys=True) + "\n")
    before = first.invocations(WEB, ADMIN, *WORKERS)

    result = deployer.run("--limit", first.name, data=base.data)

    assert result.returncode == 0, result.output[-3000:]
    assert {name: n for name, n in result.changed.items() if n} == {
        f"App environment | Install manifest {MANIFEST}": 1}
    assert first.invocations(WEB, ADMIN, *WORKERS) == before
    assert recorded(first)[ADMIN] == {"port": admin_port(first), "health_path": "/healthz",
                                      "health_timeout": 30, "health_settle": 2}  # fmt: skip
    assert first.file_state(MANIFEST).startswith(f"root:{APP} 640\n")
