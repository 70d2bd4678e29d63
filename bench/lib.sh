# Shared by the bench scripts: a throwaway home, the local OpenID provider, an auto-approved login.
# Source it inside the keyring sandbox; it sets $bin, $work, $issuer and cleans up on exit.

bin=$(realpath "${BIN:-target/release/cosmoscope}")
work=$(mktemp -d)
export HOME="$work/home" XDG_CONFIG_HOME="$work/config" XDG_STATE_HOME="$work/state" COSMOS_DISABLE_IMDS=1
mkdir -p "$HOME/.cache"
provider_pid=""
trap '[ -n "$provider_pid" ] && kill $provider_pid 2>/dev/null; rm -rf "$work"' EXIT

# start_provider: the OpenID provider on an ephemeral port; sets $issuer.
start_provider() {
  mkfifo "$work/provider.out"
  (cd tests/peers/oidc && OIDC_DEVICE_INTERVAL=1 exec node server.mjs >"$work/provider.out" 2>/dev/null) &
  provider_pid=$!
  local line
  read -r line <"$work/provider.out"
  issuer=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
}

# login_as USER STORE: a profile `bench` with the given store, logged in as USER (auto-approved).
login_as() {
  "$bin" init --no-input --profile bench --issuer "$issuer" --client-id cosmoscope-cli \
    --audience https://cosmos-gateway.test --roles-claim https://cosmoscope.test/roles --store "$2" --force -q
  "$bin" login -o json --no-browser -q >"$work/events" &
  local lp=$! code
  for _ in $(seq 1 100); do [ -s "$work/events" ] && break; sleep 0.1; done
  code=$(head -n1 "$work/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_code"])')
  curl -fsS -X POST "$issuer/__admin/approve" -H 'content-type: application/json' \
    -d "{\"user_code\":\"$code\",\"login\":\"$1\"}" >/dev/null
  wait $lp
}

# in_keyring_sandbox SCRIPT ARGS…: re-runs SCRIPT inside a kernel session keyring and a private
# D-Bus session with an unlocked gnome-keyring (what the stores need), unless already inside.
in_keyring_sandbox() {
  [ -n "${BENCH_IN_SANDBOX:-}" ] && return 0
  [ -n "${BIN:-}" ] || cargo build --release --quiet --bin cosmoscope
  [ -f tests/peers/oidc/node_modules/.package-lock.json ] || (cd tests/peers/oidc && npm ci --no-audit --no-fund --loglevel=error)
  BENCH_IN_SANDBOX=1 exec ./scripts/keyring-sandbox "$@"
}
