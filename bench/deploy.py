"""Benchmark: what a deploy costs on 1, 10 and 50 local test hosts.

    .venv/bin/python -m bench.deploy [--hosts 1,10,50] [--runs 3] [--large-runs 2]
                                     [--rollout-batch N|all] [--logs DIR]

For each number of hosts N and each run, N fresh test hosts are booted (``lab.hosts``, prefix
``bench``) and the real ``pyinfra -y`` CLI deploys the example app onto them three times: a first
deploy, a redeploy with nothing new (no-op), and a redeploy after one SSM parameter changed
(rotation). In the same run, on the same hosts, two references: ``ssh HOST true`` to every host at
once, and pyinfra running a single ``server.shell("true")`` (``bench/true_deploy.py``). The
table gives median wall seconds (min-max), remote commands per host and SSM API calls per run.

Remote commands are counted in one more run per N, with ``-vv`` (pyinfra prints each command it
sends as ``[host] >>> ...``); that run is not timed, since printing costs time. SSM API calls are
counted per operation by the lab's HTTP proxy (``lab.faults``, injecting no fault) between boto3
and the AWS stand-in (moto server); the benchmark seeds and rotates parameters behind the
proxy's back, so only the deploy's calls count. Hosts above 20 get ``--large-runs`` timed runs
(a 50-host cycle takes minutes here).

Activation runs on all hosts at once (``--data rollout_batch=N``) unless ``--rollout-batch`` says
otherwise: the deploy's default, one host at a time, adds the app's start and health settle time
per host, which says nothing about the toolkit's own cost. Every run uses a copy of the work
tree taken at the start, so edits made meanwhile do not mix into the figures.

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
FIRST, NOOP, PYINFRA_TRUE, SSH_TRUE, ROTATION = (
    "first", "noop", "pyinfra_true", "ssh_true", "rotation",
)  # fmt: skip
LABELS = {
    FIRST: "first deploy",
    NOOP: "no-op redeploy",
    ROTATION: "rotate one parameter",
    SSH_TRUE: "reference: `ssh true` fan-out",
    PYINFRA_TRUE: 'reference: pyinfra `server.shell("true")`',
}
DEPLOYS = (FIRST, NOOP, ROTATION)

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


def boot(count: int) -> list[BenchHost]:
    """Boot ``count`` fresh hosts ``bench-1..N`` and wait until each answers SSH with sudo."""
    # Each container's systemd takes inotify instances, out of one budget for all root's
    # containers: the default 128 runs out near 20, counting other suites' hosts (lab.hosts.up
    # raises it only when it boots more than 20 itself).
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(limit.read_text()) < 8192:
        limit.write_text("8192\n")
    booted: list[BenchHost] = []
    try:
        for i, (ssh_port, app_port) in enumerate(pick_ports(count)):
            booted.append(BenchHost(lab.boot(f"{PREFIX}-{i + 1}", ssh_port), app_port))
        for host in booted:
            lab.wait_ready(host.lab)
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
    """The hosts in the ``staging`` group, reached as tests/e2e does, reading ``SSM_PATH``."""
    entries = [
        (h.name, {**lab.connection_data(h.ssh_port), "ssm_path": SSM_PATH, "app_port": h.app_port})
        for h in hosts
    ]
    path.write_text(f"staging = {entries!r}\n")


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
        self, inventory: Path, deploy: str, verbose: bool, log_name: str, *args: str
    ) -> Measure:
        """One real ``pyinfra -y`` run; its wall time, SSM calls, commands and changes."""
        command = [str(PYINFRA), "-y", str(inventory), deploy, *args]
        if verbose:
            command.append("-vv")
        self.proxy.reset_counts()
        started = time.perf_counter()
        result = subprocess.run(
            command, cwd=self.tree, env=self.env, capture_output=True, text=True, timeout=1800
        )
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
            batch = ["--data", f"rollout_batch={self.rollout_batch or count}"]

            def deploy(scenario: str) -> Measure:
                if scenario == ROTATION:
                    self.rotate()
                log = f"{label}-{scenario}"
                return self.pyinfra(inventory, "deploy.py", verbose, log, *batch)

            measures: dict[str, Measure] = {}
            steps: list[tuple[str, Callable[[], Measure]]] = [
                (FIRST, lambda: deploy(FIRST)),
                (NOOP, lambda: deploy(NOOP)),
                (
                    PYINFRA_TRUE,
                    lambda: self.pyinfra(
                        inventory, "bench/true_deploy.py", verbose, f"{label}-true"
                    ),
                ),
                (SSH_TRUE, lambda: Measure(ssh_fanout(hosts))),
                (ROTATION, lambda: deploy(ROTATION)),
            ]
            for scenario, step in steps:
                measures[scenario] = step()
            progress(f"{label}: " + ", ".join(f"{s} {m.seconds:.1f}s" for s, m in measures.items()))
            return measures
        finally:
            power_off(hosts)


def ssh_fanout(hosts: Sequence[BenchHost]) -> float:
    """Seconds for ``ssh HOST true`` on every host at once, each its own OpenSSH process."""

    def one(host: BenchHost) -> None:
        subprocess.run(
            [*lab.ssh_args(host.ssh_port), "true"], check=True, capture_output=True, timeout=60
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(one, hosts))
    return time.perf_counter() - started


def progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# Results: hosts -> scenario -> one Measure per timed run; and the -vv run's Measures.
Timed = dict[int, dict[str, list[Measure]]]
Counted = dict[int, dict[str, Measure]]


def _seconds(measures: list[Measure]) -> str:
    values = [m.seconds for m in measures]
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


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


def table(timed: Timed, counted: Counted) -> str:
    """The markdown table: one row per number of hosts and scenario."""
    rows = [
        "| hosts | runs | what | wall seconds: median (min–max) | remote commands per host "
        "| SSM API calls per run |",
        "| ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for count, scenarios in timed.items():
        for scenario in (*DEPLOYS, SSH_TRUE, PYINFRA_TRUE):
            measures = scenarios[scenario]
            per_host = "1" if scenario == SSH_TRUE else _per_host(counted[count][scenario], count)
            calls = "–" if scenario == SSH_TRUE else _calls([*measures, counted[count][scenario]])
            rows.append(
                f"| {count} | {len(measures)} | {LABELS[scenario]} | {_seconds(measures)} "
                f"| {per_host} | {calls} |"
            )
    return "\n".join(rows)


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
        checks.append(
            (
                most <= 3,
                f"{n} hosts: no-op redeploy sends at most {most} remote commands per host "
                "(target ≤ 3)",
            )
        )
        noops = (*timed[n][NOOP], counted[n][NOOP])
        changed = {op: hosts for m in noops for op, hosts in m.changed.items()}
        checks.append((not changed, f"{n} hosts: no-op redeploy changed {changed or 'nothing'}"))
        rotated = min(
            max(m.changed.values(), default=0) for m in (*timed[n][ROTATION], counted[n][ROTATION])
        )
        checks.append((rotated == n, f"{n} hosts: rotation changed {rotated} of {n} hosts"))
    for n in (n for n in timed if n >= 10):
        ratio = median[n, NOOP] / median[n, PYINFRA_TRUE]
        checks.append(
            (
                ratio <= 2,
                f"{n} hosts: no-op redeploy takes {ratio:.2f}× the pyinfra `true` reference "
                f"({median[n, NOOP]:.2f}s vs {median[n, PYINFRA_TRUE]:.2f}s; target ≤ 2×)",
            )
        )
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
    if 10 in timed and 50 in timed:
        for scenario in DEPLOYS:
            growth = median[50, scenario] / median[10, scenario]
            checks.append(
                (
                    growth < 5,
                    f"{LABELS[scenario]}: 10 → 50 hosts takes {growth:.2f}× the time (linear: 5×)",
                )
            )
    return checks


def noop_commands(counted: Counted) -> list[str]:
    """The commands one host got in the no-op run, for each number of hosts where that was
    more than the target's 3."""
    lines = []
    for n, measures in counted.items():
        commands = measures[NOOP].commands or {}
        host, sent = max(commands.items(), key=lambda item: len(item[1]), default=("", []))
        if len(sent) > 3:
            lines.append(f"no-op redeploy on {n} hosts, commands sent to {host}:")
            lines += [f"    {c[:160]}" for c in sent]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    load = os.getloadavg()[0]
    timed: Timed = {}
    counted: Counted = {}
    planned: dict[int, int] = {}
    moto_port = free_port()
    failed = None
    lab.down(PREFIX)  # leftovers of an interrupted run hold the ports
    with tempfile.TemporaryDirectory(prefix="ssmenv-bench-") as tmp:
        moto = aws.start(moto_port, Path(tmp) / "moto.log")
        try:
            aws.seed(moto_port, PARAMETERS)
            # No fault: the proxy only counts the calls that reach the stand-in, per operation.
            with FaultProxy(f"http://127.0.0.1:{moto_port}") as proxy:
                tree = snapshot(Path(tmp) / "tree")
                runner = Runner(tree, proxy, moto_port, Path(tmp), args.logs, args.rollout_batch)
                for n in args.hosts:
                    planned[n] = args.runs if n <= LARGE else min(args.runs, args.large_runs)
                    # The counting run goes first: it also warms the image into the page cache.
                    counted[n] = runner.cycle(n, verbose=True, label=f"{n}-vv")
                    timed[n] = {}
                    for run in range(planned[n]):
                        for scenario, measure in runner.cycle(
                            n, verbose=False, label=f"{n}-run{run + 1}"
                        ).items():
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
    checks = report(args, timed, counted, load, time.perf_counter() - started) if timed else []
    if failed:
        print(f"benchmark failed: {failed}", file=sys.stderr)
        return 2
    return 0 if all(ok for ok, _ in checks) else 1


