"""End-to-end fixtures: real systemd hosts (nspawn containers) and the real ``pyinfra`` CLI.

One way to write an end-to-end test module:

- Its hosts: ``lab_hosts``, two fresh node hosts of its own (booted for the module, powered off
  after it), or a block of ``BLOCKS`` booted with ``booted``; their names and ports come from the
  worker's ``PREFIX`` and port bases, never fixed numbers.
- Its starting point: a ``base`` fixture returning a ``Base`` (the example app's parameters under
  the module's own SSM path, and its settings); ``deployed`` deploys it once for the module, and
  ``converge`` puts it back after each test that changes the hosts.
- Its runs: ``deployer`` (the real ``pyinfra`` CLI on the module's hosts, against the worker's
  AWS stand-in) and ``Deployer.ssmenv`` (``python -m ssmenv`` as a user runs it).

Without root, systemd-nspawn or debootstrap these tests skip loudly; under CI (``CI`` set) they
fail instead, so a green CI always means they ran.

Parallel workers (pytest-xdist, ``make test``): worker N has the host name prefix
``SSMENV_E2E_PREFIX`` + N and the SSH and app ports ``WORKER_STRIDE`` * N above the bases, so no
two workers share a host name or a port; the AWS stand-in is one per worker process.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lab import hosts as lab
from lab import npm_mirror, registry
from lab.results import parse_results
from tests.conftest import IN_CI, StandIn

REPO = Path(__file__).resolve().parents[2]
PYINFRA = Path(sys.executable).with_name("pyinfra")

# --- where each worker's hosts and ports are -----------------------------------------------------

#: Several suites can run side by side on one machine when each has its own prefix and ports.
BASE_PREFIX = os.environ.get("SSMENV_E2E_PREFIX", "e2e")
BASE_SSH_PORT = int(os.environ.get("SSMENV_E2E_SSH_PORT", "2301"))
BASE_APP_PORT = int(os.environ.get("SSMENV_E2E_APP_PORT", "3301"))
#: pytest-xdist names its workers gw0, gw1...; a run without workers is worker 0.
WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
#: Ports a worker takes above each base: every block below fits in it.
WORKER_STRIDE = 150
PREFIX = f"{BASE_PREFIX}{WORKER_INDEX}"
SSH_PORT_BASE = BASE_SSH_PORT + WORKER_STRIDE * WORKER_INDEX
APP_PORT_BASE = BASE_APP_PORT + WORKER_STRIDE * WORKER_INDEX


@dataclass(frozen=True)
class Block:
    """One group of a worker's hosts: named ``<PREFIX><suffix>-1..N``, their SSH and app ports
    from the worker's bases + ``offset``, ``size`` ports of each at most. ``suffix`` ``None``:
    app ports only (a module's own listeners on its lab hosts)."""

    suffix: str | None
    offset: int
    size: int

    @property
    def prefix(self) -> str:
        assert self.suffix is not None, "a block of ports only has no hosts"
        return f"{PREFIX}{self.suffix}"

    @property
    def ssh_port(self) -> int:
        return SSH_PORT_BASE + self.offset

    @property
    def app_port(self) -> int:
        return APP_PORT_BASE + self.offset

    @property
    def server_port(self) -> int:
        """The block's last app port, clear of its hosts' own: for a server the module starts (a
        registry, a metadata stand-in), below the ephemeral range, so no connection takes it from
        the module's start on."""
        return self.app_port + self.size - 1


#: Every block of a worker: no two overlap, so no two modules share a host or a port whatever
#: order they run in.
BLOCKS = {
    "lab": Block("", 0, 10),  # lab_hosts: the two node hosts most modules use
    "pull": Block("pl", 10, 4),  # test_pull: an agent host, two apps, its metadata (last)
    "pull-deploy": Block("pd", 14, 2),  # test_pull_deploy: an agent host a deploy hands over
    "fleet-ssm": Block("fs", 24, 6),  # test_fleet_ssm: four agent hosts, their metadata (last)
    "database": Block("db", 36, 14),  # test_database: two hosts, the lab's PostgreSQL (last)
    "bare": Block("b", 50, 2),  # test_bootstrap: a bare host, its node app and python app
    "fleet": Block("f", 60, 6),  # test_rollout_fleet
    "apps": Block("s", 70, 3),  # test_several_apps: two hosts, three apps
    "lab-containers": Block("c", 80, 2),  # test_lab_containers: a host, the registry (last)
    "containers": Block("k", 90, 2),  # test_containers
    "control": Block("ctl", 100, 1),  # test_rotation_timer's control host (SSH only)
    "rollback": Block(None, 110, 12),  # test_rollback's admin, taken and free ports
    "own-app": Block("u", 125, 1),  # test_own_app
    "hardening": Block("h", 130, 4),  # test_host_hardening: one host, four apps
    "provision-output": Block("p", 135, 1),  # test_provision_output
    "ecr": Block("e", 140, 3),  # test_container_ecr: two hosts, the registry (last)
    "imds": Block("md", 143, 1),  # test_imds_host
    "iam": Block("iam", 146, 1),  # test_iam_deploy
}


def _check_layout() -> None:
    """The blocks fit in a worker's stride without overlapping; this worker's ports stay below
    the kernel's ephemeral range (where ``free_port`` picks) and its SSH ports clear of every
    worker's app ports."""
    taken = sorted((b.offset, b.offset + b.size, name) for name, b in BLOCKS.items())
    for (_, end, first), (start, _, second) in itertools.pairwise(taken):
        assert end <= start, f"port blocks {first} and {second} overlap"
    assert taken[-1][1] <= WORKER_STRIDE, f"port block {taken[-1][2]} ends beyond the stride"
    workers = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), WORKER_INDEX + 1)
    ssh = (BASE_SSH_PORT, BASE_SSH_PORT + WORKER_STRIDE * workers)
    app = (BASE_APP_PORT, BASE_APP_PORT + WORKER_STRIDE * workers)
    if ssh[0] < app[1] and app[0] < ssh[1]:
        raise pytest.UsageError(
            f"{workers} workers take SSH ports {ssh[0]}-{ssh[1] - 1} and app ports {app[0]}-"
            f"{app[1] - 1}: set SSMENV_E2E_SSH_PORT and SSMENV_E2E_APP_PORT further apart"
        )
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if max(ssh[1], app[1]) > ephemeral:
        raise pytest.UsageError(
            f"{workers} workers take ports up to {max(ssh[1], app[1]) - 1}, into the ephemeral "
            f"range from {ephemeral}: lower SSMENV_E2E_SSH_PORT and SSMENV_E2E_APP_PORT"
        )


