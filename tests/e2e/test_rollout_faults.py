"""The rollback holds under real faults: a crash loop, a health check that never answers, a run or
an activation killed half-way, a previous copy that cannot be kept, a lock held by another user,
secrets in the journal of a failed start, and an emergency rotation that must leave no old copy."""

from __future__ import annotations

import subprocess
import tarfile
import time

import pytest

from lab.hosts import ssh_args
from ssmenv import remote
from ssmenv.provision import Provision, Unpack
from tests.e2e.conftest import (
    APP,
    MARKER,
    Base,
    crashed,
    in_background,
    kill_activation_when,
    live_release,
    marker_present,
    sha256,
    silent_app,
    stop,
    variant,
    wait_for,
)

UNIT = f"{APP}-web.service"  # the web process of the example app's Procfile
ENV = f"/etc/{APP}.env"
PATH = "/e2e/faults"
BASE = Base.example(PATH, "faults")
BAD_URL = {f"{PATH}/DATABASE_URL": "FAKE-not-a-url"}
# Waits for AWAIT_FILE (when set, 60 s at most) before anything else, says its API key at start in
# three forms, and needs REQUIRE_FILE (when set) to start.
LOUD = """const fs = require('node:fs');
if (process.env.AWAIT_FILE) {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + 60000;
  while (!fs.existsSync(process.env.AWAIT_FILE) && Date.now() < end) Atomics.wait(nap, 0, 0, 20);
}
const key = process.env.API_KEY || '';
console.log(`started pid=${process.pid} key=${key} json=${JSON.stringify({ key })} `
  + `url=${encodeURIComponent(key)}`);
if (process.env.REQUIRE_FILE && !fs.existsSync(process.env.REQUIRE_FILE)) {
  console.error(`pid=${process.pid}: ${process.env.REQUIRE_FILE} is missing`);
  process.exit(1);
}
"""


@pytest.fixture(scope="module")
def base() -> Base:
    return BASE


def loud_app(tmp_path):
    return variant(tmp_path, "loud", "'use strict';\n", "'use strict';\n" + LOUD)


def test_a_crashing_value_is_rolled_back_without_waiting_out_the_health_timeout(
    converge, deployer, stand_in, lab_hosts
):
    first, second = lab_hosts
    before = {h.name: h.file_state(ENV) for h in lab_hosts}
    second_invocation = second.service(UNIT)["InvocationID"]
    stand_in.put(BAD_URL)

    started = time.monotonic()
    result = deployer.run(deploy="rotate.py", data={**BASE.data, "health_timeout": 60})
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert crashed(result.output, first.name, UNIT, 78), result.output[-3000:]  # EX_CONFIG
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in (
        result.output
    )
    # A crash loop is judged at once: far sooner than the 60 s a slow start would be given.
    assert elapsed < 60, f"the run took {elapsed:.0f} s"
    assert first.file_state(ENV) == before[first.name]
    assert first.service(UNIT)["ActiveState"] == "active"
    assert second.file_state(ENV) == before[second.name]
    assert second.service(UNIT)["InvocationID"] == second_invocation

    stand_in.put(BASE.values)
    assert deployer.run(deploy="rotate.py", data=BASE.data).returncode == 0


