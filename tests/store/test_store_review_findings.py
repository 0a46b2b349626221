"""Regressions: precondition values a snapshot must carry through any number of checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

from skillstore import Skill, SkillStore


def test_preconditions_holding_maps_survive_every_checkpoint(tmp_path: Path) -> None:
    preconditions = {"door": {"color": "red"}, "path": [1, {"k": 2}]}
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        first = store.add(Skill("a", [1], [1, 0], preconditions=preconditions))
        store.checkpoint()
        store.checkpoint()  # rewrote the snapshot's own signatures: they must stay writable
        second = store.add(Skill("b", [1], [0, 1], preconditions=preconditions))
        store.checkpoint()
        assert [s.id for s in store.find(state=preconditions)] == [first, second]
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        assert store.get(first).preconditions == {"door": {"color": "red"}, "path": (1, {"k": 2})}
        assert store.verify().ok


def test_a_nan_precondition_reads_back_after_a_checkpoint_and_applies_nowhere(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        skill_id = store.add(Skill("n", [1], [1, 0], preconditions={"p": math.nan}))
        store.checkpoint()
        assert store.get(skill_id).name == "n" and [s.name for s in store] == ["n"]
        assert store.find(state={"p": math.nan}) == []  # NaN equals nothing, as everywhere
        assert store.verify().ok
