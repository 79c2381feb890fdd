"""``python -m ssmenv fleet`` against the AWS stand-in, every request it makes captured by the
lab's proxy (``lab.faults.FaultProxy``, recording): the command document it writes, the
commands it sends (targets, concurrency, errors, the canary's first and the rest's only after
the canary's invocations were read), how it polls, the EventBridge rules, the runbook they start
and the two roles, and that no value of the app's is in any request or line it prints.

What these tests do not prove: moto (the stand-in) records ``SendCommand`` with its instances,
but executes nothing and reports every invocation ``Success`` at once with no output (the lab
adds ``ListCommandInvocations`` and ``CancelCommand``, which moto lacks, over what moto
recorded); it enforces neither ``MaxConcurrency``, ``MaxErrors`` nor the alarm, delivers no
EventBridge event and runs no Automation runbook (it keeps the runbook, rules, targets and
roles as written: what is put in place is proven here, what AWS runs of it is not). So every
host here comes back "unchanged". What the document's command does on a host, and how real
outcomes stop a rollout, is proven end to end (tests/e2e/test_fleet_ssm.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lab import aws
from lab.faults import FaultProxy
from ssmenv.pace import Fleet, Pace
from ssmenv.plan.fleet import Hosts, document, document_name, runbook

REPO = Path(__file__).resolve().parents[2]
AMI = "ami-12c6146b"  # one of moto's default images
APP = "example-app"
CANARY = "FAKE-fleet-canary-secret-value"
PATH = "/fleet-it/app"
DATA = {"delivery": "pull", "ssm_path": PATH, "release_bucket": "fleet-it-releases",
        "rollout_canary": "1", "rollout_batch": "2", "fleet_max_errors": "1"}  # fmt: skip


@pytest.fixture(scope="module")
def proxy(stand_in):
    with FaultProxy(f"http://127.0.0.1:{stand_in.port}") as found:
        found.record = True
        yield found


@pytest.fixture(scope="module")
def fleet(stand_in, tmp_path_factory):
    """Four running instances tagged for this module, the example app's parameters (one holding
    the canary value), and an inventory naming the instances by their tags."""
    suite = uuid.uuid4().hex
    ec2 = stand_in.client("ec2")
    answer = ec2.run_instances(ImageId=AMI, MinCount=4, MaxCount=4, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Suite", "Value": suite}]}])
    ids = sorted(i["InstanceId"] for i in answer["Instances"])
    stand_in.put({f"{PATH}/DATABASE_URL": "postgres://app:FAKE-fleet@db.internal:5432/app",
                  f"{PATH}/API_KEY": CANARY, f"{PATH}/SESSION_SECRET": "FAKE-fleet-session"})
    stand_in.client("s3").create_bucket(Bucket=DATA["release_bucket"])
    inventory = tmp_path_factory.mktemp("fleet-it") / "fleet.py"
    inventory.write_text("from ssmenv import ec2\n\n"
                         f"_hosts = ec2.hosts(static=[], tags={{'Suite': {suite!r}}})\n"
                         "example = _hosts\n")  # fmt: skip
    return inventory, ids


def fleet_command(proxy: FaultProxy, inventory: Path, *words: str, data: dict | None = None
                  ) -> subprocess.CompletedProcess:  # fmt: skip
    """``python -m ssmenv fleet WORDS INVENTORY`` as a user runs it, AWS through the proxy."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_"))}
    env.update(aws.environment(0), AWS_ENDPOINT_URL=proxy.url)
    command, *rest = words
    args = [f"--data={k}={v}" for k, v in {**DATA, **(data or {})}.items()]
    done = subprocess.run([sys.executable, "-m", "ssmenv", "fleet", command, str(inventory),
                           *args, *rest], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    done.output = done.stdout + done.stderr
    return done


def sent(proxy: FaultProxy, operation: str | None = None) -> list[tuple[str, dict]]:
    """The JSON requests the proxy saw (of ``operation``), in order."""
    found = []
    for name, body in proxy.requests:
        if operation in (None, name) and body.startswith(b"{"):
            found.append((name, json.loads(body)))
    return found


def assert_no_value_anywhere(proxy: FaultProxy, output: str) -> None:
    for name, body in proxy.requests:
        assert b"FAKE-fleet" not in body, name
    assert "FAKE" not in output


def test_a_rollout_to_an_inventorys_tags_sends_the_canary_first_and_the_rest_after_it(
    proxy, fleet
):
    inventory, ids = fleet
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "rollout", "--poll", "0.1")
    assert done.returncode == 0, done.output  # every host "unchanged": the stand-in ran nothing

    # The document: created from the settings, the agent's sync line and nothing else.
    [(_, created)] = sent(proxy, "CreateDocument")
    assert created["Name"] == document_name(APP) == "ssmenv-sync-example-app"
    assert created["DocumentType"] == "Command"
    assert json.loads(created["Content"]) == document(APP, Fleet("1", 600))
    assert json.loads(created["Content"])["mainSteps"][0]["inputs"]["runCommand"][0] == \
        f"ssmenv-agent sync {APP}"  # fmt: skip

    # The canary alone, then the rest, each command only after the one before was read done.
    order = [(name, body) for name, body in sent(proxy)
             if name in ("SendCommand", "ListCommandInvocations")]  # fmt: skip
    sends = [i for i, (name, _) in enumerate(order) if name == "SendCommand"]
    assert len(sends) == 2
    canary, rest = order[sends[0]][1], order[sends[1]][1]
    assert canary["InstanceIds"] == ids[:1]  # the first host by name (here its id)
    assert (canary["MaxConcurrency"], canary["MaxErrors"]) == ("1", "0")
    assert rest["InstanceIds"] == ids[1:]
    assert (rest["MaxConcurrency"], rest["MaxErrors"]) == ("2", "1")  # rollout_batch, max errors
    for command in (canary, rest):
        assert command["DocumentName"] == "ssmenv-sync-example-app"
        assert command["DocumentVersion"] == "1"
        assert "Parameters" not in command and "Targets" not in command
        assert command["Comment"].startswith("ssmenv rollout ")
    between = [body for name, body in order[sends[0] + 1 : sends[1]]]
    assert between and all(b["Details"] is True for b in between)  # the canary's polled first
    assert order[-1][0] == "ListCommandInvocations"  # and the rest's after it

    for instance in ids:
        assert f"fleet: {instance} ({instance}): unchanged" in done.stdout
    assert done.stdout.rstrip().endswith(
        f"fleet: {APP}: 0 changed, 4 unchanged, 0 refused, 0 rolled back, 0 timed out, "
        "0 not reached")  # fmt: skip
    assert_no_value_anywhere(proxy, done.output)


