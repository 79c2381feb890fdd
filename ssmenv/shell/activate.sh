# shellcheck shell=bash
# The activation of one app on one host (ssmenv.rollout): switch its files (env file, units,
# manifest...) and its release together, restart its units (one per process, or instance), keep
# the change only if every one becomes healthy, and put back what was there otherwise, restarting
# the units the previous version ran.
#
# Runs as root after lib.sh, reading its plan and then the files' contents from stdin (read_plan),
# so neither a value nor a digest is ever on a command line (ps, sudo's lines in the journal).
# Exit status:
#   0  healthy
#   1  rolled back: the new version failed, the previous one is back and healthy
#   2  broken: the previous version is not healthy either, a first deploy failed (its units are
#      stopped), or something could not be put back (the marker stays for the next run)
#   3  refused, nothing changed: a file did not arrive whole or failed verification, or there is
#      no way back to what an unfinished activation replaced
#   75 another deploy holds the app's lock
#   76 the host changed since the run read it
#
# Every wait has a deadline: the lock (lock-wait), the restart and health check (the health
# timeout, each probe included, then the settle time), systemd's verification of the unit.

readonly HEALTHY=0 ROLLED_BACK=1 BROKEN=2 REFUSED=3 STALE=76

# The plan (read_plan).
APP='' LOCK_WAIT=60 RELOAD=0 PREVIOUS=0 MARKER_EXPECT=absent BOOT=1
# Units to run after the switch (U_), after a rollback (B_), and to stop at the switch (S_NAME).
U_NAME=() U_PORT=() U_TIMEOUT=() U_SETTLE=() U_PATH=()
B_NAME=() B_PORT=() B_TIMEOUT=() B_SETTLE=() B_PATH=()
S_NAME=()
F_PATH=() F_SIZE=() F_SHA=() F_EXPECT=() F_BACK=() F_OWNER=() F_MODE=() F_FLAGS=()
L_PATH='' L_TARGET='' L_EXPECT='' L_BACK=''
# This run: staged temp files, the marker, whether anything live changed yet, the unit that
# failed and its state as systemd reported it then, whether the host's credential key is there
# (encrypt).
F_TEMP=() MARKER='' TOUCHED=0 LOCKED=0 FAILED='' SEEN='' KEYED=0
# Per unit started: its first invocation and restart count; every invocation started, "unit id
# pid" (its main process, 0 if none was seen); the journal's cursor before the first start.
declare -A FIRST=() RESTARTS=() END=()
INVOKED=() SINCE=''
P_ActiveState='' P_SubState='' P_InvocationID='' P_NRestarts='' P_Result='' P_ExecMainStatus=''
P_ExecMainCode='' P_ExecMainPID='' P_UnitFileState=''

number() { [[ $1 =~ ^[0-9]{1,9}$ ]]; }

