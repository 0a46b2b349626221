"""Skills learned by one process are reused by another through a SkillStore."""

from __future__ import annotations

import json
from pathlib import Path

from agent_helpers import ROOT, run_python

from agent.experiments import Setting, compare_layout, format_table
from skillstore import SkillStore


def test_a_store_trained_in_one_process_is_reused_by_another(tmp_path: Path) -> None:
    store = tmp_path / "skills"
    trained = run_python("-m", "agent", "train", "--store", str(store), "--episodes", "6",
                         "--seed", "3", "--json", cwd=ROOT)
    assert trained.returncode == 0, trained.stderr
    learned = json.loads(trained.stdout)["stats"]
    assert learned["skills_learned"][-1] == 3

    reused = run_python("-m", "agent", "train", "--store", str(store), "--episodes", "3",
                        "--seed", "99", "--json", cwd=ROOT)
    assert reused.returncode == 0, reused.stderr
    stats = json.loads(reused.stdout)["stats"]
    # The new process learned nothing before its first episode, yet solves it with skills.
    assert stats["steps"][0] <= 20 and stats["successes"] == [True, True, True]
    assert stats["skill_step_share"][0] == 1.0
    assert stats["skills_learned"] == [3, 3, 3]

    with SkillStore.open(store, read_only=True) as opened:
        names = sorted(skill.name for skill in opened)
        assert names == ["acquire_key", "open_door_sequence", "reach_goal"]
        uses = sum(skill.stats.attempts for skill in opened)
        assert uses == learned["skill_uses"][-1] + stats["skill_uses"][-1]


def test_compare_measures_the_restart_in_a_new_process(tmp_path: Path) -> None:
    report = compare_layout(Setting(layout="fixed"), [3, 4], 5, tmp_path, window=2,
                            restart_episodes=2)
    assert report.restart_steps is not None and report.restart_steps.shape == (2, 2)
    assert report.restart_success is not None and report.restart_success.all()
    assert report.restart_steps.max() <= 20
    summary = report.summary()
    assert summary["memory_tail_steps"] < summary["baseline_tail_steps"]
    assert summary["optimal_tail_steps"] == 10.0
    assert "| fixed | 2 × 5 |" in format_table([report])
