"""``python -m benchmarks``: run the retrieval and write benchmarks and save the results."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from benchmarks import filterplots, filters, million, overhead, plots, report, retrieval, writes
from benchmarks.data import SELECTIVITY_ZONES
from benchmarks.systems import SYSTEMS

PRESETS = {
    # name: sizes, dims, queries, per-dimension size caps
    "smoke": ([200, 1000], [8], 20, {}),
    "quick": ([1_000, 10_000, 100_000], [8, 64, 384], 200, {384: 10_000}),
    "standard": ([1_000, 10_000, 100_000], [8, 64, 384], 200, {}),
    "full": ([1_000, 10_000, 100_000, 1_000_000], [8, 64, 384], 200, {384: 200_000}),
}
MILLION = "million"  # its own pipeline: see benchmarks/million.py
# filtered, text and hybrid search against Chroma, LanceDB and Qdrant (benchmarks/filters.py): sizes, d, queries
FILTER_PRESETS = {"filters": ([10_000, 100_000], 64, 100), "filters-quick": ([10_000], 64, 50)}
# per-call fixed cost: sizes and dimensions per preset
FIXED_COST = {
    "smoke": ([100, 1000], [8]),
    "quick": ([100, 1_000, 10_000, 100_000], [8, 64]),
    "standard": ([100, 1_000, 10_000, 100_000], [8, 64]),
    "full": ([100, 1_000, 10_000, 100_000], [8, 64]),
}


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


@click.command()
@click.option(
    "--preset",
    type=click.Choice([*PRESETS, MILLION, *FILTER_PRESETS]),
    default="quick",
    show_default=True,
    help="Sizes and dimensions to run; 'full' adds N = 10^6 (and 2*10^5 at d = 384); "
    "'million' builds (once, cached) a 10^6 x 64 skillstore and measures its open, memory and per-call cost; "
    "'filters' (10^4 and 10^5 x 64) and 'filters-quick' (10^4) measure range, $in and $or/$and filters, "
    "text and hybrid search against Chroma, LanceDB and Qdrant at equal recall.",
)
@click.option("--sizes", help="Override the preset's sizes, e.g. 1e3,1e4,2e5.")
@click.option("--dims", help="Override the preset's dimensions, e.g. 8,64.")
@click.option(
    "--systems",
    "system_names",
    default=",".join(SYSTEMS),
    show_default=True,
    help="Comma-separated systems to compare.",
)
@click.option(
    "--selectivities",
    default="100%,10%,1%",
    show_default=True,
    help=f"Filters to measure, among {', '.join(SELECTIVITY_ZONES)}.",
)
@click.option("--queries", type=int, help="Queries per configuration (default from the preset).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("benchmarks/results"),
    show_default=True,
    help="Where results.json, retrieval.csv, summary.md and the plots go.",
)
@click.option("--skip-writes", is_flag=True, help="Skip the write and engine figures.")
@click.option("--skip-fixed-cost", is_flag=True, help="Skip the per-call fixed cost against raw FAISS.")
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=million.default_cache,
    show_default="~/.cache/skillstore-bench",
    help="Where the million preset keeps its arrays and built store between runs.",
)
@click.option("--rebuild", is_flag=True, help="Million preset: build the store again even if a cached one fits.")
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Million preset: fresh-process opens per mode.",
)
@click.option(
    "--cost-budget",
    type=click.FloatRange(min=0.01),
    help="Seconds of timed calls per size and filter for the per-call fixed cost (default 2, smoke 0.2, million 3).",
)
def main(
    preset: str,
    sizes: str | None,
    dims: str | None,
    system_names: str,
    selectivities: str,
    queries: int | None,
    out: Path,
    skip_writes: bool,
    skip_fixed_cost: bool,
    cache: Path,
    rebuild: bool,
    repeats: int,
    cost_budget: float | None,
) -> None:
    """Measure retrieval (latency, QPS, recall@10) and writes as libraries grow.

    Example: python -m benchmarks --preset quick --systems skillstore-flat,faiss-flat
    """
    if preset == MILLION:
        n = _ints(sizes)[0] if sizes else million.N
        d = _ints(dims)[0] if dims else million.DIM
        figures = million.run(cache, n, d, repeats=repeats, budget_s=cost_budget or 3.0, rebuild=rebuild)
        text = million.markdown(figures, report.machine())
        report.save_million(out / "million", figures, text)
        click.echo(text)
        click.echo(f"results in {out / 'million'}/ (results.json, summary.md)")
        return
    if preset in FILTER_PRESETS:
        _filters(preset, sizes, dims, system_names, queries, out)
        return
    preset_sizes, preset_dims, preset_queries, caps = PRESETS[preset]
    names = [s for s in system_names.split(",") if s]
    unknown = set(names) - set(SYSTEMS)
    if unknown:
        raise click.BadParameter(f"unknown systems {sorted(unknown)}; known: {', '.join(SYSTEMS)}")
    chosen_selectivities = [s for s in selectivities.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="skillstore-bench-") as tmp:
        workroot = Path(tmp)
        rows = retrieval.run(
            _ints(sizes) if sizes else preset_sizes,
            _ints(dims) if dims else preset_dims,
            names,
            chosen_selectivities,
            queries or preset_queries,
            workroot,
            max_n_for_dim=None if sizes else caps,  # sizes asked for explicitly are run as asked
        )
        extras: dict[str, Any] = {}
        if not skip_writes:
            small = preset == "smoke"
            extras["writes"] = writes.write_figures(workroot, singles=20 if small else 200, batches=2 if small else 20)
            extras["engine"] = writes.engine_figures(
                workroot, n=2_000 if small else 100_000, queries=20 if small else 200
            )
        if not skip_fixed_cost:
            cost_sizes, cost_dims = FIXED_COST[preset]
            extras["fixed_cost"] = overhead.run(
                cost_sizes, cost_dims, workroot, budget_s=cost_budget or (0.2 if preset == "smoke" else 2.0)
            )
    targets = report.check_targets(rows, extras.get("fixed_cost"))
    report.save(out, rows, extras, targets)
    if not any("p50_ms" in row for row in rows):
        raise click.ClickException("nothing was measured: every configuration was skipped (see results.json)")
    plots.latency_vs_n(rows, out / "latency_vs_n.png")
    plots.recall_vs_latency(rows, out / "recall_vs_latency.png")
    plots.open_and_memory_vs_n(rows, out / "open_memory_vs_n.png")
    click.echo(report.markdown(rows, extras, targets))
    click.echo(
        f"results in {out}/ (results.json, retrieval.csv, summary.md, "
        "latency_vs_n.png, recall_vs_latency.png, open_memory_vs_n.png)"
    )


def _filters(
    preset: str, sizes: str | None, dims: str | None, system_names: str, queries: int | None, out: Path
) -> None:
    preset_sizes, dim, preset_queries = FILTER_PRESETS[preset]
    names = [s for s in system_names.split(",") if s in filters.FILTER_SYSTEMS]
    if not names:
        raise click.BadParameter(f"no filter benchmark system named; known: {', '.join(filters.FILTER_SYSTEMS)}")
    with tempfile.TemporaryDirectory(prefix="skillstore-filters-") as tmp:
        figures = filters.run(
            _ints(sizes) if sizes else preset_sizes,
            _ints(dims)[0] if dims else dim,
            names,
            queries or preset_queries,
            Path(tmp),
        )
    command = " ".join(["python -m benchmarks", *sys.argv[1:]])
    machine = {**report.machine(), "load": " ".join(f"{x:.1f}" for x in os.getloadavg()), "command": command}
    text = filters.markdown(figures, machine, command)
    filters.save(out / "filters", figures, machine, text)
    filterplots.latency_vs_selectivity(figures, out / "filters" / "filters.png")
    click.echo(text)
    click.echo(f"results in {out / 'filters'}/ (results.json, summary.md, filters.png)")


if __name__ == "__main__":
    main()
