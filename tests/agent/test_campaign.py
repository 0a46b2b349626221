"""The DoorKey campaign on a small scale: curves, unseen layouts, backends side by side, figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.campaign import backend_run, campaign, checkpoints, evaluate, summary_table
from agent.embedding import DEFAULT_DIM
from agent.experiments import Setting
from agent.plots import plot_doorkey_curves, plot_library
from skillstore import MemoryBackend

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOORKEY_6 = Setting(env="MiniGrid-DoorKey-6x6-v0")


def test_checkpoints_end_at_the_run_length() -> None:
    assert checkpoints(60) == [10, 25, 50, 60]
    assert checkpoints(1000)[-1] == 1000 and checkpoints(5) == [5]


def test_evaluation_skips_layouts_training_drew() -> None:
    backend = MemoryBackend(DEFAULT_DIM)
    stats = DOORKEY_6.make_agent(0, backend).train(20)
    seen = set(stats["layouts"])
    fresh = evaluate(DOORKEY_6, backend, 0, 10, seen)  # the same seed: the first layouts were trained on
    assert fresh.unseen == fresh.episodes == 10
    assert fresh.mean_optimal_steps > 0 and 0 <= fresh.success_rate <= 1


def test_a_small_campaign_gives_the_table_and_the_figures(tmp_path: Path) -> None:
    results = campaign([5], [0], 30, eval_episodes=5, final_episodes=10, backend_episodes=0,
                       workdir=tmp_path, baseline_episodes=10)
    (run,) = results["runs"]
    assert [point["training_episodes"] for point in run["curve"]] == [10, 25, 30]
    assert run["frames"] == run["curve"][-1]["frames"] == run["library"]["frames"][-1]
    assert run["final"]["episodes"] == 10
    assert results["baselines"][0]["episodes"] == 10
    assert "| DoorKey-5x5 | 1 | 30 |" in summary_table(results)
    assert plot_doorkey_curves(results, tmp_path / "curves.png").read_bytes().startswith(PNG_MAGIC)
    assert plot_library(results, tmp_path / "library.png").read_bytes().startswith(PNG_MAGIC)


def test_the_same_run_is_identical_on_every_backend(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILLSTORE_PG_URL", pg_url)
    result = backend_run(Setting(env="MiniGrid-DoorKey-5x5-v0"), 0, 15, tmp_path)
    assert set(result["runs"]) == {"MemoryBackend", "SkillStore", "PostgreSQL"}
    assert all(result["identical_to_memory"].values())
    assert len({run["skills"] for run in result["runs"].values()}) == 1
    plot_library({"runs": [], "backends": result}, tmp_path / "backends.png")
