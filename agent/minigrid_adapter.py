"""Farama MiniGrid's DoorKey for the agent: a Gymnasium adapter and the agent's view of it.

``MiniGridDoorKey("MiniGrid-DoorKey-8x8-v0")`` wraps MiniGrid's own environment
(``pip install 'skillstore[minigrid]'``) and changes nothing about its task, layouts,
rewards or step cap: the same seed gives the same layout as MiniGrid's. It differs in
what it shows: the observation is the *fully observable* symbolic grid (MiniGrid's
``FullyObsWrapper`` encoding: object, colour, state per cell, the agent marked with its
heading) instead of the 7x7 partial view, and ``world_view()`` gives the agent the
objects' positions read from that grid. The agent therefore does not face MiniGrid's
partial observability; the README says so next to every figure.
"""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agent.situation import Situation
from agent.worlds import HEADINGS, Snapshot, egocentric

DOORKEY_IDS = tuple(f"MiniGrid-DoorKey-{n}x{n}-v0" for n in (5, 6, 8, 16))
ACTIONS: tuple[str, ...] = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
AGENT_INDEX, RED_INDEX = 10, 0  # MiniGrid's OBJECT_TO_IDX["agent"], COLOR_TO_IDX["red"]


def is_minigrid_id(name: str) -> bool:
    return name.startswith("MiniGrid-")


def _load_minigrid() -> None:
    try:
        import minigrid  # noqa: F401  (importing registers the MiniGrid-* ids)
    except ImportError as exc:  # the optional extra is missing
        raise ValueError("MiniGrid environments need the minigrid extra: "
                         "pip install 'skillstore[minigrid]'") from exc


def _no_partial_view() -> dict[str, Any]:
    return {}


