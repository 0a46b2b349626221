"""A tiny run of the whole benchmark pipeline, so that it cannot rot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.__main__ import main
from benchmarks.data import exact_top_k, make_dataset, recall_at_k
from benchmarks.memory import process_tree_memory
from benchmarks.systems import NEEDS, SYSTEMS, available

# the peers light enough to build in a test, when their packages are installed (the bench extra)
LIGHT_PEERS = ("lancedb", "qdrant-local", "usearch", "sqlite-vec")
CORE = ("reference", "numpy", "faiss-flat", "skillstore-flat", "skillstore-hnsw")


def test_dataset_zones_have_the_documented_shares() -> None:
    data = make_dataset(10_000, 8, 5)
    assert abs(np.count_nonzero(data.zones == 0) - 1000) <= 1
    assert abs(np.count_nonzero(data.zones == 1) - 100) <= 1
    assert np.allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-5)


def _recalls(name: str, tmp_path: Path) -> dict[int | None, float]:
    data = make_dataset(500, 8, 10)
    system = SYSTEMS[name]()
    system.build(data, tmp_path)
    system.close()
    system.open(tmp_path)
    found = {}
    for zone in (None, 0, 1):
        truth = exact_top_k(data, zone, 10)
        found[zone] = float(
            np.mean([recall_at_k(system.query(q, 10, zone), e) for q, e in zip(data.queries, truth, strict=True)])
        )
    system.close()
    system.dispose(tmp_path)
    return found


@pytest.mark.parametrize("name", ["reference", "numpy", "faiss-flat", "skillstore-flat"])
def test_every_exact_system_finds_the_true_top_k_after_reopening(name: str, tmp_path: Path) -> None:
    assert _recalls(name, tmp_path) == {None: 1.0, 0: 1.0, 1: 1.0}


@pytest.mark.parametrize("name", LIGHT_PEERS)
def test_peers_answer_with_their_own_filters(name: str, tmp_path: Path) -> None:
    reason = available(name)
    if reason:
        pytest.skip(reason)
    recalls = _recalls(name, tmp_path)
    # exact peers find everything; usearch (HNSW) nearly so at this size
    assert min(recalls.values()) >= (0.9 if name == "usearch" else 1.0), recalls


def test_missing_packages_are_named_with_the_extra_that_installs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(NEEDS, "usearch", (("surely_not_a_module_here",), "bench"))
    assert available("usearch") == "surely_not_a_module_here not installed (pip install -e '.[bench]')"
    assert available("skillstore-flat") is None


def test_process_tree_memory_counts_a_child_process() -> None:
    code = "import sys; b = bytearray(64 << 20); print('ready', flush=True); sys.stdin.read()"
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "ready\n"
        alone = process_tree_memory(child.pid)["rss"]
        with_parent = process_tree_memory()["rss"]
        child.stdin.close()
    assert alone >= 60 << 20
    assert with_parent >= alone + (1 << 20)  # this process's own memory comes on top


def test_smoke_run_writes_results_plots_open_memory_and_fixed_cost(tmp_path: Path) -> None:
    peers = [name for name in LIGHT_PEERS if available(name) is None]
    result = CliRunner().invoke(
        main,
        ["--preset", "smoke", "--sizes", "500", "--systems", ",".join([*CORE, *LIGHT_PEERS]), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "results.json").read_text())
    measured = [row for row in document["retrieval"] if "p50_ms" in row]
    assert {row["system"] for row in measured} == {*CORE, *peers}
    for name in set(LIGHT_PEERS) - set(peers):  # a missing peer is reported, never silently dropped
        assert f"skipping {name}: " in result.output
        assert all("not installed" in r["skipped"] for r in document["retrieval"] if r["system"] == name)
    exact = [row for row in measured if row["system"] in ("reference", "numpy", "faiss-flat", "skillstore-flat")]
    assert all(row["recall"] == 1.0 for row in exact)
    for row in measured:
        assert row["open_ms"] > 0 and row["first_query_ms"] > 0 and row["first_filtered_query_ms"] > 0
        # at 500 skills a store can add no resident page over the baseline: present, not positive
        assert row["rss_bytes_per_skill"] >= 0 and row["hwm_bytes_per_skill"] >= 0
    assert all(row["open_read_write_ms"] > 0 for row in measured if row["system"].startswith("skillstore"))
    costs = document["fixed_cost"]
    assert {(r["n"], r["filter"]) for r in costs} == {(100, "none"), (100, "10%"), (1000, "none"), (1000, "10%")}
    assert all(r["calls"] >= 30 for r in costs)
    assert all(r["raw_faiss_us"] > 0 and r["skillstore_us"] > 0 and r["ratio"] > 0 for r in costs)
    assert {t["result"] for t in document["targets"]} <= {"pass", "fail", "not measured"}
    assert document["writes"]["single_add_fsync_per_s"] > 0
    for name in ("retrieval.csv", "summary.md", "latency_vs_n.png", "recall_vs_latency.png", "open_memory_vs_n.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "RSS B/skill" in (tmp_path / "summary.md").read_text()


def test_million_preset_at_tiny_n_builds_once_reuses_its_cache_and_rebuilds_another_format(tmp_path: Path) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = ["--preset", "million", "--sizes", "2000", "--cache", str(cache), "--repeats", "1", "--cost-budget", "0.1"]
    runs = []
    for attempt in range(3):
        if attempt == 2:  # as if an older skillstore had built the cached store
            (marker,) = cache.glob("store-*/build.json")
            facts = json.loads(marker.read_text())
            facts["format"]["format_version"] = -1
            marker.write_text(json.dumps(facts))
        result = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert ("has another format" in result.output) == (attempt == 2)
        runs.append(json.loads((out / "million" / "results.json").read_text()))
    assert [run["build"]["reused"] for run in runs] == [False, True, False]
    for figures in runs:
        assert (figures["n"], figures["dim"]) == (2000, 64)
        assert figures["open_read_only_ms"] > 0 and figures["open_read_write_ms"] > 0
        assert figures["first_filtered_query_ms"] > 0 and figures["rss_bytes_per_skill"] > 0
        assert {r["filter"] for r in figures["fixed_cost"]} == {"none", "10%"}
    assert "read-only open, fresh process" in (out / "million" / "summary.md").read_text()


def test_light_peers_are_in_the_bench_extra() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    bench = pyproject.split("bench = [", 1)[1].split("]", 1)[0]
    for package in ("lancedb", "qdrant-client", "usearch", "sqlite-vec", "apsw", "chromadb", "milvus-lite"):
        assert f'"{package}' in bench, package
