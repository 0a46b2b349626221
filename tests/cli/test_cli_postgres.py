"""The CLI and the agent's CLI on a postgresql:// URL, against a real server (tests/conftest.py).

A library moves between a store directory and PostgreSQL by export and import, with
equal skills (ids, stats, timestamps, provenance), equal figures and equal search results.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import DIM, ok, run

from skillstore import Skill, SkillStore

QUERIES = [[1.0, 0.1, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.2, 0.3, 0.9, 0.1], [0.1, 0.0, 0.2, 1.0]]
STATES: list[dict[str, Any] | None] = [None, {"has_key": True, "agent_pos": (2, 2)}, {"agent_pos": [1, 1]}]
FIGURES = ("total_skills", "total_uses", "total_successes", "total_failures", "total_observations",
           "skills_never_used", "avg_success_rate", "overall_success_rate")


def skills_of(location: Path | str) -> list[Skill]:
    with SkillStore.open(location, read_only=True) as store:
        return sorted(store, key=lambda s: str(s.id))


def results_of(location: Path | str) -> list[list[tuple[str, float]]]:
    with SkillStore.open(location, read_only=True) as store:
        return [
            [(str(m.skill.id), round(m.score, 6)) for m in store.search(query, 4, state=state, rank=rank)]
            for query in QUERIES
            for state in STATES
            for rank in ("similarity", "success", "blend")
        ]


def figures_of(location: Path | str) -> dict[str, Any]:
    with SkillStore.open(location, read_only=True) as store:
        stats = store.stats()
    return {key: stats[key] for key in FIGURES}


def one_line_error(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error:") and "Traceback" not in result.output, result.output
    return str(lines[-1])


@pytest.fixture
def pg_copy(store_path: Path, pg_library: Callable[[], str], tmp_path: Path) -> str:
    """The CLI test library (cli_helpers.LIBRARY), exported from its directory and imported into PostgreSQL."""
    url = pg_library()
    ok("export", store_path, "-o", tmp_path / "library.msgpack")
    assert "4 added" in ok("import", url, tmp_path / "library.msgpack").output
    return url


def test_a_library_moves_to_postgresql_and_back_unchanged(
    store_path: Path, pg_copy: str, tmp_path: Path
) -> None:
    original = skills_of(store_path)
    assert any(s.stats.attempts for s in original)
    assert skills_of(pg_copy) == original  # ids, fields, embeddings, stats, timestamps, provenance
    assert figures_of(pg_copy) == figures_of(store_path)
    assert results_of(pg_copy) == results_of(store_path)
    # and back into a new directory, through another format
    ok("export", pg_copy, "-o", tmp_path / "back.jsonl")
    ok("import", tmp_path / "back", tmp_path / "back.jsonl")
    assert skills_of(tmp_path / "back") == original
    assert figures_of(tmp_path / "back") == figures_of(store_path)
    assert results_of(tmp_path / "back") == results_of(store_path)
    # the two exports of one library are the same file, whichever store held it
    ok("export", pg_copy, "-o", tmp_path / "again.msgpack")
    assert (tmp_path / "again.msgpack").read_bytes() == (tmp_path / "library.msgpack").read_bytes()


def test_import_conflicts_on_a_url(pg_copy: str, store_path: Path, tmp_path: Path) -> None:
    export = tmp_path / "library.msgpack"
    assert "4 skipped" in ok("import", pg_copy, export).output
    before = skills_of(pg_copy)
    assert "4 merged" in ok("import", pg_copy, export, "--on-conflict", "merge").output
    merged = {str(s.id): s.stats for s in skills_of(pg_copy)}
    for skill in before:
        assert merged[str(skill.id)].attempts == 2 * skill.stats.attempts
    assert "4 replaced" in ok("import", pg_copy, export, "--on-conflict", "replace").output
    assert skills_of(pg_copy) == skills_of(store_path)


def test_init_info_and_verify_on_a_url(pg_library: Callable[[], str], pg_url: str) -> None:
    url = pg_library()
    library = url.rsplit("library=", 1)[1]
    assert library in ok("init", url, "--dim", DIM).output
    assert "already holds a skill library" in one_line_error(run("init", url, "--dim", DIM))
    assert "--index" in run("init", pg_library(), "--dim", DIM, "--index", "hnsw").output
    facts = json.loads(ok("info", url, "--json").output)
    assert facts["library"] == library and facts["dim"] == DIM and facts["skills"] == 0
    assert facts["backend"] == "postgresql" and facts["index"] == "hnsw" and facts["bytes_on_disk"] > 0
    assert facts["server_version"].split(".")[0].isdigit()
    table = ok("info", url).output
    assert library in table and f"PostgreSQL {facts['server_version']}" in table and "on disk" in table
    report = json.loads(ok("verify", url, "--json").output)
    assert report["ok"] and report["facts"]["skills"] == 0 and report["facts"]["library"] == library
    assert ok("verify", url).output.startswith("ok:")
    assert "applies to store directories" in one_line_error(run("verify", url, "--repair"), code=2)
    if "postgres:@" in pg_url:  # the local test server trusts any password: show one is never printed
        secret = url.replace("postgres:@", "postgres:s3cret@", 1)
        for args in (["info", secret], ["info", secret, "--json"], ["checkpoint", secret], ["verify", secret]):
            output = ok(*args).output
            assert "s3cret" not in output and "***" in output, args


def test_every_command_works_on_a_url(pg_copy: str, ids: dict[str, str], tmp_path: Path) -> None:
    listed = json.loads(ok("list", pg_copy, "--sort", "success", "--json").output)
    assert [row["name"] for row in listed][:2] == ["open door", "鍵を拾う ☃"]
    applicable = json.loads(ok("list", pg_copy, "--applicable", "has_key=true", "--applicable",
                               "agent_pos=[2,2]", "--json").output)
    assert {row["name"] for row in applicable} == {"open door", "explore"}
    shown = json.loads(ok("show", pg_copy, "open door", "--json").output)
    assert shown["id"] == ids["open door"] and shown["stats"]["attempts"] == 4
    found = json.loads(ok("search", pg_copy, "--vector", "[1, 0.1, 0, 0]", "--state", "has_key=true",
                          "--state", "agent_pos=(2,2)", "-k", "2", "--json").output)
    assert [row["name"] for row in found] == ["open door", "explore"]
    assert json.loads(ok("stats", pg_copy, "--json").output)["total_skills"] == 4
    assert "3/5 successes" in ok("record", pg_copy, ids["open door"], "--failure").output  # 3 of 4 before
    ok("plot", pg_copy, "-o", tmp_path / "library.png")
    assert (tmp_path / "library.png").read_bytes()[:4] == b"\x89PNG"
    # delete is all or nothing
    assert "missing" in one_line_error(run("delete", pg_copy, ids["explore"], "missing"))
    assert len(skills_of(pg_copy)) == 4
    assert "Deleted 2 skills" in ok("delete", pg_copy, ids["explore"], ids["go right"]).output
    assert {s.name for s in skills_of(pg_copy)} == {"open door", "鍵を拾う ☃"}
    assert "Analyzed" in ok("checkpoint", pg_copy).output


def test_url_errors_are_one_line(pg_library: Callable[[], str]) -> None:
    missing = pg_library()
    for args in (["info", missing], ["list", missing], ["delete", missing, "x"], ["checkpoint", missing]):
        assert "no skill library" in one_line_error(run(*args)), args
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    assert "cannot connect" in one_line_error(run("list", unreachable))


def test_importing_an_empty_export_creates_the_library(pg_library: Callable[[], str], tmp_path: Path) -> None:
    url = pg_library()
    ok("init", tmp_path / "empty", "--dim", DIM)
    ok("export", tmp_path / "empty", "-o", tmp_path / "empty.jsonl")
    assert "holds no skills" in ok("import", url, tmp_path / "empty.jsonl").output  # the export's dim creates it
    assert json.loads(ok("info", url, "--json").output)["dim"] == DIM


def test_the_agent_trains_on_a_url(pg_library: Callable[[], str], pg_url: str) -> None:
    from click.testing import CliRunner

    from agent.cli import main as agent_main

    url = pg_library()

    def agent(*args: str) -> str:
        result = CliRunner().invoke(agent_main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    first = agent("train", "--store", url, "--episodes", "3", "--seed", "3", "--explore", "greedy")
    assert "holding 0 skills" in first
    learned = skills_of(url)
    assert learned
    second = agent("train", "--store", url, "--episodes", "2", "--seed", "4", "--explore", "greedy")
    assert f"holding {len(learned)} skills" in second
    before = skills_of(url)
    evaluated = json.loads(agent("eval", "--store", url, "--episodes", "2", "--json"))
    assert len(evaluated["successes"]) == 2
    assert skills_of(url) == before  # eval opens the library read-only
    if "postgres:@" in pg_url:  # the local test server trusts any password: show one is never printed
        output = agent("train", "--store", url.replace("postgres:@", "postgres:s3cret@", 1), "--episodes", "1")
        assert "s3cret" not in output and "postgres:***@" in output
