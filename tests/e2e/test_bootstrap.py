"""A bare Debian 12 server (sshd, sudo and a user, nothing else) becomes an app host in one run,
for a Node.js app and for its Python twin, deployed as a non-root sudo user."""

from __future__ import annotations

import pytest

from lab import hosts as lab
from tests.e2e.conftest import BLOCKS, Deployer, Host, aws_env, booted, example_parameters, sha256

PATH = "/e2e/bootstrap"
PARAMETERS = example_parameters(PATH, "bare")
BARE = BLOCKS["bare"]
NODE_PORT = BARE.app_port
PYTHON_PORT = BARE.app_port + 1


@pytest.fixture(scope="module")
def bare_host():
    with booted(BARE, 1, kind="bare") as up:
        yield up[0]


@pytest.fixture(scope="module")
def bare_deployer(bare_host, stand_in, tmp_path_factory) -> Deployer:
    path = tmp_path_factory.mktemp("bare") / "bare.py"
    data = {**lab.connection_data(bare_host.ssh_port), "app_port": NODE_PORT}
    path.write_text(f"staging = [({bare_host.name!r}, {data!r})]\n")
    return Deployer(path, aws_env(stand_in))


def test_the_bare_host_has_no_runtime_and_no_root_login(bare_host):
    assert bare_host.run("command -v node python3 || true").strip() == ""
    assert bare_host.run("id -u").strip() != "0"
    assert "permitrootlogin no" in bare_host.run("sudo sshd -T").lower()


def test_one_run_makes_a_bare_host_serve_the_node_app(bare_host, bare_deployer, stand_in):
    stand_in.put(PARAMETERS)
    result = bare_deployer.run(data={"ssm_path": PATH})
    assert result.returncode == 0, result.output[-3000:]
    assert bare_host.get("/healthz") == b"ok\n"
    assert bare_host.fingerprints()["API_KEY"] == sha256(PARAMETERS[f"{PATH}/API_KEY"])
    assert bare_host.file_state("/etc/example-app.env").startswith("root:root 600\n")
    assert "SystemMaxUse=" in bare_host.run("cat /etc/systemd/journald.conf.d/50-ssmenv.conf")
    # npm (the lockfile's tool) came without its Recommends: no compiler and no git on an app
    # host; nodejs (the runtime) with its own: the authorities TLS needs.
    assert bare_host.run("command -v npm gcc g++ cc make git || true").split() == ["/usr/bin/npm"]
    installed = "dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null || true"
    assert bare_host.run(installed) == "install ok installed"


def test_the_python_twin_is_deployed_by_the_same_code(bare_host, bare_deployer, stand_in):
    twin = {"ssm_path": PATH, "app_runtime": "python", "app_source": "examples/python-app",
            "app_name": "example-py", "app_port": PYTHON_PORT}  # fmt: skip
    result = bare_deployer.run(data=twin)
    assert result.returncode == 0, result.output[-3000:]
    python = Host(bare_host.name, bare_host.ssh_port, PYTHON_PORT)
    assert python.get("/healthz") == b"ok\n"
    assert python.fingerprints()["API_KEY"] == sha256(PARAMETERS[f"{PATH}/API_KEY"])
    environ = python.process_environ("example-py.service")
    assert environ["SESSION_SECRET"] == PARAMETERS[f"{PATH}/SESSION_SECRET"].encode()
    # The virtualenv was made where it lives (its paths are absolute: its scripts' first lines),
    # not where its release was staged, and, like the release, is root's.
    release = bare_host.run("readlink /opt/example-py/current").strip()
    made = bare_host.run(f"grep '^command = ' {release}/.venv/pyvenv.cfg").strip()
    assert made.endswith(f" -m venv {release}/.venv"), made
    assert bare_host.run(f"sudo find {release} ! -user root").strip() == ""
    assert bare_host.get("/healthz") == b"ok\n"  # the node app next to it is untouched

    again = bare_deployer.run(data=twin)
    assert again.returncode == 0
    assert {name: n for name, n in again.changed.items() if n} == {}
