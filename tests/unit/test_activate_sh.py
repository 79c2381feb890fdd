"""The activation program's file steps, run by bash here on files of a temp directory: a plan is
read whole or refused, a staged file is checked by its sha256, the way back is kept before anything
is replaced, and a file goes back only from the copy it replaced. (Restarts and health checks run
on real hosts: tests/e2e.)"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import subprocess

import pytest

from ssmenv import remote

OWNER = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def bash(script: str, stdin: str = "") -> subprocess.CompletedProcess:
    """``script`` after the activation program's functions (its main is not called)."""
    return subprocess.run(
        ["bash", "-c", remote.program("activate") + "\nset -u\n" + script],
        input=stdin, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def plan(*files: str, link: str = "") -> str:
    lines = ["ssmenv-activation 1", "app app", "unit app.service 3000 30 2 /healthz", *files]
    return "\n".join([*lines, *([link] if link else []), "end"]) + "\n"


def file_line(path, content: str | None, expect="absent", back=None, flags="-") -> str:
    size, digest = ("-", "-") if content is None else (len(content.encode()), sha(content))
    return f"file {size} {digest} {expect} {back or expect} {OWNER} 0600 {flags} {path}"


def test_a_whole_plan_is_read_and_every_field_kept(tmp_path):
    target = tmp_path / "app.env"
    result = bash(
        'read_plan && printf "%s|" "$APP" "${U_NAME[0]}" "${F_PATH[0]}" "${F_FLAGS[0]}" '
        '"$L_TARGET"',
        plan(file_line(target, "A=1\n", flags="secret,transient"),
             link=f"link - - {tmp_path}/releases/new {tmp_path}/current"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"app|app.service|{target}|secret,transient|{tmp_path}/releases/new|"


def test_a_plan_without_a_unit_to_run_is_refused():
    text = "ssmenv-activation 1\napp app\nend\n"
    assert bash("read_plan", text).returncode != 0


@pytest.mark.parametrize("bad", [
    "file 4 nothex absent absent root:root 0600 - /etc/app.env",
    f"file 4 {sha('x')} absent absent root:root 0600 - /etc/../etc/passwd",
    f"file 4 {sha('x')} absent absent root:root 0600 - relative/path",
    f"file 4 {sha('x')} absent absent root:root 0600 - /etc/app env",
    f"file 4 {sha('x')} absent absent root:root 9999 - /etc/app.env",
    "unit app.service 3000 30 2 /a path",
    "unit ../app.service 3000 30 2 /healthz",
    "stop app.socket",
    "marker 1234",
    "unknown keyword",
])  # fmt: skip
def test_a_plan_with_anything_unexpected_is_refused(bad):
    assert bash("read_plan", plan(bad)).returncode != 0


def test_a_plan_cut_short_is_refused():
    assert bash("read_plan", plan()[: -len("end\n")]).returncode != 0


def test_a_staged_file_whose_digest_differs_from_the_plan_is_refused(tmp_path):
    target = tmp_path / "app.env"
    good = "A=good\n"
    line = file_line(target, good)
    # As many bytes as the plan says, but not the bytes it names.
    result = bash("read_plan && stage 0 && echo staged", plan(line) + "A=evil\n")
    assert result.returncode != 0 and "staged" not in result.stdout
    assert not target.exists()
    result = bash('read_plan && stage 0 && cat "${F_TEMP[0]}"', plan(line) + good)
    assert result.returncode == 0 and result.stdout == good


def test_commit_keeps_the_replaced_file_as_the_way_back_and_restore_puts_it_back(tmp_path):
    target = tmp_path / "app.env"
    target.write_text("A=old\n")
    inode = target.stat().st_ino
    line = file_line(target, "A=new\n", expect=sha("A=old\n"))
    result = bash("read_plan && stage_all && commit && restore", plan(line) + "A=new\n")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "A=old\n" and target.stat().st_ino == inode
    assert not (tmp_path / "app.env.previous").exists()  # it went back into place


def test_nothing_is_replaced_when_the_way_back_cannot_be_kept(tmp_path):
    target = tmp_path / "app.env"
    target.write_text("A=old\n")
    (tmp_path / "app.env.previous" / "in-the-way").mkdir(parents=True)
    line = file_line(target, "A=new\n", expect=sha("A=old\n"))
    result = bash('read_plan && stage_all && commit; echo "touched=$TOUCHED"',
                  plan(line) + "A=new\n")  # fmt: skip
    assert "could not keep" in result.stderr
    assert result.stdout.strip() == "touched=0"
    assert target.read_text() == "A=old\n"


def test_a_previous_copy_left_by_an_older_run_is_never_put_back(tmp_path):
    target = tmp_path / "app.env"
    target.write_text("A=unconfirmed\n")
    (tmp_path / "app.env.previous").write_text("A=from-an-older-run\n")
    # The way back is a version the host no longer has anywhere.
    line = file_line(target, None, expect="-", back=sha("A=good\n"))
    result = bash("read_plan && restore", plan(line))
    assert result.returncode != 0
    assert "is not the version it replaced" in result.stderr
    assert target.read_text() == "A=unconfirmed\n"
    assert bash("read_plan && way_back", plan(line)).returncode != 0


def test_temp_files_a_killed_activation_left_are_cleaned_up(tmp_path):
    target = tmp_path / "app.env"
    leftover = tmp_path / ".app.env.ssmenv-AbC123"
    other = tmp_path / ".other.env.ssmenv-AbC123"  # another file's: not this plan's to remove
    leftover.write_text("A=half\n")
    other.write_text("B=half\n")
    result = bash("shopt -s nullglob; read_plan && clean_leftovers", plan(file_line(target, None)))
    assert result.returncode == 0, result.stderr
    assert not leftover.exists() and other.exists()


def test_a_credential_is_staged_root_only_in_a_directory_of_its_own(tmp_path):
    target = tmp_path / "credstore" / "app" / "DB_PASSWORD"
    value = "-----BEGIN FAKE-----\r\nline 'two'\n"
    result = bash("umask 077; read_plan && stage_all && commit",
                  plan(file_line(target, value, flags="credential")) + value)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == value.encode()
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "credstore").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("linked", ["credstore", "credstore/app"])
def test_a_credential_is_never_written_through_a_link(tmp_path, linked):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o755)
    if linked == "credstore/app":
        (tmp_path / "credstore").mkdir()
    (tmp_path / linked).symlink_to(victim)
    target = tmp_path / "credstore" / "app" / "DB_PASSWORD"
    value = "FAKE-credential"
    result = bash("umask 077; read_plan && stage_all && commit",
                  plan(file_line(target, value, flags="credential")) + value)  # fmt: skip
    assert result.returncode != 0 and "is a symbolic link" in result.stderr
    assert list(victim.iterdir()) == [] and victim.stat().st_mode & 0o777 == 0o755


def test_masks_send_a_credentials_value_and_its_previous_one_whole(tmp_path):
    target = tmp_path / "API_KEY"
    target.write_text("FAKE-new\nsecond line")
    (tmp_path / "API_KEY.previous").write_text("FAKE-old")
    result = bash("read_plan && masks", plan(file_line(target, None, flags="credential")))
    assert result.returncode == 0, result.stderr
    sent = [base64.b64decode(line.split(" ", 1)[1]).decode() for line in result.stdout.splitlines()]
    assert result.stdout.startswith("mask-value ")
    assert sent == ["FAKE-new\nsecond line", "FAKE-old"]


# What systemd 252 reports (`systemctl show`) of a unit with Restart=on-failure, read on a test
# host: its process just exited with status 1; a second later, a new process runs; the start
# limit reached; a process killed by SIGKILL.
EXITED = {"ActiveState": "activating", "SubState": "auto-restart", "Result": "exit-code",
          "ExecMainCode": "1", "ExecMainStatus": "1", "NRestarts": "0"}  # fmt: skip
RESTARTED = {"ActiveState": "active", "SubState": "running", "Result": "success",
             "ExecMainCode": "0", "ExecMainStatus": "0", "NRestarts": "1"}  # fmt: skip
GAVE_UP = {"ActiveState": "failed", "SubState": "failed", "Result": "exit-code",
           "ExecMainCode": "1", "ExecMainStatus": "3", "NRestarts": "5"}  # fmt: skip
KILLED = {"ActiveState": "failed", "SubState": "failed", "Result": "signal",
          "ExecMainCode": "2", "ExecMainStatus": "9", "NRestarts": "0"}  # fmt: skip


def seen(state: dict[str, str]) -> str:
    """``state`` as the activation's props would have read it."""
    return " ".join(f"P_{key}={value}" for key, value in state.items())


@pytest.mark.parametrize(("state", "gone", "words"), [
    (EXITED, "exited with status 1 (Result=exit-code), and systemd is restarting it",
     "activating/auto-restart, exited with status 1 (Result=exit-code), NRestarts=0"),
    (RESTARTED, "is restarting after a failure (systemd started it again: NRestarts=1, now "
     "active/running)", "active/running, NRestarts=1"),
    (GAVE_UP, "exited with status 3 (failed/failed, Result=exit-code)",
     "failed/failed, exited with status 3 (Result=exit-code), NRestarts=5"),
    (KILLED, "was killed by signal 9 (failed/failed, Result=signal)",
     "failed/failed, was killed by signal 9 (Result=signal), NRestarts=0"),
], ids=["exited", "restarted", "gave-up", "killed"])  # fmt: skip
def test_a_failed_unit_is_described_as_systemd_reports_it(state, gone, words):
    result = bash(f"{seen(state)}; gone_words; state_words")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [gone, words]
    # A process that was restarted is never said to have exited with the new one's status.
    assert "status 0" not in result.stdout and "success" not in result.stdout


def test_the_report_says_the_state_the_unit_was_judged_in_not_a_later_one():
    # Judged as its process exited; by the time the report is written, systemd has started a new
    # process, whose exit status (0) and Result (success) say nothing of the failure.
    result = bash(f"{seen(EXITED)}; fail app-web.service; {seen(RESTARTED)}; "
                  "report app-web.service")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "ssmenv: app-web.service did not become healthy: activating/auto-restart, exited with "
        "status 1 (Result=exit-code), NRestarts=0; what it logged:\n"
    )
