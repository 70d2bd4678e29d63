#!/usr/bin/env bash
# bench/mcp.sh — the tool-call overhead of `query` through `cosmoscope mcp` against the same query
# through the CLI, one run, same session, same Cosmos peer (bench/mcp_calls.py). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
in_keyring_sandbox "$0" "$@"
./scripts/setup-peers >/dev/null
py="$PWD/target/peers-venv/bin/python"
peer="$PWD/tests/peers/cosmos"
start_provider
"$py" "$peer/gen_cert.py" "$work/certs" >/dev/null
export SSL_CERT_FILE="$work/certs/ca.pem"
(cd "$peer" && exec node server.mjs --port 0 --cert "$work/certs/server.pem" --key "$work/certs/server-key.pem" >"$work/peer.out" 2>/dev/null) &
peer_pid=$!
trap '[ -n "$provider_pid" ] && kill $provider_pid 2>/dev/null; kill $peer_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/peer.out" ] && break; sleep 0.1; done
endpoint=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$work/peer.out")
key="C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
(cd "$peer" && "$py" seed.py --endpoint "$endpoint" --key "$key" --ca "$work/certs/ca.pem" --fixture fixtures/shop.json >/dev/null)
login_as alice keyutils
printf '[[roles]]\nname = "support"\nwhen = { claim = "https://cosmoscope.test/roles", contains = "support" }\n  [[roles.grants]]\n  database = "shop"\n  containers = ["orders"]\n  actions = ["query"]\n  partition_key = { claim = "tenant_id" }\n' >"$work/policy.toml"
printf '\n[profiles.bench.cosmos]\nendpoint = "%s"\ndatabase = "shop"\ncredential = "key"\nhttp2 = false\n\n[profiles.bench.policy]\nfile = "%s"\n' "$endpoint" "$work/policy.toml" >>"$XDG_CONFIG_HOME/cosmoscope/config.toml"
printf '%s' "$key" | "$bin" account-key set -q
"$py" bench/mcp_calls.py "$bin" "${N:-50}"
