"""Benchmark: what a deploy costs on 1, 10 and 50 local test hosts, side by side with the peer.

    .venv/bin/python -m bench.deploy [--hosts 1,10,50] [--runs 3] [--large-runs 2]
                                     [--rollout-batch N|all] [--logs DIR]

For each number of hosts N and each run, N fresh test hosts are booted (``lab.hosts``, prefix
``bench``, the ``bench`` image: the example app's runtime and the peer's) and the real
``pyinfra -y`` CLI deploys the example app onto them: a first deploy, a redeploy with nothing
new (no-op), a redeploy after one SSM parameter changed with every host activated at once
(rotation), and another with the deploy's own rollout (a canary, then batches). In the same run,
on the same hosts, two references: ``ssh HOST true`` to every host at once, and pyinfra running a
single ``server.shell("true")`` (``bench/true_deploy.py``). Then N more fresh hosts get the peer
(``../shared/peer/deploy.py``: the same job in plain pyinfra, 20 parameters): its first deploy,
no-op and rotation. The table gives median wall seconds (min-max), each of the toolkit's rows as
a ratio to the peer's, remote commands per host and SSM API calls per run; then what each added
host costs, and the targets.

Remote commands are counted in one more run per N, with ``-vv`` (pyinfra prints each command it
sends as ``[host] >>> ...``); that run is not timed, since printing costs time. SSM API calls are
counted per operation by the lab's HTTP proxy (``lab.faults``, injecting no fault) between boto3
and the AWS stand-in (moto server); the benchmark seeds and rotates parameters behind the
proxy's back, so only the deploy's calls count. Hosts above 20 get ``--large-runs`` timed runs
(a 50-host cycle takes minutes here).

The first deploy, no-op and rotation rows activate all hosts at once (``--data rollout_batch=N
--data rollout_canary=0``) unless ``--rollout-batch`` says otherwise, which measures the
toolkit's own cost; the default-rollout row shows what a user's rotation takes. Every deploy
runs the example app's web process alone (``--data app_processes=["web"]``), one process per host
as the peer's app has; the one-command reference runs without the toolkit's ``config.py``. Every
run uses a copy of the work tree taken at the start, so edits made meanwhile do not mix into the
figures.

The exit status is 1 when one of the issue's targets does not hold (see ``targets``), 2 when a
step failed (the table then holds the numbers of hosts that were complete).
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench import results
from lab import aws
from lab import hosts as lab
from lab.faults import FaultProxy
from lab.ports import free_port, port_free
from lab.results import parse_results

REPO = Path(__file__).resolve().parent.parent
PYINFRA = Path(sys.executable).with_name("pyinfra")
PREFIX = "bench"
SSH_PORT_BASE = 2701
APP_PORT_BASE = 3701
LARGE = 20  # more hosts than this: --large-runs timed runs instead of --runs
IMAGE = "bench"  # the runtimes of both the example app and the peer's

# The example app has a web and a worker process; the peer's app has one. Every deploy of the
# benchmark runs the web process alone, so both start one process per host.
WEB_ONLY = ("--data", 'app_processes=["web"]')
# The one-command reference is pyinfra as it comes: without the toolkit's config.py (which tunes
# the control process's garbage collector, ssmenv.control), with the inventory's group data.
PLAIN_PYINFRA = ("--config", "/dev/null")

SSM_PATH = "/bench/example-app"
PARAMETERS = {
    f"{SSM_PATH}/DATABASE_URL": "postgres://app:FAKE-bench-password@db.internal:5432/app",
    f"{SSM_PATH}/API_KEY": "FAKE-bench-api-key",
    f"{SSM_PATH}/SESSION_SECRET": "FAKE bench session secret with 'quotes' and $dollars",
    f"{SSM_PATH}/FEATURE_FLAGS": '{"beta": true}',
}
ROTATED = f"{SSM_PATH}/API_KEY"

# What each run measures, in the order it runs them (the references right after the no-op, so
# the two are compared under the same conditions).
FIRST, NOOP, PYINFRA_TRUE, SSH_TRUE, ROTATION, ROLLING = (
    "first", "noop", "pyinfra_true", "ssh_true", "rotation", "rolling",
)  # fmt: skip
PEER_FIRST, PEER_NOOP, PEER_ROTATION = "peer_first", "peer_noop", "peer_rotation"
ANSIBLE_FIRST, ANSIBLE_NOOP, ANSIBLE_ROTATION = "ansible_first", "ansible_noop", "ansible_rotation"
LABELS = {
    FIRST: "first deploy",
    NOOP: "no-op redeploy",
    ROTATION: "rotate one parameter, all hosts at once",
    ROLLING: "rotate one parameter, default rollout (a canary, then 50%)",
    SSH_TRUE: "reference: `ssh true` fan-out",
    PYINFRA_TRUE: 'reference: pyinfra `server.shell("true")`',
    PEER_FIRST: "peer, plain pyinfra: first deploy",
    PEER_NOOP: "peer, plain pyinfra: no-op redeploy",
    PEER_ROTATION: "peer, plain pyinfra: rotate its parameters",
    ANSIBLE_FIRST: "peer, Ansible: first deploy",
    ANSIBLE_NOOP: "peer, Ansible: no-op redeploy",
    ANSIBLE_ROTATION: "peer, Ansible: rotate its parameters",
}
DEPLOYS = (FIRST, NOOP, ROTATION, ROLLING)
PEERS = (PEER_FIRST, PEER_NOOP, PEER_ROTATION)
ANSIBLE = (ANSIBLE_FIRST, ANSIBLE_NOOP, ANSIBLE_ROTATION)
#: The benchmark's own virtualenv for Ansible (ansible-core and the amazon.aws collection come in
#: the ``ansible`` package on PyPI; its SSM lookup needs boto3 beside it).
ANSIBLE_VENV = Path("/var/cache/ssmenv-bench/ansible")
# What each of the toolkit's rows is compared with: the peer doing the same job.
PEER_OF = {FIRST: PEER_FIRST, NOOP: PEER_NOOP, ROTATION: PEER_ROTATION, ROLLING: PEER_ROTATION}

# The peer (../shared/peer beside the checkout): the same job in plain pyinfra, on hosts of its own
# booted the same way, reading its own 20 parameters.
PEER = REPO.parent / "shared" / "peer"
PEER_PATH = "/demo/staging"
PEER_PARAMETERS = 20

# One line per command pyinfra sends at -vv: "[bench-3] >>> sudo -H -n sh -c '...'".
_COMMAND_LINE = re.compile(r"^\[(?P<host>[^\]]+)\](?: nested)?\s*>>> (?P<command>.*)$", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# What a deploy does not need from the work tree; the rest is copied (see ``snapshot``).
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules"
)


class BenchError(Exception):
    """A step of the benchmark failed (a pyinfra run, a boot): the run cannot be measured."""


@dataclass
class BenchHost:
    """One booted test host and the port its app listens on."""

    lab: lab.LabHost
    app_port: int

    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def ssh_port(self) -> int:
        return self.lab.ssh_port


@dataclass
class Measure:
    """One scenario of one run: wall seconds, what the deploy asked of AWS and of each host."""

    seconds: float
    calls: Counter[str] = field(default_factory=Counter)
    commands: dict[str, list[str]] | None = None  # host -> commands sent (only at -vv)
    changed: dict[str, int] = field(default_factory=dict)  # operation -> hosts it changed


def pick_ports(count: int) -> list[tuple[int, int]]:
    """``count`` (ssh, app) port pairs counting up from 2701 / 3701, skipping a pair when either
    port is taken: other suites' hosts on this machine may sit inside the range."""
    pairs = []
    for offset in itertools.count():
        if len(pairs) == count:
            return pairs
        ssh, app = SSH_PORT_BASE + offset, APP_PORT_BASE + offset
        if port_free(ssh) and port_free(app):
            pairs.append((ssh, app))
        if offset > count + 200:
            raise BenchError(f"no {count} free port pairs from {SSH_PORT_BASE}/{APP_PORT_BASE}")
    raise AssertionError("unreachable")


