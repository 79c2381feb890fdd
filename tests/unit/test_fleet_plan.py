"""The fleet rollout's decisions (ssmenv.plan.fleet), by equality: the command document, the
waves, each invocation's outcome, when the rollout stops, its summary and exit status."""

from __future__ import annotations

import json

import pytest

from ssmenv.config import AppConfig
from ssmenv.pace import Fleet, Pace
from ssmenv.plan.fleet import (
    Decision,
    Hosts,
    Outcome,
    Wave,
    allowed_errors,
    command,
    decide,
    document,
    document_name,
    document_text,
    exit_status,
    outcome,
    runbook,
    runbook_name,
    same_document,
    summary,
    waves,
)

IDS = [f"i-{n:017x}" for n in range(1, 121)]


def test_the_document_runs_exactly_the_agents_sync_line_and_maps_its_status():
    content = document("example-app", Fleet(timeout=300))
    step = content["mainSteps"][0]
    assert step["action"] == "aws:runShellScript"
    assert step["inputs"] == {
        "runCommand": ["ssmenv-agent sync example-app", "status=$?",
                       'echo "ssmenv-agent status=$status"',
                       'case $status in 0 | 2) exit 0 ;; *) exit "$status" ;; esac'],
        "timeoutSeconds": "300",
    }  # fmt: skip
    assert "parameters" not in content  # nothing a caller passes reaches the host
    assert document_name("example-app") == "ssmenv-sync-example-app"


def test_the_document_text_is_canonical_and_compared_by_content():
    content = document("example-app", Fleet())
    text = document_text(content)
    assert text == document_text(json.loads(text))
    assert same_document(json.dumps(content), content)  # another key order, other whitespace
    assert not same_document(None, content)
    assert not same_document("not json", content)
    assert not same_document(document_text(document("example-app", Fleet(timeout=60))), content)


def test_the_settings_give_the_document_its_timeout_and_the_waves_their_limits():
    config = AppConfig.from_data({"app_name": "shop", "app_source": "examples/app",
                                  "ssm_path": "/shop/prod", "rollout_canary": 2,
                                  "rollout_batch": "25%", "fleet_max_errors": "10%",
                                  "fleet_timeout": 120})  # fmt: skip
    assert config.fleet == Fleet("10%", 120)
    assert document("shop", config.fleet)["mainSteps"][0]["inputs"]["timeoutSeconds"] == "120"
    assert waves(IDS[:5], config.rollout, config.fleet) == [
        Wave(tuple(IDS[:2]), "2", "0", canary=True), Wave(tuple(IDS[2:5]), "25%", "10%")]


@pytest.mark.parametrize("value", [-1, "x", "101%", "1.5", True, "05"])
def test_fleet_max_errors_is_a_number_or_a_percentage(value):
    config, problems = AppConfig.collect({"app_name": "shop", "app_source": "examples/app",
                                          "ssm_path": "/shop/prod", "fleet_max_errors": value})
    assert config is None and [p for p in problems if p.startswith("fleet_max_errors")]


def test_a_canary_first_then_the_rest_fifty_a_command_in_order():
    found = waves(IDS, Pace(canary=1, batch=10, percent=None), Fleet("2", 600))
    assert [(len(w.instances), w.max_concurrency, w.max_errors, w.canary) for w in found] == [
        (1, "1", "0", True), (50, "10", "2", False), (50, "10", "2", False),
        (19, "10", "2", False)]  # fmt: skip
    assert [i for w in found for i in w.instances] == IDS


def test_no_canary_and_a_percentage():
    assert waves(IDS[:3], Pace(canary=0, percent=50), Fleet()) == [
        Wave(tuple(IDS[:3]), "50%", "0")]
    assert waves(IDS[:2] + IDS[:1], Pace(canary=5), Fleet()) == [
        Wave(tuple(IDS[:2]), "2", "0", canary=True)]  # an id given twice runs once


