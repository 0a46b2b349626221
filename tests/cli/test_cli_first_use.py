"""The command line where a new user trips: names wherever an id is taken, one name for the
state filter, columns that keep what a state must give, honest summaries and empty outputs,
messages that name the user's paths, and one order for list and export."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import DIM, LIBRARY, ok, run

from skillstore import Skill, SkillStore


def names(result_stdout: str) -> list[str]:
    return [row["name"] for row in json.loads(result_stdout)]


# -- a unique exact name works wherever an id does -------------------------------------------


def test_search_like_record_and_delete_take_a_name(store_path: Path, ids: dict[str, str]) -> None:
    by_id = names(ok("search", store_path, "--like", ids["open door"], "--json").stdout)
    assert names(ok("search", store_path, "--like", "open door", "--json").stdout) == by_id
    assert "open door" not in by_id  # the skill itself is left out, named or not
    ok("record", store_path, "explore", "--success")
    shown = json.loads(ok("show", store_path, "explore", "--json").stdout)
    assert shown["stats"]["attempts"] == 1 and shown["stats"]["successes"] == 1
    ok("delete", store_path, "explore", ids["go right"])
    with SkillStore.open(store_path, read_only=True) as store:
        assert sorted(s.name for s in store) == sorted(["open door", "鍵を拾う ☃"])


def test_an_unknown_name_changes_nothing_and_a_shared_name_asks_for_an_id(tmp_path: Path) -> None:
    path = tmp_path / "twins"
    with SkillStore.open(path, dim=DIM) as store:
        first = store.add(Skill("twin", ["a"], [1.0, 0.0, 0.0, 0.0]))
        store.add(Skill("twin", ["b"], [0.0, 1.0, 0.0, 0.0]))
        store.add(Skill("solo", ["c"], [0.0, 0.0, 1.0, 0.0]))
    result = run("delete", path, "solo", "nobody")
    assert result.exit_code == 1 and "no skill with id or name 'nobody'" in result.stderr
    result = run("record", path, "twin", "--success")
    assert result.exit_code == 1 and "2 skills are named 'twin'" in result.stderr and first in result.stderr
    with SkillStore.open(path, read_only=True) as store:
        assert len(store) == 3 and all(s.stats.attempts == 0 for s in store)


# -- one name for the state filter ------------------------------------------------------------


def test_list_and_search_call_the_state_filter_state_and_accept_applicable(store_path: Path) -> None:
    state = ["has_key=true", "agent_pos=[2,2]"]
    listed = names(ok("list", store_path, "--state", state[0], "--state", state[1], "--json").stdout)
    assert listed == names(ok("list", store_path, "--applicable", state[0], "--applicable", state[1], "--json").stdout)
    assert sorted(listed) == ["explore", "open door"]
    query = ["--vector", "[1, 0, 0, 0]", "--json"]
    found = names(ok("search", store_path, *query, "--state", state[0], "--state", state[1]).stdout)
    assert found == names(ok("search", store_path, *query, "--applicable", state[0], "--applicable", state[1]).stdout)
    for command in ("list", "search"):
        assert "--state, --applicable" in ok(command, "--help").stdout


# -- what a table shows -------------------------------------------------------------------------


def test_the_preconditions_column_is_never_cut(tmp_path: Path) -> None:
    path = tmp_path / "long"
    conditions = {"door_open": False, "has_key": True, "agent_pos": (2, 2), "key_pos": (3, 4), "door_pos": (1, 4)}
    with SkillStore.open(path, dim=DIM) as store:
        store.add(Skill("x" * 80, ["a"], [1.0, 0.0, 0.0, 0.0], preconditions=conditions))
    table = ok("list", path).stdout
    for key in conditions:
        assert f"{key}=" in table
    assert "x" * 80 not in table  # other long cells are still cut


def test_a_search_that_finds_nothing_says_which_state_keys_are_missing(store_path: Path) -> None:
    result = ok("search", store_path, "--vector", "[1, 0, 0, 0]", "--state", "has_key=true")
    # explore has no preconditions and applies everywhere, so this state does find something
    assert "explore" in result.stdout and "no skill applies" not in result.stderr
    path = store_path.parent / "needs"
    with SkillStore.open(path, dim=DIM) as store:
        store.add(Skill("a", ["x"], [1.0, 0.0, 0.0, 0.0], preconditions={"has_key": True, "agent_pos": (2, 2)}))
        store.add(Skill("b", ["y"], [0.0, 1.0, 0.0, 0.0], preconditions={"door_open": True, "agent_pos": (0, 0)}))
    result = ok("search", path, "--vector", "[1, 0, 0, 0]", "--state", "has_key=true")
    assert result.stdout == ""
    assert "the state lacks 'agent_pos', 'door_open'" in result.stderr
    # JSON output stays a plain empty list for programs
    assert json.loads(ok("search", path, "--vector", "[1, 0, 0, 0]", "--state", "has_key=true", "--json").stdout) == []


def test_rank_help_explains_the_modes() -> None:
    text = " ".join(ok("search", "--help").stdout.split())
    assert "skillstore.ranking" not in text
    assert "0.7 x cosine + 0.3 x (successes + 1) / (attempts + 2)" in text


def test_stats_say_what_the_average_success_rate_covers(store_path: Path, tmp_path: Path) -> None:
    table = ok("stats", store_path).stdout
    assert "(mean over the 3 skills tried)" in table  # explore was never tried
    assert json.loads(ok("stats", store_path, "--json").stdout)["avg_success_rate"] == (0.75 + 0.5 + 0.0) / 3
    ok("init", tmp_path / "empty", "--dim", DIM)
    assert "no skill tried yet" in ok("stats", tmp_path / "empty").stdout


# -- empty outputs ------------------------------------------------------------------------------


def test_limit_zero_and_empty_csv(store_path: Path, tmp_path: Path) -> None:
    result = ok("list", store_path, "--limit", "0")
    assert result.stdout == ""
    assert result.stderr.strip() == f"no skills shown: {len(LIBRARY)} match, --offset 0 --limit 0"
    result = ok("list", store_path, "--offset", "10", "--limit", "2")
    assert result.stderr.strip() == f"no skills shown: {len(LIBRARY)} match, --offset 10 --limit 2"
    assert names(ok("list", store_path, "--offset", "1", "--limit", "2", "--json").stdout) == [
        entry["name"] for entry in LIBRARY[1:3]
    ]
    result = ok("list", store_path, "--where", "room=99")
    assert result.stdout == "" and "no skills match (the library holds 4)" in result.stderr
    ok("init", tmp_path / "empty", "--dim", DIM)
    assert "no skills" in ok("list", tmp_path / "empty").stderr
    def csv_rows(*args: object) -> list[list[str]]:
        return list(csv.reader(io.StringIO(ok(*args, "--csv").stdout)))

    header = csv_rows("list", store_path)[0]
    assert csv_rows("list", store_path, "--limit", "0") == [header]  # the header alone
    assert csv_rows("list", tmp_path / "empty") == [header]
    found = csv_rows("search", store_path, "--vector", "[1,0,0,0]")
    assert found[0] == ["rank", "score", *header]
    assert csv_rows("search", store_path, "--vector", "[1,0,0,0]", "--where", "room=99") == [found[0]]


def test_an_import_that_changes_nothing_says_so(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills.jsonl"
    ok("export", store_path, "-o", out)
    again = ok("import", store_path, out).stdout
    assert again.startswith("Nothing changed in") and f"all {len(LIBRARY)} skills" in again
    assert "--on-conflict replace or merge" in again
    fresh = ok("import", tmp_path / "copy", out).stdout
    assert fresh.startswith(f"Imported {len(LIBRARY)} of the {len(LIBRARY)} skills")
    assert f"{len(LIBRARY)} added" in fresh


# -- messages name the user's paths -------------------------------------------------------------


def test_an_export_to_a_missing_directory_names_the_path_given(store_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "x.jsonl"
    result = run("export", store_path, "-o", target)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: cannot write {target}: No such file or directory"
    assert ".tmp-" not in result.stderr


def test_a_json_error_reads_as_one_sentence(store_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"skillstore_export": 1, "dim": 4, "count": 1}\n{"id": "a", "name": "unterminated')
    result = run("import", store_path, bad)
    assert result.exit_code == 1 and "at at" not in result.stderr
    assert "line 2 is not JSON: Unterminated string starting at column 21" in result.stderr
    bad.write_text('{"skillstore_export": 1, "dim": 4, "count": 1}\n{"id": "a", "name": oops}\n')
    assert "line 2 is not JSON: Expecting value at column 21" in run("import", store_path, bad).stderr


# -- one order: creation order ------------------------------------------------------------------


def test_list_and_export_give_the_order_skills_were_added(tmp_path: Path) -> None:
    path = tmp_path / "order"
    rng = np.random.default_rng(5)
    names_added = [f"s{i:02d}" for i in range(12)]
    with SkillStore.open(path, dim=DIM) as store:
        # one batch: one created_at for all, so a sort on the timestamp would fall back to ids
        store.add_many([Skill(name, ["a"], rng.normal(size=DIM), metadata={"n": i % 2})
                        for i, name in enumerate(names_added)])
        store.update(next(s.id for s in store if s.name == "s03"), name="s03", description="changed")  # type: ignore[arg-type]
        iteration = [s.name for s in store]
    assert iteration == names_added
    assert names(ok("list", path, "--json").stdout) == names_added
    assert names(ok("list", path, "--where", "n=1", "--json").stdout) == names_added[1::2]
    assert names(ok("list", path, "--reverse", "--json").stdout) == names_added[::-1]
    exported = ok("export", path, "--format", "jsonl").stdout.splitlines()[1:]
    assert [json.loads(line)["name"] for line in exported] == names_added


def test_a_path_that_is_a_file_is_called_a_file(tmp_path: Path) -> None:
    from skillstore import InvalidInputError, StoreNotFoundError

    path = tmp_path / "a-file.py"
    path.write_text("print('hello')\n")
    for options, error in [({}, InvalidInputError), ({"dim": 4}, InvalidInputError),
                           ({"read_only": True}, StoreNotFoundError), ({"create": False}, StoreNotFoundError)]:
        with pytest.raises(error, match=re.escape(f"no skill store at {path}: it is a file, not a directory")):
            SkillStore.open(path, **options).close()  # type: ignore[arg-type]
    assert path.read_text() == "print('hello')\n"  # untouched
    result = run("import", path, tmp_path / "missing.jsonl")
    assert result.exit_code == 2  # click refuses a file for PATH before the library sees it
    assert "is a file" in result.stderr
