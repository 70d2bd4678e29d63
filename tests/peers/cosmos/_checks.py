#!/usr/bin/env python3
"""Extra checks used by selftest.sh (needs the shop fixture seeded).

  _checks.py ENDPOINT KEY CA CHECK [N]
CHECK: pointread | batch | raw-reset | raw-truncate | raw-stall | pkranges [N ranges, default 3] | meta
Prints 'ok: …' and exits 0, or prints the problem and exits 1.
"""
import base64
import datetime
import hashlib
import hmac
import json
import sys
import urllib.parse

import requests
from azure.cosmos import exceptions

from _common import make_client


class A:  # argparse-like namespace for make_client
    def __init__(self, endpoint, key, ca):
        self.endpoint, self.key, self.ca, self.token, self.token_env = endpoint, key, ca, None, None


def signed_headers(key, verb, rtype, link):
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    text = f"{verb.lower()}\n{rtype.lower()}\n{link}\n{date.lower()}\n\n"
    sig = base64.b64encode(hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()).decode()
    return {"authorization": urllib.parse.quote(f"type=master&ver=1.0&sig={sig}", safe=""),
            "x-ms-date": date, "x-ms-version": "2018-12-31"}


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def main():
    endpoint, key, ca, check = sys.argv[1:5]
    client = make_client(A(endpoint, key, ca))
    orders = client.get_database_client("shop").get_container_client("orders")
    if check == "pointread":
        doc = orders.read_item("o001", partition_key="t1")
        if doc["id"] != "o001":
            fail(doc)
        for item, pk in (("nope", "t1"), ("o001", "t2")):
            try:
                orders.read_item(item, partition_key=pk)
                fail(f"read of {item}/{pk} succeeded")
            except exceptions.CosmosResourceNotFoundError as e:
                if e.status_code != 404:
                    fail(e.status_code)
        print("ok: point read hit, miss -> 404, wrong partition -> 404")
    elif check == "batch":
        ops = [("create", ({"id": "b1", "tenant_id": "t9", "v": 1},)),
               ("upsert", ({"id": "b2", "tenant_id": "t9", "v": 2},)),
               ("read", ("b1",))]
        res = orders.execute_item_batch(batch_operations=ops, partition_key="t9")
        if [r["statusCode"] for r in res] != [201, 201, 200]:
            fail(res)
        # read of an existing id in a different partition through the batch header -> failed batch
        try:
            orders.execute_item_batch(batch_operations=[("read", ("o001",))], partition_key="t9")
            fail("cross-partition batch read succeeded")
        except exceptions.CosmosBatchOperationError as e:
            if e.error_index != 0:
                fail(e)
        # atomic rollback: second op conflicts -> first must not persist
        try:
            orders.execute_item_batch(batch_operations=[("create", ({"id": "b3", "tenant_id": "t9"},)),
                                                        ("create", ({"id": "b1", "tenant_id": "t9"},))],
                                      partition_key="t9")
            fail("conflicting batch succeeded")
        except exceptions.CosmosBatchOperationError:
            pass
        try:
            orders.read_item("b3", partition_key="t9")
            fail("atomic batch was not rolled back")
        except exceptions.CosmosResourceNotFoundError:
            pass
        for i in ("b1", "b2"):
            orders.delete_item(i, partition_key="t9")
        print("ok: batch honours the partition-key header and is atomic")
    elif check in ("raw-reset", "raw-truncate", "raw-stall"):
        url = endpoint.rstrip("/") + "/dbs/shop/colls/orders/docs/o001"
        h = signed_headers(key, "GET", "docs", "dbs/shop/colls/orders/docs/o001")
        h["x-ms-documentdb-partitionkey"] = '["t1"]'
        fault = {"raw-reset": {"reset": True}, "raw-truncate": {"truncate": True}, "raw-stall": {"stall_ms": 3000}}[check]
        requests.post(endpoint.rstrip("/") + "/__admin/faults", json={**fault, "count": 1, "path_contains": "/docs/o001"}, verify=ca).raise_for_status()
        try:
            r = requests.get(url, headers=h, verify=ca, timeout=1.5)
            if check == "raw-truncate":
                try:
                    json.loads(r.content)
                    fail("truncated body parsed as JSON")
                except ValueError:
                    print(f"ok: truncate -> HTTP {r.status_code} with a cut JSON body ({len(r.content)} bytes)")
                    return
            fail(f"{check}: request succeeded: {r.status_code}")
        except requests.exceptions.ReadTimeout:
            if check != "raw-stall":
                fail("unexpected timeout")
            print("ok: stall -> client read timeout")
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            if check != "raw-reset":
                fail(f"unexpected {e!r}")
            print("ok: reset -> connection dropped mid-response")
        # the next request is served normally again
        h = signed_headers(key, "GET", "docs", "dbs/shop/colls/orders/docs/o001")
        h["x-ms-documentdb-partitionkey"] = '["t1"]'
        r = requests.get(url, headers=h, verify=ca, timeout=10)
        if r.status_code != 200:
            fail(f"after fault: {r.status_code}")
    elif check == "pkranges":
        h = signed_headers(key, "GET", "pkranges", "dbs/shop/colls/orders")
        r = requests.get(endpoint.rstrip("/") + "/dbs/shop/colls/orders/pkranges", headers=h, verify=ca)
        ids = [p["id"] for p in r.json()["PartitionKeyRanges"]]
        want = [str(i) for i in range(int(sys.argv[5]) if len(sys.argv) > 5 else 3)]
        if r.status_code != 200 or ids != want:
            fail(r.text)
        print(f"ok: pkranges ids are strings: {ids}")
    elif check == "meta":
        h = signed_headers(key, "GET", "", "")
        r = requests.get(endpoint, headers=h, verify=ca)
        meta = r.json()
        locs = {l["databaseAccountEndpoint"] for l in meta["writableLocations"] + meta["readableLocations"]}
        if locs != {endpoint}:
            fail(locs)
        print(f"ok: account locations = {sorted(locs)}")
    else:
        fail(f"unknown check {check}")


if __name__ == "__main__":
    main()
