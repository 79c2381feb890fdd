"""An app's processes: its Procfile, which run on a host, how many, and their units."""

import pytest

from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.processes import Process, ProcfileError, parse_procfile, processes, read_procfile

PROCFILE = """\
# The app's processes.
web: /usr/bin/node server.js

worker: /usr/bin/node worker.js --queue default
clock: .venv/bin/python clock.py
"""


def placed(placement=None, procfile=PROCFILE):
    return processes(procfile=parse_procfile(procfile) if procfile else None, placement=placement,
                     start="/usr/bin/node server.js", port=3000, health_path="/healthz",
                     home="/opt/shop")  # fmt: skip


def test_a_procfile_is_name_colon_command_per_line_comments_and_blanks_skipped():
    assert parse_procfile(PROCFILE) == {
        "web": "/usr/bin/node server.js",
        "worker": "/usr/bin/node worker.js --queue default",
        "clock": ".venv/bin/python clock.py",
    }


@pytest.mark.parametrize(("text", "why"), [
    ("web /usr/bin/node server.js\n", "line 1: not 'name: command'"),
    ("web: a\nWeb: b\n", "line 2: not 'name: command'"),
    ("web: a\nweb: b\n", "line 2: process web is defined twice"),
    ("# nothing\n", "no process"),
])  # fmt: skip
def test_a_procfile_that_is_not_that_names_the_line(text, why):
    with pytest.raises(ProcfileError, match=why):
        parse_procfile(text)


@pytest.mark.parametrize("prefix", ["+", "!", "!!", "@", "-", ":", "|", "-+", "@-", " +"])
def test_a_procfile_command_with_an_exec_start_prefix_is_refused_naming_its_line_not_its_text(
    prefix,
):
    # "+" (and "!", "!!") would run the command as root, outside User= and the sandbox.
    text = f"web: /usr/bin/node server.js\nworker: {prefix}FAKE-node worker.js\n"
    with pytest.raises(ProcfileError) as error:
        parse_procfile(text)
    assert str(error.value).startswith(
        f"Procfile line 2 (worker): starts with {prefix.strip()[0]!r}, which systemd reads as an "
        "ExecStart= prefix"
    )
    assert "FAKE" not in str(error.value)


@pytest.mark.parametrize("char", ["\0", "\x1b", "\r", "\x0b", "\x0c", "\x7f", "\x85", "\x9b",
                                  "\u2028", "\u202e", "\ufeff"])  # fmt: skip
def test_a_procfile_line_with_a_control_or_invisible_character_is_refused_by_number(char):
    # NUL and CR end a unit line (what follows would be a line of its own), ESC and CSI drive a
    # terminal, U+2028 ends a line for Python, U+202E reverses what a reviewer reads.
    text = f"web: /usr/bin/node server.js\nworker: /usr/bin/node FAKE{char}worker.js\n"
    with pytest.raises(ProcfileError) as error:
        parse_procfile(text)
    assert str(error.value) == (
        f"Procfile line 2: holds a control or invisible character (U+{ord(char):04X})"
    )


@pytest.mark.parametrize(("command", "why"), [
    ("/usr/bin/node FAKE.js \\", "ends with a backslash, which would make the unit's next line "
                                 "part of it"),
    ("/usr/bin/node 'FAKE.js", "has a quote that is not closed"),
    ('/usr/bin/node "FAKE.js', "has a quote that is not closed"),
])  # fmt: skip
def test_a_procfile_command_that_would_not_stay_one_command_is_refused(command, why):
    with pytest.raises(ProcfileError) as error:
        parse_procfile(f"web: {command}\nworker: /usr/bin/node worker.js\n")
    assert str(error.value) == f"Procfile line 1 (web): {why}"


def test_crlf_a_byte_order_mark_and_tabs_between_words_are_a_procfile_as_editors_write_it():
    text = "\ufeffweb:\t/usr/bin/node\tserver.js\r\nworker: /usr/bin/node worker.js\r\n"
    assert parse_procfile(text) == {"web": "/usr/bin/node\tserver.js",
                                    "worker": "/usr/bin/node worker.js"}  # fmt: skip


def test_a_procfile_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    (tmp_path / "Procfile").write_bytes(b"web: /usr/bin/node server.js\nworker: \xff\n")
    with pytest.raises(ProcfileError, match=r"^Procfile line 2: not UTF-8 text$"):
        read_procfile(tmp_path)


def test_without_a_procfile_the_app_is_one_web_process_in_its_old_unit():
    (web,) = placed(procfile=None)
    assert web == Process("web", "/usr/bin/node server.js", 3000, "/healthz", None, legacy=True)
    assert web.units("shop") == ("shop.service",)


def test_every_procfile_process_runs_once_by_default_and_only_web_listens():
    web, worker, clock = placed()
    assert (web.port, web.health_path, web.units("shop")) == (3000, "/healthz",
                                                              ("shop-web.service",))
    assert (worker.port, worker.health_path) == (None, "")
    # A path relative to the release becomes absolute: systemd takes no relative one.
    assert clock.command == "/opt/shop/current/.venv/bin/python clock.py"


def test_host_data_places_processes_and_scales_them_as_template_instances():
    (worker,) = placed(["worker"])
    assert worker.units("shop") == ("shop-worker.service",)
    _, worker = placed({"web": 1, "worker": 3})
    assert worker.unit_file("shop") == "shop-worker@.service"
    assert worker.units("shop") == tuple(f"shop-worker@{i}.service" for i in (1, 2, 3))
    (admin,) = placed({"clock": {"port": 3100, "health_path": "/up"}})
    assert (admin.port, admin.health_path) == (3100, "/up")


@pytest.mark.parametrize(("placement", "why"), [
    (["mailer"], "not in the Procfile: mailer"),
    ({"web": 2}, "a process that listens runs once"),
    ({"worker": 0}, "scale must be 1 or more"),
    ({"web": 1, "worker": {"port": 3000}}, "port 3000 is web's"),
    ({"worker": {"replicas": 2}}, "unknown replicas"),
    ([], "no process would run on this host"),
])  # fmt: skip
def test_a_placement_that_cannot_run_says_why(placement, why):
    with pytest.raises(ValueError, match=why):
        placed(placement)


def test_the_config_of_an_app_with_a_procfile_runs_its_units_and_its_target(tmp_path):
    (tmp_path / "Procfile").write_text(PROCFILE)
    for script in ("server.js", "worker.js", "clock.py"):
        (tmp_path / script).touch()
    config = AppConfig.from_data({"ssm_path": "/a", "app_name": "shop", "app_source": str(tmp_path),
                                  "app_processes": {"web": 1, "worker": 2}})  # fmt: skip
    assert config.units == ("shop-web.service", "shop-worker@1.service", "shop-worker@2.service",
                            "shop.target")  # fmt: skip
    with pytest.raises(ConfigError, match="app_processes: not in the Procfile: mail"):
        AppConfig.from_data({"ssm_path": "/a", "app_source": str(tmp_path),
                             "app_processes": ["mail"]})  # fmt: skip