# read_plan: the plan from stdin, a line each, up to "end":
#   ssmenv-activation 1
#   app NAME · lock-wait SECONDS · reload 0|1 · previous 0|1 · marker DIGEST · boot 0|1
#   unit NAME PORT TIMEOUT SETTLE PATH       a unit to run after the switch (at least one)
#   back NAME PORT TIMEOUT SETTLE PATH       a unit to run after a rollback
#   stop NAME                                a unit to stop (and disable) at the switch
#   file SIZE SHA256 EXPECT BACK OWNER:GROUP MODE FLAGS PATH
#   link EXPECT BACK TARGET PATH             EXPECT, BACK: a target, or - for none
# A unit's health: PORT 0 or an empty PATH: active (and still the same process after SETTLE) is
# healthy; otherwise PATH must answer 2xx on PORT, within TIMEOUT of the start. A target is
# started, never restarted (that would restart its units again), and has no health of its own.
# EXPECT is what the run read (compare-and-swap); BACK what a rollback restores. "previous 0":
# there is no version to go back to (a first deploy). "boot 0" (pull mode): the units are disabled
# rather than enabled, since the host's agent starts them at boot. A file with SIZE - changes
# nothing (its content is not in the plan) and only says what to go back to; EXPECT - is not
# compared. FLAGS are - or words joined by commas: verify (systemd-analyze checks the unit),
# secret (its values mask what the host says back), transient (its previous version goes once the
# units are healthy), remove (the file goes at the switch: SIZE -, its EXPECT compared),
# credential (its content is one secret value, which masks what the host says back), encrypt (a
# credential written encrypted by systemd-creds: SHA256 is its plaintext's). A unit to stop may be
# a timer (the host's agent's, when a deploy takes an app back from it).
read_plan() {
  local word a b c d e f g h
  IFS= read -r word && [ "$word" = "ssmenv-activation 1" ] || return 1
  while IFS=' ' read -r word a b c d e f g h; do
    case $word in
      app) is_name "$a" && [ -z "$b" ] && APP=$a || return 1 ;;
      unit | back)
        is_unit "$a" && number "$b" && number "$c" && number "$d" &&
          [[ -z $e || $e =~ ^/[!-~]*$ ]] && [ -z "$f" ] || return 1
        if [ "$word" = unit ]; then
          U_NAME+=("$a") U_PORT+=("$b") U_TIMEOUT+=("$c") U_SETTLE+=("$d") U_PATH+=("$e")
        else
          B_NAME+=("$a") B_PORT+=("$b") B_TIMEOUT+=("$c") B_SETTLE+=("$d") B_PATH+=("$e")
        fi
        ;;
      stop) is_unit "$a" && [ -z "$b" ] && S_NAME+=("$a") || return 1 ;;
      lock-wait) number "$a" && LOCK_WAIT=$a || return 1 ;;
      reload) [[ $a =~ ^[01]$ ]] && RELOAD=$a || return 1 ;;
      previous) [[ $a =~ ^[01]$ ]] && PREVIOUS=$a || return 1 ;;
      boot) [[ $a =~ ^[01]$ ]] && BOOT=$a || return 1 ;;
      marker) is_digest "$a" && MARKER_EXPECT=$a || return 1 ;;
      file)
        { [ "$a$b" = -- ] || { number "$a" && [[ $b =~ ^[0-9a-f]{64}$ ]]; }; } &&
          { [ "$c" = - ] || is_digest "$c"; } && is_digest "$d" &&
          [[ $e =~ ^[a-z_][a-z0-9_-]*:[a-z_][a-z0-9_-]*$ && $f =~ ^[0-7]{3,4}$ ]] &&
          [[ $g =~ ^(-|[a-z]+(,[a-z]+)*)$ ]] && is_path "$h" || return 1
        F_SIZE+=("$a") F_SHA+=("$b") F_EXPECT+=("$c") F_BACK+=("$d") F_OWNER+=("$e")
        F_MODE+=("$f") F_FLAGS+=("$g") F_PATH+=("$h") F_TEMP+=('')
        ;;
      link)
        { [ "$a" = - ] || is_path "$a"; } && { [ "$b" = - ] || is_path "$b"; } &&
          is_path "$c" && is_path "$d" && [ -z "$e" ] || return 1
        L_EXPECT=$a L_BACK=$b L_TARGET=$c L_PATH=$d
        ;;
      end) [ -n "$APP" ] && [ "${#U_NAME[@]}" -gt 0 ]; return ;;
      *) return 1 ;;
    esac
  done
  return 1
}

has_flag() { [[ ,${F_FLAGS[$1]}, == *",$2,"* ]]; }

is_unit() { [[ $1 =~ ^[a-z][a-z0-9@._-]{0,120}\.(service|target|timer)$ ]]; }

# in_set NAME UNIT...: NAME is one of the UNITs.
in_set() {
  local name=$1 unit
  shift
  for unit in "$@"; do [ "$unit" != "$name" ] || return 0; done
  return 1
}

stale() { say "$1 changed since this run read the host (another deploy?): rerun"; }

# unchanged: the host still has what the run read, or nothing may change.
unchanged() {
  local i now
  for i in "${!F_PATH[@]}"; do
    [ "${F_EXPECT[i]}" != - ] || continue
    now=$(digest "${F_PATH[i]}")
    if [ "$now" != "${F_EXPECT[i]}" ]; then stale "${F_PATH[i]}"; return 1; fi
  done
  if [ -n "$L_PATH" ]; then
    now=$(readlink -- "$L_PATH") || now=-
    [ "$now" = "$L_EXPECT" ] || { stale "$L_PATH"; return 1; }
  fi
  now=$(digest "$MARKER")
  if [ "$now" != "$MARKER_EXPECT" ]; then stale "$MARKER"; return 1; fi
}

