"""Turning the agent's own steps into skills: segments, shortened routes, one skill per situation.

An episode is cut wherever the phase changes (key picked up or dropped, door opened
or closed, goal reached). A piece that ends in progress (key, door, goal) teaches a
route: the fewest actions from its first pose to its event through the moves the
piece actually observed (loops, bumps into walls and wasted actions are cut out).
Every step of that route starts a skill: the rest of the route, keyed by the
situation the agent was in at that step, with the situations and effects it expects
on the way (its trace), so that execution can tell when it is off course.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from agent.embedding import StateEmbedder
from agent.situation import Situation
from agent.worlds import Pose, Snapshot, effect
from skillstore import Skill


@dataclass(frozen=True)
class SkillKind:
    """What a skill of one kind achieves."""

    name: str
    subgoal: str  # the event that marks success
    what: str


KINDS: dict[str, SkillKind] = {
    "key": SkillKind("acquire_key", "key", "the key"),
    "door": SkillKind("open_door_sequence", "door", "the door"),
    "goal": SkillKind("reach_goal", "goal", "the goal"),
}
PROGRESS = tuple(KINDS)


@dataclass(frozen=True)
class Step:
    """One environment step as the agent saw it."""

    before: Snapshot
    action: str
    reward: float
    after: Snapshot
    event: str | None  # "key", "door", "goal" (progress), "lost_key", "door_closed", or None
    skill_id: str | None = None  # the skill that chose this action, None for exploration
    replayed: bool = False  # a skill chose it in the very situation its trace expected


def event_of(before: Snapshot, after: Snapshot, terminated: bool) -> str | None:
    """The phase change one step made, if any."""
    if terminated:
        return "goal"
    if after.door_open != before.door_open:
        return "door" if after.door_open else "door_closed"
    if after.has_key != before.has_key:
        return "key" if after.has_key else "lost_key"
    return None


@dataclass(frozen=True)
class Segment:
    """The steps from one phase change (or the start) up to and including the next."""

    event: str
    steps: tuple[Step, ...]

    @property
    def explored(self) -> bool:
        """True when some step came from exploration or transfer, so it may teach something new."""
        return not all(step.replayed for step in self.steps)


@dataclass(frozen=True)
class Route:
    """Actions from a segment's first pose to its event, with what the agent saw before each."""

    actions: tuple[str, ...]
    situations: tuple[Situation, ...]
    effects: tuple[str, ...]


def split_at_events(steps: Sequence[Step]) -> list[Segment]:
    """Cut ``steps`` after every phase change; steps after the last one are dropped."""
    segments: list[Segment] = []
    current: list[Step] = []
    for step in steps:
        current.append(step)
        if step.event is not None:
            segments.append(Segment(step.event, tuple(current)))
            current = []
    return segments


def shortest_route(segment: Segment) -> Route:
    """The fewest actions that reach the segment's event through transitions it observed.

    Breadth-first search over the poses visited in the segment using only the moves
    seen there (both worlds are deterministic, so a move seen once works again), then
    the event's own action. This shortens the agent's own experience; it never
    invents a move it has not made.
    """
    final = segment.steps[-1]
    start, target = segment.steps[0].before.pose, final.before.pose
    seen: dict[Pose, Snapshot] = {}
    edges: dict[Pose, list[Step]] = {}
    for step in segment.steps:
        seen.setdefault(step.before.pose, step.before)
    for step in segment.steps[:-1]:
        if step.after.pose != step.before.pose and step.event is None:
            edges.setdefault(step.before.pose, []).append(step)
    came_from: dict[Pose, Step | None] = {start: None}
    queue = deque([start])
    while queue and target not in came_from:
        here = queue.popleft()
        for step in edges.get(here, []):
            if step.after.pose not in came_from:
                came_from[step.after.pose] = step
                queue.append(step.after.pose)
    # The segment itself walked from start to target, so the search always gets there.
    path: list[Step] = []
    pose = target
    while (previous := came_from[pose]) is not None:
        path.append(previous)
        pose = previous.before.pose
    path.reverse()
    path.append(final)
    return Route(
        actions=tuple(step.action for step in path),
        situations=tuple(seen[step.before.pose].situation for step in path),
        effects=tuple(effect(step.before, step.after) for step in path),
    )


def build_skills(event: str, route: Route, embedder: StateEmbedder, family: str,
                 frames: int = 0) -> list[Skill]:
    """One skill per step of ``route``: the rest of the route, keyed by the situation there.

    ``frames`` (the environment steps the learner had taken) is stamped on each skill.
    """
    kind = KINDS[event]
    skills = []
    for index, situation in enumerate(route.situations):
        skills.append(Skill(
            name=kind.name,
            actions=list(route.actions[index:]),
            embedding=embedder.embed(situation),
            preconditions=situation.preconditions(),
            description=f"to {kind.what}: {situation.describe()}",
            metadata={
                "subgoal": kind.subgoal,
                "world": family,
                "situation": situation.key(),
                "trace": [s.key() for s in route.situations[index:]],
                "effects": list(route.effects[index:]),
                "frames": int(frames),
            },
        ))
    return skills
