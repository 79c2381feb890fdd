"""Benchmark: a rotation of one value reaching N hosts, three ways, on the same hosts in one run:
the push rollout, the fleet command through Run Command, and the agents' timers.

    .venv/bin/python -m bench.fleet [--hosts 50] [--prefix bench-fleet] [--poll 5]
        [--pull-period 60s] [--pull-jitter 30s] [--results bench/results/fleet.json]

As root. Boots N lab hosts of the ``agent`` image (``bench.deploy.boot``), starts the AWS
stand-in with the example app's parameters (examples/ssm/staging.json), N EC2 instances in it, a
metadata stand-in serving the hosts' instance role, and call-counting proxies (``lab.faults``, no
fault) in front of SSM: one for the control machine (pyinfra, the fleet command) and one for each
host's agent, so every SSM call is counted, and per host. Then, each time after putting a new,
obviously fake value of ``API_KEY`` straight into the stand-in (not counted):

1. **push**: the first deploy (``delivery = "push"``, not measured), then the rotation: ``pyinfra
   -y INVENTORY deploy.py`` with the deploy's own rollout (a canary, then ``rollout_batch``,
   50%); wall time from the put to the deploy's end;
2. a deploy with ``delivery = "pull"`` hands the app to each host's agent (``pull_period = 1h``:
   no timer runs during the next step; not measured);
3. **fleet**: ``python -m ssmenv fleet rollout`` with the same pace, the lab playing Run
   Command's part (``lab.run_command``: the document's lines on each instance's host over SSH as
   root, ``MaxConcurrency`` at a time); wall time from the put to the command's end, each host's
   sync time (SSH's own included) and what each command adds beyond its syncs;
4. a deploy that sets the bench's short ``--pull-period`` and ``--pull-jitter`` (not the
   defaults: 15min and 5min; not measured, and it must restart nothing);
5. **timer**: nothing sent; the time from the put until every host's app serves the value.

Each host's app is watched through its own ``/fingerprints`` (the sha256 of each value, never a
value) from the put on: when it first serves the new value. After each rotation every host's app
process is checked exactly (``/proc/<pid>/environ``, read as root over SSH, compared here, never
printed), its activations counted in its journal (one restart per rotation expected) and, for
the timer, its syncs. Prints one table (wall time, each host's time, SSM calls in all and per
host per sync, restarts, the machine's load average before and after each), the estimates for
500 and 5,000 instances (``bench.scale``), and keeps them in ``--results``. Exit status 1 when a
host did not reach the value, or restarted other than once, or a step changed what it should
not; 2 when a step failed. ``make bench-fleet`` runs it (``BENCH_FLEET_ARGS``); ``make bench``
runs it after bench-pull. Every host the run boots is powered off at its end, whatever happens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import scale
from bench.deploy import PYINFRA, WEB_ONLY, BenchError, BenchHost, boot, power_off, snapshot
from lab import aws, imds
from lab import hosts as lab
from lab.faults import FaultProxy
from lab.ports import free_port
from lab.run_command import RunCommand
from ssmenv.plan import fleet as plan
from ssmenv.publication import seconds as span
from ssmenv.scrub import scrub

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "fleet.json"
APP = "example-app"
WEB = f"{APP}-web.service"
SYNC_UNIT = f"ssmenv-sync-{APP}.service"
PARAMETERS = REPO / "examples" / "ssm" / "staging.json"
KEY = "API_KEY"
ROTATED = f"/example-app/staging/{KEY}"
#: Parameter Store's Get calls, which share its throughput (40 a second by default).
GETS = ("GetParameter", "GetParameters", "GetParametersByPath")
#: Where the SSM Agent writes a command's script before running it with sh.
SCRIPT = "/var/lib/amazon/ssm/ssmenv-fleet/_script.sh"
PUSH, FLEET, TIMER = "push", "fleet", "timer"
LABELS = {
    PUSH: "push: pyinfra deploy.py (canary, then 50%)",
    FLEET: "pull: fleet rollout through Run Command (canary, then 50%)",
    TIMER: "pull: the agents' timers",
}
_ACTIVATION = re.compile(rf"{APP}: activation \d+ begins")
_SYNC_END = re.compile(rf"^{APP}: (unchanged|changed|error|refused|rolled back|broken|locked)$",
                       re.M)  # fmt: skip


def progress(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- what was measured, and its summary (pure) -------------------------------------------------


@dataclass
class Rotation:
    """One way of rotating, measured: from the put of the new value on."""

    how: str
    seconds: float  # from the put until the step's end: the deploy's, the command's, or the last
    # host serving the value (the timer)
    reached: dict[str, float | None]  # host -> seconds from the put until its app served it
    exact: dict[str, bool]  # host -> its app's process has exactly the new value
    restarts: dict[str, int]  # host -> activations in its journal since the put
    control: dict[str, int]  # SSM calls of the control machine, by operation
    hosts: dict[str, dict[str, int]]  # host -> its agent's SSM calls, by operation
    syncs: dict[str, int]  # host -> syncs of its agent since the put
    load: tuple[float, float]  # this machine's load average before and after
    notes: list[str] = field(default_factory=list)
    took: dict[str, float] = field(default_factory=dict)  # fleet: host -> its sync, s
    commands: int = 0  # fleet: Run Command commands sent
    canary: list[str] = field(default_factory=list)  # fleet: the hosts of the first command
    idle: float = 0.0  # fleet: seconds of the rollout when no host was syncing


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    how: str
    hosts: int
    seconds: float
    reached: str  # each host's time: median (min-max)
    gets: int  # Parameter Store Get calls in all, control and hosts
    per_sync: str  # Get calls per host per sync
    other: str  # other SSM calls (Run Command's API), by operation
    syncs: int
    restarts: str
    exact: int  # hosts whose app has exactly the value
    load: str


def _spread(values: Sequence[float], digits: int = 1) -> str:
    if not values:
        return "–"
    low, high = min(values), max(values)
    middle = statistics.median(values)
    if low == high:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def summary(r: Rotation) -> Row:
    """The table's line of one rotation."""
    reached = [s for s in r.reached.values() if s is not None]
    gets = sum(n for op, n in r.control.items() if op in GETS) + \
        sum(n for calls in r.hosts.values() for op, n in calls.items() if op in GETS)  # fmt: skip
    per_sync = []
    for name, calls in r.hosts.items():
        if r.syncs.get(name):
            per_sync.append(sum(n for op, n in calls.items() if op in GETS) / r.syncs[name])
    other = Counter({op: n for op, n in r.control.items() if op not in GETS})
    for calls in r.hosts.values():
        other.update({op: n for op, n in calls.items() if op not in GETS})
    restarts = sorted(set(r.restarts.values()))
    return Row(
        how=LABELS.get(r.how, r.how), hosts=len(r.reached), seconds=round(r.seconds, 1),
        reached=f"{_spread(reached)} ({len(reached)} of {len(r.reached)})",
        gets=gets,
        per_sync=(_spread(per_sync, 2) if per_sync
                  else f"{gets} a run ({gets / len(r.reached):.2f} a host)"),
        other=", ".join(f"{op} {n}" for op, n in sorted(other.items())) or "–",
        syncs=sum(r.syncs.values()),
        restarts="–".join(str(n) for n in (restarts[0], restarts[-1])[: len(set(restarts))])
        if restarts else "–",
        exact=sum(r.exact.values()),
        load=f"{r.load[0]:.1f} → {r.load[1]:.1f}",
    )  # fmt: skip


