#!/usr/bin/env python3
"""The `query` tool of `cosmoscope mcp` against the same query through the CLI, one run:

- CLI: `cosmoscope query -c orders -o json SQL`, a process per call (what an agent with a shell
  tool runs);
- MCP, raw: one `cosmoscope mcp` process, N `tools/call` lines written on its stdin and each answer
  read back (the server's own cost per call);
- MCP, SDK: the same calls through the official Python client SDK (what a Python agent pays).

Medians over N interleaved rounds; ratios against the CLI. Run by bench/mcp.sh."""
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import summary  # noqa: E402  (bench/summary.py)

BIN, N = sys.argv[1], int(sys.argv[2])
SQL = "SELECT c.id, c.tenant_id, c.total FROM c"
ARGS = {"container": "orders", "sql": SQL}


def cli():
    r = subprocess.run([BIN, "query", "-c", "orders", "-o", "json", SQL], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True)
    return len(json.loads(r.stdout))


class Raw:
    def __init__(self):
        self.p = subprocess.Popen([BIN, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.id = 0
        self.call("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")

    def call(self, method, params):
        self.id += 1
        self.p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}) + "\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def query(self):
        r = self.call("tools/call", {"name": "query", "arguments": ARGS})
        return len(r["result"]["structuredContent"]["items"])


async def sdk_times(n):
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    params = StdioServerParameters(command=BIN, args=["mcp"], env=dict(os.environ))
    times = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            for i in range(n + 3):
                t0 = time.perf_counter()
                r = await s.call_tool("query", ARGS)
                dt = time.perf_counter() - t0
                assert not r.is_error, r
                if i >= 3:
                    times.append(dt * 1000)
    return times


def main():
    raw = Raw()
    expected = cli()
    assert raw.query() == expected
    t_cli, t_raw = [], []
    for i in range(N + 3):
        t0 = time.perf_counter()
        assert cli() == expected
        t1 = time.perf_counter()
        assert raw.query() == expected
        t2 = time.perf_counter()
        if i >= 3:
            t_cli.append((t1 - t0) * 1000)
            t_raw.append((t2 - t1) * 1000)
    raw.p.stdin.close()
    raw.p.wait()
    t_sdk = asyncio.run(sdk_times(N))
    base = statistics.median(t_cli)
    print(f"{'path':<34} {'median ms':>10} {'p90 ms':>8} {'ratio':>7}")
    for name, xs in [("CLI, a process per query", t_cli), ("MCP tools/call, raw JSON-RPC", t_raw), ("MCP tools/call, Python SDK", t_sdk)]:
        xs = sorted(xs)
        med = statistics.median(xs)
        print(f"{name:<34} {med:>10.2f} {xs[int(len(xs) * 0.9) - 1]:>8.2f} {med / base:>6.2f}x")
        if name != "CLI, a process per query":
            summary.add([f"`query` ({expected} docs) {name}, median of {N}", f"{med:.2f} ms", f"CLI process {base:.2f} ms", f"{med / base:.2f}"])


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    main()
