"""A deterministic embedder for GridWorld situations and skills.

The reference hashed positions and action names with Python's ``hash()``, which is
salted per process: a vector stored by one process meant nothing to the next. Here
every component is plain arithmetic on the state, so the same state and actions
give the same float32 vector, bit for bit, in any process.

The first eight components (``dim=8``, the reference's size) are:

====  =====================================================================
0-1   agent x as an angle on a quarter circle: cos, sin
2-3   agent y, likewise (neighbouring cells get nearby angles, so nearby
      positions have a high cosine)
4     has_key (0/1)
5     door_open (0/1)
6-7   displacement, divided by (size - 1): for a situation, from the agent to
      its current target (key, then door, then goal); for a skill, where its
      moves take the agent
====  =====================================================================

A skill that leads from a state to that state's target therefore embeds exactly
like the state itself (cosine 1), and skills heading elsewhere score lower.
Components past the eighth (``dim > 8``) hold a signed hashed count of the
skill's action bigrams (stable ``blake2b``, not ``hash()``); they are zero for a
situation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agent.gridworld import Position, move

BASE_DIM = 8
DEFAULT_DIM = BASE_DIM
BIGRAM_WEIGHT = 0.5  # keeps the action fingerprint from swamping the state features


def target_of(state: Mapping[str, Any], goal: Position) -> Position:
    """The cell the agent must reach next: the key, then the door, then the goal."""
    objects = state["objects"]
    if not state["has_key"]:
        return tuple(objects["key"])
    if not state["door_open"]:
        return tuple(objects["door"])
    return goal


def end_position(start: Position, actions: Sequence[str], size: int) -> Position:
    """Where ``actions`` lead from ``start`` on an empty grid of ``size``."""
    position = start
    for action in actions:
        position = move(position, action, size)
    return position


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


class StateEmbedder:
    """Maps a GridWorld state (and optionally a skill's actions) to a float32 vector.

    ``size`` is the grid size, needed to scale positions and find the goal corner.
    """

    def __init__(self, dim: int = DEFAULT_DIM, *, size: int = 5) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < BASE_DIM:
            raise ValueError(f"dim must be an integer of at least {BASE_DIM}, got {dim!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 2:
            raise ValueError(f"size must be an integer of at least 2, got {size!r}")
        self.dim = dim
        self.size = size
        self.goal: Position = (size - 1, size - 1)

    def __repr__(self) -> str:
        return f"StateEmbedder(dim={self.dim}, size={self.size})"

    def embed(self, state: Mapping[str, Any], actions: Sequence[str] | None = None) -> np.ndarray:
        """The vector of ``state``; with ``actions``, the vector of a skill starting there."""
        span = self.size - 1
        x, y = (int(v) for v in state["agent_pos"])
        if actions is None:
            tx, ty = target_of(state, self.goal)
        else:
            tx, ty = end_position((x, y), actions, self.size)
        angle_x = 0.5 * math.pi * x / span
        angle_y = 0.5 * math.pi * y / span
        vector = np.zeros(self.dim, dtype=np.float64)
        vector[:BASE_DIM] = (
            math.cos(angle_x),
            math.sin(angle_x),
            math.cos(angle_y),
            math.sin(angle_y),
            1.0 if state["has_key"] else 0.0,
            1.0 if state["door_open"] else 0.0,
            (tx - x) / span,
            (ty - y) / span,
        )
        extra = self.dim - BASE_DIM
        if actions and extra:
            tokens = ["<start>", *actions]
            weight = BIGRAM_WEIGHT / len(actions)
            for first, second in zip(tokens, tokens[1:], strict=False):
                index, sign = _bucket(f"{first}>{second}", extra)
                vector[BASE_DIM + index] += sign * weight
        # the position pairs have unit norm, so the vector is never zero
        vector /= np.linalg.norm(vector)
        return vector.astype(np.float32)
