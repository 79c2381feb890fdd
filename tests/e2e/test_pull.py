"""Hosts that pull, with SSH closed: a host launched fresh from the image (the ``agent`` kind:
Node.js and Debian's python3-botocore) with only its user-data step, and the control machine's
``python -m ssmenv publish``; no pyinfra run reaches the host. Its agent fetches with the instance
role (the metadata stand-in) exactly the generated host-role policy, against the AWS stand-in
enforcing IAM. SSH is used only to look, and to run what a launch template and Run Command would:
the user data, ``ssmenv-agent sync APP``.

The host runs two apps, both pulled, so that what concerns one is seen not to touch the other.
The tests share the host and run in order; each leaves it healthy on what is published.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import aws as lab_aws
from lab import hosts as lab
from lab import imds
from tests.e2e.conftest import (
    BLOCKS,
    REPO,
    Host,
    booted,
    sha256,
    wait_for,
)

APP, TWO = "example-app", "example-two"
WEB, TWO_WEB = f"{APP}-web.service", f"{TWO}-web.service"
BUCKET = "pull-releases"
ACCOUNT = "123456789012"
PEM = "-----BEGIN FAKE-pull KEY-----\nbGluZSBvbmU=\nbGluZSB0d28=\n-----END FAKE-pull KEY-----\n"
VALUES = {
    "DATABASE_URL": "postgres://app:FAKE-pull-db@db.internal:5432/app",
    "API_KEY": "FAKE-pull-key 'single' \"double\" $HOME ${X} `id` \\back\\slash % #",
    "SESSION_SECRET": PEM,  # a credential: a file, byte for byte
    "NOTES": "  FAKE-pull-notes\ttab, café ✓ 😀, trailing  ",
}
TWO_VALUES = {"DATABASE_URL": "postgres://two:FAKE-pull-two@db.internal:5432/two",
              "API_KEY": "FAKE-pull-two-key", "SESSION_SECRET": "FAKE-pull-two-session"}
OTHER = "/other-app/pull/TOKEN"


def parameters(path: str, values: dict[str, str]) -> dict[str, str]:
    return {f"{path}/{name}": value for name, value in values.items()}


@pytest.fixture(scope="module")
def host():
    with booted(BLOCKS["pull"], 1, kind="agent") as up:
        yield up[0]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The example app, in a directory of its own: a test ships a new release of it."""
    target = tmp_path_factory.mktemp("pull-app") / "app"
    shutil.copytree(REPO / "examples" / "app", target)
    return target


def apps_of(host: Host, **more: dict) -> dict:
    """The host's two apps, each with ``more`` of its own settings."""
    return {APP: {"ssm_path": "/pull/app", "app_port": host.app_port,
                  "credentials": ["SESSION_SECRET"], **more.get(APP, {})},
            TWO: {"ssm_path": "/pull/two", "app_port": host.app_port + 1, **more.get(TWO, {})}}


@pytest.fixture(scope="module")
def inventory(host, source, tmp_path_factory) -> Path:
    """The host as the control machine knows it: two apps in pull mode (an Auto Scaling group's
    instances would be listed so, reached by no SSH)."""
    data = {
        **lab.connection_data(host.ssh_port),
        "app_source": str(source), "delivery": "pull", "release_bucket": BUCKET,
        "pull_period": "1h", "pull_jitter": "0s", "apps": apps_of(host),
    }  # fmt: skip
    path = tmp_path_factory.mktemp("pull-inventory") / "pull.py"
    path.write_text(f"_hosts = {[(host.name, data)]!r}\nexample = _hosts\n")
    return path


