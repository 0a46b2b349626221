"""Shared helpers for the store tests: contents snapshots, a brute-force reference ranking,
and a checker that accepts exactly the answers the tie rule of ``skillstore.ranking`` allows."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skillstore import BLEND_WEIGHT, Match, Skill
from skillstore.preconditions import applies, freeze
from skillstore.ranking import SCORE_TOLERANCE

ROOT = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment a child Python needs to import this checkout's skillstore."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


PYTHON = sys.executable


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    array = array / np.max(np.abs(array))  # tiny or huge values: scale first, or the norm under/overflows
    return array / np.linalg.norm(array)


def random_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    return rng.normal(size=(count, dim)).astype(np.float32)


def skill_fields(skill: Skill, *, timestamps: bool = True) -> dict[str, Any]:
    """Everything a skill holds, comparable with ``==``; timestamps optional."""
    stats = skill.stats.to_dict()
    fields: dict[str, Any] = {
        "name": skill.name,
        "actions": skill.actions,
        "embedding": np.asarray(skill.embedding, dtype=np.float32).tobytes(),
        "preconditions": skill.preconditions or {},
        "description": skill.description,
        "metadata": skill.metadata or {},
        "stats": stats,
        "provenance": [p["name"] for p in skill.provenance],
    }
    if timestamps:
        fields["created_at"] = skill.created_at
        fields["updated_at"] = skill.updated_at
        fields["provenance"] = skill.provenance
    else:
        stats["last_used_at"] = stats["last_used_at"] is not None
        stats["total_reward"] = round(stats["total_reward"], 6)
    return fields


def contents(backend: Iterable[Skill], *, timestamps: bool = True) -> dict[str, dict[str, Any]]:
    """The full contents of a store or backend, by id."""
    return {skill.id: skill_fields(skill, timestamps=timestamps) for skill in backend}  # type: ignore[misc]


@dataclass(frozen=True)
class Candidate:
    """One eligible skill as the reference ranks it: its exact key (``score``, ``secondary``)
    and which parts of it involve a cosine, so hold only up to ``SCORE_TOLERANCE``."""

    id: str
    score: float
    secondary: float
    approximate_score: bool
    approximate_secondary: bool


def reference_ranking(
    skills: Iterable[Skill],
    query: Any,
    *,
    state: Mapping[str, Any] | None = None,
    where: Mapping[str, Any] | None = None,
    rank: str = "similarity",
    min_score: float | None = None,
) -> list[Candidate]:
    """Every eligible skill, best first, scored in float64 by brute force, with the
    documented rules (see ``skillstore.ranking``) written out independently. With
    ``min_score``, only the skills that cannot pass it are left out."""
    q = None if query is None else unit(query)
    found = []
    for skill in skills:
        if state is not None and not applies(skill.preconditions or {}, state):
            continue
        metadata = skill.metadata or {}
        if where and not all(k in metadata and freeze(metadata[k]) == freeze(v) for k, v in where.items()):
            continue
        stats = skill.stats
        rate = stats.successes / stats.attempts if stats.attempts else 0.0
        cos = None if q is None else float(np.asarray(skill.embedding, dtype=np.float64) @ q)
        skill_id = str(skill.id)
        if cos is None:
            candidate = Candidate(skill_id, rate, 0.0, False, False)
        elif rank == "success":
            candidate = Candidate(skill_id, rate, cos, False, True)
        elif rank == "similarity":
            candidate = Candidate(skill_id, cos, 0.0, True, False)
        else:
            smoothed = (stats.successes + 1.0) / (stats.attempts + 2.0)
            candidate = Candidate(skill_id, (1 - BLEND_WEIGHT) * cos + BLEND_WEIGHT * smoothed, 0.0, True, False)
        if min_score is None or may_pass(candidate, min_score):
            found.append(candidate)
    found.sort(key=lambda c: (-c.score, -c.secondary, c.id))
    return found


# -- the tie rule of skillstore.ranking, written out for the reference --------------------------


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
