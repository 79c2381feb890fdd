"""Several apps on one host: the ``apps`` setting layered over the host's data, the checks that
let two apps live side by side, narrowing a run to one app, and the loop's positions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyinfra.api import Inventory

from ssmenv import apps
from ssmenv.errors import ConfigError

PY = {"app_runtime": "python", "app_source": "examples/python-app", "app_port": 3001}
HOST = {"ssm_path": "/shop/prod", "app_port": 3000, "env": {"LOG_LEVEL": "info"}}
PAGE = Path(__file__).parents[2] / "docs" / "several-apps.md"


def problems(data: dict, overrides: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as error:
        apps.read(data, overrides or {})
    return [line.strip() for line in str(error.value).splitlines()[1:]]


def test_without_apps_the_host_runs_one_app_from_its_data():
    found = apps.read({**HOST, "app_name": "shop"})
    assert [c.name for c in found.configs] == ["shop"] and found.names == ("shop",)
    assert not found.several and found.label(found.configs[0]) == ""


def test_each_app_layers_its_own_settings_over_the_hosts_data():
    found = apps.read({**HOST, "apps": {"example-app": {}, "example-py": PY}})
    node, python = found.configs
    assert (node.name, node.port, node.runtime.name) == ("example-app", 3000, "node")
    assert (python.name, python.port, python.runtime.name) == ("example-py", 3001, "python")
    assert python.user == "example-py" and python.env_file == "/etc/example-py.env"
    # The host's data stays the default for every app.
    assert node.env == python.env == {"LOG_LEVEL": "info"}
    assert python.sources["ssm_path"].path == "/shop/prod"
    assert found.several and found.label(python) == "example-py: "


def test_an_apps_key_replaces_the_hosts_whole():
    found = apps.read({**HOST, "apps": {"a": {}, "b": {"app_port": 3001, "env": {"X": "1"}}}})
    assert found.configs[1].env == {"X": "1"}


def test_data_from_the_command_line_wins_over_an_apps_own_settings():
    data = {**HOST, "apps": {"a": {"app_port": 3001, "health_timeout": 5}, "b": {}}}
    found = apps.read(data, overrides={"health_timeout": 9})
    assert [c.health_timeout for c in found.configs] == [9, 9]


def test_command_line_data_is_read_from_pyinfras_inventory():
    inventory = Inventory(
        ([("h1", {**HOST, "apps": {"a": {"app_version": "v1"}, "b": {"app_port": 3001}}})], {}),
        override_data={"app_version": "v2"},
    )
    found = apps.read(inventory.get_host("h1").data)
    assert [c.version for c in found.configs] == ["v2", "v2"]


def test_a_bad_setting_of_one_app_names_the_app_and_the_key():
    data = {**HOST, "apps": {"example-app": {}, "example-py": {**PY, "app_port": "http"}}}
    assert problems(data) == ["apps[example-py].app_port: Input should be a valid integer"]


def test_a_bad_setting_of_the_host_is_said_once_for_all_apps():
    data = {**HOST, "health_timeout": "soon", "apps": {"a": {}, "b": {"app_port": 3001}}}
    assert problems(data) == ["health_timeout: Input should be a valid integer"]



def test_a_whole_inventory_is_read_host_by_host_and_every_bad_host_named_at_once():
    good = ("web-1", {**HOST, "app_name": "shop"})
    found = apps.of_hosts([good])
    assert [(name, [c.name for c in configs]) for name, _, configs in found] == [
        ("web-1", ["shop"])]  # fmt: skip
    with pytest.raises(ConfigError) as error:
        apps.of_hosts([("web-0", {**HOST, "app_port": "http"}), good,
                       ("web-2", {**HOST, "health_timeout": "soon"})])  # fmt: skip
    said = str(error.value)
    assert said.startswith("web-0: ") and "\nweb-2: " in said and "web-1" not in said
    assert "app_port: Input should be a valid integer" in said
    assert "health_timeout: Input should be a valid integer" in said

def test_an_app_without_a_source_is_that_apps_problem():
    data = {"apps": {"a": {"ssm_path": "/a"}, "b": {"app_port": 3001}}}
    (line,) = problems(data)
    assert line.startswith("apps[b].ssm_path: no configuration source")


@pytest.mark.parametrize(("entry", "line"), [
    ({"app_name": "other"}, "apps[b].app_name: the name is the entry's key"),
    ({"journald_max_use": "1G"}, "apps[b].journald_max_use: journald is one per host"),
    ({"app": "b"}, "apps[b].app: not an app's setting"),
    ({"app_prot": 3001}, "apps[b].app_prot: not a setting"),
    ("python", "apps[b]: must be a map of settings"),
])  # fmt: skip
def test_an_entry_may_set_only_an_apps_settings(entry, line):
    (found,) = problems({**HOST, "apps": {"a": {}, "b": entry}})
    assert found.startswith(line), found


def test_an_app_name_is_checked_like_app_name_and_shown_escaped_on_its_line():
    (line,) = problems({**HOST, "apps": {"Shop App": {}}})
    assert line.startswith("apps['Shop App']: must be lowercase letters")
    (line,) = problems({**HOST, "apps": {"shop\nExecStartPre=+/bin/true": {}}})
    assert line.startswith("apps['shop\\nExecStartPre=+/bin/true']: must be lowercase letters")
    (line,) = problems({**HOST, "apps": {"shop": {"app_port\n": 1}}})
    assert line == (
        "apps[shop].'app_port\\n': not a setting (see the settings table, docs/settings.md)"
    )


def test_no_app_at_all_is_refused():
    assert problems({**HOST, "apps": {}})[0].startswith("apps: names no app")


def test_two_apps_of_a_host_may_not_share_a_port():
    assert problems({**HOST, "apps": {"a": {}, "b": {}}}) == [
        "apps[b].app_port: the same as apps[a]'s: each app listens on its own port"
    ]


def test_two_apps_of_a_host_may_not_share_a_user():
    (line,) = problems({**HOST, "apps": {"a": {"app_user": "web"}, "b": {**PY, "app_user": "web"}}})
    assert line.startswith("apps[b].app_user: the same as apps[a]'s: each app runs as its own user")


def test_a_run_narrowed_to_one_app_deploys_that_app_only():
    found = apps.read({**HOST, "app": "example-py", "apps": {"example-app": {}, "example-py": PY}})
    assert [c.name for c in found.configs] == ["example-py"]
    assert found.names == ("example-app", "example-py") and found.several


def test_narrowing_to_an_app_the_host_does_not_have_names_the_ones_it_has():
    data = {**HOST, "app": "example-pi", "apps": {"example-app": {}, "example-py": PY}}
    assert problems(data) == [
        "app: example-pi is not an app of this host (it has: example-app, example-py)"
    ]
    assert problems({**HOST, "app": "shop"}) == [
        "app: shop is not an app of this host (it has: example-app)"
    ]


def test_narrowing_skips_the_hosts_without_that_app_when_others_have_it():
    inventory = Inventory(([
        ("web-1", {**HOST, "apps": {"a": {}, "b": {"app_port": 3001}}}),
        ("worker-1", {**HOST, "app_name": "a"}),
    ], {}), override_data={"app": "b"})  # fmt: skip
    assert [c.name for c in apps.read(inventory.get_host("web-1").data).configs] == ["b"]
    worker = apps.read(inventory.get_host("worker-1").data)
    assert worker.configs == () and worker.note == "app b: not on this host (it has: a)"


def test_narrowing_to_an_app_no_host_has_is_an_error_on_every_host():
    inventory = Inventory(([
        ("web-1", {**HOST, "apps": {"a": {}, "b": {"app_port": 3001}}}),
        ("worker-1", {**HOST, "app_name": "a"}),
    ], {}), override_data={"app": "c"})  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape(
        "app: c is not an app of worker-1 (it has: a), nor of any other host of the inventory"
    )):  # fmt: skip
        apps.read(inventory.get_host("worker-1").data)


def test_narrowing_still_checks_every_app_of_the_host():
    data = {**HOST, "app": "b", "apps": {"a": {}, "b": {}}}
    assert problems(data) == [
        "apps[b].app_port: the same as apps[a]'s: each app listens on its own port"
    ]


def test_each_app_has_the_same_loop_position_on_every_host():
    inventory = Inventory(([
        ("h1", {**HOST, "apps": {"a": {}, "b": {"app_port": 3001}}}),
        ("h2", {**HOST, "apps": {"b": {"app_port": 3001}}}),
        ("h3", {**HOST, "app_name": "c"}),
    ], {}))  # fmt: skip
    positions = {}
    for name in ("h1", "h2", "h3"):
        host = inventory.get_host(name)
        found = apps.read(host.data, overrides={})
        positions[name] = [(c.name, list(host.loop_position)) for c in apps.each(host, found)]
        assert host.loop_position == []  # the loop is over
    assert positions == {
        "h1": [("a", [0]), ("b", [1])],
        "h2": [("b", [1])],  # the same operations as h1's b: one rollout per app
        "h3": [("c", [2])],
    }


def test_the_docs_group_data_for_several_apps_is_valid():
    section = PAGE.read_text()
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    data: dict = {}
    exec(block, {}, data)  # noqa: S102 -- the docs' own example
    found = apps.read({"env_required": ["DATABASE_URL"], **data}, overrides={})
    assert [c.name for c in found.configs] == ["example-app", "example-py"]
    assert found.configs[1].runtime.name == "python"


def test_two_apps_whose_units_would_have_one_name_are_refused(tmp_path):
    from ssmenv.apps import conflicts
    from ssmenv.config import AppConfig

    (tmp_path / "Procfile").write_text("web: /usr/bin/node server.js\nadmin: /usr/bin/node a.js\n")
    for script in ("server.js", "a.js"):
        (tmp_path / script).touch()
    shop = AppConfig.from_data({"ssm_path": "/a", "app_name": "shop", "app_source": str(tmp_path),
                                "app_port": 3000})  # fmt: skip
    admin = AppConfig.from_data({"ssm_path": "/a", "app_name": "shop-admin", "app_port": 3001,
                                 "app_source": str(tmp_path)})  # fmt: skip
    legacy = AppConfig.from_data({"ssm_path": "/a", "app_name": "shop-admin", "app_port": 3001,
                                  "app_source": "examples/python-app", "app_runtime": "python"})
    assert conflicts([shop, admin]) == []  # shop-admin-web.service, ...: no clash
    assert conflicts([shop, legacy]) == [
        "apps[shop-admin].app_processes: the same as apps[shop]'s: each app's units have names "
        "of their own"
    ]
