#!/usr/bin/env bash
# `cosmoscope status -o json` with a stored session, next to /bin/true (median of 20 runs each, side
# by side). BIN=path/to/cosmoscope measures another build (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
in_keyring_sandbox "$0" "$@"
start_provider
login_as alice keyutils
echo "binary: $bin ($(du -h "$bin" | cut -f1))"
python3 bench/timing.py -n "${N:-20}" "true=/bin/true" "status -o json=$bin status -o json" "help=$bin --help"
