from dataclasses import dataclass

from ssmenv import manifest


@dataclass
class Var:
    value: str
    source: str
    version: int | None = None


def test_fingerprints_are_keyed_so_a_bare_hash_of_a_guess_does_not_match():
    import hashlib

    key = manifest.new_key()
    print_ = manifest.fingerprint(key, "hunter2")
    assert hashlib.sha256(b"hunter2").hexdigest() not in print_
    assert print_ != manifest.fingerprint(manifest.new_key(), "hunter2")
    assert print_ == manifest.fingerprint(key, "hunter2")


def test_manifest_holds_sources_and_versions_but_no_value():
    key = manifest.new_key()
    built = manifest.build("app", key, {"API_KEY": Var("FAKE-CANARY-1", "/app/prod/API_KEY", 4)})
    text = manifest.dumps(built)
    assert "FAKE-CANARY-1" not in text
    entry = manifest.loads(text)["variables"]["API_KEY"]
    assert entry["source"] == "/app/prod/API_KEY" and entry["version"] == 4


def test_the_same_variables_give_the_same_bytes():
    key = manifest.new_key()
    a = manifest.dumps(manifest.build("app", key, {"B": Var("1", "x"), "A": Var("2", "y")}))
    b = manifest.dumps(manifest.build("app", key, {"A": Var("2", "y"), "B": Var("1", "x")}))
    assert a == b


def test_unreadable_manifests_read_as_none():
    assert manifest.loads(None) is None
    assert manifest.loads("not json") is None
    assert manifest.loads('{"format": 99}') is None


def test_drift_lists_version_changes_and_added_and_removed_names():
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"A": Var("1", "s", 3), "B": Var("2", "s", 1),
                                           "C": Var("3", "s", 1)})
    current = {"A": Var("1-new", "s", 4), "B": Var("2", "s", 1), "D": Var("4", "s", 1)}
    assert list(map(str, manifest.compare(deployed, current, key))) == ["+D", "-C", "A v3->v4"]
    same = {"A": Var("1", "s", 3), "B": Var("2", "s", 1), "C": Var("3", "s", 1)}
    assert manifest.compare(deployed, same, key) == []
    assert manifest.drift_line([], keyed=True) == "drift: none, every version is current"


def test_a_new_value_under_the_same_version_is_a_difference():
    # A parameter deleted and created again restarts at version 1 with its new value.
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"SESSION_SECRET": Var("FAKE-old", "s", 1)})
    current = {"SESSION_SECRET": Var("FAKE-recreated", "s", 1)}

    (difference,) = manifest.compare(deployed, current, key)

    assert difference.differs and difference.value is True
    assert str(difference) == "SESSION_SECRET v1->v1 (new value, same version)"
    line = manifest.drift_line([difference], keyed=True)
    assert line == "drift: SESSION_SECRET v1->v1 (new value, same version)"
    assert manifest.differing([difference]) == ["SESSION_SECRET"]
    assert "FAKE" not in line and "hmac" not in line


def test_a_version_that_moved_over_the_same_value_is_no_drift():
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"API_KEY": Var("FAKE-same", "s", 3)})
    current = {"API_KEY": Var("FAKE-same", "s", 4)}

    (difference,) = manifest.compare(deployed, current, key)

    assert not difference.differs and difference.value is False
    assert str(difference) == "API_KEY v3->v4 (same value, new version)"
    assert manifest.differing([difference]) == []
    assert manifest.drift_line([difference], keyed=True) == (
        "drift: none, every value is current (only versions moved: API_KEY v3->v4)"
    )


def test_a_new_value_of_a_variable_without_versions_is_found_by_its_fingerprint():
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"LOG_LEVEL": Var("info", "host data env")})
    (difference,) = manifest.compare(deployed, {"LOG_LEVEL": Var("debug", "host data env")}, key)
    assert str(difference) == "LOG_LEVEL (new value)" and difference.differs


