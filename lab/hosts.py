"""Local test hosts: Debian 12 containers booted with systemd as PID 1 by systemd-nspawn.

Each host shares this machine's network, answers SSH on 127.0.0.1 on a port of its own and lets the
non-root user deploy in with the lab's key (python -m lab.hosts key) and passwordless sudo, as an
EC2 instance would; root login and passwords are refused. Its host keys are new at every boot:
nothing to pin (StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null). The image is built once
with debootstrap and cached outside the repository (SSMENV_LAB_CACHE, default
/var/cache/ssmenv-lab), keyed by what goes into it; every host boots over it with
--volatile=overlay, so it starts fresh and leaves nothing behind. What runs is recorded in the
state directory (SSMENV_LAB_STATE, default /run/ssmenv-lab). Needs root.

    python -m lab.hosts up --prefix demo --count 2 --ssh-port 2201
    ssh -i "$(python -m lab.hosts key)" -p 2201 deploy@127.0.0.1
    python -m lab.hosts status
    python -m lab.hosts down --prefix demo
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.ports import port_free

CACHE = Path(os.environ.get("SSMENV_LAB_CACHE", "/var/cache/ssmenv-lab"))
STATE = Path(os.environ.get("SSMENV_LAB_STATE", "/run/ssmenv-lab"))
MIRROR = os.environ.get("SSMENV_LAB_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
USER = "deploy"

# What a bare EC2-like server has: systemd, sshd, sudo. libnss-myhostname lets sudo resolve the
# container's hostname without an /etc/hosts entry.
BARE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "libnss-myhostname")
# The default image also carries the example app's runtime, so tests don't spend a minute per boot
# in apt; the deploy still declares the package and finds it installed.
# The benchmark's has the peer's runtime too (../shared/peer runs a Python app), so both run on
# hosts from one image.
IMAGES = {
    "bare": BARE_PACKAGES,
    "node": (*BARE_PACKAGES, "nodejs"),
    "bench": (*BARE_PACKAGES, "nodejs", "python3"),
    # Podman for the container runtime's tests (rootful, so no uidmap). debootstrap follows only
    # Depends and cannot pick a virtual one: crun and netavark are named, catatonit gives --init.
    "container": (*BARE_PACKAGES, "podman", "crun", "conmon", "catatonit", "netavark"),
    # A host that fetches its own configuration (pull mode) with its instance role: the example
    # app's runtime and Debian's own botocore (1.29.27 on bookworm), which takes the role's
    # credentials through IMDSv2 (AWS_EC2_METADATA_SERVICE_ENDPOINT: the lab's lab.imds).
    "agent": (*BARE_PACKAGES, "nodejs", "python3-botocore"),
}

# The hosts share this machine's network, and so its way out: the certificate authorities this
# machine trusts (a TLS-intercepting egress proxy's among them) are bind-mounted read-only into
# every host at LAB_TRUST (a path no package manages: a bare host's apt may still install
# ca-certificates), and npm and pip on the host read that bundle (npm's cafile, pip's cert).
# The lab's environment, not the toolkit's: a real server trusts its own.
TRUST = Path("/etc/ssl/certs/ca-certificates.crt")
LAB_TRUST = "/etc/ssl/lab-trust.crt"
TRUST_SETUP = f"""set -e
mkdir -p /etc/ssl
touch {LAB_TRUST}
printf 'cafile={LAB_TRUST}\\n' > /etc/npmrc
printf '[global]\\ncert = {LAB_TRUST}\\n' > /etc/pip.conf
# debootstrap copied this machine's name: without it each host is called by its machine name.
rm -f /etc/hostname
"""
# npm too, for the example app's dependencies (node-postgres: `npm ci` on the host); apt installs
# it after debootstrap, whose resolver cannot order npm's hundreds of node-* packages.
NPM_SETUP = """set -e
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
apt-get clean
rm -rf /var/lib/apt/lists/*
""" + TRUST_SETUP.removeprefix("set -e\n")

# Run inside the new rootfs: the login user, its sudo rule, and sshd reading the lab key from a
# bind-mounted file and its port from a per-host drop-in.
CUSTOMIZE = f"""set -e
useradd --create-home --shell /bin/bash {USER}
echo '{USER} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{USER}
chmod 0440 /etc/sudoers.d/{USER}
cat > /etc/ssh/sshd_config.d/00-lab.conf <<EOF
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/lab_authorized_keys
PasswordAuthentication no
PermitRootLogin no
EOF
apt-get clean
"""

# Settings of an image kind beyond its packages, run in the new rootfs after CUSTOMIZE. They are
# the lab's, not the toolkit's: what a container engine needs to run inside an nspawn host.
# - vfs: overlayfs does not stack on the host's own --volatile=overlay root.
# - keyring = false: a session keyring per container is refused inside nspawn.
# - cgroups = "disabled": the host's cgroup tree is not delegated to the container's engine.
# - netns = "host": the hosts share this machine's network; apps and the registry are on 127.0.0.1.
# - 127.0.0.1 insecure (plain HTTP): the lab registry listens there on whatever port a suite picks.
#   containers/image matches a location "127.0.0.1" for "127.0.0.1:PORT/..." (sysregistriesv2
#   refMatchingPrefix; upstream calls that match unintended, so a newer Podman may need the port).
CONTAINER_SETUP = """set -e
cat > /etc/containers/storage.conf <<EOF
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
EOF
cat > /etc/containers/containers.conf <<EOF
[containers]
keyring = false
cgroups = "disabled"
netns = "host"
EOF
mkdir -p /etc/containers/registries.conf.d
cat > /etc/containers/registries.conf.d/50-lab.conf <<EOF
[[registry]]
location = "127.0.0.1"
insecure = true
EOF
"""
IMAGE_SETUP = {"container": CONTAINER_SETUP, "node": NPM_SETUP, "bench": NPM_SETUP,
               "agent": NPM_SETUP, "bare": TRUST_SETUP}  # fmt: skip

#: The image kinds whose hosts get this machine's trust bundle (their setup made its place).
TRUSTING = ("node", "bench", "agent", "bare")

BOOT_DEADLINE = 90.0
# How long a builder waits for another that builds the same cached thing (an image takes about a
# minute with debootstrap).
BUILD_LOCK_DEADLINE = 900.0


@dataclass
class LabHost:
    """One running container, as recorded in the state directory."""

    name: str
    ssh_port: int
    nspawn_pid: int
    image: str

    @property
    def state_dir(self) -> Path:
        return STATE / self.name


@contextmanager
def cache_lock(name: str, deadline: float = BUILD_LOCK_DEADLINE) -> Iterator[None]:
    """Hold the cache's lock ``name``: one builder of a cached thing at a time, when several
    suites, or the parallel workers of one, ask for it at once. Fails after ``deadline`` seconds
    of another holding it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f".{name}.lock").open("a") as lock:
        end = time.monotonic() + deadline
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise SystemExit(
                        f"{CACHE / name}: another build held it for {deadline:.0f}s"
                    ) from None
                time.sleep(0.2)
        yield  # the lock goes with the file


def key_path() -> Path:
    """The lab's SSH private key, created on first use; its public half lets us in to every host."""
    key = CACHE / "ssh" / "id_ed25519"
    if key.exists():
        return key
    with cache_lock("ssh-key"):
        if not key.exists():  # made while this one waited
            key.parent.mkdir(parents=True, exist_ok=True)
            made = key.with_name(f".{key.name}.{os.getpid()}")
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ssmenv-lab", "-f",
                 str(made)],
                check=True,
            )  # fmt: skip
            # The public half first: a key that exists has both.
            made.with_name(made.name + ".pub").rename(key.with_name(key.name + ".pub"))
            made.rename(key)
    return key


def image_path(kind: str = "node") -> Path:
    """Build (once) and return the rootfs for an image kind, cached by a hash of its recipe."""
    packages = IMAGES[kind]
    setup = IMAGE_SETUP.get(kind, "")
    # A kind without setup keeps the recipe (and so the cache key) it had before setups existed.
    recipe = [SUITE, "minbase", sorted(packages), CUSTOMIZE, *([setup] if setup else [])]
    recipe = json.dumps(recipe).encode()
    root = CACHE / "images" / f"{kind}-{hashlib.sha256(recipe).hexdigest()[:16]}"
    rootfs = root / "rootfs"
    if rootfs.exists():
        return rootfs
    with cache_lock(root.name):
        if not rootfs.exists():  # built while this one waited
            _build_image(root, packages, setup)
    return rootfs


def _build_image(root: Path, packages: Sequence[str], setup: str) -> None:
    rootfs = root / "rootfs"
    building = root / "rootfs.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    print(
        f"building test-host image {root.name} (about a minute, cached afterwards)", file=sys.stderr
    )
    log = root / "debootstrap.log"
    with log.open("wb") as out:
        result = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                str(building),
                MIRROR,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise SystemExit(f"debootstrap failed, see {log}")
    subprocess.run(["chroot", str(building), "/bin/sh", "-c", CUSTOMIZE], check=True)
    if setup:
        subprocess.run(["chroot", str(building), "/bin/sh", "-c", setup], check=True)
    building.rename(rootfs)  # atomic: a half-built image is never mistaken for a cached one


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


#: The hosts' shared connections' sockets, one per SSH port (``ssh_args``).
SHARED = STATE / "ssh"


def ssh_args(port: int, shared: bool = True) -> list[str]:
    """The ssh command line that logs in to a lab host as the deploy user.

    ``shared``: through the host's one connection that ``wait_ready`` opened (OpenSSH's
    ControlMaster), when it is still there; else, as with ``shared=False``, a login of its own.
    A login per command costs a key exchange on both sides and, on the host, a PAM session whose
    systemd user manager starts and stops each time: most of what a test's look at a host cost."""
    return [
        "ssh",
        "-i",
        str(key_path()),
        "-p",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=5",
        "-o",
        f"ControlPath={SHARED / str(port) if shared else 'none'}",
        f"{USER}@127.0.0.1",
    ]


def _share_connection(port: int) -> None:
    """Open the host's shared connection (``ssh_args``), unless it is open. In the background,
    its output nowhere (a master holding a caller's pipe would keep the caller waiting); it ends
    with the host's sshd, or at ``_end_shared``. Best effort: without it, each login is its own."""
    args = ssh_args(port)
    check = subprocess.run([*args[:-1], "-O", "check", args[-1]], capture_output=True, timeout=10)
    if check.returncode == 0:
        return
    SHARED.mkdir(mode=0o700, parents=True, exist_ok=True)
    # What is left there is of an earlier host on this port, gone with it: a new master would
    # refuse to listen where a socket exists.
    (SHARED / str(port)).unlink(missing_ok=True)
    subprocess.run(
        [*args[:-1], "-o", "ControlMaster=yes", "-o", "ControlPersist=yes", "-f", "-N", args[-1]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=30,
    )  # fmt: skip


def _end_shared(port: int) -> None:
    """Close the host's shared connection, if open, and remove its socket."""
    args = ssh_args(port)
    if (SHARED / str(port)).exists():
        subprocess.run([*args[:-1], "-O", "exit", args[-1]], capture_output=True, timeout=10)
        (SHARED / str(port)).unlink(missing_ok=True)


def connection_data(ssh_port: int | None = None) -> dict:
    """pyinfra host data that reaches a lab host as the deploy user (the port, when given)."""
    data = {
        "ssh_hostname": "127.0.0.1",
        "ssh_user": USER,
        "ssh_key": str(key_path()),
        # The containers share one image's host keys and are new at every boot: nothing to pin.
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    return data if ssh_port is None else {**data, "ssh_port": ssh_port}


#: The cgroup hierarchies a container's systemd manages on a machine with cgroup v1 (its named
#: hierarchy, and the unified one of a hybrid layout).
CGROUP_V1 = Path("/sys/fs/cgroup/systemd")
CGROUP_UNIFIED = Path("/sys/fs/cgroup/unified")


def _own_cgroups(name: str) -> list[Path]:
    """A cgroup of the container's own in each hierarchy its systemd manages, empty, on cgroup
    v1. ``--keep-unit`` makes the container's cgroup tree the one nspawn starts in: from one
    cgroup, every container's systemd would create and remove ``payload/system.slice/<unit>`` in
    the same place, and a unit of one host whose cgroup another host's systemd had just removed
    failed to start (``status=219/CGROUP``: seen at boot under load, for
    ``systemd-user-sessions.service``, which left ``/run/nologin`` and no login). On cgroup v2
    alone: none (nspawn's own layout)."""
    if not (CGROUP_V1 / "cgroup.procs").exists():
        return []
    roots = [CGROUP_V1, *([CGROUP_UNIFIED] if (CGROUP_UNIFIED / "cgroup.procs").exists() else [])]
    found = []
    for root in roots:
        own = root / "ssmenv-lab" / name
        _remove_cgroup(own)  # one a killed host left
        own.mkdir(parents=True)
        found.append(own)
    return found


def _remove_cgroup(path: Path) -> None:
    """``path`` and the cgroups under it, deepest first (only empty ones can go)."""
    if not path.is_dir():
        return
    for directory, _, _ in sorted(os.walk(path), key=lambda w: -len(Path(w[0]).parts)):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def boot(
    name: str,
    ssh_port: int,
    kind: str = "node",
    binds: Sequence[tuple[str, str]] = (),
    npm_registry: str | None = None,
) -> LabHost:
    """Start one container; returns once it is spawned (see ``wait_ready`` for SSH).

    ``binds``: ``(source, destination)`` directories or files of this machine mounted read-only
    inside the container (``--bind-ro``), for a host that must run this checkout's tools.

    ``npm_registry``: the registry npm on the host fetches from (its ``/etc/npmrc``; the lab's
    mirror, ``lab.npm_mirror``), instead of npm's own."""
    rootfs = image_path(kind)
    key = key_path()
    if not port_free(ssh_port):
        raise SystemExit(f"{name}: port {ssh_port} is already in use")
    state_dir = STATE / name
    state_dir.mkdir(parents=True, exist_ok=True)
    # Sessions at once over one connection (default 10): a test's threads share the host's.
    (state_dir / "sshd-port.conf").write_text(f"Port {ssh_port}\nMaxSessions 100\n")
    npmrc = []
    if npm_registry is not None and kind in TRUSTING:
        # The image's /etc/npmrc (TRUST_SETUP) and the registry; npm's Debian package has none
        # of its own, so a bare host's apt leaves the mount alone.
        (state_dir / "npmrc").write_text(f"cafile={LAB_TRUST}\nregistry={npm_registry}\n")
        npmrc = [f"--bind-ro={state_dir / 'npmrc'}:/etc/npmrc"]
    log = (state_dir / "console.log").open("wb")
    cgroups = _own_cgroups(name)
    # nspawn starts in the container's own cgroups: sh moves itself there, then becomes nspawn.
    enter = [*(f'echo $$ > "${i + 1}/cgroup.procs" &&' for i in range(len(cgroups))),
             f'shift {len(cgroups)} && exec "$@"']  # fmt: skip
    proc = subprocess.Popen(
        [
            "sh", "-c", " ".join(enter), "sh", *map(str, cgroups),
            "systemd-nspawn",
            "--directory",
            str(rootfs),
            "--boot",
            "--register=no",
            "--keep-unit",
            "--volatile=overlay",
            f"--machine={name}",
            "--console=passive",
            f"--bind-ro={state_dir / 'sshd-port.conf'}:/etc/ssh/sshd_config.d/10-port.conf",
            f"--bind-ro={key}.pub:/etc/ssh/lab_authorized_keys",
            *([f"--bind-ro={TRUST}:{LAB_TRUST}"] if TRUST.exists() and kind in TRUSTING else []),
            *npmrc,
            *(f"--bind-ro={source}:{destination}" for source, destination in binds),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    host = LabHost(name=name, ssh_port=ssh_port, nspawn_pid=proc.pid, image=kind)
    (state_dir / "host.json").write_text(json.dumps(asdict(host)))
    return host


def wait_ready(host: LabHost, deadline: float = BOOT_DEADLINE) -> None:
    """Wait until the host runs commands over SSH with sudo; fail saying what it was waiting for."""
    end = time.monotonic() + deadline
    last = ""
    while time.monotonic() < end:
        if not _alive(host.nspawn_pid):
            raise SystemExit(
                f"{host.name}: systemd-nspawn exited; see {host.state_dir}/console.log"
            )
        # Logged in, the boot's end is waited for there (no login per poll); a boot still under
        # way after 30 s names the jobs it waits on, for the message below.
        result = subprocess.run(
            [*ssh_args(host.ssh_port), "sudo -n true && { state=$(timeout 30 systemctl "
             "is-system-running --wait); echo \"$state\"; case $state in running | degraded) ;; "
             "*) systemctl list-jobs --no-pager ;; esac; }"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        # "degraded" still means booted: some container-irrelevant unit failed.
        if result.stdout.strip() in ("running", "degraded"):  # the state alone, no jobs
            _share_connection(host.ssh_port)
            return
        last = " | ".join((result.stdout + result.stderr).strip().splitlines()[-6:])
        time.sleep(0.2)
    console = (host.state_dir / "console.log").read_text(errors="replace").splitlines()[-15:]
    raise SystemExit(
        f"{host.name}: not booted and answering over SSH on port {host.ssh_port} after "
        f"{deadline:.0f}s ({last}); "
        "console:\n" + "\n".join(console)
    )


def running() -> list[LabHost]:
    """Hosts recorded in the state directory whose nspawn is still alive."""
    hosts = []
    for record in sorted(STATE.glob("*/host.json")):
        host = LabHost(**json.loads(record.read_text()))
        if _alive(host.nspawn_pid):
            hosts.append(host)
        else:
            shutil.rmtree(record.parent, ignore_errors=True)
    return hosts


