"""Retrieval figures: latency p50/p95, QPS and recall@10 per system, size, dimension and filter."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.data import SELECTIVITY_ZONES, Dataset, exact_top_k, make_dataset, recall_at_k
from benchmarks.systems import SYSTEMS, SkillstoreSystem, System, available, clean

K = 10
WARMUP = 3
SLOW_SYSTEM_BUDGET_S = 5.0  # a system this slow answers fewer queries (at least MIN_QUERIES)
MIN_QUERIES = 3


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def measure(system: System, data: Dataset, zone: int | None, truth: list[np.ndarray]) -> dict[str, Any]:
    for q in data.queries[:WARMUP]:
        system.query(q, K, zone)
    latencies: list[float] = []
    recalls: list[float] = []
    spent = 0.0
    for q, expected in zip(data.queries, truth, strict=True):
        started = time.perf_counter()
        found = system.query(q, K, zone)
        elapsed = time.perf_counter() - started
        latencies.append(elapsed)
        recalls.append(recall_at_k(found, expected))
        spent += elapsed
        if spent > SLOW_SYSTEM_BUDGET_S and len(latencies) >= MIN_QUERIES:
            break
    return {
        "queries": len(latencies),
        "p50_ms": _percentile(latencies, 50) * 1e3,
        "p95_ms": _percentile(latencies, 95) * 1e3,
        "qps": len(latencies) / sum(latencies),
        "recall": float(np.mean(recalls)),
    }


def probe_open(path: Path, dim: int) -> dict[str, float]:
    """Open a store read-only in a fresh process: time to first answer and resident memory added."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.probe", str(path), str(dim)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def run(
    sizes: list[int],
    dims: list[int],
    systems: list[str],
    selectivities: list[str],
    queries: int,
    workroot: Path,
    seed: int = 0,
    max_n_for_dim: dict[int, int] | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    plan = [(d, n) for d in dims for n in sizes if n <= (max_n_for_dim or {}).get(d, n)]
    with click.progressbar(
        length=len(plan) * len(systems),
        label="retrieval",
        file=sys.stderr,
        item_show_func=lambda s: s,
    ) as bar:
        for dim, n in plan:
            data = make_dataset(n, dim, queries, seed)
            truths = {label: exact_top_k(data, SELECTIVITY_ZONES[label], K) for label in selectivities}
            for name in systems:
                bar.update(1, f"{name} n={n} d={dim}")
                base = {"system": name, "n": n, "dim": dim}
                system = SYSTEMS[name]()
                reason = available(name) or (
                    f"skipped above {system.max_n} skills" if system.max_n and n > system.max_n else None
                )
                if reason:
                    rows += [{**base, "selectivity": s, "skipped": reason} for s in selectivities]
                    continue
                workdir = workroot / f"{name}-{n}-{dim}"
                clean(workdir)
                started = time.perf_counter()
                system.build(data, workdir)
                build_s = time.perf_counter() - started
                extra: dict[str, Any] = {"build_s": build_s, "exact": system.exact}
                size = system.disk_bytes()
                if size is not None:
                    extra["disk_bytes_per_skill"] = size / n
                if isinstance(system, SkillstoreSystem):
                    extra["open_to_first_answer_ms"] = system.open_to_first_answer_s * 1e3
                    probe = probe_open(system.path, dim)
                    extra["rss_bytes_per_skill"] = probe["rss_bytes"] / n
                    extra["cold_open_to_first_answer_ms"] = probe["open_s"] * 1e3
                for label in selectivities:
                    result = measure(system, data, SELECTIVITY_ZONES[label], truths[label])
                    rows.append({**base, "selectivity": label, **result, **extra})
                system.close()
                clean(workdir)
    return rows
