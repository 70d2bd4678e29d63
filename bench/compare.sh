#!/usr/bin/env bash
# Start-up of two builds side by side in one run: `status -o json`, `--help` and `token` (keyutils
# and Secret Service, fresh cached session, one state directory per build), each against the same
# baseline (/bin/true through the same `env`), and their instruction counts (callgrind).
#   OLD=path/to/cosmoscope NEW=path/to/cosmoscope bench/compare.sh
# Used to show that a change did not make the hot paths slower (ratios, not wall-clock limits).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OLD:?OLD=path of the baseline build}" "${NEW:?NEW=path of the build under test}"
export BIN="$NEW"
source bench/lib.sh
in_keyring_sandbox "$0" "$@"
start_provider
printf '[[roles]]\nname = "admin"\nwhen = { claim = "https://cosmoscope.test/roles", contains = "admin" }\n  [[roles.grants]]\n  database = "*"\n  containers = ["*"]\n  actions = ["export"]\n  partition_key = "any"\n' >"$work/policy.toml"
# Each build keeps its own session (their stored formats may differ): one state directory each.
old_state="$work/state-old" new_state="$work/state-new"
count() { # instructions of one run (callgrind counts instructions, whatever else the machine does)
  valgrind --tool=callgrind --trace-children=yes --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : //p' | tail -1
}
for store in keyutils secret-service; do
  XDG_STATE_HOME="$old_state" bin="$OLD" login_as bob "$store"
  XDG_STATE_HOME="$new_state" bin="$NEW" login_as bob "$store"
  printf '\n[profiles.bench.policy]\nfile = "%s"\n' "$work/policy.toml" >>"$XDG_CONFIG_HOME/cosmoscope/config.toml"
  old="env XDG_STATE_HOME=$old_state $OLD" new="env XDG_STATE_HOME=$new_state $NEW"
  $old token --resource idp >/dev/null && $new token --resource idp >/dev/null
  echo "== store: $store"
  python3 bench/timing.py -n "${N:-50}" --label ", $store" "true=env XDG_STATE_HOME=$new_state /bin/true" \
    "old status=$old status -o json" "new status=$new status -o json" \
    "old help=$old --help" "new help=$new --help" \
    "old token=$old token --resource idp --format raw" "new token=$new token --resource idp --format raw"
  if command -v valgrind >/dev/null; then
    for what in "status -o json" "token --resource idp --format raw"; do
      echo "instructions, $what ($store): old $(count $old $what), new $(count $new $what)"
    done
  fi
  XDG_STATE_HOME="$old_state" "$OLD" logout -q || true
  XDG_STATE_HOME="$new_state" "$NEW" logout -q || true
done
