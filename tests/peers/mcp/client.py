#!/usr/bin/env python3
"""Drives `cosmoscope mcp` with the official Python MCP client SDK (`mcp` from PyPI) over stdio.

    python client.py BINARY CALLS_JSON [server args…]

CALLS_JSON is a list of {"tool": name, "arguments": {…}}. Prints one JSON object on stdout:
{"server": initialize result, "tools": [tool definitions], "calls": [{"isError", "structured",
"text"}…], "asked": [elicitation messages]}. The SDK itself checks each structured result against
the tool's output schema. MCP_ELICIT=accept|decline gives the client an elicitation handler that
answers so (without it the client declares no elicitation capability). The server gets this
process's whole environment (its config, state and keyring)."""
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import ElicitResult, Implementation

ASKED = []


async def answer(context, params):
    ASKED.append(params.message)
    if os.environ.get("MCP_ELICIT") == "accept":
        return ElicitResult(action="accept", content={"confirm": True})
    return ElicitResult(action="decline")


async def main() -> int:
    binary, calls = sys.argv[1], json.loads(sys.argv[2])
    params = StdioServerParameters(command=binary, args=["mcp", *sys.argv[3:]], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        extra = {"elicitation_callback": answer} if os.environ.get("MCP_ELICIT") else {}
        async with ClientSession(read, write, client_info=Implementation(name="pytest-agent", version="9.1"), **extra) as session:
            init = await session.initialize()
            tools = (await session.list_tools()).tools
            out = {
                "server": init.model_dump(mode="json", by_alias=True, exclude_none=True),
                "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools],
                "calls": [],
            }
            for call in calls:
                r = await session.call_tool(call["tool"], call.get("arguments", {}))
                out["calls"].append({
                    "isError": bool(r.is_error),
                    "structured": r.structured_content,
                    "text": "".join(c.text for c in r.content if getattr(c, "type", "") == "text"),
                })
    out["asked"] = ASKED
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
