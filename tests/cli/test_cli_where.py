"""``--where`` on list, search, export and delete: conditions typed as FIELD OP VALUE or JSON,
with the same meaning as ``where`` filter expressions in the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import contents, ok, run

from skillstore import SkillStore


def names(result_stdout: str) -> list[str]:
    return [row["name"] for row in json.loads(result_stdout)]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (["room in [3,4]"], ["open door", "鍵を拾う ☃"]),
        (["room = 1"], ["explore"]),
        (["room=3"], ["open door", "鍵を拾う ☃"]),  # the KEY=VALUE form still works
        (["room != 3"], ["explore", "go right"]),  # a skill without the key passes !=
        (["room not exists"], ["go right"]),
        (["skill.attempts >= 2"], ["open door", "鍵を拾う ☃"]),
        (["skill.attempts >= 2", "skill.success_rate > 0.6"], ["open door"]),
        (['{"$or": [{"room": 1}, {"$skill": {"name": "go right"}}]}'], ["explore", "go right"]),
        (["skill.last_used_at not exists"], ["explore"]),
        (["room > 2", "room < 3.5"], ["open door", "鍵を拾う ☃"]),
    ],
)
def test_list_where(store_path: Path, conditions: list[str], expected: list[str]) -> None:
    arguments = [a for condition in conditions for a in ("--where", condition)]
    assert names(ok("list", store_path, *arguments, "--json").stdout) == expected


def test_search_where(store_path: Path) -> None:
    found = ok("search", store_path, "--vector", "[1,0,0,0]", "--where", "room in [1,3]", "-k", "9", "--json")
    assert sorted(names(found.stdout)) == ["explore", "open door", "鍵を拾う ☃"]


def test_export_where_writes_only_the_matches(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "best.jsonl"
    ok("export", store_path, "--where", "skill.success_rate >= 0.5", "-o", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["count"] == 2 and sorted(r["name"] for r in lines[1:]) == ["open door", "鍵を拾う ☃"]


def test_delete_where_deletes_every_match_at_once(store_path: Path) -> None:
    result = ok("delete", store_path, "--where", "room = 3")
    assert "Deleted 2 skills" in result.output
    with SkillStore.open(store_path, read_only=True) as store:
        assert sorted(s.name for s in store) == ["explore", "go right"]


def test_a_where_naming_an_unknown_skill_field_is_one_line_and_changes_nothing(store_path: Path) -> None:
    before = contents(store_path)
    result = run("delete", store_path, "--where", "skill.colour = red")
    assert result.exit_code == 1 and "unknown skill field 'colour'" in result.output
    assert contents(store_path) == before


def test_search_text(store_path: Path) -> None:
    found = ok("search", store_path, "--text", "door", "--json")
    assert names(found.stdout) == ["open door"]
    hybrid = ok("search", store_path, "--text", "key", "--vector", "[0,1,0,0]", "-k", "1", "--json")
    assert names(hybrid.stdout) == ["鍵を拾う ☃"]
    result = run("search", store_path)
    assert result.exit_code == 2 and "give --text" in result.output
