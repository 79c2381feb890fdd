import hashlib
import shlex
import subprocess

from ssmenv.facts import AppHostState, FileInfo, FileState, file_state, sections
from ssmenv.hoststate import SHELL, parse

FULL = [
    "--packages--", "systemd installed 252.39-1~deb12u2", "nodejs installed 18.19.0+dfsg-6",
    "npm not-installed ",
    "--user--", "example-app:x:998:998::/nonexistent:/usr/sbin/nologin",
    "--group--", "example-app:x:998:",
    "--dirs--", "/opt/example-app", "/opt/example-app/releases",
    "--release--", "present",
    "--current--", "/opt/example-app/releases/abc",
    "--unit-file example-app.service--", "/etc/systemd/system/example-app.service",
    "--services--", "Id=example-app.service", "ActiveState=active", "UnitFileState=enabled", "",
    "Id=example-app-worker@1.service", "ActiveState=inactive", "UnitFileState=disabled",
    "--pending-file--", "/run/ssmenv/example-app.pending",
    "--pending--",
    "--journald--", "/etc/systemd/journald.conf.d/ssmenv.conf",
    "--manifest-file--", "/etc/example-app.env.manifest",
    "--manifest--", "{", '  "format": 1', "}",
    "--key--", "ab12",
    "--env--", "/etc/example-app.env",
    "--stat--", "root root 755 directory /opt/example-app",
    "root root 755 directory /opt/example-app/releases",
    "root root 644 regular file /etc/systemd/system/example-app.service",
    "root example-app 640 regular file /etc/example-app.env.manifest",
    "root root 600 regular empty file /etc/example-app.env",
    "--sha256--", "aa  /etc/systemd/system/example-app.service",
    "bb  /etc/example-app.env.manifest", "cc  /etc/example-app.env",
]  # fmt: skip


def test_host_state_reads_every_section():
    state = AppHostState().process(FULL)
    assert state.systemd == 252
    assert state.packages == {
        "systemd": "installed", "nodejs": "installed", "npm": "not-installed"
    }
    assert state.user == "example-app:998:/nonexistent:/usr/sbin/nologin"
    assert state.group == "example-app:998"
    assert state.dirs["/opt/example-app/releases"] == "root root 755 directory"
    assert state.release_present is True
    assert state.current == "/opt/example-app/releases/abc"
    assert state.unit_files == {
        "example-app.service": FileInfo(user="root", group="root", mode="644", sha256="aa")
    }
    assert state.services["example-app.service"]["ActiveState"] == "active"
    assert state.journald is None
    assert state.pending is None
    assert state.manifest_file.group == "example-app"
    assert state.manifest == '{\n  "format": 1\n}'
    assert state.key == "ab12"
    assert state.env_file.sha256 == "cc"
    assert state.running("example-app.service") and state.enabled("example-app.service")
    assert not state.running("example-app-worker@1.service")
    assert state.active_units == ("example-app.service",)


def test_host_state_reads_an_unfinished_activations_marker_with_what_to_go_back_to():
    marker = ["activation 4242", "previous", f"file {'c' * 64} /etc/a.env",
              "file absent /etc/a.env.key", "link /opt/a/releases/old /opt/a/current"]
    lines = list(FULL)
    at = lines.index("--pending--")
    lines[at + 1:at + 1] = marker
    marker_stat = "root root 600 regular file /run/ssmenv/example-app.pending"
    lines.insert(lines.index("--stat--") + 1, marker_stat)
    lines.insert(lines.index("--sha256--") + 1, "dd  /run/ssmenv/example-app.pending")
    state = AppHostState().process(lines)
    pending = state.pending
    assert pending.digest == "dd"
    assert pending.files == {"/etc/a.env": "c" * 64, "/etc/a.env.key": None}
    assert pending.link == ("/opt/a/current", "/opt/a/releases/old")
    assert pending.previous is True


def test_host_state_of_a_bare_host_has_nothing_but_systemd():
    markers = [line for line in FULL if line.startswith("--") and "unit-file" not in line]
    state = AppHostState().process(
        ["--packages--", "systemd installed 247.3-7", *markers[1:]]
    )
    assert state.systemd == 247
    assert state.packages == {"systemd": "installed"}
    assert state.dirs == {} and state.services == {}
    assert state.unit_files == {}
    for key in ("user", "group", "current", "manifest", "key", "env_file"):
        assert getattr(state, key) is None, key
    assert state.release_present is False
    assert not state.running("example-app.service") and state.active_units == ()


