"""``python -m ssmenv fleet rollout|status|events``: the command line of fleet rollouts.

The inventory is read as a deploy reads it (pyinfra's ``debug-inventory``; no host is
contacted), with ``SSMENV_INVENTORY=ec2`` unless the environment says otherwise: its hosts are
the running instances its EC2 tags name, each with its instance id (``ssmenv.ec2``), and the
app's settings (``rollout_canary``, ``rollout_batch``, ``fleet_max_errors``, ``fleet_timeout``,
``aws_region``) come from their data.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import apps, aws, publish
from ssmenv.config import AppConfig
from ssmenv.fleet import document, events, rollout
from ssmenv.fleet.document import FleetError
from ssmenv.plan import fleet as plan

HostsOf = Callable[[argparse.Namespace], list[tuple[str, dict]]]
_INSTANCE = re.compile(r"i-[0-9a-f]{8,17}")
#: ``status`` while a host of the rollout is still running its sync.
IN_PROGRESS = 75

ROLLOUT_EXIT = ("0 every host healthy and none changed; 2 every host healthy, some changed; "
                "3 stopped at a host that refused the configuration; 4 stopped at a host that "
                "failed (rolled back, broken, timed out, not reached, error); 1 an error or bad "
                "usage (no target, AWS refused a request)")  # fmt: skip
EPILOG = (
    "rollout: the canary's command, then the rest's (50 instances a command), each polled until "
    "every host is done. status: the last rollout's hosts. events: the EventBridge rules, "
    "runbook and roles of change-driven rollouts, printed (--create: put in place). Exit "
    "status: 0 every host healthy and none changed (events: printed or created); 2 every host "
    "healthy, some changed; 3 stopped at a host that refused the configuration; 4 stopped at a "
    "host that failed (rolled back, broken, timed out, not reached, error); "
    f"{IN_PROGRESS} (status) a host still syncs; 1 an error or bad usage."
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="a pyinfra inventory, e.g. inventories/prod.py (its "
                        "EC2 tags: SSMENV_INVENTORY=ec2 unless set)")  # fmt: skip
    parser.add_argument("--app", help="the app (default: the one app in pull mode)")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="pyinfra's --data, as a deploy would be given it (repeatable)")
    parser.add_argument("--group-data", action="append", default=[], metavar="DIR",
                        help="pyinfra's --group-data (repeatable)")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="fleet", required=True, metavar="FLEET_COMMAND")
    roll = commands.add_parser("rollout", help="roll the app out through Run Command: a canary, "
                               "then the rest", epilog=f"Exit status: {ROLLOUT_EXIT}.")
    _common(roll)
    roll.add_argument("--instance-ids", metavar="I,I", help="these instances (1 to 50) instead "
                      "of the inventory's")  # fmt: skip
    roll.add_argument("--publish", action="store_true", help="publish the app first (python -m "
                      "ssmenv publish), then roll it out")  # fmt: skip
    roll.add_argument("--alarm", action="append", default=[], metavar="NAME", help="a "
                      "CloudWatch alarm that stops each command (repeatable)")  # fmt: skip
    roll.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                      help="between two reads of the invocations (default 5)")  # fmt: skip
    state = commands.add_parser("status", help="how the app's last rollout went, per host",
                                epilog=f"Exit status: as rollout's, or {IN_PROGRESS} while a host "
                                "still syncs.")  # fmt: skip
    _common(state)
    state.add_argument("--command-id", action="append", default=[], metavar="ID",
                       help="these commands instead of the last rollout's (repeatable)")
    hooks = commands.add_parser(
        "events", help="the EventBridge rules, runbook and roles that roll the app out when its "
        "parameters or secrets change",
        description="The EventBridge rules (its parameters changed, its secrets rotated) whose "
        "target is the app's Automation runbook ssmenv-rollout-APP: the sync document on a "
        "canary, then on the rest with rollout_batch as MaxConcurrency and fleet_max_errors as "
        "MaxErrors, aborting at the first step that fails; EventBridge's role (it may start "
        "that runbook and pass its role only) and the runbook's (it may send the sync document "
        "to the app's instances and read the commands back). Printed as JSON; --create puts "
        "them in place, writing only what differs.",
        epilog="Exit status: 0 printed or created, 1 an error.")
    _common(hooks)
    hooks.add_argument("--tag", metavar="KEY=VALUE", help="the instances to target by tag "
                       "(default: the inventory's instance ids, 50 at most)")  # fmt: skip
    hooks.add_argument("--account", help="the AWS account (default: STS GetCallerIdentity)")
    hooks.add_argument("--create", action="store_true", help="put the documents (sync and "
                       "runbook), the roles, the rules and their target in place; run again, "
                       "it writes only what changed")  # fmt: skip


def _say(line: str) -> None:
    print(f"fleet: {line}", flush=True)


def _app(hosts: Sequence[tuple[str, Mapping[str, Any]]], wanted: str | None
         ) -> tuple[AppConfig, list[rollout.Target], list[str]]:  # fmt: skip
    """The app's settings (its first host's), its hosts as targets, and the hosts that are no
    instance (no ``ec2_instance_id``)."""
    found: dict[str, list[tuple[str, Mapping[str, Any], AppConfig]]] = {}
    for name, data, configs in apps.of_hosts(hosts):
        for config in configs:
            if config.pull.pulled:
                found.setdefault(config.name, []).append((name, data, config))
    if wanted is None:
        if len(found) != 1:
            names = ", ".join(sorted(found)) or "none"
            raise FleetError(f"say which app with --app (apps in pull mode: {names})")
        wanted = next(iter(found))
    if wanted not in found:
        raise FleetError(f"no host of the inventory pulls {wanted} (delivery = \"pull\")")
    targets, static = [], []
    for name, data, _ in found[wanted]:
        instance = data.get("ec2_instance_id")
        if isinstance(instance, str) and _INSTANCE.fullmatch(instance):
            targets.append(rollout.Target(instance, name))
        else:
            static.append(name)
    return found[wanted][0][2], targets, static


def _explicit(text: str, known: Sequence[rollout.Target]) -> list[rollout.Target]:
    ids = list(dict.fromkeys(i.strip() for i in text.split(",") if i.strip()))
    wrong = [i for i in ids if not _INSTANCE.fullmatch(i)]
    if wrong:
        raise FleetError(f"--instance-ids: not an instance id: {ascii(wrong[0])[:40]}")
    if not 1 <= len(ids) <= plan.MAX_INSTANCE_IDS:
        raise FleetError(f"--instance-ids: 1 to {plan.MAX_INSTANCE_IDS} ids, not {len(ids)}")
    names = {t.instance: t.name for t in known}
    return [rollout.Target(i, names.get(i, i)) for i in ids]


def _region(config: AppConfig) -> str:
    assert config.publication is not None  # an app in pull mode has one
    return config.publication.region


def rollout_run(args: argparse.Namespace, hosts: list[tuple[str, dict]]) -> int:
    config, targets, static = _app(hosts, args.app)
    if args.instance_ids:
        targets = _explicit(args.instance_ids, targets)
    elif static:
        raise FleetError(f"{', '.join(static[:5])}: no EC2 instance id (an inventory's hosts "
                         "come with theirs from its tags: SSMENV_INVENTORY=ec2); or give "
                         "--instance-ids")  # fmt: skip
    if not targets:
        raise FleetError(f"no instance runs {config.name}")
    region = _region(config)
    if args.publish:
        for found in publish.publications(hosts):
            if found.app == config.name:
                _say(f"publish: {publish.publish(found)}")
    content = plan.document(config.name, config.fleet)
    published = document.ensure(region, plan.document_name(config.name), content)
    _say(published.line(content))
    waves = plan.waves([t.instance for t in targets], config.rollout, config.fleet)
    result = rollout.run(region, published.name, published.version, targets, waves,
                         config.fleet.timeout, _say, poll=args.poll, alarms=args.alarm)
    if result.stopped:
        _say(f"stopped: {result.stopped}")
    status = plan.exit_status(result.outcomes)
    _say(f"{config.name}: {plan.summary(result.outcomes)}")
    return status


def _last_rollout(region: str, name: str) -> list[str]:
    """The command ids of the document's last rollout, by their comment."""
    found: dict[str, list[tuple[str, str]]] = {}
    request: dict[str, Any] = {"Filters": [{"key": "DocumentName", "value": name}]}
    try:
        while True:
            page = aws.call("ssm", region, "ListCommands", **request)
            for command in page.get("Commands", []):
                words = (command.get("Comment") or "").split()
                if command.get("DocumentName") == name and words[:2] == ["ssmenv", "rollout"] \
                        and len(words) == 5:  # fmt: skip
                    found.setdefault(words[2], []).append((words[4], command["CommandId"]))
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as e:
        raise FleetError(f"ListCommands {name}: {aws.reason(e)}") from None
    if not found:
        raise FleetError(f"no rollout of {name} found")
    last = found[max(found)]
    return [command for _, command in sorted(last, key=lambda w: int(w[0].split("/")[0]))]


