"""A fleet rollout through Run Command, on real hosts: the app's command document's exact command
text (``ssmenv.plan.fleet.document``) run on agent hosts as Run Command's SSM Agent runs it (a
script file run by ``sh``, as root, the agent's AWS access through the instance role the metadata
stand-in serves), in the canary-then-waves order the core plans (``waves``, ``MaxConcurrency``
hosts at a time), each host's real exit status and output turned into its outcome and fed to the
same code that decides to stop and summarises (``outcome``, ``decide``, ``summary``,
``exit_status``).

What AWS does and this does not: deliver the command (here SSH stands in for the SSM Agent's
channel, only to start the script and read what it printed), enforce ``MaxConcurrency`` and
``MaxErrors`` itself, and report the invocations (their statuses are made here from the script's
exit status as Run Command makes them: 0 Success, else Failed with its code). What is sent and
read through the API is proven against the stand-in (tests/integration/test_fleet.py).

Four hosts, each its own description (its own ``ssm_path``), so that one host alone can be given
a value that fails its health check.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab import aws as lab_aws
from lab import hosts as lab
from lab import imds
from lab.faults import FaultProxy
from lab.run_command import RunCommand
from ssmenv.pace import Fleet, Pace
from ssmenv.plan import fleet as plan
from ssmenv.publish import user_data
from tests.e2e.conftest import BLOCKS, REPO, Host, aws_env, booted, sha256

APP = "example-app"
WEB = f"{APP}-web.service"
BUCKET = "fleet-ssm-releases"
PACE, FLEET = Pace(canary=1, batch=2, percent=None), Fleet("0", 300)
#: How long each host's last command took, seen from here (SSH's own time included).
TOOK: dict[str, float] = {}
#: Where the SSM Agent writes a command's script before running it with sh.
SCRIPT = "/var/lib/amazon/ssm/ssmenv-fleet/_script.sh"


def path(i: int) -> str:
    return f"/fleet-ssm/h{i}"


def values(i: int, key: str = "1") -> dict[str, str]:
    return {f"{path(i)}/DATABASE_URL": f"postgres://app:FAKE-fssm-{i}@db.internal:5432/app",
            f"{path(i)}/API_KEY": f"FAKE-fssm-key-{i}-{key}",
            f"{path(i)}/SESSION_SECRET": f"FAKE-fssm-session-{i}"}  # fmt: skip


@pytest.fixture(scope="module")
def hosts():
    with booted(BLOCKS["fleet-ssm"], 4, kind="agent") as up:
        yield up


def _on(hosts: list[Host], work, *args):
    with ThreadPoolExecutor(len(hosts)) as pool:
        return list(pool.map(work, hosts, *args))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The example app, in a directory of the module's own."""
    target = tmp_path_factory.mktemp("fleet-ssm-app") / "app"
    shutil.copytree(REPO / "examples" / "app", target)
    return target


