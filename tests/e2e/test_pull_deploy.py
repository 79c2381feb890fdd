"""Pull mode with SSH open: the real pyinfra CLI deploys ``delivery = "pull"``, which provisions
the host (its release, the agent's bundle) and hands the app to the host's agent, which switches it
itself with its instance role (the metadata stand-in). A push rotation leaves the app to the
agent, ``plan`` and ``drift`` still report it, a push and the agent never both restart it, and a
host moves to push and back to pull with a deploy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from lab import imds
from lab.ports import free_port
from tests.e2e.conftest import (
    BLOCKS,
    REPO,
    Deployer,
    Host,
    booted,
    sha256,
    write_inventory,
)

APP = "example-app"
WEB = f"{APP}-web.service"
PATH = "/pulldeploy/app"
VALUES = {"DATABASE_URL": "postgres://app:FAKE-pd-db@db.internal:5432/app",
          "API_KEY": "FAKE-pd-key-1", "SESSION_SECRET": "FAKE-pd-session\nline two\n"}
PULL = {"ssm_path": PATH, "delivery": "pull", "credentials": ["SESSION_SECRET"],
        "pull_period": "1h"}  # fmt: skip
PUSH = {**PULL, "delivery": "push"}
AGENT_UNITS = (f"ssmenv-pull-{APP}.service", f"ssmenv-sync-{APP}.timer")


@pytest.fixture(scope="module")
def host():
    with booted(BLOCKS["pull-deploy"], 1, kind="agent") as up:
        yield up[0]


@pytest.fixture(scope="module")
def deployer(host, stand_in, tmp_path_factory):
    """The control machine's deploys of the host, and the host's own role and environment file
    (where AWS and the metadata are), as the image of a private network would carry it."""
    stand_in.put({f"{PATH}/{name}": value for name, value in VALUES.items()})
    directory = tmp_path_factory.mktemp("pull-deploy")
    instance = imds.launch(stand_in.port, "pull-deploy-host")
    imds.write_instance(directory / "instance.json", instance)
    port = free_port()
    metadata = imds.start(port, directory / "instance.json", directory / "imds.log")
    text = (f"AWS_ENDPOINT_URL=http://127.0.0.1:{stand_in.port}\n"
            f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(port)}\n")  # fmt: skip
    host.run("sudo install -D -m 0600 /dev/stdin /etc/ssmenv/agent/environment", stdin=text)
    inventory = write_inventory(directory / "pd.py", "staging", [host])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    try:
        yield Deployer(inventory, {**env, **stand_in.env})
    finally:
        metadata.terminate()
        metadata.wait(timeout=10)


def ssmenv(deployer: Deployer, command: str, data: dict) -> subprocess.CompletedProcess:
    """``python -m ssmenv COMMAND INVENTORY --data ...`` as a user runs it."""
    args = [f"--data={k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in data.items()]  # fmt: skip
    return subprocess.run([sys.executable, "-m", "ssmenv", command, str(deployer.inventory),
                           *args], cwd=REPO, env=deployer.env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def enabled(host: Host, *units: str) -> list[str]:
    return host.run(f"systemctl is-enabled {' '.join(units)}", check=False).split()


@pytest.fixture(scope="module")
def handed(deployer, host):
    return deployer.run(data=PULL)


def test_a_deploy_in_pull_mode_hands_the_app_to_the_agent_which_runs_it(handed, deployer, host):
    assert handed.returncode == 0, handed.output
    assert (f"[{host.name}] {APP}: hand over to the host's agent (not pulled yet, agent, "
            "configuration), which syncs it") in handed.output
    assert f"[{host.name}] {APP}: changed" in handed.output
    environ = host.process_environ(WEB)
    assert environ["API_KEY"] == VALUES["API_KEY"].encode()
    assert host.run_bytes(f"sudo cat /run/credentials/{WEB}/SESSION_SECRET") == \
        VALUES["SESSION_SECRET"].encode()
    assert enabled(host, WEB, *AGENT_UNITS) == ["disabled", "enabled", "enabled"]
    assert host.file_state(f"/etc/ssmenv/agent/{APP}.description.json").split("\n")[0] == \
        "root:root 600"
    assert "FAKE" not in handed.output
    assert host.run("sudo journalctl -o cat --no-pager | grep -c FAKE-pd", check=False) == "0\n"

    # Nothing new: the state read alone, no operation, no restart.
    running = host.service(WEB)["InvocationID"]
    again = deployer.run(data=PULL)
    assert again.returncode == 0, again.output
    assert "Starting operation" not in again.output
    assert host.service(WEB)["InvocationID"] == running


def test_a_push_rotation_leaves_a_pulled_app_to_its_agent_and_plan_and_drift_report_it(
    handed, deployer, host, stand_in
):
    running = host.service(WEB)["InvocationID"]
    stand_in.put({f"{PATH}/API_KEY": "FAKE-pd-key-2"})
    try:
        drift = ssmenv(deployer, "drift", PULL)
        assert drift.returncode == 2, drift.stdout + drift.stderr
        assert f"drift: 1 of 1 hosts differ: {host.name}" in drift.stdout
        plan = ssmenv(deployer, "plan", PULL)
        assert plan.returncode == 2, plan.stdout + plan.stderr
        rotated = deployer.run(deploy="rotate.py", data=PULL)
        assert rotated.returncode == 0, rotated.output
        assert (f"[{host.name}] {APP}: pulled by the host's agent, which rotates it (its timer, "
                f"or ssmenv-agent sync {APP} there); not from here") in rotated.output
        assert host.service(WEB)["InvocationID"] == running  # the push restarted nothing
        synced = host.run(f"sudo ssmenv-agent sync {APP}; echo status=$?", check=False)
        assert synced.rstrip().endswith("status=2"), synced
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-pd-key-2")
        assert ssmenv(deployer, "drift", PULL).returncode == 0
    finally:
        stand_in.put({f"{PATH}/API_KEY": VALUES["API_KEY"]})
        host.run(f"sudo ssmenv-agent sync {APP}", check=False)


def test_a_push_and_the_agent_never_both_restart_it(handed, deployer, host, stand_in):
    stand_in.put({f"{PATH}/API_KEY": "FAKE-pd-key-3"})
    since = time.time()
    # The deploy hands the new value over while the agent syncs it itself: one of them switches
    # the app, the other finds nothing left to do.
    push = deployer.start(data=PULL)
    synced = host.run(f"sudo ssmenv-agent sync {APP}; echo status=$?", check=False)
    output, _ = push.communicate(timeout=600)
    assert push.returncode == 0, output
    assert synced.rstrip().endswith(("status=0", "status=2")), synced
    assert host.fingerprints()["API_KEY"] == sha256("FAKE-pd-key-3")
    log = host.run(f"sudo journalctl -t ssmenv -o cat --no-pager --since @{int(since)}")
    assert len(re.findall(rf"{APP}: activation \d+ begins", log)) == 1, log
    assert host.service(WEB)["NRestarts"] == "0"


def test_a_host_moves_to_push_and_back_to_pull_with_a_deploy(handed, deployer, host):
    pushed = deployer.run(data=PUSH)
    assert pushed.returncode == 0, pushed.output
    assert "taken back from the host's agent" in pushed.output
    assert enabled(host, WEB, *AGENT_UNITS) == ["enabled", "disabled", "disabled"]
    assert host.run(f"systemctl is-active {AGENT_UNITS[1]}", check=False).strip() == "inactive"
    for path in (f"/etc/ssmenv/agent/{APP}.json", f"/etc/ssmenv/agent/{APP}.description.json",
                 f"/var/lib/ssmenv/agent/{APP}.last-good"):
        assert host.file_state(path) == "absent", path
    status = host.run(f"sudo ssmenv-agent sync {APP}; echo status=$?", check=False)
    assert "this host does not pull example-app" in status and status.rstrip().endswith("=1")
    again = deployer.run(data=PUSH)
    assert "Starting operation" not in again.output  # pushed: a no-op is the state read
    assert ssmenv(deployer, "drift", PUSH).returncode == 0

    back = deployer.run(data=PULL)
    assert back.returncode == 0, back.output
    assert enabled(host, WEB, *AGENT_UNITS) == ["disabled", "enabled", "enabled"]
    assert host.fingerprints()["API_KEY"] == sha256("FAKE-pd-key-3")
