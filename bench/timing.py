#!/usr/bin/env python3
"""Whole-process wall time of commands, measured side by side in one run.

    bench/timing.py -n 20 -- NAME=CMD... [NAME=CMD...]

Each NAME=CMD is run N times, interleaved round-robin (so a noisy neighbour hurts every command
alike); prints the median, min and p90 of each and its ratio to the first command (the baseline).
"""
import argparse
import shlex
import statistics
import subprocess
import sys
import time

import summary  # bench/summary.py: the rows of bench/all.sh's table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--label", default="", help="appended to each figure's name in the summary")
    ap.add_argument("--baseline", help="the command ratios are taken against (default: the first)")
    ap.add_argument("--summary", action="append", help="commands that get a summary row (default: all but the baseline)")
    ap.add_argument("commands", nargs="+", help="NAME=COMMAND")
    args = ap.parse_args()
    cmds = []
    for spec in args.commands:
        name, _, cmd = spec.partition("=")
        cmds.append((name, shlex.split(cmd)))
    samples = {name: [] for name, _ in cmds}
    for i in range(args.warmup + args.n):
        for name, argv in cmds:
            t0 = time.perf_counter()
            r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            dt = time.perf_counter() - t0
            if r.returncode != 0:
                print(f"{name}: exit {r.returncode}", file=sys.stderr)
                return 1
            if i >= args.warmup:
                samples[name].append(dt * 1000)
    base_name = args.baseline or cmds[0][0]
    base = statistics.median(samples[base_name])
    print(f"{'command':<28} {'median ms':>10} {'min ms':>8} {'p90 ms':>8} {'ratio':>8}")
    for name, _ in cmds:
        s = sorted(samples[name])
        med = statistics.median(s)
        p90 = s[int(len(s) * 0.9) - 1]
        print(f"{name:<28} {med:>10.2f} {s[0]:>8.2f} {p90:>8.2f} {med / base:>7.1f}x")
        if name in (args.summary or [n for n, _ in cmds if n != base_name]):
            summary.add([f"`{name}`, median of {args.n}{args.label}", f"{med:.2f} ms",
                         f"{base_name} {base:.2f} ms", f"{med / base:.2f}x"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
