"""``ssmenv-agent``: the host's agent, one subcommand each; its exit status is the sync's
(``ssmenv.agent.status``): 0 unchanged, 2 changed, 1 error, 3 refused, 4 rolled back, 5 broken,
75 locked.

    ssmenv-agent sync APP       one sync now: a person, the timer, a fleet rollout (Run Command)
    ssmenv-agent boot APP       at boot: retries while AWS cannot be reached, then the last
                                known good configuration up to its age (the boot unit runs it)
    ssmenv-agent install APP --parameter /deploy/APP/prod [--region R]
                                the host pulls APP from the SSM parameter its publish step wrote
                                (an AMI build, a launch template's user data); its first sync
    ssmenv-agent take APP       the host pulls APP from the description on stdin, which a deploy
                                in pull mode sends; its first sync
    ssmenv-agent status APP     what the host keeps of APP (no AWS call, no change): where its
                                description comes from, its last healthy sync, what its manifest
                                says is deployed (names and versions), its last known good copy's
                                age, how its last timed and boot syncs ended; 0, or 1 when the
                                host does not pull APP

Run as root (it switches the app as a deploy does). Before anything it reads the operator's
environment file, ``/etc/ssmenv/agent/environment`` (``ssmenv.agent.host.ENVIRONMENT``), whoever
started it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ssmenv import aws
from ssmenv.agent import status, units
from ssmenv.agent.host import AgentError, load_environment, private_dir, write
from ssmenv.agent.sync import Said, sync
from ssmenv.config import NAME
from ssmenv.description import parse
from ssmenv.errors import SsmEnvError
from ssmenv.plan import pull
from ssmenv.publication import SETTINGS as PUBLICATION
from ssmenv.settings import Setting

_APP = Setting("APP", NAME, None, "")
_PARAMETER = next(s for s in PUBLICATION if s.key == "pull_description")
COMMANDS = {
    "sync": "one sync now",
    "boot": "the sync at boot",
    "take": "pull APP from the description on stdin (a deploy sends it)",
    "install": "pull APP from an SSM parameter (user data, an AMI)",
    "status": "what the host keeps of APP: no AWS call, no change",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssmenv-agent", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="exit status: 0 unchanged, 2 changed, 1 error, "
                                     "3 refused, 4 rolled back, 5 broken, 75 locked")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    for name, words in COMMANDS.items():
        command = commands.add_parser(name, help=words)
        command.add_argument("app", metavar="APP")
        if name == "install":
            command.add_argument("--parameter", required=True, help="the description's SSM "
                                 "parameter (pull_description)")  # fmt: skip
            command.add_argument("--region", help="its region; default: the instance's (IMDS), "
                                 "else AWS_REGION")  # fmt: skip
    args = parser.parse_args(argv)
    say = Said(args.app)
    try:
        _APP.check(args.app)
        if os.geteuid() != 0:
            raise AgentError("the agent switches the app as a deploy does: run it as root")
        if args.command == "status":
            # Imported here: a sync, every pull_period on every host, does not need it.
            from ssmenv.agent import report

            return report.report(args.app, say)
        load_environment()
        aws.on_instance()
        if args.command == "sync":
            return sync(args.app, say)
        if args.command == "boot":
            return sync(args.app, say, boot=True)
        if args.command == "take":
            return take(args.app, sys.stdin.read(), say)
        return install(args.app, args.parameter, args.region, say)
    except ValueError as e:
        say(f"not an app name: {e}")
        return status.ERROR
    except SsmEnvError as e:
        say(str(e))
        say(status.WORDS[status.ERROR])
        return status.ERROR


def take(app: str, text: str, say: Said) -> int:
    """The host pulls ``app`` from the description ``text`` (a deploy's): kept root-only, the
    agent configured to read it, its units in place; then a sync."""
    try:
        description = parse(text)
        config = description.config()
        if description.app != app or not config.pull.pulled:
            raise AgentError(f"that is no description of {app} in pull mode")
    except SsmEnvError as e:
        say(str(e))
        say(status.WORDS[status.REFUSED])
        return status.REFUSED
    private_dir(pull.CONFIG_DIR)
    write(pull.description_file(app), text.encode())
    units.configure(app, units.Where(file=pull.description_file(app)))
    units.install(config, enable=True)
    return sync(app, say)


def install(app: str, parameter: str, region: str | None, say: Said) -> int:
    """The host pulls ``app`` from the SSM ``parameter`` (in ``region``, by default the
    instance's); then its first sync, as at boot (its units are put in place once it is
    healthy)."""
    try:
        parameter = _PARAMETER.check(parameter)
    except ValueError as e:
        raise AgentError(f"--parameter: {str(e).removeprefix('pull_description: ')}") from None
    region = region or aws.metadata_region() or os.environ.get("AWS_REGION")
    if not region:
        raise AgentError("--region: the instance's region cannot be read from its metadata; "
                         "give it")  # fmt: skip
    aws.REGION.check(region)
    units.configure(app, units.Where(parameter=parameter, region=region))
    return sync(app, say, boot=True)
