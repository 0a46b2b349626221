"""`skillstore mcp` end to end: the command in a child process, driven over stdio by the SDK's
own client (stdio_client, ClientSession), and the library checked on disk afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.client import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_helpers import ROOT, child_environment, contents, error_text, make_library, server_command, text_of

from skillstore import SkillStore
from skillstore.mcp import READ_TOOLS, WRITE_TOOLS

Call = Callable[..., Awaitable[Any]]


@contextlib.asynccontextmanager
async def session(path: Path, *options: str, errlog: Path) -> AsyncIterator[ClientSession]:
    command, args = server_command(path, *options)
    parameters = StdioServerParameters(command=command, args=args, env=child_environment(), cwd=str(ROOT))
    with errlog.open("a") as log:
        async with stdio_client(parameters, errlog=log) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            yield client


async def ok(client: ClientSession, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, (tool, text_of(result))
    return json.loads(text_of(result))


def test_a_session_over_stdio(tmp_path: Path) -> None:
    path, errlog = tmp_path / "library", tmp_path / "server.log"
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with session(path, errlog=errlog) as client:  # no library yet: made, embedded by lexical
            seen["tools"] = sorted(tool.name for tool in (await client.list_tools()).tools)
            door = await ok(client, "add_skill", name="open door", actions=["move_up", "open_door"],
                            description="walk to the door and open it", preconditions={"has_key": True},
                            metadata={"room": 3})
            key = await ok(client, "add_skill", name="fetch key", actions=["pickup_key"],
                           description="pick up the key", preconditions={"has_key": False}, metadata={"room": 4})
            found = await ok(client, "search_skills", query="open the door", k=2)
            seen["by text"] = [s["id"] for s in found["skills"]]
            by_state = await ok(client, "search_skills", query="", state={"has_key": False})
            seen["by state"] = [s["id"] for s in by_state["skills"]]
            filtered = await ok(client, "search_skills", query="key door", where={"room": {"$gte": 4}})
            seen["filtered"] = [s["id"] for s in filtered["skills"]]
            for success in (True, True, False):
                await ok(client, "record_outcome", id=door["id"], success=success, reward=1.0 if success else 0.0)
            updated = await ok(client, "update_skill", id=door["id"], reason="shorter", actions=["open_door"])
            rolled = await ok(client, "rollback_skill", id=door["id"], version=1, reason="it misses the door")
            seen["versions"] = (updated["version"], rolled["version"])
            await ok(client, "deprecate_skill", id=key["id"], reason="keys are gone")
            seen["after deprecation"] = [s["id"] for s in (await ok(client, "search_skills", query="key"))["skills"]]
            history = await ok(client, "skill_history", id=door["id"])
            seen["history"] = [(v["version"], v["rollback_of"], v["attempts"]) for v in history["versions"]]
            seen["stats"] = await ok(client, "library_stats")
            seen["ids"] = (door["id"], key["id"])
            before = contents(path)
            bad = [await client.call_tool(name, arguments) for name, arguments in [
                ("get_skill", {"id": "nope"}), ("search_skills", {"query": "door", "where": {"$bogus": 1}}),
                ("search_skills", {"query": "door", "k": 0}), ("record_outcome", {"id": door["id"], "success": "1"}),
                ("update_skill", {"id": door["id"], "reason": "r", "actions": 7}),
                ("rollback_skill", {"id": door["id"], "version": 99, "reason": "r"}),
            ]]
            seen["errors"] = [error_text(result) for result in bad]
            assert contents(path) == before

    anyio.run(main)
    door, key = seen["ids"]
    assert seen["tools"] == sorted(READ_TOOLS + WRITE_TOOLS)
    assert seen["by text"][0] == door and seen["by state"] == [key] and seen["filtered"] == [key]
    assert seen["versions"] == (2, 3) and key not in seen["after deprecation"]
    assert seen["history"] == [(1, None, 3), (2, None, 0), (3, 1, 0)]
    assert seen["stats"]["embedder"]["name"] == "lexical" and seen["stats"]["total_skills"] == 2
    assert [m.split(":")[0] for m in seen["errors"]] == [
        "get_skill", "search_skills", "search_skills", "record_outcome", "update_skill", "rollback_skill"]
    with SkillStore.open(path, read_only=True) as store:  # what the tools did is on disk
        skill = store.get(door)
        assert (skill.version, skill.actions, skill.stats.successes, skill.stats.attempts) == (
            3, ["move_up", "open_door"], 2, 3)
        assert skill.stats.total_reward == 2.0 and store.get(key).status == "deprecated"
        assert [v.reason for v in store.history(door)] == [None, "shorter", "it misses the door"]
        assert store.embedder_identity is not None and store.embedder_identity["name"] == "lexical"


def test_a_read_only_server_lists_and_serves_only_reading_tools(tmp_path: Path) -> None:
    path, errlog = tmp_path / "library", tmp_path / "server.log"
    ids = make_library(path)
    before = contents(path)
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with session(path, "--read-only", errlog=errlog) as client:
            seen["tools"] = [tool.name for tool in (await client.list_tools()).tools]
            seen["found"] = (await ok(client, "search_skills", query="locked door", k=1))["skills"]
            refused = await client.call_tool("record_outcome", {"id": ids["open door"], "success": True})
            seen["refused"] = error_text(refused)

    anyio.run(main)
    assert seen["tools"] == list(READ_TOOLS)
    assert [s["id"] for s in seen["found"]] == [ids["unlock door"]]
    assert "record_outcome" in seen["refused"]
    assert contents(path) == before


def test_two_servers_and_the_command_line_write_one_library_at_once(tmp_path: Path) -> None:
    path = tmp_path / "library"
    ids = make_library(path)
    target, rounds, cli_rounds = ids["explore"], 15, 5
    seen: dict[str, Any] = {}

    async def server(label: str, success: bool) -> None:
        # a generous lock timeout: on a loaded machine a wait is slow, never wrong
        async with session(path, "--lock-timeout", "120", errlog=tmp_path / f"{label}.log") as client:
            added = await ok(client, "add_skill", name=f"skill of {label}", actions=[label])
            for _ in range(rounds):
                await ok(client, "record_outcome", id=target, success=success)
            seen[label] = added["id"]

    async def command_line() -> None:
        for _ in range(cli_rounds):
            result = await anyio.run_process(
                [sys.executable, "-m", "skillstore", "record", str(path), target, "--success"],
                env={**os.environ, **child_environment()}, check=False,
            )
            assert result.returncode == 0, result.stderr.decode()

    async def main() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(server, "first", True)
            group.start_soon(server, "second", False)
            group.start_soon(command_line)
        async with session(path, "--read-only", errlog=tmp_path / "reader.log") as client:
            seen["final"] = await ok(client, "get_skill", id=target)
            seen["both"] = [await ok(client, "get_skill", id=seen[label]) for label in ("first", "second")]

    anyio.run(main)
    stats = seen["final"]["stats"]
    assert (stats["successes"], stats["attempts"]) == (rounds + cli_rounds, 2 * rounds + cli_rounds)
    assert [s["name"] for s in seen["both"]] == ["skill of first", "skill of second"]
    with SkillStore.open(path, read_only=True) as store:
        assert store.get(target).stats.attempts == 2 * rounds + cli_rounds and len(store) == len(ids) + 2


def test_without_the_sdk_the_command_says_what_to_install(tmp_path: Path) -> None:
    code = "import sys; sys.modules['mcp'] = None; from skillstore.cli import main; main(['mcp', sys.argv[1]])"
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "library")], capture_output=True, text=True,
                            env={**os.environ, **child_environment()}, timeout=60)
    assert result.returncode == 1
    assert "pip install 'skillstore[mcp]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "library").exists()


def test_the_example_session_runs(tmp_path: Path) -> None:
    # the README's transcript is this script's output
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "mcp_session.py"), str(tmp_path / "skills")],
                            capture_output=True, text=True, env={**os.environ, **child_environment()}, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "tools: " + ", ".join(READ_TOOLS + WRITE_TOOLS)
    assert lines[-5:] == [
        '> search_skills {"query": "door", "where": {"room": {"$in": [3, 4]}}, "k": 0}',
        "error: search_skills: argument 'k': Input should be greater than or equal to 1",
        "",
        '> get_skill {"id": "no-such-skill"}',
        "error: get_skill: no skill with id 'no-such-skill'",
    ]
    with SkillStore.open(tmp_path / "skills", read_only=True) as store:
        assert sorted(s.name for s in store) == ["fetch key", "open locked door"]
