"""Change-driven rollouts: the EventBridge rules that roll the app out when one of its
parameters changes ("Parameter Store Change" under its path or of its names) or one of its
secrets gets a new value (Secrets Manager through CloudTrail: ``PutSecretValue``,
``UpdateSecret``, ``RotationSucceeded``), and the two roles they need.

The rules' target is the app's Automation runbook (``ssmenv-rollout-<app>``,
``ssmenv.plan.fleet.runbook``), not the command document itself: EventBridge's Run Command
target takes no ``MaxConcurrency`` nor ``MaxErrors`` and has no canary, while the runbook sends
the document to a canary first, then to the rest with the app's ``rollout_batch`` and
``fleet_max_errors``, and stops at the first step that fails, as ``fleet rollout`` does.

- EventBridge's role (``ssmenv-events-<app>``, trusted by ``events.amazonaws.com``) may start
  that runbook and pass it its own role, nothing else; the rule's constant input is that role's
  ARN, the runbook's one parameter (EventBridge passes parameters as lists of strings): no
  value, no name of the event, nothing a change could set.
- The runbook's role (``ssmenv-rollout-<app>``, trusted by ``ssm.amazonaws.com`` for this
  account) may send the app's command document to the app's instances (by tag, or the ids
  given) and read the commands back, and, by tag, list the instances to pick the canary from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws, policy
from ssmenv.config import AppConfig
from ssmenv.fleet.document import FleetError
from ssmenv.plan.fleet import Hosts, document_name, runbook, runbook_name

PARAMETER_OPERATIONS = ("Create", "Update", "Delete", "LabelParameterVersion")
SECRET_EVENTS = ("PutSecretValue", "UpdateSecret", "RotationSucceeded")
TRUST = {"Version": policy.VERSION, "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}  # fmt: skip
#: The inline policies ``create`` puts on each role; ``send-sync`` is the one EventBridge's role
#: had when the rules sent the document themselves: taken off, it granted ``ssm:SendCommand``.
EVENTS_POLICY, AUTOMATION_POLICY, FORMER_POLICY = "start-rollout", "run-rollout", "send-sync"
#: The target's id on each rule; ``sync`` was the Run Command target, taken off.
TARGET_ID, FORMER_TARGET_ID = "rollout", "sync"


def automation_trust(account: str) -> dict[str, Any]:
    """The runbook's role: assumed by Automation (``ssm.amazonaws.com``) for this account only
    (``aws:SourceAccount``, against a confused deputy)."""
    return {"Version": policy.VERSION, "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account}}}]}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class Events:
    """What ``fleet events`` prints and creates for one app."""

    app: str
    region: str
    account: str
    rules: tuple[Rule, ...]
    target: dict[str, Any]
    role: str
    role_policy: dict[str, Any]
    runbook: str
    runbook_content: dict[str, Any]
    automation_role: str
    automation_policy: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"app": self.app, "region": self.region,
                "rules": [{"Name": r.name, "EventPattern": r.pattern} for r in self.rules],
                "target": self.target,
                "role": {"RoleName": self.role, "trust": TRUST, "policy": self.role_policy},
                "runbook": {"Name": self.runbook, "DocumentType": "Automation",
                            "Content": self.runbook_content},
                "automation_role": {"RoleName": self.automation_role,
                                    "trust": automation_trust(self.account),
                                    "policy": self.automation_policy}}  # fmt: skip


def watched(config: AppConfig) -> tuple[list[Any], list[str]]:
    """What the app reads: SSM name patterns of a Parameter Store Change (a path's prefix, each
    name) and its secrets' ids (names or ARNs)."""
    parameters: list[Any] = []
    secrets: list[str] = []
    for kind, spec in config.sources.items():
        if kind == "ssm_path":
            parameters.append({"prefix": f"{spec.path.rstrip('/')}/"})
        elif kind == "ssm_parameters":
            parameters += sorted({p.reference.split(":", 1)[0] for p in spec.parameters})
        elif kind == "secrets":
            secrets += sorted({s.id for s in spec.secrets})
    return parameters, secrets


def _secret_matches(region: str, account: str, ids: Sequence[str]) -> list[Any]:
    """A secret as an event names it: the id the caller gave (``requestParameters.secretId``:
    its name or ARN), or its ARN (``additionalEventData.SecretId``), suffix and all."""
    found: list[Any] = []
    for secret in ids:
        found.append(secret)
        if not secret.startswith("arn:"):
            found.append({"prefix": policy.secret_arn(region, account, secret).removesuffix(
                "??????")})  # fmt: skip
    return found


