"""Every command through click's CliRunner, on a small library with unicode, bytes and tuples."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from cli_helpers import DIM, LIBRARY, contents, ok, run

from skillstore import SkillStore, peek
from skillstore.cli.tagged_json import decode


def listed_names(store_path: Path, *args: str) -> list[str]:
    return [row["name"] for row in json.loads(ok("list", store_path, "--json", *args).stdout)]


# -- init and info ----------------------------------------------------------------------


def test_init_creates_an_empty_store(tmp_path: Path) -> None:
    result = ok("init", tmp_path / "new", "--dim", 16)
    assert "dim 16" in result.stdout
    with SkillStore.open(tmp_path / "new", read_only=True) as store:
        assert (store.dim, len(store), store.index_kind) == (16, 0, "flat")


def test_init_with_another_index_kind(tmp_path: Path) -> None:
    ok("init", tmp_path / "new", "--dim", 8, "--index", "hnsw")
    assert peek(tmp_path / "new").index_kind == "hnsw"


def test_init_refuses_an_existing_store(store_path: Path) -> None:
    before = contents(store_path)
    result = run("init", store_path, "--dim", DIM)
    assert result.exit_code == 1
    assert "already holds a skill store" in result.stderr
    assert contents(store_path) == before


def test_info_table_and_json(store_path: Path) -> None:
    table = ok("info", store_path).stdout
    for label in ("format version", "dim", "index", "skills", "generation", "log", "on disk"):
        assert label in table
    facts = json.loads(ok("info", store_path, "--json").stdout)
    assert facts["dim"] == DIM
    assert facts["skills"] == len(LIBRARY)
    assert facts["generation"] == 1
    assert facts["log_frames"] > 0
    assert facts["format_version"] == 3
    rows = list(csv.reader(io.StringIO(ok("info", store_path, "--csv").stdout)))
    assert rows[0] == ["key", "value"] and ["dim", str(DIM)] in rows


# -- list ---------------------------------------------------------------------------------


def test_list_table_shows_every_skill(store_path: Path) -> None:
    out = ok("list", store_path).stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "USES"]
    assert len(lines) == 1 + len(LIBRARY)
    assert "鍵を拾う ☃" in out
    assert "agent_pos=[2,2]" in out and "has_key=true" in out


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created", ["open door", "鍵を拾う ☃", "explore", "go right"]),
        ("name", ["explore", "go right", "open door", "鍵を拾う ☃"]),
        ("success", ["open door", "鍵を拾う ☃", "go right", "explore"]),
        ("uses", ["open door", "鍵を拾う ☃", "go right", "explore"]),
    ],
)
def test_list_sorts(store_path: Path, sort: str, expected: list[str]) -> None:
    assert listed_names(store_path, "--sort", sort) == expected
    assert listed_names(store_path, "--sort", sort, "--reverse") == expected[::-1]


def test_list_limit_and_offset(store_path: Path) -> None:
    assert listed_names(store_path, "--sort", "name", "--limit", "2") == ["explore", "go right"]
    assert listed_names(store_path, "--sort", "name", "--limit", "2", "--offset", "1") == [
        "go right",
        "open door",
    ]
    assert listed_names(store_path, "--offset", "10") == []


def test_list_where_filters_metadata(store_path: Path) -> None:
    assert sorted(listed_names(store_path, "--where", "room=3")) == ["open door", "鍵を拾う ☃"]
    assert listed_names(store_path, "--where", "room=3", "--where", "source=episode 12") == ["open door"]
    assert listed_names(store_path, "--where", "room='3'") == []  # a quoted 3 is a string


def test_list_applicable_uses_precondition_rules(store_path: Path) -> None:
    names = listed_names(store_path, "--applicable", "has_key=true", "--applicable", "agent_pos=[2,2]")
    assert sorted(names) == ["explore", "open door"]  # explore has no preconditions
    names = listed_names(store_path, "--applicable", "agent_pos=(0, 1)")
    assert sorted(names) == ["explore", "go right"]
    # a key missing from the state does not match
    assert listed_names(store_path, "--applicable", "agent_pos=[2,2]") == ["explore"]


def test_list_json_keeps_every_value(store_path: Path) -> None:
    rows = {row["name"]: row for row in json.loads(ok("list", store_path, "--json").stdout)}
    key = decode(rows["鍵を拾う ☃"])
    assert key["actions"] == [b"\x00\xff\x10", {"pickup": [1, 2]}]
    assert key["preconditions"] == {"has_key": False, "agent_pos": (1, 1)}
    assert key["metadata"] == {"room": 3, "blob": b"\x01\x02"}
    assert (key["attempts"], key["successes"], key["success_rate"]) == (2, 1, 0.5)
    assert "embedding" not in key


def test_list_csv(store_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(ok("list", store_path, "--csv", "--sort", "name").stdout)))
    assert [row["name"] for row in rows] == ["explore", "go right", "open door", "鍵を拾う ☃"]
    assert rows[3]["description"] == "pick up the key\nthen stop"
    assert decode(json.loads(rows[2]["preconditions"])) == {"has_key": True, "agent_pos": (2, 2)}


def test_list_empty_store(tmp_path: Path) -> None:
    ok("init", tmp_path / "empty", "--dim", 3)
    assert ok("list", tmp_path / "empty").stdout == ""
    assert json.loads(ok("list", tmp_path / "empty", "--json").stdout) == []
    assert json.loads(ok("list", tmp_path / "empty", "--json", "--where", "a=1").stdout) == []


# -- show ---------------------------------------------------------------------------------


def test_show_by_id_and_by_name(store_path: Path, ids: dict[str, str]) -> None:
    by_id = ok("show", store_path, ids["open door"]).stdout
    by_name = ok("show", store_path, "open door").stdout
    assert by_id == by_name
    for text in ("walk to the door", "agent_pos=[2,2]", "attempts", "0.750", "room=3", "created"):
        assert text in by_id
    assert "embedding" not in by_id


def test_show_embedding_only_when_asked(store_path: Path, ids: dict[str, str]) -> None:
    assert "embedding" in ok("show", store_path, ids["explore"], "--embedding").stdout
    record = json.loads(ok("show", store_path, ids["explore"], "--json").stdout)
    assert "embedding" not in record
    record = json.loads(ok("show", store_path, ids["explore"], "--json", "--embedding").stdout)
    with SkillStore.open(store_path, read_only=True) as store:
        assert record["embedding"] == store.get(ids["explore"]).embedding.tolist()


def test_show_json_has_every_field(store_path: Path, ids: dict[str, str]) -> None:
    record = decode(json.loads(ok("show", store_path, "鍵を拾う ☃", "--json").stdout))
    assert record["id"] == ids["鍵を拾う ☃"]
    assert record["actions"] == [b"\x00\xff\x10", {"pickup": [1, 2]}]
    assert record["preconditions"] == {"has_key": False, "agent_pos": (1, 1)}
    assert record["stats"]["attempts"] == 2 and record["stats"]["success_rate"] == 0.5
    assert record["stats"]["total_reward"] == 0.75
    assert {"created_at", "updated_at", "provenance", "description", "metadata"} <= set(record)


# -- search -------------------------------------------------------------------------------


def searched(store_path: Path, *args: str) -> list[dict[str, object]]:
    return json.loads(ok("search", store_path, *args, "--json").stdout)  # type: ignore[no-any-return]


def test_search_by_vector(store_path: Path) -> None:
    results = searched(store_path, "--vector", "[1, 0.1, 0, 0]", "-k", "2")
    assert [r["name"] for r in results] == ["open door", "go right"]
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-6)
    assert [r["rank"] for r in results] == [1, 2]
    table = ok("search", store_path, "--vector", "[1, 0.1, 0, 0]", "-k", "2").stdout
    assert table.splitlines()[0].split()[:3] == ["RANK", "SCORE", "ID"]


def test_search_with_state_and_where(store_path: Path) -> None:
    state = ["--state", "has_key=true", "--state", "agent_pos=[2,2]"]
    assert [r["name"] for r in searched(store_path, "--vector", "[0, 1, 0, 0]", *state)] == [
        "open door",
        "explore",
    ]
    assert [r["name"] for r in searched(store_path, "--vector", "[0, 1, 0, 0]", "--where", "room=1")] == [
        "explore"
    ]


def test_search_like_leaves_the_skill_out(store_path: Path, ids: dict[str, str]) -> None:
    results = searched(store_path, "--like", ids["open door"], "-k", "2")
    assert [r["name"] for r in results] == ["go right", "鍵を拾う ☃"]


def test_search_rank_modes_and_min_score(store_path: Path) -> None:
    by_success = searched(store_path, "--vector", "[0, 0, 1, 0]", "--rank", "success", "-k", "4")
    assert [r["name"] for r in by_success][:2] == ["open door", "鍵を拾う ☃"]
    assert by_success[0]["score"] == 0.75
    blend = searched(store_path, "--vector", "[0, 0, 1, 0]", "--rank", "blend", "-k", "1")
    assert blend[0]["name"] == "explore"
    assert searched(store_path, "--vector", "[0, 0, 1, 0]", "--min-score", "0.99") == []


def test_search_csv(store_path: Path) -> None:
    rows = list(
        csv.DictReader(io.StringIO(ok("search", store_path, "--vector", "[0,0,0,1]", "--csv").stdout))
    )
    assert rows[0]["name"] == "go right" and float(rows[0]["score"]) > 0.9


# -- stats and plot -------------------------------------------------------------------------


def test_stats(store_path: Path) -> None:
    figures = json.loads(ok("stats", store_path, "--json").stdout)
    assert figures["total_skills"] == 4
    assert figures["total_uses"] == 7
    assert figures["total_successes"] == 4
    assert "total_uses" in ok("stats", store_path).stdout


def test_plot_writes_a_png(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "library.png"
    ok("plot", store_path, "-o", out)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("count", [0, 1])
def test_plot_small_libraries(tmp_path: Path, count: int) -> None:
    from cli_helpers import build_library

    build_library(tmp_path / "small", LIBRARY[:count])
    ok("plot", tmp_path / "small", "-o", tmp_path / "small.svg")
    assert b"<svg" in (tmp_path / "small.svg").read_bytes()[:500]


# -- export, import -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "msgpack", "csv"])
def test_export_import_round_trip(store_path: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"skills.{fmt}"
    result = ok("export", store_path, "-o", out)
    assert f"Exported {len(LIBRARY)} skills" in result.stderr
    copy = tmp_path / "copy"
    assert "4 added" in ok("import", copy, out).stdout
    assert [r["name"] for r in searched(copy, "--vector", "[1, 0.1, 0, 0]", "-k", "4")] == [
        r["name"] for r in searched(store_path, "--vector", "[1, 0.1, 0, 0]", "-k", "4")
    ]
    original = {r["name"]: r for r in json.loads(ok("list", store_path, "--json").stdout)}
    imported = {r["name"]: r for r in json.loads(ok("list", copy, "--json").stdout)}
    for name, row in original.items():
        for field in (
            "actions",
            "preconditions",
            "metadata",
            "description",
            "attempts",
            "successes",
            "failures",
            "total_reward",
        ):
            assert imported[name][field] == row[field], (name, field)


def test_export_to_stdout_and_import_from_stdin(store_path: Path, tmp_path: Path) -> None:
    exported = ok("export", store_path, "--format", "msgpack").stdout_bytes
    ok("import", tmp_path / "copy", "-", "--format", "msgpack", input=exported)
    assert len(skill_names_in(tmp_path / "copy")) == len(LIBRARY)


def skill_names_in(path: Path) -> list[str]:
    with SkillStore.open(path, read_only=True) as store:
        return [s.name for s in store]


def test_export_without_embeddings_is_readable_but_not_importable(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills.jsonl"
    ok("export", store_path, "-o", out, "--no-embeddings")
    assert '"embedding"' not in out.read_text(encoding="utf-8")
    result = run("import", tmp_path / "copy", out)
    assert result.exit_code == 1
    assert "without embeddings" in result.stderr
    assert not (tmp_path / "copy").exists()


@pytest.mark.parametrize(("mode", "attempts", "count"), [("skip", 4, 4), ("merge", 8, 4), ("replace", 4, 4)])
def test_import_conflicts(store_path: Path, tmp_path: Path, mode: str, attempts: int, count: int) -> None:
    out = tmp_path / "skills.jsonl"
    ok("export", store_path, "-o", out)
    result = ok("import", store_path, out, "--on-conflict", mode)
    assert {"skip": "4 skipped", "merge": "4 merged", "replace": "4 replaced"}[mode] in result.stdout
    rows = {r["name"]: r for r in json.loads(ok("list", store_path, "--json").stdout)}
    assert len(rows) == count
    assert rows["open door"]["attempts"] == attempts


# -- writes and maintenance ------------------------------------------------------------------


def test_delete(store_path: Path, ids: dict[str, str]) -> None:
    result = ok("delete", store_path, ids["explore"], ids["go right"])
    assert "Deleted 2 skills" in result.stdout
    assert sorted(skill_names_in(store_path)) == ["open door", "鍵を拾う ☃"]


def test_record(store_path: Path, ids: dict[str, str]) -> None:
    assert "1/1 successes" in ok("record", store_path, ids["explore"], "--success", "--reward", "2").stdout
    assert "1/2 successes" in ok("record", store_path, ids["explore"], "--failure").stdout
    with SkillStore.open(store_path, read_only=True) as store:
        stats = store.get(ids["explore"]).stats
    assert (stats.attempts, stats.successes, stats.total_reward) == (2, 1, 2.0)


def test_checkpoint(store_path: Path) -> None:
    assert "generation 1 -> 2" in ok("checkpoint", store_path).stdout
    facts = peek(store_path)
    assert (facts.generation, facts.log_frames, facts.skills) == (2, 0, len(LIBRARY))


def test_verify_ok(store_path: Path) -> None:
    assert ok("verify", store_path).stdout.startswith("ok:")
    report = json.loads(ok("verify", store_path, "--json").stdout)
    assert report["ok"] is True and report["problems"] == []


def test_verify_repair_drops_a_torn_tail(store_path: Path) -> None:
    log = store_path / "log-00000001"
    before = contents(store_path)
    with open(log, "ab") as handle:
        handle.write(b"\x00" * 7)  # a crash in the middle of an append
    assert "warning:" in ok("verify", store_path).stdout
    frames = peek(store_path).log_frames
    out = ok("verify", store_path, "--repair").stdout
    assert f"repaired: rewrote the store as generation 2 from generation 1 and {frames} frames of its log" in out
    assert "warning" not in out
    assert peek(store_path).torn_bytes == 0
    assert contents(store_path) == before


def test_version() -> None:
    assert "skillstore" in ok("--version").stdout