# way_back: every file can be put back as BACK says (it is BACK now, or its .previous is, or BACK
# is absent), and so can the link; otherwise nothing may change.
way_back() {
  local i path back
  for i in "${!F_PATH[@]}"; do
    path=${F_PATH[i]} back=${F_BACK[i]}
    if [ "$back" = absent ] || [ "$(digest "$path")" = "$back" ] ||
      [ "$(digest "$path.previous")" = "$back" ]; then
      continue
    fi
    say "no way back to the version of $path that an unfinished activation replaced:" \
      "$path.previous is not that version; check the host (removing $MARKER accepts what it has)"
    return 1
  done
  if [ -n "$L_PATH" ] && [ "$L_BACK" != - ] && [ ! -d "$L_BACK" ]; then
    say "no way back to $L_BACK: it is gone"
    return 1
  fi
}

# clean_leftovers: temp files that a killed activation left beside the targets (only activations
# of this app make them, and this one holds the app's lock).
clean_leftovers() {
  local path temp
  for path in "${F_PATH[@]}"; do
    for temp in "${path%/*}/.${path##*/}.ssmenv-"*; do rm -f -- "$temp"; done
  done
}

# switch_link TARGET: point the link at TARGET in one rename.
switch_link() { ln -sfnT -- "$1" "$L_PATH.new" && mv -fT -- "$L_PATH.new" "$L_PATH"; }

# stage I: file I's content from stdin into a private temp file beside it, checked by its sha256
# (a credential to encrypt: see encrypt), with its owner and mode, synced: ready for a rename.
stage() {
  local i=$1 path=${F_PATH[$1]} dir temp
  dir=${path%/*}
  if has_flag "$i" credential; then
    # A credential's directory, and the credstore above it, are root's alone (umask 077), and
    # never a link: nothing is written through one (the deploy's state read refuses it first).
    if [ -L "$dir" ] || [ -L "${dir%/*}" ]; then
      say "$dir or ${dir%/*} is a symbolic link: ssmenv never follows a link in the" \
        "directories it manages; remove it"
      return 1
    fi
    [ -d "$dir" ] || mkdir -p -- "$dir" || return 1
  else
    [ -d "${dir:-/}" ] || (umask 022 && mkdir -p -- "$dir") || return 1
  fi
  temp=$(mktemp -- "${dir}/.${path##*/}.ssmenv-XXXXXX") || return 1
  F_TEMP[i]=$temp
  if has_flag "$i" encrypt; then
    encrypt "$i" "$temp" || return 1
  else
    head -c "${F_SIZE[i]}" > "$temp" && [ "$(digest "$temp")" = "${F_SHA[i]}" ] || return 1
  fi
  chown -- "${F_OWNER[i]}" "$temp" && chmod -- "${F_MODE[i]}" "$temp" && sync -- "$temp"
}