_check_layout()


def suite_hosts(base_prefix: str = BASE_PREFIX) -> re.Pattern[str]:
    """The names of every host the suite boots, in every worker: what the suite powers off at
    its start and end (lab.hosts.down_matching), whatever a killed run left."""
    suffixes = sorted((re.escape(b.suffix) for b in BLOCKS.values() if b.suffix is not None),
                      key=len, reverse=True)  # fmt: skip
    return re.compile(rf"{re.escape(base_prefix)}\d+(?:{'|'.join(suffixes)})-\d+")


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

    def invocations(self, *units: str) -> dict[str, str]:
        """Each unit's InvocationID: a new one means it was (re)started."""
        return {unit: self.service(unit)["InvocationID"] for unit in units}

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

    def ssmenv(
        self, command: str, *args: str, inventory: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -m ssmenv COMMAND INVENTORY ARGS`` as a user runs it, from cron (nothing on
        stdin to answer a prompt with); ``output`` holds what it and pyinfra printed."""
        result = subprocess.run(
            [sys.executable, "-m", "ssmenv", command, str(inventory or self.inventory), *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        result.output = result.stdout + result.stderr
        return result


#: One line per command pyinfra sends at -vv (as bench.deploy counts them).
COMMAND_LINE = re.compile(r"^\s*\[(?P<host>[^\]]+)\](?: nested)?\s*>>> ", re.M)


def commands_sent(output: str) -> Counter[str]:
    """How many commands pyinfra sent each host, from a -vv run's output."""
    return Counter(match["host"] for match in COMMAND_LINE.finditer(output))


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
    ``status`` (when seen before systemd restarted it; or within the settle time after its health
    check passed, when a loaded host let it answer first), or it is restarting after a failure
    (seen after: the exit status is then only in its journal)."""
    said = f"[{host}] ssmenv: {unit} "
    exited = f"exited with status {status} (Result=exit-code)"
    settled = re.compile(re.escape(said) + r"did not stay up for [\d.]+ s after its health check "
                         r"passed: " + re.escape(exited))  # fmt: skip
    return (said + exited in output or said + "is restarting after a failure" in output
            or settled.search(output) is not None)  # fmt: skip


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


# --- the example app and its activations -------------------------------------------------------

APP = "example-app"
WEB, WORKER, TARGET = f"{APP}-web.service", f"{APP}-worker.service", f"{APP}.target"
ENV_FILE = f"/etc/{APP}.env"
#: What an activation under way (or one a killed run left) keeps on the host.
MARKER = f"/run/ssmenv/{APP}.pending"
HEALTH_ANSWER = "    res.writeHead(200, { 'content-type': 'text/plain' });\n    res.end('ok\\n');"


def variant(directory: Path, name: str, old: str, new: str) -> Path:
    """A copy of the example app in ``directory``/``name`` with ``old`` replaced by ``new`` in its
    server.js."""
    target = directory / name
    shutil.copytree(REPO / "examples" / "app", target)
    server = target / "server.js"
    text = server.read_text()
    assert old in text, f"the example app changed: {old!r} is gone"
    server.write_text(text.replace(old, new, 1))
    return target


def silent_app(directory: Path) -> Path:
    """The example app accepting connections on its port and never answering its health check."""
    return variant(directory, "silent", HEALTH_ANSWER, "    return; // accepted, never answered")


def live_release(host: Host) -> str:
    return host.run(f"readlink /opt/{APP}/current").strip()


def marker_present(host: Host) -> bool:
    return host.run(f"sudo test -e {MARKER} && echo yes || true").strip() == "yes"


def in_background(host: Host, script: str, user: str = "root") -> int:
    """Run ``script`` on ``host`` in a session of its own, as ``user``; its PID, which is also its
    process group (so ``stop`` ends what it started too)."""
    inner = f"setsid sh -c {shlex.quote(script)} </dev/null >/dev/null 2>&1 & echo $!"
    return int(host.run(f"sudo -u {user} sh -c {shlex.quote(inner)}").strip())


def stop(host: Host, pid: int) -> None:
    host.run(f"sudo kill -- -{pid} 2>/dev/null || true")


def kill_activation_when(host: Host, condition: str, deadline: int = 300) -> int:
    """On ``host``, SIGKILL the app's activation (its PID is in its marker) as soon as the marker
    exists and the shell test ``condition`` holds: an activation interrupted at that point. The
    watcher gives up after ``deadline`` seconds; ``stop`` it when done."""
    return in_background(host, f"""
        end=$(($(date +%s) + {deadline}))
        while [ "$(date +%s)" -lt "$end" ]; do
          if [ -e {MARKER} ] && {condition}; then
            kill -9 "$(sed -n 's/^activation //p' {MARKER})"; exit 0
          fi
          sleep 0.01
        done""")


# --- hosts ------------------------------------------------------------------------------------


#: The worker's npm mirror (``npm_mirror``), which the hosts it boots fetch from.
_MIRROR: list[npm_mirror.Mirror] = []


@pytest.fixture(scope="session", autouse=True)
def npm_mirror_for_hosts() -> Iterator[None]:
    """The worker's mirror of the npm registry (``lab.npm_mirror``): every host ``booted`` boots
    fetches the example app's packages from it, not from the internet."""
    mirror = npm_mirror.Mirror()
    _MIRROR.append(mirror)
    try:
        yield
    finally:
        _MIRROR.remove(mirror)
        mirror.close()


@contextmanager
def booted(
    block: Block, count: int, kind: str = "node", binds: Sequence[tuple[str, str]] = ()
) -> Iterator[list[Host]]:
    """``count`` fresh hosts of image ``kind`` in ``block``: the i-th named ``<prefix>-i``, on its
    SSH port + i with its app on its app port + i, npm on them fetching from the worker's
    mirror; powered off afterwards."""
    assert count <= block.size, f"{count} hosts do not fit in a block of {block.size}"
    started = time.monotonic()
    # One of these names left running (an interrupted run) would be kept as it is: never reuse.
    lab.down(block.prefix)
    registry = _MIRROR[0].url if _MIRROR else None
    up = lab.up(block.prefix, count, block.ssh_port, kind=kind, binds=binds, npm_registry=registry)
    print(f"\nbooted {len(up)} {kind} hosts in {time.monotonic() - started:.1f}s", file=sys.stderr)
    try:
        yield [Host(h.name, h.ssh_port, block.app_port + i) for i, h in enumerate(up)]
    finally:
        for h in up:
            lab.power_off(h)


def write_inventory(path: Path, group: str, hosts: list[Host], **data) -> Path:
    """An inventory of ``hosts``, in that order, reached as the deploy user, running the example
    app (the group ``example``: group_data/example.py) in ``group``, as inventories/local.py;
    ``data``: more host data for each."""
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port, **data})
               for h in hosts]  # fmt: skip
    path.write_text(f"_hosts = {entries!r}\nexample = _hosts\n{group} = _hosts\n")
    return path


