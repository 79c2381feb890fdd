"""Scheduled rotation: a lab host plays the control host, holding this checkout, a virtualenv made
as docs/scheduled-rotation.md makes it (``requirements.txt`` only: the runtime pins, no test
tool) and the lab key, and its systemd timer rotates the two app hosts with the real ``pyinfra``
CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lab import hosts as lab
from tests.e2e.conftest import (
    BLOCKS,
    REPO,
    Deployer,
    Host,
    booted,
    example_parameters,
    sha256,
    wait_for,
)

APP_UNIT = "example-app-web.service"  # the web process of the example app's Procfile
PATH = "/e2e/timer"
BASE = example_parameters(PATH, "timer")
# The app hosts' inventory as the control host sees it: its file name names the units.
NAME = "e2e"
SERVICE = f"ssmenv-rotate-{NAME}.service"
TIMER = f"ssmenv-rotate-{NAME}.timer"
LOCK = f"/run/ssmenv-rotate-{NAME}/lock"
# Where the lock was: world-writable /run/lock, where any local user can create it and hold it.
OLD_LOCK = f"/run/lock/ssmenv-rotate-{NAME}.lock"
AWS_ENV_FILE = "/etc/ssmenv/rotate-e2e.env"


def unit_show(host: Host, unit: str, *properties: str) -> dict[str, str]:
    out = host.run(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in properties))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(host: Host, unit: str, since: float) -> str:
    return host.run(f"sudo journalctl -u {unit} --since=@{int(since)} --no-pager -o cat")


def has_run(host: Host) -> bool:
    """The service ran (its main process exited) and is no longer running."""
    state = unit_show(host, SERVICE, "ExecMainExitTimestampMonotonic", "ActiveState")
    return state["ExecMainExitTimestampMonotonic"] != "0" and state["ActiveState"] in (
        "inactive", "failed",
    )  # fmt: skip


def rotations(host: Host) -> int:
    """How many pyinfra processes run on the control host now."""
    return int(host.run("pgrep -c -x pyinfra", check=False).strip() or 0)


def starts_since(host: Host, since: float) -> int:
    """How many times the app was started since ``since`` (seconds since the epoch)."""
    return journal(host, APP_UNIT, since).count(f"Started {APP_UNIT}")


@pytest.fixture(scope="module")
def share(tmp_path_factory, inventory) -> Path:
    """What the control host reads from this machine: the app hosts' inventory, and beside it
    the group data that points their rotation at this test's SSM path."""
    path = tmp_path_factory.mktemp("control")
    shutil.copy(inventory, path / f"{NAME}.py")
    (path / "group_data").mkdir()
    (path / "group_data" / f"{NAME}.py").write_text(f"ssm_path = {PATH!r}\n")
    return path


