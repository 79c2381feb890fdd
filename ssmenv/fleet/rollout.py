"""A fleet rollout: the canary's command, then the rest's, each polled with
``ListCommandInvocations`` until every host said how its sync went, each host's progress printed
as it changes, and the core (``ssmenv.plan.fleet``) deciding after every poll whether to go on.

A stop cancels the running command (``CancelCommand``: Run Command starts it on no more hosts)
and sends no further one; every host it did not reach is "not reached".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws
from ssmenv.fleet.document import FleetError
from ssmenv.names import one_line
from ssmenv.plan.fleet import (
    STATUS_LINE,
    Decision,
    Outcome,
    Wave,
    decide,
    outcome,
)

#: What Run Command keeps of a plugin's output in ``ListCommandInvocations``: past it, the
#: status line may be cut off, and ``GetCommandInvocation`` (24,000 characters) is asked.
_LISTED_OUTPUT = 2500

Say = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One instance and the name the inventory gives it (its id when it gives none)."""

    instance: str
    name: str


@dataclass
class Result:
    """What a rollout found: each host's outcome (by name), the commands it sent, and why it
    stopped (``None``: it did not)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    stopped: str | None = None


def comment(rollout: str, index: int, total: int) -> str:
    """The commands' ``Comment`` (100 characters at most): which rollout and wave; ``status``
    finds a rollout's commands by it."""
    return f"ssmenv rollout {rollout} wave {index}/{total}"


def rollout_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _rounds(wave: Wave) -> int:
    """How many hosts after one another a command of ``wave`` runs at most."""
    size = len(wave.instances)
    if wave.max_concurrency.endswith("%"):
        at_once = max(1, math.ceil(int(wave.max_concurrency[:-1]) * size / 100))
    else:
        at_once = max(1, int(wave.max_concurrency))
    return math.ceil(size / at_once)


def send(region: str, document: str, version: str, wave: Wave, timeout: int, note: str,
         alarms: Sequence[str] = ()) -> str:  # fmt: skip
    """``SendCommand`` of ``wave``; its command id. Its delivery timeout covers the hosts that
    wait for their turn under ``MaxConcurrency``."""
    request: dict[str, Any] = {
        "DocumentName": document, "DocumentVersion": version,
        "InstanceIds": list(wave.instances), "MaxConcurrency": wave.max_concurrency,
        "MaxErrors": wave.max_errors, "Comment": note,
        "TimeoutSeconds": min(2_592_000, max(30, _rounds(wave) * (timeout + 30))),
    }  # fmt: skip
    if alarms:
        request["AlarmConfiguration"] = {"IgnorePollAlarmFailure": False,
                                         "Alarms": [{"Name": a} for a in alarms]}  # fmt: skip
    try:
        return aws.call("ssm", region, "SendCommand", **request)["Command"]["CommandId"]
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"SendCommand {document} to {len(wave.instances)} instances: "
                         f"{aws.reason(e)}") from None  # fmt: skip


@dataclass(frozen=True)
class Invocation:
    """One host's invocation as Run Command lists it."""

    instance: str
    status: str
    code: int | None
    output: str

    @property
    def outcome(self) -> Outcome:
        return outcome(self.status, self.code, self.output)


def invocations(region: str, command_id: str) -> dict[str, Invocation]:
    """Every invocation of ``command_id`` so far, by instance (``ListCommandInvocations``, its
    plugin's output with it: one request per 50 hosts)."""
    found: dict[str, Invocation] = {}
    request: dict[str, Any] = {"CommandId": command_id, "Details": True}
    try:
        while True:
            page = aws.call("ssm", region, "ListCommandInvocations", **request)
            for item in page.get("CommandInvocations", []):
                plugins = item.get("CommandPlugins") or [{}]
                code = plugins[-1].get("ResponseCode")
                output = "\n".join(p.get("Output") or "" for p in plugins)
                found[item["InstanceId"]] = Invocation(item["InstanceId"], item["Status"], code,
                                                       output)  # fmt: skip
            if not page.get("NextToken"):
                return found
            request["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"ListCommandInvocations {command_id}: {aws.reason(e)}") from None


def _complete(region: str, command_id: str, found: Invocation) -> Invocation:
    """``found`` with its whole output when the listed one may have lost its status line."""
    if found.status != "Success" or STATUS_LINE.search(found.output) or \
            len(found.output) < _LISTED_OUTPUT - 100:  # fmt: skip
        return found
    try:
        answer = aws.call("ssm", region, "GetCommandInvocation", CommandId=command_id,
                          InstanceId=found.instance)  # fmt: skip
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"GetCommandInvocation {command_id} {found.instance}: "
                         f"{aws.reason(e)}") from None  # fmt: skip
    return Invocation(found.instance, found.status, found.code,
                      answer.get("StandardOutputContent") or found.output)  # fmt: skip


