#!/usr/bin/env bash
# bench/export.sh — export N ~1 KB documents as NDJSON from the local Cosmos DB peer with
# cosmoscope's streaming query path (examples/export_bench.rs) and with the Python SDK
# (tests/peers/cosmos/pyquery.py: a plain query_items loop) in the same run, and report the
# wall-time ratio and peak RSS of each (/usr/bin/time -v), plus cosmoscope's peak RSS at
# SMALL vs LARGE documents (flat memory means roughly equal).
#
#   bench/export.sh [LARGE=50000] [SMALL=5000] [PAGE_SIZE=1000]      PROFILE=debug for a debug build
#
# Seeding: seed.py --generate writes single upserts (the peer's transactional-batch handler scans
# the container per operation, which made seeding quadratic and hit the SDK's 3 s timeout near
# 50,000); that is linear, ~250-300 docs/s on 2 shared cores, so 50,000 + 5,000 take ~3-4 min.
# Last run (release example, 2 shared cores, 50,000 docs in three physical partitions, pages of
# 1,000): cosmoscope 4.05 s wall / 0.91 s CPU / 21.4 MiB, Python SDK 3.65 s / 2.10 s / 47.4 MiB;
# peak RSS 21.6 MiB at 5,000 vs 21.4 MiB at 50,000 (flat). GROUP BY across partitions: cosmoscope
# 1.12 s / 0.08 s / 14.6 MiB, Python per-key GROUP BY merged in Python 1.64 s / 0.43 s / 38.3 MiB;
# answers identical (BENCHMARKS.md, issue 15).
#
# Loopback only. Needs node, python3, jq, bc, /usr/bin/time. Uses a release build of the
# example by default (PROFILE=debug for the dev profile).
set -euo pipefail
LARGE="${1:-50000}"
SMALL="${2:-5000}"
PAGE="${3:-1000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
peer="$root/tests/peers/cosmos"
work="$(mktemp -d)"
trap 'kill "${peer_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$peer" && { [ -d node_modules ] || npm ci --silent; })
py="$root/target/peers-venv/bin/python"
[ -x "$py" ] || { python3 -m venv "$root/target/peers-venv" && "$root/target/peers-venv/bin/pip" install -q -r "$root/tests/peers/requirements.txt"; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  (cd "$root" && cargo build -q --release --example export_bench)
  bin="$CARGO_TARGET_DIR/release/examples/export_bench"
else
  PROFILE=debug
  (cd "$root" && cargo build -q --example export_bench)
  bin="$CARGO_TARGET_DIR/debug/examples/export_bench"
fi

"$py" "$peer/gen_cert.py" "$work/certs" >/dev/null
node "$peer/server.mjs" --port 0 --cert "$work/certs/server.pem" --key "$work/certs/server-key.pem" \
  > "$work/peer.out" 2> "$work/peer.err" &
peer_pid=$!
for _ in $(seq 1 100); do [ -s "$work/peer.out" ] && break; sleep 0.1; done
endpoint="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$work/peer.out")"
key="C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
export COSMOS_DISABLE_IMDS=1 SSL_CERT_FILE="$work/certs/ca.pem" REQUESTS_CA_BUNDLE="$work/certs/ca.pem" COSMOS_KEY="$key"

echo "seeding $SMALL and $LARGE documents into $endpoint …" >&2
seed_start=$SECONDS
for spec in "small $SMALL" "large $LARGE"; do
  set -- $spec
  (cd "$peer" && "$py" seed.py --endpoint "$endpoint" --key "$key" --ca "$work/certs/ca.pem" \
     --database bench --container "$1" --generate "$2" >/dev/null 2> "$work/seed-$1.err") \
    || { echo "seeding $2 documents failed:" >&2; cat "$work/seed-$1.err" >&2; exit 1; }
  tail -n1 "$work/seed-$1.err" >&2
done
echo "seeding took $((SECONDS - seed_start)) s" >&2

# measure NAME OUTFILE CMD… -> prints "wall_seconds peak_kib lines cpu_seconds" (cpu = user + sys)
measure() {
  local name="$1" out="$2"; shift 2
  /usr/bin/time -v -o "$work/$name.time" "$@" > "$out" 2> "$work/$name.err" || {
    echo "$name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
  local wall rss
  wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$name.time" \
    | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')"
  rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")"
  cpu="$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$work/$name.time")"
  echo "$wall $rss $(wc -l < "$out") $cpu"
}

read -r c_small_wall c_small_rss c_small_n c_small_cpu < <(measure cosmoscope-small "$work/c-small.ndjson" \
  "$bin" "$endpoint" bench small "SELECT * FROM c" "$PAGE")
read -r c_wall c_rss c_n c_cpu < <(measure cosmoscope-large "$work/c-large.ndjson" \
  "$bin" "$endpoint" bench large "SELECT * FROM c" "$PAGE")
read -r p_wall p_rss p_n p_cpu < <(cd "$peer" && measure python-large "$work/p-large.ndjson" \
  "$py" pyquery.py --endpoint "$endpoint" --key "$key" --ca "$work/certs/ca.pem" \
  --database bench --container large --query "SELECT * FROM c" --max-item-count "$PAGE")

[ "$c_n" = "$LARGE" ] && [ "$p_n" = "$LARGE" ] && [ "$c_small_n" = "$SMALL" ] || {
  echo "document counts differ: cosmoscope $c_n/$c_small_n, python $p_n (expected $LARGE/$SMALL)" >&2; exit 1; }
cmp <(jq -c -S . "$work/c-large.ndjson" 2>/dev/null | sort) <(jq -c -S . "$work/p-large.ndjson" 2>/dev/null | sort) >/dev/null \
  && same="identical" || same="DIFFERENT"

