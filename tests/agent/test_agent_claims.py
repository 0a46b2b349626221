"""The README's measured claims, re-measured (the full campaigns are behind the slow marker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.campaign import learning_run
from agent.embedding import DEFAULT_DIM
from agent.experiments import Setting, compare_layout
from skillstore import MemoryBackend


@pytest.mark.slow
def test_the_gridworld_figures_hold(tmp_path: Path) -> None:
    seeds, episodes = range(10), 50
    fixed, pool, random = (
        compare_layout(Setting(layout=name), seeds, episodes, tmp_path).summary()
        for name in ("fixed", "pool", "random")
    )
    assert fixed["memory_tail_steps"] <= 13 and fixed["baseline_tail_steps"] >= 300
    assert fixed["memory_tail_success"] == 1.0 and fixed["baseline_success"] < 0.7
    assert fixed["restart_steps"] <= 15 and fixed["restart_success"] == 1.0
    assert pool["memory_tail_steps"] <= 17.4 and pool["memory_success"] >= 0.95
    # random layouts: skills transfer, 1.3x the optimum at most, 98 % solved at least
    assert random["memory_tail_steps"] <= 1.3 * random["optimal_tail_steps"]
    assert random["memory_tail_success"] >= 0.98


@pytest.mark.slow
def test_the_doorkey_8x8_target_holds() -> None:
    setting = Setting(env="MiniGrid-DoorKey-8x8-v0")
    with MemoryBackend(DEFAULT_DIM) as library:  # the run is the same on every backend (test_campaign)
        run = learning_run(setting, library, 0, 1000, eval_episodes=20, final_episodes=100)
    final = run["final"]
    assert final["unseen_layouts"] == 100
    assert final["success_rate"] >= 0.99
    assert final["mean_steps"] <= 1.3 * final["mean_optimal_steps"]


def test_memory_pays_off_on_the_fixed_layout_over_several_seeds(tmp_path: Path) -> None:
    summary = compare_layout(Setting(layout="fixed"), range(4), 15, tmp_path, window=5,
                             restart_episodes=0).summary()
    assert summary["memory_tail_steps"] <= 15
    assert summary["baseline_tail_steps"] > 10 * summary["memory_tail_steps"]
    assert summary["memory_tail_success"] == 1.0
    assert "restart_steps" not in summary
