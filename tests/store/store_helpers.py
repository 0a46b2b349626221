"""Shared helpers for the store tests: contents snapshots, a brute-force reference ranking,
and a checker that compares search results while tolerating genuine float ties."""

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

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5


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


@dataclass
class Candidate:
    id: str
    score: float
    secondary: float
    embedding: bytes
    rate: float


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
    documented rules (see ``skillstore.ranking``) written out independently."""
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
        vector = np.asarray(skill.embedding, dtype=np.float64)
        cos = None if q is None else float(vector @ q)
        if cos is None or rank == "success":
            score, secondary = rate, (0.0 if cos is None else cos)
        elif rank == "similarity":
            score, secondary = cos, 0.0
        else:
            smoothed = (stats.successes + 1.0) / (stats.attempts + 2.0)
            score, secondary = (1 - BLEND_WEIGHT) * cos + BLEND_WEIGHT * smoothed, 0.0
        if min_score is not None and score < min_score - TOLERANCE:
            continue
        found.append(Candidate(skill.id, score, secondary, np.asarray(skill.embedding).tobytes(), rate))  # type: ignore[arg-type]
    found.sort(key=lambda c: (-c.score, -c.secondary, c.id))
    return found


def _key_leq(a: Candidate, b: Candidate) -> bool:
    """a ranks no better than b, up to float tolerance."""
    if a.score < b.score - TOLERANCE:
        return True
    if a.score > b.score + TOLERANCE:
        return False
    return a.secondary <= b.secondary + TOLERANCE


def _ambiguous(candidates: list[Candidate], k: int) -> bool:
    """True when two different embeddings (or success records) score within the tolerance of
    each other among the top ``k`` or at its boundary: then float rounding may legitimately
    order them either way. Scans neighbours in ranked order, so it stays linear."""
    for i in range(len(candidates) - 1):
        a, b = candidates[i], candidates[i + 1]
        close = abs(a.score - b.score) <= TOLERANCE and abs(a.secondary - b.secondary) <= TOLERANCE
        if close and (a.embedding != b.embedding or a.rate != b.rate):
            return True
        if i >= k - 1 and not close:
            return False
    return False


def assert_valid_result(
    got: list[Match], reference: list[Candidate], k: int, *, min_score: float | None = None
) -> None:
    """``got`` is a correct top-``k`` under ``reference``: right length, right scores, in
    order, nothing left out that ranks better; ids exactly as the reference's when no
    float near-tie makes the order ambiguous."""
    by_id = {c.id: c for c in reference}
    ids = [m.skill.id for m in got]
    if min_score is not None:
        # a candidate within tolerance of min_score may fall either side of it
        assert all(m.score >= min_score for m in got), (got, min_score)
        certain = [c for c in reference if c.score >= min_score + TOLERANCE]
        assert len(certain[:k]) <= len(got) <= min(k, len(reference)), (ids, reference)
    else:
        assert len(got) == min(k, len(reference)), (ids, [c.id for c in reference])
    assert len(set(ids)) == len(ids), ids
    chosen = []
    for match in got:
        assert match.skill.id in by_id, (match.skill.id, "is not eligible")
        candidate = by_id[match.skill.id]
        assert abs(match.score - candidate.score) <= TOLERANCE, (match.score, candidate)
        chosen.append(candidate)
    for better, worse in zip(chosen, chosen[1:], strict=False):
        assert _key_leq(worse, better), (ids, "out of order")
    if chosen and len(chosen) == k:
        worst = chosen[-1]
        for candidate in reference:
            if candidate.id not in ids:
                assert _key_leq(candidate, worst), (candidate, "outranks", worst)
    if not _ambiguous(reference, k) and (min_score is None or not _near(reference, min_score)):
        assert ids == [c.id for c in reference[:k]], (ids, [c.id for c in reference[:k]])


def _near(reference: list[Candidate], min_score: float) -> bool:
    return any(abs(c.score - min_score) <= TOLERANCE for c in reference)


def assert_same_results(got: list[Match], expected: list[Match]) -> None:
    """Two backends' answers agree: scores within tolerance; ids equal above the last score."""
    assert len(got) == len(expected), ([m.skill.id for m in got], [m.skill.id for m in expected])
    got_scores = [m.score for m in got]
    expected_scores = [m.score for m in expected]
    assert np.allclose(got_scores, expected_scores, atol=TOLERANCE, rtol=0), (got_scores, expected_scores)
    if expected:
        boundary = expected[-1].score
        above = {m.skill.id for m in expected if m.score > boundary + TOLERANCE}
        assert above == {m.skill.id for m in got if m.score > boundary + TOLERANCE}
