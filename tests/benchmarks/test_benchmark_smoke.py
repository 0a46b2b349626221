"""A tiny run of the whole benchmark pipeline, so that it cannot rot."""

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from benchmarks.__main__ import main
from benchmarks.data import exact_top_k, make_dataset, recall_at_k
from benchmarks.systems import SYSTEMS


def test_dataset_zones_have_the_documented_shares() -> None:
    data = make_dataset(10_000, 8, 5)
    assert abs(np.count_nonzero(data.zones == 0) - 1000) <= 1
    assert abs(np.count_nonzero(data.zones == 1) - 100) <= 1
    assert np.allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-5)


def test_every_exact_system_finds_the_true_top_k() -> None:
    data = make_dataset(500, 8, 10)
    for name in ("reference", "numpy", "faiss-flat"):
        system = SYSTEMS[name]()
        system.build(data, Path("/nonexistent"))
        for zone in (None, 0, 1):
            truth = exact_top_k(data, zone, 10)
            for q, expected in zip(data.queries, truth, strict=True):
                assert recall_at_k(system.query(q, 10, zone), expected) == 1.0, (name, zone)
        system.close()


def test_smoke_run_writes_results_plots_and_target_verdicts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--preset",
            "smoke",
            "--systems",
            "reference,numpy,faiss-flat,skillstore-flat,skillstore-hnsw",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "results.json").read_text())
    measured = [row for row in document["retrieval"] if "p50_ms" in row]
    assert {row["system"] for row in measured} == {
        "reference",
        "numpy",
        "faiss-flat",
        "skillstore-flat",
        "skillstore-hnsw",
    }
    exact = [row for row in measured if row["system"] != "skillstore-hnsw"]
    assert all(row["recall"] == 1.0 for row in exact)
    assert {t["result"] for t in document["targets"]} <= {"pass", "fail", "not measured"}
    assert document["writes"]["single_add_fsync_per_s"] > 0
    for name in ("retrieval.csv", "summary.md", "latency_vs_n.png", "recall_vs_latency.png"):
        assert (tmp_path / name).stat().st_size > 0
