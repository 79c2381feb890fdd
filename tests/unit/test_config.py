from pathlib import Path

import pytest

from ssmenv.config import DEFAULTS, SETTINGS, AppConfig, markdown_table
from ssmenv.errors import ConfigError

IMAGE = "registry.example.com/shop@sha256:" + "0" * 64


def test_defaults_with_an_ssm_path_make_a_valid_config():
    config = AppConfig.from_data({"ssm_path": "/example-app/prod/"})
    assert config.name == "example-app"
    assert config.user == "example-app"  # app_user defaults to the app's name
    assert config.sources["ssm_path"].path == "/example-app/prod"
    assert config.env_file == "/etc/example-app.env"
    assert config.source.is_dir()


def test_values_from_the_cli_are_coerced():
    config = AppConfig.from_data(
        {"ssm_path": "/a", "app_port": "8080", "env": '{"A": 1}', "env_required": '["A"]'}
    )
    assert config.port == 8080
    assert config.env == {"A": "1"}
    assert config.env_required == ("A",)


def test_every_problem_is_reported_at_once_by_key():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data(
            {"app_name": "Bad Name", "app_port": "http", "app_source": "/nonexistent/x"}
        )
    message = str(error.value)
    for key in ("app_name:", "app_port:", "app_source:", "ssm_path:"):
        assert key in message


def test_env_problems_never_echo_the_values():
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"ssm_path": "/a", "env": {"A": ["FAKE-CANARY-in-a-list"]}})
    assert "FAKE-CANARY" not in str(error.value)


def test_the_docs_settings_table_lists_every_setting_with_its_default():
    table = markdown_table()
    for setting in SETTINGS:
        assert f"| `{setting.key}` |" in table
    page = (Path(__file__).parents[2] / "docs" / "settings.md").read_text()
    assert table in page, "docs/settings.md's table is stale: python -m ssmenv.config"
    assert set(DEFAULTS) == {s.key for s in SETTINGS}


@pytest.mark.parametrize(("data", "line"), [
    ({"app_user": "app\nExecStartPre=+/bin/sh -c 'FAKE'"}, "app_user: must be a user name"),
    ({"app_user": "root"}, "app_user: must not be root"),
    ({"app_name": "example-app\n"}, "app_name: must be lowercase letters"),
    ({"app_version": "v1\n"}, "app_version: must be letters, digits"),
    ({"env_required": 5}, "env_required: Input should be a valid list"),
    ({"env_overrides": 5}, "env_overrides: Input should be a valid list"),
    ({"ssm_parameters": 5}, "ssm_parameters: must be a list"),
    ({"health_path": "/healthz\r\nX-FAKE: 1"}, "health_path: must be empty, or a path"),
    ({"journald_max_use": "500M\nStorage=none"}, "journald_max_use: must be a size"),
    ({"app_packages": {"nodejs": True}}, "app_packages: Input should be a valid list"),
    ({"health_settle": "abc"}, "health_settle: Input should be a valid integer"),
    ({"rollout_batch": "all"}, "rollout_batch: must be a number of hosts (1 or more) or a "),
    ({"rollout_batch": "0%"}, "rollout_batch: must be a number of hosts"),
    ({"rollout_batch": "50%\n"}, "rollout_batch: must be a number of hosts"),
    ({"rollout_batch": 0}, "rollout_batch: must be a number of hosts"),
    ({"rollout_canary": -1}, "rollout_canary: must be 0 or more"),
    ({"app_port": True}, "app_port: Input should be a valid integer"),
    ({"app_port": 70000}, "app_port: must be from 1 to 65535"),
    ({"env_keep_previous": "no"}, "env_keep_previous: Input should be a valid boolean"),
    # Commands that land in a unit: systemd's prefixes ("+" runs it as root), a character that
    # is no printable text, a trailing backslash, a quote never closed (then no traceback).
    ({"app_start": "+/usr/bin/node FAKE.js"}, "app_start: starts with '+', which systemd reads"),
    ({"app_start": "!!/usr/bin/node FAKE.js"}, "app_start: starts with '!', which systemd reads"),
    ({"app_start": "/usr/bin/node\tFAKE.js"}, "app_start: must be one line of text"),
    ({"app_start": "/usr/bin/node\x9bFAKE.js"}, "app_start: holds a control or invisible "
                                               "character (U+009B)"),
    ({"app_start": "/usr/bin/node FAKE.js \\"}, "app_start: ends with a backslash"),
    ({"app_start": "/usr/bin/node 'FAKE.js"}, "app_start: has a quote that is not closed"),
    ({"app_runtime": "container", "app_image": IMAGE, "app_start": "--FAKE 'x"},
     "app_start: has a quote that is not closed"),
    ({"env_contract": {"A": {"check": [{}]}}}, "env_contract: A: check must be one or a list"),
])  # fmt: skip
def test_a_bad_setting_stops_with_one_line_naming_its_key_and_never_its_value(data, line):
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"ssm_path": "/a", **data})
    problems = str(error.value).splitlines()[1:]
    assert len(problems) == 1 and problems[0].strip().startswith(line), problems
    assert "FAKE" not in str(error.value)


def test_a_containers_command_may_start_with_an_option_its_words_follow_the_image():
    config = AppConfig.from_data({"ssm_path": "/a", "app_runtime": "container",
                                  "app_image": IMAGE, "app_start": "--workers 4"})  # fmt: skip
    assert config.processes[0].command == "--workers 4"


def test_percent_and_dollar_in_the_start_command_are_taken_literally(tmp_path):
    from ssmenv.render import unit_file

    (tmp_path / "s.js").touch()
    config = AppConfig.from_data({"ssm_path": "/a", "app_source": str(tmp_path),
                                  "app_start": "/usr/bin/node s.js 100% $HOME"})  # fmt: skip
    assert "ExecStart=/usr/bin/node s.js 100%% $$HOME" in unit_file(config).splitlines()
