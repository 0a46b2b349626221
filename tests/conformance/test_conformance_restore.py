"""restore_many and delete_many, run against MemoryBackend, SkillStore and PostgresBackend alike.

A restore puts complete skills back (ids, stats, timestamps, provenance) in one commit;
a multi-delete removes all of its ids or none. What an import does rests on these two.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conformance_helpers import Backends

from skillstore import (
    DimensionMismatchError,
    InvalidEmbeddingError,
    InvalidInputError,
    InvalidSkillError,
    Skill,
    SkillBackend,
    SkillNotFoundError,
    SkillStats,
)
from skillstore.records import MAX_ID_LENGTH

DIM = 8
QUERIES = np.random.default_rng(30).normal(size=(4, DIM))
STATES = [None, {"room": 1}, {"room": 1, "has_key": True, "pos": (0, 1)}]


def learned(backends: Backends) -> tuple[SkillBackend, list[Skill]]:
    """A library with merged duplicates, outcomes, rewards and values of every kind; and its skills."""
    source = backends(DIM, dedup_threshold=0.99)
    e = np.eye(DIM)
    door = source.add(Skill("open door ☃", ["up", {"raw": b"\x00\xff"}], e[0] + 0.1 * e[1],
                            preconditions={"has_key": True, "pos": [0, 1]}, metadata={"task": "door"}))
    assert source.add(Skill("open door again", ["up"], e[0] + 0.1001 * e[1],
                            preconditions={"has_key": 1, "pos": (0, 1)})) == door  # merged
    key = source.add(Skill("key", b"\x01code", e[2], preconditions={"room": 1}, description="pick\nit up"))
    source.add(Skill("wander", [1.5, None, True], e[3] - e[4], metadata={"level": 2, "tags": ["a"]}))
    for success, reward in [(True, 0.5), (False, None), (True, -0.25)]:
        source.record_outcome(door, success, reward)
    source.record_outcome(key, False)
    return source, list(source)


def by_id(backend: SkillBackend) -> list[Skill]:
    return sorted(backend, key=lambda s: str(s.id))


def results(backend: SkillBackend) -> list[list[tuple[str, float]]]:
    return [
        [(str(m.skill.id), round(m.score, 6)) for m in backend.search(query, 3, state=state, rank=rank)]
        for query in QUERIES
        for state in STATES
        for rank in ("similarity", "success", "blend")
    ]


def test_restore_round_trip_keeps_every_field_and_survives_reopening(make_backend: Backends) -> None:
    source, skills = learned(make_backend)
    assert any(s.provenance for s in skills) and any(s.stats.observations == 2 for s in skills)
    copy = make_backend(DIM)
    assert copy.restore_many(skills) == [s.id for s in skills]
    assert by_id(copy) == by_id(source)
    assert [s.id for s in copy] == [s.id for s in skills]  # iteration order kept
    assert results(copy) == results(source)
    reopened = make_backend.reopen(copy)
    if reopened is not None:  # a memory backend keeps nothing to reopen
        assert by_id(reopened) == by_id(source) and results(reopened) == results(source)
        copy = reopened
    # a restored skill goes on counting from its restored stats
    door = next(s for s in skills if s.stats.attempts == 3)
    stats = copy.record_outcome(str(door.id), True, reward=1.0)
    assert (stats.attempts, stats.successes, stats.failures, stats.total_reward) == (4, 3, 1, 1.25)


def test_restore_does_not_dedup(make_backend: Backends) -> None:
    backend = make_backend(DIM, dedup_threshold=0.9)
    twins = [Skill(f"twin {i}", [], np.ones(DIM), id=f"twin-{i}") for i in range(2)]
    assert backend.restore_many(twins) == ["twin-0", "twin-1"] and len(backend) == 2


def test_restore_refuses_a_held_id_unless_replacing(make_backend: Backends) -> None:
    _, skills = learned(make_backend)
    copy = make_backend(DIM)
    copy.restore_many(skills)
    before = by_id(copy)
    changed = dataclasses.replace(skills[0], name="renamed", embedding=np.eye(DIM)[7],
                                  stats=SkillStats(attempts=1, successes=1, last_used_at=5.0))
    fresh = Skill("fresh", [], np.ones(DIM), id="fresh")
    with pytest.raises(InvalidInputError, match=str(changed.id)):
        copy.restore_many([fresh, changed])
    assert by_id(copy) == before  # the fresh skill was not restored either
    assert copy.restore_many([changed, fresh], replace=True) == [changed.id, "fresh"]
    assert copy.get(str(changed.id)) == changed
    assert len(copy) == len(before) + 1
    assert [s.id for s in copy][-2:] == [changed.id, "fresh"]  # a replaced skill moves to the end
    assert [m.skill.id for m in copy.search(np.eye(DIM)[7], 1)] == [changed.id]  # its new embedding is searched


def test_restore_rejects_the_same_id_twice(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    skill = Skill("a", [], np.ones(DIM), id="same")
    with pytest.raises(InvalidInputError):
        backend.restore_many([skill, dataclasses.replace(skill, name="b")])
    assert len(backend) == 0
    assert backend.restore_many([]) == []


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        ({"stats": SkillStats(attempts=3, successes=1, failures=1)}, InvalidSkillError),
        ({"stats": SkillStats(attempts=-1, successes=0, failures=-1)}, InvalidSkillError),
        ({"stats": SkillStats(observations=0)}, InvalidSkillError),
        ({"id": ""}, InvalidSkillError),
        ({"id": 7}, InvalidSkillError),
        ({"id": "x" * (MAX_ID_LENGTH + 1)}, InvalidSkillError),
        ({"created_at": math.nan}, InvalidSkillError),
        ({"updated_at": "yesterday"}, InvalidSkillError),
        ({"provenance": ["not a mapping"]}, InvalidSkillError),
        ({"name": ""}, InvalidSkillError),
        ({"embedding": np.zeros(DIM)}, InvalidEmbeddingError),
        ({"embedding": np.ones(DIM + 1)}, DimensionMismatchError),
    ],
)
def test_a_bad_skill_fails_the_whole_restore(
    make_backend: Backends, damage: dict[str, object], error: type[Exception]
) -> None:
    backend = make_backend(DIM)
    good = Skill("good", [], np.ones(DIM), id="good")
    bad = dataclasses.replace(Skill("bad", [], np.ones(DIM), id="bad"), **damage)
    with pytest.raises(error):
        backend.restore_many([good, bad])
    with pytest.raises(InvalidSkillError):
        backend.restore_many([good, "not a skill"])  # type: ignore[list-item]
    assert len(backend) == 0


def test_restored_skill_without_timestamps_gets_the_restore_time(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    (skill_id,) = backend.restore_many([Skill("x", [], np.ones(DIM), id="abc")])
    restored = backend.get(skill_id)
    assert restored.created_at is not None and restored.updated_at == restored.created_at
    assert restored.stats == SkillStats()


def test_delete_many_is_all_or_nothing(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    ids = backend.add_many(Skill(f"s{i}", [i], np.eye(DIM)[i]) for i in range(5))
    before = by_id(backend)
    with pytest.raises(SkillNotFoundError, match="missing"):
        backend.delete_many([ids[0], "missing", ids[1]])
    with pytest.raises(InvalidInputError):
        backend.delete_many([ids[0], 42])  # type: ignore[list-item]
    assert by_id(backend) == before
    backend.delete_many([])
    backend.delete_many(iter([ids[0], ids[1], ids[0]]))  # repeats count once
    assert sorted(s.id for s in backend) == sorted(ids[2:])
    assert {m.skill.id for m in backend.search(np.ones(DIM), 10)} == set(ids[2:])
    reopened = make_backend.reopen(backend)
    if reopened is not None:
        assert sorted(s.id for s in reopened) == sorted(ids[2:])
