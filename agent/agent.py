"""ProceduralMemoryAgent: learns skills from its successful episodes and reuses them.

In every state the agent asks its backend for the skills whose preconditions hold,
ranked by similarity and track record (``rank="blend"``), runs the best one and
reports whether it reached its subgoal. When no skill applies, or the applicable
ones already failed in this state during the episode, it explores with primitive
actions. After a successful episode it learns one skill per subgoal segment that
involved exploration; a route shorter than the one already stored for the same
preconditions replaces the stored actions.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agent.embedding import StateEmbedder
from agent.exploration import EXPLORE_MODES, greedy_action, random_action
from agent.gridworld import ACTIONS, GridWorld
from agent.skills import (
    Step,
    build_skill,
    shortest_route,
    situation,
    split_at_events,
    subgoal_reached,
)
from skillstore import Skill, SkillBackend

TOP_K = 5  # candidates fetched per query; more than enough to skip the few that failed


@dataclass
class EpisodeResult:
    """What one episode did. ``skill_steps`` counts the steps taken inside skills."""

    reward: float = 0.0
    steps: int = 0
    success: bool = False
    truncated: bool = False
    skill_uses: int = 0
    skill_failures: int = 0
    skill_steps: int = 0
    learned: list[str] = field(default_factory=list)
    improved: list[str] = field(default_factory=list)
    trajectory: list[Step] = field(default_factory=list)


def state_key(state: Mapping[str, Any]) -> Hashable:
    """A hashable identity of a GridWorld state, to remember where a skill failed."""
    objects = state["objects"]
    return (
        tuple(state["agent_pos"]),
        bool(state["has_key"]),
        bool(state["door_open"]),
        tuple(sorted((name, tuple(pos)) for name, pos in objects.items())),
    )


class ProceduralMemoryAgent:
    """A GridWorld agent with a procedural memory kept in any ``SkillBackend``.

    ``backend=None`` gives the no-memory baseline. ``explore`` is ``"random"`` or
    ``"greedy"``. ``seed`` seeds both the agent's own generator and the first reset
    of ``env``, so a run is reproducible. ``embedder`` defaults to a
    :class:`StateEmbedder` with the backend's dimension.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        backend: SkillBackend | None = None,
        *,
        explore: str = "random",
        seed: int | None = None,
        embedder: StateEmbedder | None = None,
    ) -> None:
        if explore not in EXPLORE_MODES:
            raise ValueError(f"explore must be one of {EXPLORE_MODES}, got {explore!r}")
        world = env.unwrapped  # get_state() and the grid size live on the bare env
        if not isinstance(world, GridWorld):
            raise TypeError(f"the agent plays GridWorld, got {type(world).__name__}")
        self.env = env
        self.world = world
        self.size = world.size
        self.goal = (self.size - 1, self.size - 1)
        self.backend = backend
        if embedder is None:
            embedder = StateEmbedder(backend.dim if backend is not None else 8, size=self.size)
        if backend is not None and backend.dim != embedder.dim:
            raise ValueError(
                f"the embedder makes {embedder.dim}-dimensional vectors, the backend holds {backend.dim}"
            )
        self.embedder = embedder
        self.explore = explore
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.episodes_run = 0
        self.total_skill_uses = 0
        self.total_skill_failures = 0

    # -- one episode ------------------------------------------------------------

    def run_episode(self, use_skills: bool = True, *, learn: bool = True) -> EpisodeResult:
        """Play one episode; with ``learn=False`` the library is read but never written."""
        self.env.reset(seed=self.seed if self.episodes_run == 0 else None)
        self.episodes_run += 1
        result = EpisodeResult()
        failed: set[tuple[str, Hashable]] = set()
        done = False
        while not done:
            state = self.world.get_state()
            skill = self._retrieve(state, failed) if use_skills else None
            if skill is not None:
                success, done = self._run_skill(skill, state, result, learn)
                if not success:
                    # never the same skill twice in the same state within an episode
                    failed.add((str(skill.id), state_key(state)))
                continue
            done = self._take(state, self._explore(state), None, result)
        if result.success and learn and self.backend is not None:
            self._learn(self.backend, result)
        return result

    def _retrieve(self, state: dict[str, Any], failed: set[tuple[str, Hashable]]) -> Skill | None:
        if self.backend is None:
            return None
        here = situation(state, self.goal)
        matches = self.backend.search(
            self.embedder.embed(here),
            TOP_K,
            state=here,
            where={"grid_size": self.size},
            rank="blend",
        )
        key = state_key(state)
        for match in matches:
            if (match.skill.id, key) not in failed:
                return match.skill
        return None

    def _explore(self, state: dict[str, Any]) -> str:
        if self.explore == "greedy":
            return greedy_action(state, self.goal, self.rng)
        return random_action(self.rng)

    def _take(self, state: dict[str, Any], action: str, skill_id: str | None,
              result: EpisodeResult) -> bool:
        """Step the env with ``action``; returns True when the episode is over."""
        _, reward, terminated, truncated, info = self.env.step(ACTIONS.index(action))
        result.trajectory.append(
            Step(state, action, float(reward), self.world.get_state(), info.get("event"), skill_id)
        )
        result.reward += float(reward)
        result.steps += 1
        result.success = result.success or bool(terminated)
        result.truncated = bool(truncated) and not terminated
        return bool(terminated or truncated)

    def _run_skill(self, skill: Skill, state: dict[str, Any], result: EpisodeResult,
                   learn: bool) -> tuple[bool, bool]:
        """Execute ``skill`` from ``state``; returns (reached its subgoal, episode over)."""
        subgoal = (skill.metadata or {}).get("subgoal")
        actions = skill.actions if isinstance(skill.actions, list) else []
        valid = bool(actions) and all(a in ACTIONS for a in actions)
        reward_before = result.reward
        done = terminated = False
        if valid:
            for action in actions:
                done = self._take(self.world.get_state(), action, skill.id, result)
                result.skill_steps += 1
                terminated = result.success
                if done or subgoal_reached(subgoal, state, self.world.get_state(), terminated):
                    break
        success = valid and subgoal_reached(subgoal, state, self.world.get_state(), terminated)
        result.skill_uses += 1
        self.total_skill_uses += 1
        if not success:
            result.skill_failures += 1
            self.total_skill_failures += 1
        if learn and self.backend is not None:
            self.backend.record_outcome(
                str(skill.id), success, reward=round(result.reward - reward_before, 6)
            )
        return success, done

    # -- learning ---------------------------------------------------------------

    def _learn(self, backend: SkillBackend, result: EpisodeResult) -> None:
        for segment in split_at_events(result.trajectory):
            if not segment.explored:
                continue  # a skill ran this whole segment: nothing new to learn
            skill = build_skill(segment, shortest_route(segment), self.embedder, self.size)
            outcome = self._remember(backend, skill)
            if outcome == "added":
                result.learned.append(skill.name)
            elif outcome == "improved":
                result.improved.append(skill.name)

    def _remember(self, backend: SkillBackend, skill: Skill) -> str:
        """Add ``skill``, or shorten a reliable stored skill with the same preconditions and subgoal.

        Returns ``"added"``, ``"improved"`` or ``"known"``.
        """
        metadata = skill.metadata or {}
        matches = backend.search(
            skill.embedding,
            TOP_K,
            state=skill.preconditions or {},
            where={"grid_size": self.size, "subgoal": metadata["subgoal"]},
        )
        # A stored skill that mostly fails does not stand in the way of a route that worked;
        # the new skill is added beside it and ranking by track record prefers it.
        same = [
            m.skill for m in matches
            if m.skill.preconditions == skill.preconditions
            and (m.skill.stats.attempts == 0 or m.skill.stats.success_rate >= 0.5)
        ]
        if not same:
            backend.add(skill)
            return "added"
        best = min(same, key=lambda s: (len(s.actions), str(s.id)))
        if len(skill.actions) < len(best.actions):
            backend.update(
                str(best.id),
                actions=skill.actions,
                embedding=skill.embedding,
                description=skill.description,
            )
            return "improved"
        return "known"

    # -- many episodes ----------------------------------------------------------

    def train(
        self,
        episodes: int,
        use_skills: bool = True,
        *,
        learn: bool = True,
        on_episode: Callable[[int, EpisodeResult], None] | None = None,
    ) -> dict[str, list[Any]]:
        """Run ``episodes`` episodes; returns one list per figure, one entry per episode.

        ``skill_uses`` and ``skill_failures`` are cumulative over this agent's
        episodes (the reference's "cumulative skill uses"); ``skill_step_share`` is
        the fraction of an episode's steps taken inside skills. ``on_episode`` is
        called with the episode's number (from 1) and its result.
        """
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 0:
            raise ValueError(f"episodes must be a non-negative integer, got {episodes!r}")
        stats: dict[str, list[Any]] = {
            "rewards": [],
            "steps": [],
            "successes": [],
            "skills_learned": [],
            "skill_uses": [],
            "skill_failures": [],
            "skill_step_share": [],
        }
        for number in range(1, episodes + 1):
            result = self.run_episode(use_skills, learn=learn)
            stats["rewards"].append(round(result.reward, 6))
            stats["steps"].append(result.steps)
            stats["successes"].append(result.success)
            stats["skills_learned"].append(len(self.backend) if self.backend is not None else 0)
            stats["skill_uses"].append(self.total_skill_uses)
            stats["skill_failures"].append(self.total_skill_failures)
            stats["skill_step_share"].append(result.skill_steps / result.steps if result.steps else 0.0)
            if on_episode is not None:
                on_episode(number, result)
        return stats