def test_host_state_read_without_a_release_says_nothing_about_one():
    lines = [line for line in FULL if line not in ("--release--", "present")]
    assert AppHostState().process(lines).release_present is None


def test_host_state_command_without_a_release_leaves_the_release_section_out():
    command = AppHostState().command(
        app="a", user="a", home="/opt/a", release="", env_file="/etc/a.env",
        journald="/etc/j.conf", pending="/run/p", lock="/run/l", lock_wait=0, packages=[],
        units=["a.service"],
    ).get_raw_value()  # fmt: skip
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    markers = [line for line in result.stdout.splitlines() if line.startswith("--")]
    assert "--release--" not in markers
    assert "--current--" in markers and "--env--" in markers


def test_host_state_never_shows_the_fingerprint_key_in_its_repr():
    state = AppHostState().process(FULL)
    assert "ab12" not in repr(state)


def test_host_state_command_passes_every_path_as_an_argument():
    command = str(AppHostState().command(
        app="a", user="a", home="/opt/a", release="/opt/a/releases/x y", env_file="/etc/a.env",
        journald="/etc/j.conf", pending="/run/p", lock="/run/l", lock_wait=60,
        packages=["nodejs"], units=["a-web.service", "a-worker@1.service", "a.target"],
        credential_dirs=("/etc/credstore.encrypted/a", "/etc/credstore/a"),
    ))  # fmt: skip
    assert command.endswith("'/opt/a/releases/x y' /etc/a.env /etc/j.conf /run/p /run/l 60 "
                            "/etc/credstore.encrypted/a /etc/credstore/a '' '' "
                            "nodejs -- a-web.service a-worker@1.service a.target")


