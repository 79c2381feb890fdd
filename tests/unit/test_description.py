"""An app's description: made on the control machine from its settings and its source tree, read
on a host that pulls into the same AppConfig a deploy reads from host data, and refused, naming
what is wrong and never quoting it, when it is not one this version makes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ssmenv import apps
from ssmenv.config import AppConfig, Tree
from ssmenv.description import Blob, DescriptionError, Release, describe, parse
from ssmenv.errors import ConfigError

SHA = "ab" * 32
RELEASE = Release("1a2b3c4d5e6f", Blob(SHA, f"ssmenv/shop/{SHA}.tar.gz"))
IMAGE = "registry.example.com/shop@sha256:" + "0" * 64
SHOP = {
    "app_name": "shop", "app_source": "examples/app", "ssm_path": "/shop/prod",
    "env_contract": {"API_KEY": {}, "LOG_LEVEL": {"default": "info", "one_of": ["info", "debug"]}},
    "credentials": ["API_KEY"], "env": {"NODE_ENV": "production"}, "app_port": 8080,
    "app_processes": {"web": 1, "worker": 2}, "delivery": "pull", "release_bucket": "releases",
    "pull_period": "10min", "health_timeout": 20,
}  # fmt: skip


def on_the_host(config: AppConfig, release: Release | None = RELEASE) -> AppConfig:
    """``config`` as a host that pulls reads it: through its description's text."""
    return parse(describe(config, release).text()).config()


@pytest.mark.parametrize("data", [
    SHOP,
    {**SHOP, "app_runtime": "python", "app_source": "examples/python-app", "app_processes": None},
    {**SHOP, "app_start": "/usr/bin/python3 server.py --quiet", "app_source": "examples/python-app",
     "app_processes": None, "app_packages": ["python3", "curl"]},
], ids=["procfile", "python", "app_start"])  # fmt: skip
def test_a_host_reads_from_the_description_the_config_the_control_machine_read(data):
    config = AppConfig.from_data(data)
    # What the host has instead of the tree: its name for the release, and no tree.
    assert on_the_host(config) == replace(config, source=None, version=RELEASE.name)
    assert on_the_host(config).tree == config.tree


def test_an_image_is_described_by_its_settings_alone():
    config = AppConfig.from_data({**SHOP, "app_runtime": "container", "app_image": IMAGE,
                                  "app_source": None, "app_processes": None})  # fmt: skip
    described = describe(config)
    assert described.release is None and described.tree == Tree()
    assert on_the_host(config, None) == replace(config, source=None)


def test_each_app_of_a_host_has_its_own_description():
    data = {"ssm_path": "/shop/prod", "apps": {
        "shop": {"app_port": 3000},
        "shop-py": {"app_runtime": "python", "app_source": "examples/python-app", "app_port": 3001,
                    "ssm_path": "/shop-py/prod"}}}  # fmt: skip
    for config in apps.read(data, overrides={}).configs:
        assert on_the_host(config) == replace(config, source=None, version=RELEASE.name)


def test_the_same_app_gives_the_same_text_whatever_the_order_of_its_settings():
    config = AppConfig.from_data(SHOP)
    again = AppConfig.from_data(dict(reversed(SHOP.items())))
    assert describe(config, RELEASE).text() == describe(again, RELEASE).text()
    assert describe(config, RELEASE).sha256 == describe(again, RELEASE).sha256
    text = describe(config, RELEASE).text()
    assert json.loads(text)["settings"]["app_version"] == RELEASE.name
    assert "app_source" not in json.loads(text)["settings"]


def document(**changes) -> str:
    found = json.loads(describe(AppConfig.from_data(SHOP), RELEASE).text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(found.get(key), dict):
            found[key] = {**found[key], **value}
        else:
            found[key] = value
    return json.dumps(found)


@pytest.mark.parametrize(("text", "line"), [
    ("FAKE-not-json", "the description is not JSON"),
    (json.dumps({"ssmenv-description": 2}), "not a description of format 1"),
    (document(extra="FAKE-x"), "extra: not a part of a description"),
    (document(app="Shop\nFAKE"), "app: must be lowercase letters"),
    (document(settings={"apps": {"FAKE": {}}}), "settings.apps: not a setting a description"),
    (document(release={"name": "../../etc"}), "release.name: must be letters, digits"),
    (document(release={"sha256": "FAKE"}), "release.sha256: must be 64 hex digits"),
    (document(release={"key": "/etc/shadow"}), "release.key: must be an object key"),
    (document(tree={"install": "npm ci\nFAKE"}), "tree.install: must be one line of text"),
    (document(agent={"sha256": "FAKE"}), "agent.sha256: must be 64 hex digits"),
])  # fmt: skip
def test_a_description_that_is_not_one_this_version_makes_is_refused_by_name(text, line):
    with pytest.raises(DescriptionError) as refused:
        parse(text)
    assert line in str(refused.value)
    assert "FAKE" not in str(refused.value)


@pytest.mark.parametrize(("changes", "line"), [
    ({"settings": {"app_port": "FAKE-port"}}, "app_port: Input should be a valid integer"),
    ({"tree": {"procfile": "web: +/bin/sh -c FAKE\n"}}, "Procfile line 1 (web): starts with '+'"),
    ({"settings": {"env": {"A": ["FAKE-in-a-list"]}}}, "env['A']"),
])  # fmt: skip
def test_a_description_whose_settings_are_not_valid_is_refused_as_host_data_is(changes, line):
    with pytest.raises(ConfigError) as refused:
        parse(document(**changes)).config()
    assert line in str(refused.value)
    assert "FAKE" not in str(refused.value)


def test_a_setting_that_is_no_json_data_cannot_be_described():
    config = AppConfig.from_data(SHOP)
    odd = replace(config, settings={**config.settings, "env_required": ("A", object())})
    with pytest.raises(DescriptionError, match="not JSON data\\): env_required"):
        describe(odd, RELEASE).text()
