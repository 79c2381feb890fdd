"""Per-host reports over a pipe, and the exit statuses drift, plan, schedule and parity make of
them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ssmenv import cli, report
from ssmenv.report import HostReport, ReportError

EMIT = "import sys; from ssmenv import report; {}"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", EMIT.format(code)]


def test_each_host_report_comes_back_through_the_pipe_and_nothing_else_does():
    status, reports = report.run(
        python("report.emit('app-1', True, ['SESSION_SECRET']); report.emit('app-2', False);"
               "print('pyinfra output goes to ours')"),
    )  # fmt: skip
    assert status == 0
    assert reports == [HostReport("app-1", True, ("SESSION_SECRET",)), HostReport("app-2", False)]


def test_reports_larger_than_a_pipe_buffer_do_not_block_the_run():
    names = [f"NAME_{i:05d}" for i in range(200)]
    status, reports = report.run(
        python(f"[report.emit(f'host-{{i}}', True, {names!r}) for i in range(500)]")
    )
    assert status == 0 and len(reports) == 500  # 1.4 MB: 20 times a pipe's buffer
    assert all(r.names == tuple(names) for r in reports)


def test_the_childs_exit_status_is_returned_with_what_it_reported():
    status, reports = report.run(python("report.emit('app-1', False); sys.exit(1)"))
    assert (status, reports) == (1, [HostReport("app-1", False)])


def test_without_the_variable_nothing_is_written(monkeypatch):
    monkeypatch.delenv(report.ENV, raising=False)
    report.emit("app-1", True, ["A"])  # a plain pyinfra run: no pipe, no error


def test_an_unusable_descriptor_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(report.ENV, "not-a-number")
    with pytest.raises(ReportError, match=report.ENV):
        report.emit("app-1", True, ["A"])


def test_each_app_of_a_host_reports_on_its_own_line():
    status, reports = report.run(
        python("report.emit('app-1', False, app='example-app');"
               "report.emit('app-1', True, ['API_KEY'], app='example-py')"),
    )  # fmt: skip
    assert status == 0
    assert reports == [
        HostReport("app-1", False, (), "example-app"),
        HostReport("app-1", True, ("API_KEY",), "example-py"),
    ]


def test_a_line_that_is_not_a_host_report_is_an_error():
    assert report.parse([b'{"host": "a", "differs": false, "names": []}\n']) == [
        HostReport("a", False)
    ]
    for line in (b"drift: A v1->v2\n", b'{"host": "a"}\n', b'{"host": "a", "differs": "no", '
                 b'"names": []}\n', b'{"host": "a", "app": 1, "differs": false, "names": []}\n',
                 b"[1]\n"):  # fmt: skip
        with pytest.raises(ReportError, match="line 1 is not a host report"):
            report.parse([line])


# --- what the commands make of the reports --------------------------------------------------


@pytest.fixture
def pyinfra_reports(monkeypatch):
    """``python -m ssmenv drift`` / ``plan`` with pyinfra's run replaced by its outcome."""
    outcome: dict = {}

    def run(command, **kwargs):
        outcome.update(command=command, cwd=kwargs.get("cwd"))
        return outcome["status"], outcome["reports"]

    monkeypatch.setattr(report, "run", run)

    def given(status: int, *reports: HostReport) -> dict:
        outcome.update(status=status, reports=list(reports))
        return outcome

    return given


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_no_host_differing_exits_0(pyinfra_reports, capsys, command):
    pyinfra_reports(0, HostReport("app-1", False), HostReport("app-2", False))
    assert cli.main([command, "inventories/prod.py"]) == 0
    assert capsys.readouterr().out == f"{command}: no host differs (2 hosts)\n"


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_a_host_that_differs_exits_2_and_is_named(pyinfra_reports, capsys, command):
    pyinfra_reports(0, HostReport("app-1", False), HostReport("app-2", True, ("API_KEY",)))
    assert cli.main([command, "inventories/prod.py"]) == 2
    assert capsys.readouterr().out == f"{command}: 1 of 2 hosts differ: app-2\n"


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_with_several_apps_the_summary_names_the_apps_that_differ(pyinfra_reports, capsys, command):
    pyinfra_reports(
        0,
        HostReport("app-1", False, (), "example-app"),
        HostReport("app-1", True, ("API_KEY",), "example-py"),
        HostReport("app-2", True, ("API_KEY",), "example-py"),
    )
    assert cli.main([command, "inventories/prod.py"]) == 2
    assert capsys.readouterr().out == (
        f"{command}: 2 of 2 hosts differ: app-1 (example-py), app-2 (example-py)\n"
    )


def test_with_several_apps_and_none_differing_the_summary_counts_hosts_and_apps(
    pyinfra_reports, capsys
):
    pyinfra_reports(
        0, HostReport("app-1", False, (), "a"), HostReport("app-1", False, (), "b"),
        HostReport("app-2", False, (), "b"),
    )  # fmt: skip
    assert cli.main(["drift", "inventories/prod.py"]) == 0
    assert capsys.readouterr().out == "drift: no host differs (2 hosts, 3 apps)\n"


@pytest.mark.parametrize("command", ["drift", "plan"])
def test_a_failed_pyinfra_run_is_an_error_whatever_the_reports_say(
    pyinfra_reports, capsys, command
):
    pyinfra_reports(1, HostReport("app-1", True, ("API_KEY",)))
    assert cli.main([command, "inventories/prod.py"]) == 1
    assert capsys.readouterr().err == f"ssmenv {command}: error: pyinfra exited with status 1\n"


