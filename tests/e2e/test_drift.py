"""Drift and plan by value, and their exit statuses, on real hosts through the real ``pyinfra``.

A parameter deleted and created again restarts at version 1 with a new value: only the keyed
fingerprints in the manifest can tell. ``python -m ssmenv drift`` / ``plan`` exit 0 when nothing
differs, 2 when something does, 1 on an error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab import hosts as lab
from lab.ports import free_port
from tests.e2e.conftest import APP, REPO, Base

PATH = "/e2e/drift"
SECRET = f"{PATH}/SESSION_SECRET"
BASE = Base.example(PATH, "drift")
DATA = BASE.data
SAME_VERSION = "(new value, same version)"


def ssmenv(command: str, deployer, *args: str, inventory: Path | None = None):
    """``python -m ssmenv COMMAND INVENTORY --data ssm_path=... ARGS``, as a user runs it."""
    return deployer.ssmenv(command, "--data", f"ssm_path={PATH}", *args, inventory=inventory)


def output(result) -> str:
    return result.stdout + result.stderr


def version(stand_in, name: str) -> int:
    return stand_in.ssm().get_parameter(Name=name)["Parameter"]["Version"]


def recreate(stand_in, name: str, value: str) -> None:
    """Delete the parameter and create it again: its version starts over at 1."""
    stand_in.delete(name)
    stand_in.put({name: value})
    assert version(stand_in, name) == 1


@pytest.fixture
def recreated(deployer, stand_in, lab_hosts):
    """Every host deployed from parameters made anew (each at version 1)."""
    stand_in.delete(*BASE.values)
    stand_in.put(BASE.values)
    result = deployer.run(data=DATA)
    assert result.returncode == 0, result.output[-3000:]


def test_a_parameter_created_again_with_a_new_value_is_drift_and_plan_on_every_host(
    recreated, deployer, stand_in, lab_hosts
):
    clean = ssmenv("drift", deployer)
    assert clean.returncode == 0, output(clean)[-3000:]
    for host in lab_hosts:
        assert f"[{host.name}] drift: none, every version is current" in output(clean)
    assert f"drift: no host differs ({len(lab_hosts)} hosts)" in clean.stdout

    recreate(stand_in, SECRET, "FAKE-drift-session-recreated")
    before = {h.name: h.file_state(f"/etc/{APP}.env") for h in lab_hosts}

    drift = ssmenv("drift", deployer)
    plan = ssmenv("plan", deployer)
    by_pyinfra = deployer.run(deploy="drift.py", data=DATA)

    assert drift.returncode == 2, output(drift)[-3000:]
    assert plan.returncode == 2, output(plan)[-3000:]
    assert by_pyinfra.returncode == 0, by_pyinfra.output[-3000:]  # pyinfra's own: the run worked
    for host in lab_hosts:
        line = f"[{host.name}] drift: SESSION_SECRET v1->v1 {SAME_VERSION}"
        assert line in output(drift) and line in by_pyinfra.output
        assert f"[{host.name}] /etc/{APP}.env: changes SESSION_SECRET v1->v1 {SAME_VERSION}" in (
            output(plan)
        )
        assert f"[{host.name}] {APP}: restart (env file)" in output(plan)
        assert host.file_state(f"/etc/{APP}.env") == before[host.name]  # the plan wrote nothing
    for result, command in ((drift, "drift"), (plan, "plan")):
        summary = result.stdout.splitlines()[-1]
        prefix = f"{command}: {len(lab_hosts)} of {len(lab_hosts)} hosts differ: "
        assert summary.startswith(prefix), summary
        assert set(summary.removeprefix(prefix).split(", ")) == {h.name for h in lab_hosts}
    for text in (output(drift), output(plan), by_pyinfra.output):
        assert "FAKE-drift" not in text and "hmac-sha256" not in text

    rotated = deployer.run(deploy="rotate.py", data=DATA)
    assert rotated.returncode == 0, rotated.output[-3000:]
    for command in ("drift", "plan"):
        after = ssmenv(command, deployer)
        assert after.returncode == 0, (command, output(after)[-3000:])
        assert f"{command}: no host differs ({len(lab_hosts)} hosts)" in after.stdout


# The real pyinfra CLI with the release archive builder replaced by a failure, so that a run that
# builds the archive (tars the app's source to hash it) fails. pyinfra_cli first: it patches the
# stdlib with gevent, which must come before boto3 and ssl are imported.
WITHOUT_ARCHIVE = """import sys
from pyinfra_cli.main import main
import tasks.release
def refused(source):
    raise RuntimeError(f"built the release archive of {source}")
