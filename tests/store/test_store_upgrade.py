"""A store written in format 1 by the first release (kept in tests/store/data, with the
contents that release read from it) is upgraded to format 2 by its first read-write open."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skillstore import FormatVersionError, Skill, SkillStore, StoreCorruptError

DATA = Path(__file__).parent / "data"


def fields(store: Any) -> dict[str, dict[str, Any]]:
    return {
        s.id: {
            "name": s.name, "actions": s.actions, "embedding": [float(x) for x in s.embedding],
            "preconditions": s.preconditions, "metadata": s.metadata, "stats": s.stats.to_dict(),
            "created_at": s.created_at, "updated_at": s.updated_at,
        }
        for s in store
    }


def expected() -> dict[str, dict[str, Any]]:
    raw = json.loads((DATA / "format1-expected.json").read_text())
    for skill in raw.values():  # JSON has no tuples: preconditions come back as the store keeps them
        skill["preconditions"] = {k: tuple(v) if isinstance(v, list) else v for k, v in skill["preconditions"].items()}
    return raw  # type: ignore[no-any-return]


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    shutil.copytree(DATA / "format1-store", path)
    return path


def test_a_read_write_open_upgrades_a_format_1_store_keeping_everything(old_store: Path) -> None:
    with pytest.raises(FormatVersionError, match="open it read-write once to upgrade it"):
        SkillStore.open(old_store, read_only=True)
    with SkillStore.open(old_store) as store:
        assert fields(store) == expected()
        assert store.verify().ok
        skill_id = next(iter(store)).id
        store.record_outcome(skill_id, True)
        store.add(Skill("after the upgrade", ["b"], np.ones(4)))
    assert sorted(p.name for p in old_store.iterdir()) == ["MANIFEST", "log-00000003", "snap-00000003"]
    with SkillStore.open(old_store, read_only=True) as store:
        assert len(store) == len(expected()) + 1
        assert store.get(skill_id).stats.attempts == expected()[skill_id]["stats"]["attempts"] + 1


def test_a_format_1_log_damaged_before_intact_frames_refuses_the_upgrade_and_changes_nothing(old_store: Path) -> None:
    log = old_store / "log-00000002"
    data = bytearray(log.read_bytes())
    data[20] ^= 0xFF
    log.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in old_store.iterdir() if p.is_file()}
    with pytest.raises(StoreCorruptError, match="release that wrote it"):
        SkillStore.open(old_store)
    assert {p.name: p.read_bytes() for p in old_store.iterdir() if p.is_file()} == before