def power_off(host: LabHost, deadline: float = 30.0) -> None:
    """Halt the container: SIGRTMIN+4 to its init (SIGTERM to nspawn ends in a failed halt)."""
    _end_shared(host.ssh_port)
    for init in _children(host.nspawn_pid):
        os.kill(init, signal.SIGRTMIN + 4)
    end = time.monotonic() + deadline
    while _alive(host.nspawn_pid) and time.monotonic() < end:
        try:
            os.waitpid(host.nspawn_pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(host.nspawn_pid):
        os.kill(host.nspawn_pid, signal.SIGKILL)
    shutil.rmtree(host.state_dir, ignore_errors=True)
    for root in (CGROUP_V1, CGROUP_UNIFIED):
        _remove_cgroup(root / "ssmenv-lab" / host.name)


def up(
    prefix: str,
    count: int,
    ssh_port: int,
    kind: str = "node",
    binds: Sequence[tuple[str, str]] = (),
    npm_registry: str | None = None,
) -> list[LabHost]:
    """Boot ``count`` hosts named ``<prefix>-1..N`` on consecutive SSH ports and wait for all,
    each with the read-only ``binds`` and the ``npm_registry`` of ``boot``.

    Hosts of those names that are running already are kept as they are."""
    # Each container's systemd takes inotify instances from one machine-wide budget (default 128,
    # gone near 20 containers, counting those of other suites running at the same time).
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(limit.read_text()) < 8192:
        limit.write_text("8192\n")
    alive = {h.name: h for h in running()}
    hosts = [
        alive.get(f"{prefix}-{i + 1}")
        or boot(f"{prefix}-{i + 1}", ssh_port + i, kind, binds, npm_registry)
        for i in range(count)
    ]
    try:
        for i, host in enumerate(hosts):
            try:
                wait_ready(host)
            except SystemExit as first:
                # A host that does not answer: once, on a loaded machine, hosts sharing one
                # cgroup (fixed: ``_own_cgroups``); kept for any other cause. One fresh boot of
                # that host, then give up with both reasons. Said either way (a test shows it
                # with its output; the log is read after a whole run) with the console's last
                # lines and the boot jobs still waited on.
                print(f"{host.name}: booting it again: {first}", file=sys.stderr)
                with (STATE / "boot-stalls.log").open("a") as log:
                    log.write(f"{time.strftime('%F %T')} {host.name}: {first}\n")
                power_off(host)
                hosts[i] = host = boot(host.name, host.ssh_port, kind, binds, npm_registry)
                try:
                    wait_ready(host)
                except SystemExit as second:
                    raise SystemExit(f"{first}\nand again after a fresh boot: {second}") from None
    except BaseException:
        for host in hosts:
            power_off(host)
        raise
    return hosts


def down(prefix: str | None = None) -> list[str]:
    """Power off the running hosts (those named ``<prefix>-N`` when a prefix is given)."""
    if prefix is None:
        return down_matching(re.compile(r".*"))
    return down_matching(re.compile(rf"{re.escape(prefix)}-\d+"))


def down_matching(names: re.Pattern[str]) -> list[str]:
    """Power off the running hosts whose whole name ``names`` matches (a test suite's hosts, of
    every worker: what an interrupted run left)."""
    stopped = []
    for host in running():
        if names.fullmatch(host.name):
            power_off(host)
            stopped.append(host.name)
    return stopped


#: What each image kind is for, for --help.
KINDS = {
    "node": "the default: a bare server plus Node.js, the example app's runtime",
    "bare": "sshd, sudo and the user only, as a fresh EC2 instance",
    "bench": "node plus python3, for the benchmark's peer",
    "container": "bare plus Podman, for apps that run an image",
    "agent": "node plus Debian's python3-botocore, for hosts that fetch with their instance role",
}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m lab.hosts", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    kinds = "; ".join(f"{kind}: {KINDS[kind]}" for kind in sorted(IMAGES))
    sub = main.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image", help="build the host image if not cached; print its path")
    image.add_argument("--kind", choices=sorted(IMAGES), default="node",
                       help=f"which image (default: node). {kinds}")  # fmt: skip
    start = sub.add_parser(
        "up", help="boot hosts and wait until they answer SSH",
        description=f"Boot COUNT hosts named PREFIX-1..COUNT, the i-th answering SSH on "
        f"127.0.0.1:SSH_PORT+i-1 as the user {USER} (passwordless sudo; the key: python -m "
        f"lab.hosts key), and wait until each runs commands. Hosts of those names that run "
        f"already are kept. Each prints its ssh command line. As pyinfra host data: "
        f"ssh_hostname 127.0.0.1, ssh_port, ssh_user {USER}, ssh_key the lab's key, "
        f"ssh_known_hosts_file /dev/null, ssh_strict_host_key_checking no (group_data/local.py).",
    )  # fmt: skip
    start.add_argument("--prefix", default="lab",
                       help="the hosts' names: PREFIX-1, PREFIX-2... (default: lab)")  # fmt: skip
    start.add_argument("--count", type=int, default=2, help="how many hosts (default: 2)")
    start.add_argument("--ssh-port", type=int, default=2201, help="SSH port of the first host, "
                       "the next ones on the ports after it (default: 2201); each must be free")
    start.add_argument("--kind", choices=sorted(IMAGES), default="node",
                       help=f"the image they boot (default: node). {kinds}")  # fmt: skip
    stop = sub.add_parser("down", help="power hosts off")
    stop.add_argument("--prefix", help="only the hosts named PREFIX-N; without it, every lab "
                      "host that runs, whoever started it")  # fmt: skip
    sub.add_parser("status", help="list running hosts: name, SSH port, nspawn pid")
    sub.add_parser("key", help="print the path of the lab's SSH key (created on first use), "
                   f"which logs in as {USER} on every host")  # fmt: skip
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)

    if args.command == "image":
        print(image_path(args.kind))
    elif args.command == "up":
        for host in up(args.prefix, args.count, args.ssh_port, args.kind):
            print(f"{host.name}: ssh -i {key_path()} -p {host.ssh_port} {USER}@127.0.0.1")
    elif args.command == "down":
        for name in down(args.prefix):
            print(f"{name}: powered off")
    elif args.command == "status":
        for host in running():
            print(f"{host.name}\tssh port {host.ssh_port}\tnspawn pid {host.nspawn_pid}")
    elif args.command == "key":
        print(key_path())


if __name__ == "__main__":
    main()
