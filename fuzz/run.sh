#!/usr/bin/env bash
# Runs each fuzz target for a set time (default 60 s) and prints executions per target.
# Needs cargo-fuzz (cargo install cargo-fuzz); stable Rust works with RUSTC_BOOTSTRAP=1.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
mkdir -p corpus/parse corpus/names corpus/session
# Seed with the real queries of both corpora; names and session with a few hand-picked inputs
# (corpus/ is git-ignored, so the seeds are made here).
python3 -c "
import json, hashlib, pathlib
for name in ['cosmos-sql-parse.ndjson', 'cosmos-partition-scope.ndjson']:
    for line in open('../tests/corpus/' + name):
        if line.strip():
            q = json.loads(line)['query'].encode()
            pathlib.Path('corpus/parse', hashlib.sha1(q).hexdigest()).write_bytes(q)
seeds = {
    'names': ['o001', '../../payments/docs/p1', 'a%2Fb', '..', '\u00fcn\u00ef'],
    'session': ['{\"v\":1,\"a\":\"x.y.z\",\"r\":\"r\",\"i\":\"a.b.c\",\"f\":5}'],
}
for target, inputs in seeds.items():
    for s in inputs:
        b = s.encode()
        pathlib.Path('corpus', target, 'seed-' + hashlib.sha1(b).hexdigest()[:12]).write_bytes(b)
"
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "== $target ($secs s)"
  # Targets with an `init:` block (ctap, jws) write their seed inputs here before reading it.
  COSMOSCOPE_FUZZ_SEEDS="$PWD/corpus/$target" \
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
    | grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)|ERROR|SUMMARY' || true
done