def test_a_run_where_no_host_reported_is_an_error(pyinfra_reports, capsys):
    # pyinfra warns about an inventory path that does not exist, runs on no host, and exits 0.
    pyinfra_reports(0)
    assert cli.main(["drift", "inventories/typo.py"]) == 1
    assert "no host reported" in capsys.readouterr().err


def test_pyinfra_runs_the_deploy_file_with_the_users_arguments(pyinfra_reports):
    outcome = pyinfra_reports(0, HostReport("app-1", False))
    cli.main(["plan", "inventories/prod.py", "--limit", "app-1"])
    assert outcome["command"][1:] == ["inventories/prod.py", "rotate.py", "--dry", "-y",
                                      "--limit", "app-1"]  # fmt: skip


# --- bad usage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["drift"], ["plan"], ["parity", "staging"], ["parity", "staging", "prod", "--bogus"],
     ["parity", "--group-data"]],
    ids=["drift-no-inventory", "plan-no-inventory", "parity-one-name", "parity-unknown-option",
         "parity-option-without-value"],
)  # fmt: skip
def test_bad_usage_of_drift_plan_and_parity_exits_1_not_2(capsys, argv):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m ssmenv") and ": error: " in err


@pytest.mark.parametrize(
    "argv",
    [[], ["nonsense"], ["import", ".env"], ["scan", ".", "--bogus"]],
    ids=["no-command", "unknown-command", "import-without-ssm-path", "scan-unknown-option"],
)
def test_bad_usage_elsewhere_keeps_argparses_status_2(capsys, argv):
    assert cli.main(argv) == 2
    assert "usage: python -m ssmenv" in capsys.readouterr().err


def test_help_still_exits_0(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["drift", "--help"])
    assert exited.value.code == 0
    assert "inventory" in capsys.readouterr().out


# --- the front door's pyinfra runs ------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_schedule_runs_schedule_py_on_the_control_inventory_without_prompting(
    pyinfra_reports, capsys
):
    outcome = pyinfra_reports(0, HostReport("ops-1", False))
    assert cli.main(["schedule", "inventories/control.py", "--data", "rotation_name=x"]) == 0
    assert outcome["command"][1:] == ["inventories/control.py", "schedule.py", "-y",
                                      "--data", "rotation_name=x"]  # fmt: skip
    assert outcome["cwd"] == REPO
    assert capsys.readouterr().out == "schedule: the rotation timer is in place on 1 hosts: ops-1\n"


@pytest.mark.parametrize("command", ["schedule", "plan", "drift"])
def test_an_inventory_that_does_not_exist_is_an_error_in_one_line_naming_it(
    pyinfra_reports, capsys, command
):
    # pyinfra warns, runs on no host and exits 0: a typo must not look like a done rotation.
    pyinfra_reports(0)
    assert cli.main([command, "inventories/typo.py"]) == 1
    assert capsys.readouterr().err == (
        f"ssmenv {command}: error: no host reported: no inventory file inventories/typo.py\n"
    )


def test_schedule_on_an_inventory_without_hosts_is_an_error(pyinfra_reports, capsys, tmp_path):
    empty = tmp_path / "control.py"
    empty.write_text("control = []\n")
    pyinfra_reports(0)
    assert cli.main(["schedule", str(empty)]) == 1
    assert capsys.readouterr().err == (
        f"ssmenv schedule: error: no host reported: none in {empty}, or none left by --limit\n"
    )


def test_a_relative_inventory_is_read_from_the_users_working_directory(
    pyinfra_reports, monkeypatch, tmp_path
):
    (tmp_path / "mine.py").write_text("hosts = ['app-1']\n")
    monkeypatch.chdir(tmp_path)
    outcome = pyinfra_reports(0, HostReport("app-1", False))
    assert cli.main(["drift", "mine.py"]) == 0
    assert outcome["command"][1:3] == [str(tmp_path / "mine.py"), "drift.py"]
    assert outcome["cwd"] == REPO  # where drift.py, tasks/ and group_data/ are


def test_a_relative_inventory_missing_from_the_working_directory_is_not_the_checkouts(
    pyinfra_reports, monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    outcome = pyinfra_reports(0)
    assert cli.main(["plan", "inventories/prod.py"]) == 1
    assert outcome["command"][1] == str(tmp_path / "inventories" / "prod.py")
    assert "no inventory file inventories/prod.py" in capsys.readouterr().err


@pytest.mark.parametrize("inventory", ["@local", "app-1.example.internal,app-2.example.internal"])
def test_host_lists_and_connectors_go_to_pyinfra_as_they_are(pyinfra_reports, inventory):
    outcome = pyinfra_reports(0, HostReport("app-1", False))
    cli.main(["drift", inventory])
    assert outcome["command"][1] == inventory


def test_outside_a_checkout_the_pyinfra_commands_say_they_need_one(
    pyinfra_reports, monkeypatch, tmp_path, capsys
):
    # An installed package run outside a checkout: its root is the working directory.
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    pyinfra_reports(0, HostReport("app-1", False))
    assert cli.main(["schedule", "inventories/control.py"]) == 1
    assert capsys.readouterr().err == (
        f"ssmenv schedule: error: no schedule.py in {tmp_path}: run this in a checkout of the "
        "deploy repository\n"
    )


def test_every_command_is_listed_and_its_help_tells_its_exit_statuses(capsys):
    top = cli.build_parser().format_help()
    for command in cli.COMMANDS:
        assert f"    {command.name} " in top
        with pytest.raises(SystemExit):
            cli.main([command.name, "--help"])
        assert "Exit status: 0 " in capsys.readouterr().out.replace("\n", " ")
