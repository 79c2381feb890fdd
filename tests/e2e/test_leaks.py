"""A canary secret never shows up anywhere but in the env file, the credentials directory of the
processes it configures, and those processes.

Each run below changes the canary's value in a credential (``SESSION_SECRET``), which is
re-encrypted under every output mode; the env file carries it too (``DATABASE_URL``). Remote
command lines are covered by the output checks: from ``-vv`` on, pyinfra prints every command it
sends.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest

from tests.e2e.conftest import example_app

PATH = "/e2e/leaks"
CANARY = f"FAKE-CANARY-{secrets.token_hex(6)}"
UNIT = "example-app-web.service"  # the web process of the example app's Procfile
UNITS = ("example-app-web.service", "example-app-worker.service")
DATA = {"ssm_path": PATH, "credentials": ["SESSION_SECRET"]}

MODES = [
    ["-v"],
    ["-vvv"],
    ["--debug"],
    ["--debug-all"],
    ["--diff"],
    ["--dry"],
    ["--dry", "--json"],
    ["--debug-operations"],
    ["--debug-facts"],
]


@pytest.fixture(scope="module")
def started(stand_in) -> float:
    stand_in.put({
        f"{PATH}/DATABASE_URL": f"postgres://app:{CANARY}@db/app",
        f"{PATH}/API_KEY": f"{CANARY}-api",
        f"{PATH}/SESSION_SECRET": f"{CANARY}-session",
    })  # fmt: skip
    return time.time() - 1


def rotate(stand_in, i: int) -> None:
    stand_in.put({f"{PATH}/SESSION_SECRET": f"{CANARY}-session-{i}"})


@pytest.mark.parametrize("mode", MODES, ids=" ".join)
def test_no_output_mode_shows_the_secret(started, deployer, stand_in, mode):
    rotate(stand_in, MODES.index(mode))
    result = deployer.run(*mode, data=DATA)
    assert result.returncode == 0, result.output[-3000:]
    assert CANARY not in result.output


def test_a_run_failing_on_a_missing_variable_shows_no_secret(started, deployer):
    result = deployer.run("--debug", "-vvv", data={**DATA, "env_required": ["ABSENT"]})
    assert result.returncode != 0
    assert "ABSENT: required but missing" in result.output
    assert CANARY not in result.output


def test_a_run_failing_on_the_hosts_shows_no_secret(started, deployer, stand_in, tmp_path):
    rotate(stand_in, 100)
    # The app exits at start: the health check fails and pyinfra prints the remote error output.
    exits = example_app(tmp_path, web="/usr/bin/node -e process.exit(3)")
    result = deployer.run(
        "-vvv", data={**DATA, "app_source": str(exits), "health_timeout": 2},
    )  # fmt: skip
    assert result.returncode != 0
    assert "did not become healthy" in result.output
    assert CANARY not in result.output
    restored = deployer.run(data=DATA)
    assert restored.returncode == 0, restored.output[-3000:]


def test_the_journal_never_holds_the_secret(started, lab_hosts, deployer):
    for host in lab_hosts:
        journal = subprocess.run(
            [*host_ssh(host), "sudo journalctl --no-pager -o export"], capture_output=True,
            timeout=60, check=True,
        ).stdout  # fmt: skip
        assert journal, "empty journal: the check would prove nothing"
        assert CANARY.encode() not in journal, f"{host.name}: journal holds the canary"


def test_no_digest_of_an_env_file_is_on_a_command_line_or_in_the_journal(started, lab_hosts):
    """A digest of a low-entropy secret's file is an offline-guessing aid: the activation gets the
    digests it compares on stdin, never as arguments (which ps shows and sudo logs)."""
    for host in lab_hosts:
        digests = [word for word in host.run(
            "sudo sh -c 'for f in /etc/example-app.env /etc/example-app.env.previous; do "
            "if [ -f $f ]; then sha256sum < $f; fi; done'"
        ).split() if len(word) == 64]  # fmt: skip
        assert digests, f"{host.name}: no env file to look for"
        journal = subprocess.run(
            [*host_ssh(host), "sudo journalctl --no-pager -o export"], capture_output=True,
            timeout=60, check=True,
        ).stdout  # fmt: skip
        assert b"COMMAND=" in journal, "sudo logged nothing: the check would prove nothing"
        for digest in digests:
            assert digest.encode() not in journal, f"{host.name}: the journal holds a digest"


def test_only_the_env_files_and_the_credentials_directories_hold_the_secret(started, lab_hosts):
    for host in lab_hosts:
        # The pattern goes over stdin: on a command line, sudo would log it to the journal.
        found = host.run(
            "sudo grep -rlaF -f /dev/stdin /etc /tmp /var /opt /home /root /run "
            "2>/dev/null || true",
            stdin=CANARY + "\n",
        ).split()
        allowed = {"/etc/example-app.env", "/etc/example-app.env.previous",
                   *(f"/run/credentials/{unit}/SESSION_SECRET" for unit in UNITS)}  # fmt: skip
        assert set(found) <= allowed, found
        # The credential did reach the processes, from its ciphertext.
        assert f"/run/credentials/{UNIT}/SESSION_SECRET" in found
        assert host.file_state("/etc/example-app.env").startswith("root:root 600\n")


def test_no_file_written_on_the_control_machine_holds_the_secret(started):
    roots = ["/tmp", "/var/tmp", os.path.expanduser("~"), os.getcwd()]
    newer = subprocess.run(
        ["find", *roots, "-xdev", "-type", "f", "-newermt", f"@{started}",
         "-not", "-path", "*/.venv/*", "-not", "-path", "*/.git/*", "-size", "-50M"],
        capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    leaking = []
    for path in filter(None, newer):
        try:
            with open(path, "rb") as f:
                if CANARY.encode() in f.read():
                    leaking.append(path)
        except OSError:
            continue
    assert leaking == []


def host_ssh(host) -> list[str]:
    from lab.hosts import ssh_args

    return [*ssh_args(host.ssh_port)]
