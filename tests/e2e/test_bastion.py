"""A host only reachable through a bastion, reached by the real pyinfra CLI with the setting the
docs/inventories.md documents: ``ssh_config_file`` naming an OpenSSH config whose ``ProxyJump``
covers the host's address.

The first lab host plays the bastion; the second is the app host, named by an address only the
bastion can resolve, so a direct connection cannot succeed.
"""

from __future__ import annotations

import subprocess

from lab import hosts as lab
from tests.e2e.conftest import PYINFRA

BEHIND = "app-behind-bastion"


def test_a_host_behind_a_bastion_is_reached_through_proxyjump(lab_hosts, tmp_path):
    bastion, target = lab_hosts
    bastion.run(
        f"grep -q {BEHIND} /etc/hosts || echo '127.0.0.1 {BEHIND}' | sudo tee -a /etc/hosts"
    )
    target.run("touch ~/.i-am-the-target")
    config = tmp_path / "ssh.config"
    config.write_text(
        f"""Host bastion
    HostName 127.0.0.1
    Port {bastion.ssh_port}
    User {lab.USER}
    IdentityFile {lab.key_path()}
    UserKnownHostsFile /dev/null
    StrictHostKeyChecking no

Host app-*
    ProxyJump bastion
"""
    )
    data = {
        "ssh_hostname": BEHIND,
        "ssh_port": target.ssh_port,
        "ssh_user": lab.USER,
        "ssh_key": str(lab.key_path()),
        "ssh_config_file": str(config),
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    reached = run(tmp_path, data, "ls -a ~")
    assert reached.returncode == 0, reached.stderr
    assert "[app-1] .i-am-the-target" in reached.stderr, reached.stderr

    # Without the bastion the same host cannot be reached at all.
    data.pop("ssh_config_file")
    direct = run(tmp_path, data, "true")
    assert direct.returncode != 0
    assert "Could not resolve hostname" in direct.stderr, direct.stderr


def run(tmp_path, data: dict, command: str) -> subprocess.CompletedProcess[str]:
    """``pyinfra INVENTORY exec -- command`` on the one host, from a directory without group
    data: the host's data alone says how to connect."""
    inventory = tmp_path / "behind.py"
    inventory.write_text(f"web = [('app-1', {data!r})]\n")
    return subprocess.run(
        [str(PYINFRA), "-y", str(inventory), "exec", "--", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
