"""``python -m ssmenv``: the toolkit's commands, one subcommand each.

    python -m ssmenv import .env --ssm-path /my-app/prod --dry-run
    python -m ssmenv scan examples/app
    python -m ssmenv parity staging prod
    python -m ssmenv plan inventories/prod.py
    python -m ssmenv drift inventories/prod.py
    python -m ssmenv schedule inventories/control.py
    python -m ssmenv iam inventories/prod.py
    python -m ssmenv publish inventories/prod.py
    python -m ssmenv db rotate inventories/prod.py --parameter /my-app/prod/DATABASE_URL \\
        --admin-parameter /my-app/prod/DATABASE_ADMIN_URL
    python -m ssmenv db rotate inventories/prod.py --secret my-app/prod/db \\
        --admin-secret my-app/admin/db
    python -m ssmenv fleet rollout inventories/prod.py

Each command is one row of ``COMMANDS``: its name, one line of help, a function adding its
arguments to its subparser, a function running it that returns the exit status, the status of an
error, and what its ``--help`` adds. A new command (``parity``, ``plan``, ``drift``...) is two
small functions and one more row; ``main`` and the error handling are shared.

``plan``, ``drift`` and ``schedule`` run the real pyinfra CLI on a deploy file of the checkout
(``rotate.py --dry``, ``drift.py``, ``schedule.py``), in the checkout, as a user would by hand; a
relative inventory path is the user's, from their working directory.

Exit status, for automation:

- ``publish``: 0 published, or nothing to change, or the user data printed; 1 an error or bad
  usage (a setting that is not valid, no app in pull mode, AWS refused a write).
- ``fleet rollout``: 0 every host healthy and none changed, 2 every host healthy and some
  changed, 3 stopped at a host that refused, 4 stopped at a host that failed (rolled back,
  broken, timed out, not reached); ``fleet status`` the same of the last rollout, or 75 while a
  host still syncs; ``fleet events`` 0 printed or created; 1 an error or bad usage.
- ``iam``: 0 the policies are printed; 1 an error or bad usage (a setting that is not valid, an
  inventory that does not exist or has no host, an account that cannot be found).
- ``drift``, ``plan``, ``parity``, as ``diff`` and ``terraform plan -detailed-exitcode``: 0
  nothing differs; 2 something does (a host whose deployed values are not the current ones, a
  host a rotation would change, a name in one environment only); 1 an error or bad usage (a host
  that failed or could not be reached, an invalid setting, a source that could not be read, no
  host at all), so that a cron job or CI step can alert on 2 and page on 1.
- ``db rotate``: 0 rotated (or a dry run, or aborted); 1 an error or bad usage (a failed step,
  recorded: a rerun resumes).
- ``schedule``: 0 the rotation timer is in place on every host; 1 an error or bad usage (as above:
  pyinfra exits 0 on an inventory that does not exist, so a typo would look like success).
- ``import``, ``scan``: 0 done (nothing found); 1 refused (or something found, so CI gates on it,
  as detect-secrets and gitleaks do); 2 bad usage or an error.
- No command or an unknown one: 2, argparse's usage status.

Errors are one line naming files, variables, parameters or secrets, never a value; ``--debug``
adds the traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ssmenv import aws, dbrotate, dotenv_import, iam, parity, policy, publication, publish, report
from ssmenv.config import REPO_ROOT
from ssmenv.errors import SsmEnvError
from ssmenv.fleet import commands as fleet

PROG = "python -m ssmenv"
DESCRIPTION = "Configuration from AWS SSM into systemd env files: the toolkit's commands."


@dataclass(frozen=True)
class Command:
    """One subcommand: ``run(args)`` returns the process's exit status; ``error`` is the status
    of an error it raises (``SsmEnvError``) or of bad usage."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    error: int = 2
    epilog: str | None = None


