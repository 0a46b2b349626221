"""Plots of the retrieval results (PNG, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency_vs_n(rows: list[dict[str, Any]], path: Path) -> None:
    measured = [r for r in rows if "p50_ms" in r]
    dims = sorted({r["dim"] for r in measured})
    selectivities = sorted({r["selectivity"] for r in measured}, key=lambda s: -float(s.rstrip("%")))
    systems = list(dict.fromkeys(r["system"] for r in rows))
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
                    ax.plot(*zip(*points, strict=True), marker="o", label=system)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"d = {dim}, filter {selectivity}")
            ax.set_xlabel("skills in library (N)")
            ax.set_ylabel("p50 latency (ms)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def recall_vs_latency(rows: list[dict[str, Any]], path: Path) -> None:
    measured = [r for r in rows if "p50_ms" in r]
    largest = max(r["n"] for r in measured)
    systems = list(dict.fromkeys(r["system"] for r in measured))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in systems:
        points = [(r["p50_ms"], r["recall"]) for r in measured if r["system"] == system and r["n"] == largest]
        if points:
            ax.scatter(*zip(*points, strict=True), label=system, s=28)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"recall against latency at N = {largest:,} (every d and filter)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
