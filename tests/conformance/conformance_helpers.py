"""Brute-force reference search and random libraries for the conformance suite.

The reference is written out from the documented rules (DESIGN.md, ``skillstore.ranking``)
in float64, independently of any backend's code path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pg_helpers import library_url as library_url  # the suite's tests import it from here

from skillstore import BLEND_WEIGHT, Match, MemoryBackend, Skill, SkillBackend, SkillStore
from skillstore.ranking import SCORE_TOLERANCE as TOLERANCE

BackendFactory = Callable[..., SkillBackend]


class Backends:
    """``backends(dim, **options)`` builds a fresh empty backend of one kind;
    ``backends.reopen(backend)`` opens the same library again from its location."""

    def __init__(self, kind: str, tmp_path: Path, pg_library: Callable[[], str]) -> None:
        self.kind = kind
        self._tmp_path = tmp_path
        self._pg_library = pg_library
        self._locations: dict[int, str | Path] = {}
        self.opened: list[SkillBackend] = []

    def __call__(self, dim: int = 8, **options: Any) -> SkillBackend:
        backend: SkillBackend
        location: str | Path | None = None
        if self.kind == "memory":
            backend = MemoryBackend(dim, **options)
        else:
            location = self._tmp_path / f"store{len(self.opened)}" if self.kind == "skillstore" else self._pg_library()
            backend = SkillStore.open(location, dim=dim, **options)
        self.opened.append(backend)
        if location is not None:
            self._locations[id(backend)] = location
        return backend

    def reopen(self, backend: SkillBackend) -> SkillBackend | None:
        """Close ``backend`` and open its library again; None for a memory backend (nothing persists)."""
        location = self._locations.get(id(backend))
        if location is None:
            return None
        backend.close()
        reopened = SkillStore.open(location)
        self.opened.append(reopened)
        self._locations[id(reopened)] = location
        return reopened


def equal_values(a: Any, b: Any) -> bool:
    """The applicability rule's equality: lists equal tuples, recursively; otherwise ``==``."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(equal_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal_values(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple | dict) or isinstance(b, list | tuple | dict):
        return False
    return bool(a == b)


def applies(preconditions: Mapping[str, Any], state: Mapping[str, Any]) -> bool:
    return all(key in state and equal_values(state[key], value) for key, value in preconditions.items())


class Candidate(NamedTuple):
    """One eligible skill as the reference ranks it: its exact key (``score``, ``secondary``)
    and which parts of it involve a cosine, so hold only up to ``SCORE_TOLERANCE``."""

    id: str
    score: float
    secondary: float
    approximate_score: bool
    approximate_secondary: bool


def reference_scores(
    skills: list[Skill],
    query: np.ndarray | None,
    *,
    state: Mapping[str, Any] | None = None,
    where: Mapping[str, Any] | None = None,
    rank: str = "similarity",
) -> list[Candidate]:
    """Every eligible candidate, best first: by score, then tie-breaker, then id."""
    rows = []
    unit = None if query is None else np.asarray(query, dtype=np.float64) / np.linalg.norm(query)
    for skill in skills:
        if state is not None and not applies(skill.preconditions or {}, state):
            continue
        metadata = skill.metadata or {}
        if where and not all(k in metadata and equal_values(metadata[k], v) for k, v in where.items()):
            continue
        stats = skill.stats
        rate = stats.successes / stats.attempts if stats.attempts else 0.0
        cosine = None if unit is None else float(np.dot(np.asarray(skill.embedding, dtype=np.float64), unit))
        if cosine is None:
            row = Candidate(str(skill.id), rate, 0.0, False, False)
        elif rank == "similarity":
            row = Candidate(str(skill.id), cosine, 0.0, True, False)
        elif rank == "success":
            row = Candidate(str(skill.id), rate, cosine, False, True)
        else:
            smoothed = (stats.successes + 1) / (stats.attempts + 2)
            row = Candidate(str(skill.id), (1 - BLEND_WEIGHT) * cosine + BLEND_WEIGHT * smoothed, 0.0, True, False)
        rows.append(row)
    rows.sort(key=lambda row: (-row.score, -row.secondary, row.id))
    return rows


def must_precede(a: Candidate, b: Candidate) -> bool:
    """The tie rule of ``skillstore.ranking``: ``a`` comes before ``b`` in any answer holding
    ``b``. An exact part of the key decides when it differs, an approximate one (a cosine)
    only beyond the tolerance; with every part exact and equal, the smaller id."""
    parts = ((a.score, b.score, a.approximate_score), (a.secondary, b.secondary, a.approximate_secondary))
    for mine, theirs, approximate in parts:
        if approximate:
            return mine > theirs + TOLERANCE
        if mine != theirs:
            return mine > theirs
    return a.id < b.id


