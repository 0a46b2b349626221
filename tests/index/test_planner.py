"""HNSW and the filter-aware planner: recall against exact search, filters, deletes, reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.data import SELECTIVITY_ZONES, exact_top_k, make_dataset, recall_at_k
from skillstore import Skill, SkillStore
from skillstore import index as index_module

N, DIM, K = 6000, 16, 10


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    return make_dataset(N, DIM, 40, seed=3)


def _build(path: Path, data, kind: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with SkillStore.open(path, dim=DIM, index=kind, durability="flush") as store:
        ids = store.add_many(
            Skill(f"s{i}", [i], data.vectors[i], preconditions={"zone": int(data.zones[i])}) for i in range(N)
        )
    return {skill_id: i for i, skill_id in enumerate(ids)}


def _mean_recall(store: SkillStore, data, row_of: dict[str, int], zone: int | None, alive=None) -> float:  # type: ignore[no-untyped-def]
    truth = exact_top_k(data, zone, K) if alive is None else _exact_among(data, zone, alive)
    state = None if zone is None else {"zone": zone}
    recalls = [
        recall_at_k([row_of[m.skill.id] for m in store.search(q, k=K, state=state)], expected)
        for q, expected in zip(data.queries, truth, strict=True)
    ]
    return float(np.mean(recalls))


def _exact_among(data, zone: int | None, alive: np.ndarray) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    rows = data.rows_in(zone)
    rows = rows[np.isin(rows, alive)]
    sims = data.queries @ data.vectors[rows].T
    return [rows[t] for t in np.argsort(-sims, axis=1, kind="stable")[:, :K]]


@pytest.fixture
def graph_search_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every filtered query through the HNSW graph, as in a library far larger than this one."""
    monkeypatch.setattr(index_module, "GATHER_MAX", 0)
    monkeypatch.setattr(index_module, "EXACT_MAX", 0)
    monkeypatch.setattr(index_module, "SUBSET_MAX_ROWS", 0)


@pytest.mark.parametrize("selectivity", list(SELECTIVITY_ZONES))
def test_hnsw_filtered_recall_stays_high_at_every_selectivity(
    tmp_path: Path,
    data,
    graph_search_only: None,
    selectivity: str,  # type: ignore[no-untyped-def]
) -> None:
    row_of = _build(tmp_path / "s", data, "hnsw")
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        assert store.stats()["index"] == "hnsw"
        assert _mean_recall(store, data, row_of, SELECTIVITY_ZONES[selectivity]) >= 0.95


def test_plain_hnsw_under_a_selective_filter_is_what_the_planner_fixes(
    tmp_path: Path,
    data,
    graph_search_only: None,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    row_of = _build(tmp_path / "s", data, "hnsw")
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        planned = _mean_recall(store, data, row_of, SELECTIVITY_ZONES["1%"])
        monkeypatch.setattr(index_module, "EF_SEARCH_MAX", 16)  # no raise of efSearch for the filter
        unplanned = _mean_recall(store, data, row_of, SELECTIVITY_ZONES["1%"])
    assert planned >= 0.95
    assert unplanned < planned - 0.2


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_recall_after_deletes_checkpoint_and_reopen(tmp_path: Path, data, kind: str) -> None:  # type: ignore[no-untyped-def]
    row_of = _build(tmp_path / "s", data, kind)
    rng = np.random.default_rng(0)
    doomed = set(rng.choice(N, N // 5, replace=False).tolist())
    alive = np.array(sorted(set(range(N)) - doomed))
    id_of = {i: skill_id for skill_id, i in row_of.items()}
    with SkillStore.open(tmp_path / "s") as store:
        for i in sorted(doomed):
            store.delete(id_of[i])
        for zone in (None, 0, 1):  # tombstones excluded before the checkpoint
            assert _mean_recall(store, data, row_of, zone, alive) >= 0.95
        store.checkpoint()
        assert store.stats()["tombstones"] == 0
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        assert len(store) == len(alive)
        for zone in (None, 0, 1):
            assert _mean_recall(store, data, row_of, zone, alive) >= 0.95


def test_exact_paths_equal_brute_force(tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    row_of = _build(tmp_path / "s", data, "flat")
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        for gather_max in (0, 10**9):  # the bitmap-selector scan, then the gather path
            monkeypatch.setattr(index_module, "GATHER_MAX", gather_max)
            for zone in (None, 0, 1, 2):
                assert _mean_recall(store, data, row_of, zone) == 1.0


def test_reader_on_a_mapped_index_applies_new_adds(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    _build(tmp_path / "s", data, "flat")
    with SkillStore.open(tmp_path / "s", read_only=True) as reader, SkillStore.open(tmp_path / "s") as writer:
        new_id = writer.add(Skill("late", ["x"], data.queries[0], preconditions={"zone": 0}))
        reader.refresh()  # a mapped index cannot take adds: the reader copies it first
        best = reader.search(data.queries[0], k=1, state={"zone": 0})[0]
        assert best.skill.id == new_id and best.score == pytest.approx(1.0)


def test_index_kind_is_kept_and_converted(tmp_path: Path, data) -> None:  # type: ignore[no-untyped-def]
    _build(tmp_path / "s", data, "flat")
    with SkillStore.open(tmp_path / "s", index="hnsw") as store:  # converts through a checkpoint
        assert store.stats()["index"] == "hnsw"
        store.configure_index(efSearch=300)
    with SkillStore.open(tmp_path / "s", read_only=True) as store:
        assert store.index_kind == "hnsw"
        assert store.stats()["index_params"]["efSearch"] == 300
    with SkillStore.open(tmp_path / "s") as store:
        store.configure_index(kind="auto")  # below AUTO_HNSW_MIN_SKILLS: flat
        assert store.stats()["index"] == "auto" and store.stats()["index_active"] == "flat"


def test_a_filter_queried_again_is_answered_from_its_cached_subset_exactly(
    tmp_path: Path, data, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(index_module, "SUBSET_MIN_ROWS", 10)  # zone 0 (600 rows) takes the subset path
    row_of = _build(tmp_path / "s", data, "hnsw")
    with SkillStore.open(tmp_path / "s") as store:
        for _ in range(3):
            assert _mean_recall(store, data, row_of, 0) == 1.0
        copies = [len(subset) for _, subset in store._index._subsets._entries.values()]
        assert copies == [int(np.count_nonzero(data.zones == 0))]  # one copy, made on the second sighting
        new_id = store.add(Skill("new", ["x"], data.queries[0], preconditions={"zone": 0}))
        assert store.search(data.queries[0], k=1, state={"zone": 0})[0].skill.id == new_id  # cache cleared
