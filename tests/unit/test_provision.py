"""The provisioning command: its plan (only what a host lacks), and its file and release steps,
run by bash here on a temp directory. (The user, directories, lock and the dependencies'
sandboxed install run on real hosts: tests/e2e.)"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

from ssmenv import remote
from ssmenv.provision import HostFile, Provision, Pull, Unpack
from ssmenv.runtimes.container import auth_json


def bash(script: str, stdin: str = "", path: str | None = None) -> subprocess.CompletedProcess:
    """``script`` after the provisioning program's functions (its main is not called); ``path``
    first on ``PATH``."""
    env = {**os.environ, "PATH": f"{path}:{os.environ['PATH']}"} if path else None
    return subprocess.run(
        ["bash", "-c", remote.program("provision") + "\nset -u\numask 022\n" + script],
        input=stdin, capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip


def archive(tmp_path: Path, **files: str) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    path = tmp_path / "release.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in files:
            tar.add(source / name, arcname=name)
    return path


def test_a_host_that_lacks_nothing_gets_no_plan():
    assert not Provision("shop")
    assert Provision("shop", dirs=("/opt/shop",))


def test_the_plan_names_only_what_is_missing_and_the_contents_follow_it_in_order(tmp_path):
    release = Unpack("/opt/shop/releases/1a2b", archive(tmp_path, **{"a.js": "1"}), "npm ci")
    plan = Provision("shop", user="shop", files=(HostFile("/etc/j.conf", "[Journal]\n"),),
                     release=release)  # fmt: skip
    lines = plan.plan()
    assert lines[:4] == ["ssmenv-provision 1", "app shop", "lock-wait 60", "user shop"]
    assert lines[4].startswith("file 10 ") and lines[4].endswith(" 0644 - /etc/j.conf")
    assert lines[5:] == ["release /opt/shop/releases/1a2b", lines[6], "install npm ci", "end"]
    assert plan.payload() == "[Journal]\n" + release.text
    assert plan.describe() == "user shop, /etc/j.conf, release 1a2b"


def test_a_whole_plan_is_read_and_a_cut_or_odd_one_refused(tmp_path):
    plan = Provision("shop", dirs=(f"{tmp_path}/a",), files=(HostFile(f"{tmp_path}/f", "x"),))
    text = "".join(f"{line}\n" for line in plan.plan())
    read = bash('read_plan && printf "%s|" "$APP" "${DIRS[0]}" "${F_PATH[0]}"', text)
    assert read.returncode == 0, read.stderr
    assert read.stdout == f"shop|{tmp_path}/a|{tmp_path}/f|"
    assert bash("read_plan", text[: -len("end\n")]).returncode != 0
    assert bash("read_plan", text.replace("dir ", "dir ../")).returncode != 0
    assert bash("read_plan", text.replace("app shop", "app shop; reboot")).returncode != 0


def test_a_file_is_put_in_place_whole_with_its_mode(tmp_path):
    target = tmp_path / "conf.d" / "50-ssmenv.conf"
    plan = Provision("shop", files=(HostFile(str(target), "[Journal]\nSystemMaxUse=1G\n"),))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("read_plan && put_file 0", text)
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "[Journal]\nSystemMaxUse=1G\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["50-ssmenv.conf"]  # no temp file left


def test_a_file_that_does_not_arrive_whole_is_not_put_in_place(tmp_path):
    target = tmp_path / "conf"
    plan = Provision("shop", files=(HostFile(str(target), "GOOD\n"),))
    text = "".join(f"{line}\n" for line in plan.plan()) + "EVIL\n"
    assert bash("read_plan && put_file 0", text).returncode != 0
    assert not target.exists()


#: What provision.sh's main does with a release.
UNPACK = 'unpack "$RELEASE" "$SIZE" "$SHA" "$INSTALL"'


def test_a_release_without_an_install_step_is_unpacked_into_place(tmp_path):
    releases = tmp_path / "releases"
    releases.mkdir()
    release = Unpack(str(releases / "1a2b"), archive(tmp_path, **{"server.js": "ok"}))
    plan = Provision("shop", release=release)
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash(f"read_plan && {UNPACK} && cleanup", text)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (releases / "1a2b").iterdir()) == ["server.js"]
    assert (releases / "1a2b").stat().st_mode & 0o777 == 0o755
    assert [p.name for p in releases.iterdir()] == ["1a2b"]  # nothing staged is left


def test_a_releases_directory_that_is_a_link_is_refused_and_nothing_lands_behind_it(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    (tmp_path / "releases").symlink_to(victim)
    release = Unpack(str(tmp_path / "releases" / "1a2b"), archive(tmp_path, **{"a.js": "ok"}))
    plan = Provision("shop", release=release)
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash(f"read_plan && {UNPACK}", text)
    assert result.returncode != 0
    assert f"{tmp_path}/releases is a symbolic link: ssmenv never follows" in result.stderr
    assert list(victim.iterdir()) == [] and victim.stat().st_mode & 0o777 == 0o700


def test_a_file_whose_directory_is_a_link_is_not_written(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "conf.d").symlink_to(victim)
    plan = Provision("shop", files=(HostFile(str(tmp_path / "conf.d" / "50.conf"), "x\n"),))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("read_plan && put_file 0", text)
    assert result.returncode != 0 and "conf.d is a symbolic link" in result.stderr
    assert list(victim.iterdir()) == []


def test_a_release_whose_archive_is_not_the_one_planned_is_refused(tmp_path):
    releases = tmp_path / "releases"
    releases.mkdir()
    release = Unpack(str(releases / "1a2b"), archive(tmp_path, **{"server.js": "ok"}))
    plan = Provision("shop", release=release)
    text = "".join(f"{line}\n" for line in plan.plan()) + release.text[:-4] + "AAAA"
    result = bash(f"read_plan && {UNPACK}; s=$?; cleanup; exit $s", text)
    assert result.returncode != 0 and "did not arrive whole" in result.stderr
    assert list(releases.iterdir()) == []


IMAGE = "127.0.0.1:5000/shop@sha256:" + "ab" * 32
LOGIN = '{"auths": {"127.0.0.1:5000": {"auth": "RkFLRQ=="}}}'


def test_a_pulls_secrets_are_its_login_in_every_form_it_may_be_said_back():
    login = auth_json("127.0.0.1:5000", "ci", "FAKE-registry-c4n4ry")
    token = base64.b64encode(b"ci:FAKE-registry-c4n4ry").decode()
    assert Pull("podman", IMAGE, login).secrets == (
        login, token, "ci:FAKE-registry-c4n4ry", "FAKE-registry-c4n4ry")
    assert Pull("podman", IMAGE, "not json").secrets == ("not json",)
    assert Pull("podman", IMAGE).secrets == ()


def fake_engine(tmp_path: Path, name: str, status: int = 0) -> Path:
    """An engine that records its arguments and the login file it was given (its mode, its
    directory's, its content), then exits with ``status``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    engine = bin_dir / name
    engine.write_text(f"""#!/bin/bash
printf '%s\\n' "$@" > {tmp_path}/args
for f in "$@"; do
  case $f in */config.json) login=$f ;; /run/ssmenv/pull.*) login=$f/config.json ;; esac
done
if [ -n "$login" ]; then
  stat -c '%a %U' "$login" "${{login%/*}}" > {tmp_path}/modes; cat "$login" > {tmp_path}/login
fi
echo "Error: pulling failed on purpose" >&2
exit {status}
""")
    engine.chmod(0o755)
    return bin_dir


def test_a_pull_is_planned_with_the_logins_size_and_its_content_after_the_files():
    plan = Provision("shop", files=(HostFile("/etc/j.conf", "[Journal]\n"),),
                     pull=Pull("podman", IMAGE, LOGIN))  # fmt: skip
    assert plan.plan()[-2:] == [f"pull podman {len(LOGIN)} {IMAGE}", "end"]
    assert plan.payload() == "[Journal]\n" + LOGIN
    assert plan.secrets == (LOGIN, "RkFLRQ==", "FAKE")
    assert "RkFLRQ" not in repr(plan)
    assert plan.describe() == "/etc/j.conf, image sha256:abababababab"


def test_podman_pulls_with_a_root_only_login_file_that_is_gone_after_the_pull(tmp_path):
    plan = Provision("shop", pull=Pull("podman", IMAGE, LOGIN))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("state_dir && read_plan && pull && ls /run/ssmenv", text,
                  path=str(fake_engine(tmp_path, "podman")))  # fmt: skip
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().splitlines()
    assert args[:3] == ["pull", "--quiet", "--authfile"] and args[-1] == IMAGE
    assert (tmp_path / "modes").read_text().split("\n")[:2] == ["600 root", "700 root"]
    assert (tmp_path / "login").read_text() == LOGIN
    assert not [n for n in result.stdout.split() if n.startswith("pull.")]


def test_docker_pulls_with_the_login_as_its_config_directory(tmp_path):
    plan = Provision("shop", pull=Pull("docker", IMAGE, LOGIN))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("state_dir && read_plan && pull", text, path=str(fake_engine(tmp_path, "docker")))
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().splitlines()
    assert args[0] == "--config" and args[2:] == ["pull", "--quiet", IMAGE]
    assert (tmp_path / "login").read_text() == LOGIN


def test_a_failed_pull_says_why_and_leaves_no_login(tmp_path):
    plan = Provision("shop", pull=Pull("podman", IMAGE, LOGIN))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("state_dir && read_plan && pull; echo status $?; ls /run/ssmenv", text,
                  path=str(fake_engine(tmp_path, "podman", status=125)))  # fmt: skip
    assert "status 1" in result.stdout
    assert "could not pull " + IMAGE + " with podman (status 125): Error: pulling failed" in (
        result.stderr)  # fmt: skip
    assert not [n for n in result.stdout.split() if n.startswith("pull.")]


def test_a_pull_without_a_login_passes_none(tmp_path):
    plan = Provision("shop", pull=Pull("podman", IMAGE))
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash("state_dir && read_plan && pull", text, path=str(fake_engine(tmp_path, "podman")))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "args").read_text().splitlines() == ["pull", "--quiet", IMAGE]


def test_the_agents_bundle_is_unpacked_into_place_after_the_release(tmp_path):
    releases, agents = tmp_path / "releases", tmp_path / "agents"
    releases.mkdir()
    agents.mkdir()
    release = Unpack(str(releases / "1a2b"), archive(tmp_path, **{"server.js": "ok"}))
    (tmp_path / "b").mkdir()
    bundle = Unpack(str(agents / "9f8e"), archive(tmp_path / "b", **{"ssmenv-agent": "#!"}))
    plan = Provision("shop", release=release, agent=bundle)
    digest = hashlib.sha256(bundle.data).hexdigest()
    assert plan.plan()[-3:] == [f"bundle {agents}/9f8e",
                                f"bundle-archive {len(bundle.text)} {digest}", "end"]
    text = "".join(f"{line}\n" for line in plan.plan()) + plan.payload()
    result = bash(f'read_plan && {UNPACK} && unpack "$BUNDLE" "$B_SIZE" "$B_SHA" "" && cleanup',
                  text)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (agents / "9f8e" / "ssmenv-agent").read_text() == "#!"
    assert sorted(p.name for p in (releases / "1a2b").iterdir()) == ["server.js"]
