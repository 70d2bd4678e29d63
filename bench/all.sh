#!/usr/bin/env bash
# Reruns every figure of BENCHMARKS.md, side by side in one run. Builds the release binary once.
#   bench/all.sh            everything (the 50,000-document export takes ~5 minutes)
#   bench/all.sh --quick    everything but the export
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin cosmoscope --example decide_bench --example export_bench
export BIN="$PWD/target/release/cosmoscope"
echo "## release binary: $(du -h "$BIN" | cut -f1) ($(stat -c %s "$BIN") bytes)"
echo; echo "## status latency (issue 2)";            bench/status.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## token latency (issue 5)";             bench/token.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## login overhead beyond the polling interval (issue 2)"; bench/login.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## policy explain throughput (issue 3)"; bench/policy.sh
echo; echo "## 1,000,000 decisions in one process (issue 8)"; target/release/examples/decide_bench
if [ "${1:-}" != "--quick" ]; then
  echo; echo "## export vs the Python SDK (issue 4)"; bench/export.sh
fi