# encrypt I TEMP: credential I from stdin straight into systemd-creds, which writes it to TEMP
# encrypted (named after the file; with the host key, and the TPM2 where there is one), so its
# plaintext is never on disk; then decrypted into sha256sum, to check that TEMP holds exactly
# what was sent. The first one makes the host key if the host has none (systemd-creds setup: it
# never leaves the host).
encrypt() {
  local i=$1 temp=$2 name=${F_PATH[$1]##*/} sum out
  [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || return 1
  if [ "$KEYED" = 0 ]; then
    if ! timeout -k 5 60 systemd-creds setup > /dev/null 2>&1; then
      say "systemd-creds setup failed: no key to encrypt credentials with"
      return 1
    fi
    KEYED=1
  fi
  # Its stderr only (the ciphertext goes to TEMP), shown if it fails: it warns on every call that
  # the key is not on encrypted media.
  if ! out=$(head -c "${F_SIZE[i]}" |
    timeout -k 5 60 systemd-creds encrypt --with-key=auto --name="$name" - "$temp" 2>&1); then
    say "systemd-creds could not encrypt $name: ${out##*$'\n'}"
    return 1
  fi
  # systemd reads back what it decrypts here: an encrypted file too large for it fails now.
  sum=$(timeout -k 5 60 systemd-creds decrypt --name="$name" -- "$temp" - 2> /dev/null |
    sha256sum) || return 1
  [ "${sum%% *}" = "${F_SHA[i]}" ]
}

# plaintext I FILE: credential I's value as FILE holds it, on stdout (decrypted if it is stored
# encrypted): never to disk.
plaintext() {
  if has_flag "$1" encrypt; then
    timeout -k 5 60 systemd-creds decrypt --name="${F_PATH[$1]##*/}" -- "$2" - 2> /dev/null
  else
    cat -- "$2"
  fi
}

# verify_unit I: systemd's own check of staged file I, under its real name; any output refuses.
verify_unit() {
  local i=$1 name=${F_PATH[$1]##*/} dir out status
  dir=$(mktemp -d -p "$STATE_DIR" verify.XXXXXX) || return 1
  cp -- "${F_TEMP[i]}" "$dir/$name" || { rm -rf -- "$dir"; return 1; }
  out=$(timeout -k 5 60 systemd-analyze verify --recursive-errors=no "$dir/$name" 2>&1)
  status=$?
  rm -rf -- "$dir"
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    say "refused $name: $out"
    return 1
  fi
}

stage_all() {
  local i
  if [ -n "$L_PATH" ] && [ "$L_EXPECT" = - ]; then
    # A first release: nothing runs from the link yet, and systemd's check of the unit needs it.
    switch_link "$L_TARGET" || { say "could not create $L_PATH"; return 1; }
  fi
  for i in "${!F_PATH[@]}"; do
    [ "${F_SIZE[i]}" != - ] || continue
    stage "$i" || { say "could not write ${F_PATH[i]} whole"; return 1; }
    if has_flag "$i" verify; then verify_unit "$i" || return 1; fi
  done
}

# begin: the marker that an activation is under way, with what to go back to, written before
# anything live changes: if this one never sees the service healthy, the next run finishes or
# undoes it.
begin() {
  local i temp
  temp=$(mktemp -p "$STATE_DIR" ".$APP.pending.XXXXXX") || return 1
  {
    printf 'activation %s\n' "$$"
    [ "$PREVIOUS" = 1 ] && echo previous
    for i in "${!B_NAME[@]}"; do
      printf 'back %s %s %s %s %s\n' "${B_NAME[i]}" "${B_PORT[i]}" "${B_TIMEOUT[i]}" \
        "${B_SETTLE[i]}" "${B_PATH[i]}"
    done
    for i in "${!F_PATH[@]}"; do printf 'file %s %s\n' "${F_BACK[i]}" "${F_PATH[i]}"; done
    if [ -n "$L_PATH" ]; then printf 'link %s %s\n' "$L_BACK" "$L_PATH"; fi
  } > "$temp" && sync -- "$temp" && mv -fT -- "$temp" "$MARKER" && sync -- "$STATE_DIR"
}

sync_dirs() {
  local path dirs=()
  for path in "${F_PATH[@]}" ${L_PATH:+"$L_PATH"}; do dirs+=("${path%/*}"); done
  [ "${#dirs[@]}" -eq 0 ] || sync -- "${dirs[@]}"
}

# commit: every staged file renamed into place, then the link switched. What is live now and is
# the way back stays beside as <file>.previous (a hard link: content, owner and mode as they were).
commit() {
  local i path now
  for i in "${!F_PATH[@]}"; do
    path=${F_PATH[i]}
    if has_flag "$i" remove; then
      now=$(digest "$path") || return 1
      [ "$now" != absent ] || continue
      if [ "$now" = "${F_BACK[i]}" ]; then
        ln -fT -- "$path" "$path.previous" || { say "could not keep $path as $path.previous"; return 1; }
      fi
      TOUCHED=1
      rm -f -- "$path" || { say "could not remove $path"; return 1; }
      continue
    fi
    [ -n "${F_TEMP[i]}" ] || continue
    now=$(digest "$path") || return 1
    if [ "$now" != absent ] && [ "$now" = "${F_BACK[i]}" ]; then
      ln -fT -- "$path" "$path.previous" || { say "could not keep $path as $path.previous"; return 1; }
    fi
    TOUCHED=1
    mv -fT -- "${F_TEMP[i]}" "$path" || { say "could not rename $path into place"; return 1; }
    F_TEMP[i]=''
  done
  if [ -n "$L_PATH" ] && [ "$(readlink -- "$L_PATH")" != "$L_TARGET" ]; then
    TOUCHED=1
    switch_link "$L_TARGET" || { say "could not switch $L_PATH"; return 1; }
  fi
  sync_dirs
}

# restore: every file and the link as BACK says. A file goes back only from a .previous that is,
# by digest, the version BACK names: never one some older run left.
restore() {
  local i path back status=0
  for i in "${!F_PATH[@]}"; do
    path=${F_PATH[i]} back=${F_BACK[i]}
    [ "$(digest "$path")" != "$back" ] || continue
    if [ "$back" = absent ]; then
      rm -f -- "$path" || { say "could not remove $path"; status=1; }
    elif [ "$(digest "$path.previous")" = "$back" ]; then
      mv -fT -- "$path.previous" "$path" || { say "could not put back $path"; status=1; }
    else
      say "cannot put back $path: $path.previous is not the version it replaced"
      status=1
    fi
  done
  if [ -n "$L_PATH" ] && [ "$L_BACK" != - ] && [ "$(readlink -- "$L_PATH")" != "$L_BACK" ]; then
    switch_link "$L_BACK" || { say "could not switch $L_PATH back"; status=1; }
  fi
  sync_dirs
  return "$status"
}

# props UNIT: the unit's state, as systemd has it now (one systemctl show), into the P_*
# variables.
props() {
  local key value
  P_ActiveState='' P_SubState='' P_InvocationID='' P_NRestarts='' P_Result='' P_ExecMainStatus=''
  P_ExecMainCode='' P_ExecMainPID='' P_UnitFileState=''
  while IFS='=' read -r key value; do
    case $key in
      ActiveState | SubState | InvocationID | NRestarts | Result | ExecMainStatus | ExecMainCode | \
        ExecMainPID | UnitFileState)
        printf -v "P_$key" '%s' "$value" ;;
    esac
  done < <(systemctl show -p ActiveState -p SubState -p InvocationID -p NRestarts -p Result \
    -p ExecMainStatus -p ExecMainCode -p ExecMainPID -p UnitFileState -- "$1")
}

# invoked UNIT: the invocation the last props read is one this run started (see report).
invoked() {
  [ -z "$P_InvocationID" ] || INVOKED+=("$1 $P_InvocationID ${P_ExecMainPID:-0}")
}

# exit_words: how the unit's last main process ended, as the last props read it ("exited with
# status 1"); nothing while one runs. systemd keeps this only until it starts the unit again: a
# new process's status is 0, whatever the one before it did.
exit_words() {
  case $P_ExecMainCode in # how the kernel said it ended (waitid's si_code)
    1) echo "exited with status $P_ExecMainStatus" ;;
    2) echo "was killed by signal $P_ExecMainStatus" ;;
    3) echo "dumped core (signal $P_ExecMainStatus)" ;;
  esac
}

