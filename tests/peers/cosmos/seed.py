#!/usr/bin/env python3
"""Seed the local Cosmos DB peer (or any Cosmos account) with a fixture or generated data.

  seed.py --endpoint URL --key KEY --ca CA.pem --database shop --fixture fixtures/shop.json
  seed.py --endpoint URL --key KEY --ca CA.pem --database shop --generate 5000 --container big

Fixture format: {"database": "...", "containers": [{"id": "...", "partition_key": "/path" (or
["/a", "/b"] for a hierarchical key),
"documents": [...]}, ...]}. --database overrides the fixture's database name.
Generated documents (~1 KB each) use partition key /pk with 16 distinct values and are
written with single upserts, several in parallel, each retried on timeouts, 408/429/5xx and
transport errors (upserts are idempotent). Not with transactional batches: the local peer's batch
handler scans the whole container for every operation and snapshots it for every batch, so a
batch costs O(container) and near 50,000 documents the single-threaded peer stalls long enough for
the SDK's 3 s database-account read timeout to fire; a single upsert goes through the package's
id index (constant time). Client timeouts are raised for the same reason.
"""
import argparse
import itertools
import json
import random
import string
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.core import exceptions as core_exceptions
from azure.cosmos import PartitionKey, exceptions

from _common import add_auth_args, make_client


def upsert_all(container, docs, workers=8):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        list(ex.map(container.upsert_item, docs))


def generate_docs(n, seed=42):
    rnd = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    for i in range(n):
        doc = {
            "id": f"doc-{i:08d}",
            "pk": f"p{i % 16:02d}",
            "seq": i,
            "category": words[i % len(words)],
            "price": round(rnd.uniform(1, 1000), 2),
            "qty": rnd.randint(1, 50),
            "active": i % 3 != 0,
            "created": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T00:00:00Z",
            "attrs": {"color": rnd.choice(words), "size": rnd.choice(["S", "M", "L", "XL"]), "weight": rnd.random()},
            "tags": rnd.sample(words, 3),
        }
        # pad to roughly 1 KB of JSON
        pad = 1024 - len(json.dumps(doc)) - len(', "payload": ""')
        doc["payload"] = "".join(rnd.choices(string.ascii_letters, k=max(pad, 0)))
        yield doc


RETRY_STATUS = {408, 429, 449, 500, 502, 503}


def upsert_with_retry(container, doc, attempts=8):
    for attempt in range(attempts):
        try:
            return container.upsert_item(doc)
        except exceptions.CosmosHttpResponseError as e:
            if e.status_code not in RETRY_STATUS or attempt == attempts - 1:
                raise
        except (core_exceptions.ServiceRequestError, core_exceptions.ServiceResponseError,
                exceptions.CosmosClientTimeoutError):
            if attempt == attempts - 1:
                raise
        time.sleep(min(0.2 * 2 ** attempt, 5))


def relax_timeouts(client, seconds=60):
    """Generous socket timeouts for bulk seeding (the peer is single-threaded and slows down)."""
    policy = client.client_connection.connection_policy
    policy.RequestTimeout = max(policy.RequestTimeout, seconds)
    policy.ReadTimeout = max(policy.ReadTimeout, seconds)
    policy.RecoveryReadTimeout = max(policy.RecoveryReadTimeout, seconds)
    policy.DBAReadTimeout = max(policy.DBAReadTimeout, seconds)
    policy.DBAConnectionTimeout = max(policy.DBAConnectionTimeout, seconds)


def seed_generated(db, container_id, n, workers=4):
    container = db.create_container_if_not_exists(id=container_id, partition_key=PartitionKey(path="/pk"))
    t0 = time.time()
    total = 0
    docs = generate_docs(n)
    with ThreadPoolExecutor(max_workers=workers) as ex:
        while True:  # chunks of 1,000, so the executor never holds all N documents at once
            chunk = list(itertools.islice(docs, 1000))
            if not chunk:
                break
            total += sum(1 for _ in ex.map(lambda d: upsert_with_retry(container, d), chunk))
            if total % 10000 == 0:
                print(f"  {total}/{n} in {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
    print(f"seeded {total} generated documents into {container_id} in {time.time() - t0:.1f}s", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    add_auth_args(p)
    p.add_argument("--ca", required=True, help="CA bundle (PEM) to verify the server certificate")
    p.add_argument("--database", help="database id (default: the fixture's)")
    p.add_argument("--fixture", help="fixture JSON file")
    p.add_argument("--generate", type=int, metavar="N", help="generate N ~1 KB documents")
    p.add_argument("--container", default="big", help="container for --generate (default: big)")
    args = p.parse_args()
    if not args.fixture and not args.generate:
        p.error("one of --fixture or --generate is required")

    client = make_client(args)
    if args.generate:
        relax_timeouts(client)
    try:
        if args.fixture:
            with open(args.fixture, encoding="utf-8") as f:
                fx = json.load(f)
            db = client.create_database_if_not_exists(id=args.database or fx["database"])
            for c in fx["containers"]:
                pk = c["partition_key"]  # "/path", or a list of paths: a hierarchical (MultiHash) key
                pk = PartitionKey(path=pk, kind="MultiHash") if isinstance(pk, list) else PartitionKey(path=pk)
                container = db.create_container_if_not_exists(id=c["id"], partition_key=pk)
                upsert_all(container, c.get("documents", []))
                print(f"seeded {len(c.get('documents', []))} documents into {c['id']}", file=sys.stderr)
        if args.generate:
            if not args.database:
                p.error("--generate needs --database")
            db = client.create_database_if_not_exists(id=args.database)
            seed_generated(db, args.container, args.generate)
    except exceptions.CosmosHttpResponseError as e:
        print(f"error: {e.status_code} {e.message}", file=sys.stderr)
        sys.exit(5 if e.status_code == 401 else 4)


if __name__ == "__main__":
    main()
