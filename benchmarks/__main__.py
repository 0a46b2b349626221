"""``python -m benchmarks``: run the retrieval and write benchmarks and save the results."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from benchmarks import plots, report, retrieval, writes
from benchmarks.data import SELECTIVITY_ZONES
from benchmarks.systems import SYSTEMS

PRESETS = {
    # name: sizes, dims, queries, per-dimension size caps
    "smoke": ([200, 1000], [8], 20, {}),
    "quick": ([1_000, 10_000, 100_000], [8, 64, 384], 200, {384: 10_000}),
    "standard": ([1_000, 10_000, 100_000], [8, 64, 384], 200, {}),
    "full": ([1_000, 10_000, 100_000, 1_000_000], [8, 64, 384], 200, {384: 200_000}),
}


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


@click.command()
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="quick",
    show_default=True,
    help="Sizes and dimensions to run; 'full' adds N = 10^6 (and 2*10^5 at d = 384).",
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
def main(
    preset: str,
    sizes: str | None,
    dims: str | None,
    system_names: str,
    selectivities: str,
    queries: int | None,
    out: Path,
    skip_writes: bool,
) -> None:
    """Measure retrieval (latency, QPS, recall@10) and writes as libraries grow.

    Example: python -m benchmarks --preset quick --systems skillstore-flat,faiss-flat
    """
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
        extras = {}
        if not skip_writes:
            small = preset == "smoke"
            extras["writes"] = writes.write_figures(workroot, singles=20 if small else 200, batches=2 if small else 20)
            extras["engine"] = writes.engine_figures(n=2_000 if small else 100_000, queries=20 if small else 200)
    targets = report.check_targets(rows)
    report.save(out, rows, extras, targets)
    if not any("p50_ms" in row for row in rows):
        raise click.ClickException("nothing was measured: every configuration was skipped (see results.json)")
    plots.latency_vs_n(rows, out / "latency_vs_n.png")
    plots.recall_vs_latency(rows, out / "recall_vs_latency.png")
    click.echo(report.markdown(rows, extras, targets))
    click.echo(f"results in {out}/ (results.json, retrieval.csv, summary.md, latency_vs_n.png, recall_vs_latency.png)")


if __name__ == "__main__":
    main()
