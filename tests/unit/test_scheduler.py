"""The rotation timer's settings and units, rendered without a host."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from ssmenv import rotation as scheduler
from ssmenv.errors import ConfigError
from ssmenv.facts import FileInfo, RotationHostState
from ssmenv.render import exec_arg
from ssmenv.render import rotation_service_unit as service_unit
from ssmenv.render import rotation_timer_unit as timer_unit
from ssmenv.rotation import RotationTimer

PROD = {"rotation_inventory": "inventories/prod.py"}


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_defaults_name_the_units_after_the_inventory_and_run_hourly_from_the_checkout():
    timer = RotationTimer.from_data(PROD)
    assert timer.service == "ssmenv-rotate-prod.service"
    assert timer.timer == "ssmenv-rotate-prod.timer"
    assert timer.inventory == "/opt/ssmenv/inventories/prod.py"
    assert timer.pyinfra == "/opt/ssmenv/.venv/bin/pyinfra"
    assert (timer.schedule, timer.randomized_delay, timer.user) == ("hourly", "5min", "root")
    assert timer.environment_file is None


def test_the_service_is_a_oneshot_running_the_rotation_under_a_nonblocking_lock():
    unit = lines(service_unit(RotationTimer.from_data(PROD)))
    assert "Type=oneshot" in unit
    assert "WorkingDirectory=/opt/ssmenv" in unit
    assert (
        "ExecStart=/usr/bin/flock --nonblock --conflict-exit-code 75 --verbose "
        "/run/ssmenv-rotate-prod/lock /opt/ssmenv/.venv/bin/pyinfra -y "
        "/opt/ssmenv/inventories/prod.py rotate.py"
    ) in unit
    assert "TimeoutStartSec=30min" in unit
    # pyinfra would run on no host and succeed if the inventory were gone.
    assert "ExecStartPre=/usr/bin/test -f /opt/ssmenv/inventories/prod.py" in unit
    # Output goes to the journal, systemd's default: nothing redirects it elsewhere.
    assert not any(line.startswith(("StandardOutput=", "StandardError=")) for line in unit)
    assert not any(line.startswith(("EnvironmentFile=", "Restart=")) for line in unit)
    assert "[Install]" not in unit  # started by its timer, never at boot


@pytest.mark.parametrize("user", ["root", "deploy"])
def test_the_lock_is_in_a_directory_only_the_rotations_user_can_write(user):
    # In world-writable /run/lock any local user could create the lock and hold it, and so stop
    # every rotation. systemd makes /run/ssmenv-rotate-<name> (in /run, where only root creates)
    # owned by the service's user, mode 0700, and keeps it between runs, so a run by hand or
    # from cron under the same lock never overlaps one that has just ended.
    timer = RotationTimer.from_data({**PROD, "rotation_user": user})
    unit = lines(service_unit(timer))
    assert timer.lock == "/run/ssmenv-rotate-prod/lock"
    assert f"User={user}" in unit
    assert "RuntimeDirectory=ssmenv-rotate-prod" in unit
    assert "RuntimeDirectoryMode=0700" in unit
    assert "RuntimeDirectoryPreserve=yes" in unit
    assert not any("/run/lock" in line for line in unit if not line.startswith("#"))


def test_aws_settings_come_from_an_environment_file_that_must_exist():
    timer = RotationTimer.from_data({**PROD, "rotation_environment_file": "/etc/ssmenv/prod.env"})
    unit = lines(service_unit(timer))
    assert "EnvironmentFile=/etc/ssmenv/prod.env" in unit
    assert not any(line.startswith("Environment=AWS") for line in unit)


def test_the_timer_runs_the_service_on_the_schedule_and_catches_up_missed_runs():
    timer = RotationTimer.from_data(
        {**PROD, "rotation_schedule": "*-*-* 04:00:00", "rotation_randomized_delay": "10min"}
    )
    unit = lines(timer_unit(timer))
    assert "Unit=ssmenv-rotate-prod.service" in unit
    assert "OnCalendar=*-*-* 04:00:00" in unit
    assert "Persistent=true" in unit
    assert "RandomizedDelaySec=10min" in unit
    assert "WantedBy=timers.target" in unit


@pytest.mark.parametrize(
    ("arg", "written"),
    [
        ("/opt/ssmenv/.venv/bin/pyinfra", "/opt/ssmenv/.venv/bin/pyinfra"),
        ("/srv/my inventories/prod.py", '"/srv/my inventories/prod.py"'),
        ("/srv/100%/prod.py", '"/srv/100%%/prod.py"'),
        ("/srv/$HOME/prod.py", '"/srv/$$HOME/prod.py"'),
        ('/srv/a"b\\c.py', '"/srv/a\\"b\\\\c.py"'),
        (";", '";"'),
    ],
)
def test_exec_arguments_are_escaped_so_systemd_reads_them_back_literally(arg, written):
    assert exec_arg(arg) == written


def test_a_percent_in_a_path_is_not_a_specifier():
    timer = RotationTimer.from_data({**PROD, "rotation_checkout": "/srv/ssmenv%i"})
    unit = lines(service_unit(timer))
    assert "WorkingDirectory=/srv/ssmenv%%i" in unit


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize(
    "data",
    [
        PROD,
        {
            **PROD,
            "rotation_name": "prod-eu",
            "rotation_checkout": "/srv/ssmenv 2",
            "rotation_environment_file": "/etc/ssmenv/prod.env",
            "rotation_user": "deploy",
            "rotation_schedule": "Mon..Fri *-*-* 04:00:00 UTC",
        },
    ],
)
def test_systemd_finds_nothing_wrong_with_the_units(data, tmp_path: Path):
    timer = RotationTimer.from_data(data)
    (tmp_path / timer.service).write_text(service_unit(timer))
    (tmp_path / timer.timer).write_text(timer_unit(timer))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--recursive-errors=no",
         str(tmp_path / timer.timer), str(tmp_path / timer.service)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_problem_is_reported_at_once_naming_its_setting():
    with pytest.raises(ConfigError) as error:
        RotationTimer.from_data(
            {
                "rotation_checkout": "relative/checkout",
                "rotation_venv": "venv",
                "rotation_environment_file": "aws.env",
                "rotation_name": "bad name",
                "rotation_user": "Root;",
                "rotation_schedule": "hourly\nExecStartPre=/bin/false",
            }
        )
    message = str(error.value)
    for key in (
        "rotation_inventory: required",
        "rotation_checkout: must be an absolute path",
        "rotation_venv: must be an absolute path",
        "rotation_environment_file: must be an absolute path",
        "rotation_name: must be",
        "rotation_user: must be a user name",
        "rotation_schedule: must be one line",
    ):
        assert key in message


ME = pwd.getpwuid(os.geteuid()).pw_name  # the rotation's user in these checks: owns tmp_path


def check_host(timer: RotationTimer) -> dict:
    """Run the control-host check here, as the fact runs it there."""
    command = RotationHostState().command(timer=timer).get_raw_value()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return RotationHostState().process(result.stdout.splitlines())


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_the_host_check_finds_nothing_missing_on_a_ready_control_host(tmp_path: Path):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "prod.py").write_text("hosts = []\n")
    (tmp_path / "rotate.py").write_text("")
    pyinfra = tmp_path / ".venv" / "bin" / "pyinfra"
    pyinfra.parent.mkdir(parents=True)
    pyinfra.write_text("#!/bin/sh\n")
    pyinfra.chmod(0o755)
    (tmp_path / "aws.env").write_text("AWS_REGION=eu-west-1\n")
    (tmp_path / "aws.env").chmod(0o600)
    timer = RotationTimer.from_data(
        {**PROD, "rotation_checkout": str(tmp_path), "rotation_user": ME,
         "rotation_environment_file": str(tmp_path / "aws.env")}
    )  # fmt: skip
    assert check_host(timer)["problems"] == []


def ready_control_host(root: Path) -> RotationTimer:
    """A checkout at ``root/ssmenv`` with its virtualenv, an inventory and an env file beside it,
    all as they should be: owned by the rotation's user, written only by it, the env file 0600."""
    checkout = root / "ssmenv"
    (checkout / "inventories").mkdir(parents=True)
    (checkout / "rotate.py").write_text("")
    pyinfra = checkout / ".venv" / "bin" / "pyinfra"
    pyinfra.parent.mkdir(parents=True)
    pyinfra.write_text("#!/bin/sh\n")
    pyinfra.chmod(0o755)
    (checkout / ".venv" / "lib").mkdir()
    (checkout / ".venv" / "lib" / "site.py").write_text("")
    (root / "etc").mkdir()
    (root / "etc" / "prod.py").write_text("hosts = []\n")
    (root / "etc" / "group_data").mkdir()
    (root / "etc" / "group_data" / "prod.py").write_text("")
    (root / "etc" / "aws.env").write_text("AWS_SECRET_ACCESS_KEY=FAKE-unit-secret\n")
    (root / "etc" / "aws.env").chmod(0o600)
    return RotationTimer.from_data(
        {"rotation_inventory": str(root / "etc" / "prod.py"), "rotation_checkout": str(checkout),
         "rotation_environment_file": str(root / "etc" / "aws.env"), "rotation_user": ME}
    )  # fmt: skip


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize(
    ("loosen", "problem"),
    [
        ("etc/prod.py", "rotation_inventory: {root}/etc/prod.py is writable by its group or "
         "others (mode 664)"),
        ("etc/group_data/prod.py", "rotation_inventory: {root}/etc/group_data/prod.py is "
         "writable by its group or others (mode 664)"),
        ("etc", "rotation_inventory: {root}/etc is writable by its group or others (mode 775)"),
        ("ssmenv/rotate.py", "rotation_checkout: {root}/ssmenv/rotate.py is writable by its "
         "group or others (mode 664)"),
        ("ssmenv/.venv/lib/site.py", "rotation_venv: {root}/ssmenv/.venv/lib/site.py is "
         "writable by its group or others (mode 664)"),
        ("ssmenv/.venv", "rotation_venv: {root}/ssmenv/.venv is writable by its group or "
         "others (mode 775)"),
    ],
)  # fmt: skip
def test_the_host_check_refuses_what_the_rotation_runs_when_others_can_change_it(
    tmp_path: Path, loosen: str, problem: str
):
    timer = ready_control_host(tmp_path)
    assert check_host(timer)["problems"] == []
    path = tmp_path / loosen
    path.chmod(path.stat().st_mode | 0o020)
    assert check_host(timer)["problems"] == [problem.format(root=tmp_path)]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_the_host_check_refuses_an_environment_file_others_can_read(tmp_path: Path, mode: int):
    timer = ready_control_host(tmp_path)
    (tmp_path / "etc" / "aws.env").chmod(mode)
    state = check_host(timer)
    assert state["problems"] == [
        f"rotation_environment_file: {tmp_path}/etc/aws.env has mode {mode:o}: it holds AWS "
        "settings, maybe keys; make it 600"
    ]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_the_host_check_refuses_a_file_of_another_user_and_says_how_many_more(tmp_path: Path):
    timer = ready_control_host(tmp_path)
    venv = tmp_path / "ssmenv" / ".venv"
    for path in (venv / "lib" / "site.py", venv / "lib"):
        os.chown(path, 65534, 65534)  # nobody
    user = pwd.getpwuid(65534).pw_name
    assert check_host(timer)["problems"] == [
        f"rotation_venv: {venv}/lib is owned by {user}, not by root or the rotation's user; "
        f"and 1 more under {venv}"
    ]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_a_sticky_directory_such_as_tmp_may_lead_to_the_files(tmp_path: Path):
    timer = ready_control_host(tmp_path)
    tmp_path.chmod(0o1777)
    assert check_host(timer)["problems"] == []


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_a_file_name_that_holds_a_newline_is_one_line(tmp_path: Path):
    timer = ready_control_host(tmp_path)
    planted = tmp_path / "ssmenv" / "x\n--service--"
    planted.write_text("")
    planted.chmod(0o666)
    state = check_host(timer)
    assert state["problems"] == [
        f"rotation_checkout: {tmp_path}/ssmenv/x?--service-- is writable by its group or others "
        "(mode 666)"
    ]
    assert state["service"] is None


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze here")
def test_the_host_check_names_each_missing_piece_and_unreadable_schedule(tmp_path: Path):
    timer = RotationTimer.from_data(
        {
            **PROD,
            "rotation_name": "unit-test-absent",
            "rotation_checkout": str(tmp_path),
            "rotation_environment_file": str(tmp_path / "aws.env"),
            "rotation_user": "no-such-user-here",
            "rotation_schedule": "every full moon",
            "rotation_timeout": "forever",
        }
    )
    state = check_host(timer)
    assert state["problems"] == [
        f"rotation_venv: no executable {tmp_path}/.venv/bin/pyinfra",
        f"rotation_checkout: no {tmp_path}/rotate.py",
        f"rotation_inventory: no file {tmp_path}/inventories/prod.py",
        f"rotation_environment_file: no file {tmp_path}/aws.env",
        "rotation_user: no user no-such-user-here",
        "rotation_schedule: systemd cannot read 'every full moon' (systemd-analyze calendar)",
        "rotation_timeout: systemd cannot read 'forever' as a time span (systemd-analyze timespan)",
    ]
    assert (state["service"], state["timer"]) == (None, None)


def test_the_host_check_reads_the_unit_files_state():
    state = RotationHostState().process(
        ["--problems--", "--service--", "root root 644", "9f86d081884c7d65  -", "--timer--"]
    )
    assert state == {
        "problems": [],
        "service": FileInfo(user="root", group="root", mode="644", sha256="9f86d081884c7d65"),
        "timer": None,
    }


def test_the_docs_list_every_rotation_setting():
    page = (Path(__file__).parents[2] / "docs" / "scheduled-rotation.md").read_text()
    assert scheduler.markdown_table() in page, (
        "docs/scheduled-rotation.md's settings table is stale: python -m ssmenv.rotation"
    )
