"""The agent's view of an environment: snapshots of its situation, and what an action did.

The agent plays any environment for which a ``World`` view exists: GridWorld here,
MiniGrid's DoorKey through :mod:`agent.minigrid_adapter`. A view reads the bare
environment (``env.unwrapped``) and reports, after every step, a :class:`Snapshot`:
the agent's pose (position, and heading where there is one), the phase flags and the
:class:`~agent.situation.Situation` skills are keyed by.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym

from agent.gridworld import ACTIONS, GridWorld
from agent.situation import Situation

Pose = tuple[int, ...]


@dataclass(frozen=True)
class Snapshot:
    """What the agent knows about one moment: where it is, the phase, and its situation."""

    pose: Pose  # (x, y), or (x, y, heading) in a world with headings
    has_key: bool
    door_open: bool
    situation: Situation

    def state_key(self) -> Hashable:
        """The full state within one episode (pose and phase), to notice loops and failures."""
        return (self.pose, self.has_key, self.door_open)


class World(Protocol):
    """What the agent needs from an environment besides the Gymnasium API."""

    family: str  # skills are shared among worlds of one family (any size)
    size: int
    actions: tuple[str, ...]

    def observe(self) -> Snapshot: ...

    def layout_id(self) -> str: ...

    def state_dict(self) -> dict[str, Any]: ...


HEADINGS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid's: 0 east, 1 south, 2 west, 3 north


def egocentric(dx: int, dy: int, heading: int) -> tuple[int, int]:
    """(dx, dy) in the frame of an agent facing ``heading``: (ahead, to the right)."""
    fx, fy = HEADINGS[heading]
    rx, ry = -fy, fx
    return (dx * fx + dy * fy, dx * rx + dy * ry)


def effect(before: Snapshot, after: Snapshot) -> str:
    """What one action did, in the agent's own frame: move, turn and phase change.

    Identical effects in two layouts mean the action did the same thing in both; a
    move into a wall has the effect of standing still.
    """
    dx, dy = after.pose[0] - before.pose[0], after.pose[1] - before.pose[1]
    turn = 0
    if len(before.pose) == 3:
        dx, dy = egocentric(dx, dy, before.pose[2])
        turn = (after.pose[2] - before.pose[2]) % 4
    return (f"{dx},{dy},{turn},{int(after.has_key) - int(before.has_key)},"
            f"{int(after.door_open) - int(before.door_open)}")


class GridWorldView:
    """The agent's view of :class:`GridWorld`: offsets in (x, y), the cell under the agent."""

    family = "gridworld"
    actions = ACTIONS

    def __init__(self, env: GridWorld) -> None:
        self.env = env
        self.size = env.size

    def observe(self) -> Snapshot:
        env = self.env
        layout = env.current_layout
        if layout is None:
            raise RuntimeError("call reset() before observing the world")
        x, y = env.agent_pos
        goal = env.goal_pos
        # the key, then the door, then the goal
        target = goal if env.door_open else (layout.door if env.has_key else layout.key)
        here = (x, y)
        if here == layout.key and not env.has_key:
            cell = "key"
        elif here == layout.door:
            cell = "door"
        elif here == goal:
            cell = "goal"
        else:
            cell = "empty"  # the box is scenery: it neither blocks nor matters
        situation = Situation(env.has_key, env.door_open, cell, (target[0] - x, target[1] - y))
        return Snapshot((x, y), env.has_key, env.door_open, situation)

    def layout_id(self) -> str:
        layout = self.env.current_layout
        return "" if layout is None else repr(sorted(layout.objects().items()))

    def state_dict(self) -> dict[str, Any]:
        return self.env.get_state()


def view_of(env: gym.Env[Any, Any]) -> World:
    """The view of ``env`` (wrappers are looked through); TypeError for unknown worlds."""
    bare = env.unwrapped
    if isinstance(bare, GridWorld):
        return GridWorldView(bare)
    make_view = getattr(bare, "world_view", None)
    if callable(make_view):
        view: World = make_view()
        return view
    raise TypeError(f"the agent plays GridWorld or MiniGrid DoorKey, got {type(bare).__name__}")