def test_without_the_hosts_key_only_versions_are_compared_and_the_report_says_so():
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"A": Var("FAKE-a", "s", 1), "B": Var("FAKE-b", "s", 2)})
    current = {"A": Var("FAKE-a-recreated", "s", 1), "B": Var("FAKE-b", "s", 3)}

    differences = manifest.compare(deployed, current, None)

    # A's new value is invisible without the key; B's moved version counts, as values are unknown.
    assert [(d.name, d.value, d.differs) for d in differences] == [("B", None, True)]
    assert str(differences[0]) == "B v2->v3"
    assert manifest.drift_line(differences, keyed=False) == (
        "drift: B v2->v3 (values not compared: the host has no fingerprint key)"
    )
    assert manifest.drift_line([], keyed=False) == (
        "drift: none, every version is current"
        " (values not compared: the host has no fingerprint key)"
    )


def test_a_manifest_entry_without_a_fingerprint_falls_back_to_its_version():
    key = manifest.new_key()
    deployed = {"format": 1, "variables": {"A": {"source": "s", "version": 1}}}
    assert manifest.compare(deployed, {"A": Var("FAKE-a", "s", 1)}, key) == []
    assert [str(d) for d in manifest.compare(deployed, {"A": Var("FAKE-a", "s", 2)}, key)] == [
        "A v1->v2"
    ]


def test_the_plan_says_a_value_changed_under_the_same_version_in_the_words_drift_uses():
    from ssmenv.plan.environment import describe

    key = manifest.new_key()
    deployed = manifest.build("app", key, {"A": Var("FAKE-a", "s", 1), "B": Var("FAKE-b", "s", 1)})
    current = {"A": Var("FAKE-a-recreated", "s", 1), "B": Var("FAKE-b", "s", 2)}
    differences = tuple(manifest.compare(deployed, current, key))

    assert describe(differences, deployed) == (
        "changes A v1->v1 (new value, same version), B v1->v2 (same value, new version)"
    )
    assert manifest.drift_line(differences, keyed=True) == "drift: " + describe(
        differences, deployed
    ).removeprefix("changes ")
    only_moved = tuple(manifest.compare(deployed, {**current, "A": Var("FAKE-a", "s", 1)}, key))
    assert describe(only_moved, deployed) == "rewritten (same variables)"


def test_the_manifest_records_how_each_unit_of_the_deployed_version_is_checked():
    from dataclasses import replace

    from ssmenv.activation import Unit
    from ssmenv.facts import AppHostState

    units = (Unit("app-web.service", 3000, "/healthz", 30, 2), Unit("app-worker@1.service", 0,
             "", 10, 0), Unit("app.target", 0, "", 30, 2))  # fmt: skip
    built = manifest.build("app", manifest.new_key(), {"A": Var("1", "s", 1)}, units=units)
    text = manifest.dumps(built)
    assert manifest.loads(text)["units"]["app-web.service"] == {
        "port": 3000, "health_path": "/healthz", "health_timeout": 30, "health_settle": 2}
    assert manifest.checks(manifest.loads(text)) == {u.name: u for u in units}
    # The state read hands them to the tasks.
    state = replace(AppHostState().process([]), manifest=text)
    assert state.checks == {u.name: u for u in units}


def test_a_manifest_from_before_records_no_checks_and_a_bad_entry_is_left_out():
    key = manifest.new_key()
    assert manifest.checks(manifest.build("app", key, {})) is None  # as written before
    assert manifest.checks(None) is None
    odd = {"units": {
        "app-web.service": {"port": 3000, "health_path": "/a path", "health_timeout": 30,
                            "health_settle": 2},
        "app-worker.service": {"port": 0, "health_path": "", "health_timeout": 0,
                               "health_settle": 0},
        "app-admin.service": {"port": True, "health_path": "", "health_timeout": 1,
                              "health_settle": 0},
        "app-clock.service": "not an entry",
    }}  # fmt: skip
    assert manifest.checks(odd) == {}
