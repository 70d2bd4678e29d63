#!/usr/bin/env python3
"""bench/gateway.py — what `cosmoscope serve` adds, measured against the Python SDK on the same
peer in the same run (issue 16):

1. latency of a partition-pinned query (the orders of tenant t1), one client, the two paths
   interleaved request by request: through the gateway (a plain HTTP client posting /v1/query and
   reading the NDJSON to its trailer) and the Python `azure-cosmos` SDK straight to the peer;
   p50, p99 and their ratios;
2. requests per second with 8 concurrent clients on each path (threads of this process);
3. the gateway's resident memory idle and with 200 query streams open at once (the peer holds
   every answer for a few seconds so that all 200 are in flight together).

Loopback only. Run by bench/gateway.sh (which builds the release binary and the peers).
"""
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from azure.cosmos import CosmosClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.path.join(ROOT, "tests/peers/cosmos")
OIDC = os.path.join(ROOT, "tests/peers/oidc")
BIN = os.environ.get("BIN", os.path.join(ROOT, "target/release/cosmoscope"))
PY = sys.executable
KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
AUDIENCE = "https://cosmos-gateway.test"
SQL = "SELECT * FROM c"
N = int(os.environ.get("N", "300"))
STREAMS = int(os.environ.get("STREAMS", "200"))

work = tempfile.mkdtemp()
procs = []


def first_line(proc, stream):
    line = getattr(proc, stream).readline()
    if not line:
        raise SystemExit(f"{proc.args[0]} ended before its first line")
    return json.loads(line)


def drain(f):
    threading.Thread(target=lambda: [None for _ in f], daemon=True).start()


