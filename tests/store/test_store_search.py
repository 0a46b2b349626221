"""Filtered search equals brute-force cosine top-k, on random libraries, states and filters:
through the gather path and the FAISS bitmap path, with tombstones, after checkpoint and
reopen, for every rank mode, ``embedding=None`` and ``search_many``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_helpers import assert_valid_result, reference_ranking

import skillstore.index
from skillstore import RANK_MODES, Skill, SkillStore
from skillstore.index import VectorIndex

DIM = 6
PRECONDITION_VALUES: dict[str, list[Any]] = {
    "room": [0, 1, 2],
    "has_key": [True, False],
    "pos": [(0, 0), (0, 1), [1, 1]],
}


def random_preconditions(rng: np.random.Generator) -> dict[str, Any]:
    keys = rng.permutation(list(PRECONDITION_VALUES))[: rng.integers(0, 3)]
    return {str(k): _pick(rng, PRECONDITION_VALUES[str(k)]) for k in keys}


def random_state(rng: np.random.Generator) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return None
    return {k: _pick(rng, values) for k, values in PRECONDITION_VALUES.items() if rng.random() < 0.8}


def random_where(rng: np.random.Generator) -> dict[str, Any] | None:
    roll = rng.random()
    if roll < 0.6:
        return None
    if roll < 0.8:
        return {"group": int(rng.integers(0, 4))}
    if roll < 0.9:
        return {"group": int(rng.integers(0, 4)), "tags": ["t", int(rng.integers(0, 2))]}
    return {"missing": 1}


def _pick(rng: np.random.Generator, values: list[Any]) -> Any:
    return values[int(rng.integers(0, len(values)))]


def random_skills(rng: np.random.Generator, count: int, dim: int = DIM) -> list[Skill]:
    """Random skills; about one in six reuses an earlier embedding, so exact ties occur."""
    vectors: list[np.ndarray] = []
    skills = []
    for i in range(count):
        if vectors and rng.random() < 0.15:
            vector = vectors[int(rng.integers(0, len(vectors)))] * float(rng.uniform(0.5, 2.0))
        else:
            vector = rng.normal(size=dim)
        vectors.append(vector)
        metadata: dict[str, Any] = {"group": int(rng.integers(0, 4))}
        if rng.random() < 0.5:
            metadata["tags"] = ["t", int(rng.integers(0, 2))]
        skills.append(Skill(f"s{i}", [i], vector, preconditions=random_preconditions(rng), metadata=metadata))
    return skills


def random_query(rng: np.random.Generator, skills: list[Skill], dim: int = DIM) -> np.ndarray | None:
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.35 and skills:
        return np.asarray(skills[int(rng.integers(0, len(skills)))].embedding, dtype=np.float64)
    return rng.normal(size=dim)


def check_searches(store: SkillStore, rng: np.random.Generator, queries: int = 25) -> None:
    skills = list(store)
    for _ in range(queries):
        query = random_query(rng, skills)
        state, where = random_state(rng), random_where(rng)
        rank = _pick(rng, list(RANK_MODES))
        k = int(rng.integers(1, 13))
        min_score = None if rng.random() < 0.7 else float(rng.uniform(-0.5, 0.8))
        got = store.search(query, k, state=state, where=where, rank=rank, min_score=min_score)
        expected = reference_ranking(skills, query, state=state, where=where, rank=rank, min_score=min_score)
        assert_valid_result(got, expected, k, min_score=min_score)
    # search_many, one state for every query and one state per query
    queries_matrix = rng.normal(size=(4, DIM))
    if skills:
        queries_matrix[0] = skills[0].embedding
    state, where, k = random_state(rng), random_where(rng), int(rng.integers(1, 9))
    for rank in RANK_MODES:
        results = store.search_many(queries_matrix, k, state=state, where=where, rank=rank)
        for query, got in zip(queries_matrix, results, strict=True):
            expected = reference_ranking(skills, query, state=state, where=where, rank=rank)
            assert_valid_result(got, expected, k)
    states = [random_state(rng) for _ in queries_matrix]
    results = store.search_many(queries_matrix, k, state=states, where=where)
    for query, one_state, got in zip(queries_matrix, states, results, strict=True):
        assert_valid_result(got, reference_ranking(skills, query, state=one_state, where=where), k)


def record_random_outcomes(store: SkillStore, rng: np.random.Generator, count: int) -> None:
    ids = [skill.id for skill in store]
    for _ in range(count if ids else 0):
        store.record_outcome(_pick(rng, ids), bool(rng.random() < 0.5))


def churn(store: SkillStore, rng: np.random.Generator) -> None:
    """Deletes, embedding moves and precondition changes: tombstones and reindexed rows."""
    ids = [skill.id for skill in store]
    for skill_id in ids:
        roll = rng.random()
        if roll < 0.1:
            store.delete(skill_id)
        elif roll < 0.2:
            store.update(skill_id, embedding=rng.normal(size=DIM))
        elif roll < 0.25:
            store.update(skill_id, preconditions=random_preconditions(rng), metadata={"group": 9})


@pytest.fixture(params=["default", "tiny"], ids=["gather-max-default", "gather-max-tiny"])
def gather_max(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """With a tiny GATHER_MAX the FAISS bitmap path serves most filtered searches."""
    if request.param == "tiny":
        monkeypatch.setattr(skillstore.index, "GATHER_MAX", 5)
    return skillstore.index.GATHER_MAX


@pytest.mark.parametrize("size", [0, 1, 9, 80, 300])
@pytest.mark.parametrize("seed", [0, 1])
def test_filtered_search_equals_brute_force(tmp_path: Path, gather_max: int, size: int, seed: int) -> None:
    rng = np.random.default_rng([seed, size, gather_max])
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM, durability="flush") as store:
        store.add_many(random_skills(rng, size))
        record_random_outcomes(store, rng, min(size, 40))
        check_searches(store, rng)
        churn(store, rng)
        record_random_outcomes(store, rng, min(size, 10))
        check_searches(store, rng)
        store.checkpoint()
        check_searches(store, rng)
        store.add_many(random_skills(rng, size // 10 + 1))
    with SkillStore.open(path, read_only=True) as reader:
        check_searches(reader, rng)


def test_filtered_search_on_an_hnsw_store_is_exact(tmp_path: Path) -> None:
    """Filtered sets this small are searched exactly even when the index kind is HNSW."""
    rng = np.random.default_rng(11)
    with SkillStore.open(tmp_path / "skills", dim=DIM, index="hnsw", durability="flush") as store:
        store.add_many(random_skills(rng, 200))
        store.checkpoint()
        churn(store, rng)
        skills = list(store)
        for _ in range(30):
            query, state, k = rng.normal(size=DIM), {"room": int(rng.integers(0, 3))}, int(rng.integers(1, 10))
            expected = reference_ranking(skills, query, state=state)
            assert_valid_result(store.search(query, k, state=state), expected, k)


@pytest.fixture
def path_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records which path each filtered FAISS-side search took."""
    taken: list[str] = []
    original = VectorIndex.search

    def search(self: VectorIndex, queries: np.ndarray, k: int, rows: np.ndarray | None = None) -> Any:
        if rows is None:
            taken.append("all")
        else:
            taken.append("gather" if len(rows) <= skillstore.index.GATHER_MAX else "bitmap")
        return original(self, queries, k, rows)

    monkeypatch.setattr(VectorIndex, "search", search)
    return taken


