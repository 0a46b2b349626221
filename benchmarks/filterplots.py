"""The filter benchmark's plot: latency against the share a filter keeps, per system (PNG, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

from benchmarks.filterdata import FILTER_KINDS, SELECTIVITIES  # noqa: E402


def _percent(x: float, _: Any) -> str:
    return f"{x * 100:g} %"


def latency_vs_selectivity(figures: dict[str, Any], path: Path) -> None:
    """One panel per filter kind and library size: p50 (line) and p95 (dotted) per system, log axes;
    a filter sits at its nominal share (the table gives the share it kept)."""
    rows = [r for r in figures["filters"] if "p50_ms" in r]
    sizes = sorted({r["n"] for r in rows})
    systems = list(dict.fromkeys(r["system"] for r in rows))
    colours = {s: f"C{i}" for i, s in enumerate(systems)}
    fig, axes = plt.subplots(
        len(sizes), len(FILTER_KINDS), figsize=(5 * len(FILTER_KINDS), 4 * len(sizes)), squeeze=False
    )
    for i, n in enumerate(sizes):
        for j, kind in enumerate(FILTER_KINDS):
            ax = axes[i][j]
            for system in systems:
                points = sorted(
                    (SELECTIVITIES[r["selectivity"]], r["p50_ms"], r["p95_ms"])
                    for r in rows
                    if r["n"] == n and r["filter"] == kind and r["system"] == system
                )
                if not points:
                    continue
                shares, p50, p95 = zip(*points, strict=True)
                ax.plot(shares, p50, marker="o", color=colours[system], label=f"{system} p50")
                ax.plot(shares, p95, linestyle=":", color=colours[system], alpha=0.7)
            shares_here = sorted({SELECTIVITIES[r["selectivity"]] for r in rows if r["n"] == n and r["filter"] == kind})
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(FixedLocator(shares_here))
            ax.xaxis.set_major_formatter(FuncFormatter(_percent))
            ax.xaxis.set_minor_locator(NullLocator())
            title = kind.replace("$", r"\$")  # a literal dollar, not mathtext
            ax.set_title(f"{title} filter, N = {n:,}, d = {rows[0]['dim']}")
            ax.set_xlabel("share of the library the filter keeps (nominal)")
            ax.set_ylabel("latency per query (ms; p95 dotted)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
