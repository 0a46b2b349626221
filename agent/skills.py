"""Turning the agent's own steps into skills: segments, shortened routes, one skill per situation.

An episode is cut wherever the phase changes (key picked up or dropped, door opened
or closed, goal reached). A piece that ends in progress (key, door, goal) teaches a
route: the fewest actions from its first pose to its event through the moves the
piece actually observed (loops, bumps into walls and wasted actions are cut out):
from the piece's first pose and every step on that route or, for a phase the agent
scouted (explored on purpose), from every pose it visited. Each route is a skill keyed
by the situation the agent was in at its start, with the situations and effects it
expects on the way (its trace), so that execution can tell when it is off course.
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
    scouting: bool = False  # taken while scouting: exploring a whole phase on purpose


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

    @property
    def scouted(self) -> bool:
        """True when the agent explored this phase on purpose instead of using skills."""
        return any(step.scouting for step in self.steps)


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


def shortest_routes(segment: Segment) -> dict[Pose, Route]:
    """From every pose the segment visited, the fewest actions to its event through the
    transitions it observed, then the event's own action.

    A breadth-first search backwards from the event's pose over the moves seen in the
    segment (both worlds are deterministic, so a move seen once works again). This
    shortens the agent's own experience; it never invents a move it has not made. A
    segment that explored widely (a scouted phase) thus teaches a short route from every
    place it passed, not only from where it began.
    """
    final = segment.steps[-1]
    target = final.before.pose
    seen: dict[Pose, Snapshot] = {}
    arriving: dict[Pose, list[Step]] = {}
    for step in segment.steps:
        seen.setdefault(step.before.pose, step.before)
    for step in segment.steps[:-1]:
        if step.after.pose != step.before.pose and step.event is None:
            arriving.setdefault(step.after.pose, []).append(step)
    onward: dict[Pose, Step | None] = {target: None}  # the first step of a shortest route
    queue = deque([target])
    while queue:
        there = queue.popleft()
        for step in arriving.get(there, []):
            if step.before.pose not in onward:
                onward[step.before.pose] = step
                queue.append(step.before.pose)
    routes: dict[Pose, Route] = {}
    for pose in seen:  # every visited pose walked on to the event, so every one is reached
        path: list[Step] = []
        here = pose
        while (following := onward[here]) is not None:
            path.append(following)
            here = following.after.pose
        path.append(final)
        routes[pose] = Route(
            actions=tuple(step.action for step in path),
            situations=tuple(seen[step.before.pose].situation for step in path),
            effects=tuple(effect(step.before, step.after) for step in path),
        )
    return routes


def shortest_route(segment: Segment) -> Route:
    """The fewest actions from the segment's first pose to its event (see ``shortest_routes``)."""
    return shortest_routes(segment)[segment.steps[0].before.pose]


def suffixes(route: Route) -> list[Route]:
    """The route from each of its steps on."""
    return [Route(route.actions[index:], route.situations[index:], route.effects[index:])
            for index in range(len(route.actions))]


def routes_to_learn(segment: Segment) -> list[Route]:
    """What a segment teaches: from a scouted phase, a route from every pose it visited (it
    explored on purpose, so many are short); otherwise the route from its start and every
    step on it (elsewhere it wandered, and transfer from nearby situations does better)."""
    if segment.scouted:
        return list(shortest_routes(segment).values())
    return suffixes(shortest_route(segment))


def skill_for(event: str, route: Route, embedder: StateEmbedder, family: str, frames: int = 0) -> Skill:
    """The skill that runs ``route``, keyed by the situation where it starts.

    ``frames`` (the environment steps the learner had taken) is stamped on it.
    """
    kind = KINDS[event]
    situation = route.situations[0]
    return Skill(
        name=kind.name,
        actions=list(route.actions),
        embedding=embedder.embed(situation),
        preconditions=situation.preconditions(),
        description=f"to {kind.what}: {situation.describe()}",
        metadata={
            "subgoal": kind.subgoal,
            "world": family,
            "situation": situation.key(),
            "trace": [s.key() for s in route.situations],
            "effects": list(route.effects),
            "frames": int(frames),
        },
    )


def build_skills(event: str, route: Route, embedder: StateEmbedder, family: str,
                 frames: int = 0) -> list[Skill]:
    """One skill per step of ``route``: the rest of the route, keyed by the situation there."""
    return [skill_for(event, suffix, embedder, family, frames) for suffix in suffixes(route)]