HEADER = ("| how | hosts | seconds from the put to the end | each host served it after, s: "
          "median (min–max) | Parameter Store calls | per host per sync | other SSM calls | "
          "syncs | restarts per host | hosts with the exact value | load average |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")


def kept_rows(path: Path = RESULTS) -> list[Row]:
    """The rows of a kept run (docs/performance.md shows their table)."""
    return [Row(**row) for row in json.loads(path.read_text())["rows"]]


def table(rows: Sequence[Row]) -> str:
    lines = [HEADER]
    for r in rows:
        lines.append(f"| {r.how} | {r.hosts} | {r.seconds:.1f} | {r.reached} | {r.gets} | "
                     f"{r.per_sync} | {r.other} | {r.syncs} | {r.restarts} | {r.exact} of "
                     f"{r.hosts} | {r.load} |")  # fmt: skip
    return "\n".join(lines)


def problems(rotations: Sequence[Rotation]) -> list[str]:
    """What did not go as it must: a host that did not reach the value, or not exactly, or did
    not restart exactly once."""
    found = []
    for r in rotations:
        late = sorted(h for h, s in r.reached.items() if s is None)
        if late:
            found.append(f"{r.how}: {len(late)} hosts never served the value: {', '.join(late)}")
        wrong = sorted(h for h, ok in r.exact.items() if not ok)
        if wrong:
            found.append(f"{r.how}: {len(wrong)} hosts' app has not the exact value: "
                         f"{', '.join(wrong)}")  # fmt: skip
        odd = sorted(f"{h} ({n})" for h, n in r.restarts.items() if n != 1)
        if odd:
            found.append(f"{r.how}: restarted other than once: {', '.join(odd)}")
        found += [f"{r.how}: {note}" for note in r.notes if note.startswith("unexpected")]
    return found


