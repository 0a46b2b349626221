"""How search results are scored and ordered; shared by every backend so they agree.

Rank modes:

- ``"similarity"``: score = cosine similarity between the query and the skill.
- ``"success"``: score = success rate (successes / attempts, 0 when never attempted);
  ties go to the higher cosine when a query embedding is given.
- ``"blend"``: score = (1 - w) * cosine + w * (successes + 1) / (attempts + 2), with
  w = ``BLEND_WEIGHT`` = 0.3. The second term is the Laplace-smoothed success rate:
  an untried skill counts as 0.5, so one lucky success does not outrank a skill
  with a long record.
- ``"wilson"``: score = (1 - w) * cosine + w * L, with w = ``BLEND_WEIGHT`` and L the lower
  bound of the Wilson score interval of the success rate at z = ``WILSON_Z`` = 1.96 (95 %):
  with n attempts, s successes and p = s / n,

      L = (p + z²/(2n) - z * sqrt(p(1 - p)/n + z²/(4n²))) / (1 + z²/n),   L = 0 when n = 0.

  L accounts for how much evidence there is: 3 successes of 3 give L ≈ 0.44, 95 of 100
  give L ≈ 0.89, so the long record wins. With no query embedding the score is L alone.

With no query embedding the other modes rank by success rate, the reference's fallback.

Order and ties: one rule for every backend and for the tests' reference rankings.

A candidate's key is (score, tie-breaker); the tie-breaker is the cosine in ``"success"``
with a query, and nothing (a constant) otherwise. Its exact key is the key computed
exactly from the stored float32 embedding, the query and the counts. A part of the key
is *exact* when it is a success rate or the constant: a ratio of integer counts, which
every backend computes correctly rounded. A Wilson bound involves a square root, so it is
*approximate*, like a cosine; every backend computes it with this module's NumPy code, so
two skills with equal counts always get equal bounds. It is *approximate* when it involves a
cosine (the ``"similarity"`` and ``"blend"`` scores, the ``"success"`` tie-breaker):
backends compute cosines in floating point in different ways (FAISS float32 SIMD kernels,
NumPy's BLAS, pgvector's float accumulation), and one backend may even round the cosines
of two copies of one embedding differently depending on where each is stored.

Candidate ``a`` must come before candidate ``b`` when, comparing their exact keys part
by part: at the first exact part where they differ, ``a``'s is the higher; or, reaching an
approximate part, ``a``'s exceeds ``b``'s by more than ``SCORE_TOLERANCE`` (if the two are
within ``SCORE_TOLERANCE`` of each other, neither must come first: a near tie); or, with
every part exact and equal, ``a``'s id is the smaller. A correct answer to a top-``k``
search is then:

- the ``min(k, n)`` eligible candidates (``n`` of them), each once, best first;
- each with a score within ``SCORE_TOLERANCE`` of its exact score;
- scores never increasing; two results with exactly equal scores come in id order, except
  in ``"success"`` with a query, where the (unreturned) cosine decides between equal rates;
- every candidate that must come before a returned one is returned, before it. So two
  candidates in a near tie -- two different embeddings with mathematically equal cosines,
  or two copies of one embedding, among them -- may come in either order, and either may
  take the last place; candidates further apart always come in the exact order.

``min_score`` keeps the candidates whose computed score is at least ``min_score``, so no
result scores below it. An approximate score within ``SCORE_TOLERANCE`` of ``min_score``
may fall either side of it; an exact score (a success rate) never does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from skillstore.errors import InvalidInputError
from skillstore.validation import shown

RANK_MODES = ("similarity", "success", "blend", "wilson")
BLEND_WEIGHT = 0.3
WILSON_Z = 1.96  # the normal quantile of a two-sided 95 % interval
# How far a returned score may be from its exact value, and how close two exact scores must be
# for either order to be correct (see the module docstring).
SCORE_TOLERANCE = 1e-5


def check_min_score(min_score: object) -> float | None:
    """``min_score`` as a float: None, or any real number but NaN (an int beyond float's
    range becomes an infinity of its sign: every score is below 10**400)."""
    if min_score is None:
        return None
    if isinstance(min_score, bool) or not isinstance(min_score, int | float | np.integer | np.floating):
        raise InvalidInputError(f"min_score must be a number or None, got a {type(min_score).__name__}")
    try:
        value = float(min_score)
    except OverflowError:  # only a Python int can be too large for a float
        value = float(np.inf) if min_score > 0 else float(-np.inf)
    if np.isnan(value):
        raise InvalidInputError("min_score must not be NaN")
    return value


def check_rank(rank: object) -> str:
    if not isinstance(rank, str) or rank not in RANK_MODES:  # an array would compare element-wise
        raise InvalidInputError(f"rank must be one of {RANK_MODES}, got {shown(rank)}")
    return str(rank)


def success_rates(successes: np.ndarray, attempts: np.ndarray) -> np.ndarray:
    attempts = np.asarray(attempts, dtype=np.float64)
    safe = np.where(attempts > 0, attempts, 1.0)
    return np.where(attempts > 0, np.asarray(successes, dtype=np.float64) / safe, 0.0)


def wilson_lower_bounds(successes: np.ndarray, attempts: np.ndarray) -> np.ndarray:
    """The lower bound of the Wilson score interval of each success rate (0 with no attempts)."""
    n = np.asarray(attempts, dtype=np.float64)
    safe = np.where(n > 0, n, 1.0)
    p = np.asarray(successes, dtype=np.float64) / safe
    z2 = WILSON_Z * WILSON_Z
    bound = (p + z2 / (2 * safe) - WILSON_Z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe))) / (1 + z2 / safe)
    return np.where(n > 0, np.maximum(bound, 0.0), 0.0)


def similarity_scores(cosines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scores("similarity", cosines, ...)``, which needs no counts."""
    return np.asarray(cosines, dtype=np.float64), np.zeros(len(cosines), dtype=np.float64)


def scores(
    rank: str,
    cosines: np.ndarray | None,
    successes: np.ndarray,
    attempts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(primary score, secondary tie-breaker) for each candidate; higher is better."""
    zeros = np.zeros(len(successes), dtype=np.float64)
    if rank == "wilson":
        bounds = wilson_lower_bounds(successes, attempts)
        if cosines is None:
            return bounds, zeros
        return (1.0 - BLEND_WEIGHT) * np.asarray(cosines, dtype=np.float64) + BLEND_WEIGHT * bounds, zeros
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
    if len(p) > 4 * k:
        # only candidates scoring at least the k-th best primary can be among the best k
        keep = p >= -np.partition(-p, k - 1)[k - 1]
        positions, p, s = positions[keep], p[keep], s[keep]
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
