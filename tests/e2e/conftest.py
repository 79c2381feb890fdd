"""End-to-end fixtures: real systemd hosts (nspawn containers) and the real ``pyinfra`` CLI.

Without root, systemd-nspawn or debootstrap these tests skip loudly; under CI (``CI`` set) they
fail instead, so a green CI always means they ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab import hosts as lab
from lab.results import parse_results
from tests.conftest import IN_CI, StandIn

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")
# Several suites can run side by side on one machine when each has its own prefix and ports.
PREFIX = os.environ.get("SSMENV_E2E_PREFIX", "e2e")
SSH_PORT_BASE = int(os.environ.get("SSMENV_E2E_SSH_PORT", "2301"))
APP_PORT_BASE = int(os.environ.get("SSMENV_E2E_APP_PORT", "3301"))


def _missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    missing += [tool for tool in ("systemd-nspawn", "debootstrap", "ssh") if not shutil.which(tool)]
    return missing


@pytest.fixture(scope="session", autouse=True)
def e2e_prerequisites() -> None:
    """Skip loudly where the hosts cannot run; under CI, fail: a green CI means these tests ran."""
    missing = _missing_prerequisites()
    if missing:
        reason = f"END-TO-END TESTS NOT RUN: missing {', '.join(missing)} (run make test as root)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def container_tools() -> None:
    """The local registry's and the image builder's tools: skip loudly without them; under CI,
    fail (.ci/run installs them)."""
    missing = [t for t in ("docker-registry", "skopeo", "htpasswd") if not shutil.which(t)]
    if missing:
        reason = f"CONTAINER TESTS NOT RUN: missing {', '.join(missing)}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Host:
    """One test host as the tests see it: SSH for looking around, HTTP for the app."""

    name: str
    ssh_port: int
    app_port: int

    def run(self, command: str, check: bool = True, stdin: str | None = None) -> str:
        result = subprocess.run(
            [*lab.ssh_args(self.ssh_port), command], capture_output=True, text=True, timeout=60,
            input=stdin,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name}: {command!r} failed: {result.stderr.strip()}")
        return result.stdout

    def run_bytes(self, command: str) -> bytes:
        """``command``'s output as bytes, as it is (values with any byte in them)."""
        result = subprocess.run([*lab.ssh_args(self.ssh_port), command], capture_output=True,
                                timeout=60)  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"{self.name}: {command!r} failed: {result.stderr!r}")
        return result.stdout

    def service(self, unit: str) -> dict[str, str]:
        out = self.run(
            f"systemctl show {unit} -p MainPID -p NRestarts -p ExecMainStartTimestamp "
            "-p ActiveState -p InvocationID"
        )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def started_at(self, unit: str) -> int:
        """When ``unit``'s main process started, in µs since the epoch (wall clock: the hosts'
        monotonic timestamps are not comparable with each other)."""
        text = self.run(f"systemctl show --timestamp=us+utc -p ExecMainStartTimestamp --value "
                        f"{unit}")  # fmt: skip
        moment = datetime.strptime(text.strip(), "%a %Y-%m-%d %H:%M:%S.%f %Z")
        return int(moment.replace(tzinfo=UTC).timestamp() * 1_000_000)

    def process_environ(self, unit: str) -> dict[str, bytes]:
        """The environment of the unit's running main process, as raw bytes per name."""
        pid = self.service(unit)["MainPID"]
        assert pid != "0", f"{self.name}: {unit} has no running main process"
        raw = subprocess.run(
            [*lab.ssh_args(self.ssh_port), f"sudo cat /proc/{pid}/environ"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if item)
        return {k.decode(): v for k, v in pairs}

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.app_port}{path}", timeout=5) as r:
            return r.read()

    def fingerprints(self) -> dict[str, str]:
        return json.loads(self.get("/fingerprints"))

    def file_state(self, path: str) -> str:
        """Owner, group, mode and content digest, or 'absent'."""
        return self.run(
            f'sudo sh -c \'if [ -e {path} ]; then stat -c "%U:%G %a" {path}; '
            f"sha256sum < {path}; else echo absent; fi'"
        ).strip()


@dataclass
class RunResult:
    returncode: int
    output: str
    changed: dict[str, int] = field(default_factory=dict)  # operation name -> hosts changed


