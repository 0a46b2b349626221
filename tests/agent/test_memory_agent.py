"""ProceduralMemoryAgent on every backend: greedy figures, real outcomes, learning that shows."""

from __future__ import annotations

import numpy as np
import pytest
from agent_helpers import BackendFactory

from agent import GridWorld, ProceduralMemoryAgent, StateEmbedder
from skillstore import MemoryBackend, Skill

START = {"agent_pos": (0, 0), "has_key": False, "door_open": False, "key_pos": (2, 2)}
STATS_KEYS = {"rewards", "steps", "successes", "skills_learned", "skill_uses",
              "skill_failures", "skill_step_share"}


def start_state() -> dict:
    env = GridWorld()
    env.reset(seed=0)
    return env.get_state()


def test_greedy_solves_the_fixed_layout_in_10_steps_for_12_3_without_memory() -> None:
    stats = ProceduralMemoryAgent(GridWorld(), None, explore="greedy", seed=0).train(3)
    assert stats["steps"] == [10, 10, 10]
    assert stats["rewards"] == pytest.approx([12.3] * 3)
    assert stats["successes"] == [True] * 3
    assert stats["skills_learned"] == [0, 0, 0] and stats["skill_uses"] == [0, 0, 0]


def test_greedy_with_memory_learns_three_skills_and_replays_them(
    make_backend: BackendFactory,
) -> None:
    backend = make_backend()
    agent = ProceduralMemoryAgent(GridWorld(), backend, explore="greedy", seed=0)
    stats = agent.train(4)
    assert set(stats) == STATS_KEYS and all(len(v) == 4 for v in stats.values())
    assert stats["steps"] == [10] * 4
    assert stats["rewards"] == pytest.approx([12.3] * 4)
    assert stats["skills_learned"] == [3] * 4
    assert stats["skill_uses"] == [0, 3, 6, 9]
    assert stats["skill_step_share"] == [0.0, 1.0, 1.0, 1.0]
    names = sorted(skill.name for skill in backend)
    assert names == ["acquire_key", "open_door_sequence", "reach_goal"]
    for skill in backend:
        assert skill.stats.attempts == skill.stats.successes == 3


def test_random_exploration_learns_and_beats_the_baseline(make_backend: BackendFactory) -> None:
    episodes = 20
    memory = ProceduralMemoryAgent(GridWorld(), make_backend(), seed=3).train(episodes)
    baseline = ProceduralMemoryAgent(GridWorld(), None, seed=3).train(episodes)
    late_memory = np.mean(memory["steps"][-5:])
    late_baseline = np.mean(baseline["steps"][-5:])
    assert late_memory <= 20
    assert late_baseline > 5 * late_memory
    assert all(memory["successes"][-5:])
    assert memory["skill_step_share"][-1] == 1.0
    assert memory["skills_learned"][-1] == 3


def test_same_seed_gives_the_same_run() -> None:
    first = ProceduralMemoryAgent(GridWorld(layout="random"), MemoryBackend(8), seed=11).train(8)
    second = ProceduralMemoryAgent(GridWorld(layout="random"), MemoryBackend(8), seed=11).train(8)
    assert first == second


def test_a_failing_skill_is_recorded_and_not_retried_in_the_same_state(
    make_backend: BackendFactory,
) -> None:
    backend = make_backend()
    embedder = StateEmbedder()
    bogus = backend.add(Skill(
        name="acquire_key",
        actions=["move_left"],  # bumps into the wall: never reaches the key
        embedding=embedder.embed(start_state(), ["move_left"]),
        preconditions=START,
        metadata={"subgoal": "has_key", "grid_size": 5},
    ))
    agent = ProceduralMemoryAgent(GridWorld(), backend, seed=0)
    first = agent.run_episode()
    # the agent stands on (0, 0) again and again during its random walk, yet tries once
    assert sum(1 for step in first.trajectory if step.state["agent_pos"] == (0, 0)) > 2
    assert backend.get(bogus).stats.attempts == 1
    assert backend.get(bogus).stats.failures == 1
    assert first.skill_failures == 1 and first.success
    # the working route learned from that episode now outranks the failing skill
    second = agent.run_episode()
    assert second.skill_failures == 0 and second.steps <= 20
    assert backend.get(bogus).stats.attempts == 1
    for skill in backend:
        assert 0.0 <= skill.stats.success_rate <= 1.0
        assert skill.stats.successes + skill.stats.failures == skill.stats.attempts


