"""The project's pyinfra facts, the parser they share, and a way to read a fact without printing
its output."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyinfra.api import FactBase, QuoteString, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.host import Host

from ssmenv import manifest as manifests
from ssmenv.accounts import Account
from ssmenv.activation import Pending, Unit

if TYPE_CHECKING:
    from ssmenv.rotation import RotationTimer

# The shell side of ``file_state``, defined first in the facts' scripts: for a file that exists,
# its owner, group and mode, then its digest.
FILE_STATE_FUNCTION = r"""file_state() {
  if [ -f "$1" ]; then stat -c '%U %G %a' "$1" && sha256sum < "$1"; fi
}
"""


@dataclass(frozen=True)
class FileInfo:
    """A file's owner, group, mode (octal digits as ``stat -c %a`` prints them: ``600``) and the
    sha256 of its content."""

    user: str
    group: str
    mode: str
    sha256: str


def sections(output: Sequence[str]) -> dict[str, list[str]]:
    """The lines of a fact's output under each ``--name--`` marker line, by name."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in output:
        if line.startswith("--") and line.endswith("--") and len(line) > 4:
            current = found.setdefault(line.strip("-"), [])
        else:
            current.append(line)
    return found


def file_state(lines: Sequence[str]) -> FileInfo | None:
    """What ``file_state`` printed for one file (``None``: absent)."""
    if len(lines) < 2:
        return None
    user, group, mode = lines[0].split()
    return FileInfo(user, group, mode, lines[1].split()[0])


class FileState(FactBase):
    """
    Owner, group, mode and sha256 of a file's content, read as one command; ``None`` when absent.

    .. code:: python

        FileInfo(user="root", group="root", mode="600", sha256="9f86d0...")

    A digest, not the content, so a file's content never travels back to the control machine.
    """

    def command(self, path: str) -> StringCommand:
        script = FILE_STATE_FUNCTION + 'file_state "$1"'
        return StringCommand("sh -c", QuoteString(script), "ssmenv-file-state", QuoteString(path))

    def process(self, output: list[str]) -> FileInfo | None:
        return file_state(output)


