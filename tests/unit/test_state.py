"""The host state read: what it asks the host about, and that only a deploy names a release."""

from __future__ import annotations

import pytest

from ssmenv.config import AppConfig
from ssmenv.facts import AppHostState
from tasks import release, state

CONFIG = {"ssm_path": "/shop/prod", "app_name": "shop"}


@pytest.fixture
def asked(monkeypatch) -> dict:
    """What ``read_host_state`` asks of the host, instead of asking it; building the release
    archive fails the test."""

    def refuse(source):
        raise AssertionError(f"built the release archive of {source}")

    arguments: dict = {}

    def read(host, fact, **kwargs):
        assert fact is AppHostState
        arguments.update(kwargs)

    monkeypatch.setattr(release, "build_archive", refuse)
    monkeypatch.setattr(state, "quiet_fact", read)
    return arguments


def test_a_rotation_or_drift_reads_the_state_without_building_the_release(asked):
    state.read_host_state(AppConfig.from_data(CONFIG))  # as rotate.py and drift.py do
    assert asked["release"] == ""
    assert asked["env_file"] == "/etc/shop.env"
    assert asked["units"] == ["shop-web.service", "shop-worker.service", "shop.target"]


def test_a_deploy_asks_about_the_release_it_names(asked):
    config = AppConfig.from_data({**CONFIG, "app_version": "v7"})
    state.read_host_state(config, release=release.release_path(config))
    assert asked["release"] == "/opt/shop/releases/v7"