def idle(seconds: float, spans: Sequence[tuple[float, float]]) -> float:
    """The part of a fleet rollout's ``seconds`` when no host was syncing: the rollout's time
    less the union of the syncs' spans (each from the rollout's start)."""
    busy, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        busy += stop - max(start, end)
        end = stop
    return (seconds - busy) if spans else seconds


# --- the lab -------------------------------------------------------------------------------------


class Watch:
    """Each host's app asked for its fingerprints until it serves ``value``: when, from ``start``
    (``time.monotonic``)."""

    def __init__(self, hosts: Sequence[BenchHost], value: str, start: float):
        self.want, self.start = fingerprint(value), start
        self.ports = {h.name: h.app_port for h in hosts}
        self.reached: dict[str, float | None] = dict.fromkeys(self.ports)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def done(self) -> bool:
        return all(s is not None for s in self.reached.values())

    def _loop(self) -> None:
        while not self._stop.is_set() and not self.done():
            for name, port in self.ports.items():
                if self.reached[name] is not None:
                    continue
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/fingerprints",
                                                timeout=2) as answer:  # fmt: skip
                        served = json.loads(answer.read()).get(KEY)
                except (OSError, ValueError):
                    continue  # restarting, or not up yet
                if served == self.want:
                    self.reached[name] = time.monotonic() - self.start
            self._stop.wait(0.2)

    def wait(self, deadline: float) -> bool:
        end = time.monotonic() + deadline
        while not self.done() and time.monotonic() < end:
            time.sleep(0.2)
        return self.done()