def boot(count: int, prefix: str = PREFIX, kind: str = IMAGE) -> list[BenchHost]:
    """Boot ``count`` fresh hosts ``<prefix>-1..N`` of the image ``kind`` and wait until each
    answers SSH with sudo."""
    # Each container's systemd takes inotify instances, out of one budget for all root's
    # containers: the default 128 runs out near 20, counting other suites' hosts (lab.hosts.up
    # raises it only when it boots more than 20 itself).
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(limit.read_text()) < 8192:
        limit.write_text("8192\n")
    booted: list[BenchHost] = []
    try:
        for i, (ssh_port, app_port) in enumerate(pick_ports(count)):
            booted.append(BenchHost(lab.boot(f"{prefix}-{i + 1}", ssh_port, kind=kind),
                                    app_port))  # fmt: skip
        for i, host in enumerate(booted):
            try:
                lab.wait_ready(host.lab)
            except SystemExit as e:
                # Seen once in a few hundred boots right after the same name's previous
                # container went down: systemd never got to sshd. One more boot, from scratch.
                progress(f"{e}".splitlines()[0] + "; booting it again")
                lab.power_off(host.lab)
                booted[i] = BenchHost(lab.boot(host.name, host.ssh_port, kind=kind),
                                      host.app_port)  # fmt: skip
                lab.wait_ready(booted[i].lab)
    except SystemExit as e:  # how lab.hosts reports a host that does not come up
        power_off(booted)
        raise BenchError(str(e)) from None
    except BaseException:
        power_off(booted)
        raise
    return booted


