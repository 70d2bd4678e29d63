#!/usr/bin/env bash
# Start-up of two builds side by side in one run: `status -o json`, `--help` and `token` (keyutils
# and Secret Service, fresh cached session), each against the same /bin/true baseline.
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
for store in keyutils secret-service; do
  login_as bob "$store"
  printf '\n[profiles.bench.policy]\nfile = "%s"\n' "$work/policy.toml" >>"$XDG_CONFIG_HOME/cosmoscope/config.toml"
  "$OLD" token --resource idp >/dev/null && "$NEW" token --resource idp >/dev/null
  echo "== store: $store"
  python3 bench/timing.py -n "${N:-50}" --label ", $store" "true=/bin/true" \
    "old status=$OLD status -o json" "new status=$NEW status -o json" \
    "old help=$OLD --help" "new help=$NEW --help" \
    "old token=$OLD token --resource idp --format raw" "new token=$NEW token --resource idp --format raw"
  "$NEW" logout -q || true
done
