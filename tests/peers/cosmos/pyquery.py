#!/usr/bin/env python3
"""Run one Cosmos DB SQL query with the Python SDK and print the results as NDJSON.

  pyquery.py --endpoint URL (--key KEY | --token JWT | --token-env VAR) --ca CA.pem \
             --database D --container C --query SQL [--param name=JSON]... [--partition-key JSON]
             [--max-item-count N] [--pages]

Without --partition-key the query runs cross-partition. Documents are printed exactly as
returned (system properties kept), one JSON document per line.
Exit codes: 0 ok, 5 unauthorized (401), 4 other HTTP error from the service,
3 transport error (TLS, connection), 2 usage error.
"""
import argparse
import json
import sys

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import exceptions

from _common import add_auth_args, make_client


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    add_auth_args(p)
    p.add_argument("--ca", required=True)
    p.add_argument("--database", required=True)
    p.add_argument("--container", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--param", action="append", default=[], metavar="NAME=JSON",
                   help="query parameter, e.g. --param @tenant='\"t1\"' (the @ is optional)")
    p.add_argument("--partition-key", metavar="JSON", help='partition key value as JSON, e.g. \'"t1"\'')
    p.add_argument("--max-item-count", type=int, help="page size (x-ms-max-item-count)")
    p.add_argument("--pages", action="store_true", help="print the number of pages fetched to stderr")
    args = p.parse_args()

    params = []
    for spec in args.param:
        name, sep, raw = spec.partition("=")
        if not sep:
            p.error(f"--param needs NAME=JSON, got {spec!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            p.error(f"--param {name}: invalid JSON: {e}")
        params.append({"name": name if name.startswith("@") else "@" + name, "value": value})

    kwargs = {}
    if params:
        kwargs["parameters"] = params
    if args.partition_key is not None:
        kwargs["partition_key"] = json.loads(args.partition_key)
    else:
        kwargs["enable_cross_partition_query"] = True
    if args.max_item_count:
        kwargs["max_item_count"] = args.max_item_count

    try:
        container = make_client(args).get_database_client(args.database).get_container_client(args.container)
        pages = 0
        for page in container.query_items(query=args.query, **kwargs).by_page():
            pages += 1
            for doc in page:
                sys.stdout.write(json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if args.pages:
            print(f"pages: {pages}", file=sys.stderr)
    except exceptions.CosmosHttpResponseError as e:
        print(f"error: {e.status_code} {e.message}", file=sys.stderr)
        sys.exit(5 if e.status_code == 401 else 4)
    except (ServiceRequestError, ServiceResponseError) as e:
        print(f"error: transport: {e}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
