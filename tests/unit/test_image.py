"""What a deploy decides about an app's image on one host: whether to pull it, with which engine
and login, and that the registry's password never becomes one of the app's variables."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.facts import AppHostState
from ssmenv.plan import image
from ssmenv.plan.environment import in_manifest
from ssmenv.plan.state import image_query
from ssmenv.sources.base import Variable

DIGEST = "sha256:" + "5e" * 32
REFERENCE = f"registry.example.com/shop@{DIGEST}"
CONFIG = AppConfig.from_data({
    "ssm_path": "/shop/prod", "app_name": "shop", "app_runtime": "container",
    "app_image": REFERENCE, "container_registry_username": "ci",
    "container_registry_password": "REGISTRY_PASSWORD",
})  # fmt: skip
VARIABLES = {
    "API_KEY": Variable("API_KEY", "FAKE-key", "/shop/prod/API_KEY", 1),
    "PORT": Variable("PORT", "3000", "app_port", None),
    "REGISTRY_PASSWORD": Variable("REGISTRY_PASSWORD", "FAKE-pw", "/shop/prod/PW", 2),
}


def host(**changes):
    return replace(AppHostState().process(["--packages--"]), **changes)


def test_the_registry_password_is_for_the_pull_only_never_the_apps_environment():
    assert set(in_manifest(VARIABLES, CONFIG)) == {"API_KEY"}
    assert set(in_manifest(VARIABLES)) == {"API_KEY", "REGISTRY_PASSWORD"}


def test_a_registry_password_no_source_has_stops_the_deploy_naming_the_variable():
    with pytest.raises(ConfigError, match="container_registry_password names "
                                          "REGISTRY_PASSWORD, which no source of the app has"):
        image.registry_password(CONFIG, {"API_KEY": VARIABLES["API_KEY"]})


def test_a_host_without_the_image_pulls_it_with_the_login():
    pull = image.app_image(CONFIG, host(engine="docker", image_present=False), VARIABLES)
    assert (pull.engine, pull.image) == ("docker", REFERENCE)
    login = {"auths": {"registry.example.com": {"auth": "Y2k6RkFLRS1wdw=="}}}  # ci:FAKE-pw
    assert json.loads(pull.auth) == login


def test_a_host_without_an_engine_pulls_with_the_one_it_gets_installed():
    assert image.app_image(CONFIG, host(image_present=False), VARIABLES).engine == "podman"
    named = replace(CONFIG, container=replace(CONFIG.container, engine="docker"))
    assert image.app_image(named, host(image_present=False), VARIABLES).engine == "docker"


def test_a_host_with_the_image_pulls_nothing_and_an_app_without_one_neither():
    assert image.app_image(CONFIG, host(engine="podman", image_present=True), VARIABLES) is None
    node = AppConfig.from_data({"ssm_path": "/shop/prod"})
    assert image.app_image(node, host(), VARIABLES) is None
    assert image.engine(node, host()) is None


def test_the_state_read_asks_about_the_engine_named_or_either_and_the_image_by_digest():
    assert image_query(CONFIG) == {"engines": ("podman", "docker"), "image": REFERENCE}
    named = replace(CONFIG, container=replace(CONFIG.container, engine="docker"))
    assert image_query(named)["engines"] == ("docker",)
    assert image_query(AppConfig.from_data({"ssm_path": "/shop/prod"})) == {}