# One shell script, paths and names as positional arguments, so nothing is interpolated into its
# text. Each section starts with a marker line. An activation under way holds the app's lock: the
# read waits for it (at most `wait` seconds), so a plan is never made from a host half-way through
# one. The release section is there only when a release is asked about (a deploy; a rotation or a
# drift report has none to ask about).
#
# It runs on every host at every deploy (a no-op is this command alone), so it forks as little as
# it can: the sections that name a file print its path, and one `stat` and one `sha256sum` at the
# end cover every path named (measured on a test host: 46 ms with a stat and a digest per file and
# `systemctl --version`, 20 ms like this). systemd's version is its package's, from the one
# dpkg-query.
_HOST_STATE_SCRIPT = r"""
app=$1 user=$2 home=$3 release=$4 env=$5 journald=$6 pending=$7 lock=$8 wait=$9
shift 9
credstores="$1 $2" engines=$3 image=$4
shift 4
packages=''
while [ $# -gt 0 ] && [ "$1" != -- ]; do packages="$packages $1"; shift; done
[ $# -eq 0 ] || shift
if [ -d "${lock%/*}" ] && [ ! -L "$lock" ]; then flock -s -w "$wait" "$lock" true; fi
set -f
nl='
'
paths=''
# A section's file or directory: its path, remembered for the stat and digest at the end.
named() { echo "$1"; if [ -f "$1" ] || [ -d "$1" ]; then paths="$paths$1$nl"; fi; }
# A directory the toolkit manages: whatever is there (a link too, never followed), for the stat.
entry() { echo "$1"; if [ -e "$1" ] || [ -L "$1" ]; then entries="$entries$1$nl"; fi; }
entries=''
echo --packages--
dpkg-query -W -f='${Package} ${db:Status-Status} ${Version}\n' systemd $packages 2>/dev/null
echo --user--; if getent passwd "$user"; then echo --user-groups--; id -Gn -- "$user"; fi
echo --group--; getent group "$user"
echo --dirs--; entry "$home"; entry "$home/releases"; [ -z "$release" ] || entry "$release"
for d in $credstores; do entry "${d%/*}"; entry "$d"; done
if [ -n "$release" ]; then echo --release--; if [ -d "$release" ]; then echo present; fi; fi
echo --current--; readlink "$home/current"
# The app's units: <app>.service (the one unit of an app without a Procfile, whoever wrote it),
# and those of its processes and its target, which say whose they are.
units="$*"
set +f
owned=$(grep -lx -- "X-Ssmenv-App=$app" "/etc/systemd/system/$app.target" \
  "/etc/systemd/system/$app"-*.service 2>/dev/null)
set -f
IFS=$nl
for f in "/etc/systemd/system/$app.service" $owned; do
  [ -f "$f" ] || continue
  name=${f##*/}
  echo "--unit-file $name--"; named "$f"
  case $name in
    *@.service) units="$units $(systemctl list-units --all --plain --no-legend --full \
      "${name%@.service}@*.service" | cut -d' ' -f1)" ;;
    *) units="$units $name" ;;
  esac
done
unset IFS
echo --services--; systemctl show -p Id -p ActiveState -p UnitFileState -- $units
echo --pending-file--; named "$pending"
echo --pending--; [ ! -f "$pending" ] || cat "$pending"
echo --journald--; named "$journald"
echo --manifest-file--; named "$env.manifest"
echo --manifest--; [ ! -f "$env.manifest" ] || cat "$env.manifest"
echo --key--; if [ -f "$env.key" ]; then read -r key < "$env.key"; echo "$key"; fi
echo --env--; named "$env"
# The app's credentials (ssmenv.credentials), one file per variable, named after it; never
# their .previous or an activation's temp file.
set +f
for f in $credstores; do
  for f in "$f"/*; do
    case ${f##*/} in *.*) continue ;; esac
    [ -f "$f" ] || continue
    echo "--credential $f--"; named "$f"
  done
done
set -f
# An app that runs an image: the first engine of those asked for that the host has, and whether
# it has the image (by digest) already.
if [ -n "$image" ]; then
  echo --engine--
  found=''
  for e in $engines; do
    if command -v "$e" > /dev/null; then found=$e; echo "$e"; break; fi
  done
  echo --image--
  if [ -n "$found" ] && "$found" image inspect "$image" > /dev/null 2>&1; then echo present; fi
fi
IFS=$nl
echo --stat--; [ -z "$paths$entries" ] || stat -c '%U %G %a %F %n' -- $paths $entries
echo --sha256--; [ -z "$paths" ] || sha256sum -- $paths 2>/dev/null
true
"""


