"""A fleet rollout through AWS Systems Manager Run Command, decided by pure code: the command
document that runs the agent's sync of one app (``document``), the waves that send it (a canary,
then the rest at the app's pace: ``waves``), the Automation runbook that does the same on a
change (``runbook``), what each host's invocation says
(``outcome``), when the rollout stops (``decide``), its summary and its exit status.

The driver (``ssmenv.fleet``) sends the commands and reads the invocations; end-to-end tests
feed the outcomes of real syncs on real hosts to the same functions. Nothing here talks to AWS.

The document holds no value and takes no parameter: the app's name is in its text, fixed when it
is written from the settings (a name checked as every app name is), so nothing a caller of
``SendCommand`` or an EventBridge rule passes can change what a host runs, and CloudTrail and the
console show only the app's name. The runbook's one parameter is the role it runs as.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ssmenv.pace import Fleet, Pace

#: SendCommand takes at most 50 instance ids per call.
MAX_INSTANCE_IDS = 50
#: The line the document's command prints last: the agent's exit status, whatever Run Command
#: makes of it (it reports a command that exits 0 as Success and keeps no code apart from that).
STATUS_LINE = re.compile(r"^ssmenv-agent status=([0-9]{1,3})$", re.M)

# The agent's exit statuses (ssmenv.agent.status; the core does not import the pull driver).
_AGENT = {0: "unchanged", 2: "changed", 1: "error", 3: "refused", 4: "rolled back", 5: "broken",
          75: "locked"}  # fmt: skip


class Outcome(StrEnum):
    """How one host's sync went, as its Run Command invocation says."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    ROLLED_BACK = "rolled back"
    BROKEN = "broken"
    ERROR = "error"
    LOCKED = "locked"
    TIMED_OUT = "timed out"
    NOT_REACHED = "not reached"
    PENDING = "pending"

    @property
    def healthy(self) -> bool:
        return self in (Outcome.CHANGED, Outcome.UNCHANGED)

    @property
    def done(self) -> bool:
        return self is not Outcome.PENDING


#: The summary's order: the six the issue names first, then the rarer ones.
ORDER = (Outcome.CHANGED, Outcome.UNCHANGED, Outcome.REFUSED, Outcome.ROLLED_BACK,
         Outcome.TIMED_OUT, Outcome.NOT_REACHED, Outcome.BROKEN, Outcome.ERROR, Outcome.LOCKED,
         Outcome.PENDING)  # fmt: skip
#: Outcomes that stop the rollout whatever ``fleet_max_errors`` allows: the new configuration
#: failed its health check on that host.
UNHEALTHY = frozenset({Outcome.ROLLED_BACK, Outcome.BROKEN})

# Run Command's invocation statuses (ListCommandInvocations' Status, GetCommandInvocation's
# StatusDetails) that say the command did not run to its end on the host.
_PENDING = {"Pending", "InProgress", "Delayed", "Cancelling"}
_TIMED_OUT = {"TimedOut", "ExecutionTimedOut", "DeliveryTimedOut"}
_NOT_REACHED = {"Cancelled", "Undeliverable", "Terminated", "InvalidPlatform", "AccessDenied"}


def outcome(status: str, response_code: int | None = None, output: str = "") -> Outcome:
    """What a host's invocation says: its ``status`` (Run Command's), the command's exit
    ``response_code`` and its ``output``, whose last status line is the agent's own exit status
    (an invocation that reports ``Success`` with no such line, as the stand-in does, ran
    nothing that said otherwise: unchanged)."""
    if status in _PENDING:
        return Outcome.PENDING
    if status in _TIMED_OUT:
        return Outcome.TIMED_OUT
    if status in _NOT_REACHED:
        return Outcome.NOT_REACHED
    said = STATUS_LINE.findall(output)
    code = int(said[-1]) if said else response_code
    if status == "Success":
        return Outcome.CHANGED if code == 2 else Outcome.UNCHANGED
    return Outcome(_AGENT.get(code, "error")) if code != 0 else Outcome.ERROR


# --- the command document -------------------------------------------------------------------------


def document_name(app: str) -> str:
    """The app's command document: ``ssmenv-sync-<app>`` (SSM's names: 3 to 128 of letters,
    digits, ``_-.``, not starting with ``aws`` or ``amazon``; an app name is one of those)."""
    return f"ssmenv-sync-{app}"


def command(app: str) -> tuple[str, ...]:
    """The lines the document runs as root (``aws:runShellScript``, ``sh``): the agent's sync
    line, then its status printed and turned into Run Command's: 0 for unchanged and changed,
    the agent's own otherwise (so ``MaxErrors`` counts only hosts that failed)."""
    return (f"ssmenv-agent sync {app}", "status=$?", 'echo "ssmenv-agent status=$status"',
            'case $status in 0 | 2) exit 0 ;; *) exit "$status" ;; esac')  # fmt: skip