@pytest.fixture(scope="module")
def fleet(stand_in, hosts, source, tmp_path_factory):
    """Each host's parameters, the example app published for each in pull mode, the instance
    role served by the metadata stand-in, and each host's user data run: every host serves."""
    for i in range(len(hosts)):
        stand_in.put(values(i))
    stand_in.client("s3").create_bucket(Bucket=BUCKET)
    work = tmp_path_factory.mktemp("fleet-ssm")
    entries = [(h.name, {**lab.connection_data(h.ssh_port), "app_port": h.app_port,
                         "app_source": str(source), "delivery": "pull", "release_bucket": BUCKET,
                         "ssm_path": path(i), "pull_period": "1h"})
               for i, h in enumerate(hosts)]  # fmt: skip
    inventory = work / "fleet.py"
    inventory.write_text(f"_hosts = {entries!r}\nexample = _hosts\n")
    published = subprocess.run([sys.executable, "-m", "ssmenv", "publish", str(inventory)],
                               cwd=REPO, env=aws_env(stand_in), capture_output=True, text=True,
                               timeout=600)  # fmt: skip
    assert published.returncode == 0, published.stdout + published.stderr
    instance = imds.launch(stand_in.port, "fleet-ssm-host")
    imds.write_instance(work / "instance.json", instance)
    port = BLOCKS["fleet-ssm"].server_port
    metadata = imds.start(port, work / "instance.json", work / "imds.log")
    environment = (f"AWS_ENDPOINT_URL=http://127.0.0.1:{stand_in.port}\n"
                   f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(port)}\n")  # fmt: skip

    def launch(host: Host, i: int) -> None:
        host.run("sudo install -D -m 0600 /dev/stdin /etc/ssmenv/agent/environment",
                 stdin=environment)  # fmt: skip
        ran = subprocess.run([*lab.ssh_args(host.ssh_port), "sudo sh -s"],
                             input=user_data(APP, f"/deploy{path(i)}", lab_aws.REGION),
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr

    try:
        _on(hosts, launch, range(len(hosts)))
        yield stand_in
    finally:
        metadata.terminate()
        metadata.wait(timeout=10)


def run_command(host: Host, script: str | None = None) -> tuple[str, int, str]:
    """The document's command text (``script``: another's) on ``host`` as the SSM Agent runs
    it: written to a script file, run by sh as root. Its invocation as Run Command reports it:
    status, code, output."""
    if script is None:
        script = "\n".join(plan.document(APP, FLEET)["mainSteps"][0]["inputs"]["runCommand"])
        script += "\n"
    host.run(f"sudo install -D -m 0700 /dev/stdin {SCRIPT}", stdin=script)
    started = time.monotonic()
    done = subprocess.run([*lab.ssh_args(host.ssh_port), f"sudo sh {SCRIPT} </dev/null"],
                          capture_output=True, text=True, timeout=FLEET.timeout)  # fmt: skip
    TOOK[host.name] = time.monotonic() - started
    return ("Success" if done.returncode == 0 else "Failed", done.returncode,
            done.stdout + done.stderr)


class Rollout:
    """The rollout as Run Command carries it out, decided by the core: each wave's hosts
    ``MaxConcurrency`` at a time, in order, the core asked after each group."""

    def __init__(self, hosts: list[Host]):
        self.hosts = {h.name: h for h in hosts}
        self.outcomes: dict[str, plan.Outcome] = {h.name: plan.Outcome.PENDING for h in hosts}
        self.outputs: dict[str, str] = {}
        self.order: list[list[str]] = []  # the groups, in the order they ran
        self.stopped: plan.Decision = plan.Decision(False)

    def run(self) -> Rollout:
        for wave in plan.waves(list(self.hosts), PACE, FLEET):
            at_once = int(wave.max_concurrency)
            names = list(wave.instances)
            for start in range(0, len(names), at_once):
                group = names[start : start + at_once]
                self.order.append(group)
                for name, (status, code, output) in zip(group, _on(
                        [self.hosts[n] for n in group], run_command), strict=True):  # fmt: skip
                    self.outcomes[name] = plan.outcome(status, code, output)
                    self.outputs[name] = output
                self.stopped = plan.decide({n: self.outcomes[n] for n in names}, wave)
                if self.stopped.stop:
                    break
            if self.stopped.stop:
                break
        self.outcomes = {n: o if o.done else plan.Outcome.NOT_REACHED
                         for n, o in self.outcomes.items()}  # fmt: skip
        return self


def test_a_rotation_reaches_the_canary_first_then_the_waves(fleet, hosts):
    for i in range(len(hosts)):
        fleet.put(values(i, "2"))
    before = {h.name: h.service(WEB)["InvocationID"] for h in hosts}
    rollout = Rollout(hosts).run()
    names = [h.name for h in hosts]
    assert rollout.order == [names[:1], names[1:3], names[3:]]  # canary, then 2 at a time
    assert rollout.outcomes == dict.fromkeys(names, plan.Outcome.CHANGED), rollout.outputs
    assert plan.summary(rollout.outcomes) == ("4 changed, 0 unchanged, 0 refused, 0 rolled back, "
                                              "0 timed out, 0 not reached")  # fmt: skip
    assert plan.exit_status(rollout.outcomes) == plan.CHANGED
    print(f"\nchanged syncs: {', '.join(f'{TOOK[n]:.1f}' for n in names)} s", file=sys.stderr)
    # The canary switched before any other host started.
    started = {h.name: h.started_at(WEB) for h in hosts}
    assert all(started[names[0]] < started[n] for n in names[1:])
    assert all(started[n] < started[names[3]] for n in names[1:3])
    for i, host in enumerate(hosts):
        assert host.service(WEB)["InvocationID"] != before[host.name]
        assert host.process_environ(WEB)["API_KEY"] == f"FAKE-fssm-key-{i}-2".encode()
        # What Run Command would keep and show: the agent's lines, no value.
        assert "FAKE" not in rollout.outputs[host.name]
        assert rollout.outputs[host.name].rstrip().endswith("ssmenv-agent status=2")

    again = Rollout(hosts).run()  # nothing new: every host says so, nothing restarts
    assert again.outcomes == dict.fromkeys(names, plan.Outcome.UNCHANGED), again.outputs
    assert plan.exit_status(again.outcomes) == plan.UNCHANGED
    print(f"no-op syncs: {', '.join(f'{TOOK[n]:.1f}' for n in names)} s", file=sys.stderr)


def test_a_host_whose_value_fails_its_health_check_rolls_back_and_stops_the_rollout(
    fleet, hosts
):
    names = [h.name for h in hosts]
    # What each host serves before, whatever the tests before it left (run alone: the fixture's).
    served = {h.name: h.process_environ(WEB)["API_KEY"] for h in hosts}
    for i in range(len(hosts)):
        fleet.put(values(i, "3"))
    fleet.put({f"{path(2)}/DATABASE_URL": "FAKE-fssm-not-a-url"})  # the third host's alone
    try:
        rollout = Rollout(hosts).run()
        assert rollout.outcomes == {
            names[0]: plan.Outcome.CHANGED, names[1]: plan.Outcome.CHANGED,
            names[2]: plan.Outcome.ROLLED_BACK, names[3]: plan.Outcome.NOT_REACHED,
        }, rollout.outputs  # fmt: skip
        assert rollout.order == [names[:1], names[1:3]]  # the fourth never ran the command
        assert rollout.stopped == plan.Decision(True, f"{names[2]}: rolled back: the rollout "
                                                "stops there")  # fmt: skip
        assert plan.summary(rollout.outcomes) == ("2 changed, 0 unchanged, 0 refused, "
                                                  "1 rolled back, 0 timed out, 1 not reached")
        assert plan.exit_status(rollout.outcomes) == plan.FAILED
        said = rollout.outputs[names[2]]
        # The agent's own last words (the app's, from its journal, only when it spoke before
        # the health check judged it: not a thing to wait for here).
        assert said.rstrip().endswith(f"{APP}: rolled back\nssmenv-agent status=4"), said
        assert "FAKE" not in said
        # The rolled-back host serves its previous values; the one not reached, its own old.
        assert hosts[2].process_environ(WEB)["API_KEY"] == served[names[2]]
        assert hosts[2].process_environ(WEB)["DATABASE_URL"] == \
            values(2)[f"{path(2)}/DATABASE_URL"].encode()  # fmt: skip
        assert hosts[3].fingerprints()["API_KEY"] == sha256(served[names[3]])
        assert hosts[1].fingerprints()["API_KEY"] == sha256("FAKE-fssm-key-1-3")
    finally:
        fleet.put({f"{path(2)}/DATABASE_URL": values(2)[f"{path(2)}/DATABASE_URL"]})


#: Parameter Store's Get calls, which share its throughput (40 a second by default).
SSM_GETS = ("GetParameter", "GetParameters", "GetParametersByPath")


def peak(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + 1.0)
                for i, start in enumerate(times)), default=0)  # fmt: skip