def registry_login(directory: Path, address: str, user: str, password: str) -> Path:
    """A registry's login for skopeo on this machine: a containers-auth.json in ``directory``,
    root-only from the start (the password never goes on a command line)."""
    path = directory / "auth.json"
    path.touch(mode=0o600)
    path.write_text(registry.auth_json(address, user, password))
    return path


def aws_env(stand_in: StandIn) -> dict[str, str]:
    """This process's environment with the stand-in's AWS settings instead of any of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **stand_in.env}


@pytest.fixture(scope="module")
def lab_hosts() -> Iterator[list[Host]]:
    """Two fresh node hosts for the module: whatever another module did to its own, these start
    from the image."""
    with booted(BLOCKS["lab"], 2) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def inventory(lab_hosts, tmp_path_factory) -> Path:
    """An inventory of the test hosts in the ``staging`` group, like inventories/local.py."""
    return write_inventory(tmp_path_factory.mktemp("inventory") / "e2e.py", "staging", lab_hosts)


@pytest.fixture(scope="module")
def deployer(inventory, stand_in: StandIn) -> Deployer:
    return Deployer(inventory, aws_env(stand_in))


# --- a module's starting point ----------------------------------------------------------------


def example_parameters(path: str, tag: str) -> dict[str, str]:
    """The example app's required parameters (group_data/example.py) under the SSM path ``path``,
    each value obviously fake and told apart by ``tag``."""
    return {
        f"{path}/DATABASE_URL": f"postgres://app:FAKE-{tag}@db.internal:5432/app",
        f"{path}/API_KEY": f"FAKE-{tag}-key-1",
        f"{path}/SESSION_SECRET": f"FAKE-{tag}-session",
    }


@dataclass(frozen=True)
class Base:
    """Where a module's tests start from: the app deployed with the settings ``data`` (as
    ``--data``; ``ssm_path`` the module's own) from the SSM parameters ``values``."""

    values: dict[str, str]
    data: dict

    @classmethod
    def example(cls, path: str, tag: str, **data) -> Base:
        """The example app from ``example_parameters(path, tag)``, with ``data`` besides."""
        return cls(example_parameters(path, tag), {"ssm_path": path, **data})

    def parameter(self, name: str) -> str:
        """The SSM name of the variable ``name``."""
        return f"{self.data['ssm_path']}/{name}"

    def value(self, name: str) -> str:
        return self.values[self.parameter(name)]


