"""The SDK server in process, through the SDK's own client: the tools it lists, their input
schemas, compact answers, and one-line tool errors for every kind of bad call."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from mcp_helpers import SKILLS, answer, call_all, contents, error_text, list_tools, make_library, tools_for

from skillstore import LexicalEmbedder, MemoryBackend
from skillstore.mcp import READ_TOOLS, WRITE_TOOLS, LibraryTools, SkillServer


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "library"
    return path, make_library(path)


def test_the_tools_listed_with_their_schemas(library: tuple[Path, dict[str, str]]) -> None:
    path, _ = library
    with tools_for(path) as tools:
        listed = {tool.name: tool for tool in list_tools(SkillServer(tools))}
    assert set(listed) == set(READ_TOOLS + WRITE_TOOLS) == {
        "search_skills", "get_skill", "skill_history", "library_stats",
        "add_skill", "record_outcome", "update_skill", "rollback_skill", "deprecate_skill"}
    search = listed["search_skills"].input_schema
    assert set(search["properties"]) == {"query", "k", "state", "where"} and search.get("required", []) == []
    assert search["properties"]["k"]["minimum"] == 1 and search["properties"]["k"]["maximum"] == 50
    assert set(listed["add_skill"].input_schema["required"]) == {"name", "actions"}
    assert set(listed["update_skill"].input_schema["required"]) == {"id", "reason"}
    assert set(listed["rollback_skill"].input_schema["required"]) == {"id", "version", "reason"}
    assert set(listed["record_outcome"].input_schema["required"]) == {"id", "success"}
    for name, tool in listed.items():
        assert tool.description and tool.description.strip()
        assert tool.annotations is not None and tool.annotations.read_only_hint is (name in READ_TOOLS)
    with tools_for(path, read_only=True) as tools:
        assert [tool.name for tool in list_tools(SkillServer(tools))] == list(READ_TOOLS)


def test_answers_are_compact_json_matching_the_structured_content(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools:
        results = call_all(SkillServer(tools), [
            ("search_skills", {"query": "walk to the door", "k": 2}),
            ("get_skill", {"id": ids["open door"]}),
            ("record_outcome", {"id": ids["open door"], "success": True, "reward": 1}),
            ("library_stats", {}),
        ])
    found, full, recorded, figures = (answer(result) for result in results)
    assert [s["name"] for s in found["skills"]] == ["open door", "unlock door"]
    assert full["actions"] == SKILLS[0]["actions"] and full["preconditions"] == {"has_key": True}
    assert recorded["attempts"] == 1 and recorded["total_reward"] == 1.0
    assert figures["total_skills"] == len(SKILLS) and figures["total_uses"] == 1
    assert all("\n" not in result.content[0].text for result in results)


BAD_CALLS = [
    # (tool, arguments, words the message must hold)
    ("get_skill", {"id": "no-such-id"}, ["get_skill", "no skill with id 'no-such-id'"]),
    ("get_skill", {}, ["argument 'id'", "required"]),
    ("get_skill", {"id": 42}, ["argument 'id'", "string"]),
    ("get_skill", {"id": "OPEN", "version": 9}, ["no version 9"]),
    ("get_skill", {"id": "OPEN", "version": "2"}, ["argument 'version'"]),
    ("search_skills", {"query": "door", "k": 0}, ["argument 'k'", "greater than or equal to 1"]),
    ("search_skills", {"query": "door", "k": 51}, ["argument 'k'", "less than or equal to 50"]),
    ("search_skills", {"query": "door", "k": 2.5}, ["argument 'k'"]),
    ("search_skills", {"query": "door", "k": True}, ["argument 'k'"]),
    ("search_skills", {"query": "door", "where": {"room": {"$near": 3}}}, ["$near"]),
    ("search_skills", {"query": "door", "where": [1, 2]}, ["argument 'where'"]),
    ("search_skills", {"query": "door", "state": "has_key"}, ["argument 'state'"]),
    ("search_skills", {"query": "door", "filter": {"room": 3}}, ["takes no argument 'filter'", "where"]),
    ("search_skills", {"query": ["door"]}, ["argument 'query'"]),
    ("record_outcome", {"id": "OPEN", "success": "yes"}, ["argument 'success'", "boolean"]),
    ("record_outcome", {"id": "OPEN"}, ["argument 'success'", "required"]),
    ("record_outcome", {"id": "OPEN", "success": True, "reward": "lots"}, ["argument 'reward'"]),
    ("record_outcome", {"id": "OPEN", "success": True, "reward": "1.5"}, ["argument 'reward'"]),
    ("record_outcome", {"id": "OPEN", "success": True, "reward": True}, ["argument 'reward'"]),
    ("record_outcome", {"id": "OPEN", "success": True, "reward": 1e300}, ["reward"]),
    ("record_outcome", {"id": "no-such-id", "success": True}, ["no skill with id"]),
    ("update_skill", {"id": "OPEN", "reason": "nothing given"}, ["give at least one field"]),
    ("update_skill", {"id": "OPEN", "name": "x"}, ["argument 'reason'", "required"]),
    ("update_skill", {"id": "OPEN", "reason": "", "name": "x"}, ["argument 'reason'"]),
    ("update_skill", {"id": "OPEN", "reason": "r", "embedding": [1, 0]}, ["takes no argument 'embedding'"]),
    ("rollback_skill", {"id": "OPEN", "version": 1, "reason": "r"}, ["current"]),
    ("rollback_skill", {"id": "OPEN", "version": 0, "reason": "r"}, ["argument 'version'"]),
    ("rollback_skill", {"id": "OPEN", "version": 4, "reason": "r"}, ["no version 4"]),
    ("deprecate_skill", {"id": "no-such-id", "reason": "r"}, ["no skill with id"]),
    ("deprecate_skill", {"id": "OPEN"}, ["argument 'reason'", "required"]),
    ("add_skill", {"name": "x", "actions": 5}, ["argument 'actions'", "list", "string"]),
    ("add_skill", {"actions": ["x"]}, ["argument 'name'", "required"]),
    ("add_skill", {"name": "x", "actions": ["y"], "status": "deprecated"}, ["argument 'status'"]),
    ("add_skill", {"name": "x", "actions": ["y"], "preconditions": {"k": {"nested": {"deeper": [1, {"a": None}]}}},
     "metadata": {"big": "x" * 10}, "embedding": [0.1]}, ["takes no argument 'embedding'"]),
    ("skill_history", {"id": "no-such-id"}, ["no skill with id"]),
    ("library_stats", {"verbose": True}, ["takes no argument 'verbose'", "no arguments"]),
    ("no_such_tool", {}, ["no_such_tool"]),
]


@pytest.mark.parametrize("read_only", [False, True])
def test_bad_calls_get_one_line_tool_errors_and_change_nothing(
    library: tuple[Path, dict[str, str]], read_only: bool
) -> None:
    path, ids = library
    before = contents(path)
    calls = [(name, {k: ids["open door"] if v == "OPEN" else v for k, v in arguments.items()})
             for name, arguments, _ in BAD_CALLS]
    with tools_for(path, read_only=read_only) as tools:
        results = call_all(SkillServer(tools), calls)
    for (name, arguments, words), result in zip(BAD_CALLS, results, strict=True):
        message = error_text(result)
        expected = ["Unknown tool"] if read_only and name in WRITE_TOOLS else words
        for word in expected:
            assert word in message, (name, arguments, message)
    assert contents(path) == before


def test_a_busy_library_is_a_tool_error_and_the_next_call_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "library"
    ids = make_library(path)
    with tools_for(path, lock_timeout=0.05) as tools:
        server = SkillServer(tools)
        holder = os.open(path, os.O_RDONLY | os.O_DIRECTORY)  # the writer lock: flock on the store's directory
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)
            busy, read = call_all(server, [("record_outcome", {"id": ids["explore"], "success": True}),
                                           ("get_skill", {"id": ids["explore"]})])
        finally:
            os.close(holder)
        done = call_all(server, [("record_outcome", {"id": ids["explore"], "success": True})])[0]
    assert "library busy" in error_text(busy) and answer(read)["stats"]["attempts"] == 0  # reads need no lock
    assert answer(done)["attempts"] == 1


class BrokenLibrary(MemoryBackend):
    """A library whose search fails in a way no tool anticipates."""

    def search(self, *args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("internal detail /secret/path")


def test_a_crash_is_a_tool_error_that_shows_nothing_of_it() -> None:
    library = BrokenLibrary(embedder=LexicalEmbedder(dim=16))
    tools = LibraryTools(library)
    added, crashed, read = call_all(SkillServer(tools), [
        ("add_skill", {"name": "a", "actions": ["b"]}),
        ("search_skills", {"query": "a"}),
        ("get_skill", {"id": "x"}),
    ])
    assert answer(added)["merged"] is False
    assert error_text(crashed) == "Error executing tool search_skills"  # the SDK's words: nothing of the crash
    assert "no skill with id 'x'" in error_text(read)  # the server goes on serving


def test_tools_over_a_memory_backend() -> None:
    tools = LibraryTools(MemoryBackend(embedder=LexicalEmbedder(dim=16)))  # no refresh: nothing to catch up with
    first, second = (tools.add_skill(name, [name]) for name in ("jump high", "swim far"))
    tools.record_outcome(second["id"], True)
    assert [s["id"] for s in tools.search_skills("swim", 1)["skills"]] == [second["id"]]
    assert [s["id"] for s in tools.search_skills("", 2)["skills"]] == [second["id"], first["id"]]
    assert tools.library_stats()["total_skills"] == 2
