"""Results on disk (JSON, CSV, with machine facts), the Markdown table, and the target checks."""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

import faiss
import numpy as np

RECALL_TARGET = 0.95


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "faiss": faiss.__version__,
        "numpy": np.__version__,
    }


def save(out: Path, rows: list[dict[str, Any]], extras: dict[str, Any], targets: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    document = {"machine": machine(), "retrieval": rows, "targets": targets, **extras}
    (out / "results.json").write_text(json.dumps(document, indent=2))
    columns = sorted({key for row in rows for key in row}, key=_column_order)
    with open(out / "retrieval.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.md").write_text(markdown(rows, extras, targets))


def _column_order(name: str) -> tuple[int, str]:
    first = ["system", "n", "dim", "selectivity", "p50_ms", "p95_ms", "qps", "recall", "queries"]
    return (first.index(name), name) if name in first else (len(first), name)


def _find(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()) and "p50_ms" in row:
            return row
    return None


def markdown(rows: list[dict[str, Any]], extras: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    measured = [r for r in rows if "p50_ms" in r]
    systems = list(dict.fromkeys(r["system"] for r in rows))
    lines = ["p50 latency in ms (recall@10) per system; one query at a time, k = 10.", ""]
    lines.append("| N | d | filter | " + " | ".join(systems) + " |")
    lines.append("|---|---|---|" + "---|" * len(systems))
    keys = list(dict.fromkeys((r["n"], r["dim"], r["selectivity"]) for r in measured))
    for n, dim, selectivity in sorted(keys, key=lambda key: (key[1], key[0], -float(key[2].rstrip("%")))):
        cells = []
        for system in systems:
            row = _find(rows, system=system, n=n, dim=dim, selectivity=selectivity)
            cells.append("–" if row is None else f"{row['p50_ms']:.3g} ({row['recall']:.2f})")
        lines.append(f"| {n:,} | {dim} | {selectivity} | " + " | ".join(cells) + " |")
    lines += ["", "| target | result | detail |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['result']} | {t['detail']} |" for t in targets]
    for title, figures in extras.items():
        lines += ["", f"{title}:", ""]
        lines += [
            f"- {key}: {value:.4g}" if isinstance(value, float) else f"- {key}: {value}"
            for key, value in figures.items()
        ]
    return "\n".join(lines) + "\n"


def check_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    targets = []
    grid = sorted({(r["n"], r["dim"]) for r in rows if "p50_ms" in r})

    # 1. our layer over raw FAISS, exact search, every size
    ratios = []
    for n, dim in grid:
        ours, raw = (
            _find(rows, system="skillstore-flat", n=n, dim=dim, selectivity="100%"),
            _find(rows, system="faiss-flat", n=n, dim=dim, selectivity="100%"),
        )
        if ours and raw:
            ratios.append((n, dim, ours["p50_ms"] / raw["p50_ms"]))
    targets.append(
        _verdict(
            "skillstore exact within 1.3x of raw FAISS flat",
            [r <= 1.3 for *_, r in ratios],
            ", ".join(f"N={n:,} d={d}: {r:.2f}x" for n, d, r in ratios),
        )
    )

    # 2. HNSW p50 <= 1 ms with recall >= 0.95 at the two large configurations, every filter
    for n, dim in ((1_000_000, 64), (200_000, 384)):
        hnsw = [
            r for r in rows if r["system"] == "skillstore-hnsw" and r["n"] == n and r["dim"] == dim and "p50_ms" in r
        ]
        targets.append(
            _verdict(
                f"HNSW p50 <= 1 ms, recall >= {RECALL_TARGET} at N={n:,} d={dim}",
                [r["p50_ms"] <= 1.0 and r["recall"] >= RECALL_TARGET for r in hnsw],
                ", ".join(f"{r['selectivity']}: {r['p50_ms']:.3g} ms, recall {r['recall']:.3f}" for r in hnsw),
            )
        )

    # 3. against the reference list scan at N = 10^5
    speedups = []
    for n, dim in grid:
        if n != 100_000:
            continue
        reference = _find(rows, system="reference", n=n, dim=dim, selectivity="100%")
        ours = [_find(rows, system=s, n=n, dim=dim, selectivity="100%") for s in ("skillstore-flat", "skillstore-hnsw")]
        best = min((r["p50_ms"] for r in ours if r), default=None)
        if reference and best:
            speedups.append((dim, reference["p50_ms"] / best))
    targets.append(
        _verdict(
            ">= 1000x faster than the reference list scan at N=100,000",
            [s >= 1000 for _, s in speedups],
            ", ".join(f"d={d}: {s:,.0f}x" for d, s in speedups),
        )
    )

    # 4. faster than each peer at equal or better recall, every size and filter
    for peer in ("chroma", "milvus-lite"):
        checks, worst = [], ""
        for row in rows:
            if row["system"] != peer or "p50_ms" not in row:
                continue
            where = {"n": row["n"], "dim": row["dim"], "selectivity": row["selectivity"]}
            ours = [_find(rows, system=s, **where) for s in ("skillstore-flat", "skillstore-hnsw")]
            ok = any(o and o["p50_ms"] < row["p50_ms"] and o["recall"] >= row["recall"] - 1e-9 for o in ours)
            checks.append(ok)
            if not ok and not worst:
                worst = f"not at N={row['n']:,} d={row['dim']} {row['selectivity']}"
        targets.append(
            _verdict(f"faster than {peer} at equal or better recall", checks, worst or f"{len(checks)} configurations")
        )
    return targets


def _verdict(target: str, checks: list[bool], detail: str) -> dict[str, Any]:
    result = "not measured" if not checks else ("pass" if all(checks) else "fail")
    return {"target": target, "result": result, "detail": detail or "–"}
