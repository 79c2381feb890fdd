"""The local AWS stand-in: moto in server mode on 127.0.0.1, which boto3 (and the aws CLI) reach
through the standard AWS_ENDPOINT_URL variable, so the toolkit runs the same code it runs against
AWS.

Several stand-ins can run side by side, one per port, each with its own state file
(moto-PORT.json in the lab's state directory, SSMENV_LAB_STATE, default /run/ssmenv-lab). A
command that needs one takes the one running when --port is not given, and asks for --port when
several are.

    python -m lab.aws up                      # start one on 127.0.0.1:5055, in the background
    python -m lab.aws up --port 5056          # and another beside it
    python -m lab.aws status                  # the running ones
    eval "$(python -m lab.aws env --port 5056)"   # point boto3 / the aws CLI at one
    python -m lab.aws seed examples/ssm/staging.json      # name -> value, as SecureString
    printf %s FAKE-value | python -m lab.aws put /shop/prod/TOKEN --type SecureString
    python -m lab.aws down --port 5056
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

from lab import hosts

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 5055
REGION = "us-east-1"
#: What SSM takes: the stand-in stores each as AWS would (a SecureString comes back decrypted
#: only with WithDecryption).
TYPES = ("String", "StringList", "SecureString")


def environment(port: int) -> dict[str, str]:
    """Variables that point boto3 at the stand-in, with obviously fake credentials."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "FAKEACCESSKEYID",
        "AWS_SECRET_ACCESS_KEY": "FAKE-secret-access-key",
        "AWS_DEFAULT_REGION": REGION,
    }


def wait_ready(port: int, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"moto server did not answer on 127.0.0.1:{port} after {deadline:.0f}s")


def start(port: int, log: Path) -> subprocess.Popen:
    """Start moto's server on 127.0.0.1:port and wait until it answers: ``lab.moto_server``, which
    checks IAM policies against the parameters and secrets a request names once
    ``INITIAL_NO_AUTH_ACTION_COUNT`` (in the environment) requests have passed, or after
    ``enforce``."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    wait_ready(port)
    return proc


def enforce(endpoint: str | int, let_through: float = 0) -> None:
    """Check every request after the next ``let_through`` against the caller's IAM policies
    (``float("inf")``: none, as before). The stand-in's fake credentials are then refused: act as
    an IAM user of the stand-in (``admin``) or with a role's credentials."""
    url = f"http://127.0.0.1:{endpoint}" if isinstance(endpoint, int) else endpoint
    # text/plain: a form's content type would have the body parsed away before moto reads it.
    request = urllib.request.Request(f"{url}/moto-api/reset-auth", method="POST",
                                     data=str(let_through).encode(),
                                     headers={"Content-Type": "text/plain"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10):
        pass


def admin(endpoint: str | int, name: str = "lab-admin") -> dict[str, str]:
    """An IAM user of the stand-in allowed everything, and its access key as the variables that
    give it to boto3 (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``): who seeds and inspects a
    stand-in that enforces IAM. Made while the stand-in does not enforce yet."""
    iam = client("iam", endpoint)
    iam.create_user(UserName=name)
    everything = {"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip
    iam.put_user_policy(UserName=name, PolicyName="everything",
                        PolicyDocument=json.dumps(everything))  # fmt: skip
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}  # fmt: skip


def client(service: str, endpoint: str | int, region: str = REGION,
           credentials: dict[str, str] | None = None):  # fmt: skip
    """A boto3 client of the stand-in (a port or an endpoint URL), with the fake credentials or
    ``credentials`` (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``)."""
    url = f"http://127.0.0.1:{endpoint}" if isinstance(endpoint, int) else endpoint
    env = {**environment(0), **(credentials or {})}
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
    )


def seed(port: int, parameters: dict[str, str], kind: str = "SecureString") -> None:
    """Put each name -> value as a parameter of type ``kind``, overwriting."""
    ssm = client("ssm", port)
    for name, value in parameters.items():
        if name.startswith("/"):
            ssm.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)


# --- The stand-ins started by ``up``: one state file per port, so several run side by side.


def state_file(port: int) -> Path:
    return hosts.STATE / f"moto-{port}.json"


def _moto_alive(pid: int) -> bool:
    """``pid`` runs and is a moto server (not a later process that reused a dead one's pid)."""
    try:
        return b"moto_server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running() -> dict[int, int]:
    """The stand-ins ``up`` started that still run: port -> pid. A state file whose server is
    gone is removed."""
    found = {}
    # moto.json: the single state file of earlier versions, for a stand-in they started.
    for record in sorted([*hosts.STATE.glob("moto-*.json"), hosts.STATE / "moto.json"]):
        try:
            state = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _moto_alive(state["pid"]):
            found[int(state["port"])] = int(state["pid"])
        else:
            record.unlink(missing_ok=True)
    return found


