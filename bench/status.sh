#!/usr/bin/env bash
# `cosmoscope status -o json` with a stored session, next to /bin/true, median of 20 runs each.
# Starts the local OpenID provider, logs in (auto-approved), measures, stops everything.
# BIN=path/to/cosmoscope to measure another build (default: the release build, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export COSMOS_DISABLE_IMDS=1
if [ -z "${BENCH_IN_SESSION:-}" ]; then
  [ -n "${BIN:-}" ] || { cargo build --release --quiet --bin cosmoscope; }
  [ -f tests/peers/oidc/node_modules/.package-lock.json ] || (cd tests/peers/oidc && npm ci --no-audit --no-fund --loglevel=error)
  BENCH_IN_SESSION=1 exec keyctl session - "$0" "$@"
fi
bin=$(realpath "${BIN:-target/release/cosmoscope}")
work=$(mktemp -d)
export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state"
mkdir -p "$HOME"
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
mkfifo "$work/out"
(cd tests/peers/oidc && OIDC_DEVICE_INTERVAL=1 exec node server.mjs >"$work/out" 2>/dev/null) &
pid=$!
read -r line <"$work/out"
issuer=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
"$bin" init --no-input --profile bench --issuer "$issuer" --client-id cosmoscope-cli --audience https://cosmos-gateway.test --store keyutils -q
"$bin" login -o json --no-browser -q >"$work/events" &
lp=$!
for _ in $(seq 1 100); do [ -s "$work/events" ] && break; sleep 0.1; done
code=$(head -n1 "$work/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_code"])')
curl -fsS -X POST "$issuer/__admin/approve" -H 'content-type: application/json' -d "{\"user_code\":\"$code\",\"login\":\"alice\"}" >/dev/null
wait $lp
echo "binary: $bin ($(du -h "$bin" | cut -f1))"
python3 bench/timing.py -n "${N:-20}" "true=/bin/true" "status-json=$bin status -o json" "help=$bin --help"
