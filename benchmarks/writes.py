"""Write figures (durable single adds, batches, outcomes) and the query-engine settings.

Also re-measures the fact the index's threading rests on: one query on a flat
index, on one OpenMP thread against all of them, and a batch through
``search_many`` against the same queries one by one.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import faiss

from benchmarks.data import make_dataset
from benchmarks.systems import clean
from skillstore import Skill, SkillStore


def _skills(data: Any, start: int, stop: int) -> list[Skill]:
    return [
        Skill(f"s{i}", [i], data.vectors[i], preconditions={"zone": int(data.zones[i])}) for i in range(start, stop)
    ]


def write_figures(
    workroot: Path, dim: int = 64, singles: int = 200, batch: int = 1000, batches: int = 20
) -> dict[str, Any]:
    data = make_dataset(singles + batch * batches, dim, 1)
    figures: dict[str, Any] = {"dim": dim}
    for durability in ("fsync", "flush"):
        path = workroot / f"writes-{durability}"
        clean(path)
        with SkillStore.open(path, dim=dim, durability=durability) as store:
            latencies = []
            for skill in _skills(data, 0, singles):
                started = time.perf_counter()
                store.add(skill)
                latencies.append(time.perf_counter() - started)
            figures[f"single_add_{durability}_per_s"] = len(latencies) / sum(latencies)
            figures[f"single_add_{durability}_p50_ms"] = statistics.median(latencies) * 1e3
            ids = [s.id for s in store]
            started = time.perf_counter()
            for skill_id in ids:
                store.record_outcome(skill_id, True)
            figures[f"record_outcome_{durability}_per_s"] = len(ids) / (time.perf_counter() - started)
            started = time.perf_counter()
            for b in range(batches):
                store.add_many(_skills(data, singles + b * batch, singles + (b + 1) * batch))
            figures[f"batch_add_{durability}_skills_per_s"] = batch * batches / (time.perf_counter() - started)
        clean(path)
    figures["batch_size"] = batch
    return figures


def engine_figures(workroot: Path, n: int = 100_000, dim: int = 64, queries: int = 200) -> dict[str, Any]:
    data = make_dataset(n, dim, queries)
    index = faiss.IndexFlatIP(dim)
    index.add(data.vectors)
    figures: dict[str, Any] = {"n": n, "dim": dim}
    previous = faiss.omp_get_max_threads()
    for threads in sorted({1, previous}):
        faiss.omp_set_num_threads(threads)
        latencies = []
        for q in data.queries:
            started = time.perf_counter()
            index.search(q[None, :], 10)
            latencies.append(time.perf_counter() - started)
        figures[f"flat_single_query_p50_ms_{threads}_threads"] = statistics.median(latencies) * 1e3
    faiss.omp_set_num_threads(previous)
    path = workroot / f"engine-{n}-{dim}"  # inside the run's own directory: runs side by side never share it
    clean(path)
    with SkillStore.open(path, dim=dim, durability="flush") as store:
        store.add_many(_skills(data, 0, n))
        started = time.perf_counter()
        for q in data.queries:
            store.search(q, k=10)
        looped = time.perf_counter() - started
        started = time.perf_counter()
        store.search_many(data.queries, k=10)
        batched = time.perf_counter() - started
    clean(path)
    figures["search_loop_qps"] = queries / looped
    figures["search_many_qps"] = queries / batched
    return figures