def assert_ranking(got: list[Match], reference: list[Candidate], k: int) -> None:
    """``got`` is an answer the tie rule of ``skillstore.ranking`` allows for the top ``k`` of
    ``reference`` (the eligible candidates, best first): the right number of them, each once,
    scores within the tolerance and never increasing, ids in order on exactly equal scores
    (unless an unreturned cosine decides), and every candidate that must come before a
    returned one returned before it. Near ties may come either way."""
    ids = [str(m.skill.id) for m in got]
    position = {skill_id: i for i, skill_id in enumerate(ids)}
    rank_of = {row.id: i for i, row in enumerate(reference)}
    assert len(got) == min(k, len(reference)), (ids, [row.id for row in reference[:k]])
    assert len(position) == len(ids), (ids, "a skill is returned twice")
    for match in got:
        assert str(match.skill.id) in rank_of, (match.skill.id, "is not eligible")
        row = reference[rank_of[str(match.skill.id)]]
        assert abs(match.score - row.score) <= TOLERANCE, (match.score, row, "wrong score")
    for i in range(len(got) - 1):
        first, second = got[i], got[i + 1]
        assert first.score >= second.score, (ids, "scores increase", first.score, second.score)
        if first.score == second.score and not reference[rank_of[ids[i]]].approximate_secondary:
            assert ids[i] < ids[i + 1], (ids, "ids out of order on equal scores")
    for j, skill_id in enumerate(ids):
        returned = reference[rank_of[skill_id]]
        for better in reference[: rank_of[skill_id]]:  # only a candidate ranked above can outrank
            if must_precede(better, returned):
                assert position.get(better.id, len(ids)) < j, (ids, better, "must come before", returned)


# -- random libraries -------------------------------------------------------------

ROOMS = [0, 1, 2]


def random_value(rng: np.random.Generator, key: str) -> Any:
    """Values whose equality exercises the rule: bool vs int vs float, list vs tuple, str vs int."""
    if key == "room":
        return [0, 1, 2, 1.0, True, "1"][int(rng.integers(6))]
    if key == "has_key":
        return [True, False, 1, 0][int(rng.integers(4))]
    if key == "pos":
        x, y = (int(v) for v in rng.integers(0, 2, size=2))
        return (x, y) if rng.random() < 0.5 else [x, y]
    if key == "door":
        return ["open", "closed", None, {"state": "open"}][int(rng.integers(4))]
    raise KeyError(key)


PRECONDITION_KEYS = ["room", "has_key", "pos", "door"]


def random_preconditions(rng: np.random.Generator) -> dict[str, Any]:
    keys = [k for k in PRECONDITION_KEYS if rng.random() < 0.35]
    return {k: random_value(rng, k) for k in keys}


def random_state(rng: np.random.Generator) -> dict[str, Any]:
    state = {k: random_value(rng, k) for k in PRECONDITION_KEYS if rng.random() < 0.85}
    if rng.random() < 0.3:
        state["extra"] = "ignored"
    return state


def random_metadata(rng: np.random.Generator) -> dict[str, Any]:
    metadata: dict[str, Any] = {"task": ["key", "door", "goal"][int(rng.integers(3))]}
    if rng.random() < 0.5:
        metadata["level"] = [1, 1.0, 2, True][int(rng.integers(4))]
    if rng.random() < 0.3:
        metadata["tags"] = ["a", "b"] if rng.random() < 0.5 else ["b"]
    return metadata


def random_skills(rng: np.random.Generator, count: int, dim: int) -> list[Skill]:
    return [
        Skill(
            name=f"skill-{i}",
            actions=[f"a{int(a)}" for a in rng.integers(0, 6, size=int(rng.integers(1, 5)))],
            embedding=rng.normal(size=dim),
            preconditions=random_preconditions(rng),
            metadata=random_metadata(rng),
        )
        for i in range(count)
    ]


def random_where(rng: np.random.Generator) -> dict[str, Any] | None:
    choice = int(rng.integers(4))
    if choice == 0:
        return None
    if choice == 1:
        return {"task": ["key", "door", "goal"][int(rng.integers(3))]}
    if choice == 2:
        return {"level": [1, 1.0, True, 2][int(rng.integers(4))]}
    return {"tags": ("a", "b")}


def record_random_outcomes(backend: SkillBackend, ids: list[str], rng: np.random.Generator, count: int) -> None:
    for _ in range(count):
        backend.record_outcome(ids[int(rng.integers(len(ids)))], bool(rng.random() < 0.6), reward=1.0)
