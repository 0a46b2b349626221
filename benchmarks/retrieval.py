"""Retrieval figures: latency p50/p95, QPS and recall@10 per system, size, dimension and filter."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.data import SELECTIVITY_ZONES, Dataset, exact_top_k, make_dataset, recall_at_k
from benchmarks.probe import probe
from benchmarks.systems import SYSTEMS, System, available, clean

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


def open_figures(name: str, system: System, workdir: Path, n: int, dim: int) -> dict[str, Any]:
    """Open time, first queries and memory per skill in a fresh process (and read-write for skillstore)."""
    cold = probe(name, workdir, dim)
    figures: dict[str, Any] = {
        "open_ms": cold["open_ms"],
        "first_query_ms": cold["first_query_ms"],
        "first_filtered_query_ms": cold["first_filtered_query_ms"],
    }
    if system.in_process:
        figures["rss_bytes_per_skill"] = cold["rss_bytes"] / n
        figures["hwm_bytes_per_skill"] = cold["hwm_bytes"] / n
    if system.has_read_only_open:
        figures["open_read_write_ms"] = probe(name, workdir, dim, read_write=True)["open_ms"]
    return figures


def _measure_system(
    name: str,
    system: System,
    data: Dataset,
    truths: dict[str, list[np.ndarray]],
    selectivities: list[str],
    workdir: Path,
    base: dict[str, Any],
) -> list[dict[str, Any]]:
    started = time.perf_counter()
    system.build(data, workdir)
    extra: dict[str, Any] = {"build_s": time.perf_counter() - started}
    system.close()
    extra.update(open_figures(name, system, workdir, data.n, data.dim))
    system.open(workdir)
    extra["exact"] = system.exact
    size = system.disk_bytes()
    if size is not None:
        extra["disk_bytes_per_skill"] = size / data.n
    rows = []
    for label in selectivities:
        result = measure(system, data, SELECTIVITY_ZONES[label], truths[label])
        rows.append({**base, "selectivity": label, **result, **extra})
    return rows


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
    told: set[str] = set()
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
                    if name not in told:
                        click.echo(f"\nskipping {name}: {reason}", err=True)
                        told.add(name)
                    rows += [{**base, "selectivity": s, "skipped": reason} for s in selectivities]
                    continue
                workdir = workroot / f"{name}-{n}-{dim}"
                clean(workdir)
                workdir.mkdir(parents=True)
                try:
                    rows += _measure_system(name, system, data, truths, selectivities, workdir, base)
                except Exception as error:  # one peer's failure must not lose the others' figures
                    click.echo(f"\n{name} failed at n={n} d={dim}: {error!r}", err=True)
                    rows += [{**base, "selectivity": s, "failed": repr(error)} for s in selectivities]
                finally:
                    system.close()
                    system.dispose(workdir)
                    clean(workdir)
    return rows
