"""An app shipped as a container image, end to end: the example app built as an image (from the
lab's own base layer), pushed to a local registry that needs a password (kept in SSM), deployed
to two Podman hosts with the real ``pyinfra`` CLI, then redeployed, rotated, moved to a new image
and to one that exits at start.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import images, registry
from lab.ports import free_port
from tests.e2e.conftest import (
    BLOCKS,
    Deployer,
    Host,
    aws_env,
    booted,
    commands_sent,
    registry_login,
    sha256,
    write_inventory,
)
from tests.fixtures.env_corpus import CORPUS

pytestmark = pytest.mark.usefixtures("container_tools")

APP = "example-app"
UNIT = f"{APP}.service"
PATH = "/e2e/containers"
USER, PASSWORD = "ci", "FAKE-registry-password-c4n4ry"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
WRONG = "FAKE-wrong-registry-password"
# What the engine adds to every container's environment, beside what it is given.
ENGINE_ADDS = {"container", "TERM", "HOME", "HOSTNAME", "PATH"}
# SSM refuses empty values: an empty variable can only come from host data.
FROM_HOST_DATA = {"EMPTY"}
VALUES = {f"{PATH}/{name}": value for name, value in CORPUS.items() if name not in FROM_HOST_DATA}


@pytest.fixture(scope="module")
def lab_registry() -> Iterator[registry.Registry]:
    port = free_port()
    running = registry.up(port, USER, PASSWORD)
    try:
        yield running
    finally:
        registry.down(port)


@pytest.fixture(scope="module")
def authfile(lab_registry, tmp_path_factory) -> Path:
    return registry_login(tmp_path_factory.mktemp("registry"), lab_registry.address, USER, PASSWORD)


@pytest.fixture(scope="module")
def pushed(lab_registry, authfile) -> dict[str, str]:
    """References by digest: two working images, one whose container exits at start, and a
    multi-architecture one (its digest is its index's)."""
    return {
        "v1": images.build(lab_registry.address, "shop:v1", authfile=authfile),
        "v2": images.build(lab_registry.address, "shop:v2", authfile=authfile),
        "v3": images.build(lab_registry.address, "shop:v3", authfile=authfile),
        "broken": images.build(lab_registry.address, "shop:broken", True, authfile=authfile),
        "multi": images.build(lab_registry.address, "shop:multi", authfile=authfile, multi=True),
    }


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[Host]]:
    with booted(BLOCKS["containers"], 2, kind="container") as up:
        yield up


@pytest.fixture(scope="module")
def deployer(hosts, stand_in, tmp_path_factory) -> Deployer:
    """The deploy of these hosts alone (a group without group data: only ``all``'s applies)."""
    path = write_inventory(tmp_path_factory.mktemp("inventory") / "c.py", "containers", hosts)
    return Deployer(path, aws_env(stand_in))


def settings(image: str, **more) -> dict:
    return {
        "app_runtime": "container",
        "app_image": image,
        "ssm_path": PATH,
        "env": {name: CORPUS[name] for name in FROM_HOST_DATA},
        "container_registry_username": USER,
        "container_registry_password": "REGISTRY_PASSWORD",
        **more,
    }


def running_digest(host: Host) -> str:
    out = host.run(f"sudo podman container inspect --format '{{{{.ImageDigest}}}}' {APP}")
    return out.strip()


def app_ids(host: Host) -> tuple[str, str]:
    """The uid and gid the host gave the app's user."""
    return host.run(f"id -u {APP}").strip(), host.run(f"id -g {APP}").strip()


def container_processes(host: Host) -> dict[str, dict[str, list[str]]]:
    """Every process of the container, seen from the host: its init (the engine's ``State.Pid``)
    and what that started, each pid with the ``Uid``/``Gid`` lines of its /proc/<pid>/status
    (real, effective, saved and filesystem ids)."""
    pid = host.run(f"sudo podman container inspect --format '{{{{.State.Pid}}}}' {APP}").strip()
    out = host.run(
        f"sudo sh -c 'for p in {pid} $(cat /proc/{pid}/task/*/children); do "
        f'echo "-- $p"; grep -E "^(Uid|Gid|Name):" /proc/$p/status; done\''
    )
    found: dict[str, dict[str, list[str]]] = {}
    for line in out.splitlines():
        if line.startswith("-- "):
            current = found.setdefault(line[3:], {})
        else:
            key, _, values = line.partition(":")
            current[key] = values.split()
    return found


def container_environ(host: Host) -> dict[str, bytes]:
    """The environment the container's processes got, read inside it (its PID 1, the init that
    starts the app with it), as raw bytes per name."""
    raw = host.run_bytes(f"sudo podman exec {APP} cat /proc/1/environ")
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if item)
    return {k.decode(): v for k, v in pairs}