def document(app: str, fleet: Fleet) -> dict[str, Any]:
    """The command document of ``app`` (schema 2.2, Linux), from its settings."""
    return {
        "schemaVersion": "2.2",
        "description": f"ssmenv: one sync of {app} by its host's agent (ssmenv-agent sync "
                       f"{app}); exit status 0 unchanged or changed, 1 error, 3 refused, "
                       "4 rolled back, 5 broken, 75 locked",
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "sync",
            "precondition": {"StringEquals": ["platformType", "Linux"]},
            "inputs": {"runCommand": list(command(app)), "timeoutSeconds": str(fleet.timeout)},
        }],
    }  # fmt: skip


def document_text(content: Mapping[str, Any]) -> str:
    """The document as it is written to SSM: canonical JSON (sorted keys), so the same settings
    give the same text, and a changed one a new version."""
    return json.dumps(content, sort_keys=True, indent=2, ensure_ascii=False)


def document_sha256(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(document_text(content).encode()).hexdigest()


def same_document(published: str | None, content: Mapping[str, Any]) -> bool:
    """Whether the document SSM has (its text, ``None``: none) is ``content``, whatever its
    whitespace and key order."""
    if published is None:
        return False
    try:
        return json.loads(published) == json.loads(document_text(content))
    except ValueError:
        return False


# --- the runbook of change-driven rollouts ---------------------------------------------------


def runbook_name(app: str) -> str:
    """The app's Automation runbook: ``ssmenv-rollout-<app>``, beside ``ssmenv-sync-<app>``."""
    return f"ssmenv-rollout-{app}"


@dataclass(frozen=True)
class Hosts:
    """The instances a change-driven rollout reaches: those tagged ``tag`` (key, value), or
    ``instances`` (1 to 50 ids, in inventory order)."""

    tag: tuple[str, str] | None = None
    instances: tuple[str, ...] = ()


#: The canary's pick (``aws:executeScript``): the lowest running instance ids, the same ones
#: every run while the fleet stays the same; none is a failure, so the rollout stops there.
_PICK = """def pick(events, context):
    ids = sorted(events["InstanceIds"] or [])
    if not ids:
        raise Exception("no running instance has the rollout's tag")
    return {"InstanceIds": ids[: events["Count"]]}
"""


def runbook(app: str, pace: Pace, fleet: Fleet, hosts: Hosts) -> dict[str, Any]:
    """The Automation runbook (schema 0.3) that rolls ``app`` out as ``fleet rollout`` does, as
    closely as Automation allows: the command document on the canary's ``rollout_canary``
    instances first (50 at most, no error allowed), then on the rest at ``rollout_batch`` as
    ``MaxConcurrency`` and ``fleet_max_errors`` as ``MaxErrors``; a step that fails aborts the
    rest. By tag, the canary is the lowest running instance ids of the tag (found with
    ``DescribeInstances``) and the waves are the whole tag (the canary's hosts sync again: with
    nothing new, unchanged); by ids, the first ones, then the others. The runbook's one
    parameter is the role it runs as; nothing passed to it changes what a host runs."""
    sync = document_name(app)
    steps: list[dict[str, Any]] = []
    if hosts.tag is not None:
        key, value = hosts.tag
        target = {"Key": f"tag:{key}", "Values": [value]}
        count = min(pace.canary, MAX_INSTANCE_IDS)
        canary: list[str] | str = "{{ PickCanary.InstanceIds }}"
        rest = True
        if count:
            steps += [{
                "name": "FindInstances", "action": "aws:executeAwsApi", "onFailure": "Abort",
                "inputs": {"Service": "ec2", "Api": "DescribeInstances", "MaxResults": 1000,
                           "Filters": [{"Name": f"tag:{key}", "Values": [value]},
                                       {"Name": "instance-state-name", "Values": ["running"]}]},
                "outputs": [{"Name": "InstanceIds", "Type": "StringList",
                             "Selector": "$.Reservations..Instances..InstanceId"}],
            }, {
                "name": "PickCanary", "action": "aws:executeScript", "onFailure": "Abort",
                "inputs": {"Runtime": "python3.11", "Handler": "pick", "Script": _PICK,
                           "InputPayload": {"InstanceIds": "{{ FindInstances.InstanceIds }}",
                                            "Count": count}},
                "outputs": [{"Name": "InstanceIds", "Selector": "$.Payload.InstanceIds",
                             "Type": "StringList"}],
            }]  # fmt: skip
    else:
        ordered = list(dict.fromkeys(hosts.instances))
        count = min(pace.canary, len(ordered))
        canary = ordered[:count]
        target = {"Key": "InstanceIds", "Values": ordered[count:]}
        rest = len(ordered) > count
    if count:
        steps.append({"name": "Canary", "action": "aws:runCommand", "onFailure": "Abort",
                      "inputs": {"DocumentName": sync, "InstanceIds": canary,
                                 "MaxConcurrency": str(count), "MaxErrors": "0"}})
    if rest:
        steps.append({"name": "Waves", "action": "aws:runCommand", "onFailure": "Abort",
                      "inputs": {"DocumentName": sync, "Targets": [target],
                                 "MaxConcurrency": concurrency(pace),
                                 "MaxErrors": fleet.max_errors}})  # fmt: skip
    steps[-1]["isEnd"] = True
    role = runbook_name(app)
    return {
        "schemaVersion": "0.3",
        "description": f"ssmenv: roll {app} out when what it reads changes: {sync} on a canary, "
                       "then on the rest in waves, stopping at the first step that fails",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {"AutomationAssumeRole": {
            "type": "String", "description": f"The role the rollout runs as ({role})"}},
        "mainSteps": steps,
    }  # fmt: skip


# --- the waves --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wave:
    """One ``SendCommand``: its instances (50 at most), ``MaxConcurrency`` and ``MaxErrors`` as
    Run Command takes them, and whether it is the canary."""

    instances: tuple[str, ...]
    max_concurrency: str
    max_errors: str
    canary: bool = False


def concurrency(pace: Pace) -> str:
    """``MaxConcurrency`` from the rollout's pace after the canary: ``rollout_batch``."""
    return str(pace.batch) if pace.batch is not None else f"{pace.percent or 100}%"


def waves(instances: Sequence[str], pace: Pace, fleet: Fleet) -> list[Wave]:
    """The commands of a rollout to ``instances`` (in order): the canary's first
    (``rollout_canary`` instances, all at once, no error allowed), then the rest at
    ``rollout_batch``'s concurrency with ``fleet_max_errors``, 50 instances a command."""
    ordered = list(dict.fromkeys(instances))
    found = []
    canary = ordered[: pace.canary]
    if canary:
        for start in range(0, len(canary), MAX_INSTANCE_IDS):
            chunk = tuple(canary[start : start + MAX_INSTANCE_IDS])
            found.append(Wave(chunk, str(len(chunk)), "0", canary=True))
    rest = ordered[len(canary) :]
    for start in range(0, len(rest), MAX_INSTANCE_IDS):
        chunk = tuple(rest[start : start + MAX_INSTANCE_IDS])
        found.append(Wave(chunk, concurrency(pace), fleet.max_errors))
    return found


# --- deciding and saying ----------------------------------------------------------------------


def allowed_errors(max_errors: str, hosts: int) -> int:
    """How many of ``hosts`` may fail under ``max_errors`` (a number, or a percentage rounded
    down, as Run Command counts it)."""
    if max_errors.endswith("%"):
        return int(max_errors[:-1]) * hosts // 100
    return int(max_errors)


@dataclass(frozen=True)
class Decision:
    """Whether the rollout goes on, and if not why (one line naming the host)."""

    stop: bool
    why: str = ""


def decide(outcomes: Mapping[str, Outcome], wave: Wave) -> Decision:
    """After (or while) ``wave`` runs, with ``outcomes`` by host name so far: stop at the first
    host that rolled back or broke, or once more hosts failed than the wave allows (none in the
    canary)."""
    names = [name for name in outcomes if outcomes[name] in UNHEALTHY]
    if names:
        return Decision(True, f"{names[0]}: {outcomes[names[0]]}: the rollout stops there")
    failed = [name for name, found in outcomes.items() if found.done and not found.healthy]
    allowed = 0 if wave.canary else allowed_errors(wave.max_errors, len(wave.instances))
    if len(failed) > allowed:
        what = "the canary" if wave.canary else f"{len(failed)} hosts (max errors {allowed})"
        return Decision(True, f"{failed[0]}: {outcomes[failed[0]]}: {what} failed: the rollout "
                              "stops there")  # fmt: skip
    return Decision(False)


def summary(outcomes: Mapping[str, Outcome]) -> str:
    """``2 changed, 1 unchanged, 0 refused, 1 rolled back, 0 timed out, 3 not reached`` (the six
    always, the others when some host has them)."""
    counts = {o: sum(found is o for found in outcomes.values()) for o in ORDER}
    return ", ".join(f"{counts[o]} {o}" for o in ORDER if o in ORDER[:6] or counts[o])


#: ``fleet rollout``'s exit statuses, as the agent's: a pipeline reads them the same way.
UNCHANGED, ERROR, CHANGED, REFUSED, FAILED = 0, 1, 2, 3, 4


def exit_status(outcomes: Mapping[str, Outcome]) -> int:
    """0 every host healthy and none changed; 2 every host healthy, some changed; 3 the rollout
    stopped at a host that refused the configuration (nothing changed there); 4 it stopped at a
    host that failed otherwise (rolled back, broken, timed out, not reached, error)."""
    found = set(outcomes.values())
    if all(o.healthy for o in found):
        return CHANGED if Outcome.CHANGED in found else UNCHANGED
    failed = {o for o in found if not o.healthy and o is not Outcome.NOT_REACHED}
    return REFUSED if failed == {Outcome.REFUSED} else FAILED
