"""Every public call of SkillStore and MemoryBackend, on both backends where they share it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from store_helpers import contents, skill_fields

from skillstore import (
    BLEND_WEIGHT,
    RANK_MODES,
    Match,
    MemoryBackend,
    Skill,
    SkillBackend,
    SkillStats,
    SkillStore,
    SkillStoreError,
    VerifyReport,
)
from skillstore.storage.log import HEADER_SIZE as LOG_HEADER_SIZE

E0, E1, E2, E3 = np.eye(4).tolist()


def make_skill(name: str = "go", embedding: object = None, **fields: object) -> Skill:
    return Skill(name, ["move_up", "pickup_key"], E0 if embedding is None else embedding, **fields)  # type: ignore[arg-type]


def ids_of(matches: list[Match]) -> list[str]:
    return [m.skill.id for m in matches]


# -- add / get / contains / len / iter -------------------------------------------------------


def test_add_assigns_a_string_id_and_get_returns_the_normalised_skill(backend: SkillBackend) -> None:
    skill_id = backend.add(
        Skill(
            "open",
            {"code": "door.open()", "bytes": b"\x00\x01"},
            [3, 4, 0, 0],
            preconditions={"has_key": True, "pos": [1, 2]},
            description="opens the door",
            metadata={"source": "episode-3", "tags": ("a", "b")},
        )
    )
    assert isinstance(skill_id, str) and skill_id
    got = backend.get(skill_id)
    assert got.id == skill_id and got.name == "open" and got.description == "opens the door"
    assert got.actions == {"code": "door.open()", "bytes": b"\x00\x01"}
    assert got.embedding.dtype == np.float32
    np.testing.assert_allclose(got.embedding, [0.6, 0.8, 0, 0], rtol=1e-6)
    assert got.preconditions == {"has_key": True, "pos": (1, 2)}
    assert got.metadata == {"source": "episode-3", "tags": ["a", "b"]}
    assert got.stats == SkillStats()
    assert got.created_at is not None and got.created_at == got.updated_at
    assert got.provenance == []


def test_len_contains_and_iter_follow_adds_and_deletes(backend: SkillBackend) -> None:
    assert len(backend) == 0 and list(backend) == []
    first, second = backend.add(make_skill("a")), backend.add(make_skill("b", E1))
    assert len(backend) == 2
    assert first in backend and second in backend
    assert "nope" not in backend and 42 not in backend and None not in backend
    assert {s.id for s in backend} == {first, second}
    backend.delete(first)
    assert first not in backend and len(backend) == 1
    assert [s.id for s in backend] == [second]


def test_add_many_returns_ids_in_order_and_an_empty_batch_is_a_no_op(backend: SkillBackend) -> None:
    ids = backend.add_many([make_skill(f"s{i}", np.eye(4)[i % 4] + i) for i in range(6)])
    assert len(ids) == len(set(ids)) == 6 == len(backend)
    assert [backend.get(i).name for i in ids] == [f"s{i}" for i in range(6)]
    assert backend.add_many([]) == []
    assert backend.add_many(iter([])) == []
    assert len(backend) == 6


def test_add_many_accepts_a_generator(backend: SkillBackend) -> None:
    ids = backend.add_many(make_skill(f"g{i}", [1, i, 0, 0]) for i in range(3))
    assert [backend.get(i).name for i in ids] == ["g0", "g1", "g2"]


def test_skills_read_back_are_copies(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(metadata={"tags": ["a"]}, preconditions={"k": 1}))
    got = backend.get(skill_id)
    got.actions.append("evil")
    got.metadata["tags"].append("evil")  # type: ignore[index]
    got.preconditions["k"] = 2  # type: ignore[index]
    got.embedding[0] = 0.0
    again = backend.get(skill_id)
    assert again.actions == ["move_up", "pickup_key"]
    assert again.metadata == {"tags": ["a"]}
    assert again.preconditions == {"k": 1}
    assert again.embedding[0] == 1.0


def test_the_skill_passed_to_add_is_not_changed(backend: SkillBackend) -> None:
    skill = make_skill(preconditions={"pos": [0, 1]})
    backend.add(skill)
    assert skill.id is None and skill.preconditions == {"pos": [0, 1]}


def test_adding_a_skill_read_back_creates_a_new_skill(backend: SkillBackend) -> None:
    first = backend.add(make_skill())
    backend.record_outcome(first, True)
    second = backend.add(backend.get(first))
    assert second != first
    assert backend.get(second).stats == SkillStats()


def test_both_backends_satisfy_the_protocol(backend: SkillBackend) -> None:
    assert isinstance(backend, SkillBackend)
    assert backend.dim == 4


# -- update / delete ---------------------------------------------------------------------------


def test_update_changes_only_the_given_fields(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(preconditions={"k": 1}, metadata={"m": 1}, description="d"))
    before = backend.get(skill_id)
    updated = backend.update(skill_id, name="renamed", actions=["open_door"], metadata={"m": 2})
    assert updated == backend.get(skill_id)
    assert updated.name == "renamed" and updated.actions == ["open_door"] and updated.metadata == {"m": 2}
    assert updated.description == "d" and updated.preconditions == {"k": 1}
    assert np.array_equal(updated.embedding, before.embedding)
    assert updated.created_at == before.created_at
    assert updated.updated_at is not None and updated.updated_at >= before.updated_at  # type: ignore[operator]


def test_update_with_no_fields_only_touches_updated_at(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill())
    before = skill_fields(backend.get(skill_id), timestamps=False)
    assert skill_fields(backend.update(skill_id), timestamps=False) == before


def test_update_embedding_moves_the_skill_in_search(backend: SkillBackend) -> None:
    a, b = backend.add(make_skill("a", E0)), backend.add(make_skill("b", E1))
    backend.record_outcome(a, True)
    assert ids_of(backend.search(E1, k=1)) == [b]
    updated = backend.update(a, embedding=[0, 1, 0, 1])
    assert ids_of(backend.search([0, 1, 0, 0.9], k=2)) == [a, b]
    assert updated.stats.successes == 1 and updated.name == "a"
    np.testing.assert_allclose(updated.embedding, [0, 0.5**0.5, 0, 0.5**0.5], rtol=1e-6)
    assert backend.search(E0, k=2, min_score=0.5) == []


def test_update_preconditions_changes_applicability(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(preconditions={"room": 1}))
    assert ids_of(backend.search(E0, state={"room": 1})) == [skill_id]
    backend.update(skill_id, preconditions={"room": 2})
    assert backend.search(E0, state={"room": 1}) == []
    assert ids_of(backend.search(E0, state={"room": 2})) == [skill_id]
    backend.update(skill_id, preconditions=None)
    assert ids_of(backend.search(E0, state={})) == [skill_id]


def test_update_metadata_changes_where_filtering(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(metadata={"env": "grid"}))
    assert ids_of(backend.search(E0, where={"env": "grid"})) == [skill_id]
    backend.update(skill_id, metadata={"env": "maze"})
    assert backend.search(E0, where={"env": "grid"}) == []
    assert ids_of(backend.search(E0, where={"env": "maze"})) == [skill_id]


def test_delete_removes_the_skill_from_every_read(backend: SkillBackend) -> None:
    keep, gone = backend.add(make_skill("keep", E1)), backend.add(make_skill("gone", E0, metadata={"x": 1}))
    backend.delete(gone)
    assert gone not in backend
    assert ids_of(backend.search(E0, k=5)) == [keep]
    assert backend.search(E0, where={"x": 1}) == []
    assert backend.stats()["total_skills"] == 1


# -- search --------------------------------------------------------------------------------------


def test_search_orders_by_cosine_and_scores_are_cosines(backend: SkillBackend) -> None:
    ids = backend.add_many([make_skill(str(i), v) for i, v in enumerate([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0]])])
    matches = backend.search([2, 0.5, 0, 0], k=3)
    assert ids_of(matches) == [ids[0], ids[1], ids[2]]
    query = np.array([2, 0.5, 0, 0]) / np.linalg.norm([2, 0.5, 0, 0])
    expected = [query[0], (query[0] + query[1]) / np.sqrt(2), query[1]]
    np.testing.assert_allclose([m.score for m in matches], expected, rtol=1e-5)
    assert all(isinstance(m, Match) and isinstance(m.score, float) for m in matches)


def test_search_k_limits_and_an_empty_backend_returns_nothing(backend: SkillBackend) -> None:
    assert backend.search(E0) == []
    backend.add_many([make_skill(str(i), [1, i, 0, 0]) for i in range(7)])
    assert len(backend.search(E0)) == 5
    assert len(backend.search(E0, k=2)) == 2
    assert len(backend.search(E0, k=100)) == 7


def test_search_with_a_huge_k_returns_every_skill(backend: SkillBackend) -> None:
    backend.add_many([make_skill(str(i), [1, i, 0, 0]) for i in range(3)])
    assert len(backend.search(E0, k=10**12)) == 3
    assert [len(r) for r in backend.search_many([E0, E1], k=10**12)] == [3, 3]


def test_search_with_state_keeps_only_applicable_skills(backend: SkillBackend) -> None:
    anywhere = backend.add(make_skill("anywhere", E2))
    with_key = backend.add(make_skill("with_key", E0, preconditions={"has_key": True}))
    at_door = backend.add(make_skill("at_door", E0, preconditions={"has_key": True, "pos": (4, 4)}))
    assert set(ids_of(backend.search(E0, state={"has_key": True, "pos": [4, 4]}))) == {anywhere, with_key, at_door}
    assert set(ids_of(backend.search(E0, state={"has_key": True, "pos": (0, 0)}))) == {anywhere, with_key}
    assert ids_of(backend.search(E0, state={"has_key": False})) == [anywhere]
    # a key missing from the state does not match
    assert ids_of(backend.search(E0, state={"pos": (4, 4)})) == [anywhere]
    assert ids_of(backend.search(E0, state={})) == [anywhere]
    # no state: no filtering at all
    assert len(backend.search(E0, state=None)) == 3


def test_state_values_compare_lists_and_tuples_as_positions(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(preconditions={"pos": (1, 2), "path": [[0, 0], [0, 1]]}))
    state = {"pos": np.array([1, 2]), "path": ((0, 0), (0, 1))}
    assert ids_of(backend.search(E0, state=state)) == [skill_id]
    assert backend.search(E0, state={"pos": (2, 1), "path": [[0, 0], [0, 1]]}) == []
    assert backend.get(skill_id).is_applicable(state)


def test_unhashable_state_and_where_values_filter_instead_of_raising(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill(preconditions={"a": (1, 2), "b": b"x"}, metadata={"m": 1, "raw": b"y"}))
    assert backend.search(E0, state={"a": {1, 2}, "b": b"x"}) == []
    assert ids_of(backend.search(E0, state={"a": (1, 2), "b": bytearray(b"x")})) == [skill_id]
    assert backend.search(E0, where={"m": {1}}) == []
    assert ids_of(backend.search(E0, where={"raw": bytearray(b"y")})) == [skill_id]


def test_search_where_filters_on_metadata_equality(backend: SkillBackend) -> None:
    a = backend.add(make_skill("a", metadata={"env": "grid", "level": 1, "tags": ["x", "y"]}))
    b = backend.add(make_skill("b", metadata={"env": "grid", "level": 2}))
    backend.add(make_skill("c", metadata={"env": "maze"}))
    backend.add(make_skill("d"))
    assert set(ids_of(backend.search(E0, where={"env": "grid"}))) == {a, b}
    assert ids_of(backend.search(E0, where={"env": "grid", "level": 2})) == [b]
    assert ids_of(backend.search(E0, where={"tags": ("x", "y")})) == [a]
    assert backend.search(E0, where={"env": "nowhere"}) == []
    assert backend.search(E0, where={"missing": None}) == []
    assert len(backend.search(E0, where={})) == 4


def test_where_and_state_combine(backend: SkillBackend) -> None:
    a = backend.add(make_skill("a", preconditions={"room": 1}, metadata={"env": "grid"}))
    backend.add(make_skill("b", preconditions={"room": 2}, metadata={"env": "grid"}))
    backend.add(make_skill("c", preconditions={"room": 1}, metadata={"env": "maze"}))
    assert ids_of(backend.search(E0, state={"room": 1}, where={"env": "grid"})) == [a]


def test_rank_success_orders_by_success_rate_then_cosine(backend: SkillBackend) -> None:
    close, far, never = backend.add_many([make_skill("close", E0), make_skill("far", E1), make_skill("never", E0)])
    backend.record_outcome(close, True)
    backend.record_outcome(close, False)
    backend.record_outcome(far, True)
    matches = backend.search(E0, k=3, rank="success")
    assert ids_of(matches) == [far, close, never]
    assert [m.score for m in matches] == [1.0, 0.5, 0.0]


def test_rank_blend_uses_the_documented_formula(backend: SkillBackend) -> None:
    a, b = backend.add_many([make_skill("a", E0), make_skill("b", [1, 1, 0, 0])])
    for _ in range(3):
        backend.record_outcome(b, True)
    matches = {m.skill.id: m.score for m in backend.search(E0, k=2, rank="blend")}
    assert matches[a] == pytest.approx((1 - BLEND_WEIGHT) * 1.0 + BLEND_WEIGHT * 0.5, abs=1e-6)
    assert matches[b] == pytest.approx((1 - BLEND_WEIGHT) * np.sqrt(0.5) + BLEND_WEIGHT * 4 / 5, abs=1e-6)
    assert RANK_MODES == ("similarity", "success", "blend", "wilson")


def test_search_without_an_embedding_ranks_by_success_rate(backend: SkillBackend) -> None:
    ids = backend.add_many([make_skill(str(i), [1, i, 0, 0], preconditions={"p": i % 2}) for i in range(4)])
    for i, skill_id in enumerate(ids):
        for attempt in range(4):
            backend.record_outcome(skill_id, attempt < i)
    assert ids_of(backend.search(None, k=4)) == ids[::-1]
    assert ids_of(backend.search(None, k=4, state={"p": 0})) == [ids[2], ids[0]]
    for rank in ("similarity", "success", "blend"):
        assert [m.score for m in backend.search(None, k=2, rank=rank)] == [0.75, 0.5]
    assert ids_of(backend.search(None, k=4, rank="wilson")) == ids[::-1]  # the bound grows with the rate


def test_min_score_drops_weaker_results(backend: SkillBackend) -> None:
    strong, _ = backend.add_many([make_skill("s", E0), make_skill("w", [1, 3, 0, 0])])
    assert ids_of(backend.search(E0, k=5, min_score=0.9)) == [strong]
    assert backend.search(E0, min_score=1.5) == []
    assert len(backend.search(E0, min_score=-1.0)) == 2


def test_equal_similarities_never_compare_skills_and_break_ties_by_id(backend: SkillBackend) -> None:
    """The seed sorted (similarity, skill) pairs and raised TypeError on a tie."""
    ids = backend.add_many([make_skill(f"twin{i}", E0) for i in range(12)])
    for rank in RANK_MODES:
        for k in (1, 3, 12, 20):
            matches = backend.search(E0, k=k, rank=rank)
            assert ids_of(matches) == sorted(ids)[:k], (rank, k)
    assert ids_of(backend.search_many([E0, E0], k=3)[1]) == sorted(ids)[:3]


def test_search_many_matches_search_for_each_query(backend: SkillBackend) -> None:
    rng = np.random.default_rng(3)
    backend.add_many([make_skill(str(i), rng.normal(size=4), preconditions={"p": int(i % 3)}) for i in range(30)])
    queries = rng.normal(size=(5, 4))
    shared = backend.search_many(queries, k=4, state={"p": 1})
    assert [ids_of(r) for r in shared] == [ids_of(backend.search(q, k=4, state={"p": 1})) for q in queries]
    states = [{"p": i % 3} for i in range(5)]
    per_query = backend.search_many(queries, k=4, state=states, rank="blend")
    assert [ids_of(r) for r in per_query] == [
        ids_of(backend.search(q, k=4, state=s, rank="blend")) for q, s in zip(queries, states, strict=True)
    ]
    assert backend.search_many(np.empty((0, 4))) == []
    assert backend.search_many(queries, state={"p": 7}) == [[] for _ in queries]


# -- record_outcome / stats ----------------------------------------------------------------------


def test_record_outcome_counts_attempts_and_returns_the_new_stats(backend: SkillBackend) -> None:
    skill_id = backend.add(make_skill())
    stats = backend.record_outcome(skill_id, True, reward=1.5)
    assert (stats.attempts, stats.successes, stats.failures, stats.success_rate) == (1, 1, 0, 1.0)
    assert stats.last_used_at is not None and stats.total_reward == 1.5
    stats = backend.record_outcome(skill_id, False)
    stats = backend.record_outcome(skill_id, np.bool_(False), reward=-0.5)
    assert (stats.attempts, stats.successes, stats.failures) == (3, 1, 2)
    assert stats.success_rate == pytest.approx(1 / 3) and stats.total_reward == 1.0
    assert backend.get(skill_id).stats == stats


def test_success_rate_is_zero_without_attempts_and_within_bounds() -> None:
    assert SkillStats().success_rate == 0.0
    assert SkillStats(attempts=4, successes=4).success_rate == 1.0


def test_stats_summarise_the_library(backend: SkillBackend) -> None:
    empty = backend.stats()
    assert (empty["total_skills"], empty["total_uses"], empty["avg_success_rate"]) == (0, 0, 0.0)
    a, b, _ = backend.add_many([make_skill("a"), make_skill("b", E1), make_skill("c", E2)])
    backend.record_outcome(a, True)
    backend.record_outcome(b, True)
    backend.record_outcome(b, False)
    stats = backend.stats()
    assert stats["total_skills"] == 3 and stats["total_uses"] == 3
    assert stats["total_successes"] == 2 and stats["total_failures"] == 1
    assert stats["avg_success_rate"] == pytest.approx(0.75)
    assert stats["overall_success_rate"] == pytest.approx(2 / 3)
    assert stats["skills_never_used"] == 1 and stats["dim"] == 4


# -- dedup -----------------------------------------------------------------------------------------


def test_dedup_merges_a_near_duplicate_and_keeps_provenance(make_backend) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(4, dedup_threshold=0.95)
    first = backend.add(make_skill("first", [1, 0.05, 0, 0], preconditions={"k": 1}))
    assert backend.add(make_skill("again", [1, 0.1, 0, 0], preconditions={"k": 1})) == first
    assert len(backend) == 1
    merged = backend.get(first)
    assert merged.name == "first" and merged.stats.observations == 2
    assert [p["name"] for p in merged.provenance] == ["again"]
    assert merged.provenance[0]["score"] >= 0.95
    # different preconditions or a distant embedding: a new skill
    assert backend.add(make_skill("other_pre", [1, 0.1, 0, 0], preconditions={"k": 2})) != first
    assert backend.add(make_skill("far", E1, preconditions={"k": 1})) != first
    assert len(backend) == 3
    assert backend.stats()["total_observations"] == 4


def test_dedup_within_one_batch_and_picks_the_closest(make_backend) -> None:  # type: ignore[no-untyped-def]
    backend = make_backend(4, dedup_threshold=0.9)
    ids = backend.add_many(
        [make_skill("a", [1, 0, 0, 0]), make_skill("b", [1, 0.05, 0, 0]), make_skill("c", [0, 1, 0, 0])]
    )
    assert ids[0] == ids[1] != ids[2]
    near_c = backend.add(make_skill("d", [0.1, 1, 0, 0]))
    assert near_c == ids[2]
    assert backend.get(ids[0]).stats.observations == 2


def test_without_dedup_identical_skills_are_kept_apart(backend: SkillBackend) -> None:
    assert backend.add(make_skill()) != backend.add(make_skill())
    assert len(backend) == 2


def test_memory_backend_is_a_context_manager() -> None:
    with MemoryBackend(3) as memory:
        memory.add(Skill("x", [], [1, 2, 3]))
    assert memory.stats()["backend"] == "memory"


# -- SkillStore only: lifecycle, persistence and storage facts --------------------------------------


def test_store_creates_and_reopens_with_everything_persisted(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4, dedup_threshold=0.99) as store:
        a = store.add(make_skill("a", preconditions={"pos": [1, 1]}, metadata={"m": [1, b"x"]}))
        store.add(make_skill("a2", preconditions={"pos": [1, 1]}))  # merged into a
        b = store.add(make_skill("b", E1))
        store.record_outcome(a, True, reward=2.0)
        store.update(b, embedding=E2, name="b2")
        gone = store.add(make_skill("gone", E3))
        store.delete(gone)
        before = contents(store)
    assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", "log-00000001", "snap-00000001"]
    with SkillStore.open(path) as store:
        assert store.dim == 4
        assert contents(store) == before
        assert ids_of(store.search(E2, k=1)) == [b]
        assert set(ids_of(store.search(E0, state={"pos": (1, 1)}))) == {a, b}
        assert ids_of(store.search(E0, state={"pos": (0, 1)})) == [b]
    with SkillStore.open(path, dim=4, create=False) as store:
        assert contents(store) == before


def test_open_accepts_str_paths_and_creates_parents(tmp_path: Path) -> None:
    with SkillStore.open(str(tmp_path / "a" / "b" / "c"), dim=2) as store:
        store.add(Skill("x", [], [1, 0]))
    with SkillStore.open(os.fspath(tmp_path / "a" / "b" / "c")) as store:
        assert len(store) == 1


def test_checkpoint_folds_the_log_drops_tombstones_and_removes_the_old_generation(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4) as store:
        ids = store.add_many([make_skill(str(i), [1, i, 0, 0], metadata={"i": i}) for i in range(5)])
        store.delete(ids[0])
        store.update(ids[1], embedding=E3)
        store.record_outcome(ids[2], False)
        assert store.stats()["tombstones"] == 2
        before = contents(store)
        results = ids_of(store.search(E0, k=5))
        store.checkpoint()
        assert store.generation == 2
        facts = store.stats()
        figures = (facts["tombstones"], facts["log_frames"], facts["log_bytes"], facts["generation"])
        assert figures == (0, 0, LOG_HEADER_SIZE, 2)  # an empty log holds only its header
        assert contents(store) == before
        assert ids_of(store.search(E0, k=5)) == results
        assert ids_of(store.search(E0, where={"i": 3})) == [ids[3]]
        store.record_outcome(ids[2], True)  # writes continue in the new generation
        after = contents(store)
        assert store.verify().ok
    assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", "log-00000002", "snap-00000002"]
    with SkillStore.open(path) as store:
        assert contents(store) == after
        store.checkpoint()
        store.checkpoint()
        assert store.generation == 4 and contents(store) == after


def test_verify_reports_a_healthy_store(store: SkillStore) -> None:
    store.add_many([make_skill(str(i), [1, i, 0, 0]) for i in range(3)])
    report = store.verify()
    assert isinstance(report, VerifyReport)
    assert report.ok and report.problems == [] and report.warnings == []
    assert report.facts["skills"] == 3 and report.facts["dim"] == 4 and report.facts["log_frames"] == 1


def test_store_stats_include_storage_facts(store: SkillStore) -> None:
    store.add(make_skill(preconditions={"a": 1}))
    store.add(make_skill(preconditions={"a": 2, "b": 1}))
    facts = store.stats()
    assert facts["backend"] == "skillstore" and facts["index"] == "flat" and facts["generation"] == 1
    assert facts["log_frames"] == 2 and facts["log_bytes"] > 0 and facts["bytes_on_disk"] > 0
    assert facts["precondition_signatures"] == 2 and facts["durability"] == "fsync"


def test_refresh_shows_commits_of_another_handle(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4) as writer, SkillStore.open(path, read_only=True) as reader:
        skill_id = writer.add(make_skill())
        assert skill_id not in reader
        reader.refresh()
        assert reader.get(skill_id) == writer.get(skill_id)
        writer.record_outcome(skill_id, True)
        writer.checkpoint()
        reader.refresh()
        assert reader.get(skill_id).stats.attempts == 1 and reader.generation == 2


def test_two_writer_handles_in_one_process_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4) as first, SkillStore.open(path) as second:
        skill_id = first.add(make_skill())
        second.record_outcome(skill_id, True)  # catches up under the lock before writing
        first.record_outcome(skill_id, False)
        assert first.get(skill_id).stats.attempts == 2
        second.refresh()
        assert contents(first) == contents(second)


def test_flush_durability_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4, durability="flush") as store:
        assert store.stats()["durability"] == "flush"
        skill_id = store.add(make_skill())
    with SkillStore.open(path) as store:
        assert skill_id in store


def test_read_only_store_reads_everything(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=4) as store:
        skill_id = store.add(make_skill(preconditions={"k": 1}))
        before = contents(store)
    with SkillStore.open(path, read_only=True) as reader:
        assert contents(reader) == before
        assert ids_of(reader.search(E0, state={"k": 1})) == [skill_id]
        assert reader.stats()["total_skills"] == 1 and reader.verify().ok


def test_closed_store_refuses_reads_and_writes_and_close_is_idempotent(tmp_path: Path) -> None:
    store = SkillStore.open(tmp_path / "skills", dim=4)
    skill_id = store.add(make_skill())
    store.close()
    store.close()
    assert "closed" in repr(store)
    for call in (
        lambda: store.get(skill_id),
        lambda: store.add(make_skill()),
        lambda: store.search(E0),
        lambda: store.record_outcome(skill_id, True),
        lambda: store.stats(),
        lambda: store.refresh(),
        lambda: store.checkpoint(),
        lambda: list(store),
    ):
        with pytest.raises(SkillStoreError):
            call()