def power_off(hosts: Sequence[BenchHost]) -> None:
    """Halt the hosts all at once (``lab.hosts.down`` halts one after the other)."""
    if hosts:
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            list(pool.map(lambda h: lab.power_off(h.lab), hosts))


def write_inventory(path: Path, hosts: Sequence[BenchHost]) -> None:
    """The hosts running the example app (group ``example``) in the ``staging`` group, reached
    as tests/e2e does, reading ``SSM_PATH``."""
    entries = [
        (h.name, {**lab.connection_data(h.ssh_port), "ssm_path": SSM_PATH, "app_port": h.app_port})
        for h in hosts
    ]
    path.write_text(f"_hosts = {entries!r}\nexample = _hosts\nstaging = _hosts\n")


def snapshot(into: Path, attempts: int = 4) -> Path:
    """A copy of the work tree to run every pyinfra of the benchmark from, so that edits made
    while it runs (minutes) do not mix into its figures. A copy whose Python does not compile
    (a file caught mid-edit) is taken again a little later."""
    for attempt in range(attempts):
        shutil.rmtree(into, ignore_errors=True)
        shutil.copytree(REPO, into, ignore=_NOT_COPIED)
        if compileall.compile_dir(into, quiet=2):
            return into
        if attempt + 1 < attempts:
            progress("the work tree does not compile (a file mid-edit?); copying again in 15s")
            time.sleep(15)
    raise BenchError(f"the work tree's Python does not compile ({REPO}); nothing was measured")


def commands_per_host(output: str) -> dict[str, list[str]]:
    """Host name -> the first line of each command pyinfra sent it, from a ``-vv`` output."""
    commands: dict[str, list[str]] = {}
    for match in _COMMAND_LINE.finditer(_ANSI.sub("", output)):
        commands.setdefault(match["host"], []).append(match["command"])
    return commands