class UsageError(Exception):
    """Bad usage, raised by the parsers instead of exiting 2, so each command chooses its status."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser
        self.message = message


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser (and, through ``parser_class``, its subparsers), raising ``UsageError``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def _names(text: str) -> tuple[str, ...]:
    """``A,B, C`` -> ("A", "B", "C")."""
    return tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


# --- import ---------------------------------------------------------------------------------------


def import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the .env file, read as python-dotenv reads it")
    parser.add_argument(
        "--ssm-path",
        required=True,
        help="the app's SSM path (its ssm_path setting); NAME goes to <path>/NAME",
    )
    parser.add_argument(
        "--secret-id",
        help="Secrets Manager secret that receives the --secret-names as one JSON object",
    )
    parser.add_argument(
        "--secret-names",
        type=_names,
        default=(),
        metavar="A,B",
        help="variables to put in --secret-id instead of SSM",
    )
    parser.add_argument(
        "--exclude", type=_names, default=(), metavar="A,B", help="variables to leave out"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list names, targets and which exist already; write nothing",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing values that differ"
    )
    parser.add_argument(
        "--kms-key-id", help="KMS key for SecureStrings and the secret (default: AWS managed)"
    )
    parser.add_argument(
        "--tier",
        choices=list(dotenv_import.TIER_LIMITS),
        default="Standard",
        help="SSM parameter tier (Standard holds 4 KB values, Advanced 8 KB)",
    )
    parser.add_argument("--region", help="AWS region (default: the standard chain)")
    parser.add_argument(
        "--systemd-version",
        type=int,
        help="oldest systemd on the hosts, for its stricter value rules (default: 248 or later)",
    )


def import_run(args: argparse.Namespace) -> int:
    if bool(args.secret_names) != bool(args.secret_id):
        raise SsmEnvError("--secret-id and --secret-names go together")
    # python-dotenv logs unparsable lines itself; they are reported below, with the refusal.
    logging.getLogger("dotenv.main").setLevel(logging.ERROR)
    destination = dotenv_import.Destination(
        ssm_path=args.ssm_path,
        secret_id=args.secret_id,
        secret_names=args.secret_names,
        exclude=args.exclude,
        tier=args.tier,
        kms_key_id=args.kms_key_id,
    )
    source = dotenv_import.read(args.file)
    for note in dotenv_import.warnings(source, destination):
        print(f"note: {note}")
    problems = dotenv_import.problems(source, destination, args.systemd_version)
    if problems:
        print(f"refused: {args.file} cannot be imported; nothing written:")
        print("\n".join(f"  {p}" for p in problems))
        return 1

    if not dotenv_import.selected(source, destination):
        print(f"{args.file}: no variable to import")
        return 0
    plan = dotenv_import.plan(source, destination, region=args.region)
    where = destination.ssm_path
    if destination.secret_names:
        where += f" and secret {destination.secret_id}"
    conflicts = [s.name for s in plan.conflicts()]
    if args.dry_run or (conflicts and not args.overwrite):
        dry = " (dry run: nothing written)" if args.dry_run else ""
        print(f"{args.file} -> {where}{dry}")
        print("\n".join(dotenv_import.describe(plan, args.overwrite, done=False)))
        if conflicts and not args.overwrite:
            print(
                f"refused: exist with another value: {', '.join(conflicts)}; nothing written "
                "(--overwrite replaces them)"
            )
            return 1
        return 0

    written = dotenv_import.apply(plan, overwrite=args.overwrite, region=args.region)
    print(f"{args.file} -> {where}")
    print("\n".join(dotenv_import.describe(plan, args.overwrite, done=True)))
    same = sum(s.state is dotenv_import.State.SAME for s in plan.steps)
    created = sum(s.state is dotenv_import.State.NEW for s in written)
    print(f"{created} created, {len(conflicts)} replaced, {same} unchanged")
    if conflicts:
        print(f"changed: {', '.join(conflicts)}")
    return 0


# --- scan -----------------------------------------------------------------------------------------


def scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path("."),
        help="the app's source tree, inside a git work tree (default: .)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="detect-secrets baseline of accepted findings, read for its results only, never "
        "its settings (default: PATH/.secrets.baseline)",
    )
    parser.add_argument(
        "--no-tree-baseline",
        dest="tree_baseline",
        action="store_false",
        help="accept no finding on the scanned tree's word: PATH/.secrets.baseline is not read, "
        "a --baseline inside the work tree is refused, and 'pragma: allowlist secret' comments "
        "are ignored (CI on changes it does not trust)",
    )
    parser.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="write every current secret finding to FILE as accepted (then audit it)",
    )


def scan_run(args: argparse.Namespace) -> int:
    from ssmenv import scan  # detect-secrets: only this command needs it

    report = scan.scan(
        args.path, args.baseline, args.write_baseline, tree_baseline=args.tree_baseline
    )
    for note in report.notes:
        print(note, file=sys.stderr)
    for finding in report.findings:
        print(finding)
    accepted = f", {report.accepted} accepted by {report.baseline}" if report.baseline else ""
    if args.write_baseline:
        accepted = f", {report.accepted} written to {args.write_baseline} as accepted"
    found = len(report.findings)
    print(f"{found} finding{'' if found == 1 else 's'} in {report.files_scanned} files{accepted}")
    return 1 if report.findings else 0


def _pyinfra_arguments(example: str) -> Callable[[argparse.ArgumentParser], None]:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("inventory", help=f"a pyinfra inventory, e.g. {example}")
        parser.add_argument("pyinfra_args", nargs=argparse.REMAINDER,
                            help="more pyinfra arguments (--limit, --data...)")  # fmt: skip

    return add_arguments


def _is_path(inventory: str) -> bool:
    """Whether pyinfra would read ``inventory`` as a file: not a host list (``a,b``), a connector
    (``@local``), a host name or a ``module.attribute``."""
    if Path(inventory).exists():
        return True
    return not ("," in inventory or "@" in inventory) and (
        inventory.endswith(".py") or os.sep in inventory
    )


def _inventory(inventory: str, checkout: Path) -> str:
    """``inventory`` as pyinfra, run in ``checkout``, must be given it to read the file the user
    means, from the user's working directory: relative to the checkout when inside it (pyinfra's
    output reads as typed there), else absolute. Anything else goes as it is."""
    if not _is_path(inventory):
        return inventory
    path = Path(os.path.abspath(inventory))
    return os.path.relpath(path, checkout) if path.is_relative_to(checkout) else str(path)


def _checkout(deploy_file: str) -> Path:
    """The checkout holding ``deploy_file`` (and the tasks, group data and app it deploys): the
    one this package runs from, or, for a package installed with pip, the working directory."""
    if not (REPO_ROOT / deploy_file).is_file():
        raise SsmEnvError(
            f"no {deploy_file} in {REPO_ROOT}: run this in a checkout of the deploy repository"
        )
    return REPO_ROOT


def _pyinfra_reports(
    args: argparse.Namespace, deploy_file: str, *extra: str
) -> list[report.HostReport]:
    """Run the real pyinfra CLI on ``deploy_file`` in the checkout and return the hosts' reports
    (``ssmenv.report``); a failed run, or one where no host reported, is an error."""
    checkout = _checkout(deploy_file)
    pyinfra = Path(sys.executable).with_name("pyinfra")
    inventory = _inventory(args.inventory, checkout)
    command = [str(pyinfra), inventory, deploy_file, *extra, *args.pyinfra_args]
    status, reports = report.run(command, cwd=checkout)
    if status != 0:
        # A host that failed or could not be reached, an invalid setting: its report is
        # missing or cannot be trusted, and pyinfra has said why above.
        raise SsmEnvError(f"pyinfra exited with status {status}")
    if not reports:
        # pyinfra runs on no host, and succeeds, for an inventory path that does not exist.
        if _is_path(args.inventory) and not Path(args.inventory).exists():
            raise SsmEnvError(f"no host reported: no inventory file {args.inventory}")
        raise SsmEnvError(f"no host reported: none in {args.inventory}, or none left by --limit")
    return reports


def _run_pyinfra(deploy_file: str, *extra: str) -> Callable[[argparse.Namespace], int]:
    """A command that runs the real pyinfra CLI on one of the checkout's deploy files, and exits
    as ``diff`` does from the hosts' reports (``ssmenv.report``): pyinfra's own status says only
    whether every host could be read, not whether any differs."""

    def run(args: argparse.Namespace) -> int:
        status, line = report.summary(args.command, _pyinfra_reports(args, deploy_file, *extra))
        print(line)
        return status

    return run


def schedule_run(args: argparse.Namespace) -> int:
    # -y: pyinfra applies without asking, as the timer's own runs do.
    reports = _pyinfra_reports(args, "schedule.py", "-y")
    hosts = ", ".join(r.host for r in reports)
    print(f"schedule: the rotation timer is in place on {len(reports)} hosts: {hosts}")
    return report.CLEAN


def iam_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="a pyinfra inventory, e.g. inventories/prod.py")
    parser.add_argument("--account", help="the AWS account of the parameters, secrets and keys "
                        "named by name (default: the caller's, from STS GetCallerIdentity)")
    parser.add_argument("--json", action="store_true", help="one JSON object: account, control, "
                        "hosts (apps, hosts, policy each), publish, notes")  # fmt: skip
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="pyinfra's --data, as a deploy would be given it (repeatable)")
    parser.add_argument("--group-data", action="append", default=[], metavar="DIR",
                        help="pyinfra's --group-data (repeatable)")  # fmt: skip


def iam_run(args: argparse.Namespace) -> int:
    hosts = _inventory_hosts(args)
    regions = [str(data["aws_region"]) for _, data in hosts if data.get("aws_region")]
    found = iam.policies(hosts, iam.account_of(args.account, regions))
    for note in [*found.notes, *iam.too_large(found)]:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(found.as_json(), indent=2) if args.json else iam.render(found, args.inventory))
    return report.CLEAN


def _inventory_hosts(args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Each host of the inventory and its data, read as a deploy reads them (pyinfra's
    ``debug-inventory`` in the checkout, ``--data`` and ``--group-data`` passed on); no host is
    contacted."""
    checkout = _checkout("deploy.py")
    pyinfra = Path(sys.executable).with_name("pyinfra")
    command = [str(pyinfra), _inventory(args.inventory, checkout), "debug-inventory", "--json",
               *(f"--data={d}" for d in args.data),
               *(f"--group-data={os.path.abspath(d)}" for d in args.group_data)]  # fmt: skip
    hosts = iam.inventory_hosts(command, checkout)
    if not hosts:
        if _is_path(args.inventory) and not Path(args.inventory).exists():
            raise SsmEnvError(f"no host: no inventory file {args.inventory}")
        raise SsmEnvError(f"no host in {args.inventory}")
    return hosts


def publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", help="a pyinfra inventory, e.g. inventories/prod.py")
    parser.add_argument("--user-data", metavar="APP", help="print instead the user data that "
                        "makes an instance pull APP (with its instance role only)")
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE",
                        help="pyinfra's --data, as a deploy would be given it (repeatable)")
    parser.add_argument("--group-data", action="append", default=[], metavar="DIR",
                        help="pyinfra's --group-data (repeatable)")  # fmt: skip


def publish_run(args: argparse.Namespace) -> int:
    hosts = _inventory_hosts(args)
    if args.user_data:
        print(publish.user_data_of(hosts, args.user_data), end="")
        return report.CLEAN
    found = publish.publications(hosts)
    if not found:
        raise SsmEnvError(f"no app of {args.inventory} is in pull mode (delivery = \"pull\")")
    for each in found:
        print(f"publish: {publish.publish(each)}")
    return report.CLEAN


def db_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("rotate",), help="rotate: a database password, the "
                        "alternating-users way (docs/database.md)")
    parser.add_argument("inventory", help="the app's hosts, e.g. inventories/prod.py: the "
                        "rollout deploys them")
    app = parser.add_mutually_exclusive_group(required=True)
    app.add_argument("--parameter", metavar="NAME", help="the SSM SecureString holding the "
                     "app's database URL (its DATABASE_URL)")
    app.add_argument("--secret", metavar="NAME", help="the Secrets Manager secret holding the "
                     "app's login: JSON with username, password, host, port, dbname (as AWS's "
                     "RDS rotation templates write it) or a whole URL as its string")
    app.add_argument("--password-parameter", metavar="NAME", help="refused: alternating users "
                     "change the user name too (docs/database.md)")
    admin = parser.add_mutually_exclusive_group(required=True)
    admin.add_argument("--admin-parameter", metavar="NAME", help="the SSM SecureString "
                       "holding the URL of a login that may set both roles' passwords "
                       "(PostgreSQL: CREATEROLE)")
    admin.add_argument("--admin-secret", metavar="NAME", help="or the Secrets Manager secret "
                       "holding it (JSON or URL, as --secret)")
    parser.add_argument("--state-root", default=dbrotate.STATE_ROOT, metavar="PATH",
                        help="where the rotation keeps its state and pending value in SSM "
                        f"(default {dbrotate.STATE_ROOT}; then the parameter's name, or "
                        "/secrets/ and the secret's)")
    parser.add_argument("--region", help="the parameters' AWS region (default: boto3's)")
    parser.add_argument("--rollout-time", default="10min", type=_time_span, metavar="SPAN",
                        help="how long a rollout of the app takes (default 10min): with the "
                        "hosts' sync period, compared with the rotation interval of a secret "
                        "that Secrets Manager rotates by itself, to warn when hosts are slower")
    parser.add_argument("--pull-inventory", action="append", default=[], metavar="INVENTORY",
                        help="hosts that pull the app by themselves (delivery = \"pull\"), which "
                        "the rollout does not deploy: before the previous role is retired, the "
                        "rotation waits up to their pull_period and pull_jitter plus "
                        "--rollout-time until drift finds none of them behind (repeatable)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="say what each remaining step "
                      "would do; change nothing")
    what.add_argument("--abort", action="store_true", help="go back from a rotation under way "
                      "(before it retired the previous role): the previous credentials again")
    what.add_argument("--policy", action="store_true", help="print the IAM policy (JSON) the "
                      "rotation itself needs, besides what its rollout and drift check need "
                      "(python -m ssmenv iam's control document); read or change nothing")
    parser.add_argument("--account", help="with --policy: the AWS account of the parameters, "
                        "secrets and keys (default: the caller's, from STS GetCallerIdentity)")
    parser.add_argument("pyinfra_args", nargs=argparse.REMAINDER,
                        help="more pyinfra arguments for the rollout (--limit, --data...)")


