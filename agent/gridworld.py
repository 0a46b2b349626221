"""GridWorld: the key, door and goal task of the reference design, as a Gymnasium environment.

The agent starts in the corner (0, 0). It must walk to the key and pick it up, walk
to the door and open it, then reach the goal in the opposite corner. ``move_up``
adds 1 to y; moves are clamped to the grid. Rewards: -0.1 a step, +1 for picking
up the key on its cell, +2 for opening the door on its cell while holding the key,
+10 (and the episode terminates) on reaching the goal with the door open. The door
does not block movement and the box is scenery, exactly as in the reference.

Layouts:

- ``"fixed"``: the reference layout (key (2, 2), door (3, 3), box (1, 3)).
- ``"random"``: key, door and box on distinct free cells drawn from ``self.np_random``
  at every reset.
- ``"pool"``: ``pool_size`` random layouts drawn once from ``pool_seed``; every reset
  picks one of them with ``self.np_random``. The pool depends only on ``pool_seed``,
  so a new process rebuilds the same pool.

Start and goal stay in their corners in every layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "skillstore/GridWorld-v0"

ACTIONS: tuple[str, ...] = (
    "move_up",
    "move_down",
    "move_left",
    "move_right",
    "pickup_key",
    "open_door",
)
MOVES: dict[str, tuple[int, int]] = {
    "move_up": (0, 1),
    "move_down": (0, -1),
    "move_left": (-1, 0),
    "move_right": (1, 0),
}
LAYOUTS = ("fixed", "random", "pool")

STEP_REWARD = -0.1
KEY_REWARD = 1.0
DOOR_REWARD = 2.0
GOAL_REWARD = 10.0

Position = tuple[int, int]


@dataclass(frozen=True)
class Layout:
    """Where the objects are; start and goal are implied by the grid size."""

    key: Position
    door: Position
    box: Position

    def objects(self) -> dict[str, Position]:
        return {"key": self.key, "door": self.door, "box": self.box}

    def optimal_steps(self, size: int) -> int:
        """Length of the shortest solution: walk to the key, pick up, walk to the door,
        open, walk to the goal (the door never blocks, so walks are Manhattan distances)."""
        goal = (size - 1, size - 1)
        legs = [((0, 0), self.key), (self.key, self.door), (self.door, goal)]
        return sum(abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in legs) + 2


FIXED_LAYOUT = Layout(key=(2, 2), door=(3, 3), box=(1, 3))


def default_max_steps(size: int) -> int:
    """Step cap when none is given: 20 per cell, 500 on the 5x5 grid.

    Uniform random exploration needs about 500 steps on average to finish the 5x5
    task, so a tighter cap would leave the no-memory baseline almost never
    succeeding and a learning agent almost nothing to learn from.
    """
    return 20 * size * size


def random_layout(size: int, rng: np.random.Generator) -> Layout:
    """Key, door and box on three distinct cells, never on the start or the goal."""
    start, goal = (0, 0), (size - 1, size - 1)
    cells = [(x, y) for x in range(size) for y in range(size) if (x, y) not in (start, goal)]
    key, door, box = (cells[int(i)] for i in rng.choice(len(cells), size=3, replace=False))
    return Layout(key=key, door=door, box=box)


def move(position: Position, action: str, size: int) -> Position:
    """Where ``action`` takes an agent standing on ``position`` (non-moves stay put)."""
    dx, dy = MOVES.get(action, (0, 0))
    x = min(max(position[0] + dx, 0), size - 1)
    y = min(max(position[1] + dy, 0), size - 1)
    return (x, y)


class GridWorld(gym.Env[np.ndarray, np.int64]):
    """The reference GridWorld with the Gymnasium API.

    Observation: an int64 vector ``[agent_x, agent_y, has_key, door_open, key_x, key_y,
    door_x, door_y, box_x, box_y]``. ``get_state()`` gives the reference's dict view.
    ``info["event"]`` names what a step achieved: ``"key"``, ``"door"``, ``"goal"`` or None.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        size: int = 5,
        *,
        layout: str = "fixed",
        max_steps: int | None = None,
        render_mode: str | None = None,
        pool_size: int = 5,
        pool_seed: int = 0,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 3:
            raise ValueError(f"size must be an integer of at least 3, got {size!r}")
        if layout == "fixed" and size < 5:
            raise ValueError("the fixed reference layout needs a grid of at least 5x5")
        if max_steps is not None and (isinstance(max_steps, bool) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size!r}")

        self.size = size
        self.layout = layout
        self.max_steps = default_max_steps(size) if max_steps is None else int(max_steps)
        self.render_mode = render_mode
        self.pool_size = pool_size
        self.pool_seed = pool_seed
        self.goal_pos: Position = (size - 1, size - 1)
        # The pool comes from its own generator, never from np_random, so that episode
        # seeds pick among the same K layouts in every process.
        pool_rng = np.random.default_rng(pool_seed)
        self.pool: tuple[Layout, ...] = (
            tuple(random_layout(size, pool_rng) for _ in range(pool_size)) if layout == "pool" else ()
        )

        self.action_space = spaces.Discrete(len(ACTIONS))
        top = size - 1
        high = np.array([top, top, 1, 1, top, top, top, top, top, top], dtype=np.int64)
        self.observation_space = spaces.Box(low=0, high=high, shape=(10,), dtype=np.int64)

        self.current_layout = FIXED_LAYOUT if layout == "fixed" else None
        self.agent_pos: Position = (0, 0)
        self.has_key = False
        self.door_open = False
        self.steps = 0

    # -- Gymnasium API ----------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self.layout == "random":
            self.current_layout = random_layout(self.size, self.np_random)
        elif self.layout == "pool":
            self.current_layout = self.pool[int(self.np_random.integers(len(self.pool)))]
        else:
            self.current_layout = FIXED_LAYOUT
        self.agent_pos = (0, 0)
        self.has_key = False
        self.door_open = False
        self.steps = 0
        return self._observation(), {"event": None, "layout": self.current_layout.objects()}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.current_layout is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {len(ACTIONS)}), got {action!r}")
        name = ACTIONS[int(action)]
        layout = self.current_layout
        reward = STEP_REWARD
        event = None
        if name in MOVES:
            self.agent_pos = move(self.agent_pos, name, self.size)
        elif name == "pickup_key":
            if self.agent_pos == layout.key and not self.has_key:
                self.has_key = True
                reward, event = KEY_REWARD, "key"
        elif self.agent_pos == layout.door and self.has_key and not self.door_open:
            self.door_open = True
            reward, event = DOOR_REWARD, "door"
        terminated = self.agent_pos == self.goal_pos and self.door_open
        if terminated:
            reward, event = GOAL_REWARD, "goal"
        self.steps += 1
        truncated = not terminated and self.steps >= self.max_steps
        return self._observation(), reward, terminated, truncated, {"event": event}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return self.to_text()

    # -- views ------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The reference's dict view of the current state (positions as tuples)."""
        layout = self.current_layout or FIXED_LAYOUT
        return {
            "agent_pos": self.agent_pos,
            "has_key": self.has_key,
            "door_open": self.door_open,
            "at_goal": self.agent_pos == self.goal_pos,
            "objects": layout.objects(),
        }

    def to_text(self) -> str:
        """The grid as text, top row first (y grows upwards): A agent, K key, D/d door
        closed/open, B box, G goal."""
        layout = self.current_layout or FIXED_LAYOUT
        cells = {self.goal_pos: "G", layout.box: "B", layout.door: "d" if self.door_open else "D"}
        if not self.has_key:
            cells[layout.key] = "K"
        cells[self.agent_pos] = "A"
        rows = [
            " ".join(cells.get((x, y), ".") for x in range(self.size))
            for y in reversed(range(self.size))
        ]
        return "\n".join(rows) + "\n"

    def _observation(self) -> np.ndarray:
        layout = self.current_layout or FIXED_LAYOUT
        return np.array(
            [*self.agent_pos, int(self.has_key), int(self.door_open),
             *layout.key, *layout.door, *layout.box],
            dtype=np.int64,
        )


def register_env() -> None:
    """Register GridWorld with Gymnasium under ``ENV_ID``; calling it again does nothing."""
    if ENV_ID not in gym.envs.registry:
        gym.register(id=ENV_ID, entry_point="agent.gridworld:GridWorld")
