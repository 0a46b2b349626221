"""The server's tools as plain methods (LibraryTools), in process: what each returns, checked
against the library's own API and brute force, and what each refuses."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mcp_helpers import EMBEDDER_DIM, LONG_DESCRIPTION, SKILLS, contents, make_library, tools_for

from skillstore import (
    EmbedderMismatchError,
    InvalidInputError,
    LexicalEmbedder,
    Skill,
    SkillNotFoundError,
    SkillStore,
    StoreNotFoundError,
    VersionNotFoundError,
)
from skillstore.embedders import skill_text
from skillstore.mcp import DESCRIPTION_CHARS, NAME_CHARS, READ_TOOLS, WRITE_TOOLS, LibraryTools, one_line

SUMMARY_KEYS = {"id", "name", "description", "version", "status", "successes", "attempts", "success_rate", "score"}


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "library"
    return path, make_library(path)


def test_a_text_search_gives_the_library_ranking_as_short_summaries(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools, SkillStore.open(path, read_only=True, embedder="recorded") as store:
        for query, k in (("door", 3), ("the key", 5), ("turn left at every wall", 1)):
            found = tools.search_skills(query, k)
            expected = store.search(None, k, text=query)
            assert [s["id"] for s in found["skills"]] == [m.id for m in expected]
            for summary, match in zip(found["skills"], expected, strict=True):
                assert set(summary) == SUMMARY_KEYS
                assert summary["score"] == pytest.approx(match.score, abs=1e-4)
                assert summary["name"] == match.skill.name and summary["version"] == match.skill.version
        assert [s["name"] for s in tools.search_skills("locked door", 2)["skills"]][0] == "unlock door"


def test_search_by_state_and_filter_keeps_exactly_the_skills_that_fit(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools:
        for _ in range(3):
            tools.record_outcome(ids["unlock door"], True)
        tools.record_outcome(ids["open door"], False)
        every = {fields["name"]: fields for fields in SKILLS}

        def applies(name: str, state: dict[str, object]) -> bool:  # brute force, by the documented rule
            return all(state.get(key, object()) == value for key, value in (every[name]["preconditions"] or {}).items())

        for state in ({"has_key": True}, {"has_key": False}, {}, {"door": "open"}):
            found = tools.search_skills("", k=10, state=state)["skills"]
            assert {s["name"] for s in found} == {name for name in every if applies(name, state)}
            if state == {"has_key": True}:  # ranked by how reliably they succeed: 3 of 3 first
                assert found[0]["name"] == "unlock door"
                assert found[0]["successes"] == 3 and found[0]["attempts"] == 3 and found[0]["success_rate"] == 1.0
        rooms = tools.search_skills("door", k=10, where={"room": 3})["skills"]
        assert {s["name"] for s in rooms} == {"open door", "unlock door"}
        ops = tools.search_skills("", k=10, where={"$or": [{"owner": "ops"}, {"$skill": {"attempts": {"$gte": 3}}}]})
        assert {s["name"] for s in ops["skills"]} == {"fetch key", "unlock door"}


def test_summaries_cut_descriptions_to_one_line_and_stay_small(library: tuple[Path, dict[str, str]]) -> None:
    path, _ = library
    with tools_for(path) as tools:
        found = tools.search_skills("rooms wall floor", 1)["skills"]
    assert found[0]["name"] == "explore"
    assert found[0]["description"] == LONG_DESCRIPTION.splitlines()[0][: DESCRIPTION_CHARS - 1].rstrip() + "…"
    assert len(found[0]["description"]) <= DESCRIPTION_CHARS
    assert len(json.dumps(found[0])) < 400  # about a hundred tokens


def test_one_line() -> None:
    assert one_line("short") == "short"
    assert one_line("  two\nlines ") == "two…"
    assert one_line("x" * 200) == "x" * (DESCRIPTION_CHARS - 1) + "…"
    assert one_line("") == "" and one_line("\n\n") == ""
    assert one_line("a" * DESCRIPTION_CHARS) == "a" * DESCRIPTION_CHARS


def test_get_skill_gives_the_full_content_without_the_embedding(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools:
        tools.record_outcome(ids["explore"], True, reward=2.5)
        tools.update_skill(ids["explore"], reason="shorter", actions=["forward"])
        full = tools.get_skill(ids["explore"])
        first = tools.get_skill(ids["explore"], version=1)
    with SkillStore.open(path, read_only=True) as store:
        skill = store.get(ids["explore"])
    assert "embedding" not in full
    assert full["description"] == LONG_DESCRIPTION and full["actions"] == ["forward"]
    assert full["version"] == full["current_version"] == 2 and full["status"] == "active"
    assert full["stats"]["successes"] == 1 and full["stats"]["attempts"] == 1 and full["stats"]["total_reward"] == 2.5
    assert full["preconditions"] == {} and full["metadata"] == {"room": 7}
    assert full["created_at"].endswith("Z") and full["stats"]["last_used_at"] is not None
    assert skill.stats.attempts == 1 and skill.version == 2
    assert first["actions"] == SKILLS[2]["actions"] and first["version"] == 1 and first["current_version"] == 2


def test_outcomes_versions_rollback_and_deprecation(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    key = ids["fetch key"]
    with tools_for(path) as tools:
        for success in (True, True, False):
            recorded = tools.record_outcome(key, success)
        assert recorded == {"id": key, "successes": 2, "attempts": 3, "success_rate": 0.6667, "total_reward": 0.0}
        updated = tools.update_skill(key, reason="shorter route", actions=["pickup_key"], description="just pick it up")
        assert updated == {"id": key, "version": 2, "previous_version": 1,
                           "changed": ["actions", "embedding", "description"]}  # a new text, a new embedding
        assert tools.update_skill(key, reason="same again", actions=["pickup_key"])["version"] == 2  # no change
        tools.record_outcome(key, False)
        rolled = tools.rollback_skill(key, 1, reason="the short route fails")
        assert rolled == {"id": key, "version": 3, "rollback_of": 1}
        assert tools.deprecate_skill(ids["explore"], reason="replaced") == {
            "id": ids["explore"], "status": "deprecated", "version": 1}
        assert "explore" not in {s["name"] for s in tools.search_skills("", k=10)["skills"]}
        assert "explore" not in {s["name"] for s in tools.search_skills("rooms wall floor", k=10)["skills"]}
        assert tools.get_skill(ids["explore"])["status"] == "deprecated"
        history = tools.skill_history(key)
        gone = tools.skill_history(ids["explore"])
    assert history["current_version"] == 3 and history["status"] == "active"
    lineage = [(v["version"], v["parent"], v["rollback_of"], v["successes"], v["attempts"])
               for v in history["versions"]]
    assert lineage == [(1, None, None, 2, 3), (2, 1, None, 0, 1), (3, 2, 1, 0, 0)]
    assert history["versions"][1]["reason"] == "shorter route"
    assert history["versions"][1]["changed"] == ["actions", "embedding", "description"]
    assert all(v["created_at"].endswith("Z") for v in history["versions"])
    assert [(e["status"], e["reason"]) for e in gone["versions"][0]["status_events"]] == [("deprecated", "replaced")]
    with SkillStore.open(path, read_only=True) as store:  # what the tools said is what the library holds
        skill = store.get(key)
        assert (skill.version, skill.actions, skill.stats.attempts) == (3, SKILLS[1]["actions"], 4)
        assert store.history(key)[-1].rollback_of == 1 and store.get(ids["explore"]).status == "deprecated"


def test_add_skill_embeds_with_the_library_embedder(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools:
        added = tools.add_skill("climb stairs", ["up", "up"], description="go one floor up",
                                preconditions={"at": "stairs"}, metadata={"room": 9}, status="candidate")
        assert added == {"id": added["id"], "merged": False, "version": 1, "status": "candidate"}
        found = tools.search_skills("floor up", 1)["skills"]
    assert found[0]["id"] == added["id"]
    with SkillStore.open(path, read_only=True) as store:
        skill = store.get(added["id"])
        text = skill_text("climb stairs", "go one floor up", ["up", "up"])
        expected = LexicalEmbedder(dim=EMBEDDER_DIM).embed([text])
        assert np.allclose(skill.embedding, expected[0], atol=1e-6)
        assert (skill.preconditions, skill.metadata, skill.status) == ({"at": "stairs"}, {"room": 9}, "candidate")


def test_add_skill_says_when_it_merged_into_an_existing_skill(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path, dedup_threshold=0.9) as tools:
        again = tools.add_skill("open door", ["move_up", "open_door"], description="walk to the door and open it",
                                preconditions={"has_key": True})
        assert again["merged"] is True and again["id"] == ids["open door"]
        assert again["merged_into"] == {"name": "open door", "observations": 2}
        elsewhere = tools.add_skill("open door", ["move_up", "open_door"], description="walk to the door and open it",
                                    preconditions={"has_key": False})  # other preconditions: never merged
        assert elsewhere["merged"] is False and elsewhere["id"] not in ids.values()
    assert len(contents(path)) == len(SKILLS) + 1


def test_a_library_without_an_embedder_says_how_to_give_it_one(tmp_path: Path) -> None:
    path = tmp_path / "plain"
    ids = make_library(path, embedder=False)
    before = contents(path)
    with tools_for(path) as tools:
        found = tools.search_skills("locked door", 1)["skills"]  # text search needs no embedder
        assert [s["name"] for s in found] == ["unlock door"]
        with pytest.raises(EmbedderMismatchError, match=r"skillstore reembed .* --embedder lexical"):
            tools.add_skill("new", ["x"])
        tools.record_outcome(ids["explore"], True)
    assert len(contents(path)) == len(before)


def test_bad_calls_raise_typed_errors_and_change_nothing(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    key = ids["open door"]
    before = contents(path)
    with tools_for(path) as tools:
        for call, error in [
            (lambda: tools.get_skill("no-such-id"), SkillNotFoundError),
            (lambda: tools.get_skill(key, version=7), VersionNotFoundError),
            (lambda: tools.record_outcome("no-such-id", True), SkillNotFoundError),
            (lambda: tools.record_outcome(key, True, reward=math.inf), InvalidInputError),
            (lambda: tools.update_skill(key, reason="nothing"), InvalidInputError),
            (lambda: tools.update_skill("no-such-id", reason="r", name="x"), SkillNotFoundError),
            (lambda: tools.rollback_skill(key, 1, reason="already there"), InvalidInputError),
            (lambda: tools.rollback_skill(key, 5, reason="never made"), VersionNotFoundError),
            (lambda: tools.deprecate_skill("no-such-id", reason="r"), SkillNotFoundError),
            (lambda: tools.search_skills("door", where={"room": {"$near": 3}}), InvalidInputError),
            (lambda: tools.search_skills("door", k=0), InvalidInputError),
            (lambda: tools.skill_history("no-such-id"), SkillNotFoundError),
            (lambda: tools.add_skill("", ["x"]), InvalidInputError),
        ]:
            with pytest.raises(error):
                call()
    assert contents(path) == before


def test_a_read_only_library_serves_only_the_reading_tools(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    before = contents(path)
    with tools_for(path, read_only=True) as tools:
        assert tools.tool_names == READ_TOOLS
        assert tools.search_skills("door", 1)["skills"] and tools.library_stats()["read_only"] is True
        with pytest.raises(InvalidInputError, match="read-only"):
            tools.record_outcome(ids["open door"], True)
    assert contents(path) == before
    with tools_for(path) as tools:
        assert tools.tool_names == READ_TOOLS + WRITE_TOOLS


def test_open_creates_a_library_with_the_embedder_named(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        tools_for(tmp_path / "none", read_only=True)
    assert not (tmp_path / "none").exists()
    with tools_for(tmp_path / "new") as tools:  # the default: lexical
        assert tools.library_stats()["embedder"]["name"] == "lexical"
        tools.add_skill("a skill", ["step"])
    with tools_for(tmp_path / "small", embedder="lexical:dim=32") as tools:
        assert tools.library_stats()["embedder"]["dim"] == 32 and tools.library_stats()["dim"] == 32
    with pytest.raises(EmbedderMismatchError):
        tools_for(tmp_path / "small", embedder="lexical:dim=48")
    with tools_for(tmp_path / "small") as tools:  # reopened with the embedder it recorded
        assert tools.add_skill("b", ["c"])["merged"] is False
    with pytest.raises(InvalidInputError, match="unknown embedder"):
        tools_for(tmp_path / "other", embedder="nonesuch")
    assert not (tmp_path / "other").exists()


def test_two_servers_on_one_directory_see_each_other(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as first, tools_for(path) as second, tools_for(path, read_only=True) as reader:
        added = first.add_skill("jump", ["jump"], description="hop over the gap")
        assert second.get_skill(added["id"])["name"] == "jump"
        second.record_outcome(added["id"], True)
        first.record_outcome(added["id"], False)
        assert reader.search_skills("hop gap", 1)["skills"][0]["attempts"] == 2
        assert first.get_skill(added["id"])["stats"]["successes"] == 1
        second.deprecate_skill(added["id"], reason="r")
        assert added["id"] not in {s["id"] for s in reader.search_skills("hop gap", 10)["skills"]}


def test_a_library_re_embedded_by_another_process_is_opened_again(library: tuple[Path, dict[str, str]]) -> None:
    path, ids = library
    with tools_for(path) as tools:
        assert tools.library_stats()["dim"] == EMBEDDER_DIM
        with SkillStore.open(path, embedder="recorded") as other:
            other.reembed(LexicalEmbedder(dim=32))
        assert tools.library_stats()["embedder"]["dim"] == 32 and tools.library_stats()["dim"] == 32
        added = tools.add_skill("swim", ["paddle"], description="cross the water")
        assert tools.search_skills("cross water", 1)["skills"][0]["id"] == added["id"]
    with SkillStore.open(path, read_only=True) as store:
        assert len(store.get(added["id"]).embedding) == 32 and len(store) == len(ids) + 1


def test_a_postgresql_library(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    with tools_for(url) as tools, tools_for(url) as other, tools_for(url, read_only=True) as reader:
        assert tools.library_stats()["embedder"]["name"] == "lexical"  # created by the first open
        door = tools.add_skill("open door", ["toggle"], description="open the door", preconditions={"has_key": True})
        key = other.add_skill("fetch key", ["pickup"], description="pick up the key", preconditions={"has_key": False})
        other.record_outcome(door["id"], True)
        tools.update_skill(door["id"], reason="faster", actions=["push"])
        tools.rollback_skill(door["id"], 1, reason="pushing fails")
        tools.deprecate_skill(key["id"], reason="no keys")
        found = reader.search_skills("door", 5)["skills"]
        assert [s["id"] for s in found] == [door["id"]] and found[0]["attempts"] == 1 and found[0]["version"] == 3
        assert reader.search_skills("", 5, state={"has_key": False})["skills"] == []
        assert [v["rollback_of"] for v in reader.skill_history(door["id"])["versions"]] == [None, None, 1]
        assert reader.get_skill(door["id"])["actions"] == ["toggle"]
        with pytest.raises(SkillNotFoundError):
            reader.get_skill("no-such-id")


def test_a_long_name_is_cut_in_summaries_and_given_whole_by_get_skill(tmp_path: Path) -> None:
    """A summary stays under 400 characters of JSON whatever the skill's name (the store takes
    names of up to 4096 characters); get_skill gives the name whole."""
    path = tmp_path / "library"
    long_name = "open the door " + "and then the next one " * 180
    with tools_for(path) as tools:
        skill_id = tools.add_skill(long_name, ["toggle"], "walk through every door")["id"]
        tools.add_skill("two\nlines", ["toggle"], "a door with a name of two lines")
        found = {s["id"]: s for s in tools.search_skills("door", 5)["skills"]}
        assert found[skill_id]["name"] == one_line(long_name, NAME_CHARS)
        assert found[skill_id]["name"].endswith("…") and len(found[skill_id]["name"]) == NAME_CHARS
        assert {s["name"] for s in found.values()} == {one_line(long_name, NAME_CHARS), "two…"}
        assert all(len(json.dumps(summary)) < 400 for summary in found.values())
        assert tools.get_skill(skill_id)["name"] == long_name


def test_a_new_library_answers_a_search_with_no_skill(tmp_path: Path) -> None:
    """The first call an agent makes to a library the server just created finds nothing, and
    says so; so does a filter that keeps no skill."""
    with tools_for(tmp_path / "new") as tools:
        assert tools.search_skills("open the door", 5)["skills"] == []
        tools.add_skill("open door", ["toggle"], "walk to the door and open it", metadata={"room": 3})
        assert tools.search_skills("door", 5, where={"room": 4})["skills"] == []
        assert [s["name"] for s in tools.search_skills("door", 5)["skills"]] == ["open door"]


class OwnModel(LexicalEmbedder):
    """An embedder of the user's own: no installation can build it from its recorded name."""

    name = "my-model"


def test_a_library_whose_embedder_cannot_be_built_here_is_served_by_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "own"
    with SkillStore.open(path, embedder=OwnModel(dim=32)) as store:
        skill_id = store.add(Skill("unlock door", ["toggle"], None, description="use the key on the locked door"))
    for read_only in (True, False):
        with LibraryTools.open(path, read_only=read_only) as tools:
            assert "my-model" in capsys.readouterr().err
            found = tools.search_skills("locked door", 1)
            assert [s["name"] for s in found["skills"]] == ["unlock door"] and found["ranked_by"] == "words (BM25)"
            if not read_only:
                before = contents(path)
                for call in (lambda: tools.add_skill("fetch key", ["pickup"]),
                             lambda: tools.update_skill(skill_id, "reworded", description="turn the key")):
                    with pytest.raises(EmbedderMismatchError, match="cannot build"):
                        call()
                assert contents(path) == before
                assert tools.record_outcome(skill_id, True)["attempts"] == 1  # what needs no embedding still works
