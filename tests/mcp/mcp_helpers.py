"""Shared helpers for the MCP server's tests: a small library, its contents as plain data,
and calls through the SDK's own client (in process, or to a `skillstore mcp` child over stdio)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client
from mcp_types import CallToolResult

from skillstore import STATUSES, LexicalEmbedder, Skill, SkillStore
from skillstore.mcp import LibraryTools, SkillServer

ROOT = Path(__file__).resolve().parents[2]
EMBEDDER_DIM = 64

LONG_DESCRIPTION = (
    "wander the rooms looking for anything new, turning left at every wall and right at every open door, "
    "until the whole floor has been seen\nthen report what was found"
)
SKILLS = [
    {"name": "open door", "actions": ["move_up", "open_door"], "description": "walk to the door and open it",
     "preconditions": {"has_key": True}, "metadata": {"room": 3}},
    {"name": "fetch key", "actions": ["move_left", "pickup_key"], "description": "pick up the key lying in the room",
     "preconditions": {"has_key": False}, "metadata": {"room": 4, "owner": "ops"}},
    {"name": "explore", "actions": ["forward", "forward", "turn_left"], "description": LONG_DESCRIPTION,
     "preconditions": None, "metadata": {"room": 7}},
    {"name": "unlock door", "actions": ["toggle"], "description": "use the key on the locked door",
     "preconditions": {"has_key": True}, "metadata": {"room": 3, "tier": 2}},
]


def make_library(path: Path, *, embedder: bool = True) -> dict[str, str]:
    """A library at ``path`` holding SKILLS (embedded by the lexical embedder, or, without one,
    by fixed vectors); returns their ids by name."""
    if embedder:
        with SkillStore.open(path, embedder=LexicalEmbedder(dim=EMBEDDER_DIM)) as store:
            ids = store.add_many([Skill(embedding=None, **fields) for fields in SKILLS])
    else:
        with SkillStore.open(path, dim=len(SKILLS)) as store:
            vectors = [[1.0 if i == j else 0.1 for j in range(len(SKILLS))] for i in range(len(SKILLS))]
            ids = store.add_many([Skill(embedding=v, **fields) for fields, v in zip(SKILLS, vectors, strict=True)])
    return {fields["name"]: skill_id for fields, skill_id in zip(SKILLS, ids, strict=True)}


def contents(path: Path) -> list[dict[str, Any]]:
    """Everything a tool could change in the library at ``path``, read afresh from disk."""
    with SkillStore.open(path, read_only=True) as store:
        return [
            {
                "id": s.id, "name": s.name, "description": s.description, "actions": s.actions,
                "preconditions": s.preconditions, "metadata": s.metadata, "version": s.version,
                "status": s.status, "stats": s.stats.to_dict(), "embedding": list(s.embedding),
                "history": [(v.version, v.reason, v.changed, v.stats.to_dict(), v.events) for v in store.history(s.id)],
            }
            for s in store.skills(status=STATUSES)
        ]


def call_all(server: SkillServer, calls: Sequence[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    """Each call's result, made in order through the SDK's client connected in process."""

    async def go() -> list[CallToolResult]:
        async with Client(server) as client:
            return [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(go)


def list_tools(server: SkillServer) -> list[Any]:
    async def go() -> list[Any]:
        async with Client(server) as client:
            return list((await client.list_tools()).tools)

    return anyio.run(go)


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return str(result.content[0].text)


def answer(result: CallToolResult) -> Any:
    """A successful result's JSON (the text and the structured content say the same)."""
    assert not result.is_error, text_of(result)
    data = json.loads(text_of(result))
    assert data == result.structured_content
    return data


def error_text(result: CallToolResult) -> str:
    """A tool error's message, checked to be one clear line."""
    assert result.is_error, text_of(result)
    message = text_of(result)
    assert "\n" not in message and "Traceback" not in message and len(message) < 400, message
    return message


def tools_for(path: Path, **options: Any) -> LibraryTools:
    return LibraryTools.open(path, **options)


def child_environment() -> dict[str, str]:
    """What a `skillstore mcp` child needs to import this checkout (the SDK's stdio client
    passes only a few variables by default)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def server_command(path: Path | str, *options: str) -> tuple[str, list[str]]:
    return sys.executable, ["-m", "skillstore", "mcp", str(path), *options]
