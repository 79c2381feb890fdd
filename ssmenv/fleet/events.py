"""Change-driven rollouts: the EventBridge rules that run the app's command document when one of
its parameters changes ("Parameter Store Change" under its path or of its names) or one of its
secrets gets a new value (Secrets Manager through CloudTrail: ``PutSecretValue``,
``UpdateSecret``, ``RotationSucceeded``), and the role EventBridge takes to send it: exactly
``ssm:SendCommand`` of that document to the targeted instances.

EventBridge's Run Command target names its instances (one tag, or at most 50 ids) and nothing
else: it takes no ``MaxConcurrency`` nor ``MaxErrors``, so Run Command's own defaults apply to
it, and it has no canary. ``python -m ssmenv fleet rollout`` is the careful path; these rules
are the prompt one, for rotations the app's health check guards on each host (a host whose new
value fails rolls back by itself).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws, policy
from ssmenv.config import AppConfig
from ssmenv.fleet.document import FleetError
from ssmenv.plan.fleet import document_name

PARAMETER_OPERATIONS = ("Create", "Update", "Delete", "LabelParameterVersion")
SECRET_EVENTS = ("PutSecretValue", "UpdateSecret", "RotationSucceeded")
TRUST = {"Version": policy.VERSION, "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}  # fmt: skip


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: dict[str, Any]


@dataclass(frozen=True)
class Events:
    """What ``fleet events`` prints and creates for one app."""

    app: str
    region: str
    rules: tuple[Rule, ...]
    target: dict[str, Any]
    role: str
    role_policy: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"app": self.app, "region": self.region,
                "rules": [{"Name": r.name, "EventPattern": r.pattern} for r in self.rules],
                "target": self.target, "role": {"RoleName": self.role, "trust": TRUST,
                                                "policy": self.role_policy}}  # fmt: skip


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
    """The rules, target and role for ``config``'s app, its hosts the instances tagged ``tag``
    (``None``: ``instances``, 50 at most)."""
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
    role = f"ssmenv-events-{app}"[:64]
    document_arn = f"arn:{partition}:ssm:{region}:{account}:document/{document}"
    if tag is not None:
        targets = [{"Key": f"tag:{tag[0]}", "Values": [tag[1]]}]
        instance_arns = (f"arn:{partition}:ec2:{region}:{account}:instance/*",)
        conditions = (policy.Condition("StringEquals", f"ssm:resourceTag/{tag[0]}", (tag[1],)),)
    else:
        if not instances or len(instances) > 50:
            raise FleetError(f"{len(instances)} instances: an EventBridge rule targets one tag "
                             "or 1 to 50 instance ids; give --tag KEY=VALUE")  # fmt: skip
        targets = [{"Key": "InstanceIds", "Values": list(instances)}]
        instance_arns = tuple(f"arn:{partition}:ec2:{region}:{account}:instance/{i}"
                              for i in instances)  # fmt: skip
        conditions = ()
    statements = [
        policy.Statement("SendTheDocument", ("ssm:SendCommand",), (document_arn,)),
        policy.Statement("ToTheAppsInstances", ("ssm:SendCommand",), instance_arns, conditions),
    ]
    target = {"Id": "sync", "Arn": document_arn,
              "RoleArn": f"arn:{partition}:iam::{account}:role/{role}",
              "RunCommandParameters": {"RunCommandTargets": targets}}  # fmt: skip
    return Events(app, region, tuple(rules), target, role, policy.document(statements))


def create(found: Events) -> list[str]:
    """The role (its policy put again), the rules and their target, as ``found`` says; a line
    for each."""
    lines = []
    try:
        iam = aws.client("iam", found.region)
        try:
            iam.create_role(RoleName=found.role, AssumeRolePolicyDocument=json.dumps(TRUST),
                            Description=f"EventBridge runs ssmenv's sync of {found.app}")
            lines.append(f"role {found.role}: created")
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
                raise
            lines.append(f"role {found.role}: exists")
        iam.put_role_policy(RoleName=found.role, PolicyName="send-sync",
                            PolicyDocument=json.dumps(found.role_policy))  # fmt: skip
        for rule in found.rules:
            aws.call("events", found.region, "PutRule", Name=rule.name,
                     EventPattern=json.dumps(rule.pattern), State="ENABLED",
                     Description=f"ssmenv: roll {found.app} out when what it reads changes")
            answer = aws.call("events", found.region, "PutTargets", Rule=rule.name,
                              Targets=[found.target])  # fmt: skip
            if answer.get("FailedEntryCount"):
                raise FleetError(f"rule {rule.name}: its target was refused: "
                                 f"{answer['FailedEntries'][0].get('ErrorCode')}")
            lines.append(f"rule {rule.name}: put, target {found.target['Arn']}")
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