def report(
    args: argparse.Namespace, timed: Timed, counted: Counted, load: float, seconds: float
) -> list[tuple[bool, str]]:
    """Print the header, the table and the targets; return the targets."""
    runs_note = ", ".join(f"{n} hosts: {len(timed[n][NOOP])}" for n in timed)
    batch = "all" if args.rollout_batch is None else args.rollout_batch
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(
        f"`python -m bench.deploy --hosts {','.join(map(str, timed))} --runs {args.runs} "
        f"--large-runs {args.large_runs} --rollout-batch {batch}`, work tree {commit or '?'}, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at start), {seconds / 60:.1f} minutes "
        f"in all. Timed runs per row ({runs_note}) each boot fresh hosts and run `pyinfra -y`; "
        f"activation `rollout_batch={batch}`. Commands per host come from one more run per "
        "number of hosts with `-vv` (not timed); SFTP uploads are not commands (the first deploy "
        "uploads one release archive per host). SSM API calls are counted by a proxy in front of "
        "the stand-in, over every run.\n"
    )
    print(table(timed, counted))
    checks = targets(timed, counted)
    print()
    for ok, text in checks:
        print(f"- {'✓' if ok else '✗'} {text}")
    for line in noop_commands(counted):
        print(line)
    return checks


if __name__ == "__main__":
    sys.exit(main())
