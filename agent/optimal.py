"""The fewest steps that solve the current layout, for reports only.

The agent never calls this module: it is how experiments measure the agent's steps
against the best possible. DoorKey's optimum comes from a breadth-first search over
(position, heading, key held, door open) with MiniGrid's rules; GridWorld's is the sum
of its three Manhattan legs plus the two actions.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym

from agent.gridworld import GridWorld
from agent.worlds import HEADINGS


def optimal_steps(env: gym.Env[Any, Any]) -> int:
    """The optimum of the layout ``env`` was last reset to; -1 when it cannot be solved."""
    bare = env.unwrapped
    if isinstance(bare, GridWorld):
        if bare.current_layout is None:
            raise RuntimeError("call reset() first")
        return bare.current_layout.optimal_steps(bare.size)
    get_state = getattr(bare, "get_state", None)
    inner = getattr(bare, "inner", None)
    if get_state is None or inner is None:
        raise TypeError(f"no optimum for {type(bare).__name__}")
    return _doorkey_optimum(inner)


def _doorkey_optimum(inner: Any) -> int:
    grid = inner.grid
    blocked: set[tuple[int, int]] = set()
    door = goal = key = None
    for index, cell in enumerate(grid.grid):
        where = (index % grid.width, index // grid.width)
        if cell is None:
            continue
        if cell.type == "wall":
            blocked.add(where)
        elif cell.type == "door":
            door = where
        elif cell.type == "goal":
            goal = where
        elif cell.type == "key":
            key = where
    has_key = inner.carrying is not None and inner.carrying.type == "key"
    door_open = door is not None and grid.get(*door).is_open
    start = (*inner.agent_pos, inner.agent_dir, has_key, door_open)
    depth = {start: 0}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        x, y, heading, holding, opened = state
        fx, fy = x + HEADINGS[heading][0], y + HEADINGS[heading][1]
        front = (fx, fy)
        nexts = [(x, y, (heading - 1) % 4, holding, opened), (x, y, (heading + 1) % 4, holding, opened)]
        if front == goal:
            return depth[state] + 1
        key_there = front == key and not holding
        if front not in blocked and not key_there and (front != door or opened):
            nexts.append((fx, fy, heading, holding, opened))
        if key_there:
            nexts.append((x, y, heading, True, opened))
        if front == door and holding and not opened:
            nexts.append((x, y, heading, holding, True))
        for following in nexts:
            if following not in depth:
                depth[following] = depth[state] + 1
                queue.append(following)
    return -1
