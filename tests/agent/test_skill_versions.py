"""The agent judges its skills' versions by their outcomes (``agent.lifecycle``): a clearly
worse version is rolled back, an unlucky streak is not, a skill that keeps failing is
deprecated, and a shorter route becomes a new version with its reason."""

from __future__ import annotations

import numpy as np

from agent import GridWorld, ProceduralMemoryAgent
from agent.agent import EpisodeResult
from agent.embedding import DEFAULT_DIM
from agent.lifecycle import DEPRECATE_MIN_ATTEMPTS, ROLLBACK_MIN_ATTEMPTS, wilson
from skillstore import MemoryBackend, Skill


def library_with_a_good_first_version() -> tuple[MemoryBackend, str]:
    backend = MemoryBackend(DEFAULT_DIM)
    skill_id = backend.add(Skill("to the key", ["move_up", "move_up", "pickup_key"], np.ones(DEFAULT_DIM)))
    for _ in range(10):
        backend.record_outcome(skill_id, True)
    return backend, skill_id


def judge_failures(agent: ProceduralMemoryAgent, backend: MemoryBackend, skill_id: str, failures: int) -> EpisodeResult:
    """Report ``failures`` failed uses of the skill, as the agent does after each one."""
    result = EpisodeResult()
    for _ in range(failures):
        stats = backend.record_outcome(skill_id, False)
        agent._judge(backend, backend.get(skill_id), stats, result)
    return result


def test_a_deliberately_worse_version_is_rolled_back_by_the_agent() -> None:
    backend, skill_id = library_with_a_good_first_version()
    agent = ProceduralMemoryAgent(GridWorld(), backend, seed=0)
    backend.update(skill_id, actions=["move_down", "pickup_key"], reason="a shorter route, but a wrong one")
    result = judge_failures(agent, backend, skill_id, ROLLBACK_MIN_ATTEMPTS)
    assert result.rolled_back == ["to the key"]
    skill = backend.get(skill_id)
    assert skill.version == 3 and skill.actions == ["move_up", "move_up", "pickup_key"]
    last = backend.history(skill_id)[-1]
    assert last.rollback_of == 1 and "fails where 1 succeeded" in str(last.reason)


def test_an_unlucky_streak_is_not_a_worse_version() -> None:
    backend, skill_id = library_with_a_good_first_version()
    agent = ProceduralMemoryAgent(GridWorld(), backend, seed=0)
    backend.update(skill_id, actions=["move_up", "pickup_key"], reason="shorter")
    for success in (True, True, True):
        backend.record_outcome(skill_id, success)
    result = judge_failures(agent, backend, skill_id, 2)  # 3 of 5: not clearly below 10 of 10
    assert result.rolled_back == [] and backend.get(skill_id).version == 2


def test_a_skill_that_keeps_failing_is_deprecated_and_leaves_search() -> None:
    backend = MemoryBackend(DEFAULT_DIM)
    skill_id = backend.add(Skill("doomed", ["open_door"], np.ones(DEFAULT_DIM)))
    agent = ProceduralMemoryAgent(GridWorld(), backend, seed=0)
    result = judge_failures(agent, backend, skill_id, DEPRECATE_MIN_ATTEMPTS)
    assert result.deprecated == ["doomed"]
    assert backend.get(skill_id).status == "deprecated"
    assert backend.search(np.ones(DEFAULT_DIM), k=5) == []


def test_training_reports_versions_and_a_shorter_route_records_its_reason() -> None:
    backend = MemoryBackend(DEFAULT_DIM)
    stats = ProceduralMemoryAgent(GridWorld(layout="random"), backend, explore="random", seed=4).train(30)
    assert len(stats["new_versions"]) == len(stats["rollbacks"]) == len(stats["deprecations"]) == 30
    improved = [s for s in backend if s.version > 1]
    assert stats["new_versions"][-1] >= len(improved)
    for skill in improved:
        assert any(str(v.reason).startswith("shorter route: ") for v in backend.history(str(skill.id)))


def test_wilson_bounds() -> None:
    low, high = wilson(10, 10)
    assert 0.72 < low < 0.73 and high == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
