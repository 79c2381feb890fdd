"""An app's processes: its Procfile, which run on a host, how many, and their units."""

import pytest

from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.processes import Process, ProcfileError, parse_procfile, processes

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