def _state_with_engines(tmp_path, engines: dict[str, int], asked: tuple[str, ...]):
    """The state read run locally for an image, with fake engines on PATH: each exits with its
    status for ``image inspect``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, status in engines.items():
        fake = bin_dir / name
        fake.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "image inspect r@sha256:1" ] && exit {status}\n'
                        "exit 9\n")  # fmt: skip
        fake.chmod(0o755)
    command = AppHostState().command(
        app="a", user="a", home="/opt/a", release="", env_file="/etc/a.env",
        journald="/etc/j.conf", pending="/run/p", lock="/run/l", lock_wait=0, packages=[],
        units=["a.service"], engines=asked, image="r@sha256:1",
    ).get_raw_value()  # fmt: skip
    path = f"{bin_dir}:/usr/bin:/bin"
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True,
                            env={"PATH": path})  # fmt: skip
    return AppHostState().process(result.stdout.splitlines())


def test_host_state_finds_the_first_engine_asked_for_and_whether_it_has_the_image(tmp_path):
    state = _state_with_engines(tmp_path, {"podman": 1, "docker": 0}, ("podman", "docker"))
    assert (state.engine, state.image_present) == ("podman", False)
    state = _state_with_engines(tmp_path / "2", {"docker": 0}, ("podman", "docker"))
    assert (state.engine, state.image_present) == ("docker", True)
    state = _state_with_engines(tmp_path / "3", {"docker": 0}, ("podman",))
    assert (state.engine, state.image_present) == (None, False)


def test_host_state_of_an_app_without_an_image_asks_about_none():
    state = AppHostState().process(FULL)
    assert (state.engine, state.image_present) == (None, None)


def test_file_state_of_an_absent_file_is_none():
    assert FileState().process([]) is None


def test_file_state_runs_here_as_on_a_host(tmp_path):
    path = tmp_path / "a file"
    path.write_text("test\n")
    path.chmod(0o640)
    command = FileState().command(path=str(path)).get_raw_value()
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    state = FileState().process(result.stdout.splitlines())
    assert (state.mode, state.sha256) == ("640", hashlib.sha256(b"test\n").hexdigest())


def test_sections_split_the_output_at_marker_lines_only():
    found = sections(["--a--", "1", "-- not a marker", "--b--", "--c-d--", "x", "----"])
    assert found == {"a": ["1", "-- not a marker"], "b": [], "c-d": ["x", "----"]}


def test_file_state_is_the_owner_group_mode_and_digest_lines():
    assert file_state(["app root 640", "ab12  -"]) == FileInfo("app", "root", "640", "ab12")
    assert file_state(["app root 640"]) is None


def test_host_state_runs_here_as_on_a_host_and_reads_each_file_it_names(tmp_path):
    home, env = tmp_path / "opt a", tmp_path / "a.env"
    (home / "releases" / "r1").mkdir(parents=True)
    (home / "current").symlink_to(home / "releases" / "r1")
    env.write_text("A=1\n")
    env.chmod(0o600)
    (tmp_path / "a.env.manifest").write_text("{}\n")
    (tmp_path / "a.env.key").write_text("ab12\n")
    empty = tmp_path / "journald.conf"
    empty.write_text("")
    command = AppHostState().command(
        app="a", user="root", home=str(home), release=str(home / "releases" / "r1"),
        env_file=str(env), journald=str(empty), pending=str(tmp_path / "absent"),
        lock="/nonexistent/l", lock_wait=0, packages=["coreutils"], units=[],
    ).get_raw_value()  # fmt: skip
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    state = AppHostState().process(result.stdout.splitlines())
    assert state.packages.get("coreutils") == "installed"
    assert state.user.startswith("root:0:/root:") and state.group == "root:0"
    assert state.dirs[str(home)].endswith(" directory") and str(home / "releases") in state.dirs
    assert state.release_present is True and state.current == str(home / "releases" / "r1")
    assert state.env_file.mode == "600"
    assert state.env_file.sha256 == hashlib.sha256(b"A=1\n").hexdigest()
    assert state.journald.sha256 == hashlib.sha256(b"").hexdigest()
    assert state.manifest == "{}" and state.key == "ab12"
    assert state.manifest_file is not None and state.pending is None


def test_host_state_lists_the_apps_credential_files_but_no_previous_or_temp_file(tmp_path):
    encrypted, plain = tmp_path / "credstore.encrypted" / "a", tmp_path / "credstore" / "a"
    encrypted.mkdir(parents=True)
    for name in ("DB_PASSWORD", "DB_PASSWORD.previous", ".DB_PASSWORD.ssmenv-x1y2z3", "TLS_KEY"):
        (encrypted / name).write_text("ciphertext\n")
    command = AppHostState().command(
        app="a", user="a", home=str(tmp_path / "a"), release="", env_file=str(tmp_path / "a.env"),
        journald="/nonexistent", pending="/nonexistent", lock="/nonexistent/l", lock_wait=0,
        packages=[], units=[], credential_dirs=(str(encrypted), str(plain)),
    ).get_raw_value()  # fmt: skip
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    state = AppHostState().process(result.stdout.splitlines())
    assert sorted(state.credential_files) == [f"{encrypted}/DB_PASSWORD", f"{encrypted}/TLS_KEY"]
    digest = hashlib.sha256(b"ciphertext\n").hexdigest()
    assert state.credential_files[f"{encrypted}/TLS_KEY"].sha256 == digest


def test_the_state_read_is_shell_state_sh_run_by_sh_in_one_command_its_arguments_after_it():
    command = AppHostState().command(
        app="a", user="a", home="/opt/a", release="", env_file="/etc/a.env",
        journald="/etc/j.conf", pending="/run/p", lock="/run/l", lock_wait=0, packages=["p"],
        units=["a.service"],
    ).get_raw_value()  # fmt: skip
    words = shlex.split(command)
    assert words[:3] == ["sh", "-c", (SHELL / "state.sh").read_text()]
    assert words[3:] == ["ssmenv-state", "a", "a", "/opt/a", "", "/etc/a.env", "/etc/j.conf",
                         "/run/p", "/run/l", "0", "/nonexistent", "/nonexistent", "", "", "p",
                         "--", "a.service"]  # fmt: skip


def test_the_facts_parse_the_state_read_with_the_pure_parser():
    assert AppHostState().process(FULL) == parse(FULL)
