# shellcheck shell=sh
# What a host has of one app, read in one command before any plan is made (ssmenv.hoststate parses
# it into a HostState). POSIX sh, run by `sh -c` with this text and positional arguments: app user
# home release env journald pending lock wait credstore-encrypted credstore-plain engines image
# packages... -- units... (ssmenv.hoststate.Query.args), so nothing is interpolated into its text.
# Each section starts with a marker line. An activation under way holds the app's lock: the read
# waits for it (at most `wait` seconds), so a plan is never made from a host half-way through one.
# The release section is there only when a release is asked about (a deploy; a rotation or a
# drift report has none to ask about).
#
# It runs on every host at every deploy (a no-op is this command alone), so it forks as little as
# it can: the sections that name a file print its path, and one `stat` and one `sha256sum` at the
# end cover every path named (measured on a test host: 46 ms with a stat and a digest per file and
# `systemctl --version`, 20 ms like this). systemd's version is its package's, from the one
# dpkg-query. Lists are split on purpose where a variable is left unquoted: globbing is off
# (`set -f`) and IFS is a newline where paths are split.
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
# shellcheck disable=SC2086 # the packages, one word each
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
echo --services--
# shellcheck disable=SC2086 # the units, one word each
systemctl show -p Id -p ActiveState -p UnitFileState -- $units
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
for d in $credstores; do
  for f in "$d"/*; do
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
echo --stat--
# shellcheck disable=SC2086 # the paths, one a line
[ -z "$paths$entries" ] || stat -c '%U %G %a %F %n' -- $paths $entries
echo --sha256--
# shellcheck disable=SC2086 # the paths, one a line
[ -z "$paths" ] || sha256sum -- $paths 2>/dev/null
true
