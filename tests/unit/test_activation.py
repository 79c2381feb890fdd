"""The activation's plan as the control machine writes it; what it makes of the host's answer."""

from __future__ import annotations

import base64

from ssmenv import remote
from ssmenv.activation import (
    Activation,
    FileWrite,
    LinkSwitch,
    Pending,
    Unit,
    said,
    sha256,
)
from ssmenv.scrub import scrub

ENV = "A='FAKE-activation-secret'\n"


def env_activation(**fields) -> Activation:
    old = sha256("A='FAKE-activation-old'\n")
    files = (FileWrite("/etc/app.env", ENV, expect=old, secret=True),)
    fields = {"units": (Unit("app.service", 3000, "/healthz", 30, 2),), **fields}
    return Activation(app="app", files=files, secrets=("FAKE-activation-secret",),
                      **fields)  # fmt: skip


def test_the_command_line_carries_neither_a_value_nor_a_digest():
    plan = env_activation()
    command, stdin = remote.command("activate", plan.plan(), plan.payload())
    line = command.get_raw_value()
    assert "FAKE" not in line
    assert sha256(ENV) not in line and plan.files[0].expect not in line
    size = len(remote.program("activate").encode())
    assert line == f"bash -c 'eval \"$(head -c {size})\" && main' " \
                   "ssmenv-activate"
    # All of it travels on stdin: the program, the plan with its digests, then the content.
    assert stdin.startswith(remote.program("activate"))
    assert f"file {len(ENV)} {sha256(ENV)} {plan.files[0].expect} {plan.files[0].expect} " \
           "root:root 0600 secret /etc/app.env\n" in stdin
    assert stdin.endswith("end\n" + ENV)


def test_the_plan_says_where_each_file_and_the_link_go_back_to():
    plan = Activation(
        app="app",
        units=(Unit("app-web.service", 3000, "/healthz", 5, 1), Unit("app-worker@1.service"),
               Unit("app.target")),
        back=(Unit("app.service", 3000, "/healthz", 5, 1),),
        stop=("app.service",),
        files=(FileWrite("/etc/app.env", ENV, expect=None, transient=True),
               FileWrite("/etc/systemd/system/app-web.service", "[Service]\n", mode="0644",
                         expect="a" * 64, unit=True),
               FileWrite("/etc/systemd/system/app.service", mode="0644", expect="b" * 64,
                         unit=True, remove=True)),
        link=LinkSwitch("/opt/app/current", "/opt/app/releases/new", "/opt/app/releases/old"),
        previous=False,
    )  # fmt: skip
    lines = plan.plan()
    assert lines[:12] == [
        "ssmenv-activation 1", "app app", "lock-wait 60", "reload 1", "previous 0",
        "marker absent", "unit app-web.service 3000 5 1 /healthz",
        "unit app-worker@1.service 0 30 0", "unit app.target 0 30 0",
        "back app.service 3000 5 1 /healthz", "stop app.service",
        lines[11],
    ]  # fmt: skip
    assert lines[11].endswith(" absent absent root:root 0600 transient /etc/app.env")
    assert lines[12].endswith(f" {'a' * 64} {'a' * 64} root:root 0644 verify "
                              "/etc/systemd/system/app-web.service")  # fmt: skip
    # A unit that goes: no content, its digest compared, the way back its current version.
    assert lines[13] == (f"file - - {'b' * 64} {'b' * 64} root:root 0644 remove "
                         "/etc/systemd/system/app.service")  # fmt: skip
    assert lines[14] == ("link /opt/app/releases/old /opt/app/releases/old /opt/app/releases/new "
                         "/opt/app/current")  # fmt: skip
    assert lines[-1] == "end"


def test_resuming_an_unfinished_activation_goes_back_to_what_it_replaced():
    good, unconfirmed = "g" * 64, "u" * 64
    pending = Pending(
        digest="m" * 64,
        files={"/etc/app.env": good, "/etc/systemd/system/app.service": "s" * 64,
               "/etc/app.env.key": None},
        link=("/opt/app/current", "/opt/app/releases/old"),
        previous=True,
        back=(Unit("app.service", 3000, "/healthz", 30, 2),),
    )  # fmt: skip
    known = {"/etc/app.env.key": FileWrite("/etc/app.env.key"),
             "/etc/systemd/system/app.service": FileWrite(
                 "/etc/systemd/system/app.service", mode="0644", unit=True)}  # fmt: skip
    plan = Activation.resuming(
        pending, [FileWrite("/etc/app.env", ENV, expect=unconfirmed, secret=True)], None,
        "/opt/app/releases/new", known, app="app", units=(Unit("app-web.service"),),
        back=(Unit("app-web.service"),), previous=False,
    )  # fmt: skip
    by_path = {f.path: f for f in plan.files}
    assert by_path["/etc/app.env"].back == good and by_path["/etc/app.env"].expect == unconfirmed
    unit = by_path["/etc/systemd/system/app.service"]
    assert (unit.content, unit.back, unit.unit) == (None, "s" * 64, True)
    assert by_path["/etc/app.env.key"].back is None
    assert plan.link == LinkSwitch("/opt/app/current", "/opt/app/releases/new",
                                   "/opt/app/releases/new", back="/opt/app/releases/old")
    assert plan.previous is True  # from the marker: what the unfinished activation knew
    assert plan.back == pending.back  # and the units it would have gone back to
    assert plan.reload  # the unit may have to go back
    assert f"marker {'m' * 64}" in plan.plan()
    assert any(line.startswith("file - - - ") for line in plan.plan())


