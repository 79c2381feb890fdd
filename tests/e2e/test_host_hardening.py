"""What a host's provisioning refuses, on a real host with the real ``pyinfra`` CLI: a directory
the toolkit manages that is a link is never followed, and an account the toolkit did not make (a
system account, a privileged one) never becomes the app's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import StandIn
from tests.e2e.conftest import (
    APP_PORT_BASE,
    PREFIX,
    SSH_PORT_BASE,
    Deployer,
    Host,
    booted,
    write_inventory,
)

SSH_PORT, APP_PORT = SSH_PORT_BASE + 131, APP_PORT_BASE + 131
PATH = "/e2e/hardening"
PARAMETERS = {
    f"{PATH}/DATABASE_URL": "postgres://app:FAKE-hardening@db.internal:5432/app",
    f"{PATH}/API_KEY": "FAKE-hardening-key",
    f"{PATH}/SESSION_SECRET": "FAKE-hardening-session",
}


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    with booted(f"{PREFIX}h", 1, SSH_PORT, APP_PORT) as up:
        yield up[0]


@pytest.fixture(scope="module")
def hardening(host, stand_in: StandIn, tmp_path_factory) -> Deployer:
    stand_in.put(PARAMETERS)
    path = write_inventory(tmp_path_factory.mktemp("hardening") / "h.py", "staging", [host])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return Deployer(path, {**env, **stand_in.env})


VICTIM = "/var/tmp/victim"
LINKED_APP = "linked-app"


def test_a_releases_directory_that_is_a_link_is_refused_and_its_target_left_alone(
    host, hardening, tmp_path
):
    host.run(f"sudo install -d -o nobody -g nogroup -m 0700 {VICTIM}")
    host.run(f"sudo install -d -m 0755 /opt/{LINKED_APP} && "
             f"sudo ln -sfn {VICTIM} /opt/{LINKED_APP}/releases")  # fmt: skip
    before = host.run(f"sudo stat -c '%U:%G %a' {VICTIM} && sudo ls -A {VICTIM}")

    result = hardening.run(data={"app_name": LINKED_APP, "ssm_path": PATH,
                                 "app_port": APP_PORT + 1})  # fmt: skip

    assert host.run(f"sudo stat -c '%U:%G %a' {VICTIM} && sudo ls -A {VICTIM}") == before
    assert result.returncode != 0
    named = [line for line in result.output.splitlines()
             if f"/opt/{LINKED_APP}/releases" in line]  # fmt: skip
    assert len(named) == 1 and "symbolic link" in named[0], result.output[-3000:]
    # Refused before anything changed: no user, no env file, no unit.
    assert host.run(f"getent passwd {LINKED_APP} || true").strip() == ""
    assert host.file_state(f"/etc/{LINKED_APP}.env") == "absent"
    assert host.run(f"ls /etc/systemd/system | grep {LINKED_APP} || true").strip() == ""


@pytest.mark.parametrize(("user", "why"), [
    ("backup", "a system account"),
    ("staff", "a group"),
])  # fmt: skip
def test_an_account_ssmenv_did_not_make_is_refused_as_app_user_and_nothing_changes(
    host, hardening, user, why
):
    app = f"adopt-{user}"
    before = host.run(f"getent passwd {user}; getent group {user}; id {user} || true")

    result = hardening.run(data={"app_name": app, "app_user": user, "ssm_path": PATH,
                                 "app_port": APP_PORT + 2})  # fmt: skip

    assert result.returncode != 0
    named = [line for line in result.output.splitlines() if "app_user: the host's" in line]
    assert len(named) == 1 and f" {user} " in named[0] and why in named[0], result.output[-3000:]
    assert host.run(f"getent passwd {user}; getent group {user}; id {user} || true") == before
    assert host.run(f"ls -d /opt/{app} /etc/{app}.env 2>/dev/null || true").strip() == ""


def test_an_account_an_earlier_version_made_for_the_app_is_still_its_own(host, hardening):
    app = "legacy-app"
    # What provision.sh made before accounts carried a mark: a group, then a user in it alone.
    host.run(f"sudo groupadd -r {app} && sudo useradd -r -M -d /nonexistent "
             f"-s /usr/sbin/nologin -g {app} {app} && sudo install -d -m 0755 /opt/{app}")
    legacy = Host(host.name, host.ssh_port, APP_PORT + 3)

    result = hardening.run(data={"app_name": app, "ssm_path": PATH, "app_port": APP_PORT + 3})

    assert result.returncode == 0, result.output[-3000:]
    assert legacy.get("/healthz") == b"ok\n"
    assert host.run(f"id -nG {app}").split() == [app]
