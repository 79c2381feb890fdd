from pathlib import Path

import pytest

from ssmenv.config import DEFAULTS, SETTINGS, AppConfig, markdown_table
from ssmenv.errors import ConfigError


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


def test_readme_table_lists_every_setting_with_its_default():
    table = markdown_table()
    for setting in SETTINGS:
        assert f"| `{setting.key}` |" in table
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert table in readme, "README's settings table is stale: python -m ssmenv.config"
    assert set(DEFAULTS) == {s.key for s in SETTINGS}