def test_without_a_marker_the_way_back_is_what_the_host_has_now():
    files = [FileWrite("/etc/app.env", ENV, expect="e" * 64)]
    plan = Activation.resuming(None, files, None, None, {}, app="app",
                               units=(Unit("app.service"),))  # fmt: skip
    assert plan.files[0].back == "e" * 64 and plan.pending is None


def test_the_command_timeout_covers_the_lock_and_both_health_checks():
    plan = env_activation()
    assert plan.timeout >= plan.lock_wait + 2 * (30 + 2)
    longer = env_activation(back=(Unit("app.service", 3000, "/healthz", 120, 2),))
    assert longer.timeout >= plan.timeout + 120


def test_the_answer_masks_new_values_and_the_hosts_own_in_json_and_url_forms():
    old = 'FAKE-old"quoted"/key+1 &x'
    escaped = old.replace('"', '\\"')
    host_env = f"API_KEY='{old}'\n"
    stdout = [f"mask {base64.b64encode(host_env.encode()).decode()}"]
    stderr = [
        "ssmenv: app.service did not become healthy: failed/failed",
        f'  | started key={old} json={{"key":"{escaped}"}}',
        "  | url=FAKE-old%22quoted%22%2Fkey%2B1%20%26x new=FAKE-activation-secret",
        "ssmenv: rolled back: app.service is healthy on the previous version",
    ]
    answer = said(stdout, stderr, ["FAKE-activation-secret"])
    text = "\n".join(answer.lines)
    assert "FAKE" not in text
    assert answer.lines[1] == '  | started key=*** json={"key":"***"}'
    assert answer.last == "ssmenv: rolled back: app.service is healthy on the previous version"


def test_the_journal_is_left_out_when_the_hosts_values_cannot_be_read_to_mask_them():
    answer = said(["mask not-base64!"], ["ssmenv: failed", "  | FAKE-unknown-old-value"], [])
    assert "FAKE" not in "\n".join(answer.lines)
    assert answer.lines[0] == "ssmenv: failed"


def test_scrub_masks_every_secret_and_each_line_of_a_multiline_one():
    said_text = "DATABASE_URL is FAKE-db-pass\nkey line two: FAKE-pem-2\nPORT 3000"
    masked = scrub(said_text, ["FAKE-db-pass", "FAKE-pem-1\nFAKE-pem-2", "ab"])
    assert "FAKE" not in masked
    assert masked.splitlines()[0] == "DATABASE_URL is ***"
    assert masked.splitlines()[2] == "PORT 3000"  # "ab" is too short to mask anything


def test_the_answer_masks_a_credentials_value_from_the_host():
    old = "FAKE-old-credential\nits second line"
    stdout = [f"mask-value {base64.b64encode(old.encode()).decode()}"]
    answer = said(stdout, ["  | logged FAKE-old-credential", "  | its second line"], [])
    assert "FAKE" not in "\n".join(answer.lines) and "second" not in "\n".join(answer.lines)


def test_a_credential_file_line_says_it_is_one_and_whether_to_encrypt_it():
    write = FileWrite("/etc/credstore.encrypted/app/API_KEY", "FAKE-v", credential=True,
                      encrypt=True, transient=True)  # fmt: skip
    assert write.line().split(" ")[7] == "transient,credential,encrypt"


def test_a_rollback_checks_each_unit_as_the_host_records_it_else_as_the_settings_say():
    from ssmenv.config import AppConfig
    from ssmenv.plan.service import unit_checks

    # The settings now: a new port, path and timeout for web.
    config = AppConfig.from_data({"ssm_path": "/a", "app_port": 4000, "health_path": "/ready",
                                  "health_timeout": 5})  # fmt: skip
    web, worker = "example-app-web.service", "example-app-worker.service"
    deployed = {web: Unit(web, 3000, "/healthz", 30, 2),
                "example-app-admin.service": Unit("example-app-admin.service", 3100, "/up", 9, 1)}
    back = (web, worker, "example-app-admin.service")
    assert unit_checks(config, back, deployed) == (
        Unit(web, 3000, "/healthz", 30, 2),
        Unit(worker, 0, "", 5, 2),  # not recorded: as the settings say
        Unit("example-app-admin.service", 3100, "/up", 9, 1),  # no process of the settings
    )  # fmt: skip
    # A host whose manifest records none (written before manifests did): the settings' checks.
    assert unit_checks(config, back, None) == (
        Unit(web, 4000, "/ready", 5, 2), Unit(worker, 0, "", 5, 2),
        Unit("example-app-admin.service", 0, "", 5, 2),
    )  # fmt: skip
