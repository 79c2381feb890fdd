"""Health-gated activation of a new env file, unit or release on one host, rolled host by host.

An ``Activation`` is what one host must switch to; ``activation_script`` turns it into a single
remote command that, under a per-app lock, checks that nothing changed since the run read the
host, stages every file from stdin, verifies the unit, commits, restarts, waits until the service
is active, stays active and answers its health path, and otherwise puts back what was there and
confirms the old version is healthy again. ``Rollout`` orders hosts in inventory order, one batch
at a time, and stops at the first host that fails.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import gevent
from pyinfra.api import QuoteString, StringCommand

# Exit codes of the activation script.
HEALTHY = 0
ROLLED_BACK = 1  # the new version failed, the old one is back and healthy
BROKEN = 2  # the new version failed and so did the old one (or there was none)
REFUSED = 3  # nothing was changed: a file could not be staged or failed verification
LOCKED = 75  # another deploy holds the host's lock
STALE = 76  # the host changed since this run read it

q = QuoteString


@dataclass(frozen=True)
class FileWrite:
    """One file to put in place; ``expect`` is the sha256 the run read (``None``: absent)."""

    path: str
    content: str = field(repr=False)
    user: str = "root"
    group: str = "root"
    mode: str = "0600"
    expect: str | None = None
    verify: str | None = None

    @property
    def size(self) -> int:
        return len(self.content.encode())


@dataclass(frozen=True)
class LinkSwitch:
    path: str
    target: str
    previous: str | None


@dataclass(frozen=True)
class Health:
    port: int
    path: str
    timeout: int
    settle: int


@dataclass(frozen=True)
class Activation:
    """What one host switches to, and how to tell it worked."""

    app: str
    service: str
    files: tuple[FileWrite, ...] = ()
    link: LinkSwitch | None = None
    reload: bool = False
    health: Health | None = None
    # Values that must never be printed, scrubbed from anything the host says back.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def lock(self) -> str:
        return f"/run/lock/ssmenv-{self.app}.lock"

    @property
    def pending(self) -> str:
        return pending_marker(self.app)

    def stdin(self) -> str:
        return "".join(f.content for f in self.files)


# Shell functions the script uses. Arguments are positional; nothing is interpolated into them.
_FUNCTIONS = r"""
say() { echo "ssmenv: $*" >&2; }
digest() { if [ -f "$1" ]; then sha256sum < "$1" | cut -d' ' -f1; else echo absent; fi; }
expect() { [ "$(digest "$1")" = "$2" ] || { say "$1 changed since this run read the host \
(another deploy?): rerun"; exit 76; }; }
temp_beside() { d=$(dirname "$1"); [ -d "$d" ] || mkdir -p -m 0755 "$d"; \
mktemp "$d/.ssmenv.XXXXXX"; }
fill() {  # fill TEMP SIZE OWNER MODE: exactly SIZE bytes of stdin, then owner, mode, sync
  head -c "$2" > "$1" && [ "$(wc -c < "$1")" -eq "$2" ] && chown "$3" "$1" && chmod "$4" "$1" &&
  sync "$1"
}
verify() {  # verify STAGED NAME COMMAND...
  s=$1 n=$2; shift 2; v=$(mktemp -d -p /run ssmenv-verify.XXXXXX); cp "$s" "$v/$n"
  out=$("$@" "$v/$n" 2>&1); rc=$?; rm -rf "$v"
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then say "refused $n: $out"; exit 3; fi
}
commit() { if [ -f "$2" ]; then ln -f "$2" "$2.previous"; fi; mv -f "$1" "$2"; }
restore() {  # restore PATH WAS: put back the file the run replaced (or remove a new one)
  if [ "$2" = absent ]; then rm -f "$1"
  elif [ -f "$1.previous" ]; then mv -f "$1.previous" "$1"; fi
}
healthy() {  # healthy SERVICE PORT PATH SECONDS SETTLE
  i=0
  while [ "$i" -lt "$4" ]; do
    i=$((i + 1))
    if systemctl is-active --quiet "$1" && { [ -z "$3" ] || bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$2" >&3 &&
        head -n 1 <&3 | grep -qE "^HTTP/1\.[01] 2[0-9][0-9]"' probe "$2" "$3" 2>/dev/null; }
    then
      id=$(systemctl show -p InvocationID --value "$1"); sleep "$5"
      # Still the same process, still active: it did not crash right after answering.
      [ "$(systemctl show -p InvocationID --value "$1")" = "$id" ] &&
        systemctl is-active --quiet "$1" && return 0
    fi
    sleep 1
  done
  return 1
}
report() {
  say "$1 did not become healthy: $(systemctl show -p ActiveState --value "$1")/\
$(systemctl show -p SubState --value "$1"), $(systemctl show -p NRestarts --value "$1") restarts;\
 the last lines of its journal:"
  journalctl -u "$1" -n 12 --no-pager -o cat >&2
}
staged=""; trap 'rm -f $staged' EXIT
"""


def pending_marker(app: str) -> str:
    """Present while an activation has committed files but not yet seen the app healthy: if the
    connection or the script dies in between, the next run knows to restart and check. In /run,
    so a reboot (which starts the app on the new files anyway) clears it."""
    return f"/run/ssmenv/{app}.pending"


def activation_script(a: Activation) -> StringCommand:
    """The single remote command that activates ``a`` on a host (see the module docstring)."""
    health = a.health or Health(port=0, path="", timeout=30, settle=0)
    check = [q(a.service), q(str(health.port)), q(health.path), q(str(health.timeout)),
             q(str(health.settle))]  # fmt: skip
    bits: list = [
        # A dropped SSH connection must not stop the script half-way: carry on without a reader.
        "set -u; umask 077; trap '' HUP PIPE;",
        StringCommand(_FUNCTIONS.strip(), _separator=""),
        "\nexec 9>", q(a.lock), "; if ! flock -w 60 9; then say 'another deploy holds",
        q(a.lock), "'; exit 75; fi;",
    ]
    # Compare-and-swap: the plan was made from what the run read; refuse if the host moved on.
    for f in a.files:
        bits += ["expect", q(f.path), q(f.expect or "absent"), ";"]
    if a.link:
        bits += ['[ "$(readlink', q(a.link.path), ')" = ', q(a.link.previous or ""),
                 "] || { say", q(f"{a.link.path} changed since this run read the host: rerun"),
                 "; exit 76; };"]  # fmt: skip
    def switch(target: str) -> list:
        new = a.link.path + ".new"
        return ["ln -sfn", q(target), q(new), "&& mv -T", q(new), q(a.link.path), ";"]

    if a.link and not a.link.previous:
        # First release: nothing runs from the link yet, and the unit's check needs it in place.
        bits += switch(a.link.target)
    for i, f in enumerate(a.files):
        bits += [f"t{i}=$(temp_beside", q(f.path), ") || exit 3;", f'staged="$staged $t{i}";',
                 "fill", f'"$t{i}"', q(str(f.size)), q(f"{f.user}:{f.group}"), q(f.mode),
                 "|| { say", q(f"could not write {f.path}"), "; exit 3; };"]  # fmt: skip
        if f.verify:
            bits += ["verify", f'"$t{i}"', q(posixpath.basename(f.path)), f.verify, ";"]
    # Commit: each rename is atomic; the previous files stay beside for the way back.
    bits += ["mkdir -p -m 0700 /run/ssmenv && : >", q(a.pending), ";"]
    for i, f in enumerate(a.files):
        bits += ["commit", f'"$t{i}"', q(f.path), ";"]
    if a.link and a.link.previous:
        bits += switch(a.link.target)
    if a.reload:
        bits += ["systemctl daemon-reload;"]
    bits += ["systemctl enable --quiet", q(a.service), "; systemctl restart", q(a.service), ";",
             "if healthy", *check, "; then rm -f", q(a.pending), "; say",
             q(f"{a.service} is healthy"), "; exit 0; fi;",
             "report", q(a.service), ";"]  # fmt: skip

    # The way back: the files and link as the run found them, then the old version's health.
    had_old = any(f.expect for f in a.files if not f.path.endswith(".key")) or (
        a.link is not None and a.link.previous
    )
    for f in a.files:
        bits += ["restore", q(f.path), q(f.expect or "absent"), ";"]
    if a.link and a.link.previous:
        bits += switch(a.link.previous)
    if a.reload:
        bits += ["systemctl daemon-reload;"]
    if not had_old:
        bits += ["systemctl stop", q(a.service), "; say 'first deploy: nothing to roll back to';",
                 "exit 2;"]  # fmt: skip
    else:
        bits += ["say 'rolled back; restarting the previous version';",
                 "systemctl restart", q(a.service), "; if healthy", *check, "; then rm -f",
                 q(a.pending), "; say",
                 q(f"rolled back: {a.service} is healthy on the previous version"), "; exit 1; fi;",
                 "report", q(a.service), "; say 'the previous version is not healthy either';",
                 "exit 2;"]  # fmt: skip
    return StringCommand(*bits)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value (and each line of a multi-line one) masked."""
    pieces = {p for s in secrets for p in (s, *s.splitlines()) if len(p.strip()) >= 3}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


class Rollout:
    """Hosts activate in inventory order, ``batch`` at a time; a failure stops the rest.

    One per pyinfra state (run). The hosts taking part are those the running activation
    operation was added for, read from the state when a host's turn is asked for, so the order
    never depends on which host's greenlet happens to run first.
    """

    _by_state: dict[int, Rollout] = {}
    _lock = threading.Lock()

    def __init__(self, batch: int) -> None:
        self.batch = max(1, batch)
        self.done: set[str] = set()
        self.failed: dict[str, str] = {}

    @classmethod
    def of(cls, state, batch: int) -> Rollout:
        with cls._lock:
            return cls._by_state.setdefault(id(state), cls(batch))

    @staticmethod
    def participants(state, op_hash: str) -> list:
        """The hosts, in inventory order, that have the operation ``op_hash``."""
        return [h for h in state.inventory if op_hash in state.ops.get(h, {})]

    def wait_turn(self, state, host, op_hash: str) -> str | None:
        """Block until every host of the earlier batches succeeded; the name of one that failed
        (so this host must not change) otherwise."""
        hosts = self.participants(state, op_hash)
        mine = hosts.index(host) // self.batch
        earlier = [h for i, h in enumerate(hosts) if i // self.batch < mine]
        while True:
            for h in earlier:
                if h.name in self.failed or h in state.failed_hosts:
                    return h.name
            if all(h.name in self.done for h in earlier):
                return None
            gevent.sleep(0.05)

    def finish(self, host, error: str | None) -> None:
        if error is None:
            self.done.add(host.name)
        else:
            self.failed[host.name] = error


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
