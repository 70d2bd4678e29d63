#!/usr/bin/env bash
# Reruns every figure of BENCHMARKS.md, side by side in one run, and ends with one table of ratios.
# Builds the release binary once.
#   bench/all.sh            everything (the 50,000-document export takes ~5 minutes)
#   bench/all.sh --quick    everything but the export
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin cosmoscope --example decide_bench --example export_bench
export BIN="$PWD/target/release/cosmoscope"
export BENCH_SUMMARY
BENCH_SUMMARY=$(mktemp)
trap 'rm -f "$BENCH_SUMMARY"' EXIT
size=$(stat -c %s "$BIN")
echo "## release binary: $(du -h "$BIN" | cut -f1) ($size bytes)"
echo; echo "## status and --help latency (issue 2)";  bench/status.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## login overhead beyond the polling interval (issue 2)"; bench/login.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## token latency (issue 5)";             bench/token.sh 2>/dev/null | grep -v "^Joined"
echo; echo "## policy explain throughput (issue 3)"; bench/policy.sh
echo; echo "## 1,000,000 decisions in one process (issue 8)"
decide=$(target/release/examples/decide_bench)
echo "$decide"
rate=$(sed -n 's/.*= \([0-9]*\)\/s.*/\1/p' <<<"$decide")
growth=$(sed -n 's/.*(growth \(-\?[0-9]*\) KiB).*/\1/p' <<<"$decide")
python3 bench/summary.py add "1,000,000 policy decisions in one process" "$rate /s; RSS +$growth KiB" "—" "flat memory"
echo; echo "## MCP tool calls against the CLI (issue 17)"; bench/mcp.sh 2>/dev/null | grep -v -e "^seeded" -e "^Joined"
echo; echo "## the gateway against the Python SDK (issue 16)"; bench/gateway.sh 2>/dev/null | grep -v "^seeded"
if [ "${1:-}" != "--quick" ]; then
  echo; echo "## export vs the Python SDK (issue 4)"; bench/export.sh
fi
python3 bench/summary.py add "release binary size" "$(python3 -c "print(f'{$size / 2**20:.1f} MiB')")" "—" "—"
echo; echo "## summary (ratios against the baseline measured in this run)"
python3 bench/summary.py print "$BENCH_SUMMARY"