def all_at_once(hosts: list[Host]) -> dict[str, tuple[plan.Outcome, str]]:
    """The document's command on every host at the same moment, as a command without
    ``MaxConcurrency`` (or an EventBridge rule) sends it."""
    return {h.name: (plan.outcome(*found), found[2])
            for h, found in zip(hosts, _on(hosts, run_command), strict=True)}  # fmt: skip


def test_every_host_syncing_at_once_stays_within_parameter_stores_throughput(fleet, hosts):
    """Every host's agent reaches SSM through the lab's proxy, which lets 40 Get calls a second
    through (Parameter Store's default throughput) and throttles the rest as SSM does. Four hosts
    cannot reach 40 a second here: the same proxy at 2 a second then makes them throttled (the
    load of some eighty hosts at 40), and the agents' budget and adaptive retries must absorb
    it. None may fail; the SSM calls per host per sync are printed."""
    with FaultProxy(f"http://127.0.0.1:{fleet.port}") as proxy:
        through = f"AWS_ENDPOINT_URL_SSM={proxy.url}\n"
        for host in hosts:
            host.run("sudo sh -c 'cat >> /etc/ssmenv/agent/environment'", stdin=through)
        try:
            for limit, key in ((40, "4"), (2, "5")):
                proxy.rate_limit(limit, SSM_GETS)
                for i in range(len(hosts)):
                    fleet.put(values(i, key))  # a rotation: every host changes
                runs = 3
                proxy.reset_counts()
                outcomes = [all_at_once(hosts) for _ in range(runs)]  # changed, then no-ops
                for name in (h.name for h in hosts):
                    found = [o[name][0] for o in outcomes]
                    expected = [plan.Outcome.CHANGED] + [plan.Outcome.UNCHANGED] * (runs - 1)
                    assert found == expected, (limit, name, [o[name][1] for o in outcomes])
                    assert all("Throttl" not in o[name][1] for o in outcomes)
                calls = sum(proxy.forwarded[op] for op in SSM_GETS)
                throttled = sum(proxy.injected[op] for op in SSM_GETS)
                per_sync = calls / (len(hosts) * runs)
                print(f"\nSSM at {limit} TPS: {len(hosts)} hosts x {runs} syncs at once, "
                      f"{calls} Get calls ({per_sync:.1f} per host per sync: "
                      f"{dict(proxy.forwarded)}), {throttled} throttled and retried, peak "
                      f"{peak(proxy.times)} a second", file=sys.stderr)  # fmt: skip
                assert per_sync <= 3  # the description with the pinned names, and the path
                assert peak(proxy.times) <= limit
                if limit == 2:
                    assert throttled > 0  # the budget was tested, and held
        finally:
            for host in hosts:
                host.run("sudo sed -i '/^AWS_ENDPOINT_URL_SSM=/d' /etc/ssmenv/agent/environment")


