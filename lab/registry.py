"""A local container registry for the lab: Debian's ``docker-registry`` on 127.0.0.1.

It is distribution 2.8. The test hosts share this machine's network, so a host pulls from
``127.0.0.1:PORT`` as from any registry (plain HTTP: the ``container`` image kind marks 127.0.0.1
insecure). With a user, the registry asks for HTTP basic auth from an htpasswd file; distribution
2.8 does not insist on TLS for that. Everything it holds (config, htpasswd, blobs, log) lives in
its state directory and is gone after ``down``.

    python -m lab.registry up --port 5951
    printf %s secret | python -m lab.registry up --port 5951 --user ci --password-stdin
    python -m lab.registry down --port 5951
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.hosts import STATE
from lab.ports import port_free
from ssmenv.runtimes import container

BINARY = "docker-registry"
READY_DEADLINE = 30.0


@dataclass
class Registry:
    """One running registry, as recorded in its state directory."""

    port: int
    pid: int
    user: str | None = None

    @property
    def address(self) -> str:
        """What an image reference starts with: ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"


def state_dir(port: int) -> Path:
    return STATE / f"registry-{port}"


def _config(directory: Path, port: int, with_auth: bool) -> str:
    # JSON is YAML: no YAML library needed to write the config.
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if with_auth:
        config["auth"] = {"htpasswd": {"realm": "ssmenv-lab", "path": str(directory / "htpasswd")}}
    return json.dumps(config, indent=2)


def _htpasswd(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (the only kind distribution accepts); the password goes
    to ``htpasswd`` on stdin, never on its command line."""
    result = subprocess.run(
        ["htpasswd", "-niB", user], input=password, capture_output=True, text=True, check=True
    )
    return result.stdout.strip() + "\n"


def _is_registry(pid: int) -> bool:
    """Whether ``pid`` is alive and still a registry (not a reused PID)."""
    try:
        return BINARY in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def running(port: int) -> Registry | None:
    """The registry recorded for ``port`` if its process is still alive."""
    record = state_dir(port) / "registry.json"
    if not record.exists():
        return None
    registry = Registry(**json.loads(record.read_text()))
    return registry if _is_registry(registry.pid) else None


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
    except urllib.error.HTTPError as e:
        return e.code == 401  # up, and asking for the password
    except OSError:
        return False
    return True


def up(port: int, user: str | None = None, password: str | None = None) -> Registry:
    """Start a registry on 127.0.0.1:``port`` (basic auth for ``user`` when given) and wait until
    it answers. One already running on that port is stopped first: a fresh, empty registry."""
    if shutil.which(BINARY) is None:
        raise SystemExit(f"{BINARY} not found: apt-get install docker-registry")
    down(port)
    if not port_free(port):
        raise SystemExit(f"registry: port {port} is already in use")
    directory = state_dir(port)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    if user is not None:
        if password is None:
            raise SystemExit("registry: a user needs a password")
        (directory / "htpasswd").write_text(_htpasswd(user, password))
    (directory / "config.yml").write_text(_config(directory, port, user is not None))
    with (directory / "registry.log").open("wb") as log:
        proc = subprocess.Popen(
            [BINARY, "serve", str(directory / "config.yml")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `python -m lab.registry up`
        )
    registry = Registry(port=port, pid=proc.pid, user=user)
    (directory / "registry.json").write_text(json.dumps(asdict(registry)))
    end = time.monotonic() + READY_DEADLINE
    while not _answers(port):
        if proc.poll() is not None or time.monotonic() > end:
            log_tail = (directory / "registry.log").read_text(errors="replace")[-2000:]
            down(port)
            raise SystemExit(f"registry on port {port} did not come up:\n{log_tail}")
        time.sleep(0.05)
    return registry


def down(port: int, deadline: float = 10.0) -> bool:
    """Stop the registry recorded for ``port`` by its PID and remove its state (its images too).
    Whether one was running."""
    registry = running(port)
    if registry is not None:
        os.kill(registry.pid, signal.SIGTERM)
        end = time.monotonic() + deadline
        while _is_registry(registry.pid) and time.monotonic() < end:
            try:
                os.waitpid(registry.pid, os.WNOHANG)  # our child when started in this process
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if _is_registry(registry.pid):
            os.kill(registry.pid, signal.SIGKILL)
    shutil.rmtree(state_dir(port), ignore_errors=True)
    return registry is not None


def auth_json(address: str, user: str, password: str) -> str:
    """The content of a containers-auth.json file (``--authfile``, ``REGISTRY_AUTH_FILE``) that
    logs in to ``address`` (``127.0.0.1:PORT``) as ``user``."""
    return container.auth_json(address, user, password) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lab.registry", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start a fresh registry and wait until it answers")
    start.add_argument("--port", type=int, required=True)
    start.add_argument("--user", help="require basic auth as this user")
    start.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    stop = sub.add_parser("down", help="stop the registry and delete what it holds")
    stop.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    if args.command == "up":
        if (args.user is None) != (not args.password_stdin):
            parser.error("--user and --password-stdin go together")
        password = sys.stdin.read().rstrip("\n") if args.password_stdin else None
        registry = up(args.port, args.user, password)
        print(f"registry {registry.address} (pid {registry.pid})")
    elif args.command == "down":
        stopped = down(args.port)
        print(f"registry 127.0.0.1:{args.port}: {'stopped' if stopped else 'not running'}")


if __name__ == "__main__":
    main()