@pytest.fixture(scope="module")
def deployed(deployer, stand_in, pushed, hosts):
    stand_in.put({**VALUES, f"{PATH}/REGISTRY_PASSWORD": PASSWORD})
    result = deployer.run("-v", data=settings(pushed["v1"]))
    assert result.returncode == 0, result.output[-4000:]
    return result


def test_the_container_gets_every_value_byte_for_byte(deployed, hosts, pushed):
    for host in hosts:
        environ = container_environ(host)
        differ = [name for name, value in CORPUS.items() if environ.get(name) != value.encode()]
        assert differ == [], f"{host.name}: differ: {differ}"
        assert environ["PORT"] == str(host.app_port).encode()
        # Nothing else: the registry's password went to the pull only.
        assert set(environ) - set(CORPUS) - {"PORT"} <= ENGINE_ADDS
        # The app's own view, from inside the container.
        fingerprints = host.fingerprints()
        assert fingerprints["SESSION_SECRET"] == sha256(CORPUS["SESSION_SECRET"])
        assert fingerprints["AT_SIZE_LIMIT"] == sha256(CORPUS["AT_SIZE_LIMIT"])
        assert running_digest(host) == pushed["v1"].rsplit("@", 1)[1]


def test_the_containers_processes_run_as_the_apps_user_never_root(deployed, hosts):
    for host in hosts:
        uid, gid = app_ids(host)
        assert uid != "0" and gid != "0"
        processes = container_processes(host)
        names = sorted(p["Name"][0] for p in processes.values())
        assert names == ["node", "podman-init"], processes  # the init, and the app it started
        for pid, ids in processes.items():
            assert ids["Uid"] == [uid] * 4 and ids["Gid"] == [gid] * 4, (host.name, pid, ids)
            # Its environment: the app's user's and root's to read, as a source-tree app's.
            environ = f"/proc/{pid}/environ"
            assert "API_KEY=" in host.run(f"sudo -u {APP} cat {environ} | tr '\\0' '\\n'")
            assert "Permission denied" in host.run(f"cat {environ} 2>&1", check=False)
        assert host.get("/healthz") == b"ok\n"
        # The engine that started it is root's: it is the unit's main process.
        engine = host.service(UNIT)["MainPID"]
        assert host.run(f"ps -o uid= -p {engine}").strip() == "0"


def test_the_oci_runtime_keeps_the_environment_root_only_while_the_container_runs(
    deployed, hosts
):
    # What docs/containers.md's "What is and is not protected" says of crun's copy of the
    # container's config.
    for host in hosts:
        container = host.run(f"sudo podman container inspect --format '{{{{.Id}}}}' {APP}").strip()
        config = f"/run/crun/{container}/config.json"
        modes = host.run(f"sudo stat -c '%U:%G %a' /run/crun /run/crun/{container} {config}")
        assert modes.split("\n")[:3] == ["root:root 700"] * 3
        # The value goes over stdin: on a command line, sudo would log it to the journal.
        assert host.run(f"sudo grep -c -F -f /dev/stdin {config}",
                        stdin=CORPUS["API_KEY"].strip() + "\n").strip() == "1"  # fmt: skip


def test_no_value_is_on_a_command_line_in_the_journal_or_visible_to_other_users(
    deployed, hosts
):
    secrets = [v for v in CORPUS.values() if len(v) >= 8 and v.strip() == v and "\n" not in v]
    for host in hosts:
        processes = host.run("sudo ps -eo args")
        assert "podman run" in processes and "--env=API_KEY" in processes
        journal = host.run("sudo journalctl --no-pager -o cat")
        for value in [*secrets, PASSWORD, TOKEN]:
            assert value not in processes, f"{host.name}: a value is in ps"
            assert value not in journal, f"{host.name}: a value is in the journal"
        # The deploy user sees no container of root's, so no inspect output with values.
        inspect = host.run(f"podman inspect {APP} 2>&1", check=False)
        assert CORPUS["API_KEY"] not in inspect and CORPUS["DATABASE_URL"] not in inspect


def test_the_registry_password_is_kept_in_ssm_and_never_left_on_the_host(
    deployed, hosts, stand_in
):
    assert PASSWORD not in deployed.output and TOKEN not in deployed.output
    for host in hosts:
        # The patterns go over stdin: on grep's command line, sudo would log them to the journal
        # this searches.
        left = host.run(
            "sudo grep -rlF -D skip -f /dev/stdin /etc /run /root /var/lib/containers /home "
            "2>/dev/null || true", stdin=f"{PASSWORD}\n{TOKEN}\n",
        )  # fmt: skip
        assert left.strip() == "", f"{host.name}: the registry login is left in {left}"
        assert not [n for n in host.run("sudo ls /run/ssmenv").split() if n.startswith("pull.")]
        assert "REGISTRY_PASSWORD" not in host.run(f"sudo cat /etc/{APP}.env.manifest")


