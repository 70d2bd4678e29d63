#!/usr/bin/env python3
"""Login overhead beyond the provider's polling interval, side by side with a minimal client.

    bench/login.py BIN ISSUER [N]

A device-code login has to wait: the first poll may come only after `interval` seconds (1 s here),
and every poll before the approval costs another interval. Each run approves the code as soon as it
is shown, reads how many polls the provider saw (its /__admin/stats), and reports

    overhead = wall time of the whole command - polls x interval

for `cosmoscope login` (discovery, device authorization, polling, JWKS fetch, token verification,
keyring write, audit record) and for a minimal Python client of the same protocol run as its own
process (discovery, device authorization, polling; it verifies nothing and stores nothing).
Runs alternate between the two; prints medians and the ratio.
"""
import json
import statistics
import subprocess
import sys
import time
import urllib.request

import summary  # bench/summary.py: the rows of bench/all.sh's table

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

MINIMAL_CLIENT = r'''
import json, sys, time, urllib.parse, urllib.request
issuer = sys.argv[1]
meta = json.load(urllib.request.urlopen(issuer + "/.well-known/openid-configuration"))
form = lambda d: urllib.parse.urlencode(d).encode()
dev = json.load(urllib.request.urlopen(meta["device_authorization_endpoint"], form({
    "client_id": "cosmoscope-cli", "scope": "openid profile offline_access",
    "audience": "https://cosmos-gateway.test"})))
print(json.dumps({"event": "device_code", "user_code": dev["user_code"]}), flush=True)
while True:
    time.sleep(dev.get("interval", 5))
    try:
        tok = json.load(urllib.request.urlopen(meta["token_endpoint"], form({
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": dev["device_code"], "client_id": "cosmoscope-cli"})))
        break
    except urllib.error.HTTPError as e:
        if json.load(e).get("error") != "authorization_pending":
            raise
print(json.dumps({"event": "logged_in", "expires_in": tok["expires_in"]}))
'''


def admin(issuer, path, body=None):
    req = urllib.request.Request(
        f"{issuer}/__admin/{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    return json.load(urllib.request.urlopen(req))


def run_once(argv, issuer):
    admin(issuer, "reset", {})
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    code = json.loads(p.stdout.readline())["user_code"]
    admin(issuer, "approve", {"user_code": code, "login": "alice"})
    p.stdout.read()
    if p.wait() != 0:
        sys.exit(f"{argv[0]} failed")
    wall = time.perf_counter() - t0
    polls = admin(issuer, "stats")["token_requests"].get(DEVICE_GRANT, 0)
    return wall, polls


def main() -> int:
    binary, issuer = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    interval = 1.0
    runs = {
        "cosmoscope login": [binary, "login", "-o", "json", "--no-browser", "-q"],
        "minimal Python client": [sys.executable, "-c", MINIMAL_CLIENT, issuer],
    }
    samples = {name: [] for name in runs}
    polls_seen = {name: set() for name in runs}
    for _ in range(n):
        for name, argv in runs.items():
            wall, polls = run_once(argv, issuer)
            samples[name].append(wall - polls * interval)
            polls_seen[name].add(polls)
    base = statistics.median(samples["minimal Python client"])
    print(f"{'':24} {'overhead (median)':>18} {'min':>8} {'polls':>6}  ratio")
    for name, xs in samples.items():
        med = statistics.median(xs)
        print(f"{name:24} {med * 1000:15.1f} ms {min(xs) * 1000:6.1f} ms "
              f"{','.join(map(str, sorted(polls_seen[name]))):>6}  {med / base:.2f}x")
    med = statistics.median(samples["cosmoscope login"])
    summary.add([f"login overhead beyond the {interval:.0f} s polling interval, median of {n}",
                 f"{med * 1000:.1f} ms", f"minimal Python device-code client {base * 1000:.1f} ms",
                 f"{med / base:.2f}x"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
