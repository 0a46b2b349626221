"""ProceduralMemoryAgent: learns skills from its own episodes and reuses them in new layouts.

At every decision the agent describes its situation relative to the objects that
matter (:mod:`agent.situation`), asks its backend for the skills whose preconditions
(phase, cell acted on) hold, ranked by similarity and track record (``rank="blend"``),
and runs the best one: a skill recorded in this very situation if there is one,
otherwise the nearest one whose similarity reaches ``MIN_SIMILARITY`` (transfer).

Execution is closed-loop. After every action the agent compares what happened with
the skill's trace: the action must have had the effect it had when the skill was
recorded (a move moved, a pickup picked up), or the skill fails and is stopped. While
the new situation is the one the trace expects, the skill goes on; when it differs
(always, after the first step of a transferred skill) the skill hands over and the
agent asks the store again. With no applicable skill the agent explores.

A skill's use is reported through ``record_outcome``: a success when it reached its
subgoal, or handed over with every action having had its recorded effect; a failure
when an action did something else, all its actions ran without reaching the subgoal,
or the episode ended inside it. After every episode, each piece that made progress
(key, door, goal) teaches skills (:mod:`agent.skills`); a shorter route replaces a
longer one recorded in the same situation. Once every situation on the way has a skill,
nothing new is tried, so while learning the agent may *scout*: explore a whole phase
with probability ``scout``, which is how better routes are found; a scouted phase
teaches a route from every pose it visited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from agent.embedding import StateEmbedder
from agent.exploration import EXPLORE_MODES, Explorer
from agent.lifecycle import rollback_target, should_deprecate
from agent.skills import KINDS, PROGRESS, Step, event_of, routes_to_learn, skill_for, split_at_events
from agent.worlds import Snapshot, effect, view_of
from skillstore import BLEND_WEIGHT, Skill, SkillBackend, SkillStats

TOP_K = 16  # candidates per query: enough to skip those already tried here and to break ties
MIN_SIMILARITY = 0.2  # a skill transfers from situations about two cells away at most


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
    exact_uses: int = 0  # uses of a skill recorded in the very same situation
    retrievals: int = 0
    retrieval_seconds: float = 0.0
    layout: str = ""
    learned: list[str] = field(default_factory=list)
    improved: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)  # skills whose worse version was undone
    deprecated: list[str] = field(default_factory=list)
    trajectory: list[Step] = field(default_factory=list)


@dataclass
class _Running:
    """A skill being executed: where it is in its actions, and the reward before it began."""

    skill: Skill
    index: int
    reward_before: float
    actions: list[str]
    trace: list[str]
    effects: list[str]
    subgoal: str


def _unpack(skill: Skill) -> tuple[list[str], list[str], list[str], str] | None:
    """The actions, trace, effects and subgoal of a stored skill; None when malformed."""
    metadata = skill.metadata if isinstance(skill.metadata, dict) else {}
    actions, trace, effects = skill.actions, metadata.get("trace"), metadata.get("effects")
    subgoal = metadata.get("subgoal")
    if not (isinstance(actions, list) and actions and isinstance(trace, list)
            and isinstance(effects, list) and len(trace) == len(effects) == len(actions)
            and subgoal in KINDS):
        return None
    return list(actions), [str(t) for t in trace], [str(e) for e in effects], str(subgoal)


def trained_frames(backend: SkillBackend, family: str) -> int:
    """The training frames a library records: the largest stamp on its skills of ``family``."""
    frames = 0
    for skill in backend:
        metadata = skill.metadata if isinstance(skill.metadata, dict) else {}
        stamp = metadata.get("frames")
        if metadata.get("world") == family and isinstance(stamp, int) and not isinstance(stamp, bool):
            frames = max(frames, stamp)
    return frames


class ProceduralMemoryAgent:
    """An agent with a procedural memory kept in any ``SkillBackend``.

    ``env`` is GridWorld or a :class:`~agent.minigrid_adapter.MiniGridDoorKey` (wrappers
    allowed). ``backend=None`` gives the no-memory baseline. ``explore`` is
    ``"random"``, ``"novelty"`` (try what this episode has not tried yet) or
    ``"greedy"`` (GridWorld's reference heuristic). ``seed`` seeds the agent's own
    generator and the first reset of ``env``, so a run is reproducible. ``scout`` is
    the probability, while learning, of exploring a whole phase (from one key, door
    or goal event to the next) instead of using skills: the only way a route better
    than a stored one can be found once every situation on the way has a skill.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        backend: SkillBackend | None = None,
        *,
        explore: str = "random",
        seed: int | None = None,
        embedder: StateEmbedder | None = None,
        scout: float = 0.0,
    ) -> None:
        if explore not in EXPLORE_MODES:
            raise ValueError(f"explore must be one of {EXPLORE_MODES}, got {explore!r}")
        self.world = view_of(env)
        if explore == "greedy" and self.world.family != "gridworld":
            raise ValueError("greedy exploration is GridWorld's reference heuristic; "
                             "use random or novelty here")
        self.env = env
        self.size = self.world.size
        self.backend = backend
        self.embedder = embedder if embedder is not None else StateEmbedder()
        if backend is not None and backend.dim != self.embedder.dim:
            raise ValueError(
                f"the embedder makes {self.embedder.dim}-dimensional vectors, the backend holds {backend.dim}"
            )
        if isinstance(scout, bool) or not isinstance(scout, int | float) or not 0.0 <= scout <= 1.0:
            raise ValueError(f"scout must be a probability in [0, 1], got {scout!r}")
        self.explore = explore
        self.scout = float(scout)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.explorer = Explorer(explore, self.world, self.rng)
        self.episodes_run = 0
        self.total_skill_uses = 0
        self.total_skill_failures = 0
        self.total_improvements = 0  # new versions made from shorter routes, and their judging
        self.total_rollbacks = 0
        self.total_deprecations = 0
        self.frames = 0

    # -- one episode ------------------------------------------------------------

    def run_episode(self, use_skills: bool = True, *, learn: bool = True) -> EpisodeResult:
        """Play one episode; with ``learn=False`` the library is read but never written."""
        self.env.reset(seed=self.seed if self.episodes_run == 0 else None)
        self.episodes_run += 1
        self.explorer.new_episode()
        result = EpisodeResult(layout=self.world.layout_id())
        tried: set[tuple[str, Hashable]] = set()  # (skill, state): never twice in one episode
        running: _Running | None = None
        here = self.world.observe()
        phase: tuple[bool, bool] | None = None
        scouting = False
        done = False
        while not done:
            if (here.has_key, here.door_open) != phase:
                phase = (here.has_key, here.door_open)
                # a scouted phase is explored whole: its shortened route may beat the stored ones
                scouting = learn and self.scout > 0 and bool(self.rng.random() < self.scout)
            if running is not None and not self._on_course(running, here):
                # off the trace: hand over, a success only if the skill still had actions left
                self._finish(running, running.index < len(running.actions), result, learn)
                running = None
            if (running is None and use_skills and self.backend is not None
                    and not scouting):
                running = self._start(here, tried, result)
            action = running.actions[running.index] if running is not None else self.explorer.choose(here)
            after, done, terminated = self._take(here, action, running, result, scouting)
            if running is not None:
                expected = running.effects[running.index]
                running.index += 1
                result.skill_steps += 1
                event = result.trajectory[-1].event
                if effect(here, after) != expected:
                    self._finish(running, False, result, learn)
                    running = None
                elif event == running.subgoal:
                    self._finish(running, True, result, learn)
                    running = None
                elif done:
                    self._finish(running, False, result, learn)
                    running = None
            here = after
        if learn and self.backend is not None:
            self._learn(self.backend, result)
        return result

    def _on_course(self, running: _Running, here: Snapshot) -> bool:
        return running.index < len(running.actions) and here.situation.key() == running.trace[running.index]

    def _start(self, here: Snapshot, tried: set[tuple[str, Hashable]],
               result: EpisodeResult) -> _Running | None:
        found = self._retrieve(here, tried, result)
        if found is None:
            return None
        skill, unpacked = found
        tried.add((str(skill.id), here.state_key()))
        actions, trace, effects, subgoal = unpacked
        if trace[0] == here.situation.key():
            result.exact_uses += 1
        return _Running(skill, 0, result.reward, actions, trace, effects, subgoal)

    def _retrieve(self, here: Snapshot, tried: set[tuple[str, Hashable]], result: EpisodeResult,
                  ) -> tuple[Skill, tuple[list[str], list[str], list[str], str]] | None:
        """The skill recorded in this very situation, else the nearest close enough.

        The store ranks the applicable skills by ``rank="blend"``. The agent then takes a
        skill recorded in this situation before any other, and recomputes the blend from
        the returned embeddings and counts so that it can break ties by situation, route
        length and id: ids are random, and runs must repeat exactly on every backend.
        """
        assert self.backend is not None
        situation = here.situation
        query = self.embedder.embed(situation)
        started = time.perf_counter()
        matches = self.backend.search(query, TOP_K, state=situation.preconditions(),
                                      where={"world": self.world.family}, rank="blend")
        result.retrieval_seconds += time.perf_counter() - started
        result.retrievals += 1
        key, state = situation.key(), here.state_key()
        ranked = []
        for match in matches:
            skill = match.skill
            unpacked = _unpack(skill)
            if unpacked is None or (str(skill.id), state) in tried:
                continue
            exact = unpacked[1][0] == key
            similarity = float(np.dot(query.astype(np.float64), np.asarray(skill.embedding, dtype=np.float64)))
            if not exact and similarity < MIN_SIMILARITY:
                continue
            stats = skill.stats
            track_record = (stats.successes + 1) / (stats.attempts + 2)
            score = round((1 - BLEND_WEIGHT) * similarity + BLEND_WEIGHT * track_record, 9)
            ranked.append(((not exact, -score, unpacked[1][0], len(unpacked[0]), str(skill.id)),
                           skill, unpacked))
        if not ranked:
            return None
        _, skill, unpacked = min(ranked, key=lambda entry: entry[0])
        return skill, unpacked

    def _take(self, here: Snapshot, action: str, running: _Running | None,
              result: EpisodeResult, scouting: bool = False) -> tuple[Snapshot, bool, bool]:
        """Step the env; returns the new snapshot, whether the episode is over, and success."""
        _, reward, terminated, truncated, _ = self.env.step(self.world.actions.index(action))
        after = self.world.observe()
        event = event_of(here, after, bool(terminated))
        skill_id = str(running.skill.id) if running is not None else None
        replayed = running is not None and running.trace[running.index] == here.situation.key()
        result.trajectory.append(Step(here, action, float(reward), after, event, skill_id, replayed, scouting))
        self.explorer.observe(here, action, after)
        result.reward += float(reward)
        result.steps += 1
        self.frames += 1
        result.success = result.success or bool(terminated)
        result.truncated = bool(truncated) and not terminated
        return after, bool(terminated or truncated), bool(terminated)

    def _finish(self, running: _Running, success: bool, result: EpisodeResult, learn: bool) -> None:
        result.skill_uses += 1
        self.total_skill_uses += 1
        if not success:
            result.skill_failures += 1
            self.total_skill_failures += 1
        if learn and self.backend is not None:
            stats = self.backend.record_outcome(str(running.skill.id), success,
                                                reward=round(result.reward - running.reward_before, 6))
            if not success:
                self._judge(self.backend, running.skill, stats, result)

    def _judge(self, backend: SkillBackend, skill: Skill, stats: SkillStats, result: EpisodeResult) -> None:
        """After a failure: roll a clearly worse version back, or deprecate a skill that keeps
        failing (the rule is in ``agent.lifecycle``)."""
        skill_id = str(skill.id)
        if skill.version > 1:
            target = rollback_target(backend.history(skill_id))
            if target is not None:
                backend.rollback(skill_id, target, reason=f"version {skill.version} fails where {target} succeeded")
                result.rolled_back.append(skill.name)
                self.total_rollbacks += 1
                return
        if should_deprecate(stats):
            backend.update(skill_id, status="deprecated",
                           reason=f"{stats.successes} successes in {stats.attempts} attempts")
            result.deprecated.append(skill.name)
            self.total_deprecations += 1

    # -- learning ---------------------------------------------------------------

    def _learn(self, backend: SkillBackend, result: EpisodeResult) -> None:
        for segment in split_at_events(result.trajectory):
            if segment.event not in PROGRESS or not segment.explored:
                continue  # a regression teaches nothing; a replayed segment nothing new
            for route in routes_to_learn(segment):
                skill = skill_for(segment.event, route, self.embedder, self.world.family, self.frames)
                outcome = self._remember(backend, skill)
                if outcome == "added":
                    result.learned.append(skill.name)
                elif outcome == "improved":
                    result.improved.append(skill.name)

    def _remember(self, backend: SkillBackend, skill: Skill) -> str:
        """Add ``skill``, or shorten a reliable stored skill recorded in the same situation.

        Returns ``"added"``, ``"improved"`` or ``"known"``.
        """
        metadata = skill.metadata or {}
        matches = backend.search(
            skill.embedding, TOP_K, state=skill.preconditions or {},
            where={"world": metadata["world"], "situation": metadata["situation"]},
        )
        # A stored skill that mostly fails does not stand in the way of a route that worked;
        # the new one is added beside it and ranking by track record prefers it.
        same = [m.skill for m in matches
                if m.skill.stats.attempts == 0 or m.skill.stats.success_rate >= 0.5]
        if not same:
            backend.add(skill)
            return "added"
        best = min(same, key=lambda s: (len(s.actions), str(s.id)))
        if len(skill.actions) < len(best.actions):
            backend.update(str(best.id), actions=skill.actions, metadata=skill.metadata,
                           description=skill.description,
                           reason=f"shorter route: {len(best.actions)} to {len(skill.actions)} actions")
            self.total_improvements += 1
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
        episodes; ``skill_step_share`` is the fraction of an episode's steps taken
        inside skills; ``frames`` the environment steps taken so far;
        ``retrieval_ms`` the mean time of one store query in the episode.
        ``on_episode`` is called with the episode's number (from 1) and its result.
        """
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 0:
            raise ValueError(f"episodes must be a non-negative integer, got {episodes!r}")
        stats: dict[str, list[Any]] = {
            key: [] for key in ("rewards", "steps", "successes", "skills_learned", "skill_uses",
                                "skill_failures", "skill_step_share", "frames", "retrieval_ms",
                                "layouts", "new_versions", "rollbacks", "deprecations")
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
            stats["frames"].append(self.frames)
            stats["retrieval_ms"].append(
                round(1000 * result.retrieval_seconds / result.retrievals, 4) if result.retrievals else 0.0)
            stats["layouts"].append(result.layout)
            stats["new_versions"].append(self.total_improvements)  # cumulative, like skill_uses
            stats["rollbacks"].append(self.total_rollbacks)
            stats["deprecations"].append(self.total_deprecations)
            if on_episode is not None:
                on_episode(number, result)
        return stats
