"""How the agent acts when no skill applies.

- ``random``: a primitive action drawn uniformly.
- ``novelty``: within the episode, an action not yet tried in this state first, else
  the one whose outcome was visited least (count-based episodic novelty; it knows
  nothing about keys or doors, only which states this episode has seen).
- ``greedy`` (GridWorld only): the reference heuristic, which walks straight to the
  key, the door and the goal; on the fixed layout that is already an optimal 10-step
  solution, which is why memory is measured with the other two.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

from agent.gridworld import ACTIONS, Position
from agent.worlds import Snapshot, World

EXPLORE_MODES = ("random", "novelty", "greedy")


def _step_towards(position: Position, target: Position) -> str:
    if position[0] < target[0]:
        return "move_right"
    if position[0] > target[0]:
        return "move_left"
    if position[1] < target[1]:
        return "move_up"
    return "move_down"


def greedy_action(state: Mapping[str, Any], goal: Position, rng: np.random.Generator) -> str:
    """The reference heuristic, decision for decision (its last resort draws from ``rng``)."""
    position = tuple(state["agent_pos"])
    objects = state["objects"]
    if not state["has_key"]:
        key = tuple(objects["key"])
        return "pickup_key" if position == key else _step_towards(position, key)
    if not state["door_open"]:
        door = tuple(objects["door"])
        return "open_door" if position == door else _step_towards(position, door)
    if position[0] < goal[0]:
        return "move_right"
    if position[1] < goal[1]:
        return "move_up"
    return ACTIONS[int(rng.integers(len(ACTIONS)))]


class Explorer:
    """Chooses exploratory actions for one world; ``observe`` feeds it every step taken."""

    def __init__(self, mode: str, world: World, rng: np.random.Generator) -> None:
        if mode not in EXPLORE_MODES:
            raise ValueError(f"explore must be one of {EXPLORE_MODES}, got {mode!r}")
        self.mode = mode
        self.world = world
        self.rng = rng
        self.visits: dict[Hashable, int] = {}
        self.outcomes: dict[tuple[Hashable, str], Hashable] = {}

    def new_episode(self) -> None:
        self.visits.clear()
        self.outcomes.clear()

    def observe(self, before: Snapshot, action: str, after: Snapshot) -> None:
        if self.mode == "novelty":
            state = after.state_key()
            self.visits[state] = self.visits.get(state, 0) + 1
            self.outcomes[(before.state_key(), action)] = state

    def choose(self, here: Snapshot) -> str:
        actions = self.world.actions
        if self.mode == "greedy":
            size = self.world.size
            return greedy_action(self.world.state_dict(), (size - 1, size - 1), self.rng)
        if self.mode == "random":
            return actions[int(self.rng.integers(len(actions)))]
        state = here.state_key()
        untried = [a for a in actions if (state, a) not in self.outcomes]
        if untried:
            return untried[int(self.rng.integers(len(untried)))]
        counts = np.array([self.visits.get(self.outcomes[(state, a)], 0) for a in actions])
        least = np.flatnonzero(counts == counts.min())
        return actions[int(least[int(self.rng.integers(len(least)))])]