@pytest.mark.parametrize(("status", "code", "output", "expected"), [
    ("Success", 0, "example-app: unchanged\nssmenv-agent status=0\n", Outcome.UNCHANGED),
    ("Success", 0, "example-app: changed\nssmenv-agent status=2\n", Outcome.CHANGED),
    ("Success", 0, "", Outcome.UNCHANGED),  # the stand-in runs nothing and says Success
    ("Failed", 3, "ssmenv-agent status=3\n", Outcome.REFUSED),
    ("Failed", 4, "ssmenv-agent status=4\n", Outcome.ROLLED_BACK),
    ("Failed", 5, "", Outcome.BROKEN),
    ("Failed", 75, "", Outcome.LOCKED),
    ("Failed", 1, "", Outcome.ERROR),
    ("Failed", 127, "sh: ssmenv-agent: not found", Outcome.ERROR),
    ("Failed", -1, "", Outcome.ERROR),
    ("InProgress", -1, "", Outcome.PENDING),
    ("Pending", None, "", Outcome.PENDING),
    ("Delayed", None, "", Outcome.PENDING),
    ("TimedOut", -1, "", Outcome.TIMED_OUT),
    ("ExecutionTimedOut", 1, "", Outcome.TIMED_OUT),
    ("DeliveryTimedOut", None, "", Outcome.TIMED_OUT),
    ("Cancelled", None, "", Outcome.NOT_REACHED),
    ("Undeliverable", None, "", Outcome.NOT_REACHED),
    ("Terminated", None, "", Outcome.NOT_REACHED),
])  # fmt: skip
def test_an_invocation_says_how_the_hosts_sync_went(status, code, output, expected):
    assert outcome(status, code, output) == expected


def test_an_unhealthy_host_stops_the_rollout_whatever_max_errors_allows():
    wave = Wave(("a", "b", "c"), "3", "100%")
    assert decide({"a": Outcome.CHANGED, "b": Outcome.ROLLED_BACK, "c": Outcome.PENDING},
                  wave) == Decision(True, "b: rolled back: the rollout stops there")
    assert decide({"a": Outcome.BROKEN}, wave).stop


def test_failures_stop_it_beyond_max_errors_and_any_in_the_canary():
    rest = Wave(("a", "b", "c", "d"), "2", "1")
    assert decide({"a": Outcome.REFUSED, "b": Outcome.CHANGED}, rest) == Decision(False)
    assert decide({"a": Outcome.REFUSED, "b": Outcome.TIMED_OUT}, rest) == Decision(
        True, "a: refused: 2 hosts (max errors 1) failed: the rollout stops there")
    canary = Wave(("a",), "1", "0", canary=True)
    assert decide({"a": Outcome.PENDING}, canary) == Decision(False)
    assert decide({"a": Outcome.NOT_REACHED}, canary) == Decision(
        True, "a: not reached: the canary failed: the rollout stops there")
    assert allowed_errors("10%", 19) == 1 and allowed_errors("0", 50) == 0


def test_the_summary_names_the_six_and_the_rarer_outcomes_seen():
    outcomes = {"a": Outcome.CHANGED, "b": Outcome.CHANGED, "c": Outcome.ROLLED_BACK,
                "d": Outcome.NOT_REACHED, "e": Outcome.LOCKED}  # fmt: skip
    assert summary(outcomes) == ("2 changed, 0 unchanged, 0 refused, 1 rolled back, 0 timed out, "
                                 "1 not reached, 1 locked")  # fmt: skip


@pytest.mark.parametrize(("outcomes", "status"), [
    ([Outcome.UNCHANGED, Outcome.UNCHANGED], 0),
    ([Outcome.UNCHANGED, Outcome.CHANGED], 2),
    ([Outcome.REFUSED, Outcome.NOT_REACHED], 3),
    ([Outcome.CHANGED, Outcome.ROLLED_BACK, Outcome.NOT_REACHED], 4),
    ([Outcome.TIMED_OUT], 4),
    ([Outcome.NOT_REACHED], 4),
    ([Outcome.REFUSED, Outcome.BROKEN], 4),
])  # fmt: skip
def test_the_exit_status_a_pipeline_reads(outcomes, status):
    assert exit_status(dict(enumerate(outcomes))) == status


def test_the_command_names_the_app_and_nothing_else():
    assert command("shop") == ("ssmenv-agent sync shop", "status=$?",
                               'echo "ssmenv-agent status=$status"',
                               'case $status in 0 | 2) exit 0 ;; *) exit "$status" ;; esac')


# --- the runbook of change-driven rollouts ----------------------------------------------------


