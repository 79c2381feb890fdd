"""What the app's repository and the names from AWS bring cannot reach root or a unit line: a
Procfile or ``app_start`` command with one of systemd's ``ExecStart=`` prefixes (``+`` runs it as
root, outside ``User=`` and the sandbox), and a Secrets Manager key with a newline delivered as a
credential (its name would become unit lines), are each refused with one line naming the key,
before any host changes: no unit file, no release, no user, nothing run."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.e2e.conftest import APP, REPO, Base, example_app

PATH = "/e2e/refused"
BASE = Base.example(PATH, "refused")
DATA = BASE.data
# What a command that ran as root would leave behind.
MARKER = "/root/ssmenv-refused-ran"
# Everything a deploy of the app changes on a host: units, releases, env files, credentials, the
# app's user, and the marker.
SNAPSHOT = (
    "sudo sh -c 'find /etc/systemd/system /opt /etc/credstore /etc/credstore.encrypted "
    f"/etc/{APP}.env /etc/{APP}.env.manifest /etc/{APP}.env.key {MARKER} "
    "-printf \"%p %U:%G %m %s %T@\\n\" 2>/dev/null; getent passwd example-app; true'"
)


def snapshot(host) -> list[str]:
    return sorted(host.run(SNAPSHOT).splitlines())


def node_users(host) -> list[str]:
    """Who runs each node process on the host: the attack's outcome where it was not refused."""
    return host.run("ps -o user=,args= -C node || true").splitlines()


@pytest.fixture(scope="module")
def base() -> Base:
    return BASE


@pytest.fixture(scope="module")
def seeded(deployed):
    """The app deployed and running: what a refused deploy must leave as it is."""


def refused_before_any_change(deployer, lab_hosts, data: dict) -> str:
    """Deploy ``data``; check that it stopped before any operation and that no host changed;
    return the output."""
    before = {h.name: snapshot(h) for h in lab_hosts}
    result = deployer.run(data=data)
    assert result.returncode != 0, (
        "deployed; node runs as: " + repr({h.name: node_users(h) for h in lab_hosts})
    )
    assert "Starting operation" not in result.output, result.output[-3000:]
    for host in lab_hosts:
        assert snapshot(host) == before[host.name], f"{host.name} changed"
    return result.output


def source_without_procfile(directory) -> str:
    source = directory / "single"
    shutil.copytree(REPO / "examples" / "app", source)
    (source / "Procfile").unlink()
    return str(source)


def test_a_procfile_command_with_systemds_root_prefix_is_refused_naming_its_line(
    seeded, deployer, lab_hosts, tmp_path
):
    # `+` before the command: systemd runs it with full privileges, ignoring User= and the
    # sandbox. A bare name is looked up on systemd's search path. (The Procfile's third line:
    # example_app puts it after the comment and the worker.)
    source = example_app(tmp_path, web=f"+sh -c 'touch {MARKER}; exec node server.js'")

    output = refused_before_any_change(deployer, lab_hosts, {**DATA, "app_source": str(source)})

    lines = [line for line in output.splitlines() if "Procfile line 3" in line]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].strip().startswith("app_source: Procfile line 3 (web): starts with '+'")
    assert "touch" not in output and MARKER not in output  # the command is never echoed


def test_app_start_with_systemds_root_prefix_is_refused(seeded, deployer, lab_hosts, tmp_path):
    start = f"+/usr/bin/sh -c 'touch {MARKER}; exec /usr/bin/node server.js'"
    data = {**DATA, "app_source": source_without_procfile(tmp_path), "app_start": start}

    output = refused_before_any_change(deployer, lab_hosts, data)

    lines = [line.strip() for line in output.splitlines() if "app_start: " in line]
    assert lines and lines[0].startswith("app_start: starts with '+'"), output[-3000:]
    assert "touch" not in output and MARKER not in output


# A JSON key that, as a credential's name, would be three unit lines: the second one a command
# run as root before the app starts.
FORGED = f"FORGED\nExecStartPre=+/usr/bin/touch {MARKER}\nX"


def test_a_secret_key_with_a_newline_delivered_as_a_credential_is_refused_as_one_escaped_line(
    seeded, stand_in, deployer, lab_hosts
):
    secret = "e2e/refused/forged"
    stand_in.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({FORGED: "FAKE-forged-value", "OK": "FAKE-ok"})
    )
    data = {**DATA, "secrets": [secret], "credentials": "secure"}

    output = refused_before_any_change(deployer, lab_hosts, data)

    lines = [line.strip() for line in output.splitlines() if "FORGED" in line]
    assert lines == [
        f"{FORGED!r}: not a variable name (letters, digits and _, not starting with a digit) "
        f"(from secret {secret} key {FORGED!r})"
    ], output[-3000:]
    assert not any(line.lstrip().startswith("ExecStartPre=") for line in output.splitlines())
    assert "FAKE-forged-value" not in output and "FAKE-ok" not in output
