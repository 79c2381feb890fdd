# shellcheck shell=bash
# What an app host needs before its activation, in one command (ssmenv.operations.provision):
# the app's system group and user, its directories, small root-owned files (journald's
# retention), and a release of the app unpacked from stdin. Only what the state read found
# missing or different is in the plan. Under the app's deploy lock.
#
# The release arrives base64 on stdin after the plan and the files, is checked by its sha256,
# unpacked into a fresh root-only directory beside the release with its dependencies installed
# there (by an unprivileged, sandboxed transient unit: see install_deps), and renamed into place: a
# release directory only ever exists complete. Unique temp names, so two runs shipping the same
# release never undo each other's work. Nothing is made or changed through a link.
#
# Runs as root after lib.sh. Plan lines, up to "end":
#   ssmenv-provision 1
#   app NAME · lock-wait SECONDS
#   user NAME                           the app's system user NAME and its group, made (marked
#                                       as the toolkit's); one there already is never adopted
#   dir PATH                            a directory owned by root, mode 0755, made or set so
#   file SIZE SHA256 MODE RESTART PATH  a root-owned file put in place whole; RESTART, a unit or
#                                       -, is restarted once it changed (failing that, the file
#                                       applies from its next start: not fatal)
#   release PATH · archive BASE64-SIZE SHA256 · install COMMAND...   (all three optional; install
#                                       runs by sh in the new release's directory, unprivileged)
#   pull ENGINE AUTH-SIZE IMAGE         the image pulled by ENGINE (podman, docker) by digest,
#                                       logging in with the AUTH-SIZE bytes of registry login
#                                       that follow the files on stdin (0: none)
#   bundle PATH · bundle-archive BASE64-SIZE SHA256   the host's agent (pull mode), unpacked as a
#                                       release is, root's, with nothing to install
# Then on stdin: each file's content, in plan order, then the registry login, then the archive,
# then the agent's.
# Exit status: 0 done (a release already there counts), 1 failed, 75 locked.

APP='' LOCK_WAIT=60 RELEASE='' SIZE='' SHA='' INSTALL='' USER_NAME='' BUNDLE='' B_SIZE='' B_SHA=''
DIRS=() F_SIZE=() F_SHA=() F_MODE=() F_RESTART=() F_PATH=()
WORK='' TEMP='' LOGIN=''
P_ENGINE='' P_SIZE=0 P_IMAGE=''
# Seconds a pull may take: a large image over a slow link, not a hung registry.
readonly PULL_TIMEOUT=900
# Seconds a release's dependencies may take to install (native modules compile), likewise.
readonly INSTALL_TIMEOUT=900

read_plan() {
  local line word rest
  IFS= read -r line && [ "$line" = "ssmenv-provision 1" ] || return 1
  while IFS= read -r line; do
    word=${line%% *} rest=${line#"$word"} rest=${rest# }
    case $word in
      app) is_name "$rest" && APP=$rest || return 1 ;;
      lock-wait) [[ $rest =~ ^[0-9]{1,9}$ ]] && LOCK_WAIT=$rest || return 1 ;;
      user) [[ $rest =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && USER_NAME=$rest || return 1 ;;
      dir) is_path "$rest" && DIRS+=("$rest") || return 1 ;;
      file)
        [[ $rest =~ ^([0-9]{1,9})\ ([0-9a-f]{64})\ ([0-7]{3,4})\ ([-a-z0-9@._]+)\ (/.*)$ ]] ||
          return 1
        F_SIZE+=("${BASH_REMATCH[1]}") F_SHA+=("${BASH_REMATCH[2]}") F_MODE+=("${BASH_REMATCH[3]}")
        F_RESTART+=("${BASH_REMATCH[4]}") F_PATH+=("${BASH_REMATCH[5]}")
        is_path "${F_PATH[-1]}" || return 1
        ;;
      release) is_path "$rest" && RELEASE=$rest || return 1 ;;
      archive)
        [[ $rest =~ ^([0-9]{1,12})\ ([0-9a-f]{64})$ ]] || return 1
        SIZE=${BASH_REMATCH[1]} SHA=${BASH_REMATCH[2]}
        ;;
      install) INSTALL=$rest ;;
      bundle) is_path "$rest" && BUNDLE=$rest || return 1 ;;
      bundle-archive)
        [[ $rest =~ ^([0-9]{1,12})\ ([0-9a-f]{64})$ ]] || return 1
        B_SIZE=${BASH_REMATCH[1]} B_SHA=${BASH_REMATCH[2]}
        ;;
      pull)
        [[ $rest =~ ^(podman|docker)\ ([0-9]{1,6})\ ([A-Za-z0-9][A-Za-z0-9@:./_-]*)$ ]] ||
          return 1
        P_ENGINE=${BASH_REMATCH[1]} P_SIZE=${BASH_REMATCH[2]} P_IMAGE=${BASH_REMATCH[3]}
        ;;
      end)
        [ -n "$APP" ] && { [ -z "$RELEASE" ] || [ -n "$SIZE" ]; } &&
          { [ -z "$BUNDLE" ] || [ -n "$B_SIZE" ]; }
        return
        ;;
      *) return 1 ;;
    esac
  done
  return 1
}

