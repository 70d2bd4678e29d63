#!/usr/bin/env bash
# bench/gateway.sh — the gateway's added latency (p50/p99, requests/s) against the Python SDK on the
# same Cosmos peer in the same run, and its RSS with 200 query streams open (bench/gateway.py).
# Builds the release binary unless BIN names one. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BIN:-}" ] || { cargo build --release --quiet --bin cosmoscope; export BIN="$PWD/target/release/cosmoscope"; }
./scripts/setup-peers >/dev/null
export COSMOS_DISABLE_IMDS=1
exec target/peers-venv/bin/python bench/gateway.py "$@"