# --- the fleet command itself, with the lab playing Run Command's part -------------------------


@pytest.fixture(scope="module")
def instances(fleet, hosts, source, tmp_path_factory) -> tuple[Path, list[str]]:
    """The four hosts as EC2 instances of the stand-in (tagged Suite, Name fleet-hN, Slot N),
    and an EC2 inventory naming them by their tags, each with its own ssm_path as published."""
    suite = uuid.uuid4().hex
    ec2 = fleet.client("ec2")
    ids = []
    for i in range(len(hosts)):
        tags = {"Suite": suite, "Name": f"fleet-h{i}", "Slot": str(i)}
        answer = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                   TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                       {"Key": k, "Value": v} for k, v in tags.items()]}])
        ids.append(answer["Instances"][0]["InstanceId"])
    inventory = tmp_path_factory.mktemp("fleet-ec2") / "fleet.py"
    inventory.write_text(f"""from ssmenv import ec2

_hosts = [(name, {{**data, "app_source": {str(source)!r}, "delivery": "pull",
                   "release_bucket": {BUCKET!r}, "pull_period": "1h",
                   "ssm_path": "/fleet-ssm/h" + data["ec2_tags"]["Slot"]}})
          for name, data in ec2.hosts(static=[], tags={{"Suite": {suite!r}}})]
example = _hosts
""")
    return inventory, ids


