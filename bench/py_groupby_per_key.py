#!/usr/bin/env python3
"""The Python SDK's way to a cross-partition GROUP BY (bench/export.sh).

azure-cosmos 4.17.1 does not announce GroupBy to the gateway's query-plan endpoint, so the service
refuses it a GROUP BY across partitions. What a Python user does instead: run the GROUP BY once per
logical partition key (each served by the gateway) and merge the groups. Prints NDJSON.

  py_groupby_per_key.py --endpoint URL --key KEY --ca CA.pem --database D --container C \
      --query SQL --keys p00,p01,… --group a,b --merge n=sum,qty=sum,lo=min,hi=max
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "peers", "cosmos"))
from _common import add_auth_args, make_client  # noqa: E402

MERGE = {"sum": lambda a, b: a + b, "min": min, "max": max}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    add_auth_args(p)
    p.add_argument("--ca", required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--container", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--merge", required=True)
    p.add_argument("--max-item-count", type=int)
    args = p.parse_args()
    group = args.group.split(",")
    merge = dict(m.split("=") for m in args.merge.split(","))
    container = make_client(args).get_database_client(args.database).get_container_client(args.container)
    groups = {}
    kwargs = {"max_item_count": args.max_item_count} if args.max_item_count else {}
    for key in args.keys.split(","):
        for row in container.query_items(query=args.query, partition_key=key, **kwargs):
            k = json.dumps([row.get(g) for g in group])
            if k not in groups:
                groups[k] = row
                continue
            for name, how in merge.items():
                if name in row:
                    groups[k][name] = MERGE[how](groups[k][name], row[name]) if name in groups[k] else row[name]
    for row in groups.values():
        sys.stdout.write(json.dumps(row, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
