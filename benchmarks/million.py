"""The 10^6 x 64 preset: a million-skill store's open time, memory and per-call cost.

The store is built through the public API (``add_many`` in batches,
``durability="flush"``, one precondition ``zone`` and one metadata field per
skill) and cached, with the raw arrays it was built from, under a cache
directory, so that reruns skip the build. The arrays do not depend on the
store's format; the built store does, so it is rebuilt from them when a freshly
made store's format version or file layout differs from the cached one's.

Measured: read-only and read-write open in a fresh process (with the first
unfiltered and the first filtered query after the read-only open), resident
memory per skill after the open and one filtered query, and the per-call fixed
cost over raw FAISS on the same vectors. Open figures are medians of
``repeats`` fresh processes, alternating read-only and read-write.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks import overhead
from benchmarks.data import Dataset, make_dataset
from benchmarks.probe import probe
from benchmarks.systems import clean
from benchmarks.systems.ours import add_in_batches, save_ids
from skillstore import Skill, SkillStore, read_info

N, DIM, QUERIES, SEED = 1_000_000, 64, 256, 0
SYSTEM = "skillstore-flat"  # the probe opens <workdir>/skillstore as this system does
MARKER = "build.json"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skillstore-bench"


def cached_dataset(cache: Path, n: int, dim: int) -> Dataset:
    """The dataset's arrays, made once and kept as ``.npy`` files (independent of the store's format)."""
    where = cache / f"data-n{n}-d{dim}-seed{SEED}"
    names = ("vectors", "zones", "queries")
    if all((where / f"{name}.npy").exists() for name in names):
        arrays = [np.load(where / f"{name}.npy", allow_pickle=False) for name in names]
        return Dataset(*arrays)
    data = make_dataset(n, dim, QUERIES, SEED)
    partial = Path(tempfile.mkdtemp(prefix=".data-", dir=cache))
    for name in names:
        np.save(partial / f"{name}.npy", getattr(data, name), allow_pickle=False)
    clean(where)
    partial.rename(where)
    return data


def store_format() -> dict[str, Any]:
    """The format version and file layout of a store made by the skillstore installed now."""
    with tempfile.TemporaryDirectory(prefix="skillstore-format-") as tmp:
        path = Path(tmp) / "store"
        with SkillStore.open(path, dim=4) as store:
            store.add(Skill("probe", [0], np.ones(4, dtype=np.float32), preconditions={"zone": 0}))
            store.checkpoint()
        layout = sorted(re.sub(r"\d+", "#", str(p.relative_to(path))) for p in path.rglob("*"))
        return {"format_version": read_info(path).format_version, "layout": sorted(set(layout))}


def cached_store(cache: Path, data: Dataset, rebuild: bool = False) -> tuple[Path, dict[str, Any]]:
    """The work directory holding the built store (``<workdir>/skillstore``) and its build facts."""
    workdir = cache / f"store-n{data.n}-d{data.dim}-seed{SEED}"
    wanted = store_format()
    marker = workdir / MARKER
    if not rebuild and marker.exists():
        facts: dict[str, Any] = json.loads(marker.read_text())
        if facts.get("format") == wanted:
            facts["reused"] = True
            return workdir, facts
        click.echo(f"cached store at {workdir} has another format than this skillstore's: rebuilding", err=True)
    partial = Path(tempfile.mkdtemp(prefix=".store-", dir=cache))
    started = time.perf_counter()
    with (
        SkillStore.open(partial / "skillstore", dim=data.dim, durability="flush") as store,
        click.progressbar(length=data.n, label=f"building {data.n:,} skills", file=sys.stderr) as bar,
    ):
        ids = add_in_batches(store.add_many, data, progress=bar.update)
        click.echo(" checkpoint ...", err=True)
        store.checkpoint()
    save_ids(partial, ids)
    facts = {"n": data.n, "dim": data.dim, "build_s": time.perf_counter() - started, "format": wanted}
    (partial / MARKER).write_text(json.dumps(facts, indent=2))
    clean(workdir)
    partial.rename(workdir)
    facts["reused"] = False
    return workdir, facts


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def run(
    cache: Path, n: int = N, dim: int = DIM, repeats: int = 3, budget_s: float = 3.0, rebuild: bool = False
) -> dict[str, Any]:
    cache.mkdir(parents=True, exist_ok=True)
    data = cached_dataset(cache, n, dim)
    workdir, build = cached_store(cache, data, rebuild)
    read_only: list[dict[str, Any]] = []
    read_write: list[dict[str, Any]] = []
    with click.progressbar(range(repeats), label="fresh-process opens", file=sys.stderr) as bar:
        for _ in bar:
            read_only.append(probe(SYSTEM, workdir, dim))
            read_write.append(probe(SYSTEM, workdir, dim, read_write=True))
    figures: dict[str, Any] = {
        "n": n,
        "dim": dim,
        "store": str(workdir),
        "build": build,
        "repeats": repeats,
        "open_read_only_ms": _median(read_only, "open_ms"),
        "open_read_write_ms": _median(read_write, "open_ms"),
        "first_query_ms": _median(read_only, "first_query_ms"),
        "first_filtered_query_ms": _median(read_only, "first_filtered_query_ms"),
        "rss_bytes_per_skill": _median(read_only, "rss_bytes") / n,
        "hwm_bytes_per_skill": _median(read_only, "hwm_bytes") / n,
        "vector_bytes_per_skill": 4 * dim,
        "runs": {"read_only": read_only, "read_write": read_write},
    }
    click.echo("per-call fixed cost ...", err=True)
    store = SkillStore.open(workdir / "skillstore", read_only=True)
    assert isinstance(store, SkillStore)
    try:
        figures["fixed_cost"] = overhead.compare(store, data, budget_s)
    finally:
        store.close()
    return figures


TARGETS = (
    # figure, target, unit
    ("open_read_only_ms", 500.0, "ms"),
    ("open_read_write_ms", 1500.0, "ms"),
    ("rss_bytes_per_skill", 600.0, "B"),
    ("first_filtered_query_ms", 5.0, "ms"),
)


def markdown(figures: dict[str, Any], machine: dict[str, Any]) -> str:
    n, dim = figures["n"], figures["dim"]
    build = figures["build"]
    built = "reused from the cache" if build.get("reused") else "built in this run"
    lines = [
        f"{n:,} skills x d = {dim} ({machine['date']}, {machine['cpu']}, {machine['cores']} cores, "
        f"load average {machine['load_average'][0]:.1f}); "
        f"store {built} in {build['build_s']:.0f} s. Medians of {figures['repeats']} fresh processes.",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
    ]
    names = {
        "open_read_only_ms": "read-only open, fresh process",
        "open_read_write_ms": "read-write open, fresh process",
        "rss_bytes_per_skill": "resident memory per skill after open + one filtered query",
        "first_filtered_query_ms": "first filtered query after open",
    }
    for key, target, unit in TARGETS:
        value = figures[key]
        verdict = "met" if value <= target else "missed"
        shown = f"{value:,.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.3g} {unit}"
        lines.append(f"| {names[key]} | {shown} | <= {target:,.0f} {unit} ({verdict}) |")
    lines.append(f"| first unfiltered query after open | {figures['first_query_ms']:.3g} ms | |")
    lines.append(f"| peak memory per skill (VmHWM) | {figures['hwm_bytes_per_skill']:,.0f} B | |")
    lines += ["", "Per-call fixed cost, k = 5 (medians, interleaved calls):", ""]
    lines += overhead.fixed_cost_table(figures["fixed_cost"])
    return "\n".join(lines) + "\n"
