"""Where a setting was set, from pyinfra's inventory layers (its API: no group data files, so a
group is named by its name), and the "required" message that names it."""

from __future__ import annotations

import pytest
from pyinfra.api import Inventory

from ssmenv import apps, origins
from ssmenv.sources import Fetched
from ssmenv.variables import compose

HOST = {"app_port": 3000, "ssm_path": "/shop/prod"}


def inventory(host_data: dict, override: dict | None = None, **groups: dict) -> Inventory:
    """One host ``h`` in ``groups`` (in that order), each group's data as given, ``all`` its data
    under the key ``all``."""
    everyone = groups.pop("all", {})
    return Inventory(
        ([("h", host_data)], everyone),
        override_data=override or {},
        **{name: (["h"], data) for name, data in groups.items()},
    )


@pytest.mark.parametrize(
    ("layers", "where"),
    [
        ({"all": {"K": 1}}, "the data of group all"),
        ({"all": {"K": 1}, "shop": {"K": 2}}, "the data of group shop"),
        ({"shop": {"K": 2}, "prod": {"K": 3}}, "the data of group prod"),  # the last defined
        ({"shop": {"K": 2}, "host": {"K": 4}}, "the inventory's entry for h"),
        ({"host": {"K": 4}, "cli": {"K": 5}}, "--data"),
        ({"shop": {"other": 1}}, None),
    ],
    ids=["all", "group-over-all", "later-group", "host-entry", "command-line", "unset"],
)
def test_the_layer_that_gives_the_host_its_value_is_named(layers, where):
    groups = {k: v for k, v in layers.items() if k not in ("host", "cli")}
    found = inventory(layers.get("host", {}), layers.get("cli"), **groups)
    host = found.get_host("h")
    assert origins.in_inventory(host, "K") == where
    assert apps.Snapshot(host.data).origin("K") == where


def test_a_plain_mapping_cannot_say_where_its_keys_come_from():
    assert origins.of({"K": 1}, "K") is None


def missing(config) -> list[str]:
    """The "required" problems of ``config``, no source holding anything."""
    return [p for p in compose(config, Fetched({"ssm_path": {}})).problems if "required" in p]


def test_a_missing_name_says_which_setting_requires_it_and_where_that_was_set():
    found = inventory(
        {"env_contract": {"FROM_HOST": {}}},
        all={**HOST, "env_required": ["FROM_ALL", "FROM_HOST"]},
    )
    (config,) = apps.read(found.get_host("h").data).configs
    assert missing(config) == [
        "FROM_ALL: required but missing (expected SSM parameter /shop/prod/FROM_ALL or host "
        "data env; required by env_required in the data of group all)",
        # In both: the contract declares the rule.
        "FROM_HOST: required but missing (expected SSM parameter /shop/prod/FROM_HOST or host "
        "data env; required by env_contract in the inventory's entry for h)",
    ]


def test_an_apps_entry_is_named_with_where_the_apps_were_set():
    entries = {"shop": {"env_required": ["OWN"]}, "blog": {"app_port": 3001}}
    found = inventory({}, all=HOST, web={"apps": entries})
    shop, blog = apps.read(found.get_host("h").data).configs
    assert missing(shop) == [
        "OWN: required but missing (expected SSM parameter /shop/prod/OWN or host data env; "
        "required by env_required in apps[shop] in the data of group web)"
    ]
    assert missing(blog) == []
    found = inventory({}, {"env_required": ["CLI"]}, all=HOST, web={"apps": entries})
    for config in apps.read(found.get_host("h").data).configs:
        assert [p.rsplit("; ", 1)[1] for p in missing(config)] == ["required by env_required "
                                                                  "in --data)"]  # fmt: skip
