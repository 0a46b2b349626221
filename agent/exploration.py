"""How the agent acts when no skill applies: the reference's greedy heuristic, or random moves.

``greedy`` walks straight to the key (x first, then y), picks it up, walks to the
door, opens it and walks to the goal. On the fixed layout that is already an
optimal 10-step solution, which is why memory cannot shorten it. ``random`` picks
a primitive action uniformly, so an episode is long until memory supplies skills.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from agent.gridworld import ACTIONS, Position

EXPLORE_MODES = ("random", "greedy")


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


def random_action(rng: np.random.Generator) -> str:
    """A primitive action drawn uniformly."""
    return ACTIONS[int(rng.integers(len(ACTIONS)))]
