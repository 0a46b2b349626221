"""Synthetic skill libraries: clustered unit embeddings and precondition zones.

Real embeddings are not uniform on the sphere: they cluster by topic. The data
is a Gaussian mixture around random unit centres, and queries are fresh draws
from the same mixture. Every skill has one precondition, ``{"zone": z}``; zone 0
holds 10 % of the skills, zone 1 holds 1 % and zone 2 holds 0.1 %, so one
library serves every filter selectivity: the state ``{"zone": 1}`` selects 1 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# selectivity label -> zone to query (None: no state, every skill applies)
SELECTIVITY_ZONES: dict[str, int | None] = {"100%": None, "10%": 0, "1%": 1, "0.1%": 2}
ZONE_SHARES = (0.10, 0.01, 0.001)
OTHER_ZONES = 100
CLUSTER_SPREAD = 0.6  # norm of the noise around a centre, before normalising


@dataclass
class Dataset:
    vectors: np.ndarray  # (n, dim) float32, unit rows
    zones: np.ndarray  # (n,) int64
    queries: np.ndarray  # (q, dim) float32, unit rows

    @property
    def n(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def rows_in(self, zone: int | None) -> np.ndarray:
        return np.arange(self.n) if zone is None else np.flatnonzero(self.zones == zone)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _mixture(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    dim = centres.shape[1]
    picks = rng.integers(0, len(centres), size=count)
    noise = rng.standard_normal((count, dim)) * (CLUSTER_SPREAD / np.sqrt(dim))
    return _unit(centres[picks] + noise)


def make_dataset(n: int, dim: int, queries: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((max(16, n // 1000), dim)))
    vectors = _mixture(rng, centres, n)
    zones = np.full(n, -1, dtype=np.int64)
    order = rng.permutation(n)
    start = 0
    for zone, share in enumerate(ZONE_SHARES):
        count = max(1, round(n * share))
        zones[order[start : start + count]] = zone
        start += count
    zones[order[start:]] = len(ZONE_SHARES) + rng.integers(0, OTHER_ZONES, size=n - start)
    return Dataset(vectors, zones, _mixture(rng, centres, queries))


def exact_top_k(data: Dataset, zone: int | None, k: int) -> list[np.ndarray]:
    """Ground truth: exact cosine top-k among the skills of ``zone``, per query."""
    rows = data.rows_in(zone)
    sims = data.queries @ data.vectors[rows].T
    take = min(k, len(rows))
    top = np.argsort(-sims, axis=1, kind="stable")[:, :take]
    return [rows[t] for t in top]


def recall_at_k(found: list[int], truth: np.ndarray) -> float:
    """Share of the true top-k that was found (1.0 when there is nothing to find)."""
    if not len(truth):
        return 1.0
    return len(set(found) & set(truth.tolist())) / len(truth)
