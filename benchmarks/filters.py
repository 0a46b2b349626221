"""Filtered, text and hybrid search against Chroma, LanceDB and Qdrant at equal recall.

Every system is built from the same :class:`~benchmarks.filterdata.FilterLibrary` and kept
open, and each query kind is measured on every system in turn, so that the figures are
side by side in one run. A filtered query asks for the 10 nearest skills among those a
range, an ``$in`` or an ``$or``/``$and`` filter keeps (50 %, 10 %, 1 % and 0.1 % of the
library); recall@10 is against exact search over the kept rows. An approximate system
starts at its default search setting and moves up its ``levels`` until its recall
reaches the target, so latencies compare at equal recall. Text queries are two words
from a frequency band; their recall is against the NumPy BM25 and fusion references of
:mod:`benchmarks.textsearch`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.filterdata import (
    FILTER_KINDS,
    SELECTIVITIES,
    FilterLibrary,
    Tree,
    exact_filtered_top_k,
    filter_tree,
    make_filter_library,
    mask,
)
from benchmarks.filtersystems import FILTER_SYSTEMS, FilterSystem, NotOffered, NumpyExact, missing
from benchmarks.textsearch import BM25Reference, fused_scores, tie_aware_recall, top_k

K = 10
WARMUP = 2
MIN_QUERIES = 5
RECALL_TARGET = 0.95


def _timed(
    call: Callable[[int], list[int]], recall: Callable[[int, list[int]], float], queries: int, budget_s: float
) -> dict[str, Any]:
    """Single-query calls until ``queries`` are done or ``budget_s`` is spent (at least MIN_QUERIES)."""
    for i in range(min(WARMUP, queries)):
        call(i)
    latencies: list[float] = []
    recalls: list[float] = []
    for i in range(queries):
        started = time.perf_counter()
        found = call(i)
        latencies.append(time.perf_counter() - started)
        recalls.append(recall(i, found))
        if sum(latencies) > budget_s and len(latencies) >= MIN_QUERIES:
            break
    return {
        "queries": len(latencies),
        "p50_ms": float(np.percentile(latencies, 50)) * 1e3,
        "p95_ms": float(np.percentile(latencies, 95)) * 1e3,
        "recall": float(np.mean(recalls)),
    }


def _vector_recall(truth: list[np.ndarray]) -> Callable[[int, list[int]], float]:
    def recall(i: int, found: list[int]) -> float:
        expected = truth[i]
        return len(set(found) & set(expected.tolist())) / len(expected) if len(expected) else 1.0

    return recall


def _at_target(
    system: FilterSystem,
    library: FilterLibrary,
    tree: Tree,
    recall: Callable[[int, list[int]], float],
    queries: int,
    budget_s: float,
    target: float,
) -> dict[str, Any]:
    """The figures at the first of the system's settings whose recall reaches ``target`` (else its last)."""
    where = system.native(tree)
    result: dict[str, Any] = {}
    for step, level in enumerate(system.levels):
        system.set_level(level)
        result = _timed(lambda i: system.search(library.queries[i], K, where), recall, queries, budget_s)
        result["setting"] = ", ".join(f"{k} {v}" for k, v in level.items())
        result["raised"] = step > 0  # the default setting fell short of the target
        if result["recall"] >= target:
            break
    system.set_level(system.levels[0])
    return result


def _filter_rows(
    library: FilterLibrary, systems: dict[str, FilterSystem], queries: int, budget_s: float, target: float
) -> list[dict[str, Any]]:
    rows = []
    for kind in FILTER_KINDS:
        for label, share in SELECTIVITIES.items():
            tree = filter_tree(kind, share)
            keep = mask(tree, library)
            recall = _vector_recall(exact_filtered_top_k(library, keep, K))
            base = {"n": library.n, "dim": library.dim, "filter": kind, "selectivity": label}
            base["kept_share"] = float(keep.mean())
            for name, system in systems.items():
                click.echo(f"  {kind} {label}: {name}", err=True)
                rows.append(
                    {**base, "system": name, **_at_target(system, library, tree, recall, queries, budget_s, target)}
                )
    return rows


def _text_calls(
    mode: str,
    system: FilterSystem | None,
    library: FilterLibrary,
    reference: BM25Reference,
    texts: list[str],
    scores: list[np.ndarray],
    id_order: np.ndarray,
) -> tuple[Callable[[int], list[int]], Callable[[int, list[int]], float]]:
    """The timed call (the reference itself when ``system`` is None) and its recall, for one mode."""
    rows_order = np.arange(library.n)

    def cosines(i: int) -> np.ndarray:
        return (library.vectors @ library.queries[i]).astype(np.float64)

    if mode == "text":

        def text_recall(i: int, found: list[int]) -> float:
            return tie_aware_recall(found, scores[i], K)

        if system is None:
            return lambda i: top_k(reference.scores(texts[i]), K, rows_order).tolist(), text_recall
        return lambda i: system.text(texts[i], K), text_recall

    def hybrid_recall(i: int, found: list[int]) -> float:
        return tie_aware_recall(found, fused_scores(cosines(i), scores[i], id_order), K)

    if system is None:
        return (
            lambda i: top_k(fused_scores(cosines(i), reference.scores(texts[i]), rows_order), K, rows_order).tolist(),
            hybrid_recall,
        )
    return lambda i: system.hybrid(library.queries[i], texts[i], K), hybrid_recall


