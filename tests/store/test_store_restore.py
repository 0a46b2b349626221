"""restore_many and delete_many: whole skills back as exported, and atomic multi-deletes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from skillstore import (
    InvalidInputError,
    InvalidSkillError,
    MemoryBackend,
    Skill,
    SkillNotFoundError,
    SkillStats,
    SkillStore,
)


def _library(backend) -> list[Skill]:  # type: ignore[no-untyped-def]
    first = backend.add(Skill("walk", ["up", "up"], [1.0, 0.2, 0.0, 0.0], preconditions={"pos": (0, 0)}))
    backend.add(Skill("walk again", ["up"], [1.0, 0.2001, 0.0, 0.0], preconditions={"pos": (0, 0)}))  # merged
    second = backend.add(Skill("door", b"\x00code", [0.0, 1.0, 0.0, 0.0], metadata={"room": [1, 2]}))
    for success in (True, False, True):
        backend.record_outcome(first, success, 0.5)
    backend.record_outcome(second, False)
    return list(backend)


@pytest.fixture
def source(tmp_path: Path):  # type: ignore[no-untyped-def]
    with SkillStore.open(tmp_path / "source", dim=4, dedup_threshold=0.99) as store:
        yield _library(store)


def _contents(backend) -> list[Skill]:  # type: ignore[no-untyped-def]
    return sorted(backend, key=lambda s: s.id)


def test_restore_keeps_ids_stats_timestamps_and_provenance(make_backend, source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = make_backend(4)
    assert copy.restore_many(source) == [s.id for s in source]
    assert _contents(copy) == sorted(source, key=lambda s: s.id)
    assert any(s.provenance for s in copy) and any(s.stats.observations == 2 for s in copy)
    if isinstance(copy, SkillStore):
        copy.close()
        with SkillStore.open(copy.path) as reopened:
            assert _contents(reopened) == sorted(source, key=lambda s: s.id)


def test_restore_refuses_a_held_id_unless_replacing(make_backend, source) -> None:  # type: ignore[no-untyped-def]
    copy = make_backend(4)
    copy.restore_many(source)
    before = _contents(copy)
    changed = dataclasses.replace(source[0], name="renamed", stats=SkillStats(attempts=1, successes=1))
    with pytest.raises(InvalidInputError):
        copy.restore_many([changed])
    assert _contents(copy) == before
    copy.restore_many([changed], replace=True)
    assert copy.get(changed.id).name == "renamed" and copy.get(changed.id).stats.attempts == 1
    assert len(copy) == len(before)


@pytest.mark.parametrize(
    "damage",
    [
        {"stats": SkillStats(attempts=3, successes=1, failures=1)},
        {"stats": SkillStats(attempts=-1, successes=0, failures=-1)},
        {"id": ""},
        {"id": 7},
        {"created_at": float("nan")},
        {"provenance": ["not a mapping"]},
        {"created_at": 10**400},
        {"updated_at": -(10**400)},
        {"created_at": -1e300},
        {"stats": SkillStats(attempts=1, successes=1, total_reward=10**400)},
        {"stats": SkillStats(attempts=1, successes=1, last_used_at=10**400)},
        {"stats": SkillStats(attempts=2**63 - 1, successes=2**63 - 1)},
        {"stats": SkillStats(observations=2**53)},
        {"provenance": [{"at": 10**400}]},
        {"id": "\ud800"},
    ],
)
def test_a_bad_skill_fails_the_whole_restore(make_backend, source, damage) -> None:  # type: ignore[no-untyped-def]
    copy = make_backend(4)
    with pytest.raises(InvalidSkillError):
        copy.restore_many([source[0], dataclasses.replace(source[1], **damage)])
    assert len(copy) == 0


def test_restore_rejects_the_same_id_twice(make_backend, source) -> None:  # type: ignore[no-untyped-def]
    copy = make_backend(4)
    with pytest.raises(InvalidInputError):
        copy.restore_many([source[0], source[0]])
    assert len(copy) == 0


def test_restored_skill_without_timestamps_gets_the_restore_time(make_backend) -> None:  # type: ignore[no-untyped-def]
    copy = make_backend(4)
    (skill_id,) = copy.restore_many([Skill("x", [], [1, 0, 0, 0], id="abc")])
    restored = copy.get(skill_id)
    assert restored.created_at is not None and restored.updated_at == restored.created_at


def test_delete_many_is_all_or_nothing(make_backend) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(4)
    ids = backend.add_many(Skill(f"s{i}", [i], [1, i, 0, 0]) for i in range(4))
    with pytest.raises(SkillNotFoundError):
        backend.delete_many([ids[0], "missing", ids[1]])
    assert len(backend) == 4
    backend.delete_many([ids[0], ids[1], ids[0]])
    assert sorted(s.id for s in backend) == sorted(ids[2:])


def test_memory_backend_and_store_agree_after_restore(tmp_path: Path, source) -> None:  # type: ignore[no-untyped-def]
    memory = MemoryBackend(4)
    memory.restore_many(source)
    with SkillStore.open(tmp_path / "copy", dim=4) as store:
        store.restore_many(source)
        for query in ([1, 0.2, 0, 0], [0, 1, 0, 0]):
            got = [(m.skill.id, round(m.score, 6)) for m in store.search(query, k=3, rank="blend")]
            assert got == [(m.skill.id, round(m.score, 6)) for m in memory.search(query, k=3, rank="blend")]



def test_a_refused_restore_leaves_the_store_able_to_count(tmp_path: Path, source) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "copy"
    with SkillStore.open(path, dim=4) as store:
        store.restore_many(source[:1])
        bricking = dataclasses.replace(source[1], stats=SkillStats(attempts=2**63 - 1, successes=2**63 - 1))
        with pytest.raises(InvalidSkillError):
            store.restore_many([bricking])
        store.record_outcome(source[0].id, True)  # the next write and the reopening both work
        after = _contents(store)
    with SkillStore.open(path) as reopened:
        assert _contents(reopened) == after
        assert [s.id for s in after] == [source[0].id]
