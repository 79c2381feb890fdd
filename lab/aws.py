"""The local AWS stand-in: moto in server mode on 127.0.0.1, reached by boto3 through the standard
``AWS_ENDPOINT_URL`` variable, so the toolkit runs the same code it runs against AWS.

    python -m lab.aws up --port 5055        # start it in the background
    python -m lab.aws seed FILE.json        # put SecureString parameters (name -> value)
    eval "$(python -m lab.aws env)"         # the variables a pyinfra run needs to use it
    python -m lab.aws down
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

from lab.hosts import STATE

PIDFILE = STATE / "moto.json"
DEFAULT_PORT = 5055
REGION = "us-east-1"


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
    """Start ``moto_server`` on 127.0.0.1:port and wait until it answers."""
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_ready(port)
    return proc


def client(service: str, endpoint: str | int, region: str = REGION):
    """A boto3 client of the stand-in (a port or an endpoint URL), with the fake credentials."""
    url = f"http://127.0.0.1:{endpoint}" if isinstance(endpoint, int) else endpoint
    env = environment(0)
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def seed(port: int, parameters: dict[str, str]) -> None:
    """Put each name -> value as a SecureString parameter, overwriting."""
    ssm = client("ssm", port)
    for name, value in parameters.items():
        if name.startswith("/"):
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.aws", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up")
    sub.add_parser("down")
    sub.add_parser("env")
    seeding = sub.add_parser("seed")
    seeding.add_argument("file", type=Path)
    args = parser.parse_args(argv)

    if args.command == "up":
        STATE.mkdir(parents=True, exist_ok=True)
        if PIDFILE.exists():
            raise SystemExit(f"already running ({PIDFILE}); python -m lab.aws down first")
        proc = start(args.port, STATE / "moto.log")
        PIDFILE.write_text(json.dumps({"pid": proc.pid, "port": args.port}))
        print(f"moto server on 127.0.0.1:{args.port} (pid {proc.pid})")
    elif args.command == "down":
        if PIDFILE.exists():
            try:
                os.kill(json.loads(PIDFILE.read_text())["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            PIDFILE.unlink()
    elif args.command == "env":
        for key, value in environment(args.port).items():
            print(f"export {key}={value}")
    elif args.command == "seed":
        parameters = json.loads(args.file.read_text())
        seed(args.port, parameters)
        print(f"seeded {sum(n.startswith('/') for n in parameters)} parameters from {args.file}")


if __name__ == "__main__":
    main()
