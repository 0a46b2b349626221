"""One set of tests, run against MemoryBackend, SkillStore and PostgresBackend alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conformance_helpers import (
    ROOMS,
    TOLERANCE,
    BackendFactory,
    assert_ranking,
    random_skills,
    random_state,
    random_where,
    record_random_outcomes,
    reference_scores,
)

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

DIM = 8


def unit(vector: np.ndarray) -> np.ndarray:
    return (np.asarray(vector, dtype=np.float64) / np.linalg.norm(vector)).astype(np.float32)


def snapshot(backend: SkillBackend) -> dict[str, tuple[object, ...]]:
    return {
        str(s.id): (s.name, s.actions, s.preconditions, s.metadata, s.description, s.stats,
                    s.embedding.tobytes(), s.updated_at)
        for s in backend
    }


# -- CRUD ------------------------------------------------------------------------


def test_satisfies_the_protocol(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    assert isinstance(backend, SkillBackend)
    assert backend.dim == DIM
    assert len(backend) == 0 and list(backend) == []


def test_add_then_get_returns_every_field(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    embedding = np.arange(1, DIM + 1, dtype=np.float64)
    skill = Skill(
        name="open door",
        actions=["move_up", {"repeat": 2, "raw": b"\x00\xff"}, 3.5, None, True],
        embedding=embedding,
        preconditions={"has_key": True, "pos": [1, 2], "nested": {"a": [1, (2, 3)]}},
        description="walk up and open the door \u00e9\x00",
        metadata={"task": "door", "weights": [0.1, 2], "blob": b"abc", "flag": False},
    )
    skill_id = backend.add(skill)
    assert isinstance(skill_id, str) and skill_id in backend and len(backend) == 1
    got = backend.get(skill_id)
    assert got.id == skill_id
    assert got.name == "open door"
    assert got.actions == ["move_up", {"repeat": 2, "raw": b"\x00\xff"}, 3.5, None, True]
    assert got.preconditions == {"has_key": True, "pos": (1, 2), "nested": {"a": (1, (2, 3))}}
    assert type(got.preconditions["has_key"]) is bool
    assert got.description == "walk up and open the door \u00e9\x00"
    assert got.metadata == {"task": "door", "weights": [0.1, 2], "blob": b"abc", "flag": False}
    assert type(got.metadata["flag"]) is bool and type(got.metadata["weights"][1]) is int
    assert got.embedding.dtype == np.float32
    np.testing.assert_array_equal(got.embedding, unit(embedding))
    assert got.stats == SkillStats()
    assert got.created_at is not None and got.created_at == got.updated_at
    assert got.provenance == []
    # a returned skill is a copy
    got.metadata["task"] = "changed"
    assert backend.get(skill_id).metadata["task"] == "door"


def test_embeddings_round_trip_bit_for_bit(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(20, DIM)) * 10 ** rng.uniform(-20, 20, size=(20, 1))
    ids = backend.add_many([Skill(f"s{i}", [], v) for i, v in enumerate(vectors)])
    for skill_id, vector in zip(ids, vectors, strict=True):
        np.testing.assert_array_equal(backend.get(skill_id).embedding, unit(vector))


def test_iteration_len_contains(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(2)
    ids = backend.add_many(random_skills(rng, 300, DIM))  # more than one fetch batch
    assert len(set(ids)) == 300 and len(backend) == 300
    assert sorted(str(s.id) for s in backend) == sorted(ids)
    assert ids[0] in backend and "no-such-id" not in backend and 42 not in backend and None not in backend


def test_update_changes_fields_and_keeps_the_rest(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(3)
    first, other = backend.add_many(random_skills(rng, 2, DIM))
    backend.record_outcome(first, True, reward=2.0)
    before = backend.get(first)
    new_vector = rng.normal(size=DIM)
    updated = backend.update(first, name="renamed", embedding=new_vector, preconditions={"room": [1, 2]},
                             metadata={"task": "x"})
    assert updated.id == first and updated.name == "renamed"
    assert updated.preconditions == {"room": (1, 2)} and updated.metadata == {"task": "x"}
    np.testing.assert_array_equal(updated.embedding, unit(new_vector))
    assert updated.actions == before.actions and updated.stats == before.stats
    assert updated.created_at == before.created_at and updated.updated_at >= before.updated_at
    assert backend.get(first) == updated
    # the update is what search sees
    assert [m.skill.id for m in backend.search(new_vector, 1, state={"room": (1, 2)})] == [first]
    assert [m.skill.id for m in backend.search(new_vector, 5, where={"task": "x"})] == [first]
    assert backend.get(other).name == "skill-1"


def test_delete(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(4)
    ids = backend.add_many(random_skills(rng, 5, DIM))
    backend.delete(ids[2])
    assert ids[2] not in backend and len(backend) == 4
    with pytest.raises(SkillNotFoundError):
        backend.get(ids[2])
    assert ids[2] not in {m.skill.id for m in backend.search(rng.normal(size=DIM), 10)}


# -- search against brute force -----------------------------------------------------


@pytest.mark.parametrize("seed", [11, 12])
def test_filtered_search_equals_brute_force(make_backend: BackendFactory, seed: int) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(seed)
    ids = backend.add_many(random_skills(rng, 250, DIM))
    record_random_outcomes(backend, ids, rng, 150)
    skills = list(backend)
    checked = 0
    for _ in range(40):
        query = None if rng.random() < 0.15 else rng.normal(size=DIM)
        state = None if rng.random() < 0.2 else random_state(rng)
        where = random_where(rng)
        rank = ["similarity", "success", "blend"][int(rng.integers(3))]
        k = [1, 5, 20, 500][int(rng.integers(4))]
        got = backend.search(query, k, state=state, where=where, rank=rank)
        reference = reference_scores(skills, query, state=state, where=where, rank=rank)
        assert_ranking(got, reference, k)
        checked += len(reference)
    assert checked > 500  # the filters let a fair share through


def test_min_score_drops_low_scores(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(13)
    backend.add_many(random_skills(rng, 100, DIM))
    skills = list(backend)
    for rank in ("similarity", "blend"):
        query = rng.normal(size=DIM)
        reference = reference_scores(skills, query, rank=rank)
        threshold = (reference[10][1] + reference[11][1]) / 2
        got = backend.search(query, 50, rank=rank, min_score=threshold)
        assert_ranking(got, [row for row in reference if row[1] >= threshold], 50)
        assert len(got) == 11


def test_ties_break_by_id(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    vector = np.ones(DIM)
    ids = backend.add_many([Skill(f"same-{i}", [], vector) for i in range(12)])
    expected = sorted(ids)[:5]
    for rank in ("similarity", "success", "blend"):
        assert [m.skill.id for m in backend.search(vector, 5, rank=rank)] == expected
    assert [m.skill.id for m in backend.search(None, 5)] == expected
    for skill_id in ids[6:]:
        backend.record_outcome(skill_id, True)
    assert [m.skill.id for m in backend.search(None, 3)] == sorted(ids[6:])[:3]


def test_applicability_rule(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    v = np.ones(DIM)
    anywhere = backend.add(Skill("anywhere", [], v))
    door = backend.add(Skill("door", [], v, preconditions={"has_key": True, "pos": [1, 2]}))
    room = backend.add(Skill("room", [], v, preconditions={"room": 1.0, "door": {"state": ["open"]}}))
    text = backend.add(Skill("text", [], v, preconditions={"room": "1"}))
    none = backend.add(Skill("none", [], v, preconditions={"door": None}))

    def applicable(state: dict[str, object]) -> set[str]:
        return {str(m.skill.id) for m in backend.search(v, 10, state=state)}

    assert applicable({}) == {anywhere}
    assert applicable({"has_key": 1, "pos": (1, 2)}) == {anywhere, door}  # True == 1, list == tuple
    assert applicable({"has_key": 1.0, "pos": np.array([1, 2])}) == {anywhere, door}
    assert applicable({"has_key": True, "pos": (2, 1)}) == {anywhere}  # positions matter
    assert applicable({"has_key": True, "pos": (1, 2, 3)}) == {anywhere}
    assert applicable({"has_key": "True", "pos": (1, 2)}) == {anywhere}
    assert applicable({"room": True, "door": {"state": ("open",)}}) == {anywhere, room}
    assert applicable({"room": 1, "door": {"state": ["open"], "x": 1}}) == {anywhere}
    assert applicable({"room": "1"}) == {anywhere, text}
    assert applicable({"door": None}) == {anywhere, none}
    assert applicable({"door": 0}) == {anywhere}  # None is not 0 or False
    assert applicable({"room": np.int64(1), "door": {"state": ["open"]}}) == {anywhere, room}


def test_where_filters_on_metadata_equality(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    v = np.ones(DIM)
    a = backend.add(Skill("a", [], v, metadata={"task": "door", "level": 1, "tags": ["x", "y"]}))
    b = backend.add(Skill("b", [], v, metadata={"task": "door", "level": 2.5}))
    c = backend.add(Skill("c", [], v, metadata={"task": "key", "blob": b"\x01"}))

    def found(where: dict[str, object]) -> set[str]:
        return {str(m.skill.id) for m in backend.search(v, 10, where=where)}

    assert found({"task": "door"}) == {a, b}
    assert found({"task": "door", "level": True}) == {a}
    assert found({"level": 2.5}) == {b}
    assert found({"tags": ("x", "y")}) == {a}
    assert found({"tags": ["y", "x"]}) == set()
    assert found({"blob": b"\x01"}) == {c}
    assert found({"missing": None}) == set()
    assert found({}) == {a, b, c}


def test_search_many_matches_search(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(14)
    ids = backend.add_many(random_skills(rng, 120, DIM))
    record_random_outcomes(backend, ids, rng, 60)
    queries = rng.normal(size=(6, DIM))
    shared = random_state(rng)
    states = [random_state(rng) for _ in queries]
    skills = list(backend)
    for rank in ("similarity", "success", "blend"):
        for state in (None, shared, states):
            results = backend.search_many(queries, 4, state=state, rank=rank, where={"task": "key"})
            assert len(results) == len(queries)
            for i, got in enumerate(results):
                one = states[i] if state is states else state
                assert_ranking(got, reference_scores(skills, queries[i], state=one, where={"task": "key"},
                                                     rank=rank), 4)
    assert backend.search_many(np.empty((0, DIM)), 3) == []


def test_empty_and_filtered_out_searches(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    assert backend.search(np.ones(DIM), 3) == []
    assert backend.search(None, 3) == []
    backend.add(Skill("a", [], np.ones(DIM), preconditions={"room": 0}))
    assert backend.search(np.ones(DIM), 3, state={"room": 1}) == []
    assert backend.search(np.ones(DIM), 3, where={"task": "none"}) == []
    assert [m.skill.name for m in backend.search(np.ones(DIM), 3, state={"room": 0})] == ["a"]
    assert ROOMS  # the helpers' rooms include the one used here


# -- dedup --------------------------------------------------------------------------


def test_dedup_merges_near_duplicates_with_equal_preconditions(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM, dedup_threshold=0.95)
    rng = np.random.default_rng(5)
    base = rng.normal(size=DIM)
    first = backend.add(Skill("first", ["a"], base, preconditions={"has_key": True, "pos": [1, 2]}))
    near = base + rng.normal(size=DIM) * 0.01
    # equal preconditions under the rule: 1 == True, tuple == list
    merged = backend.add(Skill("again", ["b"], near, preconditions={"has_key": 1, "pos": (1, 2)}))
    assert merged == first and len(backend) == 1
    skill = backend.get(first)
    assert skill.stats.observations == 2 and skill.name == "first" and skill.actions == ["a"]
    assert [p["name"] for p in skill.provenance] == ["again"]
    expected = float(np.dot(unit(base), unit(near)))
    assert skill.provenance[0]["score"] == pytest.approx(expected, abs=TOLERANCE)
    assert skill.updated_at == skill.provenance[0]["at"]
    # other preconditions, or too far: a new skill
    assert backend.add(Skill("elsewhere", [], near, preconditions={"has_key": True})) != first
    far = rng.normal(size=DIM)
    assert backend.add(Skill("far", [], far, preconditions={"has_key": True, "pos": (1, 2)})) != first
    assert len(backend) == 3


def test_dedup_picks_the_most_similar_and_counts_batches(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM, dedup_threshold=0.9)
    e = np.eye(DIM)
    a = backend.add(Skill("a", [], e[0] + 0.30 * e[1]))
    b = backend.add(Skill("b", [], e[0] - 0.30 * e[1]))
    assert a != b
    # closer to b than to a; both are above the threshold
    assert backend.add(Skill("to-b", [], e[0] - 0.2 * e[1])) == b
    # within one batch, the second copy merges into the first of the batch
    c1, c2, c3 = backend.add_many([Skill("c", [], e[2]), Skill("c2", [], e[2] + 0.01 * e[3]), Skill("d", [], e[4])])
    assert c1 == c2 != c3
    assert backend.get(c1).stats.observations == 2 and backend.get(b).stats.observations == 2
    assert len(backend) == 4


def test_without_threshold_nothing_merges(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    ids = backend.add_many([Skill("same", [], np.ones(DIM)) for _ in range(3)])
    assert len(set(ids)) == 3


# -- outcomes -----------------------------------------------------------------------


def test_record_outcome_counts(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    skill_id = backend.add(Skill("a", [], np.ones(DIM)))
    stats = backend.record_outcome(skill_id, True, reward=1.5)
    assert (stats.attempts, stats.successes, stats.failures, stats.total_reward) == (1, 1, 0, 1.5)
    assert stats.last_used_at is not None
    stats = backend.record_outcome(skill_id, False)
    stats = backend.record_outcome(skill_id, np.bool_(False), reward=-0.25)
    assert (stats.attempts, stats.successes, stats.failures, stats.total_reward) == (3, 1, 2, 1.25)
    assert stats.success_rate == pytest.approx(1 / 3)
    assert backend.get(skill_id).stats == stats


# -- errors -------------------------------------------------------------------------


def test_errors_are_typed_and_leave_the_library_unchanged(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(6)
    ids = backend.add_many(random_skills(rng, 4, DIM))
    before = snapshot(backend)
    good = Skill("ok", [], np.ones(DIM))
    cases: list[tuple[type[Exception], object]] = [
        (SkillNotFoundError, lambda: backend.get("missing")),
        (SkillNotFoundError, lambda: backend.get(42)),
        (SkillNotFoundError, lambda: backend.delete("missing")),
        (SkillNotFoundError, lambda: backend.update("missing", name="x")),
        (SkillNotFoundError, lambda: backend.record_outcome("missing", True)),
        (DimensionMismatchError, lambda: backend.add(Skill("x", [], np.ones(DIM + 1)))),
        (InvalidEmbeddingError, lambda: backend.add(Skill("x", [], [math.nan] * DIM))),
        (InvalidEmbeddingError, lambda: backend.add(Skill("x", [], np.zeros(DIM)))),
        (InvalidEmbeddingError, lambda: backend.add(Skill("x", [], "not a vector"))),
        (InvalidSkillError, lambda: backend.add("not a skill")),
        (InvalidSkillError, lambda: backend.add(Skill("", [], np.ones(DIM)))),
        (InvalidSkillError, lambda: backend.add(Skill("x", {1, 2}, np.ones(DIM)))),
        (InvalidSkillError, lambda: backend.add(Skill("x", [], np.ones(DIM), metadata={"s": {1}}))),
        (InvalidSkillError, lambda: backend.add(Skill("x", [], np.ones(DIM), preconditions={1: 2}))),
        (InvalidSkillError, lambda: backend.add_many([good, Skill("x", [], np.ones(DIM), metadata=[1])])),
        (DimensionMismatchError, lambda: backend.add_many([good, Skill("x", [], np.ones(3))])),
        (InvalidInputError, lambda: backend.update(ids[0], colour="red")),
        (InvalidEmbeddingError, lambda: backend.update(ids[0], embedding=np.zeros(DIM))),
        (InvalidInputError, lambda: backend.record_outcome(ids[0], "yes")),
        (InvalidInputError, lambda: backend.record_outcome(ids[0], True, reward=math.inf)),
        (InvalidInputError, lambda: backend.search(np.ones(DIM), 0)),
        (InvalidInputError, lambda: backend.search(np.ones(DIM), 3, rank="best")),
        (InvalidInputError, lambda: backend.search(np.ones(DIM), 3, state=[("a", 1)])),
        (InvalidInputError, lambda: backend.search(np.ones(DIM), 3, where={1: 2})),
        (InvalidInputError, lambda: backend.search(np.ones(DIM), 3, min_score="high")),
        (InvalidInputError, lambda: backend.search_many(np.ones((2, DIM)), 3, min_score=math.nan)),
        (DimensionMismatchError, lambda: backend.search(np.ones(DIM - 1), 3)),
        (InvalidEmbeddingError, lambda: backend.search(np.full(DIM, np.inf), 3)),
        (InvalidInputError, lambda: backend.search_many(np.ones((2, DIM)), 3, state=[{}])),
        (InvalidEmbeddingError, lambda: backend.search_many(np.ones(DIM), 3)),
    ]
    for error, call in cases:
        with pytest.raises(error):
            call()  # type: ignore[operator]
        assert snapshot(backend) == before, error
    assert issubclass(SkillNotFoundError, LookupError)


# -- stats --------------------------------------------------------------------------


def test_stats_summarise_the_library(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM, dedup_threshold=0.99)
    empty = backend.stats()
    assert (empty["total_skills"], empty["total_uses"], empty["avg_success_rate"]) == (0, 0, 0.0)
    a, b, c = backend.add_many([Skill(n, [], np.eye(DIM)[i]) for i, n in enumerate("abc")])
    assert backend.add(Skill("a-again", [], np.eye(DIM)[0])) == a
    for success in (True, True, False):
        backend.record_outcome(a, success)
    backend.record_outcome(b, False)
    stats = backend.stats()
    assert stats["dim"] == DIM and isinstance(stats["backend"], str)
    assert stats["total_skills"] == 3
    assert stats["total_uses"] == 4
    assert stats["total_successes"] == 2 and stats["total_failures"] == 2
    assert stats["total_observations"] == 4
    assert stats["skills_never_used"] == 1
    assert stats["avg_success_rate"] == pytest.approx((2 / 3 + 0) / 2)
    assert stats["overall_success_rate"] == pytest.approx(0.5)
    assert c in backend