def test_the_runbook_syncs_a_canary_then_the_rest_by_tag_within_the_settings_limits():
    content = runbook("shop", Pace(canary=2, percent=25), Fleet("10%", 120),
                      Hosts(tag=("Role", "web")))  # fmt: skip
    assert runbook_name("shop") == "ssmenv-rollout-shop"
    assert content["schemaVersion"] == "0.3"
    assert content["assumeRole"] == "{{ AutomationAssumeRole }}"
    assert content["parameters"] == {"AutomationAssumeRole": {
        "type": "String", "description": "The role the rollout runs as (ssmenv-rollout-shop)"}}
    find, pick, canary, waves_ = content["mainSteps"]
    assert find == {
        "name": "FindInstances", "action": "aws:executeAwsApi", "onFailure": "Abort",
        "inputs": {"Service": "ec2", "Api": "DescribeInstances", "MaxResults": 1000,
                   "Filters": [{"Name": "tag:Role", "Values": ["web"]},
                               {"Name": "instance-state-name", "Values": ["running"]}]},
        "outputs": [{"Name": "InstanceIds", "Selector": "$.Reservations..Instances..InstanceId",
                     "Type": "StringList"}]}  # fmt: skip
    assert pick["name"] == "PickCanary" and pick["action"] == "aws:executeScript"
    assert pick["inputs"]["InputPayload"] == {"InstanceIds": "{{ FindInstances.InstanceIds }}",
                                              "Count": 2}  # fmt: skip
    assert pick["outputs"] == [{"Name": "InstanceIds", "Selector": "$.Payload.InstanceIds",
                                "Type": "StringList"}]  # fmt: skip
    assert canary == {
        "name": "Canary", "action": "aws:runCommand", "onFailure": "Abort",
        "inputs": {"DocumentName": "ssmenv-sync-shop",
                   "InstanceIds": "{{ PickCanary.InstanceIds }}",
                   "MaxConcurrency": "2", "MaxErrors": "0"}}  # fmt: skip
    assert waves_ == {
        "name": "Waves", "action": "aws:runCommand", "onFailure": "Abort", "isEnd": True,
        "inputs": {"DocumentName": "ssmenv-sync-shop",
                   "Targets": [{"Key": "tag:Role", "Values": ["web"]}],
                   "MaxConcurrency": "25%", "MaxErrors": "10%"}}  # fmt: skip
    assert "{{" not in json.dumps(content["description"])  # nothing passed in is described


def test_the_runbooks_canary_picks_the_lowest_running_ids_and_fails_on_none():
    script = runbook("shop", Pace(), Fleet(), Hosts(tag=("Role", "web")))["mainSteps"][1]
    assert script["inputs"]["Runtime"] == "python3.11"
    scope: dict = {}
    exec(script["inputs"]["Script"], scope)  # noqa: S102 (the runbook's own text, ours)
    handler = scope[script["inputs"]["Handler"]]
    assert handler({"InstanceIds": ["i-0c", "i-0a", "i-0b"], "Count": 2}, None) == {
        "InstanceIds": ["i-0a", "i-0b"]}
    with pytest.raises(Exception, match="no running instance"):
        handler({"InstanceIds": [], "Count": 1}, None)


def test_the_runbook_with_instance_ids_has_its_canary_fixed_and_the_rest_apart():
    content = runbook("shop", Pace(canary=1, batch=10, percent=None), Fleet("2", 600),
                      Hosts(instances=tuple(IDS[:4])))  # fmt: skip
    canary, rest = content["mainSteps"]  # no instance to find: they are given
    assert canary["inputs"] == {"DocumentName": "ssmenv-sync-shop", "InstanceIds": IDS[:1],
                                "MaxConcurrency": "1", "MaxErrors": "0"}  # fmt: skip
    assert rest["inputs"] == {"DocumentName": "ssmenv-sync-shop",
                              "Targets": [{"Key": "InstanceIds", "Values": IDS[1:4]}],
                              "MaxConcurrency": "10", "MaxErrors": "2"}  # fmt: skip
    assert [s["name"] for s in content["mainSteps"]] == ["Canary", "Waves"]


def test_no_canary_setting_leaves_the_waves_alone_and_a_canary_of_all_leaves_no_wave():
    alone = runbook("shop", Pace(canary=0, percent=50), Fleet(), Hosts(tag=("Role", "web")))
    assert [s["name"] for s in alone["mainSteps"]] == ["Waves"]
    assert alone["mainSteps"][0]["isEnd"] is True
    every = runbook("shop", Pace(canary=3), Fleet(), Hosts(instances=tuple(IDS[:2])))
    assert [s["name"] for s in every["mainSteps"]] == ["Canary"]
    assert every["mainSteps"][0]["inputs"]["InstanceIds"] == IDS[:2]
    assert every["mainSteps"][0]["isEnd"] is True


def test_the_runbooks_canary_by_tag_is_at_most_fifty_instances():
    content = runbook("shop", Pace(canary=80), Fleet(), Hosts(tag=("Role", "web")))
    assert content["mainSteps"][1]["inputs"]["InputPayload"]["Count"] == 50
    assert content["mainSteps"][2]["inputs"]["MaxConcurrency"] == "50"


def test_the_runbook_is_the_settings_own_and_canonical():
    hosts = Hosts(tag=("Role", "web"))
    content = runbook("shop", Pace(), Fleet(), hosts)
    assert runbook("shop", Pace(), Fleet(), hosts) == content
    assert same_document(json.dumps(content), content)
    assert not same_document(document_text(runbook("shop", Pace(), Fleet("1"), hosts)), content)
