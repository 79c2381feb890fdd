"""The contract an app declares in host data: parsing and the checks, pure logic."""

import pytest

from ssmenv.contract import Contract, Rule

CANARY = "FAKE-CANARY-c0ffee"


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        ("non-empty", ["x", " "], [""]),
        ("integer", ["0", "42", "-7", "+3"], ["", "4.2", "1e3", "x", "٣"]),
        ("port", ["1", "443", "65535"], ["0", "65536", "-1", "http", "", "٣"]),
        (
            "url",
            ["https://example.com", "postgres://u:p@db:5432/app", "redis://cache"],
            ["example.com", "/just/a/path", "https://", "", "http://[::1"],
        ),
    ],
)
def test_each_check_accepts_and_refuses_what_its_name_says(check, good, bad):
    rule = Rule("V", required=False, checks=(check,))
    assert [v for v in good if rule.reasons(v)] == []
    assert [v for v in bad if not rule.reasons(v)] == []


def test_an_empty_rule_means_required_and_non_empty():
    contract, problems = Contract.parse({"API_KEY": {}, "TOKEN": None})
    assert problems == []
    assert contract["API_KEY"] == Rule("API_KEY") and contract["TOKEN"].required
    assert contract["API_KEY"].reasons("") == ["is empty"]
    assert Rule("A", allow_empty=True).reasons("") == []


def test_a_default_makes_a_name_optional_and_is_checked_itself():
    contract, problems = Contract.parse(
        {"LOG_LEVEL": {"default": "info", "one_of": ["debug", "info"]}, "WORKERS": {"default": 2}}
    )
    assert problems == []
    assert contract.defaults() == {"LOG_LEVEL": "info", "WORKERS": "2"}
    assert not contract["LOG_LEVEL"].required
    _, problems = Contract.parse({"WORKERS": {"default": "many", "check": "integer"}})
    assert problems == ["WORKERS: default is not an integer"]


def test_one_of_and_pattern_name_the_rule_not_the_value():
    rule = Rule("S", one_of=("a", "b"), pattern="[a-z]{8,}")
    assert rule.reasons(CANARY) == [
        "is not one of a, b",
        "does not match the pattern [a-z]{8,}",
    ]


def test_every_problem_in_a_contract_is_reported_by_name():
    _, problems = Contract.parse(
        {
            "A": {"check": ["url", "email"]},
            "B": {"pattern": "(unclosed"},
            "C": {"required": "yes"},
            "D": {"required": True, "default": "x"},
            "E": {"typo": 1},
            "F": "url",
            "G": {"one_of": "a,b"},
        }
    )
    assert [p.split(":")[0] for p in problems] == ["A", "B", "C", "D", "E", "F", "G"]
    assert problems[4] == "E: unknown rule typo"


def test_env_required_adds_required_names_and_must_not_contradict_the_contract():
    contract, problems = Contract.parse({"A": {"check": "url"}}, ["A", "B"])
    assert problems == []
    assert [r.name for r in contract.rules] == ["A", "B"]
    assert contract["A"].checks == ("url",)  # the contract's rule is kept
    _, problems = Contract.parse({"A": {"required": False}}, ["A"])
    assert problems == ["A: listed in env_required but optional in env_contract"]


def test_names_the_contract_does_not_list_are_reported_only_for_a_declared_contract():
    declared, _ = Contract.parse({"A": {}})
    assert declared.unlisted(["A", "B", "C"]) == ["B", "C"]
    legacy, _ = Contract.parse({}, ["A"])
    assert legacy.unlisted(["A", "B"]) == []


def test_a_contract_that_is_not_a_mapping_is_one_problem():
    assert Contract.parse(["A", "B"])[1] == ["must map variable names to rules (dicts)"]


def test_each_rule_records_the_setting_that_declares_it_and_where():
    contract, problems = Contract.parse(
        {"A": {}, "B": {"check": "url"}}, ["B", "C"],
        contract_origin="group_data/shop.py", required_origin="group_data/all.py",
    )  # fmt: skip
    assert problems == []
    assert {r.name: r.origin for r in contract.rules} == {
        "A": "env_contract in group_data/shop.py",
        "B": "env_contract in group_data/shop.py",  # the contract's rule, also listed as required
        "C": "env_required in group_data/all.py",
    }
    unknown, _ = Contract.parse({"A": {}}, ["C"])
    assert [r.origin for r in unknown.rules] == ["env_contract", "env_required"]
    assert unknown["A"] == Rule("A")  # where it was set is no part of the rule
