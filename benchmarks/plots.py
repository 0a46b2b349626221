"""Plots of the retrieval results (PNG, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # noqa: E402

MARKERS = "osD^v<>phX*P"


def _styles(systems: list[str]) -> dict[str, dict[str, Any]]:
    """One colour and marker per system, the same in every panel (up to 20 systems stay distinct)."""
    colours = plt.get_cmap("tab20").colors
    return {
        s: {"color": colours[(2 * i) % 20 + (i // 10) % 2], "marker": MARKERS[i % len(MARKERS)]}
        for i, s in enumerate(systems)
    }


def latency_vs_n(rows: list[dict[str, Any]], path: Path) -> None:
    measured = [r for r in rows if "p50_ms" in r]
    dims = sorted({r["dim"] for r in measured})
    selectivities = sorted({r["selectivity"] for r in measured}, key=lambda s: -float(s.rstrip("%")))
    systems = list(dict.fromkeys(r["system"] for r in rows))
    styles = _styles(systems)
    fig, axes = plt.subplots(
        len(dims), len(selectivities), figsize=(4.2 * len(selectivities), 3.4 * len(dims)), squeeze=False
    )
    for i, dim in enumerate(dims):
        for j, selectivity in enumerate(selectivities):
            ax = axes[i][j]
            for system in systems:
                points = sorted(
                    (r["n"], r["p50_ms"])
                    for r in measured
                    if r["system"] == system and r["dim"] == dim and r["selectivity"] == selectivity
                )
                if points:
                    ax.plot(*zip(*points, strict=True), label=system, **styles[system])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"d = {dim}, filter {selectivity}")
            ax.set_xlabel("skills in library (N)")
            ax.set_ylabel("p50 latency (ms)")
            ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], label=system, **styles[system]) for system in systems]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(systems)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 if len(dims) > 1 else 0.12, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def recall_vs_latency(rows: list[dict[str, Any]], path: Path) -> None:
    measured = [r for r in rows if "p50_ms" in r]
    largest = max(r["n"] for r in measured)
    systems = list(dict.fromkeys(r["system"] for r in measured))
    styles = _styles(systems)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in systems:
        points = [(r["p50_ms"], r["recall"]) for r in measured if r["system"] == system and r["n"] == largest]
        if points:
            ax.scatter(*zip(*points, strict=True), label=system, s=28, **styles[system])
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"recall against latency at N = {largest:,} (every d and filter)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _count_ticks(ax: Any, values: list[int]) -> None:
    """Log x axis labelled with the library sizes themselves, as whole numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(round(x)):,}"))
    ax.xaxis.set_minor_locator(NullLocator())


def open_and_memory_vs_n(rows: list[dict[str, Any]], path: Path) -> None:
    """Open time (fresh process) and resident memory per skill against N, one row of panels per d."""
    measured = [r for r in rows if "open_ms" in r]
    if not measured:
        return
    dims = sorted({r["dim"] for r in measured})
    systems = list(dict.fromkeys(r["system"] for r in measured))
    styles = _styles(systems)
    sizes = sorted({r["n"] for r in measured})
    fig, axes = plt.subplots(len(dims), 2, figsize=(11, 3.8 * len(dims)), squeeze=False)
    for i, dim in enumerate(dims):
        for j, (key, label) in enumerate(
            (("open_ms", "open in a fresh process (ms)"), ("rss_bytes_per_skill", "resident memory per skill (bytes)"))
        ):
            ax = axes[i][j]
            for system in systems:
                points = sorted(
                    {(r["n"], r[key]) for r in measured if r["system"] == system and r["dim"] == dim and key in r}
                )
                if points:
                    ax.plot(*zip(*points, strict=True), label=system, **styles[system])
            _count_ticks(ax, sizes)
            ax.set_yscale("log")
            ax.set_title(f"d = {dim}: {label.split(' (')[0]}")
            ax.set_xlabel("skills in library (N)")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], label=system, **styles[system]) for system in systems]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(systems)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06 if len(dims) > 1 else 0.12, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
