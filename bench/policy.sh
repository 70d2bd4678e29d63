#!/usr/bin/env bash
# Whole-process throughput of `cosmoscope policy explain -o json --queries FILE` (parse, normalise,
# partition scope, JSON out) over both corpora repeated to ~100,000 lines, and, in the same run,
# the JavaScript Cosmos SQL parser that @vercel/cosmosdb-server uses (@zeit/cosmosdb-query, parse
# only, one node process) on the same lines.   Usage: bench/policy.sh [LINES]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
corpus="$root/tests/corpus"
lines="${1:-100000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$corpus" > "$work/one.ndjson" <<'PY'
import json, sys
d = sys.argv[1]
for l in open(f"{d}/cosmos-partition-scope.ndjson"):
    if l.strip():
        o = json.loads(l)
        print(json.dumps({"query": o["query"], "partition_key_paths": o["partition_key_paths"]}))
for l in open(f"{d}/cosmos-sql-parse.ndjson"):
    if l.strip():
        print(json.dumps({"query": json.loads(l)["query"], "partition_key_paths": ["/id"]}))
PY
per="$(wc -l < "$work/one.ndjson")"
python3 -c "
import sys
one = open('$work/one.ndjson').read().splitlines()
n = $lines
with open('$work/in.ndjson', 'w') as f:
    for i in range(n): f.write(one[i % len(one)] + '\n')
"
n="$(wc -l < "$work/in.ndjson")"
echo "input: $n lines ($per distinct)"

[ -n "${BIN:-}" ] || (cd "$root" && cargo build --release --quiet --bin cosmoscope)
bin="${BIN:-$root/target/release/cosmoscope}"
export XDG_CONFIG_HOME="$work/none" XDG_STATE_HOME="$work/none"   # offline: no profile, no session
"$bin" policy explain -o json --queries "$work/in.ndjson" > /dev/null   # warm up
t0=$(date +%s.%N)
"$bin" policy explain -o json --queries "$work/in.ndjson" > "$work/out.ndjson"
t1=$(date +%s.%N)
rust_rate=$(python3 -c "print(round($n / ($t1 - $t0)))")
echo "cosmoscope policy explain --queries (whole process): $rust_rate queries/s"

if [ ! -d "$here/js/node_modules" ]; then (cd "$here/js" && npm ci --silent --no-audit --no-fund); fi
js_rate=$(node "$here/js/parse_bench.js" "$work/in.ndjson")
echo "@zeit/cosmosdb-query parse (one node process):     $js_rate queries/s"
python3 -c "print(f'ratio: {$rust_rate / $js_rate:.1f}x')"
python3 "$root/bench/summary.py" add "\`policy explain --queries\`, $n corpus lines, whole process" \
  "$rust_rate q/s" "@zeit/cosmosdb-query parse $js_rate q/s" "$(python3 -c "print(f'{$rust_rate / $js_rate:.0f}x')")"
