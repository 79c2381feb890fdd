# shellcheck shell=sh
# file_state PATH: for a file that exists, its owner, group and mode, then its digest (a digest,
# not the content: a file's content never travels back to the control machine). Defined first
# in the facts that read files (ssmenv.facts.FileState, rotation-state.sh).
file_state() {
  if [ -f "$1" ]; then stat -c '%U %G %a' "$1" && sha256sum < "$1"; fi
}