def test_the_document_is_written_again_only_when_its_content_changed(proxy, fleet):
    inventory, _ = fleet
    proxy.reset_counts()
    again = fleet_command(proxy, inventory, "rollout", "--poll", "0.1")
    assert again.returncode == 0, again.output
    assert "document ssmenv-sync-example-app: unchanged, version 1" in again.stdout
    assert not sent(proxy, "CreateDocument") and not sent(proxy, "UpdateDocument")

    proxy.reset_counts()
    changed = fleet_command(proxy, inventory, "rollout", "--poll", "0.1",
                            data={"fleet_timeout": "120"})  # fmt: skip
    assert changed.returncode == 0, changed.output
    [(_, update)] = sent(proxy, "UpdateDocument")
    assert json.loads(update["Content"]) == document(APP, Fleet("1", 120))
    [(_, default)] = sent(proxy, "UpdateDocumentDefaultVersion")
    assert default["DocumentVersion"] == "2"
    assert {body["DocumentVersion"] for _, body in sent(proxy, "SendCommand")} == {"2"}
    assert "document ssmenv-sync-example-app: updated, version 2" in changed.stdout
    stored = proxy_client(proxy).get_document(Name="ssmenv-sync-example-app")
    assert json.loads(stored["Content"]) == document(APP, Fleet("1", 120))

    # The settings put back: the version that holds them is the default again, none written.
    proxy.reset_counts()
    back = fleet_command(proxy, inventory, "rollout", "--poll", "0.1")
    assert back.returncode == 0, back.output
    assert "document ssmenv-sync-example-app: updated, version 1" in back.stdout
    assert not sent(proxy, "UpdateDocument") and not sent(proxy, "CreateDocument")
    assert {body["DocumentVersion"] for _, body in sent(proxy, "SendCommand")} == {"1"}


