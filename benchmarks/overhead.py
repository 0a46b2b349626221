"""Per-call fixed cost: skillstore's ``search`` against raw FAISS on the same vectors, side by side.

For each library size and dimension, one skillstore store (flat, built through
the public API, opened read-only) and one raw FAISS ``IndexFlatIP`` over the same
vectors answer the same queries, k = 5, one query per call on one OpenMP thread:
unfiltered, and under the 10 % zone filter, where skillstore gets the state
``{"zone": 0}`` and raw FAISS its best case, a flat index over just the
zone's rows built beforehand (labels mapped back to rows); a search of the
whole index with a precomputed ``IDSelectorBitmap`` is timed too. The calls are timed
one by one in interleaved blocks (raw, ours, raw, ours, ...) so that a noisy
neighbour hits both alike, and each figure is a median. At N = 10^5 the
filtered search is also set against the reference design's Python list scan.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import faiss
import numpy as np

from benchmarks.data import SELECTIVITY_ZONES, Dataset, make_dataset
from benchmarks.systems import SYSTEMS, clean
from benchmarks.systems.ours import add_in_batches
from skillstore import SkillStore

K = 5
FILTER = "10%"
ROUNDS = 10  # blocks per system, interleaved
WARMUP = 5
REFERENCE_AT = 100_000


def side_by_side(
    calls: dict[str, Callable[[np.ndarray], Any]], queries: np.ndarray, budget_s: float
) -> dict[str, dict[str, float]]:
    """Median seconds per call of each callable, timed in interleaved blocks within about ``budget_s``."""
    per_call = {}
    for name, call in calls.items():
        started = time.perf_counter()
        for q in queries[:WARMUP]:
            call(q)
        per_call[name] = max((time.perf_counter() - started) / WARMUP, 1e-7)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    cursor = 0
    for round_number in range(ROUNDS):
        order = list(calls) if round_number % 2 == 0 else list(reversed(calls))
        for name in order:
            call = calls[name]
            block = int(min(2000, max(3, budget_s / (ROUNDS * len(calls) * per_call[name]))))
            for _ in range(block):
                q = queries[cursor % len(queries)]
                cursor += 1
                started = time.perf_counter()
                call(q)
                samples[name].append(time.perf_counter() - started)
    return {name: {"median_s": statistics.median(s), "calls": len(s)} for name, s in samples.items()}


def flat_index(vectors: np.ndarray) -> Any:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def zone_selector(zones: np.ndarray, zone: int) -> tuple[Any, np.ndarray]:
    """FAISS search parameters selecting ``zone``'s rows, and the bitmap they point into (keep it alive)."""
    allowed = np.packbits(zones == zone, bitorder="little")
    params = faiss.SearchParameters()
    params.sel = faiss.IDSelectorBitmap(len(zones), faiss.swig_ptr(allowed))
    return params, allowed


def compare(store: SkillStore, data: Dataset, budget_s: float, reference: Any = None) -> list[dict[str, Any]]:
    """Fixed-cost rows for one store and the raw FAISS index over the same vectors."""
    index = flat_index(data.vectors)
    zone = SELECTIVITY_ZONES[FILTER]
    params, _bitmap = zone_selector(data.zones, zone)  # noqa: F841 - the selector reads the bitmap
    rows_in_zone = data.rows_in(zone)
    subset = flat_index(data.vectors[rows_in_zone])
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    rows = []
    try:
        for label, state in (("none", None), (FILTER, {"zone": zone})):
            calls: dict[str, Callable[[np.ndarray], Any]] = {
                "raw": lambda q: index.search(q[None, :], K),
                "skillstore": lambda q, s=state: store.search(q, k=K, state=s),
            }
            if state is not None:
                calls["raw"] = lambda q: rows_in_zone[subset.search(q[None, :], K)[1][0]]
                calls["raw_bitmap"] = lambda q: index.search(q[None, :], K, params=params)
            if reference is not None and state is not None:
                calls["reference"] = lambda q, z=zone: reference.query(q, K, z)
            timed = side_by_side(calls, data.queries, budget_s)
            raw, ours = timed["raw"]["median_s"], timed["skillstore"]["median_s"]
            row: dict[str, Any] = {
                "n": data.n,
                "dim": data.dim,
                "filter": label,
                "raw_faiss_us": raw * 1e6,
                "skillstore_us": ours * 1e6,
                "overhead_us": (ours - raw) * 1e6,
                "ratio": ours / raw,
                "calls": timed["skillstore"]["calls"],
            }
            if "raw_bitmap" in timed:
                row["raw_bitmap_us"] = timed["raw_bitmap"]["median_s"] * 1e6
            if "reference" in timed:
                row["reference_us"] = timed["reference"]["median_s"] * 1e6
                row["reference_ratio"] = timed["reference"]["median_s"] / ours
            rows.append(row)
    finally:
        faiss.omp_set_num_threads(threads)
    return rows


def build_store(data: Dataset, path: Path) -> None:
    clean(path)
    with SkillStore.open(path, dim=data.dim, durability="flush") as store:
        add_in_batches(store.add_many, data)
        store.checkpoint()


def run(
    sizes: list[int], dims: list[int], workroot: Path, budget_s: float = 2.0, queries: int = 256, seed: int = 0
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    plan = [(d, n) for d in dims for n in sizes]
    with click.progressbar(plan, label="fixed cost", file=sys.stderr, item_show_func=_show) as bar:
        for dim, n in bar:
            data = make_dataset(n, dim, queries, seed)
            path = workroot / f"fixed-cost-{n}-{dim}"
            build_store(data, path)
            reference = None
            reference_dir = workroot / f"fixed-cost-reference-{n}-{dim}"
            if n == REFERENCE_AT:
                reference = SYSTEMS["reference"]()
                reference.build(data, reference_dir)
                reference.open(reference_dir)
            store = SkillStore.open(path, read_only=True)
            assert isinstance(store, SkillStore)
            try:
                rows += compare(store, data, budget_s, reference)
            finally:
                store.close()
                clean(path)
                clean(reference_dir)
    return rows


def _show(item: tuple[int, int] | None) -> str | None:
    return None if item is None else f"n={item[1]} d={item[0]}"


def fixed_cost_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| N | d | filter | raw FAISS µs | skillstore µs | overhead µs | ratio | FAISS + bitmap µs "
        "| reference list scan µs (ratio) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bitmap = f"{r['raw_bitmap_us']:,.1f}" if "raw_bitmap_us" in r else "–"
        reference = f"{r['reference_us']:,.0f} ({r['reference_ratio']:,.0f}x)" if "reference_ratio" in r else "–"
        lines.append(
            f"| {r['n']:,} | {r['dim']} | {r['filter']} | {r['raw_faiss_us']:,.1f} | {r['skillstore_us']:,.1f} | "
            f"{r['overhead_us']:,.1f} | {r['ratio']:.2f}x | {bitmap} | {reference} |"
        )
    return lines
