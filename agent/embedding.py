"""A deterministic embedding of situations under which cosine means "nearby situation".

Cosine over raw offsets cannot tell (1, 0) from (3, 0): both point the same way. Here
each offset (a, b) becomes a small image: a Gaussian bump centred on (a, b) over the
grid of integer offsets in [-reach, reach]², flattened and scaled to unit length. The
cosine of two such images falls smoothly with the distance d between the offsets,
about exp(-d² / (4 sigma²)): 1 for the same offset, 0.68 one cell away, 0.21 two cells
away and nearly 0 beyond; with the small constant share of the phase, two situations of
one phase score 1, 0.68, 0.24 and 0.07 at 0, 1, 2 and 3 cells, and never below 0.04. A
skill recorded in a situation therefore scores highest in that very situation and still
scores well one cell off, which is what lets it transfer.

Layout of the vector (``dim = 4 + 2 * (2 * reach + 1)²``; 454 at the default reach 7):

======================  ======================================================
0-3                     the phase, one-hot (no key; key; door open without /
                        with the key), scaled by ``PHASE_WEIGHT``
next (2 reach + 1)²     the target's offset as a bump
last (2 reach + 1)²     the open door's offset as a bump, zero when absent
======================  ======================================================

Offsets beyond ``reach`` are clipped for the embedding only (the situation's key keeps
them exact). Every component is plain arithmetic, so the same situation gives the same
float32 vector, bit for bit, in any process.
"""

from __future__ import annotations

import numpy as np

from agent.situation import Offset, Situation

DEFAULT_REACH = 7  # offsets up to 7 cells: every DoorKey size up to 8x8 shares one store
SIGMA = 0.8  # width of a bump, in cells
PHASE_WEIGHT = 0.2  # small: preconditions already separate phases; this only orders them
DEFAULT_DIM = 4 + 2 * (2 * DEFAULT_REACH + 1) ** 2  # 454: the dimension of a new store


def phase_index(has_key: bool, door_open: bool) -> int:
    return (2 if door_open else 0) + (1 if has_key else 0)


class StateEmbedder:
    """Maps a :class:`Situation` to a unit float32 vector; ``reach`` sets the offsets covered."""

    def __init__(self, reach: int = DEFAULT_REACH, *, sigma: float = SIGMA) -> None:
        if isinstance(reach, bool) or not isinstance(reach, int) or reach < 1:
            raise ValueError(f"reach must be a positive integer, got {reach!r}")
        if not isinstance(sigma, int | float) or isinstance(sigma, bool) or not sigma > 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        self.reach = reach
        self.sigma = float(sigma)
        self.side = 2 * reach + 1
        self.dim = 4 + 2 * self.side * self.side
        centres = np.arange(-reach, reach + 1, dtype=np.float64)
        # one row per clipped integer offset: the 1-D bump; a 2-D bump is an outer product
        self._bumps = np.exp(-((centres[:, None] - centres[None, :]) ** 2) / (2 * self.sigma ** 2))

    def __repr__(self) -> str:
        return f"StateEmbedder(reach={self.reach}, sigma={self.sigma})"

    def _bump(self, offset: Offset) -> np.ndarray:
        a, b = (min(max(int(v), -self.reach), self.reach) + self.reach for v in offset)
        image = np.outer(self._bumps[a], self._bumps[b]).ravel()
        return np.asarray(image / np.linalg.norm(image))

    def embed(self, situation: Situation) -> np.ndarray:
        """The unit vector of ``situation``."""
        vector = np.zeros(self.dim, dtype=np.float64)
        vector[phase_index(situation.has_key, situation.door_open)] = PHASE_WEIGHT
        area = self.side * self.side
        vector[4:4 + area] = self._bump(situation.target)
        if situation.passage is not None:
            vector[4 + area:] = self._bump(situation.passage)
        vector /= np.linalg.norm(vector)
        return vector.astype(np.float32)