def test_a_redeploy_changes_nothing_and_pulls_nothing(deployed, deployer, hosts, pushed):
    before = {h.name: h.service(UNIT)["InvocationID"] for h in hosts}
    result = deployer.run("-vv", data=settings(pushed["v1"]))
    assert result.returncode == 0, result.output[-3000:]
    assert {name: n for name, n in result.changed.items() if n} == {}
    assert "pull image" not in result.output
    # The state read alone: it knows the image is there.
    commands = commands_sent(result.output)
    assert commands == {h.name: 1 for h in hosts}
    assert {h.name: h.service(UNIT)["InvocationID"] for h in hosts} == before


def test_a_rotated_value_restarts_each_container_once_rolling(
    deployed, deployer, stand_in, hosts, pushed
):
    before = {h.name: h.service(UNIT)["InvocationID"] for h in hosts}
    stand_in.put({f"{PATH}/API_KEY": "FAKE-container-key-2"})
    try:
        result = deployer.run(deploy="rotate.py", data=settings(pushed["v1"]))
    finally:
        stand_in.put({f"{PATH}/API_KEY": CORPUS["API_KEY"]})
    assert result.returncode == 0, result.output[-3000:]
    for host in hosts:
        assert container_environ(host)["API_KEY"] == b"FAKE-container-key-2"
        assert host.service(UNIT)["InvocationID"] != before[host.name]
        assert host.service(UNIT)["NRestarts"] == "0"
    first, second = (h.started_at(UNIT) for h in hosts)
    # The second host starts only once the first was healthy and stayed up (health_settle 2 s).
    assert second - first >= 2_000_000, (first, second)


def test_a_variable_added_in_ssm_reaches_the_container_at_the_next_rotation(
    deployed, deployer, stand_in, hosts, pushed
):
    stand_in.put({f"{PATH}/FEATURE_FLAG": "FAKE-flag-on"})
    try:
        result = deployer.run(deploy="rotate.py", data=settings(pushed["v1"]))
        assert result.returncode == 0, result.output[-3000:]
        for host in hosts:
            # The unit names every variable it gives the container: it changed with them.
            assert container_environ(host)["FEATURE_FLAG"] == b"FAKE-flag-on"
            assert "--env=FEATURE_FLAG" in host.run(f"cat /etc/systemd/system/{UNIT}")
    finally:
        stand_in.delete(f"{PATH}/FEATURE_FLAG")
    result = deployer.run(deploy="rotate.py", data=settings(pushed["v1"]))
    assert result.returncode == 0, result.output[-3000:]
    for host in hosts:
        assert "FEATURE_FLAG" not in container_environ(host)


def test_credentials_are_files_the_container_reads_from_its_read_only_secrets_directory(
    deployed, deployer, hosts, pushed
):
    # No deploy back: the next test's deploy has no credentials, and checks API_KEY is back.
    result = deployer.run(data=settings(pushed["v1"], credentials=["API_KEY", "PEM_KEY"]))
    assert result.returncode == 0, result.output[-3000:]
    for host in hosts:
        environ = container_environ(host)
        assert "API_KEY" not in environ and "PEM_KEY" not in environ
        assert environ["API_KEY_FILE"] == b"/run/secrets/API_KEY"
        # systemd hands them to the unit's User=, the app's user the container runs as.
        uid = app_ids(host)[0]
        owners = host.run(f"sudo stat -c '%u %a %n' /run/credentials/{UNIT}/API_KEY "
                          f"/run/credentials/{UNIT}/PEM_KEY")  # fmt: skip
        assert [line.split()[:2] for line in owners.splitlines()] == [[uid, "400"]] * 2
        assert host.run(f"sudo podman exec {APP} id -u").strip() == uid
        inside = host.run_bytes(f"sudo podman exec {APP} cat /run/secrets/PEM_KEY")
        assert inside == CORPUS["PEM_KEY"].encode()
        # The app reads NAME_FILE when NAME is absent: its view of the value is the same.
        assert host.fingerprints()["API_KEY"] == sha256(CORPUS["API_KEY"])
        write = host.run(f"sudo podman exec {APP} sh -c 'echo x > /run/secrets/API_KEY' 2>&1",
                         check=False)  # fmt: skip
        assert "Read-only file system" in write


