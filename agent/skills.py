"""Turning a successful episode into skills: segments, shortened routes, preconditions.

An episode is cut at its subgoal events (key picked up, door opened, goal reached).
Each piece becomes one skill whose actions lead from the piece's first state to its
event. Wandering is cut out by taking the shortest route through the moves the
piece actually observed; erasing loops from the path is the special case where the
route only revisits cells in order. Preconditions pin down where that action
sequence is valid: the start cell, the flags, and the position of the object the
skill heads for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.embedding import StateEmbedder, target_of
from agent.gridworld import MOVES, Position
from skillstore import Skill


@dataclass(frozen=True)
class SkillKind:
    """What a skill of one kind achieves and which object it depends on."""

    name: str
    subgoal: str  # the state flag that becomes true when the skill succeeds
    depends_on: str  # situation key of the object the route leads to


KINDS: dict[str, SkillKind] = {
    "key": SkillKind("acquire_key", "has_key", "key_pos"),
    "door": SkillKind("open_door_sequence", "door_open", "door_pos"),
    "goal": SkillKind("reach_goal", "at_goal", "goal_pos"),
}


@dataclass(frozen=True)
class Step:
    """One environment step as the agent saw it."""

    state: dict[str, Any]
    action: str
    reward: float
    next_state: dict[str, Any]
    event: str | None  # "key", "door", "goal" or None
    skill_id: str | None = None  # the skill that chose this action, None for exploration


@dataclass(frozen=True)
class Segment:
    """The steps from one subgoal event (or the start) up to and including the next."""

    event: str
    steps: tuple[Step, ...]

    @property
    def explored(self) -> bool:
        """True when some step came from exploration, so the segment may teach something new."""
        return any(step.skill_id is None for step in self.steps)


def situation(state: Mapping[str, Any], goal: Position) -> dict[str, Any]:
    """The state plus flat object positions, so preconditions can name a single object."""
    objects = state["objects"]
    return {
        **state,
        "key_pos": tuple(objects["key"]),
        "door_pos": tuple(objects["door"]),
        "goal_pos": tuple(goal),
    }


def split_at_events(steps: Sequence[Step]) -> list[Segment]:
    """Cut ``steps`` after every event; steps after the last event are dropped."""
    segments: list[Segment] = []
    current: list[Step] = []
    for step in steps:
        current.append(step)
        if step.event is not None:
            segments.append(Segment(step.event, tuple(current)))
            current = []
    return segments


def shortest_route(segment: Segment) -> list[str]:
    """The fewest actions that reach the segment's event through moves it observed.

    Breadth-first search over the cells visited in the segment, using only the
    transitions seen there (GridWorld is deterministic, so a move seen once works
    again), then the event's own action.
    """
    final = segment.steps[-1]
    start: Position = tuple(segment.steps[0].state["agent_pos"])
    target: Position = tuple(final.state["agent_pos"])
    edges: dict[Position, list[tuple[str, Position]]] = {}
    for step in segment.steps[:-1]:
        here, there = tuple(step.state["agent_pos"]), tuple(step.next_state["agent_pos"])
        if step.action in MOVES and here != there:
            edges.setdefault(here, []).append((step.action, there))
    came_from: dict[Position, tuple[Position, str] | None] = {start: None}
    queue = deque([start])
    while queue and target not in came_from:
        here = queue.popleft()
        for action, there in edges.get(here, []):
            if there not in came_from:
                came_from[there] = (here, action)
                queue.append(there)
    # The segment itself walked from start to target, so the search always gets there.
    route: list[str] = []
    cell = target
    while (previous := came_from[cell]) is not None:
        cell, action = previous
        route.append(action)
    route.reverse()
    route.append(final.action)
    return route


def preconditions(kind: SkillKind, start: Mapping[str, Any]) -> dict[str, Any]:
    """Where a skill of ``kind`` starting in situation ``start`` is valid."""
    return {
        "agent_pos": tuple(start["agent_pos"]),
        "has_key": bool(start["has_key"]),
        "door_open": bool(start["door_open"]),
        kind.depends_on: tuple(start[kind.depends_on]),
    }


def build_skill(
    segment: Segment, actions: Sequence[str], embedder: StateEmbedder, size: int
) -> Skill:
    """A new skill for ``segment`` that runs ``actions`` (usually its shortest route)."""
    kind = KINDS[segment.event]
    goal = (size - 1, size - 1)
    start = situation(segment.steps[0].state, goal)
    target = target_of(start, goal)
    start_pos = tuple(start["agent_pos"])
    what = {"key": "the key", "door": "the door", "goal": "the goal"}[segment.event]
    return Skill(
        name=kind.name,
        actions=list(actions),
        embedding=embedder.embed(start, actions),
        preconditions=preconditions(kind, start),
        description=f"from {start_pos} to {what} at {target}",
        metadata={"subgoal": kind.subgoal, "grid_size": size, "target": list(target)},
    )


def subgoal_reached(
    subgoal: str | None, before: Mapping[str, Any], after: Mapping[str, Any], terminated: bool
) -> bool:
    """Did a skill with this subgoal achieve it between ``before`` and ``after``?

    A skill that names no subgoal counts as successful when it made any progress.
    """
    if subgoal == "at_goal":
        return terminated
    if subgoal in ("has_key", "door_open"):
        return bool(after[subgoal]) and not bool(before[subgoal])
    return terminated or any(
        bool(after[flag]) and not bool(before[flag]) for flag in ("has_key", "door_open")
    )
