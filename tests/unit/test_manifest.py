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


def test_changes_name_added_removed_and_changed_keys():
    key = manifest.new_key()
    old = manifest.build("app", key, {"A": Var("1", "s"), "B": Var("2", "s"), "C": Var("3", "s")})
    new = manifest.build("app", key, {"A": Var("1", "s"), "B": Var("9", "s"), "D": Var("4", "s")})
    changes = manifest.changes(old, new)
    assert (changes.added, changes.removed, changes.changed) == (("D",), ("C",), ("B",))
    assert str(changes) == "added D; removed C; changed B"
    assert not manifest.changes(new, new)


def test_unreadable_manifests_read_as_none():
    assert manifest.loads(None) is None
    assert manifest.loads("not json") is None
    assert manifest.loads('{"format": 99}') is None


def test_drift_lists_version_changes_and_added_and_removed_names():
    key = manifest.new_key()
    deployed = manifest.build("app", key, {"A": Var("1", "s", 3), "B": Var("2", "s", 1),
                                           "C": Var("3", "s", 1)})
    current = {"A": Var("1", "s", 4), "B": Var("2", "s", 1), "D": Var("4", "s", 1)}
    assert manifest.drift(deployed, current) == ["A v3->v4", "-C", "+D"]
    assert manifest.drift(deployed, {"A": Var("1", "s", 3), "B": Var("2", "s", 1),
                                     "C": Var("3", "s", 1)}) == []
