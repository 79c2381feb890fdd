"""``ssmenv-agent status APP``: what a host that pulls says of an app from its own records, one
fact a line, names and versions only (its manifest's fingerprints and no value)."""

from __future__ import annotations

from ssmenv import manifest
from ssmenv.agent.report import Found, lines
from ssmenv.agent.units import Where
from ssmenv.config import AppConfig
from ssmenv.description import Blob, Release, describe
from ssmenv.sources.base import Variable

SHA = "ab" * 32
SHOP = {"app_name": "shop", "app_source": "examples/app", "ssm_path": "/shop/prod",
        "delivery": "pull", "release_bucket": "releases", "credentials": ["API_KEY"],
        "pull_max_age": "2d"}  # fmt: skip
WHERE = Where(parameter="/deploy/shop/prod", region="eu-west-1")


def deployed() -> dict:
    variables = {"API_KEY": Variable("API_KEY", "FAKE-report-key", "/shop/prod/API_KEY", 3),
                 "LOG_LEVEL": Variable("LOG_LEVEL", "FAKE-report-level", "/shop/prod/LOG_LEVEL",
                                       1),
                 "NODE_ENV": Variable("NODE_ENV", "FAKE-report-env", "host data env")}
    return manifest.build("shop", manifest.new_key(), variables, credentials=["API_KEY"])


def test_a_host_that_synced_says_what_it_runs_by_name_and_version_never_a_value():
    config = AppConfig.from_data(SHOP)
    kept = describe(config, Release("1a2b3c4d5e6f", Blob(SHA, "ssmenv/shop/x.tar.gz")),
                    Blob("cd" * 32, "ssmenv/shop/agent.tar.gz"))  # fmt: skip
    shown = {
        "ssmenv-sync-shop.service": {"ExecMainStatus": "2",
                                     "ExecMainExitTimestamp": "Thu 2026-12-03 10:40:01 UTC"},
        "ssmenv-pull-shop.service": {"ExecMainStatus": "0",
                                     "ExecMainExitTimestamp": "Thu 2026-12-03 09:00:00 UTC"},
        "shop-web.service": {"ActiveState": "active"},
    }  # fmt: skip
    found = Found("shop", WHERE, kept, deployed(), 3725.0, 172800, shown, ["shop-web.service"])
    said = lines(found)
    assert said == [
        "pulls from /deploy/shop/prod (eu-west-1)",
        f"last healthy sync: release 1a2b3c4d5e6f, description sha256 {kept.sha256[:12]}, "
        "agent cdcdcdcdcdcd",
        "deployed: API_KEY v3 from /shop/prod/API_KEY as a credential",
        "deployed: LOG_LEVEL v1 from /shop/prod/LOG_LEVEL",
        "deployed: NODE_ENV from host data env",
        "last known good: confirmed 1 h 2 min ago (pull_max_age 2 d)",
        "last timed sync: changed (2) at Thu 2026-12-03 10:40:01 UTC",
        "last boot sync: unchanged (0) at Thu 2026-12-03 09:00:00 UTC",
        "shop-web.service: active",
    ]
    assert "FAKE" not in "\n".join(said) and "hmac" not in "\n".join(said)


def test_a_host_that_has_not_synced_yet_says_so():
    found = Found("shop", Where(file="/etc/ssmenv/agent/shop.description.json"))
    assert lines(found) == [
        "pulls from /etc/ssmenv/agent/shop.description.json (a deploy's)",
        "last healthy sync: none yet",
        "deployed: no manifest (shop has not been switched on this host)",
        "last known good: none",
        "last timed sync: not run since boot",
        "last boot sync: not run since boot",
    ]