class Runner:
    """Runs the scenarios against one set of hosts, through the proxy that counts API calls."""

    def __init__(
        self,
        tree: Path,
        proxy: FaultProxy,
        moto_port: int,
        workdir: Path,
        logs: Path | None,
        rollout_batch: int | None,
    ) -> None:
        self.tree = tree
        self.proxy = proxy
        self.rollout_batch = rollout_batch
        self.moto_port = moto_port
        self.workdir = workdir
        self.logs = logs
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env = {**env, **aws.environment(proxy.port)}
        self._rotations = itertools.count(1)

    def pyinfra(
        self, inventory: Path, deploy: str, verbose: bool, log_name: str, *args: str,
        cwd: Path | None = None,
    ) -> Measure:
        """One real ``pyinfra -y`` run (from the work tree's copy, or ``cwd``); its wall time, SSM
        calls, commands and changes."""
        command = [str(PYINFRA), "-y", str(inventory), deploy, *args]
        if verbose:
            command.append("-vv")
        self.proxy.reset_counts()
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=cwd or self.tree, env=self.env, capture_output=True, text=True,
            timeout=1800,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        output = result.stdout + result.stderr
        if self.logs:
            (self.logs / f"{log_name}.log").write_text(output)
        if result.returncode != 0:
            tail = "\n".join(output.splitlines()[-40:])
            raise BenchError(
                f"{shlex.join(command[1:])} failed (exit {result.returncode}):\n{tail}"
            )
        changed = {name: n for name, n in parse_results(output).items() if n}
        return Measure(
            seconds,
            Counter(self.proxy.forwarded),
            commands_per_host(output) if verbose else None,
            changed,
        )

    def rotate(self) -> None:
        """Give the rotated parameter a new value, straight to the stand-in (not counted)."""
        aws.seed(self.moto_port, {ROTATED: f"FAKE-bench-rotated-{next(self._rotations)}"})

    def cycle(self, count: int, verbose: bool, label: str) -> dict[str, Measure]:
        """Boot ``count`` fresh hosts, measure every scenario on them, power them off."""
        started = time.perf_counter()
        hosts = boot(count)
        progress(f"{label}: booted {count} hosts in {time.perf_counter() - started:.1f}s")
        try:
            inventory = self.workdir / f"bench_{count}.py"
            write_inventory(inventory, hosts)
            batch = ["--data", f"rollout_batch={self.rollout_batch or count}",
                     "--data", "rollout_canary=0"]  # fmt: skip

            def deploy(scenario: str) -> Measure:
                if scenario == ROTATION:
                    self.rotate()
                log = f"{label}-{scenario}"
                return self.pyinfra(inventory, "deploy.py", verbose, log, *WEB_ONLY, *batch)

            def rolling() -> Measure:
                self.rotate()  # the deploy's own rollout: no batch given
                return self.pyinfra(
                    inventory, "deploy.py", verbose, f"{label}-{ROLLING}", *WEB_ONLY
                )

            measures: dict[str, Measure] = {}
            steps: list[tuple[str, Callable[[], Measure]]] = [
                (FIRST, lambda: deploy(FIRST)),
                (NOOP, lambda: deploy(NOOP)),
                (
                    PYINFRA_TRUE,
                    lambda: self.pyinfra(
                        inventory, "bench/true_deploy.py", verbose, f"{label}-true",
                        *PLAIN_PYINFRA,
                    ),
                ),
                (SSH_TRUE, lambda: Measure(ssh_fanout(hosts))),
                (ROTATION, lambda: deploy(ROTATION)),
                (ROLLING, lambda: rolling()),
            ]
            for scenario, step in steps:
                measures[scenario] = step()
            progress(f"{label}: " + ", ".join(f"{s} {m.seconds:.1f}s" for s, m in measures.items()))
            return measures
        finally:
            power_off(hosts)


def peer_cycle(runner: Runner, count: int, verbose: bool, label: str) -> dict[str, Measure]:
    """The peer's first deploy, no-op and rotation on ``count`` fresh hosts of its own."""
    hosts = boot(count)
    progress(f"{label}: booted {count} hosts for the peer")
    try:
        inventory = runner.workdir / f"peer_{count}.py"
        entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port})
                   for h in hosts]  # fmt: skip
        inventory.write_text(f"hosts = {entries!r}\n")
        measures = {}
        for scenario in PEERS:
            if scenario != PEER_NOOP:  # the first deploy and the rotation: new values
                tag = f"{label}-{scenario}"
                aws.seed(runner.moto_port, {f"{PEER_PATH}/KEY_{i:03d}": f"value-{i}-{tag}"
                                            for i in range(PEER_PARAMETERS)})  # fmt: skip
            measures[scenario] = runner.pyinfra(
                inventory, "deploy.py", verbose, f"{label}-{scenario}", "--sudo", cwd=PEER
            )
        progress(f"{label}: " + ", ".join(f"{s} {m.seconds:.1f}s" for s, m in measures.items()))
        return measures
    finally:
        power_off(hosts)