tasks.release.build_archive = refused
sys.argv[0] = "pyinfra"
sys.exit(main())
"""


def test_drift_and_a_rotation_never_build_the_release_archive(
    recreated, deployer, stand_in, lab_hosts
):
    def run(deploy: str) -> subprocess.CompletedProcess[str]:
        command = deployer.command(data=DATA, deploy=deploy)
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_ARCHIVE, *command[1:]],
            cwd=REPO, env=deployer.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    # The deploy does build it: the replacement is in force.
    deploy = run("deploy.py")
    assert deploy.returncode != 0 and "built the release archive" in output(deploy)

    stand_in.put({SECRET: "FAKE-drift-session-rotated"})
    drift = run("drift.py")
    assert drift.returncode == 0, output(drift)[-3000:]
    before = {h.name: h.file_state(f"/etc/{APP}.env") for h in lab_hosts}
    rotation = run("rotate.py")
    assert rotation.returncode == 0, output(rotation)[-3000:]
    for host in lab_hosts:
        assert f"[{host.name}] drift: SESSION_SECRET v1->v2" in output(drift)
        assert host.file_state(f"/etc/{APP}.env") != before[host.name]  # rotated all the same


def test_a_version_that_moved_over_the_same_value_is_no_drift(
    recreated, deployer, stand_in, lab_hosts
):
    stand_in.put({SECRET: BASE.values[SECRET]})  # the same value again: version 2
    assert version(stand_in, SECRET) == 2

    drift = ssmenv("drift", deployer)
    plan = ssmenv("plan", deployer)

    assert drift.returncode == 0, output(drift)[-3000:]
    assert plan.returncode == 0, output(plan)[-3000:]
    for host in lab_hosts:
        assert (
            f"[{host.name}] drift: none, every value is current "
            "(only versions moved: SESSION_SECRET v1->v2)"
        ) in output(drift)
        assert f"[{host.name}] /etc/{APP}.env: no value changed" in output(plan)


def test_a_host_that_cannot_be_reached_is_an_error_not_a_clean_report(
    recreated, deployer, lab_hosts, tmp_path
):
    inventory = tmp_path / "with_unreachable.py"
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port})
               for h in lab_hosts]  # fmt: skip
    entries.append(("drift-unreachable", lab.connection_data(free_port())))  # nothing listens
    inventory.write_text(f"staging = {entries!r}\n")

    for command in ("drift", "plan"):
        result = ssmenv(command, deployer, inventory=inventory)
        assert result.returncode == 1, (command, output(result)[-3000:])
        assert f"ssmenv {command}: error: pyinfra exited with status 1" in result.stderr
        # A report, not a prompt ("continue?") that a cron job's stdin ends with a traceback.
        assert "Traceback" not in output(result) and "continue?" not in output(result)


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_an_invalid_setting_is_an_error(deployer, lab_hosts, command):
    result = ssmenv(command, deployer, "--data", "health_timeout=soon")
    assert result.returncode == 1, output(result)[-3000:]
    assert "health_timeout: Input should be a valid integer" in output(result)


def test_an_inventory_with_no_host_is_an_error(deployer):
    # pyinfra warns about a missing inventory file, runs on no host, and exits 0.
    result = ssmenv("drift", deployer, inventory=Path("inventories/typo.py"))
    assert result.returncode == 1, output(result)[-3000:]
    assert "no host reported" in result.stderr
