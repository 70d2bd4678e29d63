#!/usr/bin/env python3
"""Seed the local Cosmos DB peer (or any Cosmos account) with a fixture or generated data.

  seed.py --endpoint URL --key KEY --ca CA.pem --database shop --fixture fixtures/shop.json
  seed.py --endpoint URL --key KEY --ca CA.pem --database shop --generate 5000 --container big

Fixture format: {"database": "...", "containers": [{"id": "...", "partition_key": "/path",
"documents": [...]}, ...]}. --database overrides the fixture's database name.
Generated documents (~1 KB each) use partition key /pk with 16 distinct values and are
written with transactional batches of up to 100 operations, several in parallel.
"""
import argparse
import json
import random
import string
import sys
import time
from concurrent.futures import ThreadPoolExecutor

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


def seed_generated(db, container_id, n, workers=4):
    container = db.create_container_if_not_exists(id=container_id, partition_key=PartitionKey(path="/pk"))
    by_pk = {}
    for d in generate_docs(n):
        by_pk.setdefault(d["pk"], []).append(d)
    chunks = []
    for pk, docs in by_pk.items():
        for i in range(0, len(docs), 100):
            chunks.append((pk, docs[i:i + 100]))

    def run(chunk):
        pk, docs = chunk
        ops = [("upsert", (d,)) for d in docs]
        try:
            container.execute_item_batch(batch_operations=ops, partition_key=pk)
        except exceptions.CosmosHttpResponseError:
            upsert_all(container, docs, workers=2)  # fall back to single upserts
        return len(docs)

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        total = sum(ex.map(run, chunks))
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
    try:
        if args.fixture:
            with open(args.fixture, encoding="utf-8") as f:
                fx = json.load(f)
            db = client.create_database_if_not_exists(id=args.database or fx["database"])
            for c in fx["containers"]:
                container = db.create_container_if_not_exists(id=c["id"], partition_key=PartitionKey(path=c["partition_key"]))
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