def ssh(host: BenchHost, command: str, stdin: str | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess:  # fmt: skip
    return subprocess.run([*lab.ssh_args(host.ssh_port), command], input=stdin, text=True,
                          capture_output=True, timeout=timeout)  # fmt: skip


def has_exactly(host: BenchHost, value: str) -> bool:
    """Whether the app's running process has exactly ``value`` (its environ, read as root)."""
    pid = ssh(host, f"systemctl show -p MainPID --value {WEB}").stdout.strip()
    if not pid.isdigit() or pid == "0":
        return False
    raw = subprocess.run([*lab.ssh_args(host.ssh_port), f"sudo cat /proc/{pid}/environ"],
                         capture_output=True, timeout=60).stdout  # fmt: skip
    return f"{KEY}={value}".encode() in raw.split(b"\0")


def journal(host: BenchHost, since: float, *args: str, until: float | None = None) -> str:
    end = f" --until @{until:.3f}" if until is not None else ""
    return ssh(host, f"sudo journalctl -o cat --no-pager --since @{since:.3f}{end} "
               f"{' '.join(args)}").stdout  # fmt: skip


def on_all(hosts: Sequence[BenchHost], work, workers: int = 10) -> list:
    with ThreadPoolExecutor(min(workers, len(hosts))) as pool:
        return list(pool.map(work, hosts))


@dataclass
class Bench:
    """The hosts, the stand-ins and the counters of one run."""

    tree: Path
    work: Path
    moto_port: int
    hosts: list[BenchHost]
    ids: list[str]
    control: FaultProxy
    agents: dict[str, FaultProxy]  # host -> its agent's proxy
    inventory: Path
    env: dict[str, str]
    secrets: list[str]
    poll: float
    rotations: int = 0

    def mask(self, text: str) -> str:
        return scrub(text, self.secrets)

    def put(self) -> str:
        """A new, obviously fake value of the rotated parameter, straight into the stand-in."""
        self.rotations += 1
        value = f"FAKE-bench-fleet-api-key-{self.rotations}"
        self.secrets.append(value)
        aws.seed(self.moto_port, {ROTATED: value})
        return value

    def reset(self) -> None:
        for proxy in (self.control, *self.agents.values()):
            proxy.reset_counts()

    def run(self, command: list[str], what: str, timeout: float = 1800,
            ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:  # fmt: skip
        done = subprocess.run(command, cwd=self.tree, env=self.env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        done.output = self.mask(done.stdout + done.stderr)
        (self.work / f"{what}.log").write_text(done.output)
        if done.returncode not in ok:
            tail = "\n".join(done.output.splitlines()[-30:])
            raise BenchError(f"{what} failed (exit {done.returncode}):\n{tail}")
        return done

    def deploy(self, what: str, *data: str) -> float:
        started = time.monotonic()
        self.run([str(PYINFRA), "-y", str(self.inventory), "deploy.py", *WEB_ONLY,
                  *(f"--data={d}" for d in data)], what)  # fmt: skip
        return time.monotonic() - started

    def measure(self, how: str, value: str, started: float, load: float, seconds: float,
                watch: Watch, since: float, notes: list[str] | None = None) -> Rotation:
        """The rotation's figures: the calls counted and the journals read up to now (the
        window's end; a sync under way then has its calls counted, not its end)."""
        control = dict(self.control.forwarded)
        agents = {n: dict(p.forwarded) for n, p in self.agents.items()}
        until = time.time()
        exact = dict(zip([h.name for h in self.hosts],
                         on_all(self.hosts, lambda h: has_exactly(h, value)), strict=True))
        texts = on_all(self.hosts, lambda h: journal(h, since, "-t ssmenv", until=until))
        restarts = {h.name: len(_ACTIVATION.findall(t)) for h, t in zip(self.hosts, texts,
                                                                          strict=True)}
        syncs = {h.name: 0 for h in self.hosts}
        if how == TIMER:
            texts = on_all(self.hosts, lambda h: journal(h, since, "-u", SYNC_UNIT, until=until))
            syncs = {h.name: len(_SYNC_END.findall(t)) for h, t in zip(self.hosts, texts,
                                                                       strict=True)}
        return Rotation(how, seconds, dict(watch.reached), exact, restarts, control, agents,
                        syncs, (load, os.getloadavg()[0]), notes or [])  # fmt: skip


def push(bench: Bench) -> Rotation:
    load = os.getloadavg()[0]
    since = time.time()
    value = bench.put()
    bench.reset()
    started = time.monotonic()
    with Watch(bench.hosts, value, started) as watch:
        bench.deploy("push-rotation", "delivery=push")
        seconds = time.monotonic() - started
        watch.wait(10)
    return bench.measure(PUSH, value, started, load, seconds, watch, since)


def fleet(bench: Bench) -> Rotation:
    """``fleet rollout`` with the lab carrying its commands out on the hosts."""
    by_id = dict(zip(bench.ids, bench.hosts, strict=True))
    spans: list[tuple[float, float]] = []
    took: dict[str, float] = {}
    outputs: dict[str, str] = {}

    def run(instance: str, script: str) -> tuple[int, str]:
        host = by_id[instance]
        start = time.monotonic()
        done = ssh(host, f"sudo sh -c 'install -D -m 0700 /dev/stdin {SCRIPT} && sh {SCRIPT} "
                   "</dev/null'", stdin=script, timeout=600)  # fmt: skip
        stop = time.monotonic()
        took[host.name] = stop - start
        spans.append((start, stop))
        outputs[host.name] = bench.mask(done.stdout + done.stderr)
        return done.returncode, done.stdout + done.stderr

    load = os.getloadavg()[0]
    since = time.time()
    value = bench.put()
    bench.reset()
    started = time.monotonic()
    rc = RunCommand(bench.moto_port, [plan.document_name(APP)], run)
    with Watch(bench.hosts, value, started) as watch, rc:
        done = bench.run([sys.executable, "-m", "ssmenv", "fleet", "rollout",
                          str(bench.inventory), "--app", APP, "--poll", str(bench.poll),
                          "--data=delivery=pull", "--data=pull_period=1h"], "fleet-rollout",
                         ok=(plan.CHANGED, plan.UNCHANGED, plan.FAILED, plan.REFUSED))
        seconds = time.monotonic() - started
        watch.wait(10)
    commands = list(dict.fromkeys(c for c, _ in rc.ran))
    canary = {by_id[i].name for c, i in rc.ran if c == commands[0]} if commands else set()
    notes = [f"fleet rollout exit status {done.returncode}",
             f"{len(commands)} commands: " + ", ".join(
                 str(sum(1 for c, _ in rc.ran if c == command)) for command in commands) +
             " hosts",
             "each host's sync through Run Command, s (SSH's own time in): the canary's "
             "(alone) " + _spread([took[n] for n in took if n in canary], 2) + ", the others' "
             "(MaxConcurrency at once, sharing this machine's CPUs) " +
             _spread([took[n] for n in took if n not in canary], 2)]  # fmt: skip
    if done.returncode != plan.CHANGED:
        notes.append(f"unexpected: fleet rollout exit status {done.returncode}, not "
                     f"{plan.CHANGED}: {done.output.splitlines()[-1:]}")  # fmt: skip
    rotation = bench.measure(FLEET, value, started, load, seconds, watch, since, notes)
    rotation.syncs = {h.name: int(h.name in took) for h in bench.hosts}
    rotation.took, rotation.commands = took, len(commands)
    rotation.canary = sorted(canary)
    rotation.idle = idle(seconds, [(a - started, b - started) for a, b in spans])
    return rotation


def timer(bench: Bench, period: float, jitter: float) -> Rotation:
    load = os.getloadavg()[0]
    since = time.time()
    value = bench.put()
    bench.reset()
    started = time.monotonic()
    with Watch(bench.hosts, value, started) as watch:
        watch.wait(period + jitter + 300)
        seconds = time.monotonic() - started
    return bench.measure(TIMER, value, started, load, seconds, watch, since)


# --- the run ---------------------------------------------------------------------------------


def agent_environment(moto_port: int, ssm: str, metadata_port: int) -> str:
    """The agent's environment on a lab host: where AWS is, SSM through its counting proxy, and
    the metadata stand-in (as the image of a private network would carry it)."""
    return (f"AWS_ENDPOINT_URL=http://127.0.0.1:{moto_port}\n"
            f"AWS_ENDPOINT_URL_SSM={ssm}\n"
            f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(metadata_port)}\n")


def write_inventory(path: Path, hosts: Sequence[BenchHost], ids: Sequence[str]) -> None:
    """The hosts in the groups ``example`` and ``staging`` (the example app's settings), each
    with its instance id, which the fleet command targets."""
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port,
                         "ec2_instance_id": i}) for h, i in zip(hosts, ids, strict=True)]
    path.write_text(f"_hosts = {entries!r}\nexample = _hosts\nstaging = _hosts\n")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--hosts", type=int, default=50, help="how many hosts (default: 50)")
    parser.add_argument("--prefix", default="bench-fleet",
                        help="the hosts' names: PREFIX-1... (default: bench-fleet)")
    parser.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                        help="the fleet command's --poll (default: 5, its own default)")
    parser.add_argument("--pull-period", default="60s", help="the timers' pull_period for the "
                        "timer's rotation (default: 60s; the setting's default is 15min)")
    parser.add_argument("--pull-jitter", default="30s", help="the timers' pull_jitter for the "
                        "timer's rotation (default: 30s; the setting's default is 5min)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="where to keep the figures of a run where every host reached the "
                        "value (default: bench/results/fleet.json)")  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    period, jitter = span(args.pull_period), span(args.pull_jitter)
    began = time.monotonic()
    load = os.getloadavg()[0]
    commit = _commit()  # of the tree measured: its copy is taken now (bench.deploy.snapshot)
    lab.down(args.prefix)  # what an interrupted run left holds the names and ports
    parameters = {k: v for k, v in json.loads(PARAMETERS.read_text()).items()
                  if k.startswith("/")}  # fmt: skip
    rotations: list[Rotation] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ssmenv-bench-fleet-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        try:
            moto_port = free_port()
            moto = aws.start(moto_port, work / "moto.log")
            stack.callback(lambda: (moto.terminate(), moto.wait(timeout=10)))
            aws.seed(moto_port, parameters)
            instance = imds.launch(moto_port, f"{args.prefix}-host")
            imds.write_instance(work / "instance.json", instance)
            metadata_port = free_port()
            metadata = imds.start(metadata_port, work / "instance.json", work / "imds.log")
            stack.callback(lambda: (metadata.terminate(), metadata.wait(timeout=10)))
            ec2 = aws.client("ec2", moto_port)
            ids = [i["InstanceId"] for i in ec2.run_instances(
                ImageId=imds.IMAGE, MinCount=args.hosts, MaxCount=args.hosts)["Instances"]]
            control = FaultProxy(f"http://127.0.0.1:{moto_port}").start()
            stack.callback(control.stop)
            tree = snapshot(work / "tree")
            started = time.monotonic()
            hosts = boot(args.hosts, prefix=args.prefix, kind="agent")
            stack.callback(power_off, hosts)
            progress(f"booted {len(hosts)} hosts in {time.monotonic() - started:.0f} s")
            agents = {}
            for host in hosts:
                agents[host.name] = FaultProxy(f"http://127.0.0.1:{moto_port}").start()
                stack.callback(agents[host.name].stop)

            def environment(host: BenchHost) -> None:
                text = agent_environment(moto_port, agents[host.name].url, metadata_port)
                done = ssh(host, "sudo install -D -m 0600 /dev/stdin "
                           "/etc/ssmenv/agent/environment", stdin=text)  # fmt: skip
                if done.returncode != 0:
                    raise BenchError(f"{host.name}: the agent's environment: {done.stderr}")

            on_all(hosts, environment)
            inventory = work / "fleet_bench.py"
            write_inventory(inventory, hosts, ids)
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                   **aws.environment(control.port)}  # fmt: skip
            bench = Bench(tree, work, moto_port, hosts, ids, control, agents, inventory, env,
                          list(parameters.values()), args.poll)  # fmt: skip
            first = bench.deploy("first-deploy", "delivery=push")
            progress(f"first deploy (push) {first:.1f} s")
            rotations.append(push(bench))
            progress(f"push rotation {rotations[-1].seconds:.1f} s")
            handed = bench.deploy("hand-over", "delivery=pull", "pull_period=1h")
            progress(f"deploy with delivery=pull (the agents take the app) {handed:.1f} s")
            rotations.append(fleet(bench))
            progress(f"fleet rollout {rotations[-1].seconds:.1f} s")
            since = time.time()
            timers = bench.deploy("timer-settings", "delivery=pull",
                                  f"pull_period={args.pull_period}",
                                  f"pull_jitter={args.pull_jitter}")  # fmt: skip
            texts = on_all(hosts, lambda h: journal(h, since, "-t ssmenv"))
            restarted = sum(len(_ACTIVATION.findall(t)) for t in texts)
            notes.append(f"the deploy of pull_period {args.pull_period}, pull_jitter "
                         f"{args.pull_jitter}: {timers:.1f} s, {restarted} restarts")
            if restarted:
                notes.append(f"unexpected: the deploy of the timer's settings restarted "
                             f"{restarted} apps")  # fmt: skip
            rotations.append(timer(bench, period, jitter))
            progress(f"timer {rotations[-1].seconds:.1f} s")
        except BenchError as e:
            print(f"benchmark failed: {e}", file=sys.stderr)
            return 2
        finally:
            stack.close()  # the hosts powered off, the stand-ins stopped
    return report(args, rotations, notes, load, time.monotonic() - began, commit)