def _time_span(text: str) -> int:
    try:
        return publication.seconds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _sync_period(args: argparse.Namespace, inventories: Sequence[str] | None = None) -> int:
    """The longest time a host of the ``inventories`` (default: the rotation's and its
    ``--pull-inventory``) takes to sync on its own: for an app in pull mode its agent's period
    plus jitter (``pull_period``, ``pull_jitter``); 0 for pushed hosts,
    which change only when deployed. The inventory read as a deploy reads it, the rollout's
    ``--data`` and ``--group-data`` included; no host is contacted."""
    passed = argparse.Namespace(data=[], group_data=[])
    words = iter(args.pyinfra_args)
    for word in words:
        for option, into in (("--data", passed.data), ("--group-data", passed.group_data)):
            if word == option:
                into.append(next(words, ""))
            elif word.startswith(option + "="):
                into.append(word[len(option) + 1:])
    if inventories is None:
        inventories = [args.inventory, *getattr(args, "pull_inventory", [])]
    longest = 0
    for inventory in inventories:
        passed.inventory = inventory
        longest = max(longest, *_pull_periods(_inventory_hosts(passed)))
    return longest


def _pull_periods(hosts: Sequence[tuple[str, dict]]) -> list[int]:
    """Each host's sync period: pull_period plus pull_jitter in pull mode, else 0."""
    longest = [0]
    for _, data in hosts:
        if data.get("delivery") == "pull":
            period = publication.seconds(str(data.get("pull_period") or "15min"))
            jitter = publication.seconds(str(data.get("pull_jitter") or "5min"))
            longest.append(period + jitter)
    return longest


