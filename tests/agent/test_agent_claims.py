"""The README's measured claims, re-measured (the full campaign is behind the slow marker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.experiments import Setting, compare_layout


@pytest.mark.slow
def test_the_readme_figures_hold(tmp_path: Path) -> None:
    seeds, episodes = range(10), 50
    fixed, pool, random = (
        compare_layout(Setting(layout=name), seeds, episodes, tmp_path).summary()
        for name in ("fixed", "pool", "random")
    )
    assert fixed["memory_tail_steps"] <= 15 and fixed["baseline_tail_steps"] >= 300
    assert fixed["memory_tail_success"] == 1.0 and fixed["baseline_success"] < 0.7
    assert fixed["restart_steps"] <= 15 and fixed["restart_success"] == 1.0
    assert pool["memory_tail_steps"] <= 2 * pool["optimal_tail_steps"]
    assert pool["memory_success"] > pool["baseline_success"]
    # Fully random layouts: memory helps, but far less; the claim is only "better than none".
    assert random["memory_tail_steps"] < random["baseline_tail_steps"]
    assert random["memory_tail_steps"] > 3 * random["optimal_tail_steps"]


def test_memory_pays_off_on_the_fixed_layout_over_several_seeds(tmp_path: Path) -> None:
    summary = compare_layout(Setting(layout="fixed"), range(4), 15, tmp_path, window=5,
                             restart_episodes=0).summary()
    assert summary["memory_tail_steps"] <= 15
    assert summary["baseline_tail_steps"] > 10 * summary["memory_tail_steps"]
    assert summary["memory_tail_success"] == 1.0
    assert "restart_steps" not in summary