def ansible_playbook() -> tuple[Path | None, str]:
    """``ansible-playbook`` from the benchmark's own virtualenv, installed on first use; or
    ``None`` and why it could not be."""
    playbook = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if playbook.exists():
        return playbook, ""
    progress(f"installing ansible into {ANSIBLE_VENV} (once)")
    for step in (["python3", "-m", "venv", str(ANSIBLE_VENV)],
                 [str(ANSIBLE_VENV / "bin" / "pip"), "install", "--quiet",
                  "--disable-pip-version-check", "ansible", "boto3"]):  # fmt: skip
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"`{shlex.join(step[:3])}` failed: {e}"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"`{shlex.join(step[:3])}` failed: {last}"
    return playbook, ""


def ansible_cycle(
    runner: Runner, playbook: Path, count: int, label: str
) -> dict[str, Measure]:
    """The Ansible peer's first deploy, no-op and rotation on ``count`` fresh hosts of its own,
    ``count`` forks (Ansible's default is 5: a user with many hosts raises it)."""
    hosts = boot(count)
    progress(f"{label}: booted {count} hosts for Ansible")
    try:
        inventory = runner.workdir / f"ansible_{count}.ini"
        key = lab.key_path()
        inventory.write_text("[all]\n" + "".join(
            f"{h.name} ansible_host=127.0.0.1 ansible_port={h.ssh_port} ansible_user={lab.USER} "
            f"ansible_ssh_private_key_file={key} app_port={h.app_port}\n" for h in hosts
        ))  # fmt: skip
        env = {**runner.env, "ANSIBLE_HOST_KEY_CHECKING": "False",
               "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3"}  # fmt: skip
        measures = {}
        for scenario in ANSIBLE:
            if scenario != ANSIBLE_NOOP:
                tag = f"{label}-{scenario}"
                aws.seed(runner.moto_port, {f"{PEER_PATH}/KEY_{i:03d}": f"value-{i}-{tag}"
                                            for i in range(PEER_PARAMETERS)})  # fmt: skip
            command = [str(playbook), "-i", str(inventory), "--become", "-f", str(count),
                       "playbook.yml"]  # fmt: skip
            runner.proxy.reset_counts()
            started = time.perf_counter()
            result = subprocess.run(command, cwd=PEER, env=env, capture_output=True, text=True,
                                    timeout=1800)  # fmt: skip
            seconds = time.perf_counter() - started
            if runner.logs:
                (runner.logs / f"{label}-{scenario}.log").write_text(result.stdout + result.stderr)
            if result.returncode != 0:
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
                raise BenchError(f"ansible-playbook failed (exit {result.returncode}):\n{tail}")
            measures[scenario] = Measure(seconds, Counter(runner.proxy.forwarded))
        progress(f"{label}: " + ", ".join(f"{s} {m.seconds:.1f}s" for s, m in measures.items()))
        return measures
    finally:
        power_off(hosts)


def ssh_fanout(hosts: Sequence[BenchHost]) -> float:
    """Seconds for ``ssh HOST true`` on every host at once, each its own OpenSSH process."""

    def one(host: BenchHost) -> None:
        # A login of its own each (not the lab's shared connection): what SSH itself costs.
        subprocess.run([*lab.ssh_args(host.ssh_port, shared=False), "true"], check=True,
                       capture_output=True, timeout=60)  # fmt: skip

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(one, hosts))
    return time.perf_counter() - started


def progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# Results: hosts -> scenario -> one Measure per timed run; and the -vv run's Measures.
Timed = dict[int, dict[str, list[Measure]]]
Counted = dict[int, dict[str, Measure]]


def _per_host(measure: Measure | None, count: int) -> str:
    if measure is None or measure.commands is None:
        return "–"
    counts = [len(measure.commands.get(f"{PREFIX}-{i + 1}", [])) for i in range(count)]
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}–{high}"


def _calls(measures: list[Measure]) -> str:
    totals = [sum(m.calls.values()) for m in measures]
    operations = sorted(set().union(*(m.calls for m in measures)))
    low, high = min(totals), max(totals)
    text = str(low) if low == high else f"{low}–{high}"
    return f"{text} ({', '.join(operations)})" if operations else text


def _median(timed: Timed, n: int, scenario: str) -> float:
    return statistics.median(m.seconds for m in timed[n][scenario])


