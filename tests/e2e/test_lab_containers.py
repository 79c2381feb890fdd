"""The lab's container infrastructure end to end, without the toolkit: a ``container``-kind host,
the local registry with a password, the example app built as an image and pushed there, pulled on
the host by digest and run in the foreground under a systemd unit that passes only names.

What the toolkit's container runtime (``ssmenv/runtimes/container.py``) builds on; see
lab/containers.md for the findings.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import hosts as lab
from lab import images, registry
from ssmenv.envfile import encode_value
from tests.e2e.conftest import BLOCKS, Host, booted, registry_login, sha256, wait_for

pytestmark = pytest.mark.usefixtures("container_tools")

BLOCK = BLOCKS["lab-containers"]
APP_PORT = BLOCK.app_port
# Any port: the container image kind marks every 127.0.0.1 registry insecure.
REGISTRY_PORT = int(os.environ.get("SSMENV_E2E_REGISTRY_PORT") or BLOCK.server_port)
USER, PASSWORD = "lab", "FAKE-registry-pass'\"$x"
UNIT = "lab-container.service"
ENV_FILE = "/etc/lab-container.env"
AUTH_FILE = "/etc/lab-container/auth.json"

# Hard values: the engine must take each from its own environment exactly.
VALUES = {
    "PORT": str(APP_PORT),
    "DATABASE_URL": "postgres://app:FAKE'pass\"word$@db/app",
    "API_KEY": "FAKE-api-key\t",
    "SESSION_SECRET": "FAKE\nmulti\nline\nsecret\n",
    "DOLLARS": "$HOME ${HOME} `id` $(id)",
    "QUOTES_AND_BACKSLASHES": "it's \"quoted\" \\ \\\\ 'twice'",
    "EQUALS": "a=b=c",
    "SPACES": "  both  ",
    "UNICODE": "日本語 😀 \u2028",
    "EMPTY": "",
    "LARGE": "x" * 32768,
}


def unit(image: str) -> str:
    """A unit running ``image`` in the foreground; values reach it by name only.

    KillMode=mixed: SIGTERM to podman alone, which passes it to the container's process (with
    cgroups disabled in the lab, every process of the container is in this unit's cgroup)."""
    names = " ".join(f"--env {name}" for name in VALUES)
    return f"""[Service]
Type=simple
EnvironmentFile={ENV_FILE}
ExecStart=/usr/bin/podman run --rm --replace --name lab-container --network=host --pull=never \
--init --http-proxy=false {names} {image}
KillMode=mixed
TimeoutStopSec=20
"""


@pytest.fixture(scope="module")
def lab_registry() -> Iterator[registry.Registry]:
    running = registry.up(REGISTRY_PORT, USER, PASSWORD)
    try:
        yield running
    finally:
        registry.down(REGISTRY_PORT)
        assert registry.running(REGISTRY_PORT) is None


@pytest.fixture(scope="module")
def authfile(lab_registry, tmp_path_factory) -> Path:
    return registry_login(tmp_path_factory.mktemp("registry"), lab_registry.address, USER, PASSWORD)


@pytest.fixture(scope="module")
def pushed(lab_registry, authfile) -> dict[str, str]:
    """References by digest of a working image and of one whose container exits at start."""
    return {
        "good": images.build(lab_registry.address, "example:v1", authfile=authfile),
        "broken": images.build(lab_registry.address, "example:v2", True, authfile=authfile),
    }


@pytest.fixture(scope="module")
def host(authfile) -> Iterator[Host]:
    with booted(BLOCK, 1, kind="container") as up:
        h = up[0]
        # The registry password reaches the host on stdin, into a root-only file.
        directory = Path(AUTH_FILE).parent
        h.run(f"sudo install -d -m 0700 {directory} && sudo install -m 0600 /dev/stdin {AUTH_FILE}",
              stdin=authfile.read_text())  # fmt: skip
        yield h


def pull(host: Host, reference: str) -> str:
    host.run(f"sudo podman pull --quiet --authfile {AUTH_FILE} {reference}")
    return host.run(f"sudo podman image inspect --format '{{{{.Digest}}}}' {reference}").strip()


def test_registry_refuses_a_pull_without_the_password(host, pushed):
    out = host.run(f"sudo podman pull --quiet {pushed['good']} 2>&1 || true")
    assert "authentication required" in out


def test_the_app_image_runs_under_systemd_with_exact_values(host, pushed):
    digest = pushed["good"].rsplit("@", 1)[1]
    assert pull(host, pushed["good"]) == digest
    env = "".join(f"{name}={encode_value(value)}\n" for name, value in VALUES.items())
    host.run(f"sudo install -m 0600 /dev/stdin {ENV_FILE}", stdin=env)
    host.run(f"sudo install -m 0644 /dev/stdin /etc/systemd/system/{UNIT}",
             stdin=unit(pushed["good"]))  # fmt: skip
    host.run(f"sudo systemctl daemon-reload && sudo systemctl start {UNIT}")

    def answers():
        try:
            return host.get("/healthz") == b"ok\n"
        except OSError:
            return False

    wait_for(answers, f"the app container answering on port {APP_PORT}")
    fingerprints = host.fingerprints()
    assert {name: fingerprints.get(name) for name in VALUES} == {
        name: sha256(value) for name, value in VALUES.items()
    }
    # Names only on any command line: no value in the host's process list.
    processes = host.run("ps -eo args")
    assert "podman run" in processes
    for name, value in VALUES.items():
        if len(value) >= 6:
            assert value not in processes, f"{name}'s value is in ps"

    host.run(f"sudo systemctl stop {UNIT}")
    assert host.service(UNIT)["ActiveState"] == "inactive"
    assert host.run("sudo podman ps --all --quiet").strip() == ""


def test_the_broken_image_exits_at_start(host, pushed):
    pull(host, pushed["broken"])
    result = subprocess.run(
        [*lab.ssh_args(host.ssh_port),
         f"sudo podman run --rm --pull=never --network=host {pushed['broken']}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "broken on purpose" in result.stderr