def cancel(region: str, command_id: str) -> None:
    try:
        aws.call("ssm", region, "CancelCommand", CommandId=command_id)
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"CancelCommand {command_id}: {aws.reason(e)}") from None


def said(output: str) -> list[str]:
    """The agent's lines in a host's output, one line each, without the status line (what the
    agent prints is masked on the host: names and reasons, never a value)."""
    return [one_line(line) for line in output.splitlines()
            if line.strip() and not STATUS_LINE.fullmatch(line)]  # fmt: skip


def wait(region: str, command_id: str, wave: Wave, names: Mapping[str, str], timeout: int,
         say: Say, poll: float) -> tuple[dict[str, Outcome], Decision]:  # fmt: skip
    """Poll ``command_id`` until every host of ``wave`` is done or the core says stop; each host's
    progress said as it changes. Its outcomes by host name and the decision."""
    deadline = time.monotonic() + _rounds(wave) * (timeout + 60) + 60
    shown: dict[str, str] = {}
    outcomes = {names[i]: Outcome.PENDING for i in wave.instances}
    while True:
        for instance, found in invocations(region, command_id).items():
            if instance not in wave.instances:
                continue  # none of this command's (only the stand-in lists others)
            found = _complete(region, command_id, found)
            name, result = names[instance], found.outcome
            outcomes[name] = result
            word = str(result) if result.done else found.status
            if shown.get(name) != word:
                shown[name] = word
                say(f"{name} ({instance}): {word}")
                if result.done and not result.healthy:
                    for line in said(found.output)[-20:]:
                        say(f"  {name}: {line}")
        decision = decide(outcomes, wave)
        if decision.stop or all(o.done for o in outcomes.values()):
            return outcomes, decision
        if time.monotonic() > deadline:
            for name, result in outcomes.items():
                if not result.done:
                    outcomes[name] = Outcome.TIMED_OUT
            return outcomes, decide(outcomes, wave)
        time.sleep(poll)


def run(region: str, document: str, version: str, targets: Sequence[Target],
        waves: Sequence[Wave], timeout: int, say: Say, poll: float = 5.0,
        alarms: Sequence[str] = (), rollout: str | None = None) -> Result:  # fmt: skip
    """Send ``waves`` in order, each only once the one before it is done and healthy enough."""
    names = {t.instance: t.name for t in targets}
    result = Result({t.name: Outcome.PENDING for t in targets})
    rollout = rollout or rollout_id()
    for index, wave in enumerate(waves, 1):
        what = "canary" if wave.canary else f"wave {index}/{len(waves)}"
        command_id = send(region, document, version, wave, timeout,
                          comment(rollout, index, len(waves)), alarms)  # fmt: skip
        result.commands.append(command_id)
        say(f"{what}: {document} v{version} sent to {len(wave.instances)} host"
            f"{'s' if len(wave.instances) != 1 else ''} (command {command_id}, max concurrency "
            f"{wave.max_concurrency}, max errors {wave.max_errors})")  # fmt: skip
        outcomes, decision = wait(region, command_id, wave, names, timeout, say, poll)
        if decision.stop:
            if not all(o.done for o in outcomes.values()):
                cancel(region, command_id)
                outcomes = {n: (o if o.done else Outcome.NOT_REACHED) for n, o in outcomes.items()}
            result.outcomes.update(outcomes)
            result.stopped = decision.why
            break
        result.outcomes.update(outcomes)
    for name, found in result.outcomes.items():
        if not found.done:
            result.outcomes[name] = Outcome.NOT_REACHED
    return result