def _text_rows(
    library: FilterLibrary, systems: dict[str, FilterSystem], queries: int, budget_s: float
) -> list[dict[str, Any]]:
    reference = BM25Reference.build([f"{library.name(i)} {library.descriptions[i]}" for i in range(library.n)])
    rows = []
    for band, all_texts in library.text_queries.items():
        texts = all_texts[:queries]
        scores = [reference.scores(t) for t in texts]
        base = {"n": library.n, "dim": library.dim, "query": band}
        base["matched_share"] = float(np.mean([(s > 0).mean() for s in scores]))
        for name, system in systems.items():
            # the fusion reference breaks ties by the system's own ids where it has them
            id_order = getattr(system, "id_order", np.arange(library.n))
            for mode in ("text", "hybrid"):
                click.echo(f"  {mode} {band}: {name}", err=True)
                row = {**base, "system": name, "mode": mode}
                timed = None if isinstance(system, NumpyExact) else system  # numpy: the reference, timed
                call, recall = _text_calls(mode, timed, library, reference, texts, scores, id_order)
                try:
                    row.update(_timed(call, recall, len(texts), budget_s))
                except NotOffered as reason:
                    row["not_offered"] = str(reason)
                rows.append(row)
    return rows


def run(
    sizes: list[int],
    dim: int,
    names: list[str],
    queries: int,
    workroot: Path,
    *,
    budget_s: float = 3.0,
    target: float = RECALL_TARGET,
    seed: int = 0,
) -> dict[str, Any]:
    """Build every system on each size's library and measure filters, text and hybrid search."""
    figures: dict[str, Any] = {"filters": [], "text": [], "skipped": {}, "build_s": {}, "target": target}
    for n in sizes:
        library = make_filter_library(n, dim, queries, seed)
        systems: dict[str, FilterSystem] = {}
        try:
            for name in names:
                reason = missing(name)
                if reason:
                    figures["skipped"][name] = reason
                    continue
                system = FILTER_SYSTEMS[name][0]()
                if system.max_n is not None and n > system.max_n:
                    figures["skipped"][f"{name} n={n}"] = f"above {system.max_n:,} skills (see its adapter)"
                    continue
                click.echo(f"building {name} at n={n} d={dim}", err=True)
                workdir = workroot / f"{name}-{n}"
                workdir.mkdir(parents=True, exist_ok=True)
                started = time.perf_counter()
                system.build(library, workdir)
                figures["build_s"][f"{name} n={n}"] = time.perf_counter() - started
                if hasattr(system, "ids"):
                    system.id_order = np.argsort(np.array(system.ids, dtype=object), kind="stable")  # type: ignore[attr-defined]
                systems[name] = system
            figures["filters"] += _filter_rows(library, systems, queries, budget_s, target)
            figures["text"] += _text_rows(library, systems, queries, budget_s)
        finally:
            for system in systems.values():
                system.close()
    return figures


def save(out: Path, figures: dict[str, Any], machine: dict[str, Any], text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine, **figures}, indent=2))
    (out / "summary.md").write_text(text)


def _cell(row: dict[str, Any] | None, target: float) -> str:
    if row is None:
        return "–"
    if "not_offered" in row:
        return "not offered"
    text = f"{row['p50_ms']:.3g} / {row['p95_ms']:.3g}"
    if row["recall"] < 0.995:
        text += f" ({row['recall']:.2f}{'' if row['recall'] >= target else ', below target'})"
    if row.get("raised"):
        text += f" [{row['setting']}]"
    return text


def markdown(figures: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    target = figures["target"]
    names = list(dict.fromkeys(r["system"] for r in figures["filters"]))
    lines = [
        f"Filtered search, one query at a time, k = {K}: p50 / p95 latency in ms; recall@10 against exact",
        "search over the kept rows in brackets where below 1.00. Approximate systems run at their default",
        f"setting, raised (shown in square brackets) where their recall fell below {target}.",
        f"{machine['date']}, {machine['cpu']}, {machine['cores']} cores, load average {machine.get('load', '?')};",
        f"`{command}`",
        "",
        "| N | filter | kept | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for kind in FILTER_KINDS:
        for label in SELECTIVITIES:
            found = [r for r in figures["filters"] if r["filter"] == kind and r["selectivity"] == label]
            for n in sorted({r["n"] for r in found}):
                at_n = {r["system"]: r for r in found if r["n"] == n}
                kept = next(iter(at_n.values()))["kept_share"]
                cells = [_cell(at_n.get(s), target) for s in names]
                lines.append(f"| {n:,} | {kind} | {kept:.2%} | " + " | ".join(cells) + " |")
    text_names = list(dict.fromkeys(r["system"] for r in figures["text"]))
    lines += [
        "",
        "Text (BM25) and hybrid (BM25 fused with cosine by reciprocal rank) search, two-word queries:",
        "recall@10 against the NumPy references (tie-aware); numpy is the reference itself, timed.",
        "",
        "| N | search | query words | docs matched | " + " | ".join(text_names) + " |",
        "|---|---|---|---|" + "---|" * len(text_names),
    ]
    for mode in ("text", "hybrid"):
        for band in dict.fromkeys(r["query"] for r in figures["text"]):
            found = [r for r in figures["text"] if r["mode"] == mode and r["query"] == band]
            for n in sorted({r["n"] for r in found}):
                at_n = {r["system"]: r for r in found if r["n"] == n}
                matched = next(iter(at_n.values()))["matched_share"]
                cells = [_cell(at_n.get(s), 0.0) for s in text_names]
                lines.append(f"| {n:,} | {mode} | {band} | {matched:.2%} | " + " | ".join(cells) + " |")
    reasons = {r["system"]: r["not_offered"] for r in figures["text"] if "not_offered" in r}
    lines += [""] + [f"- {name}: {reason}" for name, reason in reasons.items()]
    lines += [f"- {name} skipped: {reason}" for name, reason in figures["skipped"].items()]
    lines += [f"- build {key}: {seconds:.1f} s" for key, seconds in figures["build_s"].items()]
    return "\n".join(lines) + "\n"