cleanup() { rm -rf -- "$WORK" "$TEMP" "$LOGIN"; }

# app_user NAME: the app's system user and its group of the same name, without a home or a
# login shell, marked as the toolkit's with its comment (ssmenv.accounts). The plan asks only
# when the state read found neither: one there now is another run's for this app (its mark) or
# somebody else's, never adopted.
app_user() {
  local name=$1 mark="ssmenv app $APP" entry comment
  if entry=$(getent passwd "$name"); then
    IFS=: read -r _ _ _ _ comment _ <<< "$entry"
    [ "$comment" = "$mark" ] && return 0
  elif ! getent group "$name" > /dev/null; then
    useradd -r -U -M -d /nonexistent -s /usr/sbin/nologin -c "$mark" -- "$name"
    return
  fi
  say "app_user: the host's account or group $name appeared since the state read; not adopted"
  return 1
}

# own_dir PATH: PATH is a directory and not a link (or absent), or say so: nothing the toolkit
# makes or changes goes through a link (a chown or chmod would land on its target).
own_dir() {
  if [ -L "$1" ]; then
    say "$1 is a symbolic link: ssmenv never follows a link in the directories it manages;" \
      "remove it"
    return 1
  elif [ -e "$1" ] && [ ! -d "$1" ]; then
    say "$1 is not a directory; remove it"
    return 1
  fi
}

# put_file I: file I's content from stdin into a temp file beside it, checked by its sha256, with
# its mode, renamed into place; its unit restarted.
put_file() {
  local i=$1 path=${F_PATH[$1]} unit=${F_RESTART[$1]} dir
  dir=${path%/*}
  own_dir "$dir" || return 1
  [ -d "$dir" ] || mkdir -p -- "$dir" || return 1
  TEMP=$(mktemp -- "$dir/.${path##*/}.ssmenv-XXXXXX") || return 1
  head -c "${F_SIZE[i]}" > "$TEMP" && [ "$(digest "$TEMP")" = "${F_SHA[i]}" ] &&
    chown root:root -- "$TEMP" && chmod -- "${F_MODE[i]}" "$TEMP" &&
    mv -fT -- "$TEMP" "$path" || return 1
  TEMP=''
  [ "$unit" != - ] || return 0
  # A restart has been seen to fail once in a container (journald: cgroup I/O error): once more,
  # then the file applies from the unit's next start.
  timeout -k 5 60 systemctl restart -- "$unit" 2> /dev/null || {
    sleep 2
    systemctl reset-failed -- "$unit" 2> /dev/null
    timeout -k 5 60 systemctl restart -- "$unit"
  } || say "could not restart $unit: ${path##*/} applies from its next start"
}

# unpack PATH SIZE SHA256 INSTALL: a release (or the agent's bundle), from stdin, into a directory
# of its own beside PATH, then renamed into place. Everything happens inside WORK, a fresh
# directory that only root can enter (0700), so nobody sees or changes a release before it is
# complete, root's and in place.
unpack() {
  local path=$1 size=$2 sha=$3 install=$4 releases=${1%/*} name=${1##*/}
  own_dir "$releases" && own_dir "$path" || return 1
  if [ -d "$path" ]; then
    say "release $name is on the host already"
    head -c "$size" > /dev/null
    return 0
  fi
  WORK=$(mktemp -d -- "$releases/.$name.ssmenv-XXXXXX") || return 1
  if ! head -c "$size" | base64 -d > "$WORK/archive" || [ "$(digest "$WORK/archive")" != "$sha" ]
  then
    say "release $name did not arrive whole"
    return 1
  fi
  if [ -n "$install" ]; then
    install_deps "$path" "$install" || return 1
  elif ! { mkdir -m 0755 -- "$WORK/release" &&
    tar -xzf "$WORK/archive" -C "$WORK/release" --no-same-owner; }; then
    say "could not unpack $name"
    return 1
  fi
  mv -T -- "$WORK/release" "$path" || { say "could not move release $name into place"; return 1; }
  rm -rf -- "$WORK"
  WORK=''
  sync -- "$releases"
}