@dataclass(frozen=True)
class HostState:
    """What a host has of one app (``AppHostState``), as every task compares it."""

    #: The host's systemd version (``None``: unreadable).
    systemd: int | None
    #: Each runtime package asked about and its dpkg status: ``{"nodejs": "installed"}``.
    packages: Mapping[str, str]
    #: ``getent passwd`` of the app's user, ``name:gid:home:shell``.
    user: str | None
    #: ``getent group`` of the app's group, ``name:gid``.
    group: str | None
    #: The directories the app's files live in, as they are: its home, releases and release,
    #: the credential stores and the app's own in them, by path: ``{"/opt/a": "root root 755
    #: directory"}``; a link is there as one (``"root root 777 symbolic link"``), never followed.
    dirs: Mapping[str, str]
    #: Whether the release asked about is on the host (``None``: none was asked about).
    release_present: bool | None
    #: Where ``current`` points: ``/opt/a/releases/1a2b3c``.
    current: str | None
    #: The app's unit files, by name: ``{"example-app.service": FileInfo(...)}``.
    unit_files: Mapping[str, FileInfo]
    #: The app's units (those asked about, those of its unit files, a template's instances) and
    #: their ``ActiveState`` and ``UnitFileState``: ``{"example-app.service": {...}}``.
    services: Mapping[str, Mapping[str, str]]
    #: An activation committed files but never saw the app healthy: what it replaced.
    pending: Pending | None
    #: journald's drop-in.
    journald: FileInfo | None
    manifest_file: FileInfo | None
    #: The manifest's text (versions and keyed fingerprints, no value).
    manifest: str | None
    #: The fingerprint key: key material, kept out of the repr.
    key: str | None = field(repr=False)
    env_file: FileInfo | None
    #: The app's credential files (ciphertext, or plaintext on systemd 247-249), by path:
    #: ``{"/etc/credstore.encrypted/example-app/DB_PASSWORD": FileInfo(...)}``.
    credential_files: Mapping[str, FileInfo] = field(default_factory=dict)
    #: For an app that runs an image: the engine the host has (of those asked about: ``None``,
    #: none), and whether it has the image already (``None``: none was asked about).
    engine: str | None = None
    image_present: bool | None = None
    #: The app's user as the host has it (``None``: no such user), to judge whether it may be
    #: the app's (``ssmenv.accounts``).
    account: Account | None = None

    def running(self, unit: str) -> bool:
        return self.services.get(unit, {}).get("ActiveState") == "active"

    def enabled(self, unit: str) -> bool:
        return self.services.get(unit, {}).get("UnitFileState") in ("enabled", "static")

    @property
    def checks(self) -> Mapping[str, Unit] | None:
        """How the version the host runs checks each of its units, as its manifest records them
        (``None``: a manifest written before manifests recorded them, or none)."""
        return manifests.checks(manifests.loads(self.manifest))

    @property
    def active_units(self) -> tuple[str, ...]:
        """The app's units that run or would start at boot, in name order."""
        return tuple(sorted(
            unit for unit, s in self.services.items()
            if s.get("ActiveState") in ("active", "activating", "reloading")
            or s.get("UnitFileState") == "enabled"
        ))  # fmt: skip