@pytest.fixture(scope="module")
def base() -> Base:
    """A module whose tests use ``deployed`` or ``converge`` defines its own ``base``."""
    pytest.fail("this module uses deployed or converge and defines no base fixture",
                pytrace=False)  # fmt: skip


@pytest.fixture(scope="module")
def deployed(base: Base, deployer: Deployer, stand_in: StandIn, lab_hosts) -> RunResult:
    """The module's base deployed on its hosts, once: the run."""
    stand_in.put(base.values)
    result = deployer.run(data=base.data)
    assert result.returncode == 0, result.output[-3000:]
    return result


@pytest.fixture
def redeployed(base: Base, deployer: Deployer, stand_in: StandIn, lab_hosts) -> RunResult:
    """The base deployed before the test, whatever the tests before it left: for tests that each
    start from it, in a module whose other tests start elsewhere."""
    stand_in.put(base.values)
    result = deployer.run(data=base.data)
    assert result.returncode == 0, result.output[-3000:]
    return result


@pytest.fixture
def converge(deployed, base: Base, deployer: Deployer, stand_in: StandIn, lab_hosts) -> Iterator:
    """After the test: the base deployed again, every host healthy with no activation left
    unfinished, as the next test expects (and proof that the test left hosts a deploy
    recovers)."""
    yield
    stand_in.put(base.values)
    result = deployer.run(data=base.data)
    assert result.returncode == 0, result.output[-3000:]
    for host in lab_hosts:
        assert host.get("/healthz") == b"ok\n", host.name
        assert not marker_present(host), host.name


def sha256(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()
