"""How search results are scored and ordered; shared by every backend so they agree.

Rank modes:

- ``"similarity"``: score = cosine similarity between the query and the skill.
- ``"success"``: score = success rate (successes / attempts, 0 when never attempted);
  ties go to the higher cosine when a query embedding is given.
- ``"blend"``: score = (1 - w) * cosine + w * (successes + 1) / (attempts + 2), with
  w = ``BLEND_WEIGHT`` = 0.3. The second term is the Laplace-smoothed success rate:
  an untried skill counts as 0.5, so one lucky success does not outrank a skill
  with a long record.

With no query embedding every mode ranks by success rate, the reference's fallback.
Remaining ties break on the skill id, so equal scores never compare skills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from skillstore.errors import InvalidInputError

RANK_MODES = ("similarity", "success", "blend")
BLEND_WEIGHT = 0.3


def check_min_score(min_score: object) -> float | None:
    """``min_score`` as a float: None, or any real number but NaN."""
    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, int | float | np.integer | np.floating):
        raise InvalidInputError(f"min_score must be a number or None, got {min_score!r}")
    if np.isnan(min_score):
        raise InvalidInputError("min_score must not be NaN")
    return float(min_score)


def check_rank(rank: object) -> str:
    if rank not in RANK_MODES:
        raise InvalidInputError(f"rank must be one of {RANK_MODES}, got {rank!r}")
    return str(rank)


def success_rates(successes: np.ndarray, attempts: np.ndarray) -> np.ndarray:
    attempts = np.asarray(attempts, dtype=np.float64)
    safe = np.where(attempts > 0, attempts, 1.0)
    return np.where(attempts > 0, np.asarray(successes, dtype=np.float64) / safe, 0.0)


def scores(
    rank: str,
    cosines: np.ndarray | None,
    successes: np.ndarray,
    attempts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(primary score, secondary tie-breaker) for each candidate; higher is better."""
    zeros = np.zeros(len(successes), dtype=np.float64)
    if cosines is None or rank == "success":
        secondary = zeros if cosines is None else np.asarray(cosines, dtype=np.float64)
        return success_rates(successes, attempts), secondary
    cos = np.asarray(cosines, dtype=np.float64)
    if rank == "similarity":
        return cos, zeros
    smoothed = (np.asarray(successes, dtype=np.float64) + 1.0) / (
        np.asarray(attempts, dtype=np.float64) + 2.0
    )
    return (1.0 - BLEND_WEIGHT) * cos + BLEND_WEIGHT * smoothed, zeros


def order(
    primary: np.ndarray,
    secondary: np.ndarray,
    id_of: Callable[[int], str],
    k: int,
    min_score: float | None = None,
) -> list[int]:
    """Positions of the best ``k`` candidates, best first, ties broken by id."""
    positions = np.arange(len(primary))
    if min_score is not None:
        positions = positions[primary >= min_score]
    if not len(positions):
        return []
    p, s = primary[positions], secondary[positions]
    if len(p) < 2 or bool(np.all(p[:-1] > p[1:])):
        return [int(i) for i in positions[:k]]  # already best first with no ties (FAISS hits usually are)
    by_score = positions[np.lexsort((-s, -p))]
    if len(by_score) > k:
        # keep every candidate tied with the k-th so the id decides among them
        last = by_score[k - 1]
        tied = (primary[by_score] == primary[last]) & (secondary[by_score] == secondary[last])
        cut = k + int(np.count_nonzero(tied[k:]))
        by_score = by_score[:cut]
    ranked = sorted(by_score.tolist(), key=lambda i: (-primary[i], -secondary[i], id_of(i)))
    return ranked[:k]


def ids_lookup(ids: Sequence[str]) -> Callable[[int], str]:
    return ids.__getitem__
