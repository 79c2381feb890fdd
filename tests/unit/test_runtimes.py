"""Runtimes: each is one object that says its packages, start command and dependency install."""

from ssmenv.config import AppConfig
from ssmenv.runtimes import RUNTIMES


def test_node_installs_with_npm_only_where_the_source_has_a_lockfile(tmp_path):
    node = RUNTIMES["node"]
    assert node.install(tmp_path) is None and node.packages_for(tmp_path) == ()
    (tmp_path / "package-lock.json").write_text("{}")
    assert node.install(tmp_path) == "npm ci --omit=dev --no-audit --no-fund"
    assert node.packages_for(tmp_path) == ("npm",)


def test_python_makes_a_virtualenv_per_release_and_installs_requirements_if_any(tmp_path):
    python = RUNTIMES["python"]
    assert python.install(tmp_path) == "python3 -m venv .venv"
    (tmp_path / "requirements.txt").write_text("# nothing yet\n")
    assert python.install(tmp_path) == "python3 -m venv .venv"
    (tmp_path / "requirements.txt").write_text("flask==3.1.3\n")
    assert python.install(tmp_path).startswith("python3 -m venv .venv && .venv/bin/python -m pip")


def test_every_runtime_is_a_setting_value_giving_its_packages_and_start():
    for name, runtime in RUNTIMES.items():
        config = AppConfig.from_data({"ssm_path": "/a", "app_runtime": name})
        assert config.runtime is runtime
        assert config.packages == runtime.packages
        assert config.start == runtime.start.format(home="/opt/example-app")
