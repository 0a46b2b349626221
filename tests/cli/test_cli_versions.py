"""history, rollback, deprecate, and --status on list and search, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_helpers import DIM, ok, run

from skillstore import Skill, SkillStore


def make_store(path: Path) -> str:
    with SkillStore.open(path, dim=DIM) as store:
        skill_id = store.add(Skill("acquire_key", ["up"], np.ones(DIM)))
        store.add(Skill("open_door", ["open"], np.arange(1, DIM + 1)))
        store.record_outcome(skill_id, True)
        store.update(skill_id, actions=["up", "left"], reason="shorter route")
        store.record_outcome(skill_id, False)
    return skill_id


def test_history_rollback_and_deprecate(tmp_path: Path) -> None:
    path = tmp_path / "store"
    skill_id = make_store(path)
    table = ok("history", path, "acquire_key").stdout
    assert "shorter route" in table and "2 (current)" in table and "actions" in table
    assert "version 3, a copy of version 1" in ok("rollback", path, skill_id, 1, "--reason", "v2 fails").stdout
    versions = json.loads(ok("history", path, skill_id, "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["actions"] for v in versions] == [["up"], ["up", "left"], ["up"]]
    assert versions[2]["rollback_of"] == 1 and versions[2]["reason"] == "v2 fails"
    assert [(v["attempts"], v["successes"]) for v in versions] == [(1, 1), (1, 0), (0, 0)]
    ok("deprecate", path, "acquire_key", "--reason", "keeps failing")
    assert [s["name"] for s in json.loads(ok("list", path, "--json").stdout)] == ["open_door"]
    listed = json.loads(ok("list", path, "--json", "--status", "deprecated").stdout)
    assert [s["name"] for s in listed] == ["acquire_key"]
    assert len(json.loads(ok("list", path, "--json", "--status", "all").stdout)) == 2
    found = json.loads(ok("search", path, "--vector", "[1,1,1,1]", "--json").stdout)
    assert [s["name"] for s in found] == ["open_door"]
    found = json.loads(ok("search", path, "--vector", "[1,1,1,1]", "--json", "--status", "all",
                          "--rank", "wilson").stdout)
    assert {s["name"] for s in found} == {"acquire_key", "open_door"}
    shown = ok("show", path, "acquire_key").stdout  # a deprecated skill is still found by name
    assert "deprecated" in shown and "version" in shown
    shown_json = json.loads(ok("show", path, skill_id, "--json").stdout)
    assert (shown_json["version"], shown_json["status"]) == (3, "deprecated")
    last = json.loads(ok("history", path, skill_id, "--json").stdout)[-1]
    assert last["events"][0]["status"] == "deprecated" and last["events"][0]["reason"] == "keeps failing"


def test_rollback_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "store"
    skill_id = make_store(path)
    result = run("rollback", path, skill_id, 7)
    assert result.exit_code == 1 and "has no version 7" in result.stderr
    result = run("rollback", path, skill_id, 2)
    assert result.exit_code == 1 and "current version" in result.stderr
    assert run("rollback", path, skill_id, 0).exit_code == 2
    assert run("list", path, "--status", "retired").exit_code == 2