# state_words: the unit's state as the last props read it: ActiveState/SubState, how its last
# process ended (with systemd's Result) if it has, and how often systemd restarted it.
state_words() {
  local words="$P_ActiveState/$P_SubState" how
  how=$(exit_words)
  if [ -n "$how" ]; then
    words+=", $how (Result=$P_Result)"
  elif [ -n "$P_Result" ] && [ "$P_Result" != success ]; then
    words+=" (Result=$P_Result)"
  fi
  echo "$words, NRestarts=${P_NRestarts:-0}"
}

# gone_words: after gone, what became of the unit, as the last props read it: it ended (and
# systemd is restarting it), or systemd restarted it already (what ended the process before is
# then only in its journal, which report shows).
gone_words() {
  local how
  how=$(exit_words)
  if [ "$P_SubState" = auto-restart ]; then
    echo "${how:-ended} (Result=$P_Result), and systemd is restarting it"
  elif [[ $P_ActiveState =~ ^(failed|inactive)$ ]]; then
    echo "${how:-stopped} ($P_ActiveState/$P_SubState, Result=$P_Result)"
  else
    echo "is restarting after a failure (systemd started it again: NRestarts=$P_NRestarts," \
      "now $P_ActiveState/$P_SubState)"
  fi
}

# fail UNIT: UNIT is judged unhealthy: its state as the last props read it is kept for the
# report, which shows the moment it was judged, not a later one.
fail() {
  FAILED=$1
  SEEN=$(state_words)
}

