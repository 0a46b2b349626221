"""An agent's session with `skillstore mcp`, through the MCP SDK's own client over stdio.

    python examples/mcp_session.py ./mcp-skills

Starts the server on the library at the path given (created, embedded by the lexical
embedder, when it does not exist), calls each tool once or twice, and prints every call and
its answer as the model would read them. The README's transcript is this script's output.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]


async def main(path: str) -> None:
    # PYTHONPATH: the child imports this checkout's skillstore, as the parent does
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {"PYTHONPATH": os.pathsep.join(paths)}
    server = StdioServerParameters(command=sys.executable, args=["-m", "skillstore", "mcp", path], env=env)
    async with stdio_client(server) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        print("tools:", ", ".join(tool.name for tool in (await client.list_tools()).tools))

        async def call(tool: str, **arguments: Any) -> Any:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text if result.content and result.content[0].type == "text" else ""
            print(f"\n> {tool} {json.dumps(arguments)}")
            print(("error: " if result.is_error else "") + text)
            return None if result.is_error else json.loads(text)

        door = await call("add_skill", name="open locked door", actions=["toggle"],
                          description="use the key on the locked door in front of you",
                          preconditions={"has_key": True}, metadata={"room": 3})
        await call("add_skill", name="fetch key", actions=["move_left", "pickup_key"],
                   description="walk to the key and pick it up", preconditions={"has_key": False})
        await call("search_skills", query="unlock the door", k=2, state={"has_key": True})
        await call("record_outcome", id=door["id"], success=True, reward=1.0)
        await call("update_skill", id=door["id"], reason="face the door first", actions=["turn_left", "toggle"])
        await call("rollback_skill", id=door["id"], version=1, reason="turning first missed the door")
        await call("skill_history", id=door["id"])
        await call("get_skill", id=door["id"])
        await call("search_skills", query="door", where={"room": {"$in": [3, 4]}}, k=0)
        await call("get_skill", id="no-such-skill")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "mcp-skills")