printf '\nexport of %d documents (page size %d), NDJSON to a file; contents %s\n' "$LARGE" "$PAGE" "$same"
printf '%-22s %10s %10s %14s\n' "client" "wall (s)" "CPU (s)" "peak RSS (MiB)"
printf '%-22s %10.2f %10.2f %14.1f\n' "cosmoscope ($PROFILE)" "$c_wall" "$c_cpu" "$(echo "$c_rss / 1024" | bc -l)"
printf '%-22s %10.2f %10.2f %14.1f\n' "python azure-cosmos" "$p_wall" "$p_cpu" "$(echo "$p_rss / 1024" | bc -l)"
printf 'wall-time ratio cosmoscope/python: %.2f   CPU-time ratio: %.2f   peak-RSS ratio: %.2f\n' \
  "$(echo "$c_wall / $p_wall" | bc -l)" "$(echo "$c_cpu / $p_cpu" | bc -l)" "$(echo "$c_rss / $p_rss" | bc -l)"
printf 'cosmoscope peak RSS: %.1f MiB at %d docs vs %.1f MiB at %d docs\n' \
  "$(echo "$c_small_rss / 1024" | bc -l)" "$SMALL" "$(echo "$c_rss / 1024" | bc -l)" "$LARGE"
# A cross-partition GROUP BY over the same 50,000 documents (three physical partitions): cosmoscope
# asks for the gateway's plan and merges the partial groups of each range (issue 15). The Python SDK
# (4.17.1) does not announce GroupBy to the plan endpoint, so the service refuses it this query
# across partitions; its baseline is what a Python user does instead — the GROUP BY once per
# logical partition key (16 here), groups merged in Python (bench/py_groupby_per_key.py).
GROUP_SQL='SELECT c.category, c.attrs.size AS size, COUNT(1) AS n, SUM(c.qty) AS qty, MIN(c.price) AS lo, MAX(c.price) AS hi FROM c GROUP BY c.category, c.attrs.size'
read -r cg_wall cg_rss cg_n cg_cpu < <(measure cosmoscope-groupby "$work/c-group.ndjson" \
  "$bin" "$endpoint" bench large "$GROUP_SQL" "$PAGE")
read -r pg_wall pg_rss pg_n pg_cpu < <(measure python-groupby "$work/p-group.ndjson" \
  "$py" "$root/bench/py_groupby_per_key.py" --endpoint "$endpoint" --key "$key" --ca "$work/certs/ca.pem" \
  --database bench --container large --query "$GROUP_SQL" --max-item-count "$PAGE" \
  --keys "$(seq -f 'p%02g' 0 15 | paste -sd,)" --group category,size --merge n=sum,qty=sum,lo=min,hi=max)
cmp <(jq -c -S . "$work/c-group.ndjson" 2>/dev/null | sort) <(jq -c -S . "$work/p-group.ndjson" 2>/dev/null | sort) >/dev/null \
  && gsame="identical" || gsame="DIFFERENT"
printf '\nGROUP BY over %d documents across partitions: %d groups (python %d); answers %s\n' "$LARGE" "$cg_n" "$pg_n" "$gsame"
printf '%-22s %10s %10s %14s\n' "client" "wall (s)" "CPU (s)" "peak RSS (MiB)"
printf '%-22s %10.2f %10.2f %14.1f\n' "cosmoscope ($PROFILE)" "$cg_wall" "$cg_cpu" "$(echo "$cg_rss / 1024" | bc -l)"
printf '%-22s %10.2f %10.2f %14.1f\n' "python azure-cosmos" "$pg_wall" "$pg_cpu" "$(echo "$pg_rss / 1024" | bc -l)"
[ "$gsame" = identical ] || { echo "GROUP BY answers differ" >&2; diff <(jq -c -S . "$work/c-group.ndjson" | sort) <(jq -c -S . "$work/p-group.ndjson" | sort) >&2 || true; exit 1; }

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
python3 "$root/bench/summary.py" add "export $LARGE documents, wall" "$(printf '%.1f' "$c_wall") s" "Python SDK $(printf '%.1f' "$p_wall") s" "$(ratio "$c_wall" "$p_wall")"
python3 "$root/bench/summary.py" add "… CPU time" "$(printf '%.2f' "$c_cpu") s" "$(printf '%.2f' "$p_cpu") s" "$(ratio "$c_cpu" "$p_cpu")"
python3 "$root/bench/summary.py" add "… peak RSS" "$(echo "$c_rss / 1024" | bc -l | xargs printf '%.1f') MiB" "$(echo "$p_rss / 1024" | bc -l | xargs printf '%.1f') MiB" "$(ratio "$c_rss" "$p_rss")"
python3 "$root/bench/summary.py" add "cosmoscope peak RSS, $SMALL vs $LARGE documents" "$(echo "$c_small_rss / 1024" | bc -l | xargs printf '%.1f') vs $(echo "$c_rss / 1024" | bc -l | xargs printf '%.1f') MiB" "—" "$(ratio "$c_rss" "$c_small_rss")"
python3 "$root/bench/summary.py" add "GROUP BY over $LARGE documents across partitions, CPU time" "$(printf '%.2f' "$cg_cpu") s" "$(printf '%.2f' "$pg_cpu") s" "$(ratio "$cg_cpu" "$pg_cpu")"
python3 "$root/bench/summary.py" add "… peak RSS" "$(echo "$cg_rss / 1024" | bc -l | xargs printf '%.1f') MiB" "$(echo "$pg_rss / 1024" | bc -l | xargs printf '%.1f') MiB" "$(ratio "$cg_rss" "$pg_rss")"
