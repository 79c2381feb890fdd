"""What ``fleet events`` puts in place (ssmenv.fleet.events), by equality: the rules' target is
the app's runbook (``ssmenv-rollout-<app>``), started by EventBridge with the role it may pass
and nothing else, and the runbook's own role may send the app's command document to the app's
instances and read the commands back, nothing more. No AWS here: ``events`` only decides."""

from __future__ import annotations

import json

import pytest

from ssmenv.config import AppConfig
from ssmenv.fleet.document import FleetError
from ssmenv.fleet.events import (
    TRUST,
    automation_trust,
    events,
)
from ssmenv.pace import Fleet
from ssmenv.plan.fleet import Hosts, runbook

ACCOUNT = "123456789012"
IDS = [f"i-{n:017x}" for n in range(1, 5)]
DEFINITION = ("arn:aws:ssm:us-east-1:123456789012:automation-definition/"
              "ssmenv-rollout-shop")  # fmt: skip
DOCUMENT = "arn:aws:ssm:us-east-1:123456789012:document/ssmenv-sync-shop"
RUNBOOK_ROLE = "arn:aws:iam::123456789012:role/ssmenv-rollout-shop"
READ_COMMANDS = {"Sid": "ReadTheCommands", "Effect": "Allow",
                 "Action": ["ssm:GetCommandInvocation", "ssm:ListCommandInvocations",
                            "ssm:ListCommands"], "Resource": ["*"]}  # fmt: skip


def _config(**data: object) -> AppConfig:
    return AppConfig.from_data({"app_name": "shop", "app_source": "examples/app",
                                "ssm_path": "/shop/prod", "rollout_canary": 1,
                                "rollout_batch": 2, "fleet_max_errors": 1, **data})


def test_the_rules_start_the_apps_runbook_passing_it_its_role_and_nothing_else():
    found = events(_config(), ACCOUNT, ("Role", "web"), IDS)
    assert found.target == {
        "Id": "rollout", "Arn": f"{DEFINITION}:$DEFAULT",
        "RoleArn": "arn:aws:iam::123456789012:role/ssmenv-events-shop",
        "Input": json.dumps({"AutomationAssumeRole": [RUNBOOK_ROLE]})}
    # EventBridge passes the runbook's parameters as lists of strings: the role's ARN, a name.
    assert json.loads(found.target["Input"]) == {"AutomationAssumeRole": [RUNBOOK_ROLE]}
    assert "RunCommandParameters" not in found.target
    assert [rule.name for rule in found.rules] == ["ssmenv-shop-parameters"]


def test_the_runbook_is_the_settings_and_the_tags():
    config = _config()
    found = events(config, ACCOUNT, ("Role", "web"), IDS)
    assert found.runbook == "ssmenv-rollout-shop"
    assert found.runbook_content == runbook("shop", config.rollout, config.fleet,
                                            Hosts(tag=("Role", "web")))  # fmt: skip
    steps = {s["name"]: s for s in found.runbook_content["mainSteps"]}
    assert list(steps) == ["FindInstances", "PickCanary", "Canary", "Waves"]  # canary first
    assert (steps["Canary"]["inputs"]["MaxConcurrency"],
            steps["Canary"]["inputs"]["MaxErrors"]) == ("1", "0")  # fmt: skip
    assert (steps["Waves"]["inputs"]["MaxConcurrency"],
            steps["Waves"]["inputs"]["MaxErrors"]) == ("2", "1")  # the settings' limits
    assert config.fleet == Fleet("1", 600)


def test_eventbridges_role_may_only_start_the_runbook_and_pass_its_role():
    found = events(_config(), ACCOUNT, ("Role", "web"), IDS)
    assert found.role == "ssmenv-events-shop"
    assert found.as_json()["role"]["trust"] == TRUST
    assert found.role_policy == {"Version": "2012-10-17", "Statement": [
        {"Sid": "PassTheRunbooksRole", "Effect": "Allow", "Action": ["iam:PassRole"],
         "Resource": [RUNBOOK_ROLE],
         "Condition": {"StringEquals": {"iam:PassedToService": ["ssm.amazonaws.com"]}}},
        {"Sid": "StartTheRunbook", "Effect": "Allow", "Action": ["ssm:StartAutomationExecution"],
         "Resource": [f"{DEFINITION}:*"]},
    ]}  # fmt: skip


def test_the_runbooks_role_sends_the_document_to_the_tagged_instances_only():
    found = events(_config(), ACCOUNT, ("Role", "web"), IDS)
    assert found.automation_role == "ssmenv-rollout-shop"
    assert automation_trust(ACCOUNT) == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]}
    assert found.automation_policy == {"Version": "2012-10-17", "Statement": [
        {"Sid": "FindTheTaggedInstances", "Effect": "Allow", "Action": ["ec2:DescribeInstances"],
         "Resource": ["*"]},
        READ_COMMANDS,
        {"Sid": "SendTheDocument", "Effect": "Allow", "Action": ["ssm:SendCommand"],
         "Resource": [DOCUMENT]},
        {"Sid": "ToTheAppsInstances", "Effect": "Allow", "Action": ["ssm:SendCommand"],
         "Resource": ["arn:aws:ec2:us-east-1:123456789012:instance/*"],
         "Condition": {"StringEquals": {"ssm:resourceTag/Role": ["web"]}}},
    ]}  # fmt: skip


def test_with_instance_ids_the_runbooks_role_names_them_and_finds_nothing():
    found = events(_config(), ACCOUNT, None, IDS)
    assert [s["name"] for s in found.runbook_content["mainSteps"]] == ["Canary", "Waves"]
    assert found.automation_policy["Statement"] == [
        READ_COMMANDS,
        {"Sid": "SendTheDocument", "Effect": "Allow", "Action": ["ssm:SendCommand"],
         "Resource": [DOCUMENT]},
        {"Sid": "ToTheAppsInstances", "Effect": "Allow", "Action": ["ssm:SendCommand"],
         "Resource": sorted(f"arn:aws:ec2:us-east-1:123456789012:instance/{i}" for i in IDS)},
    ]  # fmt: skip


@pytest.mark.parametrize("count", [0, 51])
def test_instance_ids_are_one_to_fifty(count):
    with pytest.raises(FleetError, match=f"{count} instances"):
        events(_config(), ACCOUNT, None, [f"i-{n:017x}" for n in range(count)])


def test_what_is_printed_names_the_runbook_and_both_roles():
    printed = events(_config(), ACCOUNT, ("Role", "web"), IDS).as_json()
    assert printed["runbook"]["Name"] == "ssmenv-rollout-shop"
    assert printed["runbook"]["DocumentType"] == "Automation"
    assert printed["automation_role"]["RoleName"] == "ssmenv-rollout-shop"
    assert printed["automation_role"]["trust"] == automation_trust(ACCOUNT)