def test_a_release_that_never_answers_its_health_check_is_switched_back_and_leaves_no_lock(
    converge, deployer, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    live = {h.name: live_release(h) for h in lab_hosts}

    started = time.monotonic()
    silent = {**BASE.data, "app_source": str(silent_app(tmp_path)), "health_timeout": 5}
    result = deployer.run(data=silent, timeout=300)
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: {UNIT} was not healthy within 5 s" in result.output
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy" in result.output
    assert elapsed < 5 + 60, f"the run took {elapsed:.0f} s"
    for host in lab_hosts:
        assert live_release(host) == live[host.name]
        assert host.get("/healthz") == b"ok\n"
    again = deployer.run(data=BASE.data, timeout=120)
    assert again.returncode == 0, again.output[-3000:]
    assert "holds its lock" not in again.output


def test_a_run_killed_right_after_its_activation_began_is_completed_by_the_next_run(
    converge, deployer, stand_in, lab_hosts
):
    first = lab_hosts[0]
    stand_in.put({f"{PATH}/API_KEY": "FAKE-faults-killed-run"})
    run = deployer.start(deploy="rotate.py", data={**BASE.data, "health_settle": 10})
    try:
        wait_for(lambda: marker_present(first), f"an activation under way on {first.name}", 120)
    finally:
        run.kill()  # SIGKILL: the SSH connections drop with it
        run.communicate()

    result = deployer.run(deploy="rotate.py", data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-faults-killed-run")
        assert not marker_present(host)


def test_an_activation_killed_after_the_switch_is_confirmed_healthy_by_the_next_run(
    converge, deployer, stand_in, lab_hosts
):
    first = lab_hosts[0]
    inode = first.run(f"sudo stat -c %i {ENV}").strip()
    watcher = kill_activation_when(first, f'[ "$(stat -c %i {ENV})" != {inode} ]')
    stand_in.put({f"{PATH}/API_KEY": "FAKE-faults-interrupted"})
    try:
        # health_settle: the switch happens long before the activation could end on its own.
        killed = deployer.run("--limit", first.name, deploy="rotate.py",
                              data={**BASE.data, "health_settle": 30})  # fmt: skip
    finally:
        stop(first, watcher)
    assert killed.returncode != 0
    assert marker_present(first), "the activation was not interrupted after the switch"

    result = deployer.run(deploy="rotate.py", data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    assert f"[{first.name}] {APP}: restart (unfinished activation), then health check" in (
        result.output
    )
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-faults-interrupted")
        assert not marker_present(host)


def test_while_an_activation_is_unfinished_the_manifest_changes_only_inside_the_next_one(
    converge, deployer, stand_in, lab_hosts
):
    """An activation killed between renaming the env file and the manifest leaves the manifest
    as it was and recorded as the way back: the next run must not rewrite it beside the
    activation, or that activation could never go back. The state such a kill leaves is laid
    out by hand here, so the test does not depend on where a kill lands."""
    first = lab_hosts[0]
    manifest = f"{ENV}.manifest"
    env_digest, manifest_digest = (
        first.run(f"sudo sha256sum {path}").split()[0] for path in (ENV, manifest)
    )
    first.run(f"sudo sh -c 'echo FAKE-older-run > {manifest}.previous'")
    first.run("sudo sh -c 'cat > " + MARKER + "'", stdin=(
        f"activation 1\nprevious\nfile {env_digest} {ENV}\nfile {manifest_digest} {manifest}\n"
    ))  # fmt: skip
    # The same value put again: its version moves, the env file stays, the manifest changes.
    stand_in.put({f"{PATH}/API_KEY": BASE.value("API_KEY")})

    result = deployer.run("--limit", first.name, deploy="rotate.py", data=BASE.data)

    assert result.returncode == 0, result.output[-3000:]
    assert f"{APP}: restart (unfinished activation)" in result.output
    assert not marker_present(first)
    assert first.run(f"sudo sha256sum {manifest}").split()[0] != manifest_digest
    assert first.run(f"sudo sha256sum {ENV}").split()[0] == env_digest


def test_an_interrupted_release_that_stays_unhealthy_goes_back_to_the_release_before_it(
    converge, deployer, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    live = live_release(first)
    silent = {**BASE.data, "app_source": str(silent_app(tmp_path))}
    watcher = kill_activation_when(first, f'[ "$(readlink /opt/{APP}/current)" != {live} ]')
    try:
        killed = deployer.run("--limit", first.name, data={**silent, "health_timeout": 120})
    finally:
        stop(first, watcher)
    assert killed.returncode != 0
    assert marker_present(first) and live_release(first) != live

    # The same release again: it is still unhealthy, and the way back is the release before the
    # unfinished activation, not "nothing".
    result = deployer.run("--limit", first.name, data={**silent, "health_timeout": 5})

    assert result.returncode != 0
    assert f"[{first.name}] ssmenv: rolled back: {APP} is healthy on the previous version" in (
        result.output
    )
    assert "nothing to roll back to" not in result.output
    assert live_release(first) == live
    assert first.get("/healthz") == b"ok\n"
    assert not marker_present(first)


def test_a_previous_copy_that_cannot_be_kept_refuses_the_switch_before_anything_changes(
    converge, deployer, stand_in, lab_hosts
):
    first = lab_hosts[0]
    before = (first.file_state(ENV), first.service(UNIT)["InvocationID"])
    # Something in the way of <env>.previous: the way back cannot be kept.
    first.run(f"sudo rm -f {ENV}.previous && sudo mkdir -p {ENV}.previous/in-the-way")
    stand_in.put(BAD_URL)
    try:
        result = deployer.run("--limit", first.name, deploy="rotate.py", data=BASE.data)
    finally:
        first.run(f"sudo rm -rf {ENV}.previous")
    assert result.returncode != 0
    assert f"could not keep {ENV} as {ENV}.previous" in result.output
    assert (first.file_state(ENV), first.service(UNIT)["InvocationID"]) == before
    assert first.get("/healthz") == b"ok\n"


def test_a_lock_held_by_another_user_at_the_old_path_blocks_no_deploy(
    converge, deployer, stand_in, lab_hosts
):
    first = lab_hosts[0]
    old_lock = f"/run/lock/ssmenv-{APP}.lock"
    # Held until stopped.
    holder = in_background(first, f"exec flock {old_lock} sleep infinity", user="nobody")
    try:
        wait_for(
            lambda: first.run(f"flock -n {old_lock} true && echo free || echo held",
                              check=False).strip() == "held",
            "nobody holding the old lock path",
        )  # fmt: skip
        stand_in.put({f"{PATH}/API_KEY": "FAKE-faults-unblocked"})
        result = deployer.run(deploy="rotate.py", data=BASE.data, timeout=300)
    finally:
        stop(first, holder)
    assert result.returncode == 0, result.output[-3000:]
    assert "holds its lock" not in result.output
    assert first.fingerprints()["API_KEY"] == sha256("FAKE-faults-unblocked")
    # Where the locks are now: root's own directory, no one else's to write in.
    assert first.run("sudo stat -c '%U:%G %a' /run/ssmenv").strip() == "root:root 700"


def test_the_journal_shown_for_a_failed_start_is_that_invocations_only_and_masks_every_value(
    converge, deployer, stand_in, lab_hosts, tmp_path
):
    first = lab_hosts[0]
    # Values whose JSON and URL forms differ from themselves.
    old, new = 'FAKE-old"quoted"/key+1 &x', 'FAKE-new"quoted"/key+2 &y'
    gate, hold = f"/etc/{APP}-e2e-may-start", f"/etc/{APP}-e2e-may-go-on"
    # A crash is judged at once: the timeout only spares a slow start on a loaded machine.
    loud = {**BASE.data, "app_source": str(loud_app(tmp_path)),
            "env": {"REQUIRE_FILE": gate, "AWAIT_FILE": hold}, "health_timeout": 60}  # fmt: skip
    limit = ("--limit", first.name)
    first.run(f"sudo touch {gate} {hold}")
    watcher = None
    try:
        stand_in.put({f"{PATH}/API_KEY": old})
        assert deployer.run(*limit, data=loud).returncode == 0
        earlier = first.service(UNIT)["MainPID"]

        # journald takes up the failed start's lines only after its process has ended, as on a
        # loaded host: stopped once the activation begins, before the app says anything (it
        # waits for `hold`), and let go on once the process has exited. Such lines carry no
        # invocation ID (journald reads it from the process's cgroup).
        first.run(f"sudo rm {hold}")
        watcher = in_background(first, f"""
            j=$(systemctl show -p MainPID --value systemd-journald)
            trap 'kill -CONT "$j"' EXIT; trap 'exit 1' TERM INT HUP
            end=$(($(date +%s) + 120))
            until [ -e {MARKER} ]; do [ "$(date +%s)" -lt "$end" ] || exit 1; sleep 0.01; done
            kill -STOP "$j" && touch {hold}
            until [ "$(systemctl show -p ExecMainStatus --value {UNIT})" = 78 ]; do
              [ "$(date +%s)" -lt "$end" ] || exit 1; sleep 0.05
            done""")
        stand_in.put({f"{PATH}/API_KEY": new, **BAD_URL})
        failed = deployer.run(*limit, data=loud)
        stop(first, watcher)
        watcher = None
        late = first.run(
            "sudo journalctl -q -o json --output-fields=_SYSTEMD_INVOCATION_ID "
            f"_SYSTEMD_UNIT={UNIT} 'MESSAGE=DATABASE_URL is not a URL (scheme://...)'"
        ).splitlines()
        # (The app's own line of the start systemd made after it carries one: journald went on.)
        assert any("_SYSTEMD_INVOCATION_ID" not in line for line in late), late
        assert failed.returncode != 0
        assert "DATABASE_URL is not a URL" in failed.output
        assert "key=*** json={\"key\":\"***\"} url=***" in failed.output, failed.output[-3000:]
        assert f"pid={earlier} " not in failed.output, "an earlier invocation's lines were shown"
        assert "rolled back: example-app is healthy" in failed.output

        # The previous version cannot start either now: what it logs holds the old value, which
        # this machine never had (only the host's env file does).
        first.run(f"sudo rm {gate}")
        broken = deployer.run(*limit, data=loud)
        assert broken.returncode != 0
        assert "the previous version is not healthy either" in broken.output
        assert "*** is missing" in broken.output  # every value is masked, the path included
        assert "started pid=" in broken.output
        for value in (old, new):
            for form in (value, value.replace('"', '\\"'), "FAKE-old%22quoted%22%2Fkey%2B1%20%26x",
                         "FAKE-new%22quoted%22%2Fkey%2B2%20%26y"):  # fmt: skip
                assert form not in failed.output and form not in broken.output
    finally:
        if watcher is not None:
            stop(first, watcher)
        first.run(f"sudo touch {gate} {hold}")
        first.run("sudo kill -CONT $(systemctl show -p MainPID --value systemd-journald)")


def test_with_keep_previous_off_no_copy_of_the_old_value_stays_on_the_host(
    converge, deployer, stand_in, lab_hosts
):
    leaked = "FAKE-faults-leaked-credential"
    stand_in.put({f"{PATH}/API_KEY": leaked})
    assert deployer.run(deploy="rotate.py", data=BASE.data).returncode == 0
    for host in lab_hosts:
        # What a killed activation would have left beside the env file.
        host.run(f"sudo sh -c 'umask 077; echo {leaked} > /etc/.{APP}.env.ssmenv-KiLLeD'")

    stand_in.put({f"{PATH}/API_KEY": "FAKE-faults-replacement"})
    result = deployer.run(deploy="rotate.py", data={**BASE.data, "env_keep_previous": False})

    assert result.returncode == 0, result.output[-3000:]
    for host in lab_hosts:
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-faults-replacement")
        assert host.file_state(f"{ENV}.previous") == "absent"
        found = host.run(
            "sudo grep -rlaF -f /dev/stdin /etc /run /opt /tmp /var/tmp 2>/dev/null || true",
            stdin=leaked + "\n",
        ).split()
        assert found == [], found


def test_two_unpacks_of_one_release_never_undo_each_other(deployed, lab_hosts, tmp_path):
    """The release unpack holds the app's lock and stages under a unique name: the second of two
    unpacks of one release finds it there, whole, and nothing is left beside it."""
    first = lab_hosts[0]
    releases = f"/opt/{APP}/releases"
    release = f"{releases}/e2e-unpack-twice"
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, mode="w:gz"):
        pass  # no file: only the install step matters here

    def unpack(install: str) -> subprocess.Popen:
        plan = Provision(APP, release=Unpack(release, empty, install=install))
        command, stdin = remote.command("provision", plan.plan(), plan.payload())
        run = subprocess.Popen(
            [*ssh_args(first.ssh_port), f"sudo {command.get_raw_value()}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        run.stdin.write(stdin)
        run.stdin.close()
        run.stdin = None  # sent: communicate() must not flush it again
        return run

    # The first unpack's install goes on only once the gate exists (its sandbox reads /etc), which
    # the test makes once the second unpack waits for the lock the first holds.
    gate = "/etc/e2e-unpack-may-finish"
    first.run(f"sudo rm -rf {release} {gate}")
    try:
        slow = unpack(f"touch by-the-first && end=$(($(date +%s) + 120)) && "
                      f"until [ -e {gate} ] || [ $(date +%s) -gt $end ]; do sleep 0.05; done")
        wait_for(lambda: ".e2e-unpack-twice." in first.run(f"sudo ls -a {releases}"),
                 "the first unpack staging its release")  # fmt: skip
        fast = unpack("touch by-the-second")
        # The first took the lock at once: a flock process that runs waits for it.
        wait_for(lambda: "flock -w" in first.run("pgrep -a -x flock || true"),
                 "the second unpack waiting for the app's lock")  # fmt: skip
        first.run(f"sudo touch {gate}")
        outputs = [run.communicate(timeout=120)[0] for run in (slow, fast)]
        assert [run.returncode for run in (slow, fast)] == [0, 0], outputs
        assert "is on the host already" in outputs[1]
        assert first.run(f"sudo ls -A {release}").split() == ["by-the-first"]
        assert ".e2e-unpack-twice." not in first.run(f"sudo ls -a {releases}")
    finally:
        first.run(f"sudo rm -rf {release} {gate}")


def activations(host) -> list[str]:
    """What the host's journal says of the app's activations, oldest first."""
    return host.run(f"sudo journalctl -q -t ssmenv -o cat --no-pager | grep '^{APP}: activation '"
                    " || true").splitlines()  # fmt: skip


def test_two_deploys_at_once_activate_each_host_one_at_a_time_and_a_rerun_converges(
    converge, deployer, stand_in, lab_hosts, tmp_path
):
    app = variant(tmp_path, "twice", "'use strict';\n", "'use strict';\n// deployed twice\n")
    data = {**BASE.data, "app_source": str(app)}
    seen = {h.name: len(activations(h)) for h in lab_hosts}
    stand_in.put({f"{PATH}/API_KEY": "FAKE-faults-concurrent"})

    runs = [deployer.start(data=data) for _ in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]

    assert 0 in [run.returncode for run in runs], outputs
    for run, out in zip(runs, outputs, strict=True):
        if run.returncode != 0:
            assert "changed since this run read the host" in out or "holds its lock" in out, (
                out[-3000:]
            )
    for host in lab_hosts:
        # One activation at a time: each one ends before the next begins.
        lines = activations(host)[seen[host.name]:]
        assert lines, f"{host.name}: no activation"
        for begins, ends in zip(lines[::2], lines[1::2], strict=True):
            pid = begins.split()[2]
            assert begins == f"{APP}: activation {pid} begins", lines
            assert ends.startswith(f"{APP}: activation {pid} ends ("), lines
        assert host.fingerprints()["API_KEY"] == sha256("FAKE-faults-concurrent")
        assert host.service(UNIT)["ActiveState"] == "active"
    again = deployer.run(data=data)
    assert again.returncode == 0, again.output[-3000:]
    assert {name: n for name, n in again.changed.items() if n} == {}
