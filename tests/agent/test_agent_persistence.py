"""Skills learned by one process are reused by another through a SkillStore; runs repeat across processes."""

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
    size = learned["skills_learned"][-1]
    assert size >= 10

    reused = run_python("-m", "agent", "train", "--store", str(store), "--episodes", "3",
                        "--seed", "99", "--json", cwd=ROOT)
    assert reused.returncode == 0, reused.stderr
    stats = json.loads(reused.stdout)["stats"]
    # The new process learned nothing before its first episode, yet solves it with skills.
    assert stats["steps"][0] <= 20 and stats["successes"] == [True, True, True]
    assert stats["skill_step_share"][0] == 1.0
    assert stats["frames"][0] > learned["frames"][-1] // 2  # it counts on from the stored frames

    with SkillStore.open(store, read_only=True) as opened:
        assert {skill.name for skill in opened} == {"acquire_key", "open_door_sequence", "reach_goal"}
        uses = sum(skill.stats.attempts for skill in opened)
        assert uses == learned["skill_uses"][-1] + stats["skill_uses"][-1]


def test_a_new_process_solves_unseen_doorkey_layouts_from_the_stored_skills(tmp_path: Path) -> None:
    store = tmp_path / "doorkey"
    env = ["--env", "MiniGrid-DoorKey-5x5-v0"]
    trained = run_python("-m", "agent", "train", *env, "--store", str(store), "--episodes", "150",
                         "--seed", "0", "--json", cwd=ROOT)
    assert trained.returncode == 0, trained.stderr
    evaluated = run_python("-m", "agent", "eval", *env, "--store", str(store), "--episodes", "30",
                           "--seed", "500", "--json", cwd=ROOT)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    # floors well below the README's figures (100 %, 1.1x optimal)
    assert report["success_rate"] >= 0.9
    assert report["mean_steps"] <= 2 * report["mean_optimal_steps"]
    assert report["skill_uses"] > 0


def test_two_processes_with_one_seed_train_identically_on_doorkey(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        completed = run_python("-m", "agent", "train", "--env", "MiniGrid-DoorKey-5x5-v0", "--store",
                               str(tmp_path / name), "--episodes", "25", "--seed", "4", "--json",
                               hash_seed={"a": "1", "b": "2"}[name], cwd=ROOT)
        assert completed.returncode == 0, completed.stderr
        stats = json.loads(completed.stdout)["stats"]
        stats.pop("retrieval_ms")  # wall-clock time, the only thing allowed to differ
        runs.append(stats)
    assert runs[0] == runs[1]
    assert runs[0]["successes"].count(True) > 10


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
