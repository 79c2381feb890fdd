# shellcheck shell=bash
# Unpack one release of an app (ssmenv.operations.release_archive): the archive arrives base64 on
# stdin after the plan, is checked by its sha256, unpacked into a fresh directory beside the
# release with its dependencies installed there, and renamed into place: a release directory only
# ever exists complete. Under the app's deploy lock, with unique temp names, so two runs shipping
# the same release never undo each other's work.
#
# Runs as root after lib.sh. Plan lines, up to "end":
#   ssmenv-unpack 1
#   app NAME · lock-wait SECONDS · release PATH · archive BASE64-SIZE SHA256
#   install COMMAND...      run by sh in the new release's directory (optional)
# Exit status: 0 unpacked, or there already; 1 failed (nothing in place); 75 locked.

APP='' LOCK_WAIT=60 RELEASE='' SIZE='' SHA='' INSTALL=''
STAGE='' ARCHIVE=''

read_plan() {
  local line word rest
  IFS= read -r line && [ "$line" = "ssmenv-unpack 1" ] || return 1
  while IFS= read -r line; do
    word=${line%% *} rest=${line#"$word"} rest=${rest# }
    case $word in
      app) is_name "$rest" && APP=$rest || return 1 ;;
      lock-wait) [[ $rest =~ ^[0-9]{1,9}$ ]] && LOCK_WAIT=$rest || return 1 ;;
      release) is_path "$rest" && RELEASE=$rest || return 1 ;;
      archive)
        [[ $rest =~ ^([0-9]{1,12})\ ([0-9a-f]{64})$ ]] || return 1
        SIZE=${BASH_REMATCH[1]} SHA=${BASH_REMATCH[2]}
        ;;
      install) INSTALL=$rest ;;
      end) [ -n "$APP" ] && [ -n "$RELEASE" ] && [ -n "$SIZE" ]; return ;;
      *) return 1 ;;
    esac
  done
  return 1
}

cleanup() { rm -rf -- "$STAGE" "$ARCHIVE"; }

main() {
  set -u
  umask 022  # the release is root's and readable by the app's user
  trap '' HUP PIPE
  trap cleanup EXIT
  read_plan || { say "the unpack plan did not arrive whole"; exit 1; }
  local releases=${RELEASE%/*} name=${RELEASE##*/}
  lock "$APP" "$LOCK_WAIT"
  case $? in 0) ;; 75) exit 75 ;; *) exit 1 ;; esac
  if [ -d "$RELEASE" ]; then
    say "release $name is on the host already"
    exit 0
  fi
  ARCHIVE=$(mktemp -- "$releases/.$name.ssmenv-XXXXXX") || exit 1
  STAGE=$(mktemp -d -- "$releases/.$name.ssmenv-XXXXXX") || exit 1
  chmod 0755 -- "$STAGE" || exit 1
  if ! head -c "$SIZE" | base64 -d > "$ARCHIVE" || [ "$(digest "$ARCHIVE")" != "$SHA" ]; then
    say "release $name did not arrive whole"
    exit 1
  fi
  tar -xzf "$ARCHIVE" -C "$STAGE" --no-same-owner || { say "could not unpack $name"; exit 1; }
  if [ -n "$INSTALL" ] && ! (cd -- "$STAGE" && sh -c "$INSTALL" >&2); then
    say "installing the dependencies of release $name failed"
    exit 1
  fi
  mv -T -- "$STAGE" "$RELEASE" || { say "could not move release $name into place"; exit 1; }
  STAGE=''
  sync -- "$releases"
}
