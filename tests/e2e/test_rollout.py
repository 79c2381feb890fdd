"""Rolling, health-gated activation: rotation, rollback, dropped connections, concurrent runs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ssmenv import envfile
from tests.e2e.conftest import APP, MARKER, REPO, WEB, Base, sha256, wait_for

UNIT = WEB
PATH = "/e2e/rollout"
BASE = Base.example(PATH, "rollout")


@pytest.fixture(scope="module")
def base() -> Base:
    return BASE


def started_at(host) -> int:
    """When the web unit's main process started, in µs since the epoch."""
    return host.started_at(UNIT)


def env_values(host) -> dict[str, str]:
    return envfile.parse(host.run(f"sudo cat /etc/{APP}.env"))


def test_rotation_restarts_each_host_once_one_at_a_time(deployed, deployer, stand_in, lab_hosts):
    before = {h.name: h.service(UNIT)["InvocationID"] for h in lab_hosts}
    stand_in.put({f"{PATH}/API_KEY": "FAKE-rollout-key-2"})

    result = deployer.run(deploy="rotate.py", data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    assert "API_KEY v1->v2" in result.output
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-rollout-key-2")
        assert host.service(UNIT)["InvocationID"] != before[host.name]
        assert host.service(UNIT)["NRestarts"] == "0"
    first, second = (started_at(h) for h in lab_hosts)
    # The second host starts only after the first was healthy and stayed up (health_settle 2 s).
    assert second - first >= 2_000_000, (first, second)


def test_rotation_restarts_only_hosts_whose_values_changed(
    deployed, deployer, stand_in, lab_hosts
):
    first, second = lab_hosts
    stand_in.put({f"{PATH}/API_KEY": "FAKE-rollout-key-3"})
    assert deployer.run("--limit", second.name, deploy="rotate.py", data=BASE.data).returncode == 0
    before = {h.name: h.service(UNIT)["InvocationID"] for h in lab_hosts}

    result = deployer.run(deploy="rotate.py", data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    assert first.service(UNIT)["InvocationID"] != before[first.name]
    assert second.service(UNIT)["InvocationID"] == before[second.name]
    assert f"[{second.name}] /etc/{APP}.env: no value changed" in result.output


def test_plan_lists_changes_and_restarts_without_values_or_changes(
    deployed, deployer, stand_in, lab_hosts
):
    before = {h.name: h.file_state(f"/etc/{APP}.env") for h in lab_hosts}
    stand_in.put({f"{PATH}/SESSION_SECRET": "FAKE-rollout-session-planned"})
    try:
        result = deployer.run("--dry", deploy="rotate.py", data=BASE.data)
    finally:
        stand_in.put({f"{PATH}/SESSION_SECRET": BASE.value("SESSION_SECRET")})
    assert result.returncode == 0, result.output[-3000:]
    for host in lab_hosts:
        assert f"[{host.name}] /etc/{APP}.env: changes SESSION_SECRET v1->v2" in result.output
        assert f"[{host.name}] {APP}: restart (env file)" in result.output
        assert host.file_state(f"/etc/{APP}.env") == before[host.name]
    assert "FAKE-rollout-session" not in result.output


def test_a_value_that_crashes_the_app_rolls_back_the_first_host_and_stops_the_rollout(
    deployed, deployer, stand_in, lab_hosts
):
    first, second = lab_hosts
    # Bring every host to the same, known state first.
    assert deployer.run(deploy="rotate.py", data=BASE.data).returncode == 0
    before = {h.name: (h.file_state(f"/etc/{APP}.env"), h.service(UNIT)) for h in lab_hosts}
    good_url = env_values(first)["DATABASE_URL"]

    stand_in.put({f"{PATH}/DATABASE_URL": "FAKE-not-a-url"})
    try:
        # A crash is judged at once: the timeout only spares a slow start on a loaded machine.
        result = deployer.run(deploy="rotate.py", data={**BASE.data, "health_timeout": 60})
    finally:
        stand_in.put({f"{PATH}/DATABASE_URL": BASE.value("DATABASE_URL")})

    assert result.returncode != 0
    out = result.output
    assert f"[{first.name}] ssmenv: {UNIT} did not become healthy" in out
    assert "DATABASE_URL is not a URL" in out, out[-3000:]  # the app's last words (journal)
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in out
    assert f"[{second.name}] not activated: the rollout stopped after {first.name}" in out
    assert first.fingerprints()["DATABASE_URL"] == sha256(good_url)
    assert first.file_state(f"/etc/{APP}.env") == before[first.name][0]
    assert (second.file_state(f"/etc/{APP}.env"), second.service(UNIT)) == before[second.name]


def test_a_release_that_fails_its_health_check_is_switched_back(
    deployed, deployer, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    assert deployer.run(data=BASE.data).returncode == 0
    live = {h.name: h.run(f"readlink /opt/{APP}/current").strip() for h in lab_hosts}
    broken = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "app", broken)
    server = broken / "server.js"
    server.write_text(server.read_text().replace("res.writeHead(200, { 'content-type': "
                                                 "'text/plain' });\n    res.end('ok\\n');",
                                                 "res.writeHead(503); res.end();"))
    assert "writeHead(503)" in server.read_text()

    result = deployer.run(data={**BASE.data, "app_source": str(broken), "health_timeout": 4})

    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy" in result.output
    for host in lab_hosts:
        assert host.run(f"readlink /opt/{APP}/current").strip() == live[host.name]
        assert host.get("/healthz") == b"ok\n"


def test_a_dropped_connection_leaves_a_whole_env_file_and_the_next_run_completes(
    deployed, deployer, stand_in, lab_hosts, tmp_path
):
    assert deployer.run(deploy="rotate.py", data=BASE.data).returncode == 0
    old = {h.name: env_values(h) for h in lab_hosts}
    log = tmp_path / "run.log"

    first = lab_hosts[0]

    def said(line: str):
        return lambda: line in log.read_text()

    def activating():
        # This run's activation: its marker names it (a killed one may have left another's).
        return first.run(f"sudo cat {MARKER} 2>/dev/null || true") not in ("", earlier)

    # Where each run is killed: while connecting, as its operations begin, in an activation.
    moments = [
        (said("--> Connecting to hosts..."), "the run connecting to the hosts"),
        (said("--> Beginning operation run..."), "the run beginning its operations"),
        (activating, f"an activation under way on {first.name}"),
    ]
    put = []
    for i, (moment, what) in enumerate(moments):
        value = f"FAKE-dropped-{i}"
        stand_in.put({f"{PATH}/API_KEY": value})
        put.append(value)
        earlier = first.run(f"sudo cat {MARKER} 2>/dev/null || true")
        with log.open("w") as out:
            run = subprocess.Popen(
                [str(deployer.pyinfra), "-y", str(deployer.inventory), "rotate.py", "--data",
                 f"ssm_path={PATH}"],
                cwd=REPO, env={**deployer.env, "PYTHONUNBUFFERED": "1"}, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for(moment, what, 120, every=0.02)
        finally:
            run.kill()  # the SSH connections drop with it
            run.wait()
        for host in lab_hosts:
            # Whole files only: the old one or one a run so far wrote whole, nothing in between.
            # An earlier run's: a run killed in its activation leaves it unfinished, and the next
            # run completes it first (with that run's value) before its own.
            values = env_values(host)
            whole = [old[host.name], *({**old[host.name], "API_KEY": v} for v in put)]
            assert values in whole, host.name

    result = deployer.run(deploy="rotate.py", data=BASE.data)
    assert result.returncode == 0, result.output[-3000:]
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-dropped-2")
        # No unfinished activation: nothing but the app's lock.
        assert host.run("sudo ls /run/ssmenv/").split() == [f"{APP}.lock"]


def test_two_runs_at_once_never_interleave(deployed, deployer, stand_in, lab_hosts):
    stand_in.put({f"{PATH}/API_KEY": "FAKE-concurrent"})
    command = [str(deployer.pyinfra), "-y", str(deployer.inventory), "rotate.py", "--data",
               f"ssm_path={PATH}"]  # fmt: skip
    runs = [
        subprocess.Popen(command, cwd=REPO, env=deployer.env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    codes = [run.returncode for run in runs]
    assert 0 in codes, outputs
    for code, out in zip(codes, outputs, strict=True):
        if code != 0:
            assert "changed since this run read the host" in out or "holds" in out, out[-2000:]
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-concurrent")
        assert host.service(UNIT)["ActiveState"] == "active"


def test_drift_report_lists_hosts_behind_ssm_and_changes_nothing(
    deployed, deployer, stand_in, lab_hosts
):
    assert deployer.run(deploy="rotate.py", data=BASE.data).returncode == 0
    clean = deployer.run(deploy="drift.py", data=BASE.data)
    assert clean.returncode == 0, clean.output[-3000:]
    for host in lab_hosts:
        assert f"[{host.name}] drift: none, every version is current" in clean.output

    ssm = stand_in.ssm()
    version = ssm.get_parameter(Name=f"{PATH}/SESSION_SECRET")["Parameter"]["Version"]
    stand_in.put({f"{PATH}/SESSION_SECRET": "FAKE-drifted"})
    before = {h.name: h.file_state(f"/etc/{APP}.env") for h in lab_hosts}
    try:
        drifted = deployer.run(deploy="drift.py", data=BASE.data)
    finally:
        stand_in.put({f"{PATH}/SESSION_SECRET": BASE.value("SESSION_SECRET")})
    assert drifted.returncode == 0, drifted.output[-3000:]
    for host in lab_hosts:
        line = f"[{host.name}] drift: SESSION_SECRET v{version}->v{version + 1}"
        assert line in drifted.output
        assert host.file_state(f"/etc/{APP}.env") == before[host.name]
    assert "FAKE-drifted" not in drifted.output
    assert {name: n for name, n in drifted.changed.items() if n} == {}


def test_plan_and_drift_commands_run_the_same_reports(deployed, deployer, stand_in, lab_hosts):
    stand_in.put({f"{PATH}/API_KEY": "FAKE-planned-by-cli"})
    try:
        outputs = {
            command: deployer.ssmenv(command, "--data", f"ssm_path={PATH}")
            for command in ("plan", "drift")
        }
    finally:
        stand_in.put({f"{PATH}/API_KEY": BASE.value("API_KEY")})
    for command, result in outputs.items():
        assert result.returncode == 2, (command, result.stdout[-2000:], result.stderr[-2000:])
        assert "FAKE-planned-by-cli" not in result.stdout + result.stderr
    plan, drift = (outputs[c].stdout + outputs[c].stderr for c in ("plan", "drift"))
    for host in lab_hosts:
        assert f"[{host.name}] /etc/{APP}.env: changes API_KEY" in plan
        assert f"[{host.name}] drift: API_KEY v" in drift
