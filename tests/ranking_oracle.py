"""The tie rule of ``skillstore.ranking``, written out independently for the tests: which
answers to a top-``k`` search are correct, and how each eligible skill scores. One checker and
one scorer for every backend's tests (the store tests and the conformance suite); each picks
its own eligible skills."""

from __future__ import annotations

import math
from typing import NamedTuple

from skillstore import BLEND_WEIGHT, Match, Skill
from skillstore.ranking import SCORE_TOLERANCE


class Candidate(NamedTuple):
    """One eligible skill as the reference ranks it: its exact key (``score``, ``secondary``)
    and which parts of it involve a cosine, so hold only up to ``SCORE_TOLERANCE``."""

    id: str
    score: float
    secondary: float
    approximate_score: bool
    approximate_secondary: bool


def must_precede(a: Candidate, b: Candidate) -> bool:
    """The rule says ``a`` comes before ``b`` in any answer holding ``b``: compared part by part,
    an exact part decides when it differs, an approximate one only beyond the tolerance (within
    it the two are a near tie, either order), and when every part is exact and equal the id."""
    parts = ((a.score, b.score, a.approximate_score), (a.secondary, b.secondary, a.approximate_secondary))
    for mine, theirs, approximate in parts:
        if approximate:
            return mine > theirs + SCORE_TOLERANCE
        if mine != theirs:
            return mine > theirs
    return a.id < b.id


def may_pass(candidate: Candidate, min_score: float) -> bool:
    """The candidate's computed score may be at least ``min_score``."""
    return candidate.score >= min_score - (SCORE_TOLERANCE if candidate.approximate_score else 0.0)


def must_pass(candidate: Candidate, min_score: float) -> bool:
    """The candidate's computed score is at least ``min_score`` in every backend."""
    return candidate.score >= min_score + (SCORE_TOLERANCE if candidate.approximate_score else 0.0)


def assert_valid_result(
    got: list[Match], reference: list[Candidate], k: int, *, min_score: float | None = None
) -> None:
    """``got`` is one of the answers the tie rule of ``skillstore.ranking`` allows for a top-``k``
    search whose eligible candidates are ``reference`` (best first): the right number of
    eligible skills, each once, with scores within the tolerance, never increasing, ids in
    order on exactly equal scores (unless an unreturned cosine decides), and every candidate
    that must come before a returned one returned before it. Near ties may come either way."""
    ids = [str(m.skill.id) for m in got]
    position = {skill_id: i for i, skill_id in enumerate(ids)}
    rank_of = {c.id: i for i, c in enumerate(reference)}
    assert len(position) == len(ids), (ids, "a skill is returned twice")
    for match in got:
        assert match.skill.id in rank_of, (match.skill.id, "is not eligible")
        candidate = reference[rank_of[match.skill.id]]
        assert abs(match.score - candidate.score) <= SCORE_TOLERANCE, (match.score, candidate, "wrong score")
        assert min_score is None or match.score >= min_score, (match.score, "is below min_score", min_score)
    certain = reference if min_score is None else [c for c in reference if must_pass(c, min_score)]
    assert min(k, len(certain)) <= len(got) <= min(k, len(reference)), (ids, [c.id for c in reference[:k]])
    if len(got) < k:
        missing = [c.id for c in certain if c.id not in position]
        assert not missing, (ids, "leaves out", missing)
    for i in range(len(got) - 1):
        first, second = got[i], got[i + 1]
        assert first.score >= second.score, (ids, "scores increase", first.score, second.score)
        tie_breaker_hidden = reference[rank_of[first.skill.id]].approximate_secondary
        if first.score == second.score and not tie_breaker_hidden:
            assert first.skill.id < second.skill.id, (ids, "ids out of order on equal scores")
    for j, skill_id in enumerate(ids):
        returned = reference[rank_of[skill_id]]
        for better in reference[: rank_of[skill_id]]:  # only a candidate ranked above can outrank
            if must_precede(better, returned):
                assert position.get(better.id, len(ids)) < j, (ids, better, "must come before", returned)


def reference_candidate(skill: Skill, cosine: float | None, rank: str) -> Candidate:
    """One eligible skill scored in float64 by the documented rules (``skillstore.ranking``),
    written out independently: ``cosine`` is its cosine to the query (None: no query)."""
    stats, skill_id = skill.stats, str(skill.id)
    rate = stats.successes / stats.attempts if stats.attempts else 0.0
    if rank == "wilson":
        bound = wilson_bound(stats.successes, stats.attempts)
        score = bound if cosine is None else (1 - BLEND_WEIGHT) * cosine + BLEND_WEIGHT * bound
        return Candidate(skill_id, score, 0.0, True, False)
    if cosine is None:
        return Candidate(skill_id, rate, 0.0, False, False)
    if rank == "similarity":
        return Candidate(skill_id, cosine, 0.0, True, False)
    if rank == "success":
        return Candidate(skill_id, rate, cosine, False, True)
    smoothed = (stats.successes + 1.0) / (stats.attempts + 2.0)
    return Candidate(skill_id, (1 - BLEND_WEIGHT) * cosine + BLEND_WEIGHT * smoothed, 0.0, True, False)


def wilson_bound(successes: int, attempts: int, z: float = 1.96) -> float:
    """The lower bound of the Wilson score interval, written out from the formula in
    ``skillstore.ranking`` (0 for a skill never attempted)."""
    if not attempts:
        return 0.0
    p = successes / attempts
    centre = p + z * z / (2 * attempts)
    spread = z * math.sqrt(p * (1 - p) / attempts + z * z / (4 * attempts * attempts))
    return max(0.0, (centre - spread) / (1 + z * z / attempts))
