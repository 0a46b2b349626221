"""Snapshot rows read again come from a bounded cache of checked records: what a caller does
to a skill it was given never reaches the store, nor the next caller, and writes still start
from a fresh copy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from skillstore import Skill, SkillStore
from skillstore.columnar import READ_CACHE_ROWS

NESTED = dict(
    actions=[["go", {"speed": [1, 2]}], "toggle"],
    preconditions={"door": {"colour": [1, 2]}, "path": [1, [2, {"x": 3}]]},
    metadata={"tags": {"a": [1]}},
)


@pytest.mark.parametrize("where", ["snapshot", "log"])
def test_changing_a_skill_read_twice_changes_neither_the_store_nor_the_next_read(tmp_path: Path, where: str) -> None:
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        skill_id = store.add(Skill("nested", embedding=[1, 0], **NESTED))  # type: ignore[arg-type]
        if where == "snapshot":
            store.checkpoint()  # the skill now lives in the mapped snapshot
        original = copy.deepcopy(store.get(skill_id))  # shares nothing with what the store hands out
        for read in (lambda: store.get(skill_id), lambda: store.search([1, 0], 1)[0].skill,
                     lambda: next(iter(store)), lambda: store.get(skill_id, version=1)):
            skill = read()
            skill.actions[0][1]["speed"].append(3)
            skill.preconditions["door"]["colour"] = "red"
            skill.preconditions["path"][1][1]["x"] = 4
            skill.metadata["tags"]["a"].clear()
            assert store.get(skill_id) == original
        [version] = store.history(skill_id)
        version.metadata["tags"]["a"].append(9)
        assert store.history(skill_id)[0].metadata == NESTED["metadata"]


def test_a_write_starts_from_a_fresh_record_not_the_one_read(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        skill_id = store.add(Skill("first", ["a"], [1, 0], metadata={"n": 1}))
        store.checkpoint()
        assert store.get(skill_id).metadata == {"n": 1}  # read, and kept
        store.update(skill_id, metadata={"n": 2}, reason="changed")
        store.record_outcome(skill_id, True)
        assert store.get(skill_id).metadata == {"n": 2} and store.get(skill_id).stats.attempts == 1
        assert store.get(skill_id, version=1).metadata == {"n": 1}
    with SkillStore.open(tmp_path / "s", read_only=True) as again:
        assert again.get(skill_id).metadata == {"n": 2} and again.get(skill_id).stats.attempts == 1


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        store.add_many([Skill(f"s{i}", ["a"], [1, i]) for i in range(READ_CACHE_ROWS + 50)])
        store.checkpoint()
        names = [skill.name for skill in store]
        assert names == [f"s{i}" for i in range(READ_CACHE_ROWS + 50)]
        assert len(store._catalog.base._read) == READ_CACHE_ROWS