class MiniGridDoorKey(gym.Env[np.ndarray, np.int64]):
    """A MiniGrid DoorKey environment with a fully observable symbolic observation.

    Observation: uint8 array (width, height, 3), MiniGrid's full-grid encoding.
    Actions: MiniGrid's seven (``ACTIONS``). Reward, termination and truncation are
    MiniGrid's. ``max_steps`` defaults to MiniGrid's 10 * size².
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, env_id: str = "MiniGrid-DoorKey-8x8-v0", *, max_steps: int | None = None,
                 render_mode: str | None = None) -> None:
        if not isinstance(env_id, str) or not env_id.startswith("MiniGrid-DoorKey-"):
            raise ValueError(f"the adapter plays MiniGrid-DoorKey-*-v0 environments, got {env_id!r}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                      or max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        _load_minigrid()
        if env_id not in gym.envs.registry:
            raise ValueError(f"unknown MiniGrid environment {env_id!r}; try one of {', '.join(DOORKEY_IDS)}")
        kwargs: dict[str, Any] = {} if max_steps is None else {"max_steps": max_steps}
        from minigrid.envs.doorkey import DoorKeyEnv

        inner = gym.make(env_id, disable_env_checker=True, **kwargs).unwrapped
        if not isinstance(inner, DoorKeyEnv):
            raise ValueError(f"{env_id} is not a DoorKey environment")
        self.env_id = env_id
        # MiniGrid computes its partial 7x7 view after every step; the adapter shows the full grid
        # instead, so that view is never built (it is pure: skipping it changes nothing else).
        inner.gen_obs = _no_partial_view  # type: ignore[method-assign]
        self.inner = inner
        self.size = int(inner.width)
        self.max_steps = int(inner.max_steps)
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = spaces.Box(0, 255, shape=(inner.width, inner.height, 3), dtype=np.uint8)
        self._reset_done = False
        self._door: tuple[int, int] = (0, 0)
        self._goal: tuple[int, int] = (0, 0)
        self._layout = ""

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        # MiniGrid draws layouts from its own generator: seeding it with the same seed
        # gives MiniGrid's own layout for that seed; an unseeded reset continues it.
        self.inner.reset(seed=seed)
        self._reset_done = True
        grid = self.inner.grid
        for index, cell in enumerate(grid.grid):
            if cell is not None and cell.type in ("door", "goal"):
                where = (index % grid.width, index // grid.width)
                if cell.type == "door":
                    self._door = where
                else:
                    self._goal = where
        observation = self._observation()
        self._layout = hashlib.blake2b(observation.tobytes(), digest_size=8).hexdigest()
        return observation, {"layout": self._layout}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._reset_done:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {len(ACTIONS)}), got {action!r}")
        _, reward, terminated, truncated, _ = self.inner.step(int(action))
        return self._observation(), float(reward), bool(terminated), bool(truncated), {}

    def render(self) -> str | None:
        if self.render_mode != "ansi" or not self._reset_done:
            return None
        return str(self.inner.pprint_grid()) + "\n"  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.inner.close()  # type: ignore[no-untyped-call]

    def _observation(self) -> np.ndarray:
        inner = self.inner
        grid = np.asarray(inner.grid.encode(), dtype=np.uint8)
        x, y = inner.agent_pos
        grid[x, y] = (AGENT_INDEX, RED_INDEX, inner.agent_dir)
        return grid

    # -- what the agent reads -----------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Positions read from the full grid: agent, heading, flags, objects, the cell in front."""
        if not self._reset_done:
            raise RuntimeError("call reset() before get_state()")
        inner = self.inner
        door = inner.grid.get(*self._door)
        key = self._key_position()
        front = inner.grid.get(*inner.front_pos)
        return {
            "agent_pos": (int(inner.agent_pos[0]), int(inner.agent_pos[1])),
            "agent_dir": int(inner.agent_dir),
            "has_key": inner.carrying is not None and inner.carrying.type == "key",
            "door_open": bool(door is not None and door.type == "door" and getattr(door, "is_open", False)),
            "objects": {"key": key, "door": self._door, "goal": self._goal},
            "front": "empty" if front is None else str(front.type),
        }

    def _key_position(self) -> tuple[int, int] | None:
        grid = self.inner.grid
        for index, cell in enumerate(grid.grid):
            if cell is not None and cell.type == "key":
                return (index % grid.width, index // grid.width)
        return None

    def layout_id(self) -> str:
        """A fingerprint of the layout the last reset drew (the start included)."""
        return self._layout

    def world_view(self) -> DoorKeyView:
        return DoorKeyView(self)


class DoorKeyView:
    """The agent's view of DoorKey: offsets in the agent's frame, the cell in front."""

    family = "doorkey"
    actions = ACTIONS

    def __init__(self, env: MiniGridDoorKey) -> None:
        self.env = env
        self.size = env.size

    def observe(self) -> Snapshot:
        state = self.env.get_state()
        x, y = state["agent_pos"]
        heading = state["agent_dir"]
        objects = state["objects"]
        passage = None
        if state["door_open"]:
            target = objects["goal"]
            passage = egocentric(objects["door"][0] - x, objects["door"][1] - y, heading)
        elif state["has_key"] or objects["key"] is None:
            target = objects["door"]
        else:
            target = objects["key"]
        front = state["front"] if state["front"] in ("empty", "wall", "key", "door", "goal") else "other"
        situation = Situation(state["has_key"], state["door_open"], front,
                              egocentric(target[0] - x, target[1] - y, heading), passage)
        return Snapshot((x, y, heading), state["has_key"], state["door_open"], situation)

    def layout_id(self) -> str:
        return self.env.layout_id()

    def state_dict(self) -> dict[str, Any]:
        return self.env.get_state()


def adapter_id(env_id: str) -> str:
    """The id under which the adapter of ``env_id`` is registered with Gymnasium."""
    return f"skillstore/{env_id}"


def register_doorkey() -> None:
    """Register the adapter of every DoorKey size as ``skillstore/MiniGrid-DoorKey-NxN-v0``
    (minigrid itself is only imported when one is made); calling it again does nothing."""
    for env_id in DOORKEY_IDS:
        if adapter_id(env_id) not in gym.envs.registry:
            gym.register(id=adapter_id(env_id), entry_point="agent.minigrid_adapter:MiniGridDoorKey",
                         kwargs={"env_id": env_id})


__all__ = ["ACTIONS", "DOORKEY_IDS", "HEADINGS", "DoorKeyView", "MiniGridDoorKey", "adapter_id",
           "is_minigrid_id", "register_doorkey"]