class AppHostState(FactBase):
    """
    Everything a deploy compares for one app, read in one command: the host's systemd version,
    the runtime packages, the app's user (and its groups) and group, its directories (as they
    are: a link is not followed), release and ``current``
    link, its unit files and units (``units``: those it wants, plus those the host has),
    journald's drop-in, the env file with its manifest and fingerprint key, and the app's
    credential files (``credential_dirs``: the encrypted and the plain one), and for an app that
    runs an ``image``, the first of ``engines`` the host has and whether it has the image; a
    ``HostState``.

    .. code:: python

        HostState(
            systemd=252,
            packages={"nodejs": "installed"},
            user="example-app:998:/nonexistent:/usr/sbin/nologin",
            group="example-app:998",
            dirs={"/opt/example-app": "root root 755 directory", ...},
            release_present=True,
            current="/opt/example-app/releases/1a2b3c",
            unit_files={"example-app.service": FileInfo(user="root", ..., sha256="...")},
            services={"example-app.service": {"Id": "example-app.service",
                                              "ActiveState": "active", "UnitFileState": "enabled"}},
            pending=None,
            journald=FileInfo(...),
            manifest_file=FileInfo(...),
            manifest="{...}",
            key="5f1e...",
            env_file=FileInfo(...),
            credential_files={"/etc/credstore.encrypted/example-app/DB_PASSWORD": FileInfo(...)},
            engine=None,
            image_present=None,
            account=Account(name="example-app", uid=998, gid=998,
                            comment="ssmenv app example-app", home="/nonexistent",
                            shell="/usr/sbin/nologin", groups=("example-app",)),
        )

    ``release=""`` asks about no release (``release_present`` is then ``None``): a rotation needs
    none, and naming one may mean building it. The output holds the fingerprint key: read it with
    ``quiet_fact``, never ``get_fact`` (which prints fact output at ``-vvv``).
    """

    def command(
        self,
        app: str,
        user: str,
        home: str,
        release: str,
        env_file: str,
        journald: str,
        pending: str,
        lock: str,
        lock_wait: int,
        packages: list[str],
        units: list[str],
        credential_dirs: tuple[str, str] = ("/nonexistent", "/nonexistent"),
        engines: tuple[str, ...] = (),
        image: str = "",
    ) -> StringCommand:
        args = [app, user, home, release, env_file, journald, pending, lock, str(lock_wait),
                *credential_dirs, " ".join(engines), image, *packages, "--", *units]  # fmt: skip
        return StringCommand(
            "sh -c", QuoteString(_HOST_STATE_SCRIPT), "ssmenv-state",
            *(QuoteString(a) for a in args),
        )  # fmt: skip

    def process(self, output: list[str]) -> HostState:
        found = sections(output)
        stats = _stats(found.get("stat", []))
        digests = _digests(found.get("sha256", []))

        def one(name: str) -> str | None:
            lines = [line for line in found.get(name, []) if line.strip()]
            return lines[0].strip() if lines else None

        def file_of(lines: Sequence[str]) -> FileInfo | None:
            """The file a section names, if it is a regular file."""
            path = lines[0] if lines else ""
            kind, digest = stats.get(path), digests.get(path)
            if kind is None or digest is None or not kind.endswith(" file"):
                return None
            user, group, mode, _ = kind.split(" ", 3)
            return FileInfo(user, group, mode, digest)

        packages: dict[str, str] = {}
        systemd = None
        for line in found.get("packages", []):
            name, _, rest = line.partition(" ")
            status, _, version = rest.partition(" ")
            if not status:
                continue
            packages[name] = status
            if name == "systemd" and status == "installed":
                major = re.match(r"\d+", version)  # 252.39-1~deb12u2
                systemd = int(major.group()) if major else None
        passwd = (one("user") or "").split(":")
        group = (one("group") or "").split(":")
        manifest = "\n".join(found.get("manifest", [])).strip()
        return HostState(
            systemd=systemd,
            packages=packages,
            user=":".join(passwd[i] for i in (0, 3, 5, 6)) if len(passwd) >= 7 else None,
            group=":".join(group[:3:2]) if len(group) >= 3 else None,
            dirs={path: stats[path] for path in found.get("dirs", []) if path in stats},
            release_present=one("release") == "present" if "release" in found else None,
            current=one("current"),
            unit_files={
                name.removeprefix("unit-file "): info
                for name, lines in found.items()
                if name.startswith("unit-file ") and (info := file_of(lines))
            },
            services=_services(found.get("services", [])),
            pending=_pending(file_of(found.get("pending-file", [])), found),
            journald=file_of(found.get("journald", [])),
            manifest_file=file_of(found.get("manifest-file", [])),
            manifest=manifest or None,
            key=one("key"),
            env_file=file_of(found.get("env", [])),
            credential_files={
                name.removeprefix("credential "): info
                for name, lines in found.items()
                if name.startswith("credential ") and (info := file_of(lines))
            },
            engine=one("engine"),
            image_present=one("image") == "present" if "image" in found else None,
            account=Account.parse(one("user") or "", one("user-groups") or ""),
        )


def _stats(lines: Sequence[str]) -> dict[str, str]:
    """``stat -c '%U %G %a %F %n'`` of several paths: path -> ``user group mode type`` (the type
    has spaces, ``regular file``; the path starts at the first ``/``)."""
    found = {}
    for line in lines:
        head, slash, tail = line.partition(" /")
        if slash:
            found["/" + tail] = head
    return found


def _digests(lines: Sequence[str]) -> dict[str, str]:
    """``sha256sum`` of several files: path -> digest (a path with a backslash or a newline in it
    is escaped, the line then starting with ``\\``)."""
    found = {}
    for line in lines:
        digest, _, path = line.partition("  ")
        if digest.startswith("\\"):
            digest, path = digest[1:], path.replace("\\n", "\n").replace("\\\\", "\\")
        if path:
            found[path] = digest
    return found


