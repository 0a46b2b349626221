"""Brute-force reference search and random libraries for the conformance suite.

The reference is written out from the documented rules (DESIGN.md, ``skillstore.ranking``)
in float64, independently of any backend's code path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pg_helpers import library_url as library_url  # the suite's tests import it from here
from ranking_oracle import Candidate, assert_valid_result, reference_candidate

from skillstore import MemoryBackend, Skill, SkillBackend, SkillStore
from skillstore.ranking import SCORE_TOLERANCE

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

    def reopen(self, backend: SkillBackend, **options: Any) -> SkillBackend | None:
        """Close ``backend`` and open its library again (with ``options``); None for a memory
        backend (nothing persists)."""
        location = self._locations.get(id(backend))
        if location is None:
            return None
        backend.close()
        reopened = SkillStore.open(location, **options)
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


# the tie rule's one checker and its tolerance, shared with the store tests (tests/ranking_oracle.py)
assert_ranking = assert_valid_result
TOLERANCE = SCORE_TOLERANCE


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
        cosine = None if unit is None else float(np.dot(np.asarray(skill.embedding, dtype=np.float64), unit))
        rows.append(reference_candidate(skill, cosine, rank))
    rows.sort(key=lambda row: (-row.score, -row.secondary, row.id))
    return rows


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