def events(config: AppConfig, account: str, tag: tuple[str, str] | None,
           instances: Sequence[str]) -> Events:  # fmt: skip
    """The rules, their target, the runbook and the two roles for ``config``'s app, its hosts
    the instances tagged ``tag`` (``None``: ``instances``, 1 to 50)."""
    region = config.publication.region if config.publication else "us-east-1"
    app, document = config.name, document_name(config.name)
    partition = policy.partition(region)
    parameters, secrets = watched(config)
    rules = []
    if parameters:
        rules.append(Rule(f"ssmenv-{app}-parameters", {
            "source": ["aws.ssm"], "detail-type": ["Parameter Store Change"],
            "detail": {"name": parameters, "operation": list(PARAMETER_OPERATIONS)}}))
    if secrets:
        matches = _secret_matches(region, account, secrets)
        rules.append(Rule(f"ssmenv-{app}-secrets", {
            "source": ["aws.secretsmanager"],
            "detail-type": ["AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"],
            "detail": {"eventSource": ["secretsmanager.amazonaws.com"],
                       "eventName": list(SECRET_EVENTS),
                       "$or": [{"requestParameters": {"secretId": matches}},
                               {"additionalEventData": {"SecretId": matches}}]}}))
    if not rules:
        raise FleetError(f"{app} reads no parameter nor secret: no event to roll out on")
    role, automation_role = f"ssmenv-events-{app}"[:64], runbook_name(app)[:64]
    document_arn = f"arn:{partition}:ssm:{region}:{account}:document/{document}"
    if tag is not None:
        hosts = Hosts(tag=tag)
        instance_arns = (f"arn:{partition}:ec2:{region}:{account}:instance/*",)
        conditions = (policy.Condition("StringEquals", f"ssm:resourceTag/{tag[0]}", (tag[1],)),)
    else:
        if not instances or len(instances) > 50:
            raise FleetError(f"{len(instances)} instances: an EventBridge rule targets one tag "
                             "or 1 to 50 instance ids; give --tag KEY=VALUE")  # fmt: skip
        hosts = Hosts(instances=tuple(instances))
        instance_arns = tuple(f"arn:{partition}:ec2:{region}:{account}:instance/{i}"
                              for i in instances)  # fmt: skip
        conditions = ()
    content = runbook(app, config.rollout, config.fleet, hosts)
    automation = [
        policy.Statement("SendTheDocument", ("ssm:SendCommand",), (document_arn,)),
        policy.Statement("ToTheAppsInstances", ("ssm:SendCommand",), instance_arns, conditions),
        # aws:runCommand follows its command with these; they name no resource.
        policy.Statement("ReadTheCommands", ("ssm:ListCommands", "ssm:ListCommandInvocations",
                                             "ssm:GetCommandInvocation"), ("*",)),
    ]  # fmt: skip
    if any(step["action"] == "aws:executeAwsApi" for step in content["mainSteps"]):
        # The canary's instances, found by tag: DescribeInstances names no resource.
        automation.append(policy.Statement("FindTheTaggedInstances", ("ec2:DescribeInstances",),
                                           ("*",)))  # fmt: skip
    automation_arn = f"arn:{partition}:iam::{account}:role/{automation_role}"
    definition = f"arn:{partition}:ssm:{region}:{account}:automation-definition/{runbook_name(app)}"
    starting = [
        # The definition's every version ("NAME:*"), the default the rule names among them:
        # the one runbook, whichever version AWS authorizes the start against.
        policy.Statement("StartTheRunbook", ("ssm:StartAutomationExecution",),
                         (f"{definition}:*",)),
        policy.Statement("PassTheRunbooksRole", ("iam:PassRole",), (automation_arn,), (
            policy.Condition("StringEquals", "iam:PassedToService", ("ssm.amazonaws.com",)),)),
    ]  # fmt: skip
    target = {"Id": TARGET_ID, "Arn": f"{definition}:$DEFAULT",
              "RoleArn": f"arn:{partition}:iam::{account}:role/{role}",
              "Input": json.dumps({"AutomationAssumeRole": [automation_arn]})}  # fmt: skip
    return Events(app, region, account, tuple(rules), target, role, policy.document(starting),
                  runbook_name(app), content, automation_role, policy.document(automation))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _as_policy(document: Any) -> Any:
    """A policy document as IAM answers it (boto3 decodes it; a string otherwise)."""
    if isinstance(document, str):
        try:
            return json.loads(unquote(document))
        except ValueError:
            return None
    return document


