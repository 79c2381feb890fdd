"""The rotation timer's settings and units, rendered without a host."""

from __future__ import annotations

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
        "/run/lock/ssmenv-rotate-prod.lock /opt/ssmenv/.venv/bin/pyinfra -y "
        "/opt/ssmenv/inventories/prod.py rotate.py"
    ) in unit
    assert "TimeoutStartSec=30min" in unit
    # pyinfra would run on no host and succeed if the inventory were gone.
    assert "ExecStartPre=/usr/bin/test -f /opt/ssmenv/inventories/prod.py" in unit
    # Output goes to the journal, systemd's default: nothing redirects it elsewhere.
    assert not any(line.startswith(("StandardOutput=", "StandardError=")) for line in unit)
    assert not any(line.startswith(("EnvironmentFile=", "Restart=")) for line in unit)
    assert "[Install]" not in unit  # started by its timer, never at boot


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
    timer = RotationTimer.from_data(
        {**PROD, "rotation_checkout": str(tmp_path),
         "rotation_environment_file": str(tmp_path / "aws.env")}
    )  # fmt: skip
    assert check_host(timer)["problems"] == []


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


def test_readme_lists_every_rotation_setting():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert scheduler.markdown_table() in readme, (
        "README's rotation settings table is stale: python -m ssmenv.rotation"
    )