def test_search_across_gather_max_uses_both_paths_and_stays_exact(tmp_path: Path, path_spy: list[str]) -> None:
    """A library larger than GATHER_MAX: broad filters go to the FAISS bitmap selector,
    narrow ones are gathered; both equal brute force, before and after tombstones."""
    rng = np.random.default_rng(5)
    dim, size = 8, skillstore.index.GATHER_MAX + 1500
    vectors = rng.normal(size=(size, dim))
    vectors[size // 2 : size // 2 + 50] = vectors[7]  # exact ties
    skills = [
        Skill(
            f"s{i}",
            [],
            vectors[i],
            preconditions={} if i % 4 else {"zone": int(i % 3)},
            metadata={"bucket": int(i % 60)},
        )
        for i in range(size)
    ]
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=dim, durability="flush") as store:
        store.add_many(skills)

        def check() -> None:
            stored = list(store)
            for i in range(6):
                query = vectors[7] if i == 0 else rng.normal(size=dim)
                for state, where in [
                    ({"zone": 1}, None),
                    (None, {"bucket": 3}),
                    ({"zone": 2}, {"bucket": 8}),
                    (None, None),
                ]:
                    k = int(rng.integers(1, 30))
                    expected = reference_ranking(stored, query, state=state, where=where)
                    assert_valid_result(store.search(query, k, state=state, where=where), expected, k)
            queries = rng.normal(size=(3, dim))
            for got, query in zip(store.search_many(queries, 10, state={"zone": 0}), queries, strict=True):
                assert_valid_result(got, reference_ranking(stored, query, state={"zone": 0}), 10)

        check()
        assert {"gather", "bitmap", "all"} <= set(path_spy)
        for skill in list(store)[::9]:
            store.delete(skill.id)
        store.update(stored_id := next(iter(store)).id, embedding=rng.normal(size=dim))
        path_spy.clear()
        check()
        assert {"gather", "bitmap"} <= set(path_spy) and "all" not in path_spy  # tombstones filter every search
        store.checkpoint()
        check()
        assert stored_id in store


def test_ties_break_by_id_across_the_k_boundary_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twenty identical embeddings: whatever k, the answer is the k smallest ids, through
    the unfiltered, gathered and bitmap paths alike."""
    with SkillStore.open(tmp_path / "skills", dim=3) as store:
        ids = store.add_many([Skill(f"twin{i}", [], [1, 2, 3], preconditions={"p": i % 2}) for i in range(20)])
        other = store.add(Skill("other", [], [3, 2, 1], preconditions={"p": 5}))
        even = sorted(ids[0::2])
        for gather_max in (4096, 3):
            monkeypatch.setattr(skillstore.index, "GATHER_MAX", gather_max)
            for k in (1, 2, 5, 10, 11, 25):
                assert [m.skill.id for m in store.search([1, 2, 3], k)] == [*sorted(ids), other][:k]
                assert [m.skill.id for m in store.search([1, 2, 3], k, state={"p": 0})] == even[:k]
                many = store.search_many([[1, 2, 3], [1, 2, 3.0]], k, state={"p": 0})
                assert [[m.skill.id for m in r] for r in many] == [even[:k], even[:k]]
