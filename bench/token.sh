#!/usr/bin/env bash
# `cosmoscope token --format raw` with a fresh cached session (median of 50), side by side with
# /bin/true and a Python program reading a same-size secret from the same keyring (`keyring` from
# PyPI, Secret Service backend) — for the Secret Service store and for kernel keyutils.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
in_keyring_sandbox "$0" "$@"
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet --disable-pip-version-check keyring==25.7.0 secretstorage
fi
start_provider
printf '[[roles]]\nname = "admin"\nwhen = { claim = "https://cosmoscope.test/roles", contains = "admin" }\n  [[roles.grants]]\n  database = "*"\n  containers = ["*"]\n  actions = ["export"]\n  partition_key = "any"\n' >"$work/policy.toml"
for store in secret-service keyutils; do
  login_as bob "$store"
  printf '\n[profiles.bench.policy]\nfile = "%s"\n' "$work/policy.toml" >>"$XDG_CONFIG_HOME/cosmoscope/config.toml"
  size=$("$bin" token --resource idp | wc -c)
  # The Python baseline stores a secret of the same size in the Secret Service, then reads it.
  "$venv/bin/python" -c "import keyring,sys; keyring.set_password('bench','bench','x'*int(sys.argv[1]))" "$size"
  echo "== store: $store (token: $size bytes)"
  python3 bench/timing.py -n "${N:-50}" --label ", $store" --baseline "python keyring read" --summary "cosmoscope token" "true=/bin/true" "cosmoscope token=$bin token --resource idp --format raw" \
    "python keyring read=$venv/bin/python -c \"import keyring; keyring.get_password('bench','bench')\""
  "$bin" logout -q || true
done
