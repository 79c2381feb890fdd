# shellcheck shell=bash
# What the toolkit's remote programs (activate.sh, provision.sh) share. Shipped ahead of them, whole:
# see ssmenv/remote.py. Functions only; arguments are positional and nothing is interpolated.

# Root's own directory for locks and markers: no other user can create, replace or hold anything
# in it (unlike world-writable /run/lock), and a reboot clears it.
readonly STATE_DIR=/run/ssmenv

say() { printf 'ssmenv: %s\n' "$*" >&2; }

# digest FILE: the sha256 of FILE's content, or "absent".
digest() {
  if [ -f "$1" ]; then
    local sum
    sum=$(sha256sum < "$1") || return 1
    printf '%s\n' "${sum%% *}"
  else
    echo absent
  fi
}

# is_digest WORD: a sha256 in hex, or "absent".
is_digest() { [[ $1 =~ ^([0-9a-f]{64}|absent)$ ]]; }

# is_path WORD: an absolute path without a parent reference or anything a shell or a log would
# misread. Every path of a plan must be one.
is_path() { [[ $1 =~ ^/[A-Za-z0-9@%+=:,./_-]*$ && ! $1 =~ (^|/)\.\.(/|$) ]]; }

# is_name WORD: an app name as the settings allow it.
is_name() { [[ $1 =~ ^[a-z][a-z0-9-]{0,30}$ ]]; }

# state_dir: make sure STATE_DIR is root's directory, mode 0700, and not a link.
state_dir() {
  mkdir -m 0700 -- "$STATE_DIR" 2> /dev/null || [ -d "$STATE_DIR" ] || return 1
  if [ -L "$STATE_DIR" ] || [ ! -d "$STATE_DIR" ]; then
    say "$STATE_DIR is not a directory"
    return 1
  fi
  chown root:root "$STATE_DIR" && chmod 0700 "$STATE_DIR"
}

# lock APP SECONDS: hold APP's deploy lock on fd 9, waiting at most SECONDS for it.
# Status 75 when another deploy holds it.
lock() {
  local path="$STATE_DIR/$1.lock"
  state_dir || return 1
  # Nobody but root can write here; a link could only be root's own mistake: never follow it.
  if [ -L "$path" ]; then rm -f "$path" || return 1; fi
  exec 9>> "$path" || return 1
  if ! flock -w "$2" 9; then
    say "another deploy of $1 holds its lock on this host (waited $2 s): try again later"
    return 75
  fi
}

# journal MESSAGE: one line in the host's journal (never a value), for who looks later.
journal() { logger -t ssmenv -- "$*" 2>/dev/null || true; }
