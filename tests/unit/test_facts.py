from ssmenv.facts import AppHostState, FileState

FULL = [
    "--systemd--", "systemd 252 (252.39-1~deb12u2)",
    "--packages--", "nodejs installed", "npm not-installed",
    "--user--", "example-app:998:/nonexistent:/usr/sbin/nologin",
    "--group--", "example-app:998",
    "--dirs--", "root root 755 directory /opt/example-app",
    "root root 755 directory /opt/example-app/releases",
    "--release--", "present",
    "--current--", "/opt/example-app/releases/abc",
    "--unit--", "root root 644", "aa  -",
    "--service--", "LoadState=loaded", "ActiveState=active", "UnitFileState=enabled",
    "--pending-file--",
    "--pending--",
    "--journald--",
    "--manifest-file--", "root example-app 640", "bb  -",
    "--manifest--", "{", '  "format": 1', "}",
    "--key--", "ab12",
    "--env--", "root root 600", "cc  -",
]  # fmt: skip


def test_host_state_reads_every_section():
    state = AppHostState().process(FULL)
    assert state["systemd"] == 252
    assert state["packages"] == {"nodejs": "installed", "npm": "not-installed"}
    assert state["user"] == "example-app:998:/nonexistent:/usr/sbin/nologin"
    assert state["group"] == "example-app:998"
    assert state["dirs"]["/opt/example-app/releases"] == "root root 755 directory"
    assert state["release_present"] is True
    assert state["current"] == "/opt/example-app/releases/abc"
    assert state["unit_file"] == {"user": "root", "group": "root", "mode": "644", "sha256": "aa"}
    assert state["service"]["ActiveState"] == "active"
    assert state["journald"] is None
    assert state["pending"] is None
    assert state["manifest_file"]["group"] == "example-app"
    assert state["manifest"] == '{\n  "format": 1\n}'
    assert state["key"] == "ab12"
    assert state["env_file"]["sha256"] == "cc"


def test_host_state_reads_an_unfinished_activations_marker_with_what_to_go_back_to():
    marker = ["activation 4242", "previous", f"file {'c' * 64} /etc/a.env",
              "file absent /etc/a.env.key", "link /opt/a/releases/old /opt/a/current"]
    lines = list(FULL)
    at = lines.index("--pending--")
    lines[at - 0:at + 1] = ["root root 600", "dd  -", "--pending--", *marker]
    state = AppHostState().process(lines)
    pending = state["pending"]
    assert pending.digest == "dd"
    assert pending.files == {"/etc/a.env": "c" * 64, "/etc/a.env.key": None}
    assert pending.link == ("/opt/a/current", "/opt/a/releases/old")
    assert pending.previous is True


def test_host_state_of_a_bare_host_has_nothing_but_systemd():
    markers = [line for line in FULL if line.startswith("--")]
    state = AppHostState().process(
        ["--systemd--", "systemd 247 (247.3-7)", *markers[1:]]
    )
    assert state["systemd"] == 247
    assert state["packages"] == {} and state["dirs"] == {} and state["service"] == {}
    for key in ("user", "group", "current", "unit_file", "manifest", "key", "env_file"):
        assert state[key] is None, key
    assert state["release_present"] is False


def test_host_state_command_passes_every_path_as_an_argument():
    command = str(AppHostState().command(
        service="a.service", user="a", home="/opt/a", release="/opt/a/releases/x y",
        unit_file="/etc/systemd/system/a.service", env_file="/etc/a.env",
        journald="/etc/j.conf", pending="/run/p", lock="/run/l", lock_wait=60,
        packages=["nodejs"],
    ))  # fmt: skip
    assert command.endswith("'/opt/a/releases/x y' /etc/systemd/system/a.service /etc/a.env "
                            "/etc/j.conf /run/p /run/l 60 nodejs")


def test_file_state_of_an_absent_file_is_none():
    assert FileState().process([]) is None
