"""The filter and text benchmark at a tiny size: its filters mean the same in every system's
language, its BM25 reference is BM25, and the whole pipeline runs and writes its table and plot."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import filterplots, filters
from benchmarks.filterdata import FILTER_KINDS, SELECTIVITIES, filter_tree, make_filter_library, mask
from benchmarks.filtersystems import missing, mongo_filter, qdrant_filter, sql_filter
from benchmarks.textsearch import BM25Reference, fused_scores, tie_aware_recall, top_k
from skillstore import MemoryBackend, Skill


def test_filters_keep_about_their_share() -> None:
    library = make_filter_library(20_000, 8, 1)
    for kind in FILTER_KINDS:
        for share in SELECTIVITIES.values():
            kept = mask(filter_tree(kind, share), library).mean()
            assert abs(kept - share) <= max(0.25 * share, 0.0006), (kind, share, kept)


def test_library_is_deterministic_and_words_vary_in_frequency() -> None:
    a, b = make_filter_library(500, 8, 3, seed=4), make_filter_library(500, 8, 3, seed=4)
    assert a.descriptions == b.descriptions and a.text_queries == b.text_queries
    assert np.array_equal(a.tier, b.tier) and np.array_equal(a.vectors, b.vectors)
    reference = BM25Reference.build(a.descriptions)
    held = sorted((len(rows) for rows, _ in reference.postings.values()), reverse=True)
    assert held[0] > 20 * held[len(held) // 2]  # Zipf: the commonest word is far commoner than the median


@pytest.fixture(scope="module")
def small() -> tuple:  # type: ignore[type-arg]
    library = make_filter_library(400, 8, 5, seed=1)
    return library, [filter_tree(kind, share) for kind in FILTER_KINDS for share in SELECTIVITIES.values()]


def test_the_mongo_expression_keeps_what_the_mask_keeps(small: tuple) -> None:  # type: ignore[type-arg]
    library, trees = small
    backend = MemoryBackend(dim=library.dim)
    ids = backend.add_many(
        Skill(
            library.name(i),
            [i],
            library.vectors[i],
            metadata={"tier": int(library.tier[i]), "room": int(library.room[i])},
        )
        for i in range(library.n)
    )
    row = {skill_id: i for i, skill_id in enumerate(ids)}
    for tree in trees:
        found = sorted(row[s.id] for s in backend.find(mongo_filter(tree)))
        assert found == np.flatnonzero(mask(tree, library)).tolist(), tree


def test_sql_filter_reads_as_sql() -> None:
    tree = ("or", [("lt", "tier", 5), ("and", [("in", "room", [1, 2]), ("gte", "tier", 50)])])
    assert sql_filter(tree) == "(tier < 5 OR (room IN (1, 2) AND tier >= 50))"


def test_qdrant_filter_keeps_what_the_mask_keeps(small: tuple) -> None:  # type: ignore[type-arg]
    if missing("qdrant-local"):
        pytest.skip(missing("qdrant-local"))
    from qdrant_client import QdrantClient, models

    library, trees = small
    client = QdrantClient(":memory:")
    client.create_collection("s", vectors_config=models.VectorParams(size=library.dim, distance=models.Distance.DOT))
    client.upsert(
        "s",
        points=models.Batch(
            ids=list(range(library.n)),
            vectors=library.vectors.tolist(),
            payloads=[{"tier": int(library.tier[i]), "room": int(library.room[i])} for i in range(library.n)],
        ),
    )
    for tree in trees:
        points, _ = client.scroll("s", scroll_filter=qdrant_filter(tree, models), limit=library.n)
        assert sorted(int(p.id) for p in points) == np.flatnonzero(mask(tree, library)).tolist(), tree
    client.close()


def test_bm25_reference_by_hand() -> None:
    reference = BM25Reference.build(["open the door", "door door key", "Key"])
    scores = reference.scores("DOOR door")
    avg = 7 / 3  # documents of 3, 3 and 1 words
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    expected0 = idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / avg))
    expected1 = idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / avg))
    assert scores == pytest.approx([expected0, expected1, 0.0])
    assert top_k(scores, 5, np.arange(3)).tolist() == [1, 0]
    # ties: either of two equal scores fills the last place
    assert tie_aware_recall([0], np.array([1.0, 1.0, 0.5]), 1) == 1.0
    assert tie_aware_recall([2], np.array([1.0, 1.0, 0.5]), 1) == 0.0


def test_fusion_reference_ranks_by_reciprocal_rank() -> None:
    cosines = np.array([0.9, 0.8, 0.1])
    text = np.array([0.0, 1.0, 2.0])
    fused = fused_scores(cosines, text, np.arange(3))
    assert fused == pytest.approx([1 / 61, 1 / 62 + 1 / 62, 1 / 63 + 1 / 61])


def test_the_pipeline_runs_and_exact_systems_find_the_true_top_k(tmp_path: Path) -> None:
    names = ["numpy", "skillstore-flat", *(n for n in ("lancedb",) if not missing(n))]
    figures = filters.run([200], 8, names, 3, tmp_path / "work", budget_s=0.02)
    assert {r["system"] for r in figures["filters"]} == set(names)
    assert len(figures["filters"]) == len(names) * len(FILTER_KINDS) * len(SELECTIVITIES)
    for row in figures["filters"]:
        assert row["recall"] == 1.0, row  # every system here searches exactly
    assert len(figures["text"]) == len(names) * 2 * 3  # text and hybrid, three kinds of words
    for row in figures["text"]:
        assert "not_offered" not in row, row  # each of these systems ranks by text
        if row["system"] in ("numpy", "skillstore-flat"):
            assert row["recall"] == 1.0, row  # the reference, and skillstore's own BM25 and fusion
    text = filters.markdown(figures, {"date": "d", "cpu": "c", "cores": 2}, "python -m benchmarks --preset filters")
    assert "| 200 | range |" in text and "| 200 | text | rare words |" in text
    filterplots.latency_vs_selectivity(figures, tmp_path / "filters.png")
    assert (tmp_path / "filters.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_keeps_every_size_apart() -> None:
    def row(n: int, system: str, p50: float) -> dict:  # type: ignore[type-arg]
        return {"n": n, "filter": "range", "selectivity": "1%", "kept_share": 0.01, "system": system,
                "p50_ms": p50, "p95_ms": p50, "recall": 1.0}  # fmt: skip

    figures = {"filters": [row(10, "a", 1.0), row(20, "a", 2.0)], "text": [], "skipped": {}, "build_s": {}}
    text = filters.markdown({**figures, "target": 0.95}, {"date": "d", "cpu": "c", "cores": 2}, "cmd")
    assert "| 10 | range | 1.00% | 1 / 1 |" in text and "| 20 | range | 1.00% | 2 / 2 |" in text
