"""What a host's provisioning refuses or confines, on a real host with the real ``pyinfra`` CLI:
a dependency's install script runs as nobody that matters (it cannot read the host's secrets nor
write outside its release), a directory the toolkit manages that is a link is never followed, and
an account the toolkit did not make (a system account, a privileged one) never becomes the app's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StandIn
from tests.e2e.conftest import (
    BLOCKS,
    REPO,
    Deployer,
    Host,
    aws_env,
    booted,
    example_parameters,
    write_inventory,
)

BLOCK = BLOCKS["hardening"]
APP_PORT = BLOCK.app_port  # the probe app's; the apps refused beside it take the next ports
PATH = "/e2e/hardening"
PARAMETERS = example_parameters(PATH, "hardening")
PROBE_APP = "probe-app"

# A dependency whose install script records who it runs as and what it could reach: the host's
# secrets (the app's env file, its credentials, the host key that decrypts them, the toolkit's
# state directory) and places outside its release. Each attempt: "ok" or the error's code.
RECORD_JS = r"""'use strict';
const fs = require('node:fs');
const attempt = (what) => { try { what(); return 'ok'; } catch (e) { return e.code || 'error'; } };
const app = process.argv[2];
const lines = [
  `uid ${process.getuid()}`,
  `gid ${process.getgid()}`,
  `read /etc/${app}.env ${attempt(() => fs.readFileSync(`/etc/${app}.env`))}`,
  `read /var/lib/systemd/credential.secret ${attempt(
    () => fs.readFileSync('/var/lib/systemd/credential.secret'))}`,
  `list /etc/credstore.encrypted/${app} ${attempt(
    () => fs.readdirSync(`/etc/credstore.encrypted/${app}`))}`,
  `list /run/ssmenv ${attempt(() => fs.readdirSync('/run/ssmenv'))}`,
  `write /etc/probe-was-here ${attempt(() => fs.writeFileSync('/etc/probe-was-here', 'x'))}`,
  `write /opt/${app} ${attempt(() => fs.writeFileSync(`/opt/${app}/probe-was-here`, 'x'))}`,
];
fs.writeFileSync('proof.txt', lines.join('\n') + '\n');
"""
# The example app's lockfile (its own dependencies: the app must still start) and the probe.
LOCKFILE = json.loads((REPO / "examples" / "app" / "package-lock.json").read_text())
LOCKFILE["packages"][""]["dependencies"]["probe"] = "file:probe"
LOCKFILE["packages"]["node_modules/probe"] = {"resolved": "probe", "link": True}
LOCKFILE["packages"]["probe"] = {"version": "1.0.0", "hasInstallScript": True}


def probe_app(directory: Path, note: str) -> Path:
    """A copy of the example app that depends on ``probe``, a local package whose ``postinstall``
    runs ``record.js``; ``note`` makes each copy a release of its own."""
    target = directory / "probe-app"
    shutil.copytree(REPO / "examples" / "app", target)
    package = json.loads((target / "package.json").read_text())
    package["dependencies"] = {**package.get("dependencies", {}), "probe": "file:probe"}
    (target / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    (target / "package-lock.json").write_text(json.dumps(LOCKFILE, indent=2) + "\n")
    (target / "probe").mkdir()
    (target / "probe" / "package.json").write_text(json.dumps({
        "name": "probe", "version": "1.0.0",
        "scripts": {"postinstall": f"node record.js {PROBE_APP}"},
    }) + "\n")  # fmt: skip
    (target / "probe" / "record.js").write_text(RECORD_JS)
    (target / "NOTE").write_text(note + "\n")
    return target


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    with booted(BLOCK, 1) as up:
        yield up[0]


@pytest.fixture(scope="module")
def hardening(host, stand_in: StandIn, tmp_path_factory) -> Deployer:
    stand_in.put(PARAMETERS)
    path = write_inventory(tmp_path_factory.mktemp("hardening") / "h.py", "staging", [host])
    return Deployer(path, aws_env(stand_in))


def proofs(host: Host, release: str) -> list[dict[str, str]]:
    """What each run of the probe's install script recorded in ``release``."""
    found = host.run(f"sudo find {release} -name proof.txt").split()
    assert found, f"no proof.txt in {release}: the install script did not run"
    records = []
    for path in found:
        lines = host.run(f"sudo cat {path}").splitlines()
        records.append(dict(line.rsplit(" ", 1) for line in lines))
    return records


PROBE_DATA = {"app_name": PROBE_APP, "ssm_path": PATH, "app_port": APP_PORT,
              "credentials": ["SESSION_SECRET"]}  # fmt: skip


@pytest.fixture(scope="module")
def probe_deployed(host, hardening, tmp_path_factory) -> None:
    """The probe app deployed once: the host has its env file, its credential and the host key
    that decrypts it, for the next release's install to try."""
    source = probe_app(tmp_path_factory.mktemp("probe"), "one")
    first = hardening.run(data={**PROBE_DATA, "app_source": str(source)})
    assert first.returncode == 0, first.output[-3000:]
    assert host.file_state(f"/etc/{PROBE_APP}.env").startswith("root:root 600\n")
    assert host.file_state("/var/lib/systemd/credential.secret") != "absent"


def leftovers(host: Host) -> list[str]:
    """What an install could leave behind: staging directories, transient units."""
    staged = [n for n in host.run(f"sudo ls -A /opt/{PROBE_APP}/releases").split()
              if n.startswith(".")]  # fmt: skip
    units = host.run("systemctl list-units --all --plain --no-legend 'ssmenv-install-*'").split()
    return staged + units


def test_a_dependencys_install_script_runs_unprivileged_and_reaches_no_secret(
    host, hardening, probe_deployed, tmp_path
):
    result = hardening.run(data={**PROBE_DATA, "app_source": str(probe_app(tmp_path, "two"))})
    assert result.returncode == 0, result.output[-3000:]

    release = host.run(f"readlink /opt/{PROBE_APP}/current").strip()
    for proof in proofs(host, release):
        assert proof.pop("uid") != "0" and proof.pop("gid") != "0"
        assert {what: result for what, result in proof.items() if result == "ok"} == {}
    assert host.run("sudo ls /etc/probe-was-here 2>&1 || true").strip().endswith(
        "No such file or directory")  # fmt: skip
    # The release ends as releases are: root's, nothing in it writable by anyone else (links
    # aside: theirs are always 777), and the app runs from it.
    assert host.run(f"sudo find {release} ! -user root -o ! -group root").strip() == ""
    assert host.run(f"sudo find {release} ! -type l -perm /022").strip() == ""
    assert host.get("/healthz") == b"ok\n"
    assert leftovers(host) == []


def test_a_failing_install_says_what_it_printed_and_the_live_release_stays(
    host, hardening, probe_deployed, tmp_path
):
    live = host.run(f"readlink /opt/{PROBE_APP}/current").strip()
    source = probe_app(tmp_path, "three")
    package = json.loads((source / "probe" / "package.json").read_text())
    package["scripts"]["postinstall"] = "echo 'probe: the native part did not build' >&2; exit 3"
    (source / "probe" / "package.json").write_text(json.dumps(package) + "\n")

    result = hardening.run(data={**PROBE_DATA, "app_source": str(source)})

    assert result.returncode != 0
    assert "installing the dependencies of release" in result.output, result.output[-3000:]
    assert "probe: the native part did not build" in result.output
    assert host.run(f"readlink /opt/{PROBE_APP}/current").strip() == live
    assert host.get("/healthz") == b"ok\n"
    assert leftovers(host) == []


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