# probe PORT PATH END: PATH answers 2xx on PORT, within what is left until END (at most 5 s a
# probe, so a port that accepts and never answers costs a few seconds, not the deploy); true at
# once for a unit that does not listen.
probe() {
  [ "$1" != 0 ] && [ -n "$2" ] || return 0
  local left=$(($3 - SECONDS))
  if [ "$left" -lt 1 ]; then left=1; elif [ "$left" -gt 5 ]; then left=5; fi
  # shellcheck disable=SC2016  # the inner program's variables are its own
  timeout -k 1 "$left" bash -c '
    exec 3<> "/dev/tcp/127.0.0.1/$1" &&
      printf "GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n" "$2" >&3 &&
      IFS= read -r status <&3 && [[ $status =~ ^HTTP/1\.[01]\ 2[0-9][0-9] ]]' \
    probe "$1" "$2" 2> /dev/null
}

# gone UNIT: after props, whether UNIT exited or restarted since it was started (a crash loop is
# never waited out); the invocation it is on now is kept for the report.
gone() {
  if [[ $P_ActiveState =~ ^(failed|inactive)$ || $P_SubState == auto-restart ||
    $P_InvocationID != "${FIRST[$1]}" || $P_NRestarts != "${RESTARTS[$1]}" ]]; then
    invoked "$1"
    return 0
  fi
  return 1
}