def _services(lines: list[str]) -> dict[str, dict[str, str]]:
    """``systemctl show -p Id ...`` of several units: blocks of ``Key=value``, ``Id`` first."""
    services: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in [*lines, ""]:
        if "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
        elif current:
            if current.get("Id"):
                services[current["Id"]] = current
            current = {}
    return services


def _pending(marker: FileInfo | None, found: dict[str, list[str]]) -> Pending | None:
    text = "\n".join(found.get("pending", []))
    return Pending.parse(text, marker.sha256) if marker else None


def quiet_fact(host: Host, fact: type[FactBase], **kwargs: Any) -> Any:
    """Read a fact as ``host.get_fact`` would (same sudo and connection arguments), but never
    print its output, whatever the verbosity: for facts that carry key material."""
    state = host.state
    arguments, _ = pop_global_arguments(state, host, {})
    connector_arguments = {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    instance = fact()
    command = instance.command(**kwargs)
    ok, output = host.run_shell_command(
        command, print_output=False, print_input=state.print_fact_input, **connector_arguments
    )
    if not ok:
        # stderr only: the command prints no secret on failure, and stdout may hold key material.
        raise PyinfraError(
            f"{host.name}: could not read {fact.__name__}: {' '.join(output.stderr_lines)[:500]}"
        )
    return instance.process(output.stdout_lines)


# What a scheduled rotation's control host has, read in one command before anything is installed.

_ROTATION_STATE_SCRIPT = FILE_STATE_FUNCTION + r"""
pyinfra=$1 checkout=$2 inventory=$3 env_file=$4 user=$5 schedule=$6
service=$7 timer=$8 venv=$9
shift 9
echo --problems--
[ -x "$pyinfra" ] || echo "rotation_venv: no executable $pyinfra"
[ -f "$checkout/rotate.py" ] || echo "rotation_checkout: no $checkout/rotate.py"
[ -f "$inventory" ] || echo "rotation_inventory: no file $inventory"
[ -z "$env_file" ] || [ -f "$env_file" ] || echo "rotation_environment_file: no file $env_file"
getent passwd "$user" > /dev/null || { echo "rotation_user: no user $user"; user=root; }
systemd-analyze calendar -- "$schedule" > /dev/null 2>&1 ||
  echo "rotation_schedule: systemd cannot read '$schedule' (systemd-analyze calendar)"
while [ $# -gt 1 ]; do
  systemd-analyze timespan -- "$2" > /dev/null 2>&1 ||
    echo "$1: systemd cannot read '$2' as a time span (systemd-analyze timespan)"
  shift 2
done

# What the rotation runs (the checkout, the virtualenv and the Python it links to, the inventory
# and its group data) and reads (the environment file) must be owned by root or the rotation's
# user and written by nobody else, nor may anyone else replace a directory leading to them; a
# directory with the sticky bit (/tmp) may be writable by all: only an entry's owner replaces it.
# Each problem is one line naming the setting and the path (never the content), once per path.

# why MODE OWNER IS_DIR: why a path of that mode and owner is not safe, or nothing.
why() {
  if [ "$2" != root ] && [ "$2" != "$user" ]; then
    echo "is owned by $2, not by root or the rotation's user"
  elif [ $(( 0$1 & 022 )) -ne 0 ] && { [ "$3" = n ] || [ $(( 0$1 & 01000 )) -eq 0 ]; }; then
    echo "is writable by its group or others (mode $1)"
  fi
}

# one SETTING PATH: PATH itself (followed if a link).
one() {
  set -- "$1" "$2" "$(stat -L -c '%a %U' -- "$2" 2> /dev/null)"
  [ -n "$3" ] || return 0
  d=n; [ -d "$2" ] && d=y
  reason=$(why "${3% *}" "${3#* }" $d)
  [ -z "$reason" ] || echo "$1: $2 $reason"
}

# leading SETTING PATH: the directories leading to PATH, as written and with links resolved.
leading() {
  for p in "$2" "$(readlink -f -- "$2")"; do
    while [ "${p%/*}" != "$p" ] && [ -n "$p" ] && [ "$p" != / ]; do
      p=${p%/*}; one "$1" "${p:-/}"
    done
  done
}

# tree SETTING DIR PRUNE: DIR and everything in it (links are not followed; PRUNE is left out):
# the first path that is not safe, and how many more there are.
tree() {
  [ -d "$2" ] || return 0
  found=$(find "$2" -path "$3" -prune -o ! -type l \( ! -user root ! -user "$user" -o \
    -perm /022 ! \( -type d -perm -1000 \) \) -printf '%m %u %y %p\0' 2> /dev/null |
    tr -c '[:print:]\0' '?' | tr '\0' '\n')
  [ -n "$found" ] || return 0
  more=$(( $(printf '%s\n' "$found" | wc -l) - 1 ))
  printf '%s\n' "$found" | head -n 1 | {
    read -r mode owner kind path
    [ "$kind" = d ] && kind=y || kind=n
    printf '%s: %s %s' "$1" "$path" "$(why "$mode" "$owner" "$kind")"
    [ "$more" -eq 0 ] && echo || echo "; and $more more under $2"
  }
}

{
  if [ -d "$venv" ]; then
    tree rotation_venv "$venv" ""
    leading rotation_venv "$venv"
    python=$(readlink -f -- "$venv/bin/python")
    [ -z "$python" ] || { one rotation_venv "$python"; leading rotation_venv "$python"; }
  fi
  tree rotation_checkout "$checkout" "$venv"
  leading rotation_checkout "$checkout"
  if [ -f "$inventory" ]; then
    one rotation_inventory "$inventory"
    leading rotation_inventory "$inventory"
    tree rotation_inventory "${inventory%/*}/group_data" ""
  fi
  if [ -n "$env_file" ] && [ -f "$env_file" ]; then
    one rotation_environment_file "$env_file"
    leading rotation_environment_file "$env_file"
    mode=$(stat -L -c '%a' -- "$env_file")
    [ $(( 0$mode & 077 )) -eq 0 ] || echo "rotation_environment_file: $env_file has mode" \
      "$mode: it holds AWS settings, maybe keys; make it 600"
  fi
} | awk '{ path = $0; sub(/^[^:]*: /, "", path); sub(/ (is|has) .*/, "", path) }
         !seen[path]++'
echo --service--; file_state "$service"
echo --timer--; file_state "$timer"
true
"""


class RotationHostState(FactBase):
    """
    What stands in the way of a rotation timer on the control host, and its unit files now.

    Problems: what is missing (the virtualenv's ``pyinfra``, ``rotate.py``, the inventory, the
    environment file, the user), what systemd cannot read (the schedule, the time spans), and
    what others could change: the checkout, the virtualenv, the Python it links to, the
    inventory and its ``group_data``, the environment file and every directory leading to them
    must be owned by root or the rotation's user and not writable by group or others (a sticky
    directory such as ``/tmp`` excepted), and the environment file readable by its owner alone.
    One line each, naming the setting and the path, never a file's content.

    .. code:: python

        {
            "problems": ["rotation_venv: no executable /opt/ssmenv/.venv/bin/pyinfra"],
            "service": FileInfo(user="root", group="root", mode="644", sha256="9f86d0..."),
            "timer": None,
        }
    """

    def command(self, timer: RotationTimer) -> StringCommand:
        args = [
            timer.pyinfra, timer.checkout, timer.inventory, timer.environment_file or "",
            timer.user, timer.schedule, timer.service_path, timer.timer_path, timer.venv,
            "rotation_randomized_delay", timer.randomized_delay,
            "rotation_timeout", timer.timeout,
        ]  # fmt: skip
        return StringCommand(
            "sh -c", QuoteString(_ROTATION_STATE_SCRIPT), "ssmenv-rotation-state",
            *(QuoteString(a) for a in args),
        )  # fmt: skip

    def process(self, output: list[str]) -> dict[str, Any]:
        found = sections(output)
        return {
            "problems": found.get("problems", []),
            "service": file_state(found.get("service", [])),
            "timer": file_state(found.get("timer", [])),
        }