def status_run(args: argparse.Namespace, hosts: list[tuple[str, dict]]) -> int:
    config, targets, _ = _app(hosts, args.app)
    region = _region(config)
    names = {t.instance: t.name for t in targets}
    commands = args.command_id or _last_rollout(region, plan.document_name(config.name))
    outcomes: dict[str, plan.Outcome] = {}
    for command_id in commands:
        for instance, found in rollout.invocations(region, command_id).items():
            name = names.get(instance, instance)
            outcomes[name] = found.outcome
            word = str(found.outcome) if found.outcome.done else found.status
            _say(f"{name} ({instance}): {word} (command {command_id})")
    if not outcomes:
        raise FleetError("no invocation found")
    _say(f"{config.name}: {plan.summary(outcomes)}")
    if not all(o.done for o in outcomes.values()):
        return IN_PROGRESS
    return plan.exit_status(outcomes)


def events_run(args: argparse.Namespace, hosts: list[tuple[str, dict]]) -> int:
    from ssmenv import iam

    config, targets, _ = _app(hosts, args.app)
    region = _region(config)
    account = iam.account_of(args.account, [region])
    found = events.events(config, account, events.parse_tag(args.tag),
                          [t.instance for t in targets])  # fmt: skip
    print(json.dumps(found.as_json(), indent=2))
    if args.create:
        content = plan.document(config.name, config.fleet)
        _say(document.ensure(region, plan.document_name(config.name), content).line(content))
        book = found.runbook_content
        _say(document.ensure(region, found.runbook, book, kind="Automation").line(book))
        for line in events.create(found):
            _say(line)
    return 0


RUNS = {"rollout": rollout_run, "status": status_run, "events": events_run}


def run(args: argparse.Namespace, hosts_of: HostsOf) -> int:
    return RUNS[args.fleet](args, hosts_of(args))