def test_a_new_image_is_pulled_before_the_switch_and_replaces_the_old(
    deployed, deployer, hosts, pushed
):
    result = deployer.run("--debug", "-vvv", data=settings(pushed["v2"]))
    assert result.returncode == 0, result.output[-3000:]
    assert "pull image" in result.output
    assert PASSWORD not in result.output and TOKEN not in result.output
    for host in hosts:
        assert running_digest(host) == pushed["v2"].rsplit("@", 1)[1]
        assert host.get("/healthz") == b"ok\n"
        # Back from the previous test's credentials: a variable in the env file again.
        environ = container_environ(host)
        assert environ["API_KEY"] == CORPUS["API_KEY"].encode() and "API_KEY_FILE" not in environ


def test_a_failed_pull_leaves_every_host_on_the_running_image(
    deployed, deployer, stand_in, hosts, pushed
):
    deployer.run(data=settings(pushed["v2"]))
    before = {h.name: h.service(UNIT)["InvocationID"] for h in hosts}
    stand_in.put({f"{PATH}/REGISTRY_PASSWORD": WRONG})
    try:
        result = deployer.run("--debug", "-vvv", data=settings(pushed["v3"]))
    finally:
        stand_in.put({f"{PATH}/REGISTRY_PASSWORD": PASSWORD})
    assert result.returncode != 0
    assert "could not pull" in result.output and "authentication required" in result.output
    wrong_token = base64.b64encode(f"{USER}:{WRONG}".encode()).decode()
    assert WRONG not in result.output and wrong_token not in result.output
    for host in hosts:
        assert host.service(UNIT)["InvocationID"] == before[host.name]
        assert running_digest(host) == pushed["v2"].rsplit("@", 1)[1]
        assert not [n for n in host.run("sudo ls /run/ssmenv").split() if n.startswith("pull.")]


def test_an_image_that_exits_at_start_rolls_back_to_the_previous_digest_and_stops_the_rollout(
    deployed, deployer, hosts, pushed
):
    first, second = hosts
    assert deployer.run(data=settings(pushed["v2"])).returncode == 0
    before = second.service(UNIT)["InvocationID"]

    # A crash is judged at once: the timeout only spares a slow start on a loaded machine.
    result = deployer.run(data=settings(pushed["broken"], health_timeout=60))

    assert result.returncode != 0
    out = result.output
    assert f"[{first.name}] ssmenv: {UNIT} did not become healthy" in out
    assert "broken on purpose" in out  # the container's own last words, from the journal
    # What the run said (masked as every run's output is), whole, if not as expected.
    assert (f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version"
            in out), out[-4000:]  # fmt: skip
    assert f"[{second.name}] not activated: the rollout stopped after {first.name}" in out, out
    assert first.get("/healthz") == b"ok\n"
    assert running_digest(first) == pushed["v2"].rsplit("@", 1)[1]
    assert second.service(UNIT)["InvocationID"] == before
    assert running_digest(second) == pushed["v2"].rsplit("@", 1)[1]


def test_a_multi_architecture_image_is_named_by_its_index_and_each_host_runs_its_own_platform(
    deployed, deployer, hosts, pushed, authfile
):
    index = pushed["multi"]
    name, digest = index.rsplit("@", 1)

    def skopeo(*args: str) -> str:
        return subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--authfile",
                               str(authfile), *args], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip

    # The digest of a tag already pushed, as docs/containers.md says to find it: the index's.
    assert skopeo("--format", "{{.Digest}}", f"docker://{name}:multi").strip() == digest
    listed = json.loads(skopeo("--raw", f"docker://{index}"))["manifests"]
    platforms = {m["platform"]["architecture"]: m["digest"] for m in listed}
    assert set(platforms) == {"amd64", "arm64"}

    result = deployer.run(data=settings(index))
    assert result.returncode == 0, result.output[-3000:]
    for host in hosts:
        assert host.get("/healthz") == b"ok\n"
        assert running_digest(host) == digest  # the container names the image by the index
        # What the host pulled and runs: its own platform's image, listed in the index, which
        # the engine knows by both digests.
        architecture, *digests = host.run(
            f"sudo podman image inspect --format '{{{{.Architecture}}}} {{{{range .RepoDigests}}}}"
            f"{{{{.}}}} {{{{end}}}}' {index}").split()  # fmt: skip
        assert architecture == "amd64"
        assert {f"{name}@{digest}", f"{name}@{platforms['amd64']}"} <= set(digests)
        assert f"{name}@{platforms['arm64']}" not in digests
    # The state read finds it by the index's digest: nothing is pulled again.
    again = deployer.run("-v", data=settings(index))
    assert again.returncode == 0, again.output[-3000:]
    assert "pull image" not in again.output
    assert {name: n for name, n in again.changed.items() if n} == {}
