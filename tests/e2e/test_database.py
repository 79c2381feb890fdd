"""End to end with a real database: the example app on two hosts, its rows in the lab's own
PostgreSQL (lab.postgres, on 127.0.0.1 at a port of this worker's block), its health check the
query ``/healthz/db`` asks (``health_path``), so a deploy whose database credentials do not work
fails the health gate on the canary and rolls back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from lab import postgres
from ssmenv import dbrotate
from ssmenv.databases import Login
from tests.conftest import StandIn
from tests.e2e.conftest import (
    BLOCKS,
    REPO,
    WEB,
    WORKER,
    Base,
    Deployer,
    Host,
    aws_env,
    booted,
    live_release,
    marker_present,
    sha256,
    wait_for,
    write_inventory,
)

BLOCK = BLOCKS["database"]
DB_PORT = BLOCK.server_port
PATH = "/e2e/database"
APP_PASSWORD = "FAKE-db-app-password-1"
ADMIN, ADMIN_PASSWORD = "ssmenv_admin", "FAKE-db-admin-password-1"


@pytest.fixture(scope="module")
def database() -> Iterator[postgres.Cluster]:
    cluster = postgres.up(DB_PORT)
    try:
        postgres.create_app(cluster, APP_PASSWORD, ADMIN, ADMIN_PASSWORD)
        yield cluster
    finally:
        postgres.down(DB_PORT)


@pytest.fixture(scope="module")
def lab_hosts() -> Iterator[list[Host]]:
    with booted(BLOCK, 2) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def base(database: postgres.Cluster) -> Base:
    """The example app with a real DATABASE_URL, health-checked by a query."""
    values = {
        f"{PATH}/DATABASE_URL": database.url("app", APP_PASSWORD),
        f"{PATH}/API_KEY": "FAKE-db-key-1",
        f"{PATH}/SESSION_SECRET": "FAKE-db-session",
    }
    return Base(values, {"ssm_path": PATH, "health_path": "/healthz/db", "health_timeout": 10})


@pytest.fixture(scope="module")
def inventory(lab_hosts, tmp_path_factory):
    return write_inventory(tmp_path_factory.mktemp("database") / "db.py", "staging", lab_hosts)


@pytest.fixture(scope="module")
def deployer(inventory, stand_in: StandIn) -> Deployer:
    return Deployer(inventory, aws_env(stand_in))


def post(host: Host, path: str) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{host.app_port}{path}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.read()


def test_the_example_app_writes_and_reads_its_rows_in_postgres(lab_hosts, deployed, database):
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app\n"
        rows = json.loads(post(host, "/visits"))
        assert rows[0]["host"] == host.name and rows[0]["db_user"] == "app"
    # Both hosts wrote to the one database: each sees the other's row.
    assert {row["host"] for row in json.loads(lab_hosts[0].get("/visits"))} == {
        h.name for h in lab_hosts}
    assert database.psql("SELECT count(DISTINCT host) FROM visits").strip() == "2"


def test_a_wrong_database_password_fails_the_health_gate_and_rolls_back(
    lab_hosts, deployed, converge, base, deployer, stand_in
):
    canary, other = lab_hosts
    before = {h.name: (live_release(h), h.invocations(WEB)) for h in lab_hosts}
    wrong = base.value("DATABASE_URL").replace(APP_PASSWORD, "FAKE-wrong-password")
    stand_in.put({base.parameter("DATABASE_URL"): wrong})

    result = deployer.run(data=base.data)

    assert result.returncode != 0
    assert f"[{canary.name}] ssmenv: rolled back" in result.output, result.output[-3000:]
    # The canary serves with the previous credentials again; the other host was never touched.
    assert canary.get("/healthz/db") == b"ok app\n"
    assert canary.fingerprints()["DATABASE_URL"] == sha256(base.value("DATABASE_URL"))
    assert (live_release(other), other.invocations(WEB)) == before[other.name]
    assert other.get("/healthz/db") == b"ok app\n"
    assert "FAKE-wrong-password" not in result.output



def test_the_python_twin_writes_and_reads_its_rows_with_psycopg(lab_hosts, deployed, base,
                                                                 deployer):  # fmt: skip
    # Beside the Node app, on the next ports: the same parameters, the same database.
    twin = {**base.data, "app_runtime": "python", "app_source": "examples/python-app",
            "app_name": "example-py", "app_port": lab_hosts[-1].app_port + 1}  # fmt: skip
    result = deployer.run("--limit", lab_hosts[0].name, data=twin)
    assert result.returncode == 0, result.output[-3000:]
    python = Host(lab_hosts[0].name, lab_hosts[0].ssh_port, twin["app_port"])
    assert python.get("/healthz/db") == b"ok app\n"
    rows = json.loads(post(python, "/visits"))
    assert rows[0]["host"] == lab_hosts[0].name and rows[0]["db_user"] == "app"
    # psycopg from PyPI in the release's virtualenv, as pinned.
    release = python.run("readlink /opt/example-py/current").strip()
    assert "psycopg==3.3.9" in python.run(f"{release}/.venv/bin/python -m pip freeze")
    python.run("sudo systemctl disable --now example-py.service")

# --- rotating the database password under load --------------------------------------------------

#: The administrator's URL: outside the app's ssm_path, so no host ever receives it.
ADMIN_PARAM = "/e2e/database-admin/DATABASE_ADMIN_URL"
RATE = 20  # requests per second to each host


class Load:
    """A bounded load generator: ``RATE`` requests a second to each host, each one writing and
    reading rows (POST /visits), until stopped. A request that got any answer but 200, or none
    after the app took it (a timeout), is a failure. A connection the app never accepted is
    tried again, as a load balancer would, within ``REFUSED_GRACE`` seconds (beyond that it is a
    failure too): one refused while a unit restarts (the port closed), and one reset with no
    answer, which the kernel had queued on the old process's listening socket when it closed it
    (systemd restarts stop-then-start, and Node's ``server.close()`` drops the queue; nothing of
    it reached the app, which answers every request it accepted before exiting). Both are
    counted apart."""

    REFUSED_GRACE = 3.0

    def __init__(self, hosts: list[Host]):
        self.hosts = hosts
        self.sent = 0
        self.failures: list[str] = []
        self.refused = 0
        self.reset = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(h,), daemon=True)
                         for h in hosts]  # fmt: skip

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _one(self, host: Host) -> None:
        end = time.monotonic() + self.REFUSED_GRACE
        while True:
            try:
                post(host, "/visits")
                return
            except urllib.error.HTTPError as e:
                self.failures.append(f"{host.name}: HTTP {e.code} {e.read()[:200]!r}")
                return
            except urllib.error.URLError as e:
                if isinstance(e.reason, ConnectionRefusedError) and time.monotonic() < end:
                    self.refused += 1
                    time.sleep(0.05)
                    continue
                if isinstance(e.reason, ConnectionResetError) and time.monotonic() < end:
                    self.reset += 1
                    continue
                self.failures.append(f"{host.name}: {e.reason!r}")
                return
            except ConnectionResetError as e:  # http.client.RemoteDisconnected too: no answer
                if time.monotonic() < end:
                    self.reset += 1
                    continue
                self.failures.append(f"{host.name}: {e!r}")
                return
            except OSError as e:
                self.failures.append(f"{host.name}: {e!r}")
                return

    def _run(self, host: Host) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            self._one(host)
            self.sent += 1
            tick += 1 / RATE
            self._stop.wait(max(0.0, tick - time.monotonic()))


def starts(host: Host, since: float) -> dict[str, int]:
    """How many times each process of the app started since ``since`` (epoch seconds), from
    what each says at its start in the journal."""
    def count(unit: str, line: str) -> int:
        out = host.run(f"sudo journalctl -u {unit} -o cat --since @{int(since)} --no-pager")
        return sum(1 for said in out.splitlines() if said.startswith(line))

    return {WEB: count(WEB, "listening on port"), WORKER: count(WORKER, "worker started")}


@pytest.fixture
def rotation(database: postgres.Cluster, base: Base, deployer: Deployer, stand_in: StandIn,
             inventory) -> Iterator[Callable[..., subprocess.CompletedProcess]]:  # fmt: skip
    """``python -m ssmenv db rotate`` of the base's DATABASE_URL, as a user runs it (its
    arguments: more of the command's); afterwards the database and SSM as the base has them
    (role app with its password, no clone, no rotation under way) for ``converge``."""
    stand_in.put({ADMIN_PARAM: database.url(ADMIN, ADMIN_PASSWORD)})

    def command(*extra: str, pyinfra: tuple[str, ...] = ()) -> list[str]:
        data = [f"--data={k}={v}" for k, v in base.data.items()]
        return [sys.executable, "-m", "ssmenv", "db", "rotate", "--parameter",
                base.parameter("DATABASE_URL"), "--admin-parameter", ADMIN_PARAM, *extra,
                str(inventory), *data, *pyinfra]  # fmt: skip

    def run(*extra: str, pyinfra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        result = subprocess.run(command(*extra, pyinfra=pyinfra), cwd=REPO, env=deployer.env,
                                capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL)  # fmt: skip
        result.output = result.stdout + result.stderr
        return result

    run.command = command
    yield run
    places = dbrotate.Places(base.parameter("DATABASE_URL"), ADMIN_PARAM)
    stand_in.delete(places.state, places.pending)
    database.psql(f"ALTER ROLE app LOGIN PASSWORD '{APP_PASSWORD}'; DROP ROLE IF EXISTS "
                  "app_clone;")  # fmt: skip


def current_url(stand_in: StandIn, base: Base) -> Login:
    name = base.parameter("DATABASE_URL")
    value = stand_in.ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return Login.parse(value, name)


def test_a_password_rotation_under_load_fails_no_request_and_retires_the_old_password(
    lab_hosts, deployed, converge, rotation, database, base, stand_in
):
    since = time.time()
    with Load(lab_hosts) as load:
        result = rotation()
    assert result.returncode == 0, result.output[-3000:]
    assert load.failures == [] and load.sent > RATE, (load.sent, load.failures[:5])
    new = current_url(stand_in, base)
    assert new.user == "app_clone"
    # Postgres refuses the old password; every host's app is connected with the new role.
    assert not database.login("app", APP_PASSWORD)
    assert database.login("app_clone", new.password)
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app_clone\n"
        assert host.fingerprints()["DATABASE_URL"] == sha256(new.url)
        assert starts(host, since) == {WEB: 1, WORKER: 1}, host.name
    assert "app" not in database.sessions()
    # Rows were written as both roles during the rotation, and no secret was said.
    assert set(database.psql("SELECT DISTINCT db_user FROM visits").split()) >= {
        "app", "app_clone"}
    for secret in (APP_PASSWORD, ADMIN_PASSWORD, new.password):
        assert secret not in result.output


def test_a_dry_run_says_every_step_and_changes_nothing(
    lab_hosts, deployed, rotation, database, base, stand_in
):
    result = rotation("--dry-run")
    assert result.returncode == 0, result.output
    assert result.output.count("would ") == 6
    assert current_url(stand_in, base).url == base.value("DATABASE_URL")
    assert database.login("app", APP_PASSWORD)


# After "retired" comes only the cleanup: a rerun then starts the next rotation.
@pytest.mark.parametrize("phase", ["prepared", "password-set", "written", "deploying",
                                   "rolled-out"])
def test_a_rotation_killed_at_each_phase_and_rerun_fails_no_request(
    lab_hosts, deployed, converge, rotation, database, base, stand_in, phase
):
    env = {**aws_env(stand_in), "PYTHONUNBUFFERED": "1"}
    with Load(lab_hosts) as load:
        killed = subprocess.Popen(rotation.command(), cwd=REPO, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # fmt: skip
        try:
            if phase == "deploying":
                # The rollout under way: the canary's activation has begun.
                wait_for(lambda: marker_present(lab_hosts[0]), "an activation under way",
                         deadline=180, every=0.02)  # fmt: skip
            else:
                # The rotation says each phase once it is recorded: killed right there, in
                # the next step.
                said = ""
                while f": {phase}: " not in said:
                    said = killed.stdout.readline()
                    assert said, f"the rotation ended before {phase}"
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            killed.wait()
            killed.stdout.close()
        # Every host holds a login that works after the kill, before the rerun.
        for host in lab_hosts:
            wait_for(lambda h=host: healthy_db(h), f"{host.name} answers /healthz/db")
        result = rotation()
    assert result.returncode == 0, result.output[-3000:]
    assert load.failures == [], load.failures[:5]
    new = current_url(stand_in, base)
    assert new.user == "app_clone" and not database.login("app", APP_PASSWORD)
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app_clone\n"


def test_new_credentials_failing_the_health_gate_stop_the_rotation_on_the_canary(
    lab_hosts, deployed, converge, rotation, database, base, stand_in
):
    # The other role exists without the first one's privileges (NOINHERIT): it logs in, but
    # cannot read the app's table, so the app's health check fails with it.
    database.psql("CREATE ROLE app_clone LOGIN NOINHERIT IN ROLE app;")
    canary, other = lab_hosts
    before = other.invocations(WEB)
    with Load(lab_hosts) as load:
        # pyinfra at its most verbose (-vvv: every command and fact output) and the canary's
        # journal shown on failure: still no password.
        result = rotation(pyinfra=("-vvv",))
    assert result.returncode == 1, result.output[-3000:]
    for secret in (APP_PASSWORD, ADMIN_PASSWORD, current_url(stand_in, base).password):
        assert secret not in result.output
    assert "role 'app' is untouched" in result.output
    assert f"[{canary.name}] ssmenv: rolled back" in result.output
    # Requests failed on the canary alone, while it was health-checked with the new role (a
    # load balancer checking /healthz/db too would have taken it out meanwhile), none elsewhere.
    assert {failure.split(":")[0] for failure in load.failures} <= {canary.name}
    # The previous role's password still works and every host uses it; the other host was
    # never touched.
    assert database.login("app", APP_PASSWORD)
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app\n"
    assert other.invocations(WEB) == before
    # --abort puts the previous credentials back in SSM.
    aborted = rotation("--abort")
    assert aborted.returncode == 0, aborted.output[-3000:]
    assert current_url(stand_in, base).url == base.value("DATABASE_URL")


def healthy_db(host: Host) -> bool:
    try:
        return host.get("/healthz/db").startswith(b"ok ")
    except OSError:
        return False


# --- the app's login in a Secrets Manager secret ------------------------------------------------

SECRET, ADMIN_SECRET = "e2e/database/app", "e2e/database/admin"


def put_secret(stand_in: StandIn, name: str, value: str) -> None:
    client = stand_in.client("secretsmanager")
    try:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_secret(Name=name, SecretString=value)


def test_a_secret_rotated_under_load_at_pyinfra_vvv_fails_no_request_and_hosts_serve_awscurrent(
    lab_hosts, deployed, converge, rotation, database, base, deployer, stand_in, inventory
):
    # DATABASE_URL from a secret (a whole URL as its string), not the module's SSM path; the
    # administrator's login in another secret, as AWS's RDS templates write it (JSON).
    put_secret(stand_in, SECRET, database.url("app", APP_PASSWORD))
    put_secret(stand_in, ADMIN_SECRET, json.dumps({
        "engine": "postgres", "host": "127.0.0.1", "port": database.port, "username": ADMIN,
        "password": ADMIN_PASSWORD, "dbname": postgres.DATABASE}))  # fmt: skip
    stand_in.ssm().delete_parameter(Name=base.parameter("DATABASE_URL"))
    data = {**base.data, "secrets": [{"id": SECRET, "variable": "DATABASE_URL"}]}
    assert (first := deployer.run(data=data)).returncode == 0, first.output[-3000:]
    pyinfra_data = [f"--data={k}={v if isinstance(v, str) else json.dumps(v)}"
                    for k, v in data.items()]  # fmt: skip
    command = [sys.executable, "-m", "ssmenv", "db", "rotate", "--secret", SECRET,
               "--admin-secret", ADMIN_SECRET, str(inventory), *pyinfra_data, "-vvv"]
    since = time.time()
    with Load(lab_hosts) as load:
        result = subprocess.run(command, cwd=REPO, env=deployer.env, capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert load.failures == [] and load.sent > RATE, (load.sent, load.failures[:5])
    client = stand_in.client("secretsmanager")
    value = client.get_secret_value(SecretId=SECRET, VersionStage="AWSCURRENT")["SecretString"]
    new = Login.parse(value, SECRET)
    assert new.user == "app_clone" and database.login("app_clone", new.password)
    assert not database.login("app", APP_PASSWORD)
    stages = client.describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert sorted(map(sorted, stages.values())) == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    # Every host serves AWSCURRENT, one start per unit; drift finds no host behind it.
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app_clone\n"
        assert host.fingerprints()["DATABASE_URL"] == sha256(value)
        assert starts(host, since) == {WEB: 1, WORKER: 1}, host.name
    drift = subprocess.run([sys.executable, "-m", "ssmenv", "drift", str(inventory),
                            *pyinfra_data], cwd=REPO, env=deployer.env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert drift.returncode == 0, (drift.stdout + drift.stderr)[-2000:]
    # pyinfra at -vvv (every command and fact output): no password of any of the three.
    assert "-vvv" in " ".join(command)
    for secret in (APP_PASSWORD, ADMIN_PASSWORD, new.password):
        assert secret not in output

    # Then Secrets Manager's own rotation function (alternating users) rotates it back, its
    # steps staged by hand (no Lambda runs in the stand-in): createSecret (AWSPENDING), setSecret
    # (role app's new password), finishSecret (AWSCURRENT moved). drift names both hosts as
    # behind AWSCURRENT; the next deploy takes it up; drift is clean again.
    rotated = "FAKE-db-rotated-by-the-function"
    database.psql(f"ALTER ROLE app PASSWORD '{rotated}';")
    pending = client.put_secret_value(SecretId=SECRET, SecretString=database.url("app", rotated),
                                      VersionStages=["AWSPENDING"])["VersionId"]  # fmt: skip
    current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
    client.update_secret_version_stage(SecretId=SECRET, VersionStage="AWSCURRENT",
                                       MoveToVersionId=pending, RemoveFromVersionId=current)
    drift = subprocess.run([sys.executable, "-m", "ssmenv", "drift", str(inventory),
                            *pyinfra_data], cwd=REPO, env=deployer.env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    said = drift.stdout + drift.stderr
    assert drift.returncode == 2, said[-2000:]
    summary = next(line for line in said.splitlines() if "hosts differ" in line)
    assert summary.startswith("drift: 2 of 2 hosts differ: "), said[-2000:]
    assert all(host.name in summary for host in lab_hosts)
    assert "DATABASE_URL" in said and rotated not in said
    assert (again := deployer.run(data=data)).returncode == 0, again.output[-3000:]
    for host in lab_hosts:
        assert host.get("/healthz/db") == b"ok app\n"
    drift = subprocess.run([sys.executable, "-m", "ssmenv", "drift", str(inventory),
                            *pyinfra_data], cwd=REPO, env=deployer.env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert drift.returncode == 0, (drift.stdout + drift.stderr)[-2000:]