def proxy_client(proxy: FaultProxy, service: str = "ssm"):
    return aws.client(service, proxy.url)


def test_explicit_instances_an_alarm_and_percentages(proxy, fleet):
    inventory, ids = fleet
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "rollout", "--poll", "0.1", "--instance-ids",
                         f"{ids[2]},{ids[0]}", "--alarm", "fleet-it-5xx",
                         data={"rollout_batch": "50%", "fleet_max_errors": "10%"})
    assert done.returncode == 0, done.output
    canary, rest = [body for _, body in sent(proxy, "SendCommand")]
    assert canary["InstanceIds"] == [ids[2]] and rest["InstanceIds"] == [ids[0]]
    assert (rest["MaxConcurrency"], rest["MaxErrors"]) == ("50%", "10%")
    for command in (canary, rest):
        assert command["AlarmConfiguration"] == {"IgnorePollAlarmFailure": False,
                                                 "Alarms": [{"Name": "fleet-it-5xx"}]}


@pytest.mark.parametrize(("given", "said"), [
    ("i-0123,x", "--instance-ids: not an instance id: 'i-0123'"),
    (",".join(f"i-{n:017x}" for n in range(51)), "--instance-ids: 1 to 50 ids, not 51"),
])  # fmt: skip
def test_instance_ids_are_checked_before_anything_is_sent(proxy, fleet, given, said):
    inventory, _ = fleet
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "rollout", "--instance-ids", given)
    assert done.returncode == 1 and said in done.stderr, done.output
    assert not sent(proxy, "SendCommand") and not sent(proxy, "CreateDocument")


def test_status_reads_the_last_rollouts_invocations(proxy, fleet):
    inventory, ids = fleet
    fleet_command(proxy, inventory, "rollout", "--poll", "0.1")
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "status")
    assert done.returncode == 0, done.output
    for instance in ids:
        assert f"fleet: {instance} ({instance}): unchanged (command " in done.stdout
    assert "4 unchanged" in done.stdout
    listed = sent(proxy, "ListCommandInvocations")
    assert len(listed) == 2  # the canary's command and the rest's, of the last rollout only
    assert not sent(proxy, "SendCommand")


#: Every request ``fleet events --create`` could write with.
WRITES = {"CreateDocument", "UpdateDocument", "UpdateDocumentDefaultVersion", "CreateRole",
          "UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "PutRule", "PutTargets",
          "RemoveTargets"}  # fmt: skip
RUNBOOK = "ssmenv-rollout-example-app"
DEFINITION = f"arn:aws:ssm:us-east-1:123456789012:automation-definition/{RUNBOOK}"
RULES = ("ssmenv-example-app-parameters", "ssmenv-example-app-secrets")
SECRETS = {"secrets": '[{"id": "fleet-it/db"}]'}


def test_events_prints_the_rules_starting_the_runbook_and_both_roles_and_writes_nothing(
    proxy, fleet
):
    inventory, _ = fleet
    proxy.reset_counts()
    printed = fleet_command(proxy, inventory, "events", "--tag", "Role=web", data=SECRETS)
    assert printed.returncode == 0, printed.output
    found = json.loads(printed.stdout)
    parameters, secrets = found["rules"]
    assert parameters["EventPattern"] == {
        "source": ["aws.ssm"], "detail-type": ["Parameter Store Change"],
        "detail": {"name": [{"prefix": f"{PATH}/"}],
                   "operation": ["Create", "Update", "Delete", "LabelParameterVersion"]}}
    assert secrets["EventPattern"]["detail"]["eventName"] == ["PutSecretValue", "UpdateSecret",
                                                              "RotationSucceeded"]
    role = "arn:aws:iam::123456789012:role/ssmenv-rollout-example-app"
    assert found["target"] == {
        "Id": "rollout", "Arn": f"{DEFINITION}:$DEFAULT",
        "RoleArn": "arn:aws:iam::123456789012:role/ssmenv-events-example-app",
        "Input": json.dumps({"AutomationAssumeRole": [role]})}  # fmt: skip
    assert found["runbook"]["Content"] == runbook(
        APP, Pace(canary=1, batch=2, percent=None), Fleet("1", 600), Hosts(tag=("Role", "web")))
    assert [s["name"] for s in found["runbook"]["Content"]["mainSteps"]] == [
        "FindInstances", "PickCanary", "Canary", "Waves"]
    assert [s["Sid"] for s in found["role"]["policy"]["Statement"]] == [
        "PassTheRunbooksRole", "StartTheRunbook"]
    assert [s["Sid"] for s in found["automation_role"]["policy"]["Statement"]] == [
        "FindTheTaggedInstances", "ReadTheCommands", "SendTheDocument", "ToTheAppsInstances"]
    assert not {name for name, _ in proxy.requests} & WRITES  # printed only
    assert_no_value_anywhere(proxy, printed.output)