def _role(iam: Any, name: str, trust: dict[str, Any], description: str, policy_name: str,
          document: dict[str, Any], former: str | None = None) -> str:  # fmt: skip
    """The role ``name`` with ``trust`` and its one inline policy ``policy_name`` as
    ``document``, each written only when it differs (``former``, an inline policy an earlier
    version put there, taken off); one line saying what was done."""
    try:
        current = iam.get_role(RoleName=name)["Role"]
    except ClientError as e:
        if _code(e) != "NoSuchEntity":
            raise
        current = None
    if current is None:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                        Description=description)  # fmt: skip
        done = "created"
    elif _as_policy(current.get("AssumeRolePolicyDocument")) != trust:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        done = "trust updated"
    else:
        done = "exists"
    try:
        inline = _as_policy(iam.get_role_policy(RoleName=name, PolicyName=policy_name)
                            ["PolicyDocument"])  # fmt: skip
    except ClientError as e:
        if _code(e) != "NoSuchEntity":
            raise
        inline = None
    if inline != document:
        iam.put_role_policy(RoleName=name, PolicyName=policy_name,
                            PolicyDocument=json.dumps(document))  # fmt: skip
        done += f", policy {policy_name} put"
    else:
        done += f", policy {policy_name} unchanged"
    if former and former in iam.list_role_policies(RoleName=name).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=former)
        done += f", policy {former} deleted"
    return f"role {name}: {done}"


def _rule(found: Events, rule: Rule) -> str:
    """The rule and its target as ``found`` says, each written only when it differs (the Run
    Command target of an earlier version taken off); one line saying what was done."""
    description = f"ssmenv: roll {found.app} out when what it reads changes"
    try:
        current = aws.call("events", found.region, "DescribeRule", Name=rule.name)
    except ClientError as e:
        if _code(e) != "ResourceNotFoundException":
            raise
        current = {}
    wanted = (rule.pattern, "ENABLED", description)
    if (_as_policy(current.get("EventPattern")), current.get("State"),
            current.get("Description")) != wanted:  # fmt: skip
        aws.call("events", found.region, "PutRule", Name=rule.name,
                 EventPattern=json.dumps(rule.pattern), State="ENABLED",
                 Description=description)  # fmt: skip
        done = "put"
    else:
        done = "unchanged"
    targets = {t["Id"]: t for t in aws.call("events", found.region, "ListTargetsByRule",
                                            Rule=rule.name).get("Targets", [])}  # fmt: skip
    if targets.get(TARGET_ID) != found.target:
        answer = aws.call("events", found.region, "PutTargets", Rule=rule.name,
                          Targets=[found.target])  # fmt: skip
        if answer.get("FailedEntryCount"):
            raise FleetError(f"rule {rule.name}: its target was refused: "
                             f"{answer['FailedEntries'][0].get('ErrorCode')}")
        done += f", target {found.target['Arn']} put"
    else:
        done += f", target {found.target['Arn']} unchanged"
    if FORMER_TARGET_ID in targets:
        aws.call("events", found.region, "RemoveTargets", Rule=rule.name,
                 Ids=[FORMER_TARGET_ID])  # fmt: skip
        done += f", former target {FORMER_TARGET_ID} removed"
    return f"rule {rule.name}: {done}"


def create(found: Events) -> list[str]:
    """The runbook's role, EventBridge's role, the rules and their target, as ``found`` says,
    each written only when it differs (so a second run writes nothing); a line for each. The
    documents are ``ssmenv.fleet.document.ensure``'s."""
    try:
        iam = aws.client("iam", found.region)
        lines = [
            _role(iam, found.automation_role, automation_trust(found.account),
                  f"Automation runs ssmenv's rollout of {found.app}", AUTOMATION_POLICY,
                  found.automation_policy),
            _role(iam, found.role, TRUST, f"EventBridge starts ssmenv's rollout of {found.app}",
                  EVENTS_POLICY, found.role_policy, former=FORMER_POLICY),
        ]  # fmt: skip
        lines += [_rule(found, rule) for rule in found.rules]
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"events of {found.app}: {aws.reason(e)}") from None
    return lines


def parse_tag(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise FleetError("--tag: KEY=VALUE")
    return key, value