class Deployer:
    """Runs the real ``pyinfra`` CLI from the repository against the test hosts."""

    pyinfra = PYINFRA

    def __init__(self, inventory: Path, env: dict[str, str]):
        self.inventory = inventory
        self.env = env

    def command(self, *args: str, data: dict | None = None, deploy: str = "deploy.py") -> list:
        command = [str(PYINFRA), "-y", str(self.inventory), deploy, *args]
        for key, value in (data or {}).items():
            command += ["--data", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
        return command

    def run(
        self, *args: str, data: dict | None = None, deploy: str = "deploy.py", timeout: int = 600
    ) -> RunResult:
        result = subprocess.run(
            self.command(*args, data=data, deploy=deploy),
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        output = result.stdout + result.stderr
        return RunResult(result.returncode, output, parse_results(output))

    def start(self, *args: str, data: dict | None = None, deploy: str = "deploy.py"):
        """The same run in the background, its output collected: a ``subprocess.Popen``."""
        return subprocess.Popen(
            self.command(*args, data=data, deploy=deploy), cwd=REPO, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip


def example_app(directory: Path, **commands: str) -> Path:
    """A copy of the example app in ``directory`` whose Procfile runs ``commands`` (process name
    to command) instead of its own."""
    target = directory / "example-app"
    shutil.copytree(REPO / "examples" / "app", target)
    procfile = target / "Procfile"
    lines = [line for line in procfile.read_text().splitlines()
             if line.split(":", 1)[0] not in commands]  # fmt: skip
    procfile.write_text("\n".join([*lines, *(f"{n}: {c}" for n, c in commands.items())]) + "\n")
    return target


def crashed(output: str, host: str, unit: str, status: int) -> bool:
    """Whether ``host`` said ``unit`` failed as systemd reported it: its process exited with
    ``status`` (when seen before systemd restarted it), or it is restarting after a failure
    (seen after: the exit status is then only in its journal)."""
    return (f"[{host}] ssmenv: {unit} exited with status {status} (Result=exit-code)" in output
            or f"[{host}] ssmenv: {unit} is restarting after a failure" in output)  # fmt: skip


def wait_for(condition, what: str, deadline: float = 60.0, every: float = 0.1):
    """Poll ``condition`` until it returns something true, and return that; fail saying ``what``
    was awaited once ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        time.sleep(every)


@contextmanager
def booted(
    prefix: str, count: int, ssh_port: int, app_port: int, kind: str = "node"
) -> Iterator[list[Host]]:
    """``count`` test hosts of image ``kind``, the i-th on ``ssh_port + i`` with its app on
    ``app_port + i``; powered off afterwards."""
    started = time.monotonic()
    up = lab.up(prefix, count, ssh_port, kind=kind)
    print(f"\nbooted {len(up)} {kind} hosts in {time.monotonic() - started:.1f}s", file=sys.stderr)
    try:
        yield [Host(h.name, h.ssh_port, app_port + i) for i, h in enumerate(up)]
    finally:
        for h in up:
            lab.power_off(h)


def write_inventory(path: Path, group: str, hosts: list[Host]) -> Path:
    """An inventory of ``hosts``, in that order, reached as the deploy user, running the example
    app (the group ``example``: group_data/example.py) in ``group``, as inventories/local.py."""
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port})
               for h in hosts]  # fmt: skip
    path.write_text(f"_hosts = {entries!r}\nexample = _hosts\n{group} = _hosts\n")
    return path


@pytest.fixture(scope="session")
def lab_hosts() -> Iterator[list[Host]]:
    with booted(PREFIX, 2, SSH_PORT_BASE, APP_PORT_BASE) as hosts:
        yield hosts


@pytest.fixture(scope="session")
def inventory(lab_hosts, tmp_path_factory) -> Path:
    """An inventory of the test hosts in the ``staging`` group, like inventories/local.py."""
    return write_inventory(tmp_path_factory.mktemp("inventory") / "e2e.py", "staging", lab_hosts)


@pytest.fixture(scope="session")
def deployer(inventory, stand_in: StandIn) -> Deployer:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return Deployer(inventory, {**env, **stand_in.env})


def sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()