def test_events_create_puts_the_runbook_rules_and_roles_in_place_once(proxy, fleet, stand_in):
    """What AWS runs is not here: moto (the stand-in) keeps the Automation document, the rules,
    their targets and the roles as they are written, but runs no automation and delivers no
    EventBridge event, so the canary's and the waves' commands of a change are not sent. This
    proves what is put in place, that a second run writes nothing, and that no value travels."""
    inventory, ids = fleet
    iam = stand_in.client("iam")
    # The stand-in is the worker's: roles of other modules' tests may be in it already.
    others = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    proxy.reset_counts()
    created = fleet_command(proxy, inventory, "events", "--create", data=SECRETS)
    assert created.returncode == 0, created.output
    [runbook_request] = [b for _, b in sent(proxy, "CreateDocument") if b["Name"] == RUNBOOK]
    assert runbook_request["DocumentType"] == "Automation"
    expected = runbook(APP, Pace(canary=1, batch=2, percent=None), Fleet("1", 600),
                       Hosts(instances=tuple(ids)))  # fmt: skip
    ssm = stand_in.client("ssm")
    stored = ssm.get_document(Name=RUNBOOK, DocumentFormat="JSON")
    assert stored["DocumentType"] == "Automation" and json.loads(stored["Content"]) == expected
    canary, rest = expected["mainSteps"]  # no --tag: the inventory's instances, the first first
    assert canary["inputs"]["InstanceIds"] == ids[:1]
    assert rest["inputs"]["Targets"] == [{"Key": "InstanceIds", "Values": ids[1:]}]
    assert (rest["inputs"]["MaxConcurrency"], rest["inputs"]["MaxErrors"]) == ("2", "1")

    events = stand_in.client("events")
    listed = events.list_rules(NamePrefix="ssmenv-example-app")["Rules"]
    assert sorted(r["Name"] for r in listed) == list(RULES)
    for rule in RULES:
        [target] = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert target["Arn"] == f"{DEFINITION}:$DEFAULT"
        assert json.loads(target["Input"]) == {"AutomationAssumeRole": [
            "arn:aws:iam::123456789012:role/ssmenv-rollout-example-app"]}
    starting = iam.get_role_policy(RoleName="ssmenv-events-example-app",
                                   PolicyName="start-rollout")["PolicyDocument"]
    assert starting["Statement"][1]["Resource"] == [f"{DEFINITION}:*"]
    assert iam.list_role_policies(RoleName="ssmenv-events-example-app")["PolicyNames"] == [
        "start-rollout"]
    running = iam.get_role(RoleName=RUNBOOK)["Role"]
    assert running["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ssm.amazonaws.com"}
    sending = iam.get_role_policy(RoleName=RUNBOOK, PolicyName="run-rollout")["PolicyDocument"]
    assert sending["Statement"][-1]["Resource"] == [
        f"arn:aws:ec2:us-east-1:123456789012:instance/{i}" for i in ids]
    assert "ec2:DescribeInstances" not in json.dumps(sending)  # ids given: nothing to find
    for line in ("role ssmenv-rollout-example-app: created, policy run-rollout put",
                 "role ssmenv-events-example-app: created, policy start-rollout put"):
        assert f"fleet: {line}" in created.stdout
    first = proxy.requests[:]

    # Run again: everything read, nothing written, nothing new in place.
    proxy.reset_counts()
    again = fleet_command(proxy, inventory, "events", "--create", data=SECRETS)
    assert again.returncode == 0, again.output
    assert not {name for name, _ in proxy.requests} & WRITES, again.stdout
    assert f"fleet: document {RUNBOOK}: unchanged, version 1" in again.stdout
    for rule in RULES:
        assert f"fleet: rule {rule}: unchanged, target {DEFINITION}:$DEFAULT unchanged" in \
            again.stdout  # fmt: skip
        assert len(events.list_targets_by_rule(Rule=rule)["Targets"]) == 1
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] not in others]
    assert sorted(roles) == ["ssmenv-events-example-app", RUNBOOK]
    assert [d["Name"] for d in ssm.list_documents(Filters=[
        {"Key": "DocumentType", "Values": ["Automation"]}])["DocumentIdentifiers"]] == [RUNBOOK]
    proxy.requests[:0] = first
    assert_no_value_anywhere(proxy, created.output + again.output)