ONE_WRITE_ONLY = (
    "--password-parameter: alternating users change the user name with the password, and two "
    "parameters cannot change in one write (a host reading between them would get one role's "
    "name with the other's password): keep the whole URL in one SecureString (--parameter) or "
    "the login in a secret (--secret)")


def db_run(args: argparse.Namespace) -> int:
    if args.password_parameter:
        raise SsmEnvError(ONE_WRITE_ONLY)
    places = dbrotate.Places(args.parameter or "", args.admin_parameter or "", args.state_root,
                             args.secret or "", args.admin_secret or "")
    if args.policy:
        places.check()
        # The region boto3 would use (none: the toolkit's default), as the rotation's calls.
        region = args.region or aws.configured_region() or aws.REGION.default
        statements = dbrotate.permissions(places, region, iam.account_of(args.account, [region]))
        print(json.dumps(policy.document(statements), indent=2))
        return report.CLEAN
    if args.account:
        raise SsmEnvError("--account: only with --policy")
    checkout = _checkout("deploy.py")
    pyinfra = Path(sys.executable).with_name("pyinfra")
    inventory = _inventory(args.inventory, checkout)

    def rollout() -> int:
        # The usual deploy, its output the user's: canary first, health-gated, rolled back.
        command = [str(pyinfra), "-y", inventory, "deploy.py", *args.pyinfra_args]
        sys.stdout.flush()
        return subprocess.run(command, cwd=checkout).returncode

    def behind() -> int:
        # The rollout's hosts, then those that pull by themselves (--pull-inventory).
        late = set()
        for each in [args.inventory, *args.pull_inventory]:
            reports = _pyinfra_reports(argparse.Namespace(**{**vars(args), "inventory": each}),
                                       "drift.py", "-y")  # fmt: skip
            late |= {r.host for r in reports if r.differs}
        return len(late)

    def wait_for_sync() -> int:
        if not args.pull_inventory:
            return 0
        return _sync_period(args, args.pull_inventory) + args.rollout_time

    if args.abort:
        return dbrotate.abort(places, args.region, rollout)
    return dbrotate.rotate(places, args.region, rollout, behind, dry_run=args.dry_run,
                           sync_period=lambda: _sync_period(args),
                           rollout_time=args.rollout_time,
                           wait_for_sync=wait_for_sync)  # fmt: skip