def test_success_rates_stay_within_bounds_on_random_layouts(make_backend: BackendFactory) -> None:
    backend = make_backend()
    stats = ProceduralMemoryAgent(GridWorld(layout="pool", pool_size=3), backend, seed=1).train(25)
    assert stats["skill_uses"][-1] > 0
    for skill in backend:
        assert 0.0 <= skill.stats.success_rate <= 1.0
    library = backend.stats()
    assert 0.0 <= library["avg_success_rate"] <= 1.0
    assert library["total_uses"] == stats["skill_uses"][-1]


def test_tied_similarities_do_not_crash(make_backend: BackendFactory) -> None:
    backend = make_backend()
    embedder = StateEmbedder()
    route = ["move_right", "move_right", "move_up", "move_up", "pickup_key"]
    twin = Skill(name="acquire_key", actions=route, embedding=embedder.embed(start_state(), route),
                 preconditions=START, metadata={"subgoal": "has_key", "grid_size": 5})
    ids = {backend.add(twin), backend.add(twin)}
    assert len(ids) == 2
    agent = ProceduralMemoryAgent(GridWorld(), backend, explore="greedy", seed=0)
    stats = agent.train(3)
    assert stats["steps"] == [10, 10, 10]
    used = [backend.get(skill_id).stats.attempts for skill_id in ids]
    assert sorted(used) == [0, 3]  # ties go to the same skill every time (by id)


def test_a_shorter_route_replaces_the_stored_one(make_backend: BackendFactory) -> None:
    backend = make_backend()
    embedder = StateEmbedder()
    detour = ["move_up", "move_up", "move_up", "move_right", "move_right", "move_down",
              "pickup_key"]
    long_id = backend.add(Skill(
        name="acquire_key", actions=detour, embedding=embedder.embed(start_state(), detour),
        preconditions=START, metadata={"subgoal": "has_key", "grid_size": 5},
    ))
    agent = ProceduralMemoryAgent(GridWorld(), backend, explore="greedy", seed=0)
    result = agent.run_episode(use_skills=False)
    assert result.improved == ["acquire_key"]
    assert sorted(result.learned) == ["open_door_sequence", "reach_goal"]
    assert len(backend) == 3
    assert len(backend.get(long_id).actions) == 5


def test_learn_false_never_writes(make_backend: BackendFactory) -> None:
    backend = make_backend()
    ProceduralMemoryAgent(GridWorld(), backend, explore="greedy", seed=0).train(1)
    before = {skill.id: skill.stats for skill in backend}
    stats = ProceduralMemoryAgent(GridWorld(), backend, seed=5).train(3, learn=False)
    assert stats["steps"] == [10, 10, 10]
    assert {skill.id: skill.stats for skill in backend} == before


def test_use_skills_false_explores_but_still_learns() -> None:
    backend = MemoryBackend(8)
    stats = ProceduralMemoryAgent(GridWorld(), backend, explore="greedy", seed=0).train(
        2, use_skills=False)
    assert stats["skill_uses"] == [0, 0] and len(backend) == 3


def test_the_agent_works_through_gymnasium_wrappers() -> None:
    import gymnasium as gym

    env = gym.make("skillstore/GridWorld-v0")
    stats = ProceduralMemoryAgent(env, MemoryBackend(8), explore="greedy", seed=0).train(2)
    assert stats["steps"] == [10, 10]


def test_mismatched_dimensions_and_unknown_explore_are_rejected() -> None:
    with pytest.raises(ValueError, match="16"):
        ProceduralMemoryAgent(GridWorld(), MemoryBackend(16), embedder=StateEmbedder(8))
    with pytest.raises(ValueError, match="explore"):
        ProceduralMemoryAgent(GridWorld(), None, explore="clever")
    with pytest.raises(ValueError, match="episodes"):
        ProceduralMemoryAgent(GridWorld(), None).train(-1)


def test_a_larger_embedding_dimension_works(make_backend: BackendFactory) -> None:
    backend = make_backend(dim=16)
    stats = ProceduralMemoryAgent(GridWorld(), backend, seed=3).train(6)
    assert stats["skills_learned"][-1] == 3 and stats["steps"][-1] <= 20


def test_other_environments_are_refused() -> None:
    import gymnasium as gym

    with pytest.raises(TypeError, match="GridWorld"):
        ProceduralMemoryAgent(gym.make("CartPole-v1"), None)
