#!/usr/bin/env bash
# Login overhead beyond the provider's polling interval (bench/login.py): `cosmoscope login` next to
# a minimal Python device-code client, against the local OpenID provider (interval 1 s). N=5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
in_keyring_sandbox "$0" "$@"
start_provider
"$bin" init --no-input --profile bench --issuer "$issuer" --client-id cosmoscope-cli \
  --audience https://cosmos-gateway.test --roles-claim https://cosmoscope.test/roles --store keyutils --force -q
python3 bench/login.py "$bin" "$issuer" "${N:-5}"
