#!/usr/bin/env python3
"""Drives an MCP server with the official Python SDK (PyPI's mcp): lists its tools and resources,
calls each tool of PLAN in turn, reads each resource of PLAN, and prints one JSON object with what
came back.

  mcp-client.py PLAN.json stdio COMMAND [ARG...]      the server is COMMAND, over its stdin/stdout
  mcp-client.py PLAN.json http URL TOKEN              streamable HTTP with Authorization: Bearer TOKEN

PLAN: {"calls": [{"tool": NAME, "arguments": {...}}, ...], "read": [URI, ...]}
Output: {"server": name, "tools": [names], "resources": [uris], "calls": [{"tool", "error": bool,
"text"}], "reads": [{"uri", "text"} or {"uri", "failure"}]}
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client


async def drive(session, plan):
    init = await session.initialize()
    tools = await session.list_tools()
    resources = await session.list_resources()
    out = {"server": init.serverInfo.name, "tools": [t.name for t in tools.tools],
           "read_only": {t.name: bool(t.annotations and t.annotations.readOnlyHint) for t in tools.tools},
           "resources": [str(r.uri) for r in resources.resources], "calls": [], "reads": []}
    for call in plan.get("calls", []):
        result = await session.call_tool(call["tool"], call.get("arguments", {}))
        text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        out["calls"].append({"tool": call["tool"], "error": bool(result.isError), "text": text})
    for uri in plan.get("read", []):
        try:
            read = await session.read_resource(uri)
            out["reads"].append({"uri": uri, "text": read.contents[0].text})
        except Exception as error:  # noqa: BLE001 - the server's refusal is the point
            out["reads"].append({"uri": uri, "failure": str(error)})
    return out


async def main():
    plan = json.load(open(sys.argv[1]))
    mode = sys.argv[2]
    if mode == "stdio":
        params = StdioServerParameters(command=sys.argv[3], args=sys.argv[4:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await drive(session, plan)
    else:
        url, token = sys.argv[3], sys.argv[4]
        async with streamablehttp_client(url, headers={"Authorization": f"Bearer {token}"}) as (read, write, _):
            async with ClientSession(read, write) as session:
                out = await drive(session, plan)
    print(json.dumps(out))


asyncio.run(main())