# up SET: start every unit of SET (U: after the switch, B: after a rollback) afresh, then wait
# until each is healthy: active and answering its health path within its timeout, then all still
# the same processes after the longest settle time. Each unit's failed state and start counter
# are cleared first, so neither an earlier crash loop nor the start limit it ran into can refuse
# the start. On failure FAILED names the unit.
up() {
  local -n names=${1}_NAME ports=${1}_PORT timeouts=${1}_TIMEOUT settles=${1}_SETTLE paths=${1}_PATH
  local i unit settle=0 waiting=() still
  FAILED='' SEEN=''
  # Where the journal is before this run starts anything: no line of an earlier invocation is
  # after it (see report).
  if [ -z "$SINCE" ]; then
    SINCE=$(journalctl -q -n 0 --show-cursor 2> /dev/null)
    SINCE=${SINCE#-- cursor: }
    [ -n "$SINCE" ] || SINCE=-
  fi
  for i in "${!names[@]}"; do
    unit=${names[i]}
    systemctl reset-failed -- "$unit" 2> /dev/null
    # Enabled where it is not, or where its unit file changed (its [Install] section may have):
    # `systemctl enable` reads every unit directory, about 0.1 s of CPU each time (measured on a
    # test host), which each host of a rotation paid for each unit.
    props "$unit"
    if [ "$BOOT" = 0 ]; then
      # Pull mode: the host's agent starts the app at boot, once its configuration is in place.
      [ "$P_UnitFileState" != enabled ] || systemctl disable --quiet -- "$unit" 2> /dev/null
    elif [ "$RELOAD" = 1 ] || [ "$P_UnitFileState" != enabled ]; then
      systemctl enable --quiet -- "$unit" 2> /dev/null
    fi
    END[$unit]=$((SECONDS + timeouts[i]))
    if [[ $unit == *.target ]]; then
      if ! timeout -k 5 "${timeouts[i]}" systemctl start -- "$unit"; then
        props "$unit"
        fail "$unit"
        say "could not start $unit"
        return 1
      fi
      continue
    fi
    if ! timeout -k 5 "${timeouts[i]}" systemctl restart -- "$unit"; then
      props "$unit"
      invoked "$unit"
      fail "$unit"
      return 1
    fi
    props "$unit"
    FIRST[$unit]=$P_InvocationID RESTARTS[$unit]=$P_NRestarts
    invoked "$unit"
    waiting+=("$i")
    if [ "${settles[i]}" -gt "$settle" ]; then settle=${settles[i]}; fi
  done
  while [ "${#waiting[@]}" -gt 0 ]; do
    still=()
    for i in "${waiting[@]}"; do
      unit=${names[i]}
      props "$unit"
      if gone "$unit"; then
        fail "$unit"
        say "$unit $(gone_words): not waiting any longer for it"
        return 1
      fi
      if [ "$P_ActiveState" = active ] && probe "${ports[i]}" "${paths[i]}" "${END[$unit]}"; then
        continue
      fi
      if [ "$SECONDS" -ge "${END[$unit]}" ]; then
        fail "$unit"
        say "$unit was not healthy within ${timeouts[i]} s"
        return 1
      fi
      still+=("$i")
    done
    waiting=(${still[@]+"${still[@]}"})
    if [ "${#waiting[@]}" -gt 0 ]; then sleep 0.2; fi
  done
  sleep "$settle"
  for i in "${!names[@]}"; do
    unit=${names[i]}
    [[ $unit != *.target ]] || continue
    props "$unit"
    # Still the same process, still active: it did not crash right after answering.
    if gone "$unit"; then
      fail "$unit"
      say "$unit did not stay up for $settle s after its health check passed: $(gone_words)"
      return 1
    elif [ "$P_ActiveState" != active ]; then
      fail "$unit"
      say "$unit did not stay up for $settle s after its health check passed: it is" \
        "$P_ActiveState/$P_SubState"
      return 1
    fi
  done
}

# halt UNIT...: stop and disable each, within a deadline.
halt() {
  local unit
  for unit in "$@"; do
    timeout -k 5 90 systemctl disable --now --quiet -- "$unit" 2> /dev/null ||
      timeout -k 5 90 systemctl stop -- "$unit" 2> /dev/null
  done
}

# report UNIT: why the unit is not healthy, in systemd's words when it was judged (fail), and
# what the invocations of it this run started logged: never lines of an earlier one. Each
# journal line is marked "  | ".
report() {
  local entry unit id pid own=() matches=() bound=() seen=$SEEN tries
  if [ "$1" != "$FAILED" ] || [ -z "$seen" ]; then
    props "$1"
    seen=$(state_words)
  fi
  say "$1 did not become healthy: $seen; what it logged:"
  # journald tags a line with its invocation when it takes the line up, from the process's
  # cgroup: a line it takes up after the process ended carries the unit and the process's PID
  # but no invocation at all (on a loaded host, the app's last words before it exited). Such
  # lines are found by unit and PID, from the cursor taken before this run's first start, so a
  # PID an earlier invocation had matches none of its lines. (--cursor, not --after-cursor: with
  # matches, systemd 252's --after-cursor also skips the first line that matches.)
  [[ $SINCE != - && -n $SINCE ]] && bound=("--cursor=$SINCE")
  for entry in ${INVOKED[@]+"${INVOKED[@]}"}; do
    read -r unit id pid <<< "$entry"
    [ "$unit" = "$1" ] || continue
    [[ $id =~ ^[0-9a-f]{32}$ ]] || continue
    matches+=("_SYSTEMD_INVOCATION_ID=$id" + "INVOCATION_ID=$id" +)
    own=("_SYSTEMD_INVOCATION_ID=$id")
    if [ "${#bound[@]}" -gt 0 ] && number "$pid" && [ "$pid" -gt 1 ]; then
      matches+=("_SYSTEMD_UNIT=$1" "_PID=$pid" +)
      own+=(+ "_SYSTEMD_UNIT=$1" "_PID=$pid")
    fi
  done
  [ "${#matches[@]}" -gt 0 ] || return 0
  unset 'matches[-1]'
  # systemd logs a unit's exit itself, at once; what the process wrote last comes through its
  # output stream, which journald may take up after that. Wait for a line of the last
  # invocation's process, 2 s at most (a process may write nothing).
  for tries in {1..20}; do
    journalctl --sync 2> /dev/null
    [ -n "$(journalctl --no-pager -q -o cat -n 1 ${bound[@]+"${bound[@]}"} "${own[@]}" \
      2> /dev/null)" ] && break
    [ "$tries" -lt 20 ] && sleep 0.1
  done
  # The last 20 lines: from a cursor, journalctl's -n counts from the cursor on.
  journalctl --no-pager -q -o cat ${bound[@]+"${bound[@]}"} "${matches[@]}" 2> /dev/null |
    tail -n 20 | sed 's/^/  | /' >&2
}

# masks: the secret files' contents (now, and their previous versions; a credential's plaintext),
# base64, a line each on stdout, which carries nothing else: the control machine masks these
# values too in what it shows of the journal, and never prints them.
masks() {
  local i file
  for i in "${!F_PATH[@]}"; do
    for file in "${F_PATH[i]}" "${F_PATH[i]}.previous"; do
      [ -f "$file" ] || continue
      if has_flag "$i" secret; then
        printf 'mask %s\n' "$(base64 -w 0 < "$file")"
      elif has_flag "$i" credential; then
        printf 'mask-value %s\n' "$(plaintext "$i" "$file" | base64 -w 0)"
      fi
    done
  done
}

finish() {
  local i
  for i in "${!F_PATH[@]}"; do
    if has_flag "$i" transient; then rm -f -- "${F_PATH[i]}.previous"; fi
  done
  rm -f -- "$MARKER"
  sync_dirs
  sync -- "$STATE_DIR"
  say "$APP is healthy: ${U_NAME[*]}"
  exit "$HEALTHY"
}

# roll_back: everything as BACK says, then the previous version's units restarted and checked.
# Exits.
roll_back() {
  local unit new=()
  if [ "$TOUCHED" = 0 ] && [ "$MARKER_EXPECT" = absent ]; then
    rm -f -- "$MARKER"
    exit "$REFUSED"
  fi
  # The new version's units the previous one did not run: stopped before their files go.
  for unit in "${U_NAME[@]}"; do
    in_set "$unit" ${B_NAME[@]+"${B_NAME[@]}"} || new+=("$unit")
  done
  halt ${new[@]+"${new[@]}"}
  if [ "$PREVIOUS" = 0 ]; then
    restore
    if [ "$RELOAD" = 1 ]; then systemctl daemon-reload; fi
    rm -f -- "$MARKER"
    say "first deploy: nothing to roll back to; ${U_NAME[*]} stopped"
    masks
    exit "$BROKEN"
  fi
  if ! restore; then
    say "could not put everything back; $MARKER stays for the next run"
    masks
    exit "$BROKEN"
  fi
  if [ "$RELOAD" = 1 ]; then systemctl daemon-reload; fi
  if [ "${#B_NAME[@]}" -eq 0 ]; then
    rm -f -- "$MARKER"
    say "rolled back: the previous version ran no unit"
    masks
    exit "$ROLLED_BACK"
  fi
  say "rolled back; restarting the previous version"
  if up B; then
    rm -f -- "$MARKER"
    sync -- "$STATE_DIR"
    say "rolled back: $APP is healthy on the previous version: ${B_NAME[*]}"
    masks
    exit "$ROLLED_BACK"
  fi
  report "$FAILED"
  say "the previous version is not healthy either; $MARKER stays for the next run"
  masks
  exit "$BROKEN"
}

ended() {
  local status=$1 temp
  for temp in "${F_TEMP[@]}"; do
    if [ -n "$temp" ]; then rm -f -- "$temp"; fi
  done
  if [ "$LOCKED" = 1 ]; then journal "$APP: activation $$ ends ($status)"; fi
}

main() {
  set -u
  umask 077
  shopt -s nullglob
  # A dropped connection must not stop the program half-way: it carries on without a reader.
  trap '' HUP PIPE
  trap 'ended $?' EXIT
  if ! read_plan; then
    say "the activation's plan did not arrive whole: nothing changed"
    exit "$REFUSED"
  fi
  MARKER="$STATE_DIR/$APP.pending"
  lock "$APP" "$LOCK_WAIT"
  case $? in 0) ;; 75) exit 75 ;; *) exit "$REFUSED" ;; esac
  LOCKED=1
  journal "$APP: activation $$ begins"
  unchanged || exit "$STALE"
  way_back || exit "$REFUSED"
  clean_leftovers
  stage_all || exit "$REFUSED"
  begin || { say "could not write $MARKER: nothing changed"; exit "$REFUSED"; }
  if [ "${#S_NAME[@]}" -gt 0 ]; then
    # Units the new version does not run (a removed process, instances scaled down, the old
    # single unit): stopped first, so a port they hold is free for what replaces them.
    TOUCHED=1
    halt "${S_NAME[@]}"
  fi
  if ! commit; then
    say "could not switch every file: going back"
    roll_back
  fi
  if [ "$RELOAD" = 1 ]; then systemctl daemon-reload; fi
  if up U; then finish; fi
  report "$FAILED"
  roll_back
}