def measured(rotations: Sequence[Rotation]) -> scale.Measured:
    """The per-host figures of the fleet rollout: a host's sync with a rotation (the canary's,
    which synced alone: on a fleet each instance has CPUs of its own, here the hosts of a wave
    share two), its Get calls, and what each command added beyond its hosts' syncs."""
    r = next(r for r in rotations if r.how == FLEET)
    alone = [r.took[n] for n in r.canary] or list(r.took.values())
    calls = [sum(n for op, n in c.items() if op in GETS) for c in r.hosts.values()]
    overhead = r.idle / max(1, r.commands)
    return scale.Measured(round(statistics.median(alone), 2),
                          round(statistics.mean(calls), 2), round(max(0.0, overhead), 1))


def report(args: argparse.Namespace, rotations: list[Rotation], notes: list[str], load: float,
           seconds: float, commit: str) -> int:  # fmt: skip
    rows = [summary(r) for r in rotations]
    print(f"`python -m bench.fleet --hosts {args.hosts} --poll {args.poll:g} --pull-period "
          f"{args.pull_period} --pull-jitter {args.pull_jitter}`: {args.hosts} hosts, "
          f"{os.cpu_count()} CPUs shared by all of them (load average {load:.1f} at the start), "
          f"{seconds / 60:.1f} minutes in all. The timer's pull_period and pull_jitter are the "
          "bench's, short (the defaults are 15min and 5min).\n")
    print(table(rows))
    print()
    for r in rotations:
        for note in r.notes:
            print(f"- {r.how}: {note}")
    for note in notes:
        print(f"- {note}")
    found = problems(rotations) + [n for n in notes if n.startswith("unexpected")]
    estimate = measured(rotations) if any(r.how == FLEET for r in rotations) else None
    if estimate is not None:
        print()
        for line in scale.lines(estimate):
            print(f"- {line}")
    for problem in found:
        print(f"✗ {problem}")
    if not found and estimate is not None:
        kept = {
            "date": time.strftime("%Y-%m-%d", time.gmtime()), "commit": commit,
            "cpus": os.cpu_count(), "load": round(load, 1), "hosts": args.hosts,
            "command": f"python -m bench.fleet --hosts {args.hosts}",
            "pull_period": args.pull_period, "pull_jitter": args.pull_jitter, "poll": args.poll,
            "rows": [asdict(r) for r in rows],
            "notes": [f"{r.how}: {n}" for r in rotations for n in r.notes] + notes,
            "scale": asdict(estimate),
        }  # fmt: skip
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n")
        print(f"\nfigures kept in {args.results}")
    return 1 if found else 0


def _commit() -> str:
    return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True).stdout.strip() or "?"  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