def start(cmd, cwd=None, env=None, line_on="stdout"):
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    hello = first_line(p, line_on)
    drain(p.stdout)
    drain(p.stderr)
    return p, hello


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    env = dict(os.environ, COSMOS_DISABLE_IMDS="1")
    certs = os.path.join(work, "certs")
    subprocess.run([PY, os.path.join(PEER, "gen_cert.py"), certs], check=True, stdout=subprocess.DEVNULL)
    ca = os.path.join(certs, "ca.pem")
    env.update(SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)

    _, oidc = start(["node", "server.mjs"], cwd=OIDC, env=dict(env, OIDC_ACCESS_TTL="3600"))
    issuer = oidc["issuer"]
    _, cosmos = start(["node", "server.mjs", "--port", "0", "--cert", os.path.join(certs, "server.pem"),
                       "--key", os.path.join(certs, "server-key.pem")], cwd=PEER, env=env)
    endpoint = cosmos["endpoint"]
    subprocess.run([PY, "seed.py", "--endpoint", endpoint, "--key", KEY, "--ca", ca, "--fixture",
                    "fixtures/shop.json"], cwd=PEER, env=env, check=True, stdout=subprocess.DEVNULL)

    # The CI client's token for the gateway's audience (sub sp-cosmoscope-ci); its grant is
    # pinned to tenant t1.
    token = requests.post(f"{issuer}/token", auth=("cosmoscope-ci", "ci-secret-for-tests"),
                          data={"grant_type": "client_credentials", "scope": f"{AUDIENCE}/.default"}).json()["access_token"]
    with open(os.path.join(work, "policy.toml"), "w") as f:
        f.write('[[roles]]\nname = "bench"\nwhen = { claim = "sub", equals = "sp-cosmoscope-ci" }\n'
                '  [[roles.grants]]\n  database = "shop"\n  containers = ["orders"]\n  actions = ["query"]\n'
                '  partition_key = { values = ["t1"] }\n')
    with open(os.path.join(work, "server.toml"), "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:0"\nissuer = "{issuer}"\naudience = "{AUDIENCE}"\n'
                f'policy = "policy.toml"\naudit = "{work}/audit.jsonl"\n'
                f'[server.cosmos]\nendpoint = "{endpoint}"\ndatabase = "shop"\nhttp2 = false\n'
                f'[server.limits]\nmax_concurrent_per_subject = 1000\nrequests_per_minute = 0\n')
    gw, hello = start([BIN, "serve", "--config", os.path.join(work, "server.toml")],
                      env=dict(env, COSMOSCOPE_GATEWAY_ACCOUNT_KEY=KEY))
    url = hello["listening"]

    container = CosmosClient(endpoint, KEY).get_database_client("shop").get_container_client("orders")
    expected = len(list(container.query_items(SQL, partition_key="t1")))
    session = requests.Session()

    def through_gateway(s=session):
        r = s.post(f"{url}/v1/query", headers={"authorization": f"Bearer {token}"},
                   json={"container": "orders", "query": SQL})
        lines = r.text.splitlines()
        assert r.status_code == 200, f"{r.status_code} {r.text[:300]}"
        trailer = json.loads(lines[-1])["_cosmoscope"]
        assert r.status_code == 200 and "error" not in trailer and len(lines) - 1 == expected, r.text[:300]

    def direct(c=container):
        assert len(list(c.query_items(SQL, partition_key="t1"))) == expected

    # 1. latency, interleaved
    for _ in range(20):
        through_gateway()
        direct()
    t_gw, t_py = [], []
    for _ in range(N):
        t0 = time.perf_counter()
        through_gateway()
        t1 = time.perf_counter()
        direct()
        t2 = time.perf_counter()
        t_gw.append(t1 - t0)
        t_py.append(t2 - t1)

    # 2. throughput, 8 clients for 5 s on each path
    def rate(make_call, seconds=5.0, clients=8):
        counts = [0] * clients
        stop = time.perf_counter() + seconds

        def worker(i):
            call = make_call()
            while time.perf_counter() < stop:
                call()
                counts[i] += 1
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(counts) / seconds

    rps_gw = rate(lambda: (lambda s=requests.Session(): through_gateway(s)))
    rps_py = rate(lambda: (lambda c=CosmosClient(endpoint, KEY).get_database_client("shop").get_container_client("orders"): direct(c)))

    # 3. RSS idle and with STREAMS streams open at once
    idle = rss_kib(gw.pid)
    requests.post(f"{endpoint}__admin/faults", verify=ca,
                  json={"stall_ms": 4000, "count": STREAMS, "path_contains": "/docs", "method": "POST"}).raise_for_status()
    results = []

    def one_stream():
        try:
            through_gateway(requests.Session())
            results.append(True)
        except Exception as e:  # noqa: BLE001 — counted and reported
            results.append(repr(e))
    threads = [threading.Thread(target=one_stream) for _ in range(STREAMS)]
    for t in threads:
        t.start()
    peak, in_flight = idle, 0
    deadline = time.time() + 30
    while time.time() < deadline and any(t.is_alive() for t in threads):
        m = requests.get(f"{url}/metrics").text
        for line in m.splitlines():
            if line.startswith("cosmoscope_streams_in_flight "):
                in_flight = max(in_flight, int(float(line.split()[1])))
        peak = max(peak, rss_kib(gw.pid))
        time.sleep(0.05)  # poll interval
    for t in threads:
        t.join()
    ok = sum(1 for r in results if r is True)

    p50g, p99g, p50p, p99p = pct(t_gw, .5), pct(t_gw, .99), pct(t_py, .5), pct(t_py, .99)
    rows = [
        (f"pinned query ({expected} docs) p50, {N} interleaved", f"{p50g*1000:.2f} ms", f"Python SDK direct {p50p*1000:.2f} ms", f"{p50g/p50p:.2f}"),
        ("… p99", f"{p99g*1000:.2f} ms", f"{p99p*1000:.2f} ms", f"{p99g/p99p:.2f}"),
        ("… requests/s, 8 clients, 5 s", f"{rps_gw:.0f}", f"{rps_py:.0f}", f"{rps_gw/rps_py:.2f}"),
        (f"gateway RSS, idle → {STREAMS} concurrent streams (peak {in_flight} in flight, {ok}/{STREAMS} whole)",
         f"{idle/1024:.1f} → {peak/1024:.1f} MiB", "—", f"+{(peak-idle)/STREAMS:.0f} KiB per stream"),
    ]
    print(f"gateway latency p50 {p50g*1000:.2f} ms / p99 {p99g*1000:.2f} ms; Python SDK direct p50 {p50p*1000:.2f} ms / p99 {p99p*1000:.2f} ms")
    print(f"throughput (8 clients): gateway {rps_gw:.0f} req/s, Python SDK {rps_py:.0f} req/s")
    print(f"gateway RSS idle {idle} KiB, at {in_flight} streams in flight {peak} KiB; {ok}/{STREAMS} streams whole")
    summary = os.environ.get("BENCH_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            for r in rows:
                f.write("\t".join(r) + "\n")
    print("| figure | cosmoscope gateway | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if ok != STREAMS:
        print("failures:", [r for r in results if r is not True][:3], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)