def up(port: int) -> int:
    """Start a stand-in on ``port`` in the background, recorded in its own state file; its pid."""
    hosts.STATE.mkdir(parents=True, exist_ok=True)
    if port in running():
        raise SystemExit(f"a stand-in runs on 127.0.0.1:{port} already "
                         f"(python -m lab.aws down --port {port})")  # fmt: skip
    proc = start(port, hosts.STATE / f"moto-{port}.log")
    state_file(port).write_text(json.dumps({"pid": proc.pid, "port": port}))
    return proc.pid


def down(port: int, deadline: float = 10.0) -> bool:
    """Stop the stand-in ``up`` started on ``port``; whether one was running."""
    pid = running().get(port)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + deadline
        while _moto_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if _moto_alive(pid):
            os.kill(pid, signal.SIGKILL)
    for record in (state_file(port), hosts.STATE / "moto.json"):
        try:
            if json.loads(record.read_text())["port"] == port:
                record.unlink()
        except (OSError, ValueError):
            pass
    return pid is not None


def chosen(port: int | None) -> int:
    """``port``, or the one stand-in running when it is ``None``; else a one-line exit saying
    why not."""
    if port is not None:
        return port
    ports = sorted(running())
    if len(ports) == 1:
        return ports[0]
    if not ports:
        raise SystemExit("no stand-in runs: start one with python -m lab.aws up [--port PORT]")
    raise SystemExit(f"{len(ports)} stand-ins run (ports {', '.join(map(str, ports))}): "
                     "say which with --port")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    """The command line: ``--port`` before or after the command."""
    port_help = (f"the stand-in's port on 127.0.0.1; default: the one running (for up: "
                 f"{DEFAULT_PORT})")  # fmt: skip
    main = argparse.ArgumentParser(
        prog="python -m lab.aws", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    main.add_argument("--port", type=int, default=None, help=port_help)
    # After the command too; SUPPRESS keeps a --port given before it when none comes after.
    port = argparse.ArgumentParser(add_help=False)
    port.add_argument("--port", type=int, default=argparse.SUPPRESS, help=port_help)
    sub = main.add_subparsers(dest="command", required=True)
    sub.add_parser("up", parents=[port], help="start a stand-in in the background and wait "
                   "until it answers")  # fmt: skip
    stop = sub.add_parser("down", parents=[port], help="stop a stand-in")
    stop.add_argument("--all", action="store_true", help="stop every stand-in that runs")
    sub.add_parser("status", help="list the stand-ins that run: port and pid")
    sub.add_parser("env", parents=[port], help="print the export lines that point boto3 and the "
                   "aws CLI at a stand-in (for eval)")  # fmt: skip
    seeding = sub.add_parser(
        "seed", parents=[port],
        help="put every parameter of a JSON file (name -> value), as SecureString unless --type "
        "says otherwise, overwriting",
    )  # fmt: skip
    seeding.add_argument("file", type=Path, help="a JSON object of parameter name (starting "
                         "with /) to value; other keys are ignored")  # fmt: skip
    seeding.add_argument("--type", choices=TYPES, default="SecureString",
                         help="the parameters' type (default: SecureString)")  # fmt: skip
    put = sub.add_parser(
        "put", parents=[port],
        help="put one parameter, its value read from stdin (never from the command line), "
        "overwriting",
    )  # fmt: skip
    put.add_argument("name", help="the parameter's name, e.g. /example-app/staging/API_KEY")
    put.add_argument("--type", choices=TYPES, required=True,
                     help="String, StringList or SecureString (a secret); a deploy reads "
                     "each the same, decrypted")  # fmt: skip
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "up":
        port = DEFAULT_PORT if args.port is None else args.port
        print(f"moto server on 127.0.0.1:{port} (pid {up(port)})")
    elif args.command == "down":
        ports = sorted(running()) if args.all else [chosen(args.port)]
        for port in ports:
            print(f"stand-in 127.0.0.1:{port}: {'stopped' if down(port) else 'not running'}")
    elif args.command == "status":
        for port, pid in sorted(running().items()):
            print(f"127.0.0.1:{port}\tpid {pid}\t{state_file(port)}")
    elif args.command == "env":
        for key, value in environment(chosen(args.port)).items():
            print(f"export {key}={value}")
    elif args.command == "seed":
        port = chosen(args.port)
        parameters = json.loads(args.file.read_text())
        seed(port, parameters, args.type)
        print(f"seeded {sum(n.startswith('/') for n in parameters)} parameters as {args.type} "
              f"from {args.file} into 127.0.0.1:{port}")  # fmt: skip
    elif args.command == "put":
        port = chosen(args.port)
        value = sys.stdin.read()
        # echo adds a newline that is no part of the value; printf %s adds none.
        value = value[:-1] if value.endswith("\n") else value
        client("ssm", port).put_parameter(Name=args.name, Value=value, Type=args.type,
                                          Overwrite=True)  # fmt: skip
        print(f"put {args.name} ({args.type}) into 127.0.0.1:{port}")


if __name__ == "__main__":
    main()