def fleet_run(args: argparse.Namespace) -> int:
    # The inventory's hosts are its EC2 instances, with their ids, unless the user said.
    os.environ.setdefault("SSMENV_INVENTORY", "ec2")
    return fleet.run(args, _inventory_hosts)


def _runs(deploy_file: str, statuses: str) -> str:
    return (
        f"Runs `pyinfra INVENTORY {deploy_file} [PYINFRA_ARGS]` in the checkout. Exit status: "
        f"{statuses}; 1 an error (a host that failed or could not be reached, an invalid "
        "setting, an inventory that does not exist or has no host)."
    )


COMMANDS: tuple[Command, ...] = (
    Command("import", "put a .env file's variables into SSM (or a JSON secret)",
            import_arguments, import_run, 2,
            "Exit status: 0 imported (or nothing to do, or a dry run), 1 refused, nothing "
            "written, 2 an error or bad usage."),
    Command("scan", "find hardcoded secrets and .env files that git keeps",
            scan_arguments, scan_run, 2,
            "Exit status: 0 nothing found, 1 something found, 2 an error or bad usage."),
    Command("parity", "names present in one environment's configuration and not the other's",
            parity.add_arguments, parity.run, report.ERROR,
            "Exit status: 0 the same names, 2 a name in one only, 1 an error."),
    Command("plan", "per host, the variables a rotation would change and the restarts, no values",
            # -y: no prompt when a host fails to connect (from cron, stdin is not a terminal).
            _pyinfra_arguments("inventories/prod.py"), _run_pyinfra("rotate.py", "--dry", "-y"),
            report.ERROR, _runs("rotate.py --dry -y", "0 no host would change, 2 some would")),
    Command("drift", "per host, the variables whose deployed value is not the current one",
            _pyinfra_arguments("inventories/prod.py"), _run_pyinfra("drift.py", "-y"),
            report.ERROR, _runs("drift.py -y", "0 no host differs, 2 some do")),
    Command("iam", "the least-privilege IAM policies of the push deploy, each host role's pull "
            "and the publish, from the settings", iam_arguments, iam_run, report.ERROR,
            "Reads the inventory as a deploy does (pyinfra's debug-inventory in the checkout; "
            "no host is contacted). Exit status: 0 printed; 1 an error or bad usage (a setting "
            "that is not valid, an inventory that does not exist or has no host, an account "
            "that cannot be found)."),
    Command("publish", "publish the apps in pull mode for their hosts to pull: releases and the "
            "agent to S3, descriptions to SSM", publish_arguments, publish_run, report.ERROR,
            "Reads the inventory as a deploy does (pyinfra's debug-inventory in the checkout; no "
            "host is contacted), and writes only what changed. Exit status: 0 published (or "
            "nothing to change, or the user data printed); 1 an error or bad usage (a setting "
            "that is not valid, no app in pull mode, AWS refused a write)."),
    Command("db", "rotate a database password with no failed request: the other of two "
            "login roles gets a new one, the hosts get it, then the first role's is retired",
            db_arguments, db_run, report.ERROR,
            "Every step is recorded in SSM (--state-root) before the next: a rerun resumes. "
            "Exit status: 0 rotated (or a dry run, or aborted); 1 an error or bad usage (a "
            "failed step: the previous role keeps working until the rotation finishes)."),
    Command("fleet", "roll an app in pull mode out through SSM Run Command (rollout, status), "
            "or on changes of its parameters and secrets (events)", fleet.add_arguments,
            fleet_run, report.ERROR, fleet.EPILOG),
    Command("schedule", "install or update the rotation timer on each host of a control inventory",
            _pyinfra_arguments("inventories/control.py"), schedule_run, report.ERROR,
            _runs("schedule.py -y", "0 the timer is in place on every host")),
)  # fmt: skip


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=f"{PROG} COMMAND --help: a command's own help."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.help, epilog=command.epilog
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None, commands: Sequence[Command] = COMMANDS) -> int:
    """Parse ``argv``, run the command, and return its exit status; errors are one line."""
    argv = sys.argv[1:] if argv is None else list(argv)
    by_name = {command.name: command for command in commands}
    try:
        args = build_parser(commands).parse_args(argv)
    except UsageError as e:
        e.parser.print_usage(sys.stderr)
        print(f"{e.parser.prog}: error: {e.message}", file=sys.stderr)
        # Some errors (an unrecognised argument) are the top parser's even after a command: the
        # first word naming one is the command (only --debug comes before it).
        command = next((by_name[word] for word in argv if word in by_name), None)
        return command.error if command else 2
    try:
        return args.run(args)
    except SsmEnvError as e:
        if args.debug:
            raise
        print(f"ssmenv {args.command}: error: {e}", file=sys.stderr)
        return by_name[args.command].error