def control(stand_in, credentials: dict[str, str] | None = None) -> dict[str, str]:
    """The control machine's environment: the stand-in, as its admin or as ``credentials``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SSMENV_"))}
    return {**env, **lab_aws.environment(stand_in.port), **(credentials or stand_in.admin)}


def ssmenv(inventory: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m ssmenv COMMAND INVENTORY ...`` as a user runs it."""
    command, *rest = args
    return subprocess.run([sys.executable, "-m", "ssmenv", command, str(inventory), *rest],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


class Lab:
    """What the module set up: the stand-in, the host role's policy, the publisher."""

    def __init__(self, stand_in, inventory: Path, policies: dict, publisher: dict[str, str]):
        self.stand_in, self.inventory = stand_in, inventory
        self.policies, self.publisher = policies, publisher

    def publish(self, *data: str) -> subprocess.CompletedProcess:
        done = ssmenv(self.inventory, control(self.stand_in, self.publisher), "publish",
                      *(f"--data={d}" for d in data))  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def put(self, values: dict[str, str]) -> None:
        self.stand_in.put(values)

    def role_policy(self, policy: dict) -> None:
        self.stand_in.client("iam").put_role_policy(RoleName="pull-host", PolicyName="pull-host",
                                                    PolicyDocument=json.dumps(policy))


@pytest.fixture(scope="module")
def pulled(enforcing_aws, inventory, host, tmp_path_factory):
    """Everything the host needs outside it: its parameters, the bucket, the host role with
    exactly the generated policy (served by the metadata stand-in), a publisher with exactly the
    generated publish policy, and what is published. On the host, what its image carries for a
    private network: the agent's environment file naming the endpoints."""
    enforcing_aws.put({**parameters("/pull/app", VALUES), **parameters("/pull/two", TWO_VALUES),
                       OTHER: "FAKE-pull-other"})  # fmt: skip
    enforcing_aws.client("s3").create_bucket(Bucket=BUCKET)
    printed = ssmenv(inventory, control(enforcing_aws), "iam", "--json")
    assert printed.returncode == 0, printed.stderr
    policies = json.loads(printed.stdout)
    publisher = enforcing_aws.user("publisher", policies["publish"])
    instance = imds.launch(enforcing_aws.port, "pull-host", policies["hosts"][0]["policy"],
                           credentials=enforcing_aws.admin)  # fmt: skip
    directory = tmp_path_factory.mktemp("pull-imds")
    imds.write_instance(directory / "instance.json", instance)
    port = BLOCKS["pull"].server_port
    metadata = imds.start(port, directory / "instance.json", directory / "imds.log")
    environment(host, enforcing_aws.port, port)
    found = Lab(enforcing_aws, inventory, policies, publisher)
    found.metadata_port = port
    found.publish()
    try:
        yield found
    finally:
        metadata.terminate()
        metadata.wait(timeout=10)


def environment(host: Host, aws_port: int, metadata_port: int, **more: str) -> None:
    """The agent's environment file on ``host`` (root's, 0600): where AWS and the instance's
    metadata are, as a VPC endpoint with its own name would be given."""
    lines = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
             "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint(metadata_port), **more}
    text = "".join(f"{k}={v}\n" for k, v in lines.items())
    host.run("sudo install -D -m 0600 /dev/stdin /etc/ssmenv/agent/environment", stdin=text)


def agent(host: Host, *words: str) -> tuple[int, str]:
    """``ssmenv-agent WORDS`` run as root on ``host``, as Run Command would: its status and what
    it said."""
    out = host.run(f"sudo ssmenv-agent {' '.join(words)} 2>&1; echo \"status=$?\"", check=False)
    said, _, status = out.rstrip().rpartition("status=")
    return int(status), said


def journal(host: Host, unit: str, since: float) -> str:
    return host.run(f"sudo journalctl -u {unit} -o cat --no-pager --since @{int(since)}",
                    check=False)  # fmt: skip


def serving(host: Host, name: str) -> str | None:
    """The fingerprint of ``name`` the app serves now (``None``: it is restarting)."""
    try:
        return host.fingerprints().get(name)
    except OSError:
        return None


def credential(host: Host, unit: str, name: str) -> bytes:
    return host.run_bytes(f"sudo cat /run/credentials/{unit}/{name}")


def assert_no_value_leaked(host: Host) -> None:
    """No value in the journal, and in no file but root's own (0600)."""
    leaked = host.run("sudo journalctl -o short --no-pager | grep FAKE-pull", check=False)
    assert leaked == "", leaked
    # The pattern on stdin: sudo logs a command line, which would put it in the journal.
    files = host.run("sudo grep -rlF -f /dev/stdin /etc /opt /var/lib /usr/local /root /home "
                     "/tmp 2>/dev/null", check=False, stdin="FAKE-pull\n").split()  # fmt: skip
    assert files, "the env file holds the values"
    for path in files:
        assert host.file_state(path).split("\n")[0] == "root:root 600", path


def test_a_fresh_host_starts_its_apps_from_the_user_data_alone(pulled, host):
    # What a launch template's user data holds: the app's name and where its description is.
    for app in (APP, TWO):
        user_data = ssmenv(pulled.inventory, control(pulled.stand_in), "publish",
                           "--user-data", app)  # fmt: skip
        assert user_data.returncode == 0, user_data.stderr
        assert f"python3 - {app} /deploy/pull/" in user_data.stdout
        ran = subprocess.run([*lab.ssh_args(host.ssh_port), "sudo sh -s"], input=user_data.stdout,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert f"{app}: changed" in ran.stdout
        assert "FAKE" not in ran.stdout + ran.stderr

    environ = host.process_environ(WEB)
    for name in ("DATABASE_URL", "API_KEY", "NOTES"):
        assert environ[name] == VALUES[name].encode()
    assert "SESSION_SECRET" not in environ
    assert credential(host, WEB, "SESSION_SECRET") == PEM.encode()
    assert host.process_environ(TWO_WEB)["API_KEY"] == TWO_VALUES["API_KEY"].encode()
    assert host.fingerprints()["API_KEY"] == sha256(VALUES["API_KEY"])

    # Debian's own botocore took the role through IMDSv2 and the endpoint from the environment.
    assert host.run("python3 -c 'import botocore; print(botocore.__version__)'").startswith("1.29.")
    assert host.run("sudo ls -d /root/.aws /etc/ssmenv/agent/*aws* 2>&1; true").count(
        "No such file") == 2  # no key on disk
    # The agent starts the apps at boot; nothing else does.
    enabled = host.run(f"systemctl is-enabled {WEB} {APP}.target ssmenv-pull-{APP}.service "
                       f"ssmenv-sync-{APP}.timer", check=False).split()  # fmt: skip
    assert enabled == ["disabled", "disabled", "enabled", "enabled"]
    for path in (f"/etc/ssmenv/agent/{APP}.json", f"/var/lib/ssmenv/agent/{APP}.last-good"):
        assert host.file_state(path).split("\n")[0] == "root:root 600"
    assert_no_value_leaked(host)


def test_a_sync_with_nothing_new_changes_nothing(pulled, host):
    before = host.service(WEB)["InvocationID"]
    assert agent(host, "sync", APP) == (0, f"{APP}: unchanged\n")
    assert host.service(WEB)["InvocationID"] == before


def test_the_host_says_what_it_runs_from_its_own_records(pulled, host):
    # Where SSH is closed, what Run Command asks: no AWS call, names and versions, no value.
    status, said = agent(host, "status", APP)
    assert status == 0, said
    assert f"{APP}: pulls from /deploy/pull/app (us-east-1)\n" in said
    assert re.search(rf"{APP}: last healthy sync: release \w+, description sha256 \w+, agent \w+",
                     said), said  # fmt: skip
    assert f"{APP}: deployed: API_KEY v1 from /pull/app/API_KEY\n" in said
    assert (f"{APP}: deployed: SESSION_SECRET v1 from /pull/app/SESSION_SECRET as a credential"
            in said)  # fmt: skip
    assert re.search(rf"{APP}: last known good: confirmed \d+ s ago \(pull_max_age 7 d\)", said)
    assert f"{APP}: last boot sync: not run since boot" in said
    assert f"{WEB}: active" in said
    assert "FAKE" not in said and "hmac" not in said
    assert agent(host, "status", "not-pulled")[0] == 1


def test_nothing_of_the_agent_is_writable_by_the_apps_user(pulled, host):
    # Its description, configuration, state, bundle, units and command decide what the app
    # runs: the app (its dependencies included) must not be able to change them.
    writable = host.run(f"sudo -u {APP} find /etc/ssmenv /var/lib/ssmenv /opt/ssmenv-agent "
                        "/etc/systemd/system /usr/local/sbin -writable 2>/dev/null",
                        check=False)  # fmt: skip
    assert writable == ""
    assert host.run("sudo find /opt/ssmenv-agent /etc/ssmenv/agent /var/lib/ssmenv/agent "
                    "! -user root | head -3") == ""  # fmt: skip


def test_a_new_release_and_a_changed_setting_published_reach_it_through_its_sync(
    pulled, host, source
):
    live = host.run(f"readlink /opt/{APP}/current").strip()
    before = (host.service(WEB)["InvocationID"], host.service(TWO_WEB)["InvocationID"])
    (source / "RELEASE-NOTES").write_text("a new release\n")
    try:
        published = pulled.publish("env={\"LOG_LEVEL\": \"warn\"}")
        assert f"{APP}: /deploy/pull/app (us-east-1): description version" in published.stdout
        status, said = agent(host, "sync", APP)
        assert status == 2, said
        assert re.search(rf"{APP}: release \w+ \(live: /opt/{APP}/releases/\w+\)", said)
        now = host.run(f"readlink /opt/{APP}/current").strip()
        assert now != live and host.run(f"cat {now}/RELEASE-NOTES") == "a new release\n"
        assert host.process_environ(WEB)["LOG_LEVEL"] == b"warn"
        assert host.service(WEB)["InvocationID"] != before[0]
        # The other app has its own description, unchanged until its own sync.
        assert host.service(TWO_WEB)["InvocationID"] == before[1]
        assert_no_value_leaked(host)
    finally:
        (source / "RELEASE-NOTES").unlink()
        pulled.publish()
        agent(host, "sync", APP)
        agent(host, "sync", TWO)


def test_a_rotated_value_reaches_it_through_the_timer_restarting_only_that_app_once(
    pulled, host
):
    # Its timer every 10 s (its shortest), published as any setting, taken at the next sync.
    pulled.publish("pull_period=10s")
    assert agent(host, "sync", APP)[0] == 0
    timer = host.run(f"systemctl show -p TimersMonotonic ssmenv-sync-{APP}.timer")
    assert "OnUnitInactiveUSec=10s" in timer
    before = {unit: host.service(unit)["InvocationID"] for unit in (WEB, TWO_WEB)}
    since = time.time()
    pulled.put({"/pull/app/API_KEY": "FAKE-pull-key-2"})
    try:
        wait_for(lambda: serving(host, "API_KEY") == sha256("FAKE-pull-key-2"),
                 "the timer's sync to rotate API_KEY", deadline=90)
        # Another timed sync after it, which finds nothing to do: the restart was the only one.
        wait_for(lambda: journal(host, f"ssmenv-sync-{APP}.service", since).count(
            f"{APP}: unchanged") >= 1, "a timed sync after the rotation", deadline=90)
        log = journal(host, f"ssmenv-sync-{APP}.service", since)
        assert log.count(f"{APP}: changed") == 1, log
        assert "changes API_KEY v1->v2" in log
        assert host.service(WEB)["InvocationID"] != before[WEB]
        assert host.service(TWO_WEB)["InvocationID"] == before[TWO_WEB]
        assert "FAKE" not in log
    finally:
        pulled.put({"/pull/app/API_KEY": VALUES["API_KEY"]})
        pulled.publish()
        agent(host, "sync", APP)


def test_a_value_that_fails_its_health_check_is_rolled_back_and_reported(pulled, host):
    before = host.service(WEB)["InvocationID"]
    pulled.put({"/pull/app/DATABASE_URL": "FAKE-pull-not-a-url"})
    try:
        status, said = agent(host, "sync", APP)
        assert status == 4, said
        assert f"ssmenv: {WEB} exited with status 78" in said or "is restarting" in said
        assert "DATABASE_URL is not a URL" in said  # the app's own journal, masked
        assert f"rolled back: {APP} is healthy on the previous version" in said
        assert said.rstrip().endswith(f"{APP}: rolled back")
        assert "FAKE" not in said
        assert host.process_environ(WEB)["DATABASE_URL"] == VALUES["DATABASE_URL"].encode()
        assert host.service(WEB)["InvocationID"] != before  # restarted on the old values
    finally:
        # Put back and synced whatever happened above: the next test starts in step with SSM.
        pulled.put({"/pull/app/DATABASE_URL": VALUES["DATABASE_URL"]})
        running = host.service(WEB)["InvocationID"]
        status, said = agent(host, "sync", APP)
    # The host still runs what it ran: the value put back is only a new version of it, which the
    # manifest records, with no restart.
    assert status == 2 and "manifest: written (versions moved" in said, said
    assert host.service(WEB)["InvocationID"] == running


def boot(host: Host) -> tuple[int, str]:
    """What a boot does for the app: nothing of it runs, ``/run`` is empty, the agent's boot
    unit starts (the instance's disk keeps the rest)."""
    host.run(f"sudo systemctl stop {APP}.target {WEB} {APP}-worker.service; "
             f"sudo rm -f /run/ssmenv/{APP}.*")  # fmt: skip
    since = time.time()
    started = host.run(f"sudo systemctl start ssmenv-pull-{APP}.service; echo $?").strip()
    return int(started.splitlines()[-1]), journal(host, f"ssmenv-pull-{APP}.service", since)


def test_at_boot_without_aws_it_starts_from_the_last_known_good_copy_and_past_its_age_refuses(
    pulled, host
):
    pulled.publish("pull_max_age=40s")
    assert agent(host, "sync", APP)[0] == 0  # the description and its values confirmed now
    environment(host, 9, pulled.metadata_port, AWS_MAX_ATTEMPTS="1")  # nothing listens on 9
    try:
        status, log = boot(host)
        assert status == 0, log
        assert re.search(rf"AWS cannot be reached: {APP} starts from its last known good "
                         r"configuration, \d+ s old \(pull_max_age 40 s\)", log), log
        assert log.count("AWS cannot be reached (") == 4  # its retries, bounded
        assert host.service(WEB)["ActiveState"] == "active"
        assert host.process_environ(WEB)["API_KEY"] == VALUES["API_KEY"].encode()
        assert credential(host, WEB, "SESSION_SECRET") == PEM.encode()

        def age() -> int:
            return int(host.run(f"sudo sh -c 'echo $(( $(date +%s) - $(stat -c %Y "
                                f"/var/lib/ssmenv/agent/{APP}.last-good) ))'"))  # fmt: skip

        wait_for(lambda: age() > 40, "the last known good copy to be older than 40 s",
                 deadline=60, every=1)  # fmt: skip
        status, log = boot(host)
        assert status != 0
        assert re.search(rf"the last known good configuration of {APP} is \d+ s old, more "
                         rf"than pull_max_age \(40 s\): {APP} does not start", log), log
        for unit in (WEB, f"{APP}-worker.service"):
            assert host.service(unit)["ActiveState"] == "inactive"
        assert "FAKE" not in log
    finally:
        environment(host, pulled.stand_in.port, pulled.metadata_port)
        pulled.publish()
    assert agent(host, "sync", APP)[0] == 2  # started again, from AWS
    assert host.service(WEB)["ActiveState"] == "active"


def test_the_generated_host_role_is_enough_for_a_sync_and_no_more(pulled, host, source):
    # Enough: every sync above ran with exactly it. No more: a read it does not cover is refused,
    # one line naming the parameter and the permission, before anything changes.
    before = host.service(WEB)["InvocationID"], host.file_state(f"/etc/{APP}.env")
    pulled.publish(f"apps={json.dumps(apps_of(host, **{APP: {'ssm_parameters': [OTHER]}}))}")
    try:
        status, said = agent(host, "sync", APP)
        assert status == 1, said
        assert (f"AccessDeniedException: User: arn:aws:sts::{ACCOUNT}:assumed-role/pull-host/"
                in said)  # fmt: skip
        assert (f"is not authorized to perform: ssm:GetParameters on resource: "
                f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{OTHER}") in said
        assert "FAKE" not in said
        assert (host.service(WEB)["InvocationID"], host.file_state(f"/etc/{APP}.env")) == before
    finally:
        pulled.publish()
    # And each of its statements is needed: without it, a sync fails naming what it lacks (a
    # release is read when the host lacks it: a new one is published for that one).
    policy = pulled.policies["hosts"][0]["policy"]
    for sid, action in (("ReadDescription", "ssm:GetParameters"),
                        ("ReadParameterPaths", "ssm:GetParametersByPath"),
                        ("ReadReleases", "s3:GetObject")):  # fmt: skip
        assert sid in {s["Sid"] for s in policy["Statement"]}
        if sid == "ReadReleases":
            (source / "RELEASE-NOTES").write_text("another release\n")
            pulled.publish()
        pulled.role_policy({**policy, "Statement": [s for s in policy["Statement"]
                                                    if s["Sid"] != sid]})  # fmt: skip
        try:
            status, said = agent(host, "sync", APP)
            # S3 names no action in its refusal: the agent names what the role needs.
            needs = (f"AccessDenied: Access Denied (the host's role needs {action}" if
                     sid == "ReadReleases" else f"not authorized to perform: {action}")
            assert status == 1 and needs in said, (sid, said)
        finally:
            pulled.role_policy(policy)
    (source / "RELEASE-NOTES").unlink()
    pulled.publish()
    assert agent(host, "sync", APP)[0] in (0, 2)