def rows(timed: Timed, counted: Counted, no_ansible: str = "") -> list[results.Row]:
    """One row per number of hosts and scenario, the toolkit's rows with their ratio to the peer
    doing the same job on the same kind of hosts in the same run."""
    found: list[results.Row] = []
    for count, scenarios in timed.items():
        for scenario in (*DEPLOYS, *PEERS, *ANSIBLE, SSH_TRUE, PYINFRA_TRUE):
            label = LABELS[scenario]
            if scenario in ANSIBLE and scenario not in scenarios:
                found.append(results.Row(count, scenario, label, 0, None, None, None,
                                         not_run=no_ansible))  # fmt: skip
                continue
            measures = scenarios[scenario]
            seconds = [m.seconds for m in measures]
            spread = (statistics.median(seconds), min(seconds), max(seconds))
            if scenario in ANSIBLE:  # timed only: no -vv run to count its commands
                found.append(results.Row(count, scenario, label, len(measures), *spread,
                                         calls=_calls(measures)))  # fmt: skip
                continue
            per_host = "1" if scenario == SSH_TRUE else _per_host(counted[count][scenario], count)
            calls = "–" if scenario == SSH_TRUE else _calls([*measures, counted[count][scenario]])
            ratio = "–"
            if scenario in PEER_OF:
                peer = _median(timed, count, PEER_OF[scenario])
                ratio = f"{_median(timed, count, scenario) / peer:.2f}×"
            found.append(results.Row(count, scenario, label, len(measures), *spread, ratio,
                                     per_host, calls))  # fmt: skip
    return found


def table(timed: Timed, counted: Counted, no_ansible: str = "") -> str:
    """The markdown table of ``rows``."""
    return results.render(rows(timed, counted, no_ansible))


def marginal(timed: Timed) -> list[str]:
    """Per scenario, what each host added between one number of hosts and the next."""
    counts = sorted(timed)
    lines = []
    for scenario in (*DEPLOYS, *PEERS):
        steps = []
        for low, high in itertools.pairwise(counts):
            added = _median(timed, high, scenario) - _median(timed, low, scenario)
            steps.append(f"{low}→{high}: {added / (high - low) * 1000:.0f} ms")
        if steps:
            lines.append(f"{LABELS[scenario]}, per added host: " + ", ".join(steps))
    return lines


def targets(timed: Timed, counted: Counted) -> list[tuple[bool, str]]:
    """The issue's targets, each with whether it holds and the figures behind it."""
    checks: list[tuple[bool, str]] = []
    median = {
        (n, s): statistics.median(m.seconds for m in runs)
        for n, scenarios in timed.items()
        for s, runs in scenarios.items()
    }
    for n in timed:
        noop = counted[n][NOOP].commands or {}
        most = max((len(c) for c in noop.values()), default=0)
        checks.append((most <= 1, f"{n} hosts: no-op redeploy sends at most {most} remote "
                       "commands per host (target: 1)"))  # fmt: skip
        first = counted[n][FIRST].commands or {}
        most = max((len(c) for c in first.values()), default=0)
        checks.append((most <= 4, f"{n} hosts: first deploy sends at most {most} remote "
                       "commands per host (target ≤ 4)"))  # fmt: skip
        noops = (*timed[n][NOOP], counted[n][NOOP])
        changed = {op: hosts for m in noops for op, hosts in m.changed.items()}
        checks.append((not changed, f"{n} hosts: no-op redeploy changed {changed or 'nothing'}"))
        for scenario in (ROTATION, ROLLING):
            rotated = min(max(m.changed.values(), default=0)
                          for m in (*timed[n][scenario], counted[n][scenario]))  # fmt: skip
            checks.append((rotated == n, f"{n} hosts: {LABELS[scenario]} changed {rotated} of "
                           f"{n} hosts"))  # fmt: skip
    for n in (n for n in timed if n >= 10):
        ratio = median[n, NOOP] / median[n, PYINFRA_TRUE]
        checks.append((ratio <= 1.2, f"{n} hosts: no-op redeploy takes {ratio:.2f}× the pyinfra "
                       f"`true` reference ({median[n, NOOP]:.2f}s vs "
                       f"{median[n, PYINFRA_TRUE]:.2f}s; target ≤ 1.2×)"))  # fmt: skip
        ratio = median[n, FIRST] / median[n, PEER_FIRST]
        checks.append((ratio <= 1, f"{n} hosts: first deploy takes {ratio:.2f}× the plain "
                       f"pyinfra peer's ({median[n, FIRST]:.2f}s vs {median[n, PEER_FIRST]:.2f}s; "
                       "target ≤ 1×)"))  # fmt: skip
    if 1 in timed:
        # One host's health-gated activation: its rotation less the no-op's cost.
        activation = median[1, ROLLING] - median[1, NOOP]
        for n in (n for n in timed if n >= 50):
            bound = 3 * activation + median[n, NOOP]
            checks.append((median[n, ROLLING] <= bound, f"{n} hosts: default rollout rotation "
                           f"{median[n, ROLLING]:.2f}s (target ≤ 3 × one host's activation "
                           f"{activation:.2f}s + the no-op {median[n, NOOP]:.2f}s = "
                           f"{bound:.2f}s)"))  # fmt: skip
    for scenario in DEPLOYS:
        totals = {
            n: {sum(m.calls.values()) for m in (*timed[n][scenario], counted[n][scenario])}
            for n in timed
        }
        same = len(set().union(*totals.values())) == 1
        checks.append(
            (
                same,
                f"{LABELS[scenario]}: SSM API calls per run by hosts "
                + ", ".join(f"{n}: {sorted(t)}" for n, t in totals.items()),
            )
        )
    return checks


