#!/usr/bin/env python3
"""The one table of bench/all.sh: each bench script adds its rows when BENCH_SUMMARY names a file.

    bench/summary.py add FIGURE COSMOSCOPE BASELINE RATIO    (no-op without BENCH_SUMMARY)
    bench/summary.py print FILE
"""
import os
import sys


def add(row):
    path = os.environ.get("BENCH_SUMMARY")
    if path:
        with open(path, "a") as f:
            f.write("\t".join(row) + "\n")


def main() -> int:
    if sys.argv[1] == "add":
        add(sys.argv[2:6])
    elif sys.argv[1] == "print":
        rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
        print("| figure | cosmoscope | baseline (same run) | ratio |")
        print("|---|---|---|---|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