def fleet_cli(stand_in, inventory: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "ssmenv", "fleet", "rollout", str(inventory),
                           "--poll", "0.3", "--data=rollout_batch=2", *args], cwd=REPO,
                          env=aws_env(stand_in), capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    done.output = done.stdout + done.stderr
    return done


def lab_run_command(stand_in, hosts: list[Host], ids: list[str]) -> RunCommand:
    by_id = dict(zip(ids, hosts, strict=True))

    def run(instance: str, script: str) -> tuple[int, str]:
        _, code, output = run_command(by_id[instance], script)
        return code, output

    return RunCommand(stand_in.port, [plan.document_name(APP)], run)


def test_the_fleet_command_rolls_a_rotation_out_through_run_command(fleet, hosts, instances):
    """``python -m ssmenv fleet rollout`` itself, against the stand-in, with the lab carrying
    its commands out on the hosts (``lab.run_command``): the canary's command, then the rest's
    only once the canary said it changed, every host's real outcome read back."""
    inventory, ids = instances
    for i in range(len(hosts)):
        fleet.put(values(i, "6"))
    with lab_run_command(fleet, hosts, ids) as lab_rc:
        done = fleet_cli(fleet, inventory)
    assert done.returncode == plan.CHANGED, done.output
    commands = list(dict.fromkeys(command for command, _ in lab_rc.ran))
    assert len(commands) == 2
    assert [i for c, i in lab_rc.ran if c == commands[0]] == ids[:1]  # the canary alone
    assert [i for c, i in lab_rc.ran if c == commands[1]] == ids[1:]
    for i, host in enumerate(hosts):
        assert f"fleet: fleet-h{i} ({ids[i]}): changed" in done.stdout
        assert host.process_environ(WEB)["API_KEY"] == f"FAKE-fssm-key-{i}-6".encode()
    assert done.stdout.rstrip().endswith(f"fleet: {APP}: 4 changed, 0 unchanged, 0 refused, "
                                         "0 rolled back, 0 timed out, 0 not reached")
    assert "FAKE" not in done.output


def test_the_fleet_command_stops_at_a_host_that_rolled_back(fleet, hosts, instances):
    inventory, ids = instances
    served = {h.name: h.process_environ(WEB)["API_KEY"] for h in hosts}  # as in the test above
    for i in range(len(hosts)):
        fleet.put(values(i, "7"))
    fleet.put({f"{path(2)}/DATABASE_URL": "FAKE-fssm-not-a-url"})
    try:
        with lab_run_command(fleet, hosts, ids) as lab_rc:
            done = fleet_cli(fleet, inventory)
        assert done.returncode == plan.FAILED, done.output
        assert f"fleet: fleet-h2 ({ids[2]}): rolled back" in done.stdout
        assert "fleet: stopped: fleet-h2: rolled back: the rollout stops there" in done.stdout
        assert done.stdout.rstrip().endswith(f"fleet: {APP}: 2 changed, 0 unchanged, 0 refused, "
                                             "1 rolled back, 0 timed out, 1 not reached")
        assert ids[3] not in [i for _, i in lab_rc.ran]  # the command never reached it
        assert hosts[3].fingerprints()["API_KEY"] == sha256(served[hosts[3].name])
        assert hosts[2].process_environ(WEB)["API_KEY"] == served[hosts[2].name]
        assert "FAKE" not in done.output
    finally:
        fleet.put({f"{path(2)}/DATABASE_URL": values(2)[f"{path(2)}/DATABASE_URL"]})