@pytest.fixture(scope="module")
def rotation_venv(tmp_path_factory) -> Path:
    """The control host's virtualenv, made as the docs say: ``pip install -r requirements.txt``
    with this machine's Python (pip's cache makes it about 15 s after the first time)."""
    path = tmp_path_factory.mktemp("rotation") / "venv"
    venv.create(path, with_pip=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    install = subprocess.run([*pip, "install", "--quiet", "-r", str(REPO / "requirements.txt")],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    frozen = subprocess.run([*pip, "list", "--format=freeze"], capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    assert "moto==" not in frozen and "pytest==" not in frozen, frozen
    return path


@pytest.fixture(scope="module")
def control_host(share, rotation_venv) -> Iterator[Host]:
    """A lab host with this checkout, the rotation virtualenv and the Python it links to, the lab
    key and the shared directory mounted read-only at the same paths as here.

    The Python: Debian's own on this machine (``make``'s) is the host's, which the agent's image
    carries (Debian 12's python3); another (pyenv's, a build of one's own) is mounted."""
    key_dir = str(lab.key_path().parent)
    binds = [(str(REPO), str(REPO)), (key_dir, key_dir), (str(share), str(share)),
             (str(rotation_venv), str(rotation_venv))]  # fmt: skip
    if sys.base_prefix != "/usr":
        binds.append((sys.base_prefix, sys.base_prefix))
    with booted(BLOCKS["control"], 1, kind="agent", binds=binds) as up:
        yield up[0]


@pytest.fixture(scope="module")
def scheduler(control_host, share, rotation_venv, deployer, tmp_path_factory) -> Deployer:
    """Runs ``schedule.py`` against the control host, whose data asks to rotate the app hosts."""
    data = {
        **lab.connection_data(control_host.ssh_port),
        "rotation_inventory": str(share / f"{NAME}.py"),
        "rotation_checkout": str(REPO),
        "rotation_venv": str(rotation_venv),
        "rotation_environment_file": AWS_ENV_FILE,
        "rotation_randomized_delay": "0",
    }  # fmt: skip
    path = tmp_path_factory.mktemp("control-inventory") / "control.py"
    path.write_text(f"control = [({control_host.name!r}, {data!r})]\n")
    return Deployer(path, deployer.env)


@pytest.fixture(scope="module")
def deployed(share, deployer, stand_in, lab_hosts, control_host):
    """The app on both hosts, deployed from here; the control host's AWS settings in place."""
    stand_in.put(BASE)
    result = Deployer(share / f"{NAME}.py", deployer.env).run()
    assert result.returncode == 0, result.output[-3000:]
    # The stand-in's address and fake credentials: 127.0.0.1 is the same inside the containers.
    settings = "".join(f"{k}={v}\n" for k, v in stand_in.env.items())
    control_host.run(
        f"sudo sh -c 'umask 077; mkdir -p /etc/ssmenv && cat > {AWS_ENV_FILE}'", stdin=settings
    )
    yield
    stand_in.put(BASE)


def test_scheduling_installs_an_enabled_timer_and_changes_nothing_the_second_time(
    deployed, scheduler, control_host
):
    first = scheduler.run(deploy="schedule.py")
    assert first.returncode == 0, first.output[-3000:]
    again = scheduler.run(deploy="schedule.py")

    assert again.returncode == 0, again.output[-3000:]
    assert sum(again.changed.values()) == 0, again.changed
    timer = unit_show(control_host, TIMER, "ActiveState", "UnitFileState", "TimersCalendar")
    assert (timer["ActiveState"], timer["UnitFileState"]) == ("active", "enabled")
    assert "OnCalendar=*-*-* *:00:00" in timer["TimersCalendar"]  # hourly, the default
    assert control_host.run(f"systemctl is-active {SERVICE}", check=False).strip() == "inactive"
    assert control_host.run(f"sudo systemd-analyze verify {TIMER}").strip() == ""
    assert control_host.file_state(f"/etc/systemd/system/{SERVICE}").startswith("root:root 644")
    assert "FAKE" not in control_host.run(f"systemctl cat {SERVICE} {TIMER}")


def front_door(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m ssmenv ARGS`` from the checkout, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "ssmenv", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_python_m_ssmenv_schedule_installs_the_timer_and_refuses_a_missing_inventory(
    deployed, scheduler, control_host
):
    done = front_door("schedule", str(scheduler.inventory), env=scheduler.env)
    missing = front_door("schedule", "inventories/no-such-control.py", env=scheduler.env)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.endswith(
        f"schedule: the rotation timer is in place on 1 hosts: {control_host.name}\n"
    )
    timer = unit_show(control_host, TIMER, "ActiveState", "UnitFileState")
    assert (timer["ActiveState"], timer["UnitFileState"]) == ("active", "enabled")
    assert missing.returncode == 1, missing.stdout[-3000:]
    assert missing.stderr.splitlines()[-1] == (
        "ssmenv schedule: error: no host reported: no inventory file "
        "inventories/no-such-control.py"
    )


def test_the_timer_rotates_every_app_host_when_it_fires(
    deployed, scheduler, share, stand_in, lab_hosts, control_host
):
    before = {h.name: h.service(APP_UNIT)["InvocationID"] for h in lab_hosts}
    stand_in.put({f"{PATH}/API_KEY": "FAKE-timer-key-2"})
    # A one-off calendar time a little ahead: the timer itself must start the rotation. One that
    # passed before schedule.py was done (a loaded machine) never fires: set a later one.
    since = time.time() - 5
    for _ in range(3):
        fire_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        result = scheduler.run(
            deploy="schedule.py", data={"rotation_schedule": f"{fire_at:%Y-%m-%d %H:%M:%S} UTC"}
        )
        assert result.returncode == 0, result.output[-3000:]
        if datetime.now(UTC) < fire_at or has_run(control_host):
            break
    else:
        pytest.fail("schedule.py outlasted the timer's fire time three times")

    wait_for(lambda: has_run(control_host), f"{SERVICE} to run and finish", 180, every=0.5)

    service = unit_show(control_host, SERVICE, "Result", "ExecMainStatus")
    log = journal(control_host, SERVICE, since)
    assert service == {"Result": "success", "ExecMainStatus": "0"}, log[-3000:]
    assert unit_show(control_host, TIMER, "LastTriggerUSec")["LastTriggerUSec"] not in ("", "n/a")
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-timer-key-2"), log[-4000:]
        assert host.service(APP_UNIT)["InvocationID"] != before[host.name]
    assert "API_KEY v1->v2" in log
    assert f"Finished {SERVICE} - ssmenv: rotate the configuration of {share / NAME}.py" in log
    assert "FAKE-timer" not in log


def test_a_second_start_while_a_run_holds_the_lock_does_not_overlap(
    deployed, scheduler, stand_in, lab_hosts, control_host
):
    since = time.time() - 1
    stand_in.put({f"{PATH}/API_KEY": "FAKE-timer-key-3"})
    control_host.run(f"sudo systemctl start --no-block {SERVICE}")
    wait_for(lambda: rotations(control_host), f"{SERVICE} to hold the lock and run pyinfra", 30,
             every=0.5)  # fmt: skip

    # By hand, the same command under the same lock: refused at once, nothing run.
    command = unit_show(control_host, SERVICE, "ExecStart")["ExecStart"]
    argv = command.split("argv[]=", 1)[1].split(" ;", 1)[0]
    started = time.monotonic()
    by_hand = control_host.run(f"cd {REPO} && sudo {argv}; echo exit=$?", check=False)
    assert "exit=75" in by_hand, by_hand
    assert time.monotonic() - started < 10
    assert rotations(control_host) == 1
    # Through systemd: a second start joins the running one (or, if that one has just ended,
    # runs after it, never beside it) and returns when it is done.
    control_host.run(f"sudo systemctl start {SERVICE}")

    assert unit_show(control_host, SERVICE, "Result")["Result"] == "success"
    runs = journal(control_host, SERVICE, since)
    executions = runs.count("flock: executing")
    assert executions in (1, 2), runs[-3000:]
    if executions == 2:
        first_end = runs.index(f"{SERVICE}: Deactivated successfully")
        assert first_end < runs.rindex("flock: executing"), runs[-3000:]
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-timer-key-3")
        assert starts_since(host, since) == 1


@contextmanager
def parameter_deleted(stand_in, share):
    stand_in.delete(f"{PATH}/SESSION_SECRET")
    try:
        yield "SESSION_SECRET"  # the rotation's error names the variable
    finally:
        stand_in.put({f"{PATH}/SESSION_SECRET": BASE[f"{PATH}/SESSION_SECRET"]})


@contextmanager
def inventory_gone(stand_in, share):
    inventory = share / f"{NAME}.py"
    inventory.rename(inventory.with_suffix(".away"))
    try:
        yield f"ExecStartPre=/usr/bin/test -f {inventory}"
    finally:
        inventory.with_suffix(".away").rename(inventory)


@pytest.mark.parametrize("failure", [parameter_deleted, inventory_gone])
def test_a_failed_rotation_leaves_the_service_failed_and_the_hosts_untouched(
    failure, deployed, scheduler, share, stand_in, lab_hosts, control_host
):
    since = time.time() - 1
    before = {h.name: h.file_state("/etc/example-app.env") for h in lab_hosts}
    with failure(stand_in, share) as reason:
        started = control_host.run(f"sudo systemctl start {SERVICE}; echo exit=$?", check=False)
        status = control_host.run(f"systemctl status --no-pager -l {SERVICE}", check=False)

    assert "exit=0" not in started
    assert control_host.run(f"systemctl is-failed {SERVICE}", check=False).strip() == "failed"
    log = journal(control_host, SERVICE, since)
    assert reason in log + status, log[-3000:] + status
    assert "FAKE-timer" not in log
    for host in lab_hosts:
        assert host.file_state("/etc/example-app.env") == before[host.name]
    control_host.run(f"sudo systemctl reset-failed {SERVICE}")


def test_a_local_user_holding_the_old_lock_cannot_stop_the_rotation(
    deployed, scheduler, stand_in, lab_hosts, control_host
):
    scheduled = scheduler.run(deploy="schedule.py")
    assert scheduled.returncode == 0, scheduled.output[-3000:]
    since = time.time() - 1
    stand_in.put({f"{PATH}/API_KEY": "FAKE-timer-key-4"})
    # An unprivileged local user (nobody) takes the lock where it was, and keeps it.
    holder = "intruder-holds-the-old-lock"
    control_host.run(
        f"sudo systemd-run --quiet --unit={holder} --uid=nobody --gid=nogroup "
        f"/usr/bin/flock {OLD_LOCK} /bin/sleep infinity"  # held until the unit is stopped
    )
    try:
        wait_for(
            lambda: "held" in control_host.run(
                f"sudo runuser -u nobody -- flock -n {OLD_LOCK} true || echo held", check=False
            ),
            "nobody to hold the old lock", 30, every=0.5,
        )  # fmt: skip
        # Nor can it reach the lock where it is now: the directory is the rotation's user's.
        denied = control_host.run(
            f"sudo runuser -u nobody -- flock -n {LOCK} true; echo exit=$?", check=False
        )
        assert "exit=0" not in denied, denied
        started = control_host.run(f"sudo systemctl start {SERVICE}; echo exit=$?", check=False)
    finally:
        control_host.run(f"sudo systemctl stop {holder}", check=False)

    log = journal(control_host, SERVICE, since)
    assert "exit=0" in started, started + log[-3000:]
    assert unit_show(control_host, SERVICE, "Result")["Result"] == "success"
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-timer-key-4"), log[-3000:]
    directory = control_host.run(f"sudo stat -c '%U:%G %a' {LOCK.rsplit('/', 1)[0]}").strip()
    assert directory == "root:root 700"


@contextmanager
def group_writable_inventory(control_host, share):
    """An inventory others may change: the rotation would run whatever they put in it as root."""
    loose = share / "loose.py"
    shutil.copy(share / f"{NAME}.py", loose)
    loose.chmod(0o664)
    try:
        yield (
            {"rotation_inventory": str(loose)},
            f"rotation_inventory: {loose} is writable by its group or others (mode 664)",
        )
    finally:
        loose.unlink()


@contextmanager
def readable_environment_file(control_host, share):
    """The AWS settings (here the stand-in's keys) in a file every local user can read."""
    loose = "/etc/ssmenv/loose.env"
    control_host.run(f"sudo sh -c 'cp {AWS_ENV_FILE} {loose} && chmod 644 {loose}'")
    try:
        yield (
            {"rotation_environment_file": loose},
            f"rotation_environment_file: {loose} has mode 644: it holds AWS settings, maybe "
            "keys; make it 600",
        )
    finally:
        control_host.run(f"sudo rm -f {loose}")


@pytest.mark.parametrize("loose", [group_writable_inventory, readable_environment_file])
def test_a_file_others_could_change_or_read_is_refused_before_any_unit_is_installed(
    loose, deployed, scheduler, share, stand_in, control_host
):
    units = "ls /etc/systemd/system | grep -c ssmenv-rotate-loose; true"
    assert control_host.run(units).strip() == "0"
    with loose(control_host, share) as (data, problem):
        refused = scheduler.run(deploy="schedule.py", data={**data, "rotation_name": "loose"})

    assert refused.returncode != 0, refused.output[-3000:]
    assert problem in refused.output, refused.output[-3000:]
    assert stand_in.env["AWS_SECRET_ACCESS_KEY"] not in refused.output
    assert control_host.run(units).strip() == "0"


def test_a_rotation_run_as_another_user_locks_in_a_directory_of_that_user_alone(
    deployed, scheduler, control_host
):
    user, name = "rotator", "as-rotator"
    lock = f"/run/ssmenv-rotate-{name}/lock"
    control_host.run(f"getent passwd {user} || sudo useradd --system --no-create-home {user}")
    scheduled = scheduler.run(
        deploy="schedule.py", data={"rotation_name": name, "rotation_user": user}
    )
    try:
        assert scheduled.returncode == 0, scheduled.output[-3000:]
        # The run itself fails (this user has no key to the app hosts); its lock's place stays.
        control_host.run(f"sudo systemctl start ssmenv-rotate-{name}.service", check=False)
        directory = control_host.run(f"sudo stat -c '%U:%G %a' {lock.rsplit('/', 1)[0]}")
        assert directory.strip() == f"{user}:{user} 700"
        for who, can in ((user, True), ("nobody", False)):
            held = control_host.run(
                f"sudo runuser -u {who} -- flock -n {lock} true; echo exit=$?", check=False
            )
            assert ("exit=0" in held) is can, (who, held)
    finally:
        control_host.run(
            f"sudo systemctl disable --now ssmenv-rotate-{name}.timer; "
            f"sudo systemctl reset-failed ssmenv-rotate-{name}.service; "
            f"sudo rm -f /etc/systemd/system/ssmenv-rotate-{name}.*; sudo systemctl daemon-reload",
            check=False,
        )