def test_events_create_by_tag_updates_the_runbook_and_takes_the_former_grants_off(
    proxy, fleet, stand_in
):
    """A rule of the earlier ``fleet events`` (its Run Command target ``sync``, its role's
    ``send-sync`` policy granting ``ssm:SendCommand``) is brought to the runbook: the target
    and the grant taken off, the runbook's new version (by tag) the default."""
    inventory, _ = fleet
    events, iam = stand_in.client("events"), stand_in.client("iam")
    former = {"Id": "sync", "Arn": "arn:aws:ssm:us-east-1:123456789012:document/"
              "ssmenv-sync-example-app", "RoleArn": "arn:aws:iam::123456789012:role/"
              "ssmenv-events-example-app", "RunCommandParameters": {"RunCommandTargets": [
                  {"Key": "tag:Role", "Values": ["web"]}]}}  # fmt: skip
    events.put_targets(Rule=RULES[0], Targets=[former])
    iam.put_role_policy(RoleName="ssmenv-events-example-app", PolicyName="send-sync",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "ssm:SendCommand",
                            "Resource": "*"}]}))  # fmt: skip
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "events", "--create", "--tag", "Role=web",
                         data=SECRETS)  # fmt: skip
    assert done.returncode == 0, done.output
    [target] = events.list_targets_by_rule(Rule=RULES[0])["Targets"]
    assert target["Id"] == "rollout"
    assert iam.list_role_policies(RoleName="ssmenv-events-example-app")["PolicyNames"] == [
        "start-rollout"]
    assert "policy send-sync deleted" in done.stdout
    assert f"fleet: document {RUNBOOK}: updated, version 2" in done.stdout
    stored = stand_in.client("ssm").get_document(Name=RUNBOOK, DocumentFormat="JSON")
    assert json.loads(stored["Content"]) == runbook(
        APP, Pace(canary=1, batch=2, percent=None), Fleet("1", 600), Hosts(tag=("Role", "web")))
    sending = iam.get_role_policy(RoleName=RUNBOOK, PolicyName="run-rollout")["PolicyDocument"]
    assert sending["Statement"][-1]["Condition"] == {
        "StringEquals": {"ssm:resourceTag/Role": ["web"]}}
    assert not sent(proxy, "CreateRole")
    assert_no_value_anywhere(proxy, done.output)


def test_publish_first_then_the_rollout(proxy, fleet):
    inventory, _ = fleet
    proxy.reset_counts()
    done = fleet_command(proxy, inventory, "rollout", "--publish", "--poll", "0.1")
    assert done.returncode == 0, done.output
    operations = [name for name, _ in proxy.requests]
    assert "PutParameter" in operations
    assert operations.index("PutParameter") < operations.index("SendCommand")
    assert f"fleet: publish: {APP}: /deploy/fleet-it/app (us-east-1): " in done.stdout
    assert_no_value_anywhere(proxy, done.output)