def noop_commands(counted: Counted) -> list[str]:
    """The commands one host got in the no-op run, for each number of hosts where that was
    more than the target's 1."""
    lines = []
    for n, measures in counted.items():
        commands = measures[NOOP].commands or {}
        host, sent = max(commands.items(), key=lambda item: len(item[1]), default=("", []))
        if len(sent) > 1:
            lines.append(f"no-op redeploy on {n} hosts, commands sent to {host}:")
            lines += [f"    {c[:160]}" for c in sent]
    return lines


def parser() -> argparse.ArgumentParser:
    """The command line (the docs' examples are checked against it)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.deploy", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--hosts",
        type=lambda s: [int(n) for n in s.split(",")],
        default=[1, 10, 50],
        help="numbers of hosts, comma-separated (default: 1,10,50)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs per number of hosts")
    parser.add_argument(
        "--large-runs", type=int, default=2, help=f"timed runs above {LARGE} hosts (default: 2)"
    )
    parser.add_argument(
        "--rollout-batch",
        type=lambda s: None if s == "all" else int(s),
        default=None,
        metavar="N|all",
        help="hosts activated at a time (the deploy's rollout_batch; default: all of them)",
    )
    parser.add_argument("--logs", type=Path, help="keep each pyinfra run's output in this dir")
    parser.add_argument("--no-ansible", dest="ansible", action="store_false",
                        help="leave the Ansible peer out")  # fmt: skip
    parser.add_argument("--results", type=Path, default=results.LATEST,
                        help="where to keep the figures of a complete run, which "
                        "docs/performance.md shows (default: bench/results/deploy.json); its plot "
                        "goes into docs/ (python -m bench.plot)")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    load = os.getloadavg()[0]
    timed: Timed = {}
    counted: Counted = {}
    planned: dict[int, int] = {}
    moto_port = free_port()
    failed = None
    no_ansible = ""
    lab.down(PREFIX)  # leftovers of an interrupted run hold the ports
    with tempfile.TemporaryDirectory(prefix="ssmenv-bench-") as tmp:
        moto = aws.start(moto_port, Path(tmp) / "moto.log")
        try:
            aws.seed(moto_port, PARAMETERS)
            # No fault: the proxy only counts the calls that reach the stand-in, per operation.
            with FaultProxy(f"http://127.0.0.1:{moto_port}") as proxy:
                tree = snapshot(Path(tmp) / "tree")
                runner = Runner(tree, proxy, moto_port, Path(tmp), args.logs, args.rollout_batch)
                playbook, no_ansible = (None, "not asked for (--no-ansible)")
                if args.ansible:
                    playbook, no_ansible = ansible_playbook()
                for n in args.hosts:
                    planned[n] = args.runs if n <= LARGE else min(args.runs, args.large_runs)
                    # The counting run goes first: it also warms the image into the page cache.
                    counted[n] = runner.cycle(n, verbose=True, label=f"{n}-vv")
                    counted[n] |= peer_cycle(runner, n, verbose=True, label=f"{n}-peer-vv")
                    timed[n] = {}
                    for run in range(planned[n]):
                        label = f"{n}-run{run + 1}"
                        measured = runner.cycle(n, verbose=False, label=label)
                        measured |= peer_cycle(runner, n, verbose=False, label=f"{label}-peer")
                        if playbook is not None:
                            measured |= ansible_cycle(runner, playbook, n, f"{label}-ansible")
                        for scenario, measure in measured.items():
                            timed[n].setdefault(scenario, []).append(measure)
        except BenchError as e:
            failed = e
        finally:
            lab.down(PREFIX)
            moto.terminate()
            moto.wait(timeout=10)

    complete = [n for n in timed if len(timed[n].get(NOOP, [])) == planned[n]]
    timed = {n: timed[n] for n in complete}
    counted = {n: counted[n] for n in complete}
    seconds = time.perf_counter() - started
    checks = report(args, timed, counted, load, seconds, no_ansible) if timed else []
    if failed:
        print(f"benchmark failed: {failed}", file=sys.stderr)
        return 2
    keep(args, timed, counted, load, no_ansible)
    return 0 if all(ok for ok, _ in checks) else 1


def _commit() -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    ).stdout.strip()


def keep(
    args: argparse.Namespace, timed: Timed, counted: Counted, load: float, no_ansible: str
) -> None:
    """Keep a complete run's figures (``bench.results``) with the date and commit they measured,
    and draw their plot (``bench.plot``: matplotlib, which ``make bench`` installs)."""
    measured = results.Results(
        date=time.strftime("%Y-%m-%d", time.gmtime()),
        commit=_commit() or "?",
        cpus=os.cpu_count() or 0,
        load=round(load, 1),
        command=f"python -m bench.deploy --hosts {','.join(map(str, timed))} --runs {args.runs} "
        f"--large-runs {args.large_runs}",
        rows=tuple(rows(timed, counted, no_ansible)),
    )
    results.dump(measured, args.results)
    print(f"\nfigures kept in {args.results}; docs/performance.md shows them "
          "(python -m bench.results prints its table)")  # fmt: skip
    try:
        from bench import plot
    except ImportError as e:  # matplotlib: requirements-docs.txt
        print(f"no plot drawn ({e}): make docs installs matplotlib; then python -m bench.plot")
        return
    print(f"plot drawn: {plot.draw(measured)}")


def report(
    args: argparse.Namespace, timed: Timed, counted: Counted, load: float, seconds: float,
    no_ansible: str = "",
) -> list[tuple[bool, str]]:
    """Print the header, the table and the targets; return the targets."""
    runs_note = ", ".join(f"{n} hosts: {len(timed[n][NOOP])}" for n in timed)
    batch = "all" if args.rollout_batch is None else args.rollout_batch
    commit = _commit()
    print(
        f"`python -m bench.deploy --hosts {','.join(map(str, timed))} --runs {args.runs} "
        f"--large-runs {args.large_runs} --rollout-batch {batch}`, work tree {commit or '?'}, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at start), {seconds / 60:.1f} minutes "
        f"in all. Timed runs per row ({runs_note}) each boot fresh hosts and run `pyinfra -y`; "
        f"activation `rollout_batch={batch}`. Commands per host come from one more run per "
        "number of hosts with `-vv` (not timed; the release travels on the provisioning command's "
        "stdin). The peer runs on fresh hosts of its own, booted the same way. SSM API calls are "
        "counted by a proxy in front of the stand-in, over every run.\n"
    )
    print(table(timed, counted, no_ansible))
    print()
    for line in marginal(timed):
        print(f"- {line}")
    checks = targets(timed, counted)
    print()
    for ok, text in checks:
        print(f"- {'✓' if ok else '✗'} {text}")
    for line in noop_commands(counted):
        print(line)
    return checks


if __name__ == "__main__":
    sys.exit(main())