# install_deps PATH INSTALL: the release unpacked and its dependencies installed (INSTALL, by sh)
# by nobody that matters: their install scripts are code from the internet. A transient unit runs
# both as
# a user systemd makes up for it (DynamicUser=), which sees the release at the path it will live
# at (a virtualenv's paths are absolute) and may write nothing else: not the host's files, not
# the other releases, not the app's or any other app's secrets (root-only, and out of its sight
# where the toolkit keeps them), not the instance's metadata service (its role's credentials).
# Network for the registries, a private /tmp for caches (HOME), removed with the unit; a
# deadline. Then the files are made root's, writable by nobody else, as every release is.
install_deps() {
  local release=$1 install=$2 name=${1##*/} stage=$WORK/release releases=${1%/*} status
  # systemd reads ':' as a separator in BindPaths= and '%' as a specifier.
  [[ $release =~ ^[^:%]+$ ]] || { say "release path $release is not one systemd can bind"; return 1; }
  # World-writable, inside WORK: only the unit reaches it, through its bind mount.
  mkdir -m 0777 -- "$stage" || return 1
  local hidden=(/run/ssmenv /etc/credstore /etc/credstore.encrypted /etc/ssmenv
    /var/lib/systemd/credential.secret) path
  for path in /etc/*.env /etc/*.env.*; do
    if is_path "$path" && [[ $path =~ ^[^:%]+$ ]]; then hidden+=("$path"); fi
  done
  local properties=(
    DynamicUser=yes UMask=0022 CapabilityBoundingSet= NoNewPrivileges=yes
    ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectControlGroups=yes
    RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes LockPersonality=yes
    "IPAddressDeny=169.254.169.254 fd00:ec2::254"
    "TemporaryFileSystem=$releases:ro" "BindPaths=$stage:$release" "WorkingDirectory=$release"
    "RuntimeMaxSec=$INSTALL_TIMEOUT" TimeoutStopSec=10
  )
  for path in "${hidden[@]}"; do properties+=("InaccessiblePaths=-$path"); done
  set -- "${properties[@]/#/--property=}"
  # The unit's stdin is the archive; its output goes to a file only root can read, shown if it
  # fails (masked by the control machine, as everything the host says). Its own sh expands $0.
  # shellcheck disable=SC2016
  systemd-run --quiet --wait --pipe --collect --unit="ssmenv-install-$APP-${WORK##*-}" \
    --setenv=HOME=/tmp "$@" -- /bin/sh -c \
    'tar -xzf - --no-same-owner && exec /bin/sh -c "$0"' "$install" \
    < "$WORK/archive" > "$WORK/output" 2>&1
  status=$?
  if [ "$status" -ne 0 ]; then
    say "installing the dependencies of release $name failed (status $status; deadline" \
      "$INSTALL_TIMEOUT s); what it said last:"
    tail -n 20 -- "$WORK/output" | sed 's/^/  | /' >&2
    return 1
  fi
  # Never through a link (-h; -R follows none), set-id bits off, nothing writable but by root.
  if ! { chown -R -h root:root -- "$stage" && chmod -R go-w,ug-s -- "$stage" &&
    chmod 0755 -- "$stage"; }; then
    say "could not make release $name root's"
    return 1
  fi
}

# pull: the image, by digest, before any activation needs it. The registry login goes from stdin
# into a file of root's own directory (private from its first byte), which the engine reads and
# which is removed as soon as the pull ends: no login stays on the host.
pull() {
  local config='' out
  if [ "$P_SIZE" -gt 0 ]; then
    LOGIN=$(umask 077 && mktemp -d -p "$STATE_DIR" pull.XXXXXX) || return 1
    config=$LOGIN/config.json
    (umask 077 && head -c "$P_SIZE" > "$config") || return 1
    [ "$(wc -c < "$config")" -eq "$P_SIZE" ] || { say "the registry login did not arrive whole"; return 1; }
  fi
  case $P_ENGINE in
    podman) set -- podman pull --quiet ${config:+--authfile "$config"} "$P_IMAGE" ;;
    docker) set -- docker ${LOGIN:+--config "$LOGIN"} pull --quiet "$P_IMAGE" ;;
  esac
  out=$(timeout -k 10 "$PULL_TIMEOUT" "$@" 2>&1 > /dev/null < /dev/null)
  local status=$?
  rm -rf -- "$LOGIN"
  LOGIN=''
  if [ "$status" -ne 0 ]; then
    say "could not pull $P_IMAGE with $P_ENGINE (status $status): ${out##*$'\n'}"
    return 1
  fi
}

main() {
  set -u
  umask 022  # directories and the release are root's and readable by the app's user
  trap '' HUP PIPE
  trap cleanup EXIT
  read_plan || { say "the provisioning plan did not arrive whole"; exit 1; }
  lock "$APP" "$LOCK_WAIT"
  case $? in 0) ;; 75) exit 75 ;; *) exit 1 ;; esac
  if [ -n "$USER_NAME" ]; then
    app_user "$USER_NAME" || { say "could not create the system user $USER_NAME"; exit 1; }
  fi
  local dir i
  for dir in ${DIRS[@]+"${DIRS[@]}"}; do
    own_dir "$dir" || exit 1
    if ! { mkdir -p -- "$dir" && own_dir "$dir" && chown -h root:root -- "$dir" &&
      chmod 0755 -- "$dir"; }; then
      say "could not make $dir"
      exit 1
    fi
  done
  for i in "${!F_PATH[@]}"; do
    put_file "$i" || { say "could not write ${F_PATH[i]} whole"; exit 1; }
  done
  if [ -n "$P_ENGINE" ]; then pull || exit 1; fi
  if [ -n "$RELEASE" ]; then unpack "$RELEASE" "$SIZE" "$SHA" "$INSTALL" || exit 1; fi
  if [ -n "$BUNDLE" ]; then unpack "$BUNDLE" "$B_SIZE" "$B_SHA" '' || exit 1; fi
}
