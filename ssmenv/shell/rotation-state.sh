# shellcheck shell=sh
# What stands in the way of a scheduled rotation's timer on the control host, and its unit files
# now (ssmenv.facts.RotationHostState), read in one command before anything is installed. POSIX
# sh, run by `sh -c` after file-state.sh, with positional arguments: pyinfra checkout inventory
# env_file user schedule service timer venv, then pairs of a setting and its time span.
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
