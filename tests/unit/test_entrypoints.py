"""What the app's commands run from the release, checked in app_source before any host is
touched: the runtime's default entry file, a Procfile's or app_start's program or script; never a
program only the host has, or what the runtime's install makes."""

from __future__ import annotations

import pytest

from ssmenv.config import AppConfig
from ssmenv.entrypoints import files
from ssmenv.errors import ConfigError

HOME = "/opt/shop"


@pytest.mark.parametrize(("command", "expected"), [
    ("/usr/bin/node server.js", ("server.js",)),
    ("node dist/main.js --port 3", ("dist/main.js",)),
    ("/usr/bin/python3 ./app/run.py", ("app/run.py",)),
    ("/opt/shop/current/bin/worker --fast", ("bin/worker",)),  # a Procfile's ./bin/worker
    ("bin/worker", ("bin/worker",)),
    ("/opt/shop/current/.venv/bin/python server.py", ("server.py",)),  # .venv: the install's
    ("/opt/shop/current/node_modules/.bin/next start", ()),
    ("/opt/shop/current/bin/node-runner jobs.js", ("bin/node-runner",)),  # not an interpreter
    ("/usr/bin/node -e process.exit(1)", ()),  # an option first: no file
    ("python3 -m http.server", ()),
    ("gunicorn app:app", ()),  # on the host's PATH
    ("/usr/local/bin/server", ()),  # only the host has it
    ("node ../shared/x.js", ()),  # outside the release
    ("node 'unbalanced", ()),
])  # fmt: skip
def test_the_files_a_command_runs_from_the_release(command, expected):
    assert files(command, HOME, installed=(".venv", "node_modules")) == expected


def refused(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"ssm_path": "/a", "app_name": "shop", **data})
    return [line.strip() for line in str(error.value).splitlines()[1:]]


def test_a_source_without_the_runtimes_default_entry_file_is_refused_naming_the_default(tmp_path):
    (tmp_path / "package.json").write_text("{}\n")
    assert refused({"app_source": str(tmp_path)}) == [
        f"app_source: no server.js in {tmp_path} (the node runtime's default start command, "
        "/usr/bin/node server.js; set app_start or add a Procfile)"
    ]  # fmt: skip
    assert refused({"app_source": str(tmp_path), "app_runtime": "python"}) == [
        f"app_source: no server.py in {tmp_path} (the python runtime's default start command, "
        "/opt/shop/current/.venv/bin/python server.py; set app_start or add a Procfile)"
    ]  # fmt: skip


def test_a_procfile_process_whose_program_or_script_is_missing_is_refused_by_name(tmp_path):
    (tmp_path / "server.js").touch()
    (tmp_path / "Procfile").write_text("web: /usr/bin/node server.js\nworker: ./bin/worker -v\n"
                                       "clock: node 'my clock.js'\n")  # fmt: skip
    assert refused({"app_source": str(tmp_path)}) == [
        f"app_source: no bin/worker in {tmp_path} (the Procfile's worker process runs it)",
        # A name from the app's repository that is not one word is quoted: it cannot pass for
        # part of the message.
        f"app_source: no 'my clock.js' in {tmp_path} (the Procfile's clock process runs it)",
    ]  # fmt: skip


def test_an_app_start_whose_script_is_missing_is_refused_naming_app_start(tmp_path):
    assert refused({"app_source": str(tmp_path), "app_start": "/usr/bin/node dist/main.js"}) == [
        f"app_start: no dist/main.js in {tmp_path} (the command runs it from the release)"
    ]  # fmt: skip


def test_what_only_the_host_or_the_install_has_is_not_checked(tmp_path):
    (tmp_path / "server.py").touch()
    AppConfig.from_data({"ssm_path": "/a", "app_source": str(tmp_path), "app_runtime": "python"})
    AppConfig.from_data({"ssm_path": "/a", "app_source": str(tmp_path),
                         "app_start": "/usr/local/bin/gunicorn -b :3000 app:app"})  # fmt: skip
